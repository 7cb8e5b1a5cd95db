"""Benchmarks run from the CLI (`backstop bench ...`); each prints a baseline from the same run."""
