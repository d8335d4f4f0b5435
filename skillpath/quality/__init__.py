"""Data-quality gate: Great Expectations suites run against the built marts."""
