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

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from hoist.auth.credential import ANONYMOUS, Credential
from hoist.node.cri import CriRuntime
from hoist.transfer import Options, copy
from tests.support.containerd import Containerd, missing_requirements, start_containerd
from tests.support.distribution import Distribution

BUSYBOX = Path("/bin/busybox")
MISSING_BUSYBOX = "/bin/busybox not installed (Debian package busybox-static)"
DYNAMIC_BUSYBOX = (
    "/bin/busybox is dynamically linked and cannot run alone in an image "
    "(Debian package busybox-static instead of busybox)"
)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The sandbox ("pause") process: sleep until told to stop. PID 1 ignores signals it has no
# handler for, hence the trap.
PAUSE_COMMAND = "trap 'exit 0' TERM INT; while true; do sleep 3600 & wait $!; done"
# Go's GOARCH names for the machines these tests run on (OCI image-spec config.md).
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64"}


def is_static_elf(path: Path) -> bool:
    """Whether the ELF executable at ``path`` has no program interpreter (PT_INTERP), so
    it runs in an image that holds nothing else."""
    with path.open("rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF":
            return False
        wide = header[4] == 2  # ELFCLASS64
        order = "<" if header[5] == 1 else ">"
        if wide:
            phoff, = struct.unpack_from(order + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x36)
        else:
            phoff, = struct.unpack_from(order + "I", header, 0x1C)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x2A)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(
        struct.unpack_from(order + "I", table, i * phentsize)[0] != pt_interp
        for i in range(phnum)
    )


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@cache
def _busybox_layer() -> tuple[bytes, str]:
    """(gzip blob, diff_id) of the busybox layer: /bin/busybox plus one symlink per applet
    where busybox itself would install it. Fixed metadata, so the digest is stable."""
    listing = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, check=True, timeout=30
    ).stdout.decode()
    links = sorted({line.strip() for line in listing.splitlines() if line.strip()})
    links = [link for link in links if link != "bin/busybox"]
    ancestors = {str(parent) for link in links for parent in Path(link).parents}
    directories = sorted((ancestors - {"."}) | {"bin", "tmp"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            return info

        for directory in directories:
            tar.addfile(entry(directory, tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755))
        binary = BUSYBOX.read_bytes()
        info = entry("bin/busybox", tarfile.REGTYPE, 0o755)
        info.size = len(binary)
        tar.addfile(info, io.BytesIO(binary))
        for link in links:
            info = entry(link, tarfile.SYMTYPE, 0o777)
            info.linkname = "/bin/busybox"
            tar.addfile(info)
    tar_bytes = buf.getvalue()
    return gzip.compress(tar_bytes, compresslevel=6, mtime=0), _sha256(tar_bytes)


def _put_blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = _sha256(data)
    path = layout / "blobs" / "sha256" / digest.partition(":")[2]
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return {"digest": digest, "size": len(data)}


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
    blob, diff_id = _busybox_layer()
    layer = {"mediaType": OCI_LAYER_GZIP, **_put_blob(layout, blob)}
    runtime_config: dict[str, Any] = {"Env": [PATH_ENV], "WorkingDir": "/"}
    if command is None:
        runtime_config["Cmd"] = ["/bin/sh"]
    else:
        runtime_config["Entrypoint"] = ["/bin/busybox", "sh", "-c", command]
    config_doc = {
        "created": "2024-01-01T00:00:00Z",
        "architecture": _GOARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": runtime_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config = {"mediaType": OCI_CONFIG, **_put_blob(layout, json.dumps(config_doc).encode())}
    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": [layer],
    }
    manifest = {"mediaType": OCI_MANIFEST, **_put_blob(layout, json.dumps(manifest_doc).encode())}
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
    return BuiltImage(str(manifest["digest"]), str(config["digest"]))


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
    reason = missing_requirements()
    if reason is None and not BUSYBOX.is_file():
        reason = MISSING_BUSYBOX
    if reason is None and not is_static_elf(BUSYBOX):
        reason = DYNAMIC_BUSYBOX
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
