"""Builders of tiny model files for the tests and benchmarks; they need torch, so they ship with neither."""
