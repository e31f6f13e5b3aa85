"""The messaging benchmark (`make bench`): see bench/run.py and docs/bench.md."""
