"""The containerd test support: its config says what the CRI tests rely on, whatever the
paths, and the busybox check tells a static binary from a dynamic one."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.containerd import config_text, toml_string
from tests.support.cri_fixtures import BUSYBOX, is_static_elf


@given(st.text())
def test_toml_string_reads_back_as_written(value: str) -> None:
    assert tomllib.loads(f"key = {toml_string(value)}")["key"] == value


def test_config_sets_what_pods_need_here(tmp_path: Path) -> None:
    odd = tmp_path / 'dir with "quotes" and \\ back'
    text = config_text(
        root=odd / "root",
        state=odd / "state",
        socket=odd / "state" / "containerd.sock",
        sandbox_image="127.0.0.1:5000/hoist-cri/pause:1",
        snapshotter="native",
        cni_dir=odd / "cni",
        opt_dir=odd / "opt",
    )
    config = tomllib.loads(text)
    assert config["version"] == 2
    assert (config["root"], config["state"]) == (str(odd / "root"), str(odd / "state"))
    assert config["grpc"]["address"] == str(odd / "state" / "containerd.sock")
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "127.0.0.1:5000/hoist-cri/pause:1"
    assert cri["containerd"]["snapshotter"] == "native"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["Root"] == str(odd / "state" / "runc")


def test_scripts_and_dynamic_executables_are_not_static(tmp_path: Path) -> None:
    not_elf = tmp_path / "script"
    not_elf.write_text("#!/bin/sh\n")
    assert not is_static_elf(not_elf)
    # CPython links libc dynamically
    assert not is_static_elf(Path(sys.executable).resolve())


def test_busybox_static_is_static() -> None:
    if not BUSYBOX.is_file():
        pytest.skip(reason="/bin/busybox not installed (Debian package busybox-static)")
    assert is_static_elf(BUSYBOX)
