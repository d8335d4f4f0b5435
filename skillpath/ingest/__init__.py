"""Extraction of landing files and the xAPI LRS into the append-only raw layer."""
