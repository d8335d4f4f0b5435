"""Benchmarks (scripts, not timed tests): ``skillpath bench`` and ``bench/bench_ingest.py``."""
