"""pytest fixtures for CRI tests: one real containerd per session, pulling from a real
Distribution, with runnable test images built from Debian's busybox-static.

Loaded from tests/conftest.py with ``pytest_plugins``. Fixtures skip with a reason naming
the missing piece (root, containerd, runc, busybox-static, docker-registry).

Session-scoped:
    containerd      ContainerdNode: .socket, .root, .registry (Distribution, no auth),
                    .pause_image, .snapshotter, .push_image(...)
Function-scoped:
    cri_runtime     hoist.node.cri.CriRuntime connected to that containerd

Images: ``build_busybox_image`` writes an OCI layout whose single layer holds
/bin/busybox and a symlink per applet (``/bin/sh``, ``/bin/sleep``, …), so CRI commands
such as ``["/bin/sh", "-c", "…"]`` run; ``command`` makes the entrypoint
``["/bin/busybox", "sh", "-c", command]``. They are pushed with hoist's own copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hoist.auth.credential import ANONYMOUS, Credential
from hoist.node.cri import CriRuntime
from hoist.node.cri.managed import (
    BUSYBOX,
    DYNAMIC_BUSYBOX,
    MISSING_BUSYBOX,
    PATH_ENV,
    PAUSE_COMMAND,
    busybox_image,
    busybox_missing,
    is_static_elf,
)
from hoist.transfer import Options, copy
from tests.support.containerd import Containerd, missing_requirements, start_containerd
from tests.support.distribution import Distribution

__all__ = ["BUSYBOX", "DYNAMIC_BUSYBOX", "MISSING_BUSYBOX", "OCI_INDEX", "OCI_MANIFEST",
           "PATH_ENV", "PAUSE_COMMAND", "REF_NAME", "BuiltImage", "ContainerdNode",
           "PushedImage", "build_busybox_image", "containerd", "cri_runtime",
           "is_static_elf", "push_busybox_image"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def _put_blob(layout: Path, data: bytes) -> None:
    path = layout / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)


@dataclass(frozen=True)
class BuiltImage:
    manifest_digest: str
    config_digest: str  # what containerd calls the image ID


@dataclass(frozen=True)
class PushedImage:
    reference: str  # host:port/repository:tag
    manifest_digest: str
    config_digest: str

    @property
    def digest_reference(self) -> str:
        """``host:port/repository@sha256:…``, as CRI lists it in repo_digests."""
        return f"{self.reference.rpartition(':')[0]}@{self.manifest_digest}"


def build_busybox_image(layout: Path, tag: str, *, command: str | None = None) -> BuiltImage:
    """Write a runnable busybox image into the OCI layout ``layout`` under ``tag``; with
    ``command`` its entrypoint runs that shell command."""
    if not BUSYBOX.is_file():
        raise FileNotFoundError(MISSING_BUSYBOX)
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    image = busybox_image(command)
    for _digest, data in image.blobs():
        _put_blob(layout, data)
    manifest = {"mediaType": OCI_MANIFEST, "digest": str(image.manifest_digest),
                "size": len(image.manifest)}
    index_path = layout / "index.json"
    index = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    )
    index["manifests"] = [
        m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag
    ] + [{**manifest, "annotations": {REF_NAME: tag}}]
    index_path.write_text(json.dumps(index))
    return BuiltImage(str(image.manifest_digest), str(image.config_digest))


def push_busybox_image(
    layout: Path,
    registry: Distribution,
    repository: str,
    tag: str = "1",
    *,
    command: str | None = None,
    credential: Credential = ANONYMOUS,
) -> PushedImage:
    """Build the image and push it to ``registry`` with ``hoist.transfer.copy``."""
    built = build_busybox_image(layout, tag, command=command)
    reference = f"{registry.host}/{repository}:{tag}"
    copy(f"oci:{layout}:{tag}", f"docker://{reference}", Options(credentials=credential))
    return PushedImage(reference, built.manifest_digest, built.config_digest)


@dataclass(repr=False)
class ContainerdNode:
    """What the ``containerd`` fixture hands out."""

    process: Containerd
    registry: Distribution
    pause_image: str
    layout: Path
    pushed: dict[tuple[str, str, str], PushedImage] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"ContainerdNode(socket={self.socket!r}, registry={self.registry.url!r})"

    @property
    def socket(self) -> str:
        return str(self.process.socket)

    @property
    def root(self) -> Path:
        return self.process.root

    @property
    def snapshotter(self) -> str:
        return self.process.snapshotter

    def push_image(
        self,
        repository: str,
        tag: str = "1",
        *,
        command: str | None = None,
        registry: Distribution | None = None,
        credential: Credential = ANONYMOUS,
    ) -> PushedImage:
        """A busybox image (running ``command``, if given) pushed as ``repository:tag`` to
        ``registry`` (the node's own by default), once per session."""
        target = registry or self.registry
        key = (target.host, repository, tag)
        if key not in self.pushed:
            self.pushed[key] = push_busybox_image(
                self.layout, target, repository, tag, command=command, credential=credential
            )
        return self.pushed[key]


def _require() -> None:
    reason = missing_requirements() or busybox_missing()
    if reason is not None:
        pytest.skip(reason=reason)


@pytest.fixture(scope="session")
def containerd(
    tmp_path_factory: pytest.TempPathFactory, distribution_open: Distribution
) -> Iterator[ContainerdNode]:
    _require()
    workdir = tmp_path_factory.mktemp("containerd")
    layout = workdir / "images"
    pause = push_busybox_image(
        layout, distribution_open, "hoist-cri/pause", "1", command=PAUSE_COMMAND
    ).reference
    process = start_containerd(workdir / "node", sandbox_image=pause)
    try:
        yield ContainerdNode(
            process=process, registry=distribution_open, pause_image=pause, layout=layout
        )
    finally:
        process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def cri_runtime(containerd: ContainerdNode) -> Iterator[CriRuntime]:
    runtime = CriRuntime.connect(containerd.socket, timeout=60.0)
    try:
        yield runtime
    finally:
        runtime.close()
