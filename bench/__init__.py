"""Madoguchi benchmarks: ``make bench`` (``python -m bench``).

Every figure is printed, never asserted. Servers run as real subprocesses on free ports
of 127.0.0.1 with a fresh database in a temporary directory, and are stopped at the end
even on error. Where a figure is a ratio, its baseline is measured in the same run.

Modules:

- ``bench.procs``: subprocesses (``madoguchi serve``, the simulator, the no-op), ports,
  temporary databases (SQLite files, throwaway PostgreSQL databases).
- ``bench.bare``: the baseline webhook endpoints (signature check only): bare Starlette,
  or the product's FastAPI stack (``--stack fastapi``, the no-op).
- ``bench.loadgen``: the load generator, run as its own process.
- ``bench.ingest``: webhook ingest figures.
- ``bench.sender``: outbox sender figures against the simulator.
- ``bench.stats``: percentiles and sliding windows.

See ``docs/benchmarks.md`` for what each figure means.
"""
