"""The dev loop's push to a local registry (Debian's docker-registry, CNCF Distribution):
blobs pushed before are not asked about again, a record the registry contradicts still
ends in a complete push, new blobs go up side by side, and the plain HTTP exchange reads
every response framing a registry may use."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hoist.build.pushed import MAX_RECORDED, SMALL_BLOB, PushedBlobs
from hoist.build.runner import BuildOptions, build_artifacts
from hoist.config import load_config
from hoist.core.digest import Digest
from hoist.registry.probe import ProbeUnavailable, QuickSession, split_host_port
from hoist.store.store import ContentStore
from tests.build._support import write_tree
from tests.support.distribution import Distribution

DIGEST = "sha256:" + "a" * 64


def _digest(n: int) -> str:
    return f"sha256:{n:064x}"


# --------------------------------------------------------------------------- the record


def test_the_record_remembers_most_recent_first_and_stays_bounded(tmp_path: Path) -> None:
    record = PushedBlobs(tmp_path, "reg.test:5000", "team/app")
    assert record.known() == frozenset()
    record.remember([_digest(1), _digest(2)])
    record.remember([_digest(3), _digest(1)])
    again = PushedBlobs(tmp_path, "reg.test:5000", "team/app")
    assert again.known() == {_digest(1), _digest(2), _digest(3)}
    assert json.loads(again.path.read_text())["blobs"] == [_digest(3), _digest(1), _digest(2)]
    again.remember(_digest(n) for n in range(10, 10 + MAX_RECORDED))
    assert len(PushedBlobs(tmp_path, "reg.test:5000", "team/app").known()) == MAX_RECORDED
    again.forget()
    assert PushedBlobs(tmp_path, "reg.test:5000", "team/app").known() == frozenset()


def test_records_are_per_registry_and_repository_and_damage_reads_as_empty(
        tmp_path: Path) -> None:
    PushedBlobs(tmp_path, "reg.test:5000", "team/app").remember([DIGEST])
    assert PushedBlobs(tmp_path, "reg.test:5001", "team/app").known() == frozenset()
    assert PushedBlobs(tmp_path, "reg.test:5000", "team/other").known() == frozenset()
    record = PushedBlobs(tmp_path, "reg.test:5000", "team/app")
    for damage in (b"", b"{", b"[]", b'{"version": 1, "blobs": "x"}',
                   json.dumps({"version": 99, "registry": "reg.test:5000",
                               "repository": "team/app", "blobs": [DIGEST]}).encode()):
        record.path.write_bytes(damage)
        assert PushedBlobs(tmp_path, "reg.test:5000", "team/app").known() == frozenset()


# --------------------------------------------------------------------------- pushes


def _noise(seed: int) -> bytes:
    """Bytes gzip cannot shrink: a layer of them is bigger than SMALL_BLOB."""
    return random.Random(seed).randbytes(2 * SMALL_BLOB)


def _service(root: Path, image: str) -> Path:
    """Two COPY layers: static.bin never changes, index.bin does; both are big enough
    to be asked about before an upload, while the image config is not."""
    write_tree(root, {
        "hoist.yaml": ("apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n"
                       f"  artifacts:\n    - image: {image}\n"
                       "      imagePullPolicy: Always\n"),
        "Dockerfile": "FROM scratch\nCOPY static.bin /www/\nCOPY index.bin /www/\n",
        "static.bin": _noise(1),
        "index.bin": _noise(2),
    })
    return root / "hoist.yaml"


def _big(store: ContentStore, digest: Digest) -> set[str]:
    return {str(d.digest) for d in store.manifest(digest).blobs() if d.size > SMALL_BLOB}


def _options(tmp_path: Path) -> BuildOptions:
    env = {"USER": "alice", "HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    return BuildOptions(store_root=tmp_path / "store", env=env)


def _blob_heads(registry: Distribution, since: int) -> list[str]:
    """Digests of the blob HEADs in the registry's access log after byte ``since``."""
    out = []
    for line in registry.log_text()[since:].splitlines():
        fields = line.split('"')
        if len(fields) > 1 and fields[1].startswith("HEAD ") and "/blobs/" in fields[1]:
            out.append(fields[1].split()[1].rsplit("/", 1)[1])
    return out


def _served(registry: Distribution, repo: str, ref: str, kind: str = "manifests") -> int:
    req = urllib.request.Request(
        f"{registry.url}/v2/{repo}/{kind}/{ref}", method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_a_rebuild_asks_only_about_its_new_blobs(
        tmp_path: Path, distribution_open: Distribution) -> None:
    image = f"{distribution_open.host}/quick/skip"
    path = _service(tmp_path / "svc", image)
    first = build_artifacts(load_config(str(path)), _options(tmp_path)).results[0]
    store = ContentStore(tmp_path / "store")
    before = {str(d.digest) for d in store.manifest(first.digest).blobs()}
    record = PushedBlobs(tmp_path / "store" / "build-cache" / "pushed",
                         distribution_open.host, "quick/skip")
    assert record.known() == before
    (tmp_path / "svc" / "index.bin").write_bytes(_noise(3))
    mark = len(distribution_open.log_text())
    second = build_artifacts(load_config(str(path)), _options(tmp_path)).results[0]
    heads = _blob_heads(distribution_open, mark)
    assert second.pushed and second.digest != first.digest
    after = {str(d.digest) for d in store.manifest(second.digest).blobs()}
    new = after - before
    assert len(new) == 2  # the config and index.bin's layer; static.bin's is shared
    # static.bin's layer was pushed before: not asked about; the new config is small
    # enough to upload without asking
    assert sorted(heads) == sorted(new & _big(store, second.digest))
    assert _served(distribution_open, "quick/skip", second.tag) == 200
    for digest in after:
        assert _served(distribution_open, "quick/skip", digest, "blobs") == 200


def test_a_record_the_registry_contradicts_still_ends_in_a_complete_push(
        tmp_path: Path, distribution_open: Distribution) -> None:
    # The record claims every blob of the image is in a repository that has none of them
    # (a registry wiped, or restarted empty on the same port): the manifest PUT fails,
    # the record is dropped, every blob is asked about and uploaded, and the PUT succeeds.
    image = f"{distribution_open.host}/quick/lied-to"
    path = _service(tmp_path / "svc", image)
    options = _options(tmp_path)
    built = build_artifacts(load_config(str(path)),
                            BuildOptions(store_root=options.store_root, env=options.env,
                                         push=False)).results[0]
    store = ContentStore(tmp_path / "store")
    blobs = [str(d.digest) for d in store.manifest(built.digest).blobs()]
    record = PushedBlobs(tmp_path / "store" / "build-cache" / "pushed",
                         distribution_open.host, "quick/lied-to")
    record.remember([*blobs, DIGEST])
    mark = len(distribution_open.log_text())
    result = build_artifacts(load_config(str(path)), options).results[0]
    assert sorted(_blob_heads(distribution_open, mark)) == sorted(_big(store, built.digest))
    assert result.pushed and result.cached and result.digest == built.digest
    assert _served(distribution_open, "quick/lied-to", result.tag) == 200
    for digest in blobs:
        assert _served(distribution_open, "quick/lied-to", digest, "blobs") == 200
    again = PushedBlobs(tmp_path / "store" / "build-cache" / "pushed",
                        distribution_open.host, "quick/lied-to").known()
    assert again == set(blobs)  # the false entry is gone


def test_a_fresh_build_trusting_a_wrong_record_still_pushes_every_blob(
        tmp_path: Path, distribution_open: Distribution) -> None:
    # Another repository's record copied over: a fresh build of the same files for
    # quick/copy skips every blob, the manifest PUT fails, and the retry sends them all.
    host = distribution_open.host
    first = build_artifacts(load_config(str(_service(tmp_path / "a", f"{host}/quick/orig"))),
                            _options(tmp_path)).results[0]
    pushed = tmp_path / "store" / "build-cache" / "pushed"
    PushedBlobs(pushed, host, "quick/copy").remember(
        PushedBlobs(pushed, host, "quick/orig").known())
    result = build_artifacts(load_config(str(_service(tmp_path / "b", f"{host}/quick/copy"))),
                             _options(tmp_path)).results[0]
    assert result.pushed and not result.cached and result.digest == first.digest
    assert _served(distribution_open, "quick/copy", result.tag) == 200
    for digest in PushedBlobs(pushed, host, "quick/orig").known():
        assert _served(distribution_open, "quick/copy", digest, "blobs") == 200


def test_session_failures_surface_as_probe_unavailable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with QuickSession(f"127.0.0.1:{port}") as quick, pytest.raises(ProbeUnavailable):
        quick.manifest_digest("repo", "tag")


# --------------------------------------------------------------------------- HTTP framing


@pytest.fixture
def scripted_server() -> Iterator[Callable[[list[bytes]], str]]:
    """A loopback server that answers each request on a connection with the next of the
    given raw responses (closing the connection after one that says so)."""
    servers: list[socket.socket] = []

    def start(responses: list[bytes]) -> str:
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def serve() -> None:
            pending = list(responses)
            while pending:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                with conn, conn.makefile("rb") as reader:
                    while pending:
                        head = b""
                        while not head.endswith(b"\r\n\r\n"):
                            line = reader.readline()
                            if not line:
                                break
                            head += line
                        if not head:
                            break
                        for h in head.split(b"\r\n"):
                            if h.lower().startswith(b"content-length:"):
                                reader.read(int(h.split(b":")[1]))
                        answer = pending.pop(0)
                        conn.sendall(answer)
                        if b"Connection: close" in answer:
                            break

        threading.Thread(target=serve, daemon=True).start()
        return f"127.0.0.1:{server.getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


def test_plain_http_reads_every_framing(scripted_server: Callable[[list[bytes]], str]) -> None:
    created = b"HTTP/1.1 201 Created\r\nDocker-Content-Digest: " + DIGEST.encode() + b"\r\n"
    host = scripted_server([
        # a chunked body with a chunk extension and a trailer
        created + b"Transfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: y\r\n\r\n",
        # an interim 100 Continue before the answer; a HEAD answer's length has no body
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nDocker-Content-Digest: " + DIGEST.encode() + b"\r\n"
        b"Content-Length: 4\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n",
        # a body that runs to the end of the connection
        created + b"Connection: close\r\n\r\nthe rest of the stream",
        # what follows goes over a new connection
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        created + b"Content-Length: 7\r\n\r\ncreated",
    ])
    with QuickSession(host) as quick:
        assert quick.put_manifest("repo", "v1", "application/json", b"{}") == DIGEST
        assert quick.manifest_digest("repo", "v1") == DIGEST
        assert not quick.has_blob("repo", DIGEST)
        assert quick.put_manifest("repo", "v2", "application/json", b"{}") == DIGEST
        assert quick.manifest_digest("repo", "v3") is None
        assert quick.put_manifest("repo", "v3", "application/json", b"[]") == DIGEST


def test_plain_http_refuses_what_is_not_http(
        scripted_server: Callable[[list[bytes]], str]) -> None:
    for answer in (b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
                   b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                   b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\n"
                   b"Content-Length: 0\r\n\r\n",
                   b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"):
        host = scripted_server([answer])
        with QuickSession(host) as quick, pytest.raises(ProbeUnavailable):
            quick.manifest_digest("repo", "v1")


def test_host_and_port_are_split_as_registries_write_them() -> None:
    assert split_host_port("localhost:5000") == ("localhost", 5000)
    assert split_host_port("127.0.0.1") == ("127.0.0.1", 80)
    assert split_host_port("[::1]:5000") == ("::1", 5000)
    assert split_host_port("[::1]") == ("::1", 80)
    with pytest.raises(ProbeUnavailable):
        split_host_port("localhost:http")


# --------------------------------------------------------------------------- what loads


def test_an_artifact_the_cache_answers_loads_no_builder() -> None:
    code = ("import sys\nfrom hoist.build.runner import default_builders\n"
            "b = default_builders()['native']\n"
            "print(b.name, b.unavailable(), 'hoist.build.native' in sys.modules,"
            " 'hoist.build.dockerfile' in sys.modules, 'concurrent.futures' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["native", "None", "False", "False", "False"]


def test_lazy_packages_still_give_every_public_name() -> None:
    import hoist.manifests

    for name in hoist.manifests.__all__:
        assert getattr(hoist.manifests, name) is not None, name
    with pytest.raises(AttributeError):
        hoist.manifests.no_such_name  # noqa: B018
