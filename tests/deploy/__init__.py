"""Tests of the development tooling: the demo data and `make run`."""
