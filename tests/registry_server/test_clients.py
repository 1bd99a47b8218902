"""Real clients against hoist's server: skopeo, hoist's own client and buildah push and
pull single- and multi-arch images, and get the digests Distribution 2.8 gives for the
same content."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hoist.core.digest import Digest
from hoist.store import ContentStore
from hoist.transfer import Options, copy
from tests.registry_server._helpers import digest_of, unique
from tests.support.distribution import Distribution
from tests.support.images import ImageFactory, IndexInfo
from tests.support.registry_http import MANIFEST_ACCEPT, request
from tests.support.registry_server_fixtures import HoistRegistry
from tests.support.skopeo import Skopeo

MISSING_BUILDAH = "buildah not installed (Debian package buildah)"
MISSING_BUSYBOX = "/bin/busybox not installed (Debian package busybox-static)"


def _manifest_digest(base: str, name: str, ref: str) -> str:
    r = request(f"{base}/v2/{name}/manifests/{ref}", "HEAD", headers={"Accept": MANIFEST_ACCEPT})
    assert r.status == 200, (base, name, ref)
    return r.headers["Docker-Content-Digest"]


@pytest.mark.parametrize("media", ["oci", "docker"])
@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_skopeo_push_and_pull_same_digests_as_distribution(
        hoist_registry: HoistRegistry, distribution_open: Distribution, skopeo: Skopeo,
        image_factory: ImageFactory, tmp_path: Path, media: str, multi: bool) -> None:
    tag = f"{media}-{'multi' if multi else 'single'}"
    image = (image_factory.make_index(tag, media=media) if multi
             else image_factory.make_image(tag, media=media, layers=(2048, 70000)))
    name = unique("skopeo")
    for registry in (hoist_registry.host, distribution_open.host):
        skopeo.copy(image.ref, f"docker://{registry}/{name}:{tag}")
    hoist_raw = skopeo.inspect_raw(f"docker://{hoist_registry.host}/{name}:{tag}")
    dist_raw = skopeo.inspect_raw(f"docker://{distribution_open.host}/{name}:{tag}")
    assert hoist_raw == dist_raw
    assert digest_of(hoist_raw) == image.digest
    assert _manifest_digest(hoist_registry.url, name, tag) == image.digest
    assert _manifest_digest(distribution_open.url, name, tag) == image.digest
    # and out again, every blob intact (skopeo's oci: transport takes OCI types only)
    out = tmp_path / "out"
    if media == "oci":
        skopeo.copy(f"docker://{hoist_registry.host}/{name}:{tag}", f"oci:{out}:{tag}")
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == image.digest
        blob_dir = out / "blobs" / "sha256"
    else:
        skopeo.copy(f"docker://{hoist_registry.host}/{name}:{tag}", f"dir:{out}")
        assert digest_of((out / "manifest.json").read_bytes()) == image.digest
        blob_dir = out
    for blob in image.blobs:
        path = blob_dir / blob.digest.split(":")[1]
        assert digest_of(path.read_bytes()) == blob.digest
    if isinstance(image, IndexInfo) and media == "oci":
        for child in image.manifests:
            assert (blob_dir / child.digest.split(":")[1]).is_file()


def test_skopeo_inspect_and_registry_to_registry(
        hoist_registry: HoistRegistry, distribution_open: Distribution, skopeo: Skopeo,
        image_factory: ImageFactory) -> None:
    image = image_factory.make_index("r2r")
    name = unique("r2r")
    skopeo.copy(image.ref, f"docker://{distribution_open.host}/{name}:v1")
    # Distribution → hoist → Distribution (another name): the digest never changes
    skopeo.copy(f"docker://{distribution_open.host}/{name}:v1",
                f"docker://{hoist_registry.host}/{name}:v1")
    skopeo.copy(f"docker://{hoist_registry.host}/{name}:v1",
                f"docker://{distribution_open.host}/{name}-back:v1")
    assert _manifest_digest(distribution_open.url, f"{name}-back", "v1") == image.digest
    info = skopeo.inspect(f"docker://{hoist_registry.host}/{name}:v1")
    assert info["Digest"] == image.digest
    assert "v1" in info["RepoTags"]
    assert info["Architecture"] == "amd64"


@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_hoist_client_push_and_pull(hoist_registry: HoistRegistry,
                                    distribution_open: Distribution,
                                    image_factory: ImageFactory, tmp_path: Path,
                                    multi: bool) -> None:
    tag = "hoist-multi" if multi else "hoist-single"
    image = (image_factory.make_index(tag) if multi
             else image_factory.make_image(tag, layers=(1000, 300_000)))
    name = unique("hoist")
    options = Options(store_root=tmp_path / "store", chunk_size=64 * 1024)
    for registry in (hoist_registry.host, distribution_open.host):
        result = copy(f"oci:{image_factory.layout_dir}:{tag}",
                      f"docker://{registry}/{name}:{tag}", options)
        assert str(result.digest) == image.digest
    assert (_manifest_digest(hoist_registry.url, name, tag)
            == _manifest_digest(distribution_open.url, name, tag) == image.digest)
    # pull into a store and into a layout
    pulled = copy(f"docker://{hoist_registry.host}/{name}:{tag}", f"store:{name}:{tag}",
                  Options(store_root=tmp_path / "store"))
    assert str(pulled.digest) == image.digest
    with ContentStore(tmp_path / "store") as store:
        assert store.verify().ok
        assert [r.digest for r in store.images()] == [Digest.parse(image.digest)]
    out = copy(f"docker://{hoist_registry.host}/{name}:{tag}", f"oci:{tmp_path / 'out'}:{tag}",
               Options(store_root=tmp_path / "store"))
    assert str(out.digest) == image.digest
    # a second push finds everything there
    again = copy(f"oci:{image_factory.layout_dir}:{tag}",
                 f"docker://{hoist_registry.host}/{name}:{tag}", options)
    assert again.up_to_date or again.bytes_copied == 0


def test_hoist_client_cross_repository_mount(hoist_registry: HoistRegistry,
                                             image_factory: ImageFactory,
                                             tmp_path: Path) -> None:
    image = image_factory.make_image("mounted", layers=(50_000,))
    first, second = unique("mnt"), unique("mnt")
    options = Options(store_root=tmp_path / "store")
    copy(f"oci:{image_factory.layout_dir}:mounted", f"docker://{hoist_registry.host}/{first}:v1",
         options)
    result = copy(f"docker://{hoist_registry.host}/{first}:v1",
                  f"docker://{hoist_registry.host}/{second}:v1", options)
    assert str(result.digest) == image.digest
    assert _manifest_digest(hoist_registry.url, second, "v1") == image.digest


def _buildah(storage: Path, *args: str, timeout: float = 120) -> str:
    cmd = ["buildah", "--storage-driver", "vfs", "--root", str(storage / "root"),
           "--runroot", str(storage / "run"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(storage),
                              "BUILDAH_ISOLATION": "chroot",
                              "REGISTRY_AUTH_FILE": str(storage / "auth.json")})
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {out.returncode}: {out.stderr[-2000:]}")
    return out.stdout


def test_buildah_push_and_pull(hoist_registry: HoistRegistry,
                               distribution_open: Distribution, skopeo: Skopeo,
                               tmp_path: Path) -> None:
    if shutil.which("buildah") is None:
        pytest.skip(reason=MISSING_BUILDAH)
    if not Path("/bin/busybox").is_file():
        pytest.skip(reason=MISSING_BUSYBOX)
    (tmp_path / "auth.json").write_text('{"auths": {}}')
    for arch in ("amd64", "arm64"):
        context = tmp_path / f"context-{arch}"
        context.mkdir()
        shutil.copy("/bin/busybox", context / "busybox")
        (context / "arch").write_text(arch)
        (context / "Containerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY arch /etc/arch\n"
            'CMD ["/bin/busybox", "true"]\n')
        _buildah(tmp_path, "bud", "--isolation", "chroot", "--layers=false", "--arch", arch,
                 "-t", f"localhost/hoist-test:{arch}", str(context))
    _buildah(tmp_path, "manifest", "create", "localhost/hoist-test:list")
    for arch in ("amd64", "arm64"):
        _buildah(tmp_path, "manifest", "add", "localhost/hoist-test:list",
                 f"localhost/hoist-test:{arch}")
    name = unique("buildah")
    pushed: dict[str, list[str]] = {"single": [], "multi": []}
    for registry in (hoist_registry.host, distribution_open.host):
        for kind, command in (("single", ["push"]), ("multi", ["manifest", "push", "--all"])):
            digest_file = tmp_path / f"digest-{kind}-{len(pushed[kind])}"
            source = "localhost/hoist-test:" + ("amd64" if kind == "single" else "list")
            _buildah(tmp_path, *command, "--tls-verify=false", "--format", "oci",
                     "--digestfile", str(digest_file), source,
                     f"docker://{registry}/{name}:{kind}")
            pushed[kind].append(digest_file.read_text().strip())
    for kind, (on_hoist, on_distribution) in pushed.items():
        assert on_hoist == on_distribution, kind
        assert _manifest_digest(hoist_registry.url, name, kind) == on_hoist
        raw = skopeo.inspect_raw(f"docker://{hoist_registry.host}/{name}:{kind}")
        assert digest_of(raw) == on_hoist
    index = json.loads(skopeo.inspect_raw(f"docker://{hoist_registry.host}/{name}:multi"))
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64",
                                                                                 "arm64"]
    # and pull both back with buildah
    _buildah(tmp_path, "pull", "--tls-verify=false", f"docker://{hoist_registry.host}/{name}:single")
    _buildah(tmp_path, "pull", "--tls-verify=false", "--arch", "arm64",
             f"docker://{hoist_registry.host}/{name}:multi")


def test_serves_images_the_store_holds(hoist_registry_factory: Callable[..., HoistRegistry],
                                       skopeo: Skopeo, image_factory: ImageFactory,
                                       tmp_path: Path) -> None:
    """``hoist pull``ed images are served read-only under their repository path."""
    store = tmp_path / "store"
    image = image_factory.make_index("stored")
    single = image_factory.make_image("stored-single")
    options = Options(store_root=store)
    copy(f"oci:{image_factory.layout_dir}:stored", "store:example.com/team/app:v1", options)
    copy(f"oci:{image_factory.layout_dir}:stored-single", "store:team/other:v2", options)
    registry = hoist_registry_factory(store=store, read_only=True)
    assert skopeo.inspect(f"docker://{registry.host}/team/app:v1")["Digest"] == image.digest
    assert _manifest_digest(registry.url, "team/other", "v2") == single.digest
    out = tmp_path / "out"
    skopeo.copy(f"docker://{registry.host}/team/app:v1", f"oci:{out}:v1")
    for blob in image.blobs:
        assert (out / "blobs" / "sha256" / blob.digest.split(":")[1]).is_file()
    assert request(f"{registry.url}/v2/team/app/tags/list").json() == {
        "name": "team/app", "tags": ["v1"]}
    assert request(f"{registry.url}/v2/_catalog").json() == {
        "repositories": ["team/app", "team/other"]}
    # content of one image is not served under another image's repository
    blob = single.layers[0].digest
    assert request(f"{registry.url}/v2/team/other/blobs/{blob}").status == 200
    assert request(f"{registry.url}/v2/team/app/blobs/{blob}").status == 404
