"""Reporting: hourly rollups of the lifecycle log and messages, and the reports read
from them (docs/reports.md, definitions in docs/metrics.md)."""
