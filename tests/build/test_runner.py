"""``hoist build`` end to end against a real registry (Debian's docker-registry, CNCF
Distribution): tags, pushes by policy, the artifact cache, tag collisions, requires."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from hoist.build.runner import BuildOptions, TagCollision, build_artifacts, should_push
from hoist.config import load_config
from hoist.core.policy import PullPolicy
from hoist.store.store import ContentStore
from tests.build._support import native_build, write_tree
from tests.support.distribution import Distribution

REPO_ROOT = Path(__file__).resolve().parents[2]
BUSYBOX = shutil.which("busybox")


def _manifest_digest(registry: Distribution, repo: str, ref: str) -> str | None:
    req = urllib.request.Request(
        f"{registry.url}/v2/{repo}/manifests/{ref}", method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(resp.headers["Docker-Content-Digest"])
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


@pytest.fixture(scope="module")
def base_image(distribution_open: Distribution, tmp_path_factory: pytest.TempPathFactory
               ) -> str:
    """A small base in the registry: FROM scratch with one file and an ENV."""
    from hoist.transfer.copy import Options, copy

    work = tmp_path_factory.mktemp("base")
    ctx = write_tree(work / "ctx", {"Dockerfile": "FROM scratch\nCOPY etc/ /etc/\n"
                                    "ENV PATH=/bin BASE=yes\nCMD [\"/bin/sh\"]\n",
                                    "etc/os-release": "ID=hoist-test\n"})
    store = ContentStore(work / "store")
    native_build(ctx, store, repository="base.test/base", tag="1")
    ref = f"{distribution_open.host}/base/tiny:1"
    copy("store:base.test/base:1", f"docker://{ref}", Options(store=store))
    return ref


def _service(root: Path, base: str, policy: str | None = "Always", image: str = "my-service"
             ) -> Path:
    """The seed's config shape around a one-page service."""
    policy_block = f"      imagePullPolicy:\n        value: \"{policy}\"\n" if policy else ""
    write_tree(root, {
        "skaffold.yaml": ("apiVersion: skaffold.dev/v2beta10\nkind: Config\nbuild:\n"
                          "  artifacts:\n    my-service:\n      docker:\n"
                          f"        image: {image}\n{policy_block}"
                          "deploy:\n  kubectl:\n    manifests:\n      - k8s/deployment.yaml\n"),
        "Dockerfile": f"FROM {base}\nCOPY index.html /www/\nCMD [\"httpd\"]\n",
        "index.html": "v1\n",
        "k8s/deployment.yaml": (REPO_ROOT / "examples/seed/k8s/deployment.yaml").read_text()
        .replace("my-registry/my-service", image),
    })
    return root / "skaffold.yaml"


def _options(tmp_path: Path, registry: Distribution, **kw: object) -> BuildOptions:
    env = {"USER": "alice", "HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    env.update(kw.pop("env", {}))  # type: ignore[arg-type]
    return BuildOptions(store_root=tmp_path / "store", default_repo=registry.host,
                        env=env, **kw)  # type: ignore[arg-type]


def test_should_push_follows_the_policy() -> None:
    assert should_push(PullPolicy.NEVER, True, True) is False
    assert should_push(PullPolicy.ALWAYS, None, None) is True
    assert should_push(None, None, False) is False
    assert should_push(PullPolicy.IF_NOT_PRESENT, False, True) is False


def test_always_pushes_and_the_registry_serves_the_digest(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    config = load_config(str(_service(tmp_path / "svc", base_image)))
    report = build_artifacts(config, _options(tmp_path, distribution_open))
    (result,) = report.results
    assert result.pushed and not result.cached and result.builder == "native"
    assert result.policy is PullPolicy.ALWAYS
    assert result.repository == f"{distribution_open.host}/my-service"
    served = _manifest_digest(distribution_open, "my-service", result.tag)
    assert served == str(result.digest)
    assert report.build_json() == {"builds": [{
        "imageName": "my-service", "tag": f"{result.repository}:{result.tag}@{result.digest}",
        "origin": result.origin.to_json()}]}
    # not a git checkout: hoist's default tag is the developer and the input digest
    assert result.tag == f"alice-{result.origin.input_digest[:12]}"


def test_never_pushes_nothing_and_keeps_the_image_in_the_store(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    config = load_config(str(_service(tmp_path / "svc", base_image, "Never",
                                      image="never-pushed")))
    (result,) = build_artifacts(config, _options(tmp_path, distribution_open, push=True)).results
    assert not result.pushed
    assert _manifest_digest(distribution_open, "never-pushed", result.tag) is None
    record = ContentStore(tmp_path / "store").lookup(f"{result.repository}:{result.tag}")
    assert record is not None and record.digest == result.digest


def test_unchanged_inputs_come_from_the_artifact_cache(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    path = _service(tmp_path / "svc", base_image, "IfNotPresent", image="cached")
    first = build_artifacts(load_config(str(path)), _options(tmp_path, distribution_open))
    again = build_artifacts(load_config(str(path)), _options(tmp_path, distribution_open))
    assert again.results[0].cached and again.results[0].digest == first.results[0].digest
    (tmp_path / "svc" / "index.html").write_text("v2\n")
    changed = build_artifacts(load_config(str(path)), _options(tmp_path, distribution_open))
    assert not changed.results[0].cached
    assert changed.results[0].tag != first.results[0].tag
    assert changed.results[0].digest != first.results[0].digest


def test_moving_a_tag_is_refused_without_force(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    path = _service(tmp_path / "svc", base_image, "IfNotPresent", image="collide")
    first = build_artifacts(load_config(str(path)),
                            _options(tmp_path, distribution_open, tag="shared"))
    (tmp_path / "svc" / "index.html").write_text("someone else's edit\n")
    with pytest.raises(TagCollision) as e:
        build_artifacts(load_config(str(path)), _options(tmp_path, distribution_open,
                                                         tag="shared"))
    message = str(e.value)
    assert "collide:shared" in message and str(first.results[0].digest) in message
    assert "--force-tag" in message
    assert _manifest_digest(distribution_open, "collide", "shared") == \
        str(first.results[0].digest)
    forced = build_artifacts(load_config(str(path)), _options(
        tmp_path, distribution_open, tag="shared", force_tag=True))
    assert _manifest_digest(distribution_open, "collide", "shared") == \
        str(forced.results[0].digest)
    assert str(forced.results[0].digest) in message  # the refused digest was named too


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                         env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                              "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    return out.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed (Debian package git)")
def test_two_developers_dirty_edits_of_one_commit_never_share_a_tag(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    origin = tmp_path / "origin"
    _service(origin, base_image, "IfNotPresent", image="team/svc")
    _git(origin, "init", "-q")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-q", "-m", "one")
    results = {}
    for dev in ("alice", "bob"):
        clone = tmp_path / dev
        subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
        (clone / "index.html").write_text(f"{dev}'s edit\n")
        report = build_artifacts(load_config(str(clone / "skaffold.yaml")), _options(
            tmp_path / f"{dev}-state", distribution_open, env={"USER": dev}))
        results[dev] = report.results[0]
    commit = _git(origin, "rev-parse", "--short", "HEAD")
    a, b = results["alice"], results["bob"]
    assert a.tag != b.tag
    assert a.tag.startswith(f"{commit}-dirty-alice-")
    assert b.tag.startswith(f"{commit}-dirty-bob-")
    assert a.origin.dirty is True and a.origin.commit is not None
    for r in (a, b):  # both survive in the shared registry
        assert r.repository == f"{distribution_open.host}/team_svc"  # Skaffold escaping
        assert _manifest_digest(distribution_open, "team_svc", r.tag) == str(r.digest)
    clean = tmp_path / "carol"
    subprocess.run(["git", "clone", "-q", str(origin), str(clean)], check=True)
    report = build_artifacts(load_config(str(clean / "skaffold.yaml")), _options(
        tmp_path / "carol-state", distribution_open, env={"USER": "carol"}))
    assert report.results[0].tag == commit
    assert report.results[0].origin.dirty is False


def test_requires_builds_first_and_passes_the_alias(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    root = tmp_path / "multi"
    write_tree(root, {
        "skaffold.yaml": ("apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n"
                          "  local:\n    concurrency: 0\n"
                          "  artifacts:\n"
                          "    - image: app\n      context: app\n"
                          "      requires:\n        - image: base\n          alias: BASE\n"
                          "    - image: base\n      context: base\n"
                          "    - image: other\n      context: other\n"),
        "base/Dockerfile": f"FROM {base_image}\nCOPY lib.txt /lib/\n",
        "base/lib.txt": "lib\n",
        "app/Dockerfile": "ARG BASE\nFROM $BASE\nCOPY app.txt /app/\n",
        "app/app.txt": "app\n",
        "other/Dockerfile": "FROM scratch\nCOPY o.txt /\n",
        "other/o.txt": "o\n",
    })
    report = build_artifacts(load_config(str(root / "skaffold.yaml")),
                             _options(tmp_path, distribution_open))
    by_name = {r.image: r for r in report.results}
    assert [r.image for r in report.results] == ["app", "base", "other"]  # config order
    store = ContentStore(tmp_path / "store")
    app = store.manifest(by_name["app"].digest)
    base = store.manifest(by_name["base"].digest)
    assert [d.digest for d in app.layers[: len(base.layers)]] == [d.digest for d in base.layers]
    assert len(app.layers) == len(base.layers) + 1


def test_bad_context_and_unknown_artifact_name_the_input(
        tmp_path: Path, distribution_open: Distribution) -> None:
    from hoist.errors import InputError

    root = write_tree(tmp_path / "bad", {
        "skaffold.yaml": ("apiVersion: skaffold/v4beta11\nkind: Config\nbuild:\n"
                          "  artifacts:\n    - image: app\n      context: missing\n")})
    with pytest.raises(InputError, match="missing"):
        build_artifacts(load_config(str(root / "skaffold.yaml")),
                        _options(tmp_path, distribution_open))
    with pytest.raises(InputError, match="no artifact named 'nope'"):
        build_artifacts(load_config(str(root / "skaffold.yaml")),
                        _options(tmp_path, distribution_open, only=("nope",)))


@pytest.mark.skipif(BUSYBOX is None, reason="busybox not installed (Debian package "
                    "busybox-static)")
def test_make_busybox_base_gives_the_same_digest_twice(tmp_path: Path) -> None:
    digests = []
    for run in ("one", "two"):
        env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / run)}
        subprocess.run([str(REPO_ROOT / "scripts/make-busybox-base"),
                        str(REPO_ROOT / ".venv/bin/hoist")], env=env, check=True,
                       capture_output=True)
        record = ContentStore(tmp_path / run / "hoist" / "store").lookup(
            "localhost/busybox:static")
        assert record is not None
        digests.append(record.digest)
    assert digests[0] == digests[1]




@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed (Debian package git)")
def test_an_ignored_file_in_the_context_makes_the_default_tag_dirty(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    """git status calls a tree clean although an ignored file goes into the image: the
    commit does not hold the image's inputs, so the tag must not be the bare commit."""
    repo = tmp_path / "repo"
    config = _service(repo, base_image, "IfNotPresent", image="team/ignored")
    (repo / ".gitignore").write_text("index.html\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")
    assert _git(repo, "status", "--porcelain") == ""
    commit = _git(repo, "rev-parse", "--short", "HEAD")
    tags = []
    for page in ("v1\n", "v2\n"):
        (repo / "index.html").write_text(page)
        report = build_artifacts(load_config(str(config)), _options(
            tmp_path / "state", distribution_open))
        result = report.results[0]
        assert result.tag.startswith(f"{commit}-dirty-alice-") and result.origin.dirty
        tags.append(result.tag)
    assert tags[0] != tags[1]  # two contents, two tags: no move to refuse


def test_two_builds_of_one_context_at_once_both_succeed(
        tmp_path: Path, distribution_open: Distribution, base_image: str) -> None:
    """hoist dev and a hoist build in another terminal see the same edit: both build the
    same blobs into one store at the same moment, and neither may fail for it."""
    import threading

    path = _service(tmp_path / "svc", base_image, "Never", image="raced")
    outcomes: list[object] = []

    def build(n: int) -> None:
        (tmp_path / "svc" / "index.html").write_text(f"round {n}\n")
        barrier.wait()
        try:
            report = build_artifacts(load_config(str(path)),
                                     _options(tmp_path, distribution_open))
            outcomes.append(report.results[0].digest)
        except Exception as e:  # the failure is the finding
            outcomes.append(e)

    for n in range(5):
        barrier = threading.Barrier(3)
        outcomes.clear()
        threads = [threading.Thread(target=build, args=(n,)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(outcomes) == 3 and len(set(map(str, outcomes))) == 1, outcomes
    leftovers = [p.name for p in (tmp_path / "store" / "ingest").iterdir()
                 if p.name.startswith("put-")]
    assert leftovers == []
