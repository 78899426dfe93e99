"""Destinations of a rendered report: the local directory (dry run) or GitHub."""
