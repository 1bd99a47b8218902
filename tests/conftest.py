"""Shared fixtures: the repository root, the shared corpus, and manifest helpers."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from hoist.manifests import SourceFile, read_source

# Real registries, token server, fault proxy, image builders: see tests/support/fixtures.py.
# containerd (CRI) and its test images: see tests/support/cri_fixtures.py.
pytest_plugins = ["tests.support.fixtures", "tests.support.cri_fixtures",
                  "tests.support.registry_server_fixtures", "tests.support.dockerd"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "corpus"

# Under CI the property tests run the same examples every time (a clean clone must pass
# or fail for a reason, not a draw); on a developer's machine they explore anew each run.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


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
