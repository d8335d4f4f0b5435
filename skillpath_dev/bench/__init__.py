"""Benchmarks (scripts, not timed tests): ``skillpath bench`` and ``skillpath_dev/bench/bench_ingest.py``."""
