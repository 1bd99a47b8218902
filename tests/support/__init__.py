"""Test support: real registries, a token server, a fault proxy and image builders.

Everything here runs on the loopback interface only, keeps its state under a directory
the caller hands in, and is stopped by the PID or thread it started. The pytest fixtures
that wrap these live in :mod:`tests.support.fixtures`.
"""
