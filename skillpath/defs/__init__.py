"""Dagster definitions, one module per domain; skillpath/definitions.py gathers them."""
