"""hoist.build.external: buildah, podman and docker (a test dockerd of its own) build real
Dockerfiles into a fresh content store; the output readers, Dockerfile line finder,
storage-driver choice and ``docker save`` conversion as pure functions."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import json
import platform
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.build.base import BuildError, BuilderUnavailable, BuildRequest, BuiltImage
from hoist.build.external import (
    BuildahBuilder,
    BuildOutput,
    DockerBuilder,
    PodmanBuilder,
    backing_filesystem,
    build_arg_flags,
    docker_archive_to_layout,
    dockerfile_instructions,
    existing_driver,
    find_instruction_line,
    layers_built,
    overlay_possible,
    summarize_error,
)
from hoist.core import mediatypes
from hoist.core.digest import Digest
from hoist.core.platform import Platform
from hoist.store.layout import OciLayout
from hoist.store.store import ContentStore
from hoist.transfer.copy import Options, copy
from tests.support.cri_fixtures import (
    BUSYBOX,
    DYNAMIC_BUSYBOX,
    MISSING_BUSYBOX,
    PATH_ENV,
    REF_NAME,
    is_static_elf,
)
from tests.support.distribution import Distribution

_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64"}
HOST_PLATFORM = Platform.parse(f"linux/{_GOARCH.get(platform.machine(), platform.machine())}")
TOOL_WORDS = {"buildah": "buildah bud", "podman": "podman build", "docker": "docker build"}


# --------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Base:
    reference: str  # host:port/repository:tag
    registry: str
    diff_id: str
    path_env: str


def _put(layout: Path, data: bytes, media_type: str) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _busybox_base(layout: Path, tag: str) -> tuple[str, dict[str, Any]]:
    """An OCI layout holding a one-layer image: /bin/busybox and the applets the tests
    run as symlinks, with a history entry per layer as real images have (buildah refuses
    a base whose history does not account for its layers)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("bin", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        binary = BUSYBOX.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(binary), 0o755
        tar.addfile(info, io.BytesIO(binary))
        for applet in ("sh", "cat", "false", "true"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(info)
    layer_tar = buf.getvalue()
    layer = _put(layout, gzip.compress(layer_tar, mtime=0), mediatypes.OCI_LAYER_GZIP)
    config = {
        "created": "2024-01-01T00:00:00Z", "architecture": HOST_PLATFORM.architecture,
        "os": "linux", "config": {"Env": [PATH_ENV], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers",
                   "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "busybox-static"}],
    }
    config_desc = _put(layout, json.dumps(config).encode(), mediatypes.OCI_CONFIG)
    manifest = _put(layout, json.dumps({
        "schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST, "config": config_desc,
        "layers": [layer]}).encode(), mediatypes.OCI_MANIFEST)
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "manifests": [{**manifest, "annotations": {REF_NAME: tag}}]}))
    return manifest["digest"], config


@pytest.fixture(scope="module")
def base(distribution_open: Distribution, tmp_path_factory: pytest.TempPathFactory) -> Base:
    """A one-layer busybox image in the session's registry."""
    if not BUSYBOX.is_file():
        pytest.skip(reason=MISSING_BUSYBOX)
    if not is_static_elf(BUSYBOX):
        pytest.skip(reason=DYNAMIC_BUSYBOX)
    layout = tmp_path_factory.mktemp("build-base") / "layout"
    _, config = _busybox_base(layout, "1")
    reference = f"{distribution_open.host}/hoist-build-test/base:1"
    copy(f"oci:{layout}:1", f"docker://{reference}", Options())
    return Base(reference, distribution_open.host, config["rootfs"]["diff_ids"][0], PATH_ENV)


Builder = BuildahBuilder | PodmanBuilder | DockerBuilder


@pytest.fixture(scope="module", params=[pytest.param(tool, marks=pytest.mark.system)
                                        for tool in ("buildah", "podman", "docker")])
def builder(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builder]:
    """Each tool with storage of its own: buildah and podman in a root under tmp (the
    machine's storage is never touched), docker through the test dockerd."""
    tool: Builder
    if request.param == "docker":
        dockerd = request.getfixturevalue("dockerd")
        tool = DockerBuilder(host=dockerd.host)
    else:
        cls = BuildahBuilder if request.param == "buildah" else PodmanBuilder
        root = tmp_path_factory.mktemp(f"{request.param}-storage")
        # chroot isolation: RUN steps need no OCI runtime
        tool = cls(root=root / "root", runroot=root / "run", isolation="chroot")
    reason = tool.unavailable()
    if reason is not None:
        pytest.skip(reason=reason)
    yield tool
    if request.param != "docker":
        _unmount_under(root)


def _unmount_under(root: Path) -> None:
    """Undo the mounts containers/storage leaves under a root of ours (overlay makes its
    home a private bind mount, and podman keeps it after exiting), deepest first."""
    prefix = str(root.resolve()) + "/"
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if len(line.split()) > 4 and line.split()[4].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", point], capture_output=True, timeout=30)


@dataclass
class Build:
    request: BuildRequest
    lines: list[str]


@pytest.fixture
def make_request(tmp_path: Path) -> Callable[..., Build]:
    store = ContentStore(tmp_path / "store")

    def make(dockerfile: str, files: dict[str, str] | None = None, **fields: Any) -> Build:
        context = tmp_path / f"context-{uuid.uuid4().hex[:8]}"
        context.mkdir()
        (context / "Dockerfile").write_text(dockerfile)
        for name, text in (files or {}).items():
            (context / name).write_text(text)
        lines: list[str] = []
        artifact = f"svc-{uuid.uuid4().hex[:8]}"
        request = BuildRequest(
            artifact=artifact, repository=f"example.test/hoist/{artifact}", tag="v1",
            context=context, dockerfile=context / "Dockerfile", store=store,
            platform=HOST_PLATFORM, log=lines.append, **fields)
        return Build(request, lines)

    return make


def _config(store: ContentStore, built: BuiltImage) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(store.blobs.read(built.config_digest))
    return config


def _layer_files(store: ContentStore, built: BuiltImage, index: int = -1) -> dict[str, bytes]:
    manifest = store.manifest(built.digest)
    layer = manifest.layers[index]
    assert layer.media_type == mediatypes.OCI_LAYER_GZIP
    data = gzip.decompress(store.blobs.read(layer.digest))
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                out[member.name.removeprefix("./").lstrip("/")] = f.read()
    return out


def _check_consistent(store: ContentStore, built: BuiltImage, name: str) -> None:
    record = store.lookup(name)
    assert record is not None and record.digest == built.digest
    manifest = store.manifest(built.digest)
    assert manifest.config is not None and manifest.config.digest == built.config_digest
    assert built.name == name
    assert built.media_type == manifest.media_type == mediatypes.OCI_MANIFEST
    assert built.size == store.image_size(manifest) == record.size
    assert built.size == manifest.size + sum(d.size for d in manifest.blobs())
    assert built.layers_total == len(manifest.layers)
    assert store.missing_content(manifest) == []


# --------------------------------------------------------------------- real builds


def test_build_from_registry_base(builder: Builder, base: Base,
                                  make_request: Callable[..., Build]) -> None:
    greeting = f"hello {uuid.uuid4()}\n"  # content no earlier build cached
    b = make_request(
        f"FROM {base.reference}\n"
        "COPY hello.txt /srv/hello.txt\n"
        "ENV GREETING=hi\n"
        'CMD ["/bin/cat", "/srv/hello.txt"]\n',
        {"hello.txt": greeting}, insecure_registries=frozenset({base.registry}))
    built = builder.build(b.request)
    store = b.request.store
    _check_consistent(store, built, b.request.name)
    config = _config(store, built)
    assert "GREETING=hi" in config["config"]["Env"]
    assert base.path_env in config["config"]["Env"]
    assert config["config"]["Cmd"] == ["/bin/cat", "/srv/hello.txt"]
    assert config["rootfs"]["diff_ids"][0] == base.diff_id  # built on the base's layer
    assert built.layers_total == 2 and built.layers_built == 1
    assert _layer_files(store, built)["srv/hello.txt"] == greeting.encode()
    assert any("COPY hello.txt /srv/hello.txt" in line for line in b.lines)

    # unchanged: every step from the cache, the same image
    again = builder.build(b.request)
    assert again.config_digest == built.config_digest
    assert again.digest == built.digest
    assert again.layers_built == 0


def test_base_from_registry_with_credentials(builder: Builder, base: Base,
                                             distribution_basic: Distribution,
                                             make_request: Callable[..., Build],
                                             tmp_path: Path) -> None:
    """The base image needs a login: without credentials the FROM step fails; the
    request's authfile (a docker config.json under another name) gives them."""
    user, password = next(iter(distribution_basic.users.items()))
    authfile = tmp_path / "auth.json"
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    authfile.write_text(json.dumps({"auths": {distribution_basic.host: {"auth": token}}}))
    private = f"{distribution_basic.host}/hoist-build-test/private:1"
    copy(f"docker://{base.reference}", f"docker://{private}", Options(authfile=str(authfile)))
    dockerfile = f"FROM {private}\nENV PRIVATE=1\n"
    insecure = frozenset({distribution_basic.host})
    # first without: the tool has not pulled the base yet, so it must ask the registry
    denied = make_request(dockerfile, insecure_registries=insecure)
    with pytest.raises(BuildError) as caught:
        builder.build(denied.request)
    assert str(caught.value).startswith(f"{denied.request.artifact}: Dockerfile:1: ")

    b = make_request(dockerfile, insecure_registries=insecure, authfile=str(authfile))
    built = builder.build(b.request)
    _check_consistent(b.request.store, built, b.request.name)
    assert _config(b.request.store, built)["rootfs"]["diff_ids"] == [base.diff_id]


def test_build_from_scratch_with_build_args(builder: Builder, make_request: Callable[..., Build],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = f"from-env-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOIST_TEST_FROM_ENV", from_env)
    b = make_request(
        "FROM scratch\n"
        "ARG VERSION\n"
        "ARG HOIST_TEST_FROM_ENV\n"
        "ENV VERSION=$VERSION FROM_ENV=$HOIST_TEST_FROM_ENV\n"
        "COPY app.txt /app.txt\n"
        'CMD ["/app"]\n',
        {"app.txt": "app\n"},
        build_args={"VERSION": "1.2.3", "HOIST_TEST_FROM_ENV": None})
    built = builder.build(b.request)
    store = b.request.store
    _check_consistent(store, built, b.request.name)
    config = _config(store, built)
    env = config["config"]["Env"]
    assert "VERSION=1.2.3" in env
    assert f"FROM_ENV={from_env}" in env
    assert config["config"]["Cmd"] == ["/app"]
    assert config["os"] == HOST_PLATFORM.os
    assert config["architecture"] == HOST_PLATFORM.architecture
    assert built.layers_total == 1
    assert _layer_files(store, built) == {"app.txt": b"app\n"}
    assert b.lines
    if not isinstance(builder, DockerBuilder):  # the driver chosen is the one the root has
        assert builder.root is not None
        assert existing_driver(builder.root) == builder.storage_driver in ("overlay", "vfs")


def test_build_target_stage(builder: Builder, make_request: Callable[..., Build]) -> None:
    b = make_request(
        "FROM scratch AS first\n"
        "COPY a.txt /a.txt\n"
        "ENV STAGE=first\n"
        "\n"
        "FROM scratch AS second\n"
        "COPY b.txt /b.txt\n"
        "ENV STAGE=second\n",
        {"a.txt": f"a {uuid.uuid4()}\n", "b.txt": "b\n"}, target="first")
    built = builder.build(b.request)
    store = b.request.store
    _check_consistent(store, built, b.request.name)
    assert "STAGE=first" in _config(store, built)["config"]["Env"]
    assert list(_layer_files(store, built)) == ["a.txt"]
    assert built.layers_built == 1


def test_failing_run_names_artifact_and_step(builder: Builder, base: Base,
                                             make_request: Callable[..., Build]) -> None:
    b = make_request(
        f"FROM {base.reference}\n"
        "# a comment line, so the line number is not the step number\n"
        "COPY hello.txt /hello.txt\n"
        "RUN false\n"
        "ENV NEVER=reached\n",
        {"hello.txt": f"{uuid.uuid4()}\n"}, insecure_registries=frozenset({base.registry}))
    with pytest.raises(BuildError) as caught:
        builder.build(b.request)
    message = str(caught.value)
    assert not isinstance(caught.value, BuilderUnavailable)
    assert message.startswith(f"{b.request.artifact}: Dockerfile:4: "), message
    assert TOOL_WORDS[builder.name] in message
    assert "RUN false" in message or "/bin/sh -c false" in message, message
    assert "(exit " in message
    assert b.request.store.lookup(b.request.name) is None
    assert any("RUN false" in line for line in b.lines)
    assert _leftover_containers(builder) == []


def _leftover_containers(builder: Builder) -> list[str]:
    """Containers a build left in the tool's storage (--force-rm removes them)."""
    if isinstance(builder, DockerBuilder):
        argv = ["docker", "--host", str(builder.host), "ps", "-a", "-q"]
    elif isinstance(builder, PodmanBuilder):
        argv = ["podman", *builder.global_flags(), "ps", "-a", "--external", "-q"]
    else:
        argv = ["buildah", *builder.global_flags(), "containers", "-q"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.split()


def test_copy_of_missing_file_fails(builder: Builder, make_request: Callable[..., Build]) -> None:
    b = make_request("FROM scratch\nCOPY missing.txt /missing.txt\n")
    with pytest.raises(BuildError) as caught:
        builder.build(b.request)
    message = str(caught.value)
    assert message.startswith(f"{b.request.artifact}: Dockerfile:2: "), message
    assert "missing.txt" in message
    assert b.request.store.lookup(b.request.name) is None
    assert b.request.store.images() == []


def test_build_stops_when_the_log_fails(builder: Builder,
                                        make_request: Callable[..., Build]) -> None:
    b = make_request("FROM scratch\nCOPY a.txt /a.txt\n", {"a.txt": "a"})

    def broken(line: str) -> None:
        raise RuntimeError(f"log sink gone at {line!r}")

    request = dataclasses.replace(b.request, log=broken)
    with pytest.raises(RuntimeError, match="log sink gone"):
        builder.build(request)
    assert request.store.lookup(request.name) is None


@pytest.mark.system
def test_storage_of_its_own_keeps_its_driver(tmp_path: Path,
                                             make_request: Callable[..., Build]) -> None:
    """An explicit vfs driver works (nested containers need it), and a root made with one
    driver is used with that driver when none is given."""
    work = tmp_path / "work"
    work.mkdir()
    tool = BuildahBuilder(root=tmp_path / "root", storage_driver="vfs", isolation="chroot",
                          tmpdir=work)
    reason = tool.unavailable()
    if reason is not None:
        pytest.skip(reason=reason)
    b = make_request("FROM scratch\nCOPY a.txt /a.txt\nENV A=1\n", {"a.txt": "a"})
    built = tool.build(b.request)
    _check_consistent(b.request.store, built, b.request.name)
    assert existing_driver(tmp_path / "root") == "vfs"
    assert list(work.iterdir()) == []  # the export is staged there and removed
    failing = make_request("FROM scratch\nCOPY nothing /\n")
    with pytest.raises(BuildError):
        tool.build(failing.request)
    assert list(work.iterdir()) == []
    again = BuildahBuilder(root=tmp_path / "root", isolation="chroot")
    assert "--storage-driver" in (flags := again.global_flags())
    assert flags[flags.index("--storage-driver") + 1] == "vfs"
    assert again.build(b.request).config_digest == built.config_digest


# --------------------------------------------------------------------- availability


@pytest.mark.parametrize(("cls", "package"), [(BuildahBuilder, "buildah"),
                                              (PodmanBuilder, "podman"),
                                              (DockerBuilder, "docker.io")])
def test_missing_tool_is_unavailable(cls: type[Builder], package: str,
                                     make_request: Callable[..., Build]) -> None:
    tool = cls(binary="/nonexistent/bin/tool")
    reason = tool.unavailable()
    assert reason is not None and f"(Debian package {package})" in reason
    b = make_request("FROM scratch\n")
    with pytest.raises(BuilderUnavailable) as caught:
        tool.build(b.request)
    assert str(caught.value).startswith(f"{b.request.artifact}: ")
    assert package in str(caught.value)


@pytest.mark.system
def test_docker_without_daemon_says_why(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip(reason="docker not installed (Debian package docker.io)")
    reason = DockerBuilder(host=f"unix://{tmp_path}/no-daemon.sock").unavailable()
    assert reason is not None
    assert reason.startswith(f"the docker daemon at unix://{tmp_path}/no-daemon.sock ")


def test_docker_with_daemon_is_available(dockerd: Any, tmp_path: Path,
                                         make_request: Callable[..., Build]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    tool = DockerBuilder(host=dockerd.host, tmpdir=work)
    assert tool.unavailable() is None
    b = make_request("FROM scratch\nCOPY a.txt /a.txt\n", {"a.txt": "a"})
    tool.build(b.request)
    assert list(work.iterdir()) == []  # the saved archive and layout are removed
    with pytest.raises(BuildError):
        tool.build(make_request("FROM scratch\nCOPY nothing /\n").request)
    assert list(work.iterdir()) == []


# --------------------------------------------------------------------- pure parts


def test_build_arg_flags() -> None:
    assert build_arg_flags({"A": "1", "B": None, "C": ""}) == [
        "--build-arg", "A=1", "--build-arg", "B", "--build-arg", "C="]


BUILDAH_CACHED = """\
STEP 1/3: FROM scratch AS one
STEP 2/3: COPY a /a
--> Using cache 9f22ada1270808990e736718201e4f64f2d1b3b75d3c06c967b41258fa9eb4bc
--> 9f22ada1270
STEP 3/3: RUN make
--> Using cache 29faa14458f955c8bd48754765bc4ec8429af0e4f4c02d694bf411d03ae9be7c
STEP 1/4: FROM base
STEP 2/4: COPY b /b
--> Using cache 32ae8cc4016b1264a98a44ddee9b09e3139b0105081272e47fe89801d1bde1bc
STEP 3/4: RUN make
built
STEP 4/4: ENV B=2
COMMIT
"""

DOCKER_CLASSIC = """\
Sending build context to Docker daemon  1.987MB
Step 1/4 : FROM scratch
 --->
Step 2/4 : COPY x /x
 ---> Using cache
 ---> 8acd2f9b8f20
Step 3/4 : ENV A=1
 ---> Running in e9e370023af6
Step 4/4 : CMD ["/x"]
 ---> Running in 5966e318cb7f
Successfully built 1405e63d335c
"""


def _feed(text: str) -> BuildOutput:
    out = BuildOutput()
    for line in text.splitlines():
        out.feed(line)
    return out


def test_build_output_counts_steps_of_the_final_stage() -> None:
    buildah = _feed(BUILDAH_CACHED)
    assert buildah.stage_from == "FROM base"
    assert buildah.executed == 2 and buildah.last_step == "ENV B=2"
    docker = _feed(DOCKER_CLASSIC)
    assert docker.executed == 2 and docker.last_step == 'CMD ["/x"]'
    assert _feed("no steps here\n").executed is None


def test_layers_built_counts_layers_of_executed_steps() -> None:
    history: list[dict[str, Any]] = [
        {"created_by": "base"}, {"created_by": "COPY"}, {"created_by": "RUN"},
        {"created_by": "ENV", "empty_layer": True}]
    assert layers_built(history, 3, 2) == 1  # RUN and ENV ran; ENV made no layer
    assert layers_built(history, 3, 3) == 2
    assert layers_built(history, 3, 0) == 0
    assert layers_built(history, 3, None) == 3
    assert layers_built([], 3, 2) == 2
    assert layers_built(history, 3, 10) == 3


@pytest.mark.parametrize(("output", "expected"), [
    ('STEP 3/3: RUN false\nError: building at STEP "RUN false": while running runtime: '
     "exit status 1\n", 'building at STEP "RUN false": while running runtime: exit status 1'),
    ("DEPRECATED: The legacy builder is deprecated\n            Install the buildx component"
     "\n            https://docs.docker.com/go/buildx/\n\nStep 3/3 : RUN false\n"
     " ---> Running in 9f95c5aac389\nThe command '/bin/sh -c false' returned a non-zero "
     "code: 1\n", "The command '/bin/sh -c false' returned a non-zero code: 1"),
    ("COPY failed: file not found in build context: stat missing: file does not exist\n"
     "DEPRECATED: The legacy builder is deprecated\n",
     "COPY failed: file not found in build context: stat missing: file does not exist"),
    ("Error: 1 error occurred:\n\t* image used by 0354: image is in use by a container\n\n",
     "1 error occurred: image used by 0354: image is in use by a container"),
    ('Error: building at STEP "BOGUS x": Build error: Unknown instruction: "BOGUS" '
     '&imagebuilder.Step{Env:[]string{"PATH=/bin"}, Command:"bogus", Original:"BOGUS x"}',
     'building at STEP "BOGUS x": Build error: Unknown instruction: "BOGUS"'),
    ("something odd\nWARNING: ignored\n", "something odd"),
    ("", "no output"),
])
def test_summarize_error(output: str, expected: str) -> None:
    assert summarize_error(output.splitlines()) == expected


def test_dockerfile_instructions_join_continuations() -> None:
    text = ("# syntax=docker/dockerfile:1\n"
            "FROM scratch AS one\n"
            "\n"
            "RUN a \\\n"
            "  # a comment inside\n"
            "  && b\n"
            "copy x /x\n")
    assert dockerfile_instructions(text) == [
        (2, "FROM scratch AS one"), (4, "RUN a && b"), (7, "COPY x /x")]
    backtick = "# escape=`\nFROM scratch\nRUN a `\n  b\n"
    assert dockerfile_instructions(backtick) == [(2, "FROM scratch"), (3, "RUN a b")]


def test_find_instruction_line_prefers_the_stage_being_built() -> None:
    text = "FROM a AS one\nRUN make\nFROM b AS two\nRUN make\n"
    assert find_instruction_line(text, "RUN   make", "FROM b AS two") == 4
    assert find_instruction_line(text, "RUN make", "FROM a AS one") == 2
    assert find_instruction_line(text, "RUN make") == 2
    assert find_instruction_line(text, "RUN other") is None


_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-./=$", min_size=1,
                 max_size=8)
_INSTRUCTION = st.tuples(st.sampled_from(["RUN", "COPY", "ENV", "LABEL", "WORKDIR", "USER",
                                          "run", "Copy"]),
                         st.lists(_WORDS, min_size=1, max_size=5))


@settings(deadline=None)
@given(instructions=st.lists(_INSTRUCTION, min_size=1, max_size=8),
       splits=st.lists(st.integers(0, 4), min_size=8, max_size=8),
       blanks=st.lists(st.sampled_from(["", "# note", "   "]), min_size=8, max_size=8),
       escape=st.sampled_from(["\\", "`"]))
def test_find_instruction_line_property(instructions: list[tuple[str, list[str]]],
                                        splits: list[int], blanks: list[str],
                                        escape: str) -> None:
    """Each instruction, however it is split over continuation lines and whatever blank or
    comment lines precede it, is found at its first line from the text a tool prints."""
    lines = [f"# escape={escape}", "FROM scratch"]
    starts: dict[str, int] = {}
    for i, (keyword, words) in enumerate(instructions):
        lines.append(blanks[i])
        printed = f"{keyword.upper()} {' '.join(words)}"
        start = len(lines) + 1
        cut = min(splits[i], len(words) - 1)
        if cut:
            lines.append(f"{keyword} {' '.join(words[:cut])} {escape}")
            lines.append(f"    {' '.join(words[cut:])}")
        else:
            lines.append(f"{keyword} {' '.join(words)}")
        starts.setdefault(printed, start)
    text = "\n".join(lines) + "\n"
    for printed, start in starts.items():
        assert find_instruction_line(text, printed, "FROM scratch") == start


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:21 / /proc rw,nosuid - proc proc rw
30 22 0:40 / /var/lib/docker rw - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
31 22 0:41 / /mnt/with\\040space rw - tmpfs tmpfs rw
"""
FILESYSTEMS = "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n"


def test_backing_filesystem_and_overlay_choice() -> None:
    assert backing_filesystem(Path("/tmp/x"), MOUNTINFO) == "ext4"
    assert backing_filesystem(Path("/var/lib/docker/x"), MOUNTINFO) == "overlay"
    assert backing_filesystem(Path("/var/lib/dockerd"), MOUNTINFO) == "ext4"
    assert backing_filesystem(Path("/mnt/with space/a"), MOUNTINFO) == "tmpfs"
    assert overlay_possible(Path("/tmp/x"), MOUNTINFO, FILESYSTEMS)
    assert not overlay_possible(Path("/var/lib/docker/x"), MOUNTINFO, FILESYSTEMS)
    assert not overlay_possible(Path("/tmp/x"), MOUNTINFO, "nodev\tsysfs\n\text4\n")


def test_existing_driver(tmp_path: Path) -> None:
    assert existing_driver(tmp_path / "none") is None
    (tmp_path / "vfs-images").mkdir()
    assert existing_driver(tmp_path) == "vfs"


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_docker_archive_to_layout(tmp_path: Path) -> None:
    plain = _tar_bytes({"a.txt": b"a" * 5000})
    compressed = gzip.compress(_tar_bytes({"b.txt": b"b"}), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": []}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    archive = tmp_path / "image.tar"
    archive.write_bytes(_tar_bytes({
        config_name: config, "l1/layer.tar": plain, "l2/layer.tar": compressed,
        "manifest.json": json.dumps([{"Config": config_name, "RepoTags": None,
                                      "Layers": ["l1/layer.tar", "l2/layer.tar"]}]).encode(),
    }))
    desc = docker_archive_to_layout(archive, tmp_path / "layout", "t")
    layout = OciLayout(tmp_path / "layout")
    assert layout.resolve("t").digest == desc.digest
    manifest = json.loads(layout.blobs.read(desc.digest))
    assert manifest["config"]["digest"] == f"sha256:{config_name[:-5]}"
    first, second = manifest["layers"]
    assert first["mediaType"] == second["mediaType"] == mediatypes.OCI_LAYER_GZIP
    assert gzip.decompress(layout.blobs.read(Digest.parse(first["digest"]))) == plain
    assert layout.blobs.read(Digest.parse(second["digest"])) == compressed  # kept as it was
    assert [p.name for p in (tmp_path / "layout").iterdir() if p.name.startswith(".")] == []
    # the same archive gives the same digests
    again = docker_archive_to_layout(archive, tmp_path / "layout2", "t")
    assert again.digest == desc.digest


def test_docker_archive_without_manifest_is_an_error(tmp_path: Path) -> None:
    from hoist.errors import OperationError

    archive = tmp_path / "bad.tar"
    archive.write_bytes(_tar_bytes({"other": b"x"}))
    with pytest.raises(OperationError, match=r"manifest\.json"):
        docker_archive_to_layout(archive, tmp_path / "layout", "t")
