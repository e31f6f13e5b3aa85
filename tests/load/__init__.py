"""Bounded load and fault tests (`make test-load`)."""
