"""hoist.auth loads its names lazily; every advertised name must resolve."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hoist.auth


@pytest.mark.parametrize("name", hoist.auth.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(hoist.auth, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = hoist.auth.nope  # type: ignore[attr-defined]


def test_credential_alone_does_not_load_the_yaml_emitter() -> None:
    code = ("import sys, hoist.auth.credential; "
            "print('hoist.auth._goyaml' in sys.modules, 'hoist.auth.keyring' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
