"""Skillpath development tools: the sample-data generator and the benchmark (not needed in production)."""
