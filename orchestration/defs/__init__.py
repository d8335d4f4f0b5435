"""Dagster definitions, one module per domain; orchestration/definitions.py gathers them."""
