"""Skillpath: learning and credential analytics warehouse (Dagster code location)."""

__version__ = "0.1.0"
