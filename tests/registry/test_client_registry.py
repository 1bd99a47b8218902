"""The registry client against a real Distribution 2.8: resolve, manifests of each media
type, cross-repository mounts, chunked uploads, existing-blob skips, tag listing with
``Link`` pages, deletes, retries of 429 and 500, and typed errors. Requests are counted in
Distribution's access log and in the fault proxy's statistics."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest

from hoist.auth.credential import Credential
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor
from hoist.registry.client import RegistryClient, new_session
from hoist.registry.errors import InvalidContent, NotFound, TransferError, Unsupported
from hoist.registry.transport import RetryPolicy, Transport
from hoist.transfer import Options, copy
from tests.registry._support import AccessLog, creds_of, hoist, unique, write_auths
from tests.support.distribution import Distribution
from tests.support.faultproxy import FaultProxy, FaultRule
from tests.support.images import ImageFactory, ImageInfo, IndexInfo, Media
from tests.support.skopeo import Skopeo

T = TypeVar("T")
StartProxy = Callable[[Distribution | str], FaultProxy]
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "home" / ".docker"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)


def with_client(
    host: str,
    body: Callable[[RegistryClient], Awaitable[T]],
    *,
    retry: RetryPolicy = FAST,
    credentials: Credential | None = None,
) -> T:
    async def go() -> T:
        async with new_session() as http:
            transport = Transport(host, http, credentials=credentials, retry=retry)
            return await body(RegistryClient(transport))

    return asyncio.run(go())


def _options(tmp_path: Path, **kwargs: object) -> Options:
    opts = Options(authfile=str(tmp_path / "none.json"), store_root=tmp_path / "store",
                   retry=FAST)
    for k, v in kwargs.items():
        setattr(opts, k, v)
    return opts


def _push(skopeo: Skopeo, info: ImageInfo | IndexInfo, registry: Distribution, name: str,
          tag: str = "v1") -> str:
    """skopeo pushes ``info``; returns its repository."""
    repo = unique(name)
    creds = creds_of(registry) if registry.users else None
    skopeo.copy(info.ref, f"docker://{registry.host}/{repo}:{tag}", multi_arch="all",
                creds=creds)
    return repo


def _flags(tmp_path: Path) -> list[str]:
    return ["--store", str(tmp_path / "store"), "--authfile", str(tmp_path / "none.json"), "-q"]


# ---------------------------------------------------------------------- request counts


@pytest.mark.parametrize("kind", ["image", "index"])
def test_a_no_op_pull_costs_exactly_one_head(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    fault_proxy: StartProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    kind: str,
) -> None:
    info: ImageInfo | IndexInfo = (image_factory.make_image("noop", layers=[1000, 2000])
                                   if kind == "image" else image_factory.make_index("noop-i"))
    repo = _push(skopeo, info, distribution_open, f"noop-{kind}")
    proxy = fault_proxy(distribution_open)
    ref = f"{proxy.host}/{repo}:v1"
    first = hoist(capsys, "pull", ref, *_flags(tmp_path))
    assert first.code == 0, first.err

    proxy.reset_stats()
    log = AccessLog(distribution_open)
    again = hoist(capsys, "pull", ref, *_flags(tmp_path), "-o", "json")
    assert again.code == 0, again.err
    doc = json.loads(again.out)
    assert doc["upToDate"] and doc["digest"] == info.digest and doc["blobs"] == {}
    assert proxy.stats.requests == 1
    assert [(a.method, a.path, a.status) for a in log.settled()] == [
        ("HEAD", f"/v2/{repo}/manifests/v1", 200)]


def test_resolve_is_one_head(
    distribution_open: Distribution, skopeo: Skopeo, image_factory: ImageFactory
) -> None:
    image = image_factory.make_image("resolve-head")
    repo = _push(skopeo, image, distribution_open, "resolve-head")
    log = AccessLog(distribution_open)
    desc = with_client(distribution_open.host, lambda c: c.resolve(repo, "v1"))
    assert desc == Descriptor(image.media_type, Digest.parse(image.digest), image.size)
    assert [(a.method, a.path) for a in log.settled()] == [("HEAD", f"/v2/{repo}/manifests/v1")]


@pytest.mark.parametrize("head", ["no-digest", "not-allowed"])
def test_resolve_falls_back_to_get_when_head_says_too_little(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    fault_proxy: StartProxy,
    head: str,
) -> None:
    image = image_factory.make_image("resolve-get", media="docker")
    repo = _push(skopeo, image, distribution_open, "resolve-get")
    proxy = fault_proxy(distribution_open)
    if head == "no-digest":
        # A HEAD without Docker-Content-Digest (as some registries answer).
        rule = proxy.http_status(200, {"Content-Type": "text/plain"}, b"", method="HEAD",
                                 path=r"/manifests/")
    else:
        # A registry (or a proxy before it) that does not allow HEAD on manifests.
        rule = proxy.http_status(405, method="HEAD", path=r"/manifests/")
    log = AccessLog(distribution_open)
    desc = with_client(proxy.host, lambda c: c.resolve(repo, "v1"))
    assert rule.fired == 1
    assert desc == Descriptor(image.media_type, Digest.parse(image.digest), image.size)
    assert [(a.method, a.path) for a in log.settled()] == [("GET", f"/v2/{repo}/manifests/v1")]


# ---------------------------------------------------------------------- manifests


@pytest.mark.parametrize("media", ["oci", "docker"])
@pytest.mark.parametrize("kind", ["image", "index"])
def test_manifests_of_each_media_type(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    media: Media,
    kind: str,
) -> None:
    info: ImageInfo | IndexInfo = (
        image_factory.make_image(f"mt-{media}", media=media) if kind == "image"
        else image_factory.make_index(f"mti-{media}", media=media))
    repo = _push(skopeo, info, distribution_open, f"media-{kind}-{media}")

    async def read(c: RegistryClient) -> tuple[Descriptor, bytes, str, bool, bool]:
        desc = await c.resolve(repo, "v1")
        manifest = await c.get_manifest(repo, "v1")
        by_digest = await c.get_manifest(repo, info.digest)
        assert by_digest.raw == manifest.raw
        return (desc, manifest.raw, manifest.media_type, manifest.is_index,
                await c.manifest_exists(repo, Digest.parse(info.digest)))

    desc, raw, media_type, is_index, exists = with_client(distribution_open.host, read)
    assert (str(desc.digest), desc.media_type, desc.size) == (info.digest, info.media_type,
                                                              info.size)
    assert raw == (info.index if isinstance(info, IndexInfo) else info.manifest)
    assert media_type == info.media_type and is_index == (kind == "index") and exists


# ---------------------------------------------------------------------- pushes


@pytest.mark.parametrize("registry_name", ["distribution_open", "distribution_bearer"])
def test_copy_within_a_registry_mounts_blobs(
    request: pytest.FixtureRequest,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    tmp_path: Path,
    registry_name: str,
) -> None:
    registry: Distribution = request.getfixturevalue(registry_name)
    image = image_factory.make_image("mount", layers=[4000, 9000])
    repo = _push(skopeo, image, registry, "mount-src")
    dst = unique("mount-dst")
    opts = _options(tmp_path)
    if registry.users:
        user, password = creds_of(registry)
        opts.authfile = str(write_auths(tmp_path / "c.json", registry.host, user, password))
    log = AccessLog(registry)

    result = copy(f"docker://{registry.host}/{repo}:v1", f"docker://{registry.host}/{dst}:v1",
                  opts)
    assert result.blobs == {"mounted": 3} and result.bytes_copied == 0
    creds = creds_of(registry) if registry.users else None
    assert skopeo.inspect_raw(f"docker://{registry.host}/{dst}:v1", creds=creds) == image.manifest
    entries = log.settled()
    mounts = [a for a in entries if a.method == "POST" and "mount=" in a.path]
    queries = [parse_qs(urlsplit(a.path).query) for a in mounts]
    assert len(mounts) == 3 and all(a.status == 201 for a in mounts)
    assert all(q["from"] == [repo] for q in queries)
    assert {q["mount"][0] for q in queries} == {image.config.digest, *(b.digest for b in
                                                                      image.layers)}
    assert not any(a.method in ("PATCH", "PUT") and "/blobs/" in a.path for a in entries)
    assert not any(a.method == "GET" and "/blobs/" in a.path for a in entries)


def test_chunked_upload_follows_the_rotating_location(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    chunk = 64 * 1024
    image = image_factory.make_image("chunky", layers=[300_000, 100])
    big = max(image.layers, key=lambda b: b.size)
    dst = f"{distribution_open.host}/{unique('chunked')}:v1"
    log = AccessLog(distribution_open)

    run = hoist(capsys, "push", f"oci:{image.layout_dir}:chunky", dst, *_flags(tmp_path),
                "--chunk-size", str(chunk), "-o", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["blobs"] == {"uploaded": 3}

    patches = [a for a in log.settled() if a.method == "PATCH"]
    assert all(a.status == 202 for a in patches)
    # The big layer went in ceil(size/chunk) PATCHes; every one at a new _state.
    big_count = math.ceil(big.size / chunk)
    assert len(patches) >= big_count
    assert len({a.path for a in patches}) == len(patches)
    assert all("_state=" in a.path for a in patches)

    assert skopeo.inspect_raw(f"docker://{dst}") == image.manifest
    skopeo.copy(f"docker://{dst}", f"oci:{tmp_path / 'back'}:v1")
    back = tmp_path / "back" / "blobs" / "sha256" / big.digest.partition(":")[2]
    assert back.read_bytes() == big.path.read_bytes()


def test_a_second_push_skips_blobs_the_registry_has(
    distribution_open: Distribution,
    image_factory: ImageFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    image = image_factory.make_image("twice", layers=[5000, 6000])
    repo = unique("twice")
    src = f"oci:{image.layout_dir}:twice"
    first = hoist(capsys, "push", src, f"{distribution_open.host}/{repo}:v1", *_flags(tmp_path),
                  "-o", "json")
    assert first.code == 0, first.err
    assert json.loads(first.out)["blobs"] == {"uploaded": 3}

    log = AccessLog(distribution_open)
    second = hoist(capsys, "push", src, f"{distribution_open.host}/{repo}:v2", *_flags(tmp_path),
                   "-o", "json")
    assert second.code == 0, second.err
    doc = json.loads(second.out)
    assert doc["blobs"] == {"exists": 3} and doc["bytesCopied"] == 0
    entries = log.settled()
    assert not any(a.method in ("POST", "PATCH") for a in entries)
    assert [a.method for a in entries if "/blobs/" in a.path] == ["HEAD"] * 3
    assert ("PUT", f"/v2/{repo}/manifests/v2") in [(a.method, a.path) for a in entries]


# ---------------------------------------------------------------------- tags


def test_tags_list_every_tag(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    tmp_path: Path,
) -> None:
    image = image_factory.make_image("tagged")
    repo = _push(skopeo, image, distribution_open, "tags", tag="b")
    for tag in ("a", "c", "v1.0"):
        copy(f"docker://{distribution_open.host}/{repo}:b",
             f"docker://{distribution_open.host}/{repo}:{tag}", _options(tmp_path))
    tags = with_client(distribution_open.host, lambda c: c.list_tags(repo))
    assert sorted(tags) == ["a", "b", "c", "v1.0"]
    # Distribution 2.8 does not paginate: a page size still gives every tag.
    assert sorted(with_client(distribution_open.host, lambda c: c.list_tags(repo, 2))) == \
        ["a", "b", "c", "v1.0"]


def test_tag_listing_follows_link_pages(
    distribution_open: Distribution,
    fault_proxy: StartProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Distribution 2.8 never paginates, so the proxy serves the pages: the first links
    relatively to the second, the second absolutely to the third, which ends."""
    repo = unique("paged")
    proxy = fault_proxy(distribution_open)

    def page(tags: list[str], link: str | None) -> tuple[dict[str, str], bytes]:
        headers = {"Content-Type": "application/json"}
        if link:
            headers["Link"] = f'<{link}>; rel="next"'
        return headers, json.dumps({"name": repo, "tags": tags}).encode()

    def serve() -> list[FaultRule]:
        rules = []
        for regex, tags, link in [
            (r"/tags/list\?n=2$", ["a", "b"], f"/v2/{repo}/tags/list?n=2&last=b"),
            (r"/tags/list\?n=2&last=b$", ["c", "d"],
             f"{proxy.url}/v2/{repo}/tags/list?n=2&last=d"),
            (r"/tags/list\?n=2&last=d$", ["e"], None),
        ]:
            headers, body = page(tags, link)
            rules.append(proxy.http_status(200, headers, body, path=regex, method="GET"))
        return rules

    rules = serve()
    tags = with_client(proxy.host, lambda c: c.list_tags(repo, 2))
    assert tags == ["a", "b", "c", "d", "e"]
    assert [r.fired for r in rules] == [1, 1, 1]

    rules = serve()
    run = hoist(capsys, "tags", f"{proxy.host}/{repo}", "--page-size", "2", "-o", "json",
                "--authfile", str(tmp_path / "none.json"))
    assert run.code == 0, run.err
    assert json.loads(run.out)["tags"] == ["a", "b", "c", "d", "e"]


# ---------------------------------------------------------------------- delete


def test_delete_by_digest_works_and_by_tag_is_unsupported(
    distribution_open: Distribution, skopeo: Skopeo, image_factory: ImageFactory
) -> None:
    image = image_factory.make_image("deleted")
    repo = _push(skopeo, image, distribution_open, "delete")
    digest = Digest.parse(image.digest)

    async def scenario(c: RegistryClient) -> None:
        with pytest.raises(Unsupported) as by_tag:
            await c.delete_manifest(repo, "v1")
        assert by_tag.value.repository == repo and by_tag.value.reference == "v1"
        assert "\n" not in str(by_tag.value) and "digest" in str(by_tag.value)
        assert (await c.resolve(repo, "v1")).digest == digest  # still there
        await c.delete_manifest(repo, str(digest))
        assert not await c.manifest_exists(repo, digest)
        with pytest.raises(NotFound):
            await c.resolve(repo, "v1")

    with_client(distribution_open.host, scenario)


# ---------------------------------------------------------------------- retries and errors


@pytest.mark.parametrize("where", ["manifest", "blob"])
def test_429_waits_for_retry_after_then_succeeds(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    fault_proxy: StartProxy,
    tmp_path: Path,
    where: str,
) -> None:
    image = image_factory.make_image(f"limited-{where}")
    repo = _push(skopeo, image, distribution_open, f"limited-{where}")
    proxy = fault_proxy(distribution_open)
    path = r"/manifests/v1" if where == "manifest" else r"/blobs/sha256:"
    rule = proxy.http_status(429, {"Retry-After": "1"}, path=path)
    started = time.monotonic()
    result = copy(f"docker://{proxy.host}/{repo}:v1", "store:limited/app:v1",
                  _options(tmp_path))
    elapsed = time.monotonic() - started
    assert str(result.digest) == image.digest
    assert rule.fired == 1
    # FAST backs off for at most 0.05 s: the wait is the server's Retry-After.
    assert elapsed >= 0.95


@pytest.mark.parametrize("where", ["manifest", "blob"])
def test_500s_are_retried_then_succeed(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    fault_proxy: StartProxy,
    tmp_path: Path,
    where: str,
) -> None:
    image = image_factory.make_image(f"flaky-{where}", layers=[2000, 3000])
    repo = _push(skopeo, image, distribution_open, f"flaky-{where}")
    proxy = fault_proxy(distribution_open)
    path = r"/manifests/" if where == "manifest" else r"/blobs/sha256:"
    rule = proxy.http_500(path=path, times=2)
    result = copy(f"docker://{proxy.host}/{repo}:v1", "store:flaky/app:v1", _options(tmp_path))
    assert str(result.digest) == image.digest
    assert rule.fired == 2
    assert result.blobs == {"copied": 3}


def test_persistent_500_is_a_one_line_transfer_error(
    distribution_open: Distribution,
    skopeo: Skopeo,
    image_factory: ImageFactory,
    fault_proxy: StartProxy,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    image = image_factory.make_image("broken")
    repo = _push(skopeo, image, distribution_open, "broken")
    proxy = fault_proxy(distribution_open)
    rule = proxy.http_500(path=r"/manifests/", times=None)

    with pytest.raises(TransferError) as caught:
        copy(f"docker://{proxy.host}/{repo}:v1", "store:broken/app:v1", _options(tmp_path))
    err = caught.value
    assert (err.registry, err.repository, err.reference) == (proxy.host, repo, "v1")
    assert err.status == 500 and "\n" not in str(err)
    assert f"{proxy.host}/{repo}:v1" in str(err)
    assert rule.matched == FAST.attempts

    run = hoist(capsys, "pull", f"{proxy.host}/{repo}:v1", *_flags(tmp_path))
    assert run.code == 1
    assert len(run.err.strip().splitlines()) == 1
    assert f"{proxy.host}/{repo}:v1" in run.err and "500" in run.err


def test_errors_decode_into_typed_exceptions(
    distribution_open: Distribution, skopeo: Skopeo, image_factory: ImageFactory
) -> None:
    image = image_factory.make_image("typed")
    repo = _push(skopeo, image, distribution_open, "typed")
    host = distribution_open.host
    never = unique("never")

    async def scenario(c: RegistryClient) -> None:
        with pytest.raises(NotFound) as missing_tag:
            await c.get_manifest(repo, "no-such-tag")
        e = missing_tag.value
        assert (e.code, e.status, e.repository, e.reference) == (
            "MANIFEST_UNKNOWN", 404, repo, "no-such-tag")
        assert str(e).startswith(f"{host}/{repo}:no-such-tag: ") and "\n" not in str(e)

        with pytest.raises(NotFound) as resolved:
            await c.resolve(repo, "no-such-tag")
        assert resolved.value.code == "MANIFEST_UNKNOWN"
        assert f"{repo}:no-such-tag" in str(resolved.value)

        with pytest.raises(NotFound) as unknown_repo:
            await c.get_manifest(never, "v1")
        assert unknown_repo.value.code in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")
        assert unknown_repo.value.repository == never

        with pytest.raises(NotFound) as no_tags:
            await c.list_tags(never)
        assert no_tags.value.code == "NAME_UNKNOWN"

        # A manifest whose blobs the repository does not have.
        with pytest.raises(InvalidContent) as refused:
            await c.put_manifest(never, "v1", image.manifest, image.media_type)
        assert refused.value.code == "MANIFEST_BLOB_UNKNOWN"
        assert refused.value.status == 400 and refused.value.repository == never

        assert await c.blob_size(repo, Digest.parse(image.config.digest)) == image.config.size
        assert await c.blob_size(never, Digest.parse(image.config.digest)) is None

    with_client(host, scenario)
