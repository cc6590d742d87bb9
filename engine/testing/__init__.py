"""Generators for tests and benchmarks (synthetic data-set zips); not used by the product's commands."""
