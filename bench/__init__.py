"""Benchmarks of issue 7 (`make bench`, or `python -m bench.<name> --quick`); see bench/README.md."""
