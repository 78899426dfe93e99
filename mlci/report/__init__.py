"""The report: its value, its building, markdown, html and plots."""
