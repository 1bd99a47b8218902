"""Shared fixtures: the repository root, the shared corpus, and manifest helpers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hoist.manifests import SourceFile, read_source

# Real registries, token server, fault proxy, image builders: see tests/support/fixtures.py.
pytest_plugins = ["tests.support.fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "corpus"


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(reason=f"the shared manifest corpus is not at {CORPUS}")
    return CORPUS


@pytest.fixture
def source() -> Callable[[str, str], SourceFile]:
    def make(text: str, name: str = "test.yaml") -> SourceFile:
        return read_source(name, text.encode())

    return make
