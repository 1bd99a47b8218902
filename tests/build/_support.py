"""Helpers for the build tests: write a context, build it natively, read the result back."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hoist.build.base import BuildRequest, BuiltImage
from hoist.build.native import NativeBuilder
from hoist.core.platform import Platform
from hoist.store.store import ContentStore

LINUX_AMD64 = Platform("linux", "amd64")


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def native_build(context: Path, store: ContentStore, repository: str = "example.test/app",
                 tag: str = "v1", dockerfile: str = "Dockerfile", **kwargs: Any) -> BuiltImage:
    request = BuildRequest(artifact="app", repository=repository, tag=tag,
                           context=context, dockerfile=context / dockerfile, store=store,
                           platform=kwargs.pop("platform", LINUX_AMD64), **kwargs)
    return NativeBuilder(kwargs.pop("cache_dir", None)).build(request)


def image_config(store: ContentStore, built: BuiltImage) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(store.blobs.read(built.config_digest))
    return config


def layer_digests(store: ContentStore, built: BuiltImage) -> list[str]:
    manifest = store.manifest(built.digest)
    return [str(d.digest) for d in manifest.layers]


def layer_members(store: ContentStore, digest: str) -> list[tarfile.TarInfo]:
    from hoist.core.digest import Digest

    data = gzip.decompress(store.blobs.read(Digest.parse(digest)))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def layer_files(store: ContentStore, digest: str) -> dict[str, bytes]:
    from hoist.core.digest import Digest

    data = gzip.decompress(store.blobs.read(Digest.parse(digest)))
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            if m.isreg():
                f = tar.extractfile(m)
                assert f is not None
                out[m.name] = f.read()
    return out
