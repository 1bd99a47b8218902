"""Which keys and value types a config may have, checked on the line-carrying tree.

The key sets follow Skaffold's JSON schemas (``docs-v2/content/en/schemas/v4beta14.json``
and the v2beta ones for ``deploy.kubectl.manifests`` and ``deploy.kustomize``), plus
hoist's own keys (``imagePullPolicy`` and ``hoist`` per artifact, ``defaultRepo`` at the
top). Sections hoist does not act on (helm, kustomize, other builders' settings, hooks,
tests) are checked for shape only: a mapping or a list where one belongs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hoist.config.tree import YMap, YNode, YScalar, YSeq, is_null, parse_int
from hoist.errors import InputError

# apiVersions read: every published Skaffold schema from v1alpha1 to v4beta14, and the
# seed's own `skaffold.dev/v2beta10`.
_API_VERSION = re.compile(
    r"skaffold/(?:v1(?:alpha\d+|beta\d+)?|v2alpha\d+|v2beta(?:[1-9]|1\d|2\d)|v3alpha\d+|v3"
    r"|v4beta(?:[1-9]|1[0-4]))|skaffold\.dev/v2beta10")
ACCEPTED_API_VERSIONS = ("skaffold/v1*, skaffold/v2alpha*, skaffold/v2beta1..29, "
                         "skaffold/v3alpha*, skaffold/v3, skaffold/v4beta1..14, "
                         "skaffold.dev/v2beta10")


def api_version_accepted(version: str) -> bool:
    return _API_VERSION.fullmatch(version) is not None


def uses_v2_manifests(version: str) -> bool:
    """Schemas before v3 list manifests under deploy.kubectl, defaulting to k8s/*.yaml."""
    return version.startswith(("skaffold/v1", "skaffold/v2", "skaffold.dev/v2"))


# Keys renamed in early Skaffold schemas: a better hint than the closest spelling.
RENAMED = {"imageName": "image", "workspace": "context", "dockerfilePath": "dockerfile",
           "skipPush": "push"}

ARTIFACT_BUILDERS = ("docker", "custom", "buildpacks", "jib", "bazel", "ko", "kaniko")
BUILD_ENVIRONMENTS = ("local", "googleCloudBuild", "cluster")
DEPLOYERS = ("docker", "helm", "kpt", "kubectl", "kustomize", "cloudrun")
TAGGERS = ("gitCommit", "sha256", "envTemplate", "dateTime", "customTemplate", "inputDigest")
HOIST_BUILDERS = ("native", "buildah", "podman", "docker", "auto")


class Checker:
    """Checks one node; ``where`` is the key path for messages (``build.local``)."""

    def check(self, node: YNode, where: str, ctx: Context) -> None:
        raise NotImplementedError


@dataclass(slots=True)
class Context:
    path: str  # the config file as given

    def fail(self, line: int, message: str) -> InputError:
        return InputError(f"{self.path}:{line}: {message}")


def _kind(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    return f"{node.text!r}"


class _Str(Checker):
    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not isinstance(node, YScalar):
            raise ctx.fail(node.line, f"{where} must be a string, not {_kind(node)}")


class _Int(Checker):
    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not (isinstance(node, YScalar) and node.tag == "int" and node.text is not None
                and parse_int(node.text) is not None):
            raise ctx.fail(node.line, f"{where} must be an integer, not {_kind(node)}")


class _Bool(Checker):
    def check(self, node: YNode, where: str, ctx: Context) -> None:
        # YAML 1.2 booleans only, as Go's decoders read them (`yes` is a string there).
        if not (isinstance(node, YScalar) and node.tag == "bool"
                and (node.text or "").lower() in ("true", "false")):
            raise ctx.fail(node.line, f"{where} must be true or false, not {_kind(node)}")


class _StrOrInt(Checker):
    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not isinstance(node, YScalar):
            raise ctx.fail(node.line, f"{where} must be a string or an integer, not "
                                      f"{_kind(node)}")


class _Any(Checker):
    def check(self, node: YNode, where: str, ctx: Context) -> None:
        return


class _AnyMap(Checker):
    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not isinstance(node, YMap):
            raise ctx.fail(node.line, f"{where} must be a mapping, not {_kind(node)}")


class _AnyList(Checker):
    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not isinstance(node, YSeq):
            raise ctx.fail(node.line, f"{where} must be a list, not {_kind(node)}")


STR, INT, BOOL, STR_OR_INT = _Str(), _Int(), _Bool(), _StrOrInt()
ANY, ANY_MAP, ANY_LIST = _Any(), _AnyMap(), _AnyList()


@dataclass(frozen=True, slots=True)
class ListOf(Checker):
    item: Checker

    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not isinstance(node, YSeq):
            raise ctx.fail(node.line, f"{where} must be a list, not {_kind(node)}")
        for i, it in enumerate(node.items):
            if not is_null(it):
                self.item.check(it, f"{where}[{i}]", ctx)


@dataclass(frozen=True, slots=True)
class MapOf(Checker):
    """Free keys (build args, labels), values of one kind; null values allowed."""

    value: Checker

    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not isinstance(node, YMap):
            raise ctx.fail(node.line, f"{where} must be a mapping, not {_kind(node)}")
        for k, v in node.entries:
            if not is_null(v):
                self.value.check(v, f"{where}.{k.text}", ctx)


@dataclass(frozen=True, slots=True)
class Obj(Checker):
    """A mapping with a fixed key set. ``one_of`` groups keys of which one may be set;
    ``required`` keys must be present and not null."""

    fields: Mapping[str, Checker]
    required: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    what: str = ""  # how a group of one_of keys is named in messages

    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not isinstance(node, YMap):
            raise ctx.fail(node.line, f"{where} must be a mapping, not {_kind(node)}")
        for k, v in node.entries:
            key = k.text or ""
            sub = self.fields.get(key)
            if sub is None:
                raise ctx.fail(k.line, f"unknown key {key!r} in {where or 'the config'}"
                                       + did_you_mean(key, self.fields))
            if not is_null(v):
                sub.check(v, f"{where}.{key}" if where else key, ctx)
        for group in self.one_of:
            present = [k for k, v in node.entries if k.text in group and not is_null(v)]
            if len(present) > 1:
                first, second = present[0], present[1]
                raise ctx.fail(second.line, f"{where} sets both {first.text!r} (line "
                                            f"{first.line}) and {second.text!r}: only one "
                                            f"{self.what or 'of them'} is allowed")
        for key in self.required:
            if is_null(node.get(key)):
                raise ctx.fail(node.line, f"{where or 'the config'} has no {key!r}")


@dataclass(frozen=True, slots=True)
class ByShape(Checker):
    """One checker for a list value, another for a mapping, another for a scalar."""

    seq: Checker | None = None
    map: Checker | None = None
    scalar: Checker | None = None
    expect: str = "a list or a mapping"

    def check(self, node: YNode, where: str, ctx: Context) -> None:
        pick = (self.seq if isinstance(node, YSeq) else self.map if isinstance(node, YMap)
                else self.scalar)
        if pick is None:
            raise ctx.fail(node.line, f"{where} must be {self.expect}, not {_kind(node)}")
        pick.check(node, where, ctx)


@dataclass(frozen=True, slots=True)
class OneOfValues(Checker):
    values: tuple[str, ...]

    def check(self, node: YNode, where: str, ctx: Context) -> None:
        if not (isinstance(node, YScalar) and node.text in self.values):
            raise ctx.fail(node.line, f"{where} must be one of {', '.join(self.values)}, not "
                                      f"{_kind(node)}" + (did_you_mean(node.text, self.values)
                                                          if isinstance(node, YScalar)
                                                          and node.text else ""))


def did_you_mean(key: str, allowed: Mapping[str, object] | tuple[str, ...]) -> str:
    names = list(allowed)
    if key in RENAMED and RENAMED[key] in names:
        return f" (did you mean {RENAMED[key]!r}? it was renamed)"
    lowered = {n.lower(): n for n in names}
    if key.lower() in lowered:
        return f" (did you mean {lowered[key.lower()]!r}?)"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---- the schema ---------------------------------------------------------------------------

STR_LIST = ListOf(STR)

DOCKER_SECRET = Obj({"id": STR, "src": STR, "env": STR}, required=("id",))
DOCKER_FIELDS: dict[str, Checker] = {
    "dockerfile": STR, "target": STR, "buildArgs": MapOf(STR), "network": STR,
    "addHost": STR_LIST, "cacheFrom": STR_LIST, "cacheTo": STR_LIST, "cliFlags": STR_LIST,
    "pullParent": BOOL, "noCache": BOOL, "squash": BOOL, "secrets": ListOf(DOCKER_SECRET),
    "ssh": STR,
}
DOCKER = Obj(DOCKER_FIELDS)
SEED_DOCKER = Obj({**DOCKER_FIELDS, "image": STR})  # the seed form names the image here

PULL_POLICY = ByShape(map=Obj({"value": STR, "override": BOOL}, required=("value",)),
                      scalar=STR, expect="a mapping or a string")
ARTIFACT_DEPENDENCY = Obj({"image": STR, "alias": STR}, required=("image",))
HOIST_ARTIFACT = Obj({"builder": OneOfValues(HOIST_BUILDERS)})
SYNC = Obj({"manual": ANY_LIST, "infer": STR_LIST, "auto": ANY, "hooks": ANY_MAP})

_ARTIFACT_COMMON: dict[str, Checker] = {
    "image": STR, "context": STR, "sync": SYNC, "requires": ListOf(ARTIFACT_DEPENDENCY),
    "hooks": ANY_MAP, "platforms": STR_LIST, "runtimeType": STR,
    "custom": ANY_MAP, "buildpacks": ANY_MAP, "jib": ANY_MAP, "bazel": ANY_MAP,
    "ko": ANY_MAP, "kaniko": ANY_MAP,
    "imagePullPolicy": PULL_POLICY, "hoist": HOIST_ARTIFACT,
}
ARTIFACT = Obj({**_ARTIFACT_COMMON, "docker": DOCKER}, required=("image",),
               one_of=(ARTIFACT_BUILDERS,), what="builder per artifact")
SEED_ARTIFACT = Obj({**_ARTIFACT_COMMON, "docker": SEED_DOCKER},
                    one_of=(ARTIFACT_BUILDERS,), what="builder per artifact")

LOCAL = Obj({"push": BOOL, "tryImportMissing": BOOL, "useDockerCLI": BOOL,
             "useBuildkit": BOOL, "concurrency": INT})
TAG_POLICY = Obj({t: ANY_MAP for t in TAGGERS}, one_of=(TAGGERS,), what="tag policy")
BUILD = Obj({
    "artifacts": ByShape(seq=ListOf(ARTIFACT), map=MapOf(SEED_ARTIFACT)),
    "insecureRegistries": STR_LIST, "tagPolicy": TAG_POLICY, "platforms": STR_LIST,
    "hooks": ANY_MAP, "local": LOCAL, "googleCloudBuild": ANY_MAP, "cluster": ANY_MAP,
}, one_of=(BUILD_ENVIRONMENTS,), what="build environment")

KUBECTL = Obj({"manifests": STR_LIST, "remoteManifests": ANY_LIST, "flags": ANY_MAP,
               "defaultNamespace": STR, "hooks": ANY_MAP})
DEPLOY = Obj({
    "docker": ANY_MAP, "helm": ANY_MAP, "kpt": ANY_MAP, "kubectl": KUBECTL,
    "kustomize": ANY_MAP, "cloudrun": ANY_MAP, "statusCheck": BOOL,
    "statusCheckDeadlineSeconds": INT, "tolerateFailuresUntilDeadline": BOOL,
    "kubeContext": STR, "logs": ANY_MAP,
})
MANIFESTS = Obj({
    "rawYaml": STR_LIST, "remoteManifests": ANY_LIST, "kustomize": ANY_MAP, "helm": ANY_MAP,
    "kpt": STR_LIST, "hooks": ANY_MAP, "transform": ANY_LIST, "validate": ANY_LIST,
    "output": STR,
})
PORT_FORWARD = Obj({"resourceType": STR, "resourceName": STR, "namespace": STR,
                    "port": STR_OR_INT, "address": STR, "localPort": INT})

# The sections a profile may lay over the config's (Skaffold's Pipeline struct).
PIPELINE: dict[str, Checker] = {
    "build": BUILD, "test": ANY_LIST, "manifests": MANIFESTS, "deploy": DEPLOY,
    "portForward": ListOf(PORT_FORWARD), "resourceSelector": ANY_MAP, "verify": ANY_LIST,
    "customActions": ANY_LIST,
}
ACTIVATION = Obj({"env": STR, "kubeContext": STR, "command": STR})
PATCH = Obj({"op": OneOfValues(("add", "remove", "replace", "move", "copy", "test")),
             "path": STR, "from": STR, "value": ANY}, required=("path",))
PROFILE = Obj({"name": STR, "activation": ListOf(ACTIVATION), "requiresAllActivations": BOOL,
               "patches": ListOf(PATCH), **PIPELINE}, required=("name",))
CONFIG_DEPENDENCY = Obj({"configs": STR_LIST, "path": STR, "git": ANY_MAP,
                         "googleCloudStorage": ANY_MAP, "googleCloudBuildRepoV2": ANY_MAP,
                         "activeProfiles": ANY_LIST})
METADATA = Obj({"name": STR, "labels": MapOf(STR), "annotations": MapOf(STR)})

TOP_LEVEL_FIELDS: dict[str, Checker] = {
    "apiVersion": STR, "kind": STR, "metadata": METADATA,
    "requires": ListOf(CONFIG_DEPENDENCY), "profiles": ListOf(PROFILE),
    "render": ANY_MAP,  # v3alpha* schemas
    "defaultRepo": STR,  # hoist's own
    **PIPELINE,
}
TOP_LEVEL = Obj(TOP_LEVEL_FIELDS)
# Top-level keys the model keeps nothing of: present, they are listed in Config.ignored.
IGNORED_SECTIONS = ("test", "verify", "customActions", "resourceSelector", "render")

