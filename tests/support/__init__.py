"""Test support: real servers the integration tests start on 127.0.0.1."""
