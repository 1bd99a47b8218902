"""One config per feature family of Skaffold's own examples (written for hoist, not copied):
each loads with the artifacts and manifests expected, or loads and is refused with the
exact "not supported yet: <feature>" when built, rendered or deployed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hoist.config import Config, FrozenMap, Stage, load_config
from hoist.core import PullPolicy
from hoist.errors import InputError

DATA = Path(__file__).parent / "data" / "skaffold-examples"


@dataclass(frozen=True)
class Case:
    file: str
    images: tuple[str, ...]
    manifests: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    environ: dict[str, str] = field(default_factory=dict)
    command: str = ""
    # stage → (line, feature) the config is refused with; stages not listed pass
    refused: dict[Stage, tuple[int, str]] = field(default_factory=dict)
    # artifact image → (line, feature) its build is refused with
    artifact_refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    check: Callable[[Config], object] | None = None  # asserts, or returns a bool

    @property
    def id(self) -> str:
        return self.file.removesuffix(".yaml") + ("+" + ",".join(self.profiles)
                                                  if self.profiles else "")


def _getting_started(c: Config) -> None:
    [a] = c.artifacts
    assert (c.metadata_name, a.builder, a.docker and a.docker.dockerfile, a.line) == (
        "hello", "docker", "Dockerfile", 8)
    assert (c.deploy_kind, c.tag_policy, c.local.concurrency) == ("kubectl", None, 1)


def _multi_config(c: Config) -> None:
    assert (c.documents, c.metadata_name) == (2, "frontend")
    back = c.artifact_named("shop/backend")
    assert back is not None and back.docker is not None
    assert (back.context, back.docker.dockerfile, back.line) == ("backend", "build/Dockerfile",
                                                                 20)


def _tag(expected: dict[str, object]) -> Callable[[Config], None]:
    def check(c: Config) -> None:
        assert c.tag_policy == expected
        assert isinstance(c.tag_policy, FrozenMap)
    return check


def _requires(c: Config) -> None:
    app, _, tools = c.artifacts
    assert [(d.image, d.alias) for d in app.requires] == [
        ("layered/base", "BASE_IMAGE"), ("layered/tools", "layered/tools")]  # alias defaults
    assert [d.alias for d in tools.requires] == ["BASE_IMAGE"]


def _sync(c: Config) -> None:
    node, python, java = c.artifacts
    assert node.sync == {"manual": ({"src": "src/**/*.js", "dest": ".", "strip": "src/"},)}
    assert python.sync == {"infer": ("**/*.py",)}
    assert java.sync == {"auto": True}


def _port_forward(c: Config) -> None:
    assert [p["resourceName"] for p in c.port_forward] == ["web", "api"]
    assert c.port_forward[0]["localPort"] == 9000
    assert "portForward" in c.ignored


def _build_args(c: Config) -> None:
    web, worker = c.artifacts
    assert web.docker is not None and worker.docker is not None
    d = web.docker
    assert (d.dockerfile, d.target, d.network, d.add_host, d.cache_from, d.no_cache, d.ssh) == (
        "deploy/Dockerfile", "runtime", "host", ("db:10.0.0.5",),
        ("registry.local:5000/web:cache",), True, "default")
    assert dict(d.build_args) == {"VERSION": "1.2.3", "DEBUG": "false", "FROM_ENV": None}
    assert [(s.id, s.src, s.env) for s in d.secrets] == [("npmrc", "~/.npmrc", None)]
    assert dict(worker.docker.build_args) == {"WORKERS": "4"}  # a YAML int, kept as text
    assert (c.local.push, c.local.concurrency, c.local.use_buildkit,
            c.local.try_import_missing, c.local.use_docker_cli) == (False, 0, True, True, False)
    assert c.insecure_registries == ("registry.local:5000",)


def _templated(c: Config) -> None:
    [a] = c.artifacts
    assert a.docker is not None
    assert a.docker.build_args["BASE"] == "{{.IMAGE_REPO_tpl_base}}:{{.IMAGE_TAG_tpl_base}}"
    assert c.tag_policy == {"envTemplate": {"template": "{{.IMAGE_NAME}}:{{.GIT_SHA}}"}}


def _platforms(c: Config) -> None:
    app, arm = c.artifacts
    assert c.platforms == ("linux/amd64", "linux/arm64")
    assert (app.platforms, arm.platforms) == (("linux/amd64", "linux/arm64"), ("linux/arm64",))


def _seed(c: Config) -> None:
    api, worker = c.artifacts
    assert (api.name, api.pull_policy, api.override_policy) == (
        "api", PullPolicy.IF_NOT_PRESENT, True)
    assert worker.docker is not None
    assert (worker.name, worker.pull_policy, worker.docker.dockerfile) == (
        "worker", PullPolicy.NEVER, "Dockerfile.worker")


def _extensions(c: Config) -> None:
    app, tool = c.artifacts
    assert c.default_repo == "registry.example:5000/team"
    assert (app.builder, app.hoist_builder, app.pull_policy) == (
        "docker", "buildah", PullPolicy.ALWAYS)
    assert tool.hoist_builder == "auto"


def _profiles_debug(c: Config) -> None:
    assert c.artifacts[0].docker is not None
    assert c.artifacts[0].docker.dockerfile == "Dockerfile.debug"
    assert c.active_profiles == ("debug",)


def _v4(c: Config) -> None:
    assert (c.default_namespace, c.deployers, c.deploy_kind) == ("apps", ("kubectl",),
                                                                 "kubectl")


BUILD_RENDER_DEPLOY: tuple[Stage, ...] = ("build", "render", "deploy")

CASES = [
    Case("getting-started.yaml", ("registry.example/hello",), ("k8s/pod.yaml",),
         check=_getting_started),
    Case("multi-config.yaml", ("shop/frontend", "shop/backend"),
         ("frontend/k8s/*.yaml", "backend/k8s/*.yaml"), check=_multi_config),
    Case("multi-config-requires.yaml", (),
         refused={s: (5, "requires (multi-config files)") for s in BUILD_RENDER_DEPLOY}),
    Case("profiles-patches.yaml", ("demo/core",), ("core/*.yaml",)),
    Case("profiles-patches.yaml", ("demo/core", "demo/greeter"),
         ("core/*.yaml", "greeter/*.yaml"), profiles=("extra-greeter",)),
    Case("profiles-patches.yaml", ("demo/core",), ("core/*.yaml",),
         environ={"DEMO_DEBUG": "1"}, check=_profiles_debug),
    Case("profiles-patches.yaml", ("demo/core",), ("core/*.yaml",), command="debug",
         check=_profiles_debug),
    Case("profiles-patches.yaml", ("demo/other",), ("core/*.yaml",),
         profiles=("cluster-only",), check=lambda c: c.kube_context == "kind-demo"),
    Case("helm-deploy.yaml", ("charts/web",),
         refused={"render": (8, "deploy.helm"), "deploy": (8, "deploy.helm")},
         check=lambda c: c.deploy_kind == "helm"),
    Case("kustomize.yaml", ("kz/app",),
         refused={"render": (9, "manifests.kustomize"), "deploy": (9, "manifests.kustomize")}),
    Case("kustomize.yaml", ("kz/app",), profiles=("prod",),  # the profile's replaces it
         refused={"render": (17, "manifests.kustomize"),
                  "deploy": (17, "manifests.kustomize")}),
    Case("buildpacks.yaml", ("bp/node-app",), ("k8s/*.yaml",),
         artifact_refused={"bp/node-app": (7, "build.artifacts[0].buildpacks")}),
    Case("jib.yaml", ("java/svc",), ("k8s/svc.yaml",),
         artifact_refused={"java/svc": (7, "build.artifacts[0].jib")}),
    Case("jib.yaml", ("java/svc",), ("k8s/svc.yaml",), profiles=("gcb",),
         refused={"build": (17, "build.googleCloudBuild")},
         artifact_refused={"java/svc": (7, "build.artifacts[0].jib")}),
    Case("custom-builder.yaml", ("scripted/app",), ("k8s/app.yaml",),
         artifact_refused={"scripted/app": (7, "build.artifacts[0].custom")},
         check=_tag({"sha256": {}})),
    Case("ko.yaml", ("ko-app", "ko://example.com/tools/cmd/worker"),
         artifact_refused={"ko-app": (7, "build.artifacts[0].ko"),
                           "ko://example.com/tools/cmd/worker": (9, "build.artifacts[1].ko")}),
    Case("tagpolicy.yaml", ("tags/app",),
         check=_tag({"gitCommit": {"variant": "AbbrevCommitSha", "ignoreChanges": True}})),
    Case("tagpolicy.yaml", ("tags/app",), profiles=("sha",), check=_tag({"sha256": {}})),
    Case("tagpolicy.yaml", ("tags/app",), profiles=("env",),
         check=_tag({"envTemplate": {"template": "{{.RELEASE}}-{{.IMAGE_NAME}}"}})),
    Case("tagpolicy.yaml", ("tags/app",), profiles=("date",),
         check=_tag({"dateTime": {"format": "2006-01-02", "timezone": "UTC"}})),
    Case("tagpolicy.yaml", ("tags/app",), profiles=("custom",),
         check=lambda c: c.tag_policy is not None and list(c.tag_policy) == ["customTemplate"]),
    Case("tagpolicy.yaml", ("tags/app",), profiles=("digest",),
         check=_tag({"inputDigest": {}})),
    Case("requires-aliases.yaml", ("layered/app", "layered/base", "layered/tools"),
         ("app/k8s-pod.yaml",), check=_requires),
    Case("sync.yaml", ("sync/node", "sync/python", "sync/java"), ("k8s/*.yaml",),
         artifact_refused={"sync/java": (20, "build.artifacts[2].jib")}, check=_sync),
    Case("port-forward.yaml", ("pf/web",), ("./web/kubernetes/*",), check=_port_forward),
    Case("build-args.yaml", ("registry.local:5000/web", "registry.local:5000/worker"),
         ("k8s/*.yaml",), check=_build_args),
    Case("v2beta-kubectl.yaml", ("v2/app",), ("deploy/k8s-*.yaml", "deploy/service.yaml")),
    Case("v2beta-default-manifests.yaml", ("v2/default",), ("k8s/*.yaml",)),
    Case("v4beta-rawyaml.yaml", ("v4/app",), ("k8s-*",), check=_v4),
    Case("templated-fields.yaml", ("tpl/app",), ("k8s/*.yaml",), check=_templated),
    Case("cross-platform.yaml", ("multi/app", "multi/arm-only"), ("k8s-*",),
         check=_platforms),
    Case("lifecycle-hooks.yaml", ("hooks/app",), ("k8s-pod.yaml",),
         artifact_refused={"hooks/app": (7, "build.artifacts[0].hooks")}),
    Case("cluster-kaniko.yaml", ("gcr.io/demo/kaniko-app",), ("k8s-*",),
         refused={"build": (9, "build.cluster")},
         artifact_refused={"gcr.io/demo/kaniko-app": (7, "build.artifacts[0].kaniko")}),
    Case("bazel.yaml", ("bazel/app",), ("k8s/*.yaml",),
         artifact_refused={"bazel/app": (7, "build.artifacts[0].bazel")}),
    Case("docker-deploy.yaml", ("dd/app",),
         refused={"render": (8, "deploy.docker"), "deploy": (8, "deploy.docker")}),
    Case("seed-form.yaml", ("seed/api", "seed/worker"), ("k8s/deployment.yaml",),
         check=_seed),
    Case("hoist-extensions.yaml", ("ext/app", "ext/tool"), ("k8s/*.yaml",),
         check=_extensions),
]


def test_every_example_file_has_a_case() -> None:
    assert {c.file for c in CASES} == {p.name for p in DATA.glob("*.yaml")}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_example_loads_or_is_refused_precisely(case: Case) -> None:
    path = str(DATA / case.file)
    cfg = load_config(path, case.profiles, command=case.command, environ=case.environ)
    assert tuple(a.image for a in cfg.artifacts) == case.images
    assert cfg.manifests == case.manifests
    for stage in BUILD_RENDER_DEPLOY:
        if stage in case.refused:
            line, feature = case.refused[stage]
            with pytest.raises(InputError) as e:
                cfg.require_supported(stage)
            assert str(e.value) == f"{path}:{line}: not supported yet: {feature}"
        else:
            cfg.require_supported(stage)
    for a in cfg.artifacts:
        if a.image in case.artifact_refused:
            line, feature = case.artifact_refused[a.image]
            assert a.unsupported == f"not supported yet: {feature}"
            with pytest.raises(InputError) as e:
                a.require_buildable()
            assert str(e.value) == f"{path}:{line}: not supported yet: {feature}"
        else:
            assert a.unsupported is None
            a.require_buildable()
    if case.check is not None:
        result = case.check(cfg)
        assert result is None or result is True
