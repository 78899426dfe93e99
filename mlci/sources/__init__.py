"""Readers of metric, params and predictions files."""
