"""The daemonless builder: a Dockerfile made into an image in-process, without running a
container.

It takes the instructions that only describe files and metadata — FROM (a registry image
or ``scratch``), COPY, ADD (local files, directories, local tar archives), ENV, ARG,
WORKDIR, USER, EXPOSE, LABEL, ENTRYPOINT, CMD, and the metadata-only VOLUME, STOPSIGNAL,
SHELL, MAINTAINER — and refuses the rest (RUN first of all) naming the line and the
builders that can take it. Every layer is reproducible (see ``layers``) and cached by what
it holds, so a change to one file rebuilds only the layer that file is in; the others are
taken from the cache without reading a byte.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from hoist.build.base import BuildError, BuildRequest, BuiltImage
from hoist.build.context import ContextEntry, DigestCache, scan_context
from hoist.build.dockerfile import (
    Dockerfile,
    Instruction,
    Stage,
    exec_form,
    expand_word,
    load_dockerfile,
    parse_args,
    parse_expose,
    parse_key_values,
    stage_for_target,
)
from hoist.build.ignore import IgnoreMatcher, go_path_match
from hoist.build.layers import (
    BuiltLayer,
    LayerEntry,
    build_layer,
    fixed_mtime,
    is_archive,
    iter_archive,
    layer_key,
    normalized_mode,
    with_parents,
)
from hoist.core import mediatypes
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor, Manifest, build_manifest, parse_manifest
from hoist.core.platform import Platform
from hoist.errors import HoistError
from hoist.fileio import write_atomically
from hoist.store.store import ContentStore

OTHER_BUILDERS = "buildah, podman or docker"
# Instructions that need a container to run, or a feature this builder does not have.
_NEEDS_RUNTIME = {
    "RUN": "RUN executes a command in a container",
    "HEALTHCHECK": "HEALTHCHECK is not supported by the native builder",
    "ONBUILD": "ONBUILD is not supported by the native builder",
}
# BuildKit's automatic platform ARGs (available in the global scope, and inside a stage
# once declared with ARG NAME).
_DEFAULT_SHELL = ["/bin/sh", "-c"]


def needs_other_builder(dockerfile: Dockerfile, target: str | None) -> str | None:
    """Why this Dockerfile cannot be built natively (``path:line: reason``), or None.
    Only the stages the target needs count."""
    try:
        stages = _needed_stages(dockerfile, target)
    except HoistError as e:
        return str(e)
    for stage in stages:
        for instr in stage.instructions:
            reason = _refusal(instr)
            if reason:
                return f"{dockerfile.path}:{instr.line}: {reason}"
    return None


def _refusal(instr: Instruction) -> str | None:
    if instr.keyword in _NEEDS_RUNTIME:
        return (f"{_NEEDS_RUNTIME[instr.keyword]}; build this artifact with "
                f"{OTHER_BUILDERS} (hoist.builder in the config, or leave it on auto)")
    if instr.keyword in ("COPY", "ADD"):
        flags = dict(instr.flags)
        if "from" in flags:
            return (f"{instr.keyword} --from is not supported by the native builder; use "
                    f"{OTHER_BUILDERS}")
        for arg in instr.args[:-1]:
            if instr.keyword == "ADD" and _is_remote(arg):
                return (f"ADD from a URL or git repository is not supported by the native "
                        f"builder ({arg}); download it into the context and COPY it, or use "
                        f"{OTHER_BUILDERS}")
    return None


def _is_remote(src: str) -> bool:
    return src.startswith(("http://", "https://", "git@", "git://")) or src.endswith(".git")


def _needed_stages(dockerfile: Dockerfile, target: str | None) -> list[Stage]:
    from hoist.build.dockerfile import stage_dependencies

    index = stage_for_target(dockerfile, target)
    return [dockerfile.stages[i] for i in stage_dependencies(dockerfile, index)] + [
        dockerfile.stages[index]]


@dataclass(slots=True)
class _ImageState:
    """The image as a stage builds it up."""

    config: dict[str, Any]
    layers: list[Descriptor] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    shell: list[str] = field(default_factory=lambda: list(_DEFAULT_SHELL))
    cmd_set: bool = False
    built: int = 0

    @property
    def inner(self) -> dict[str, Any]:
        inner: dict[str, Any] = self.config.setdefault("config", {})
        return inner

    def set_env(self, key: str, value: str) -> None:
        self.env[key] = value
        self.inner["Env"] = [f"{k}={v}" for k, v in self.env.items()]


def _created() -> str:
    return datetime.fromtimestamp(fixed_mtime(), tz=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _env_dict(env: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env or ():
        k, _, v = item.partition("=")
        out[k] = v
    return out


class NativeBuilder:
    """Builds Dockerfiles without a daemon. ``cache_dir`` keeps the layer cache and the
    context digest cache; by default ``<store>/build-cache``."""

    name = "native"

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir

    def unavailable(self) -> str | None:
        return None

    def build(self, request: BuildRequest) -> BuiltImage:
        return _NativeBuild(request, self.cache_dir or request.store.root / "build-cache").run()


class _NativeBuild:
    def __init__(self, request: BuildRequest, cache_dir: Path) -> None:
        self.request = request
        self.store: ContentStore = request.store
        self.cache_dir = cache_dir
        self.dockerfile = load_dockerfile(request.dockerfile)
        self._entries: list[ContextEntry] | None = (
            list(request.entries) if request.entries is not None else None)
        self._by_rel: dict[str, ContextEntry] | None = None

    # -- errors -------------------------------------------------------------------------

    def _fail(self, instr: Instruction | Stage | None, message: str) -> BuildError:
        where = f"{self.dockerfile.path}:{instr.line}: " if instr is not None else ""
        return BuildError(f"{self.request.artifact}: {where}{message}")

    # -- the context ---------------------------------------------------------------------

    @property
    def entries(self) -> list[ContextEntry]:
        if self._entries is None:
            matcher = IgnoreMatcher.for_context(self.request.context, self.request.dockerfile)
            cache = DigestCache(None)
            self._entries = scan_context(self.request.context, matcher, cache)
        return self._entries

    @property
    def by_rel(self) -> dict[str, ContextEntry]:
        if self._by_rel is None:
            self._by_rel = {e.rel: e for e in self.entries}
        return self._by_rel

    # -- the build -----------------------------------------------------------------------

    def run(self) -> BuiltImage:
        df = self.dockerfile
        reason = needs_other_builder(df, self.request.target)
        if reason:
            raise BuildError(f"{self.request.artifact}: {reason}")
        platform = self.request.platform
        args = self._global_args(platform)
        stages = _needed_stages(df, self.request.target)
        states: dict[int, _ImageState] = {}
        with self.store.writing():
            for stage in stages:
                states[stage.index] = self._stage(stage, args, states, platform)
            final = states[stages[-1].index]
            return self._commit(final)

    def _global_args(self, platform: Platform) -> dict[str, str]:
        """Global-scope ARG values: BuildKit's automatic platform args, then each ARG
        before the first FROM with its build-arg or default."""
        plat = f"{platform.os}/{platform.architecture}" + (
            f"/{platform.variant}" if platform.variant else "")
        auto = {"TARGETPLATFORM": plat, "TARGETOS": platform.os,
                "TARGETARCH": platform.architecture, "TARGETVARIANT": platform.variant or "",
                "BUILDPLATFORM": plat, "BUILDOS": platform.os,
                "BUILDARCH": platform.architecture, "BUILDVARIANT": platform.variant or ""}
        values = dict(auto)
        for instr in self.dockerfile.global_args:
            for name, default in self._arg_names(instr):
                values[name] = self._arg_value(name, default, values, instr)
        return values

    def _arg_names(self, instr: Instruction) -> list[tuple[str, str | None]]:
        try:
            return parse_args(instr)
        except ValueError as e:
            raise self._fail(instr, str(e)) from None

    def _arg_value(self, name: str, default: str | None, scope: Mapping[str, str],
                   instr: Instruction) -> str:
        if name in self.request.build_args:
            # a build arg given without a value takes it from the environment, as the
            # docker CLI's --build-arg NAME does
            given = self.request.build_args[name]
            return given if given is not None else os.environ.get(name, "")
        if default is None:
            return scope.get(name, "")
        return self._expand(instr, default, scope)

    def _expand(self, instr: Instruction, word: str, env: Mapping[str, str]) -> str:
        try:
            return expand_word(word, env, self.dockerfile.escape)
        except ValueError as e:
            raise self._fail(instr, str(e)) from None

    def _words(self, instr: Instruction, env: Mapping[str, str]) -> list[str]:
        # COPY, ADD, VOLUME and EXPOSE split at whitespace first and expand each word, as
        # BuildKit does (a variable holding spaces stays one word)
        return [self._expand(instr, a, env) for a in instr.args]

    def _stage(self, stage: Stage, global_args: Mapping[str, str],
               states: Mapping[int, _ImageState], platform: Platform) -> _ImageState:
        base = self._expand_stage_base(stage, global_args)
        state = self._base_state(stage, base, states, platform)
        args: dict[str, str] = {}  # ARGs declared in this stage
        for instr in stage.instructions:
            scope = {**args, **state.env}  # ENV wins over ARG of the same name
            self._apply(instr, state, args, scope, global_args)
        return state

    def _expand_stage_base(self, stage: Stage, global_args: Mapping[str, str]) -> str:
        base = self._expand(_as_instr(stage), stage.base, global_args).strip()
        if not base:
            raise self._fail(stage, f"FROM {stage.base!r} expands to an empty image name")
        return base

    def _base_state(self, stage: Stage, base: str, states: Mapping[int, _ImageState],
                    platform: Platform) -> _ImageState:
        for earlier in self.dockerfile.stages[:stage.index]:
            if earlier.name is not None and earlier.name == base.lower():
                prior = states[earlier.index]
                return _ImageState(json.loads(json.dumps(prior.config)), list(prior.layers),
                                   dict(prior.env), prior.workdir, list(prior.shell))
        if base == "scratch":
            config: dict[str, Any] = {"architecture": platform.architecture,
                                      "os": platform.os}
            if platform.variant:
                config["variant"] = platform.variant
            config.update({"config": {}, "rootfs": {"type": "layers", "diff_ids": []},
                           "history": []})
            return _ImageState(config)
        manifest, config = self._pull_base(stage, base, platform)
        layers = [Descriptor(_oci_layer_type(d.media_type), d.digest, d.size)
                  for d in manifest.layers]
        inner = config.get("config") or {}
        return _ImageState(config, layers, _env_dict(inner.get("Env")),
                           inner.get("WorkingDir") or "/")

    def _pull_base(self, stage: Stage, base: str, platform: Platform
                   ) -> tuple[Manifest, dict[str, Any]]:
        """The base image's manifest for our platform and its config, from the store when
        it is there, else pulled from its registry first: ``docker build``'s and
        ``buildah bud``'s default (pull when missing), so a base made locally (such as
        ``localhost/busybox:static``) needs no registry."""
        from hoist.core.reference import ReferenceError, parse_normalized_named

        try:
            ref = parse_normalized_named(base)
        except ReferenceError as e:
            raise self._fail(stage, f"FROM {base!r} is not a valid image reference: {e}"
                             ) from None
        if not ref.tag and ref.digest is None:
            ref = ref.with_tag("latest")  # FROM name means name:latest
        # the store's name for it (transfer.names' store_key; that package is not imported
        # here, since it brings the HTTP stack with it)
        name = f"{ref.name}:{ref.tag}" if ref.tag else str(ref)
        record = self.store.lookup(name)
        stale = record is not None and ref.digest is not None and record.digest != ref.digest
        if record is None or stale or not self.store.blobs.has(record.digest):
            from hoist.transfer.copy import Options, copy  # the HTTP stack, only to pull
            from hoist.transfer.names import ImageName

            registry = ref.domain
            options = Options(platform=platform, store=self.store,
                              insecure=registry in self.request.insecure_registries,
                              authfile=self.request.authfile)
            self.request.log(f"FROM {base}: resolving")
            try:
                copy(ImageName("docker", ref), ImageName("store", ref), options)
            except HoistError as e:
                raise self._fail(stage, f"FROM {base}: {e}") from None
            record = self.store.lookup(name)
            if record is None:
                raise self._fail(stage, f"FROM {base}: not in the store after pulling")
        manifest = self.store.manifest(record.digest)
        if manifest.is_index:
            try:
                manifest = self.store.manifest(manifest.select(platform).digest)
            except (HoistError, ValueError) as e:
                raise self._fail(stage, f"FROM {base}: {e}") from None
        assert manifest.config is not None
        config = json.loads(self.store.blobs.read(manifest.config.digest))
        if not isinstance(config, dict):
            raise self._fail(stage, f"FROM {base}: its config is not a JSON object")
        return manifest, config

    # -- instructions --------------------------------------------------------------------

    def _apply(self, instr: Instruction, state: _ImageState, args: dict[str, str],
               scope: Mapping[str, str], global_args: Mapping[str, str]) -> None:
        kw = instr.keyword
        inner = state.inner
        if kw == "ARG":
            for name, default in self._arg_names(instr):
                if default is None and name in global_args and \
                        name not in self.request.build_args:
                    args[name] = global_args[name]  # a re-declared global ARG keeps its value
                else:
                    args[name] = self._arg_value(name, default, {**global_args, **scope},
                                                 instr)
            return  # ARG leaves no trace in the image config
        if kw in ("COPY", "ADD"):
            self._copy(instr, state, scope)
            return
        if kw == "ENV":
            for k, v in self._key_values(instr, scope):
                state.set_env(k, v)
        elif kw == "LABEL":
            labels = inner.get("Labels") or {}
            for k, v in self._key_values(instr, scope):
                labels[k] = v
            inner["Labels"] = labels
        elif kw == "WORKDIR":
            path = self._expand(instr, instr.text.strip(), scope)
            state.workdir = str(PurePosixPath(state.workdir, path))
            inner["WorkingDir"] = state.workdir
            # WORKDIR creates the directory: a small layer, as the docker builder makes one
            self._add_layer(instr, state, [LayerEntry(state.workdir, "dir", 0o755)])
            return
        elif kw == "USER":
            inner["User"] = self._expand(instr, instr.text.strip(), scope)
        elif kw == "EXPOSE":
            ports = inner.get("ExposedPorts") or {}
            try:
                for port in parse_expose(self._words(instr, scope)):
                    ports[port] = {}
            except ValueError as e:
                raise self._fail(instr, str(e)) from None
            inner["ExposedPorts"] = ports
        elif kw in ("CMD", "ENTRYPOINT"):
            argv, is_shell = exec_form(instr)
            if is_shell:
                argv = [*state.shell, argv[-1]]
            if kw == "CMD":
                inner["Cmd"] = argv
                state.cmd_set = True
            else:
                inner["Entrypoint"] = argv
                if not state.cmd_set:
                    # an ENTRYPOINT resets the CMD a base image set (Dockerfile reference)
                    inner.pop("Cmd", None)
        elif kw == "VOLUME":
            volumes = inner.get("Volumes") or {}
            for v in self._words(instr, scope):
                volumes[v] = {}
            inner["Volumes"] = volumes
        elif kw == "STOPSIGNAL":
            inner["StopSignal"] = self._expand(instr, instr.text.strip(), scope)
        elif kw == "SHELL":
            if not instr.json_form or not instr.args:
                raise self._fail(instr, "SHELL requires the arguments to be in JSON form")
            state.shell = list(instr.args)
        elif kw == "MAINTAINER":
            state.config["author"] = instr.text.strip()
        else:
            raise self._fail(instr, f"{kw} is not supported by the native builder; use "
                                    f"{OTHER_BUILDERS}")
        self._history(state, instr, empty=True)

    def _key_values(self, instr: Instruction, scope: Mapping[str, str]
                    ) -> list[tuple[str, str]]:
        try:
            return parse_key_values(instr, scope, self.dockerfile.escape)
        except ValueError as e:
            raise self._fail(instr, str(e)) from None

    def _history(self, state: _ImageState, instr: Instruction, empty: bool) -> None:
        entry: dict[str, Any] = {"created": _created(),
                                 "created_by": f"{instr.keyword} {instr.text.strip()}",
                                 "comment": "hoist"}
        if empty:
            entry["empty_layer"] = True
        state.config.setdefault("history", []).append(entry)

    # -- COPY / ADD ----------------------------------------------------------------------

    def _copy(self, instr: Instruction, state: _ImageState, scope: Mapping[str, str]) -> None:
        words = self._words(instr, scope)
        if len(words) < 2:
            raise self._fail(instr, f"{instr.keyword} requires at least two arguments")
        flags = dict(instr.flags)
        uid, gid = self._chown(instr, flags.get("chown"), scope)
        chmod = self._chmod(instr, flags.get("chmod"))
        *sources, dest = words
        dest_abs = dest if dest.startswith("/") else str(PurePosixPath(state.workdir, dest))
        if dest_abs != "/" and (dest.endswith("/") or dest in (".", "./")):
            dest_abs = dest_abs.rstrip("/") + "/"
        matched: list[tuple[str, ContextEntry | None]] = []
        for src in sources:
            found = self._match(src)
            if not found:
                raise self._fail(instr, f"{instr.keyword} failed: {src!r} is not in the build "
                                        "context (or .dockerignore excludes it)")
            matched.extend(found)
        into_dir = dest_abs.endswith("/") or dest_abs == "/"
        if len(matched) > 1 and not into_dir:
            raise self._fail(instr, f"when copying more than one source, the destination "
                                    f"must be a directory ending in '/': {dest!r}")
        out: list[LayerEntry] = []
        for rel, entry in matched:
            base = dest_abs.rstrip("/") or "/"
            if entry is None or entry.kind == "dir":
                prefix = "" if rel in ("", ".") else rel + "/"
                if entry is not None and not into_dir:
                    out.append(self._entry(entry, base, uid, gid, chmod, kind_dir=True))
                for child in self._under(prefix):
                    target = str(PurePosixPath(base, child.rel[len(prefix):]))
                    out.extend(self._expand_entry(instr, child, target, uid, gid, chmod))
            else:
                target = str(PurePosixPath(base, PurePosixPath(rel).name)) if into_dir \
                    else base
                out.extend(self._expand_entry(instr, entry, target, uid, gid, chmod))
        self._add_layer(instr, state, out)

    def _expand_entry(self, instr: Instruction, entry: ContextEntry, target: str, uid: int,
                      gid: int, chmod: int | None) -> list[LayerEntry]:
        if instr.keyword == "ADD" and entry.kind == "file" and is_archive(entry.path):
            return self._unpack(entry, str(PurePosixPath(target).parent)
                                if not target.endswith("/") else target)
        return [self._entry(entry, target, uid, gid, chmod)]

    def _unpack(self, entry: ContextEntry, into: str) -> list[LayerEntry]:
        """ADD of a local tar archive: its members under the destination directory, with
        the archive's own modes, owners and times (the archive is an input like a file)."""
        into = into if into.endswith("/") else into + "/"
        out: list[LayerEntry] = []
        for info, data in iter_archive(entry.path):
            name = str(PurePosixPath(into, info.name.lstrip("./").lstrip("/") or "."))
            if info.isdir():
                out.append(LayerEntry(name, "dir", info.mode, info.uid, info.gid,
                                      mtime=int(info.mtime)))
            elif info.issym():
                out.append(LayerEntry(name, "symlink", info.mode, info.uid, info.gid,
                                      link=info.linkname, mtime=int(info.mtime)))
            elif info.islnk():
                out.append(LayerEntry(name, "hardlink", info.mode, info.uid, info.gid,
                                      link=str(PurePosixPath(into, info.linkname)),
                                      mtime=int(info.mtime)))
            elif info.isreg():
                out.append(LayerEntry(name, "file", info.mode, info.uid, info.gid,
                                      size=len(data or b""), data=data or b"",
                                      mtime=int(info.mtime)))
        return out

    def _entry(self, entry: ContextEntry, target: str, uid: int, gid: int,
               chmod: int | None, kind_dir: bool = False) -> LayerEntry:
        kind = "dir" if kind_dir else entry.kind
        mode = chmod if chmod is not None and kind != "symlink" else normalized_mode(
            entry.mode, kind)
        if kind == "dir":
            return LayerEntry(target, "dir", mode, uid, gid)
        if kind == "symlink":
            return LayerEntry(target, "symlink", 0o777, uid, gid, digest=entry.digest,
                              link=entry.link)
        return LayerEntry(target, "file", mode, uid, gid, digest=entry.digest, size=entry.size,
                          source=entry.path)

    def _match(self, src: str) -> list[tuple[str, ContextEntry | None]]:
        """Context entries a COPY source names: the whole context for ``.``, one entry by
        path, or every entry a wildcard pattern matches."""
        clean = os.path.normpath("/" + src).lstrip("/")
        if clean in ("", "."):
            return [("", None)]
        if any(c in clean for c in "*?["):
            out: list[tuple[str, ContextEntry | None]] = []
            for e in self.entries:
                try:
                    if go_path_match(clean, e.rel):
                        out.append((e.rel, e))
                except ValueError as err:
                    raise BuildError(f"{self.request.artifact}: bad pattern {src!r}: {err}"
                                     ) from None
            return out
        entry = self.by_rel.get(clean)
        return [(clean, entry)] if entry is not None else []

    def _under(self, prefix: str) -> list[ContextEntry]:
        return [e for e in self.entries if e.rel.startswith(prefix)] if prefix else list(
            self.entries)

    def _chown(self, instr: Instruction, value: str | None, scope: Mapping[str, str]
               ) -> tuple[int, int]:
        if not value:
            return 0, 0
        text = self._expand(instr, value, scope)
        user, _, group = text.partition(":")
        ids: list[int] = []
        for part in (user, group or user):
            if part == "root":
                ids.append(0)
            elif part.isdigit():
                ids.append(int(part))
            else:
                raise self._fail(instr, f"--chown={text}: the native builder takes numeric "
                                        f"ids (or root), since it does not read the base "
                                        f"image's /etc/passwd; use {OTHER_BUILDERS}")
        return ids[0], ids[1]

    def _chmod(self, instr: Instruction, value: str | None) -> int | None:
        if not value:
            return None
        try:
            mode = int(value, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o7777:
            raise self._fail(instr, f"--chmod={value}: want an octal mode such as 755")
        return mode

    # -- layers and the result -----------------------------------------------------------

    def _add_layer(self, instr: Instruction, state: _ImageState,
                   entries: Sequence[LayerEntry]) -> None:
        full = with_parents(entries)
        key = layer_key(full)
        layer = self._cached_layer(key)
        if layer is None:
            try:
                layer = build_layer(full, self.store.blobs)
            except OSError as e:
                raise self._fail(instr, f"{instr.keyword}: cannot read "
                                        f"{getattr(e, 'filename', '') or e}") from None
            self._remember_layer(key, layer)
            state.built += 1
            self.request.log(f"{instr.keyword} {instr.text.strip()}: layer "
                             f"{layer.digest.short} ({layer.size} bytes)")
        else:
            self.request.log(f"{instr.keyword} {instr.text.strip()}: cached "
                             f"{layer.digest.short}")
        state.layers.append(Descriptor(mediatypes.OCI_LAYER_GZIP, layer.digest, layer.size))
        rootfs = state.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        rootfs.setdefault("diff_ids", []).append(str(layer.diff_id))
        self._history(state, instr, empty=False)

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / "layers" / key[:2] / key

    def _cached_layer(self, key: str) -> BuiltLayer | None:
        try:
            data = json.loads(self._cache_path(key).read_text())
            layer = BuiltLayer(Digest.parse(data["diff_id"]), Digest.parse(data["digest"]),
                               int(data["size"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return layer if self.store.blobs.has(layer.digest) else None

    def _remember_layer(self, key: str, layer: BuiltLayer) -> None:
        write_atomically(self._cache_path(key), json.dumps({
            "diff_id": str(layer.diff_id), "digest": str(layer.digest), "size": layer.size,
        }).encode(), durable=False)

    def _commit(self, state: _ImageState) -> BuiltImage:
        config = dict(state.config)
        config["created"] = _created()
        keys = ("created", "author", "architecture", "os", "variant", "config", "rootfs",
                "history")
        ordered: dict[str, Any] = {k: config[k] for k in keys if k in config}
        ordered.update({k: v for k, v in config.items() if k not in ordered})
        config_raw = json.dumps(ordered, separators=(",", ":"), sort_keys=False).encode()
        blobs = self.store.blobs
        config_digest = blobs.put(config_raw)
        config_desc = Descriptor(mediatypes.OCI_CONFIG, config_digest, len(config_raw))
        raw = build_manifest(config_desc, state.layers, mediatypes.OCI_MANIFEST)
        digest = blobs.put(raw)
        manifest = parse_manifest(raw, mediatypes.OCI_MANIFEST)
        size = len(raw) + len(config_raw) + sum(d.size for d in state.layers)
        self.store.record(self.request.name, manifest, size)
        return BuiltImage(self.request.name, digest, config_digest, mediatypes.OCI_MANIFEST,
                          size, layers_built=state.built, layers_total=len(state.layers))


def _oci_layer_type(media_type: str) -> str:
    # The same bytes under the OCI name, so one manifest does not mix the two families.
    if media_type == mediatypes.DOCKER_LAYER_GZIP:
        return mediatypes.OCI_LAYER_GZIP
    return media_type


def _as_instr(stage: Stage) -> Instruction:
    """A FROM line as an instruction, for expansion errors that name its line."""
    return Instruction(stage.line, stage.line, "FROM", (), (stage.base,), False, stage.base,
                       f"FROM {stage.base}")
