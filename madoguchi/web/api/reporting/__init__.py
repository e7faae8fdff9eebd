"""Reporting's HTTP face: the reports as JSON and CSV."""
