"""The native builder: Dockerfile semantics, reproducible digests, per-layer rebuilds, and
clear refusals for what it cannot build."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from hoist.build.base import BuildError
from hoist.store.store import ContentStore
from tests.build._support import (
    image_config,
    layer_digests,
    layer_files,
    layer_members,
    native_build,
    write_tree,
)

APP = {
    "Dockerfile": (
        "# a comment\n"
        "FROM scratch\n"
        "ARG GREETING=hello\n"
        "ENV APP_HOME=/srv/app GREETING=${GREETING}\n"
        "WORKDIR $APP_HOME\n"
        "COPY static/ static/\n"
        "COPY main.sh ./\n"
        "LABEL org.opencontainers.image.title=\"demo app\" tier=web\n"
        "EXPOSE 8080 53/udp\n"
        "USER 1000:1000\n"
        "ENTRYPOINT [\"/srv/app/main.sh\"]\n"
        "CMD [\"--port\", \"8080\"]\n"),
    "main.sh": "#!/bin/sh\necho $GREETING\n",
    "static/index.html": "<h1>hi</h1>\n",
    "static/css/site.css": "body{}\n",
}


def _app(root: Path) -> Path:
    ctx = write_tree(root, APP)
    os.chmod(ctx / "main.sh", 0o755)
    return ctx


def test_config_follows_the_dockerfile(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store")
    built = native_build(_app(tmp_path / "ctx"), store, build_args={"GREETING": "salut"})
    config = image_config(store, built)
    inner = config["config"]
    assert inner["Env"] == ["APP_HOME=/srv/app", "GREETING=salut"]
    assert inner["WorkingDir"] == "/srv/app"
    assert inner["User"] == "1000:1000"
    assert inner["Entrypoint"] == ["/srv/app/main.sh"]
    assert inner["Cmd"] == ["--port", "8080"]
    assert inner["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert inner["Labels"] == {"org.opencontainers.image.title": "demo app", "tier": "web"}
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert len(config["rootfs"]["diff_ids"]) == 3  # WORKDIR, COPY static/, COPY main.sh
    assert store.lookup("example.test/app:v1").digest == built.digest  # type: ignore[union-attr]
    layers = layer_digests(store, built)
    static = layer_files(store, layers[1])
    assert static == {"srv/app/static/index.html": b"<h1>hi</h1>\n",
                      "srv/app/static/css/site.css": b"body{}\n"}
    main = {m.name: m for m in layer_members(store, layers[2])}
    assert main["srv/app/main.sh"].mode == 0o755
    assert main["srv/app/main.sh"].uid == 0  # COPY ignores USER, as docker does


def test_same_inputs_same_digest_on_another_checkout(tmp_path: Path) -> None:
    one = _app(tmp_path / "a")
    two = _app(tmp_path / "b")
    # another machine: other mtimes, another umask's group-write bits
    for path in (two / "static" / "index.html", two / "Dockerfile"):
        os.utime(path, (1_000_000, 1_000_000))
        os.chmod(path, 0o664)
    built_one = native_build(one, ContentStore(tmp_path / "s1"))
    built_two = native_build(two, ContentStore(tmp_path / "s2"))
    assert built_one.digest == built_two.digest
    assert built_one.config_digest == built_two.config_digest


def test_changing_one_file_rebuilds_only_its_layer(tmp_path: Path) -> None:
    ctx = _app(tmp_path / "ctx")
    store = ContentStore(tmp_path / "store")
    first = native_build(ctx, store)
    assert first.layers_built == 3
    (ctx / "main.sh").write_text("#!/bin/sh\necho changed\n")
    second = native_build(ctx, store, tag="v2")
    assert second.layers_built == 1
    before, after = layer_digests(store, first), layer_digests(store, second)
    assert before[:2] == after[:2] and before[2] != after[2]
    third = native_build(ctx, store, tag="v3")
    assert third.layers_built == 0 and third.digest == second.digest


def test_run_is_refused_naming_the_line_and_other_builders(tmp_path: Path) -> None:
    ctx = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\nCOPY a /a\n\nRUN make\n",
                                        "a": "x"})
    with pytest.raises(BuildError) as e:
        native_build(ctx, ContentStore(tmp_path / "store"))
    message = str(e.value)
    assert "Dockerfile:4:" in message and "RUN" in message
    assert "buildah" in message and "podman" in message and "docker" in message


def test_dockerignore_excludes_and_copy_of_excluded_fails(tmp_path: Path) -> None:
    ctx = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\nCOPY . /app/\n",
        ".dockerignore": "secret.txt\nlogs/\n!logs/keep.log\n",
        "secret.txt": "pw", "logs/a.log": "a", "logs/keep.log": "k", "ok.txt": "ok"})
    store = ContentStore(tmp_path / "store")
    built = native_build(ctx, store)
    files = layer_files(store, layer_digests(store, built)[0])
    assert "app/ok.txt" in files and "app/logs/keep.log" in files
    assert "app/secret.txt" not in files and "app/logs/a.log" not in files
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY secret.txt /s\n")
    with pytest.raises(BuildError, match=r"Dockerfile:2: COPY failed: 'secret.txt'"):
        native_build(ctx, store, tag="v2")
    assert store.lookup("example.test/app:v2") is None


def test_add_unpacks_a_local_tar_archive(tmp_path: Path) -> None:
    ctx = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\nADD bundle.tar.gz /opt/\n"
                                        "COPY bundle.tar.gz /keep/\n"})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"payload"
        info = tarfile.TarInfo("tool/run.sh")
        info.size, info.mode, info.mtime = len(data), 0o750, 1234
        tar.addfile(info, io.BytesIO(data))
    (ctx / "bundle.tar.gz").write_bytes(buf.getvalue())
    store = ContentStore(tmp_path / "store")
    built = native_build(ctx, store)
    layers = layer_digests(store, built)
    members = {m.name: m for m in layer_members(store, layers[0])}
    assert members["opt/tool/run.sh"].mode == 0o750 and members["opt/tool/run.sh"].mtime == 1234
    assert "keep/bundle.tar.gz" in layer_files(store, layers[1])  # COPY does not unpack


def test_chown_numeric_and_chmod(tmp_path: Path) -> None:
    ctx = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM scratch\n"
                                        "COPY --chown=10:20 --chmod=600 a /a\n", "a": "x"})
    store = ContentStore(tmp_path / "store")
    built = native_build(ctx, store)
    a = {m.name: m for m in layer_members(store, layer_digests(store, built)[0])}["a"]
    assert (a.uid, a.gid, a.mode) == (10, 20, 0o600)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY --chown=www:www a /a\n")
    with pytest.raises(BuildError, match="numeric"):
        native_build(ctx, store, tag="v2")


def test_multi_stage_target_and_entrypoint_resets_cmd(tmp_path: Path) -> None:
    ctx = write_tree(tmp_path / "ctx", {
        "Dockerfile": ("FROM scratch AS base\nCOPY a /a\nCMD [\"base\"]\n"
                       "FROM base AS app\nENTRYPOINT [\"/a\"]\n"
                       "FROM base AS other\nCOPY b /b\n"),
        "a": "a", "b": "b"})
    store = ContentStore(tmp_path / "store")
    built = native_build(ctx, store, target="app")
    config = image_config(store, built)
    assert config["config"]["Entrypoint"] == ["/a"]
    assert "Cmd" not in config["config"]  # an ENTRYPOINT resets the base's CMD
    assert len(layer_digests(store, built)) == 1
    with pytest.raises(BuildError, match="nope"):
        native_build(ctx, store, target="nope", tag="v2")


def test_shell_form_and_wildcards_and_multiple_sources(tmp_path: Path) -> None:
    ctx = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\nCOPY *.txt conf/x.ini /etc/app/\nCMD echo hi there\n",
        "a.txt": "a", "b.txt": "b", "c.md": "c", "conf/x.ini": "x"})
    store = ContentStore(tmp_path / "store")
    built = native_build(ctx, store)
    files = layer_files(store, layer_digests(store, built)[0])
    assert set(files) == {"etc/app/a.txt", "etc/app/b.txt", "etc/app/x.ini"}
    assert image_config(store, built)["config"]["Cmd"] == ["/bin/sh", "-c", "echo hi there"]
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt b.txt /etc/app\n")
    with pytest.raises(BuildError, match="must be a directory ending in '/'"):
        native_build(ctx, store, tag="v2")
