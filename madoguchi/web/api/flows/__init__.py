"""Flows: definitions, versions and draft tests from the editor."""
