"""Benchmark harness: times hoist against peer tools. Run ``python -m bench`` from the repo root."""
