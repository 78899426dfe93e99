"""Judging a comparison: gates, paired statistics and slices, as data."""
