"""``hoist store gc`` while the server serves: it never takes a blob a repository manifest,
an upload in progress, or a push that has not sent its manifest yet still needs."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable

from hoist.store import ContentStore
from hoist.store.store import LINK_GRACE_SECONDS, STALE_INGEST_SECONDS
from tests.registry_server._helpers import (
    digest_of,
    image_manifest,
    push_blob,
    push_image,
    put_manifest,
    start_upload,
    with_query,
)
from tests.support.registry_http import request
from tests.support.registry_server_fixtures import HoistRegistry

Factory = Callable[..., HoistRegistry]


def _gc(registry: HoistRegistry, *, link_grace_seconds: float = LINK_GRACE_SECONDS,
        stale_ingest_seconds: float = STALE_INGEST_SECONDS) -> list[str]:
    with ContentStore(registry.store) as store:
        report = store.gc(link_grace_seconds=link_grace_seconds,
                          stale_ingest_seconds=stale_ingest_seconds)
        return [str(d) for d in report.removed_blobs]


def test_gc_keeps_every_repository_manifest_and_its_blobs(
        hoist_registry_factory: Factory) -> None:
    registry = hoist_registry_factory()
    base = registry.url
    manifest, blobs = push_image(base, "keep/one", "v1")
    # gc with no grace for links: only manifests protect blobs
    assert _gc(registry, link_grace_seconds=0) == []
    for blob in blobs:
        assert request(f"{base}/v2/keep/one/blobs/{digest_of(blob)}").body == blob
    assert request(f"{base}/v2/keep/one/manifests/v1").body == manifest
    # a blob shared with another repository stays while either manifest does
    push_blob(base, "keep/two", blobs[1])
    push_blob(base, "keep/two", blobs[0])
    assert put_manifest(base, "keep/two", "v1", manifest).status == 201
    assert request(f"{base}/v2/keep/one/manifests/{digest_of(manifest)}",
                   "DELETE").status == 202
    assert _gc(registry, link_grace_seconds=0) == []
    assert request(f"{base}/v2/keep/two/manifests/{digest_of(manifest)}",
                   "DELETE").status == 202
    removed = _gc(registry, link_grace_seconds=0)
    assert set(removed) == {digest_of(manifest), *(digest_of(b) for b in blobs)}
    with ContentStore(registry.store) as store:
        assert store.verify().ok


def test_gc_spares_blobs_pushed_before_their_manifest(hoist_registry_factory: Factory) -> None:
    registry = hoist_registry_factory()
    base = registry.url
    config, layer = b'{"os":"linux","architecture":"amd64"}', b"layer pushed early"
    push_blob(base, "early/app", config)
    push_blob(base, "early/app", layer)
    assert _gc(registry) == []  # inside the grace period after the upload
    assert put_manifest(base, "early/app", "v1", image_manifest(config, [layer])).status == 201
    # once past the grace, an orphan goes, and a manifest naming it is then refused
    orphan = b"uploaded, never referenced"
    push_blob(base, "early/app", orphan)
    assert _gc(registry, link_grace_seconds=0) == [digest_of(orphan)]
    assert request(f"{base}/v2/early/app/blobs/{digest_of(orphan)}").status == 404
    r = put_manifest(base, "early/app", "v2", image_manifest(config, [orphan]))
    assert r.status == 400
    assert r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


def test_gc_during_an_upload_session(hoist_registry_factory: Factory) -> None:
    registry = hoist_registry_factory()
    base = registry.url
    data = b"chunk" * 20000
    location = start_upload(base, "inflight/app")
    r = request(location, "PATCH", body=data[:50000], headers={"Content-Range": "0-49999"})
    assert r.status == 202
    _gc(registry, link_grace_seconds=0, stale_ingest_seconds=0)
    r = request(location, "PATCH", body=data[50000:],
                headers={"Content-Range": f"50000-{len(data) - 1}"})
    assert r.status == 202
    r = request(with_query(location, digest=digest_of(data)), "PUT", body=b"")
    assert r.status == 201
    assert request(f"{base}/v2/inflight/app/blobs/{digest_of(data)}").body == data


def test_concurrent_gc_and_pushes_lose_nothing(hoist_registry_factory: Factory) -> None:
    registry = hoist_registry_factory()
    base = registry.url
    stop = threading.Event()
    errors: list[BaseException] = []

    def collect() -> None:
        try:
            while not stop.is_set():
                _gc(registry)
        except BaseException as e:  # reported below
            errors.append(e)

    collector = threading.Thread(target=collect)
    collector.start()
    pushed = []
    try:
        for i in range(10):
            pushed.append(push_image(base, "race/app", f"v{i}", seed=f"s{i}"))
            if i % 3 == 0:  # and some deletions, so gc has something to take
                digest = digest_of(pushed[-1][0])
                assert request(f"{base}/v2/race/app/manifests/{digest}",
                               "DELETE").status == 202
    finally:
        stop.set()
        collector.join()
    assert not errors
    for i, (manifest, blobs) in enumerate(pushed):
        if i % 3 == 0:
            continue
        assert request(f"{base}/v2/race/app/manifests/v{i}").body == manifest
        for blob in blobs:
            assert request(f"{base}/v2/race/app/blobs/{digest_of(blob)}").body == blob
    out = subprocess.run([sys.executable, "-m", "hoist", "store", "verify", "--store",
                          str(registry.store), "-o", "json"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
