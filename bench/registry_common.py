"""Shared by ``pull-vs-skopeo`` and ``push-vs-skopeo``: the test image, the registry, skopeo.

The image is an OCI layout generated once per work directory: ``LAYERS`` layers of
``LAYER_SIZE`` bytes each, every one a valid uncompressed tar holding one file of
pseudo-random bytes (incompressible; deterministic, from ``random.Random(SEED)``), plus a
config and an OCI manifest tagged ``v1``. Layers are uncompressed tars so that skopeo has
nothing to convert: with ``--preserve-digests`` it copies every blob as it is, exactly as
hoist does.

The registry is Debian's ``docker-registry`` (CNCF Distribution 2.8) on a free loopback
port, started through ``tests.support.distribution`` with filesystem storage and no blob
descriptor cache, so wiping its storage directory empties it for real.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.context import REPO_ROOT
from bench.runner import BenchError

LAYERS = 8
LAYER_SIZE = 128 << 20
SEED = 20240611
TAG = "v1"
REPOSITORY = "bench/big"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
_WRITE_CHUNK = 16 << 20


# --------------------------------------------------------------------------- the image


@dataclass(frozen=True)
class Blob:
    media_type: str
    digest: str
    size: int

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class BenchImage:
    layout: Path
    tag: str
    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return (self.config, *self.layers)

    @property
    def total_size(self) -> int:
        return self.manifest.size + sum(b.size for b in self.blobs)

    def info(self) -> dict[str, Any]:
        return {
            "layout": str(self.layout),
            "tag": self.tag,
            "manifest_digest": self.manifest.digest,
            "layers": len(self.layers),
            "layer_size": self.layers[0].size if self.layers else 0,
            "total_bytes": self.total_size,
            "layer_media_type": OCI_LAYER,
            "content": f"pseudo-random (random.Random({SEED}).getrandbits), in one-file tars",
        }


def _layer_chunks(index: int, size: int) -> Iterator[bytes]:
    """A tar of one file whose bytes are pseudo-random: header, data, two zero blocks;
    exactly ``size`` bytes (``size`` a multiple of 512, at least 2048)."""
    data_size = size - 3 * tarfile.BLOCKSIZE
    info = tarfile.TarInfo(f"bench/layer-{index}.bin")
    info.size = data_size
    info.mode = 0o644
    info.mtime = 0
    yield info.tobuf(format=tarfile.USTAR_FORMAT)
    rng = random.Random(SEED * 1000 + index)
    left = data_size
    while left:
        n = min(_WRITE_CHUNK, left)
        # getrandbits(…).to_bytes is ~4x faster than randbytes for large sizes
        yield rng.getrandbits(n * 8).to_bytes(n, "little")
        left -= n
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _write_blob(blobs_dir: Path, chunks: Iterator[bytes], media_type: str) -> Blob:
    tmp = blobs_dir / f".tmp-{os.getpid()}-{id(chunks)}"
    h = hashlib.sha256()
    size = 0
    with tmp.open("wb") as fh:
        for chunk in chunks:
            h.update(chunk)
            fh.write(chunk)
            size += len(chunk)
    digest = h.hexdigest()
    tmp.replace(blobs_dir / digest)
    return Blob(media_type, f"sha256:{digest}", size)


def _put_json(blobs_dir: Path, doc: dict[str, Any], media_type: str) -> Blob:
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return _write_blob(blobs_dir, iter([raw]), media_type)


def make_image(layout: Path, layers: int | None = None, layer_size: int | None = None,
               tag: str = TAG) -> BenchImage:
    """The test image in the OCI layout ``layout``; reused when it is already there.
    ``layers`` and ``layer_size`` default to the module's ``LAYERS`` and ``LAYER_SIZE``
    (read at call time, so a test can shrink the image)."""
    layers = LAYERS if layers is None else layers
    layer_size = LAYER_SIZE if layer_size is None else layer_size
    if layer_size % tarfile.BLOCKSIZE or layer_size < 4 * tarfile.BLOCKSIZE:
        raise ValueError("layer_size must be a multiple of 512 and at least 2048")
    existing = load_image(layout, tag)
    if (existing is not None and len(existing.layers) == layers
            and all(b.size == layer_size for b in existing.layers)):
        return existing
    shutil.rmtree(layout, ignore_errors=True)
    blobs_dir = layout / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True)
    # getrandbits holds the GIL, hashing and writing do not: two threads overlap them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        blobs = list(pool.map(
            lambda i: _write_blob(blobs_dir, _layer_chunks(i, layer_size), OCI_LAYER),
            range(layers)))
    config = _put_json(blobs_dir, {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [b.digest for b in blobs]},
        "history": [{"created_by": f"hoist bench layer {i}"} for i in range(layers)],
    }, OCI_CONFIG)
    manifest = _put_json(blobs_dir, {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in blobs],
    }, OCI_MANIFEST)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    entry = {**manifest.descriptor(), "annotations": {REF_NAME: tag}}
    (layout / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}))
    image = load_image(layout, tag)
    assert image is not None
    return image


def load_image(layout: Path, tag: str = TAG) -> BenchImage | None:
    """The image ``tag`` names in an OCI layout (skopeo's or ours), or None when absent or
    incomplete (a blob missing or of the wrong size)."""
    try:
        index = json.loads((layout / "index.json").read_text())
        entry = next(m for m in index["manifests"]
                     if (m.get("annotations") or {}).get(REF_NAME) == tag)
        manifest = Blob(entry["mediaType"], entry["digest"], int(entry["size"]))
        doc = json.loads(_blob_path(layout, manifest.digest).read_bytes())
        config = Blob(**_fields(doc["config"]))
        layers = tuple(Blob(**_fields(d)) for d in doc["layers"])
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return None
    image = BenchImage(layout, tag, manifest, config, layers)
    for blob in image.blobs:
        try:
            if _blob_path(layout, blob.digest).stat().st_size != blob.size:
                return None
        except OSError:
            return None
    return image


def _fields(desc: dict[str, Any]) -> dict[str, Any]:
    return {"media_type": desc["mediaType"], "digest": desc["digest"], "size": int(desc["size"])}


def _blob_path(root: Path, digest: str) -> Path:
    alg, _, hexpart = digest.partition(":")
    return root / "blobs" / alg / hexpart


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def compare_blob_dir(root: Path, image: BenchImage, rehash: bool) -> dict[str, Any]:
    """Are the image's manifest and blobs under ``root/blobs`` (an OCI layout or hoist's
    store), of the right sizes, and (``rehash``) do they hash to their digests?"""
    missing: list[str] = []
    wrong: list[str] = []
    for blob in (image.manifest, *image.blobs):
        path = _blob_path(root, blob.digest)
        try:
            size = path.stat().st_size
        except OSError:
            missing.append(blob.digest)
            continue
        if size != blob.size or (rehash and sha256_file(path) != blob.digest):
            wrong.append(blob.digest)
    return {"ok": not missing and not wrong, "missing": missing, "wrong": wrong,
            "rehashed": rehash}


# --------------------------------------------------------------------------- tools


def require_skopeo(skopeo: str) -> str:
    path = shutil.which(skopeo)
    if path is None:
        raise BenchError(f"skopeo not found ({skopeo!r}); install the Debian package skopeo")
    return path


def skopeo_version(skopeo: str) -> str:
    proc = subprocess.run([skopeo, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip().removeprefix("skopeo version ") or "unknown"


def registry_version() -> str:
    binary = shutil.which("docker-registry")
    if binary is None:
        return "unknown"
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def run_checked(argv: list[str], what: str, timeout: float = 600) -> str:
    """Run an untimed helper command; its stdout, or a BenchError with its stderr."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BenchError(f"{what}: {e}") from None
    if proc.returncode != 0:
        raise BenchError(f"{what}: `{' '.join(argv)}` exited {proc.returncode}:\n"
                         f"{proc.stderr[-2000:]}")
    return proc.stdout


def digest_of_raw(raw: bytes) -> str:
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


# --------------------------------------------------------------------------- registry


@dataclass
class Registry:
    """A running Distribution: ``host`` is ``127.0.0.1:PORT``."""

    host: str
    pid: int
    storage: Path
    log_path: Path
    stop: Callable[[], None]

    def ref(self, repository: str = REPOSITORY, tag: str = TAG) -> str:
        return f"{self.host}/{repository}:{tag}"

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []


def start_registry(workdir: Path) -> Registry:
    """Start Distribution with its config, storage and log under ``workdir``."""
    import sys

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        from tests.support.distribution import start_distribution
    except ImportError as e:
        raise BenchError(f"tests.support.distribution is not importable: {e}") from None
    try:
        dist = start_distribution(workdir, auth="none", delete_enabled=False)
    except Exception as e:  # DistributionError, or the binary missing
        raise BenchError(f"could not start docker-registry: {e}") from None
    return Registry(host=dist.host, pid=dist.pid, storage=dist.storage,
                    log_path=dist.log_path, stop=dist.stop)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int
    agent: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


def access_log_requests(lines: list[str]) -> list[Request]:
    """The requests in Distribution's access log lines (combined log format:
    ``"METHOD PATH HTTP/1.1" STATUS SIZE "REFERER" "AGENT"``); other lines are skipped."""
    out = []
    for line in lines:
        if line.startswith("time="):
            continue
        fields = line.split('"')
        if len(fields) < 7:
            continue
        request = fields[1].split()
        status = fields[2].split()
        if len(request) != 3 or not request[2].startswith("HTTP/") or not status:
            continue
        try:
            code = int(status[0])
        except ValueError:
            continue
        out.append(Request(request[0], request[1], code, fields[5]))
    return out
