"""Build every artifact of a config: choose a builder, tag, build (or take the artifact
cache's image), push as the artifact's pull policy asks, and report ``repo:tag@digest``.

Pull policy shapes the push (DESIGN.md §4): ``Never`` pushes nothing — the image stays in
the local store for a node to load; ``IfNotPresent`` and an unset policy push; ``Always``
pushes and then checks that the registry serves the digest. A push never moves an
existing tag to another digest unless forced.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.build.base import Builder, BuildError, BuildRequest, BuiltImage
from hoist.build.context import DigestCache, input_digest, scan_context
from hoist.build.ignore import IgnoreMatcher
from hoist.config import Artifact, Config, DockerSpec
from hoist.core.digest import Digest
from hoist.core.platform import Platform, host_platform
from hoist.core.policy import PullPolicy
from hoist.core.reference import ReferenceError, parse_normalized_named
from hoist.errors import HoistError, InputError, OperationError
from hoist.fileio import write_atomically
from hoist.store.store import ContentStore

if TYPE_CHECKING:
    from hoist.build.pushed import BlobUpload
    from hoist.core.manifest import Descriptor, Manifest
    from hoist.registry.probe import QuickSession

CACHE_VERSION = "hoist-artifact-cache-v1"
# Pushes whose missing blobs add up to more than this go through the full (streaming)
# client; below it the blobs are read whole, which suits the dev loop's one small layer.
QUICK_PUSH_LIMIT = 64 << 20
ArtifactLog = Callable[[str, str], None]


def _no_log(artifact: str, line: str) -> None:
    del artifact, line


class TagCollision(OperationError):
    """A push would move a tag that already names another digest."""


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """How one ``hoist build`` runs; a field left at None defers to the config (or to the
    environment: platform, variables, time)."""

    push: bool | None = None  # None: as the policy and build.local.push say
    force_tag: bool = False
    default_repo: str | None = None  # --default-repo / HOIST_DEFAULT_REPO, over the config's
    builder: str | None = None  # one builder for every artifact, over the config's choice
    concurrency: int | None = None
    platform: Platform | None = None
    store_root: Path | None = None
    cache: bool = True
    only: Sequence[str] = ()  # artifact names or images to build (with what they require)
    tag: str | None = None  # a fixed tag, over the tag policy
    authfile: str | None = None
    insecure_registries: Sequence[str] = ()
    log: ArtifactLog = _no_log
    env: Mapping[str, str] | None = None
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a built image came from, as the render annotation records it."""

    commit: str | None
    dirty: bool | None
    input_digest: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"inputDigest": self.input_digest}
        if self.commit is not None:
            out["git"] = {"commit": self.commit, "dirty": bool(self.dirty)}
        return out


@dataclass(frozen=True, slots=True)
class ArtifactResult:
    """What became of one artifact: the tag and digest it got, the builder, whether it
    came from the cache and was pushed."""

    artifact: str
    image: str  # the image name as the config (and the manifests) write it
    repository: str  # where it went, after --default-repo
    tag: str
    digest: Digest
    policy: PullPolicy | None
    builder: str
    pushed: bool
    cached: bool
    origin: Origin
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"

    def build_json_entry(self) -> dict[str, Any]:
        # Skaffold's build.json entry is {imageName, tag}; readers ignore other keys, so
        # hoist's origin rides along for `hoist render`.
        return {"imageName": self.image, "tag": self.reference,
                "origin": self.origin.to_json()}

    def to_json(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "imageName": self.image,
                "repository": self.repository, "tag": self.tag, "digest": str(self.digest),
                "reference": self.reference,
                "policy": self.policy.value if self.policy else None,
                "builder": self.builder, "pushed": self.pushed, "cached": self.cached,
                "origin": self.origin.to_json(),
                "timings": {k: round(v, 4) for k, v in self.timings.items()}}


@dataclass(frozen=True, slots=True)
class BuildReport:
    """The results of one build, in the config's artifact order."""

    results: tuple[ArtifactResult, ...]

    def build_json(self) -> dict[str, Any]:
        return {"builds": [r.build_json_entry() for r in self.results]}


# -- small decisions ------------------------------------------------------------------------


def should_push(policy: PullPolicy | None, push: bool | None, config_push: bool | None) -> bool:
    """Never: no push (the node loads it from the store). Otherwise the flag, then the
    config's build.local.push, then yes."""
    if policy is PullPolicy.NEVER:
        return False
    if push is not None:
        return push
    return True if config_push is None else config_push


def image_repository(image: str, default_repo: str | None) -> str:
    """The repository an artifact is pushed to: its image without tag or digest, moved
    under the default repo (Skaffold's rules), normalized."""
    try:
        bare = str(parse_normalized_named(image).name)
    except ReferenceError as e:
        raise InputError(f"artifact image {image!r}: {e}") from None
    if not default_repo:
        return bare
    from hoist.tag.defaultrepo import apply_default_repo

    # Skaffold applies the default repo to the image as written (`app`, not
    # `docker.io/library/app`), tag and digest dropped; the result is normalized after.
    written = image.split("@", 1)[0]
    last = written.rsplit("/", 1)[-1]
    if ":" in last:
        written = written[: len(written) - len(last)] + last.split(":", 1)[0]
    moved = apply_default_repo(default_repo, written)
    try:
        return str(parse_normalized_named(moved).name)
    except ReferenceError as e:
        raise InputError(f"--default-repo {default_repo!r} gives {moved!r}: {e}") from None


def build_order(artifacts: Sequence[Artifact]) -> list[list[Artifact]]:
    """Artifacts in waves: each wave needs only artifacts of earlier waves."""
    by_image = {a.image: a for a in artifacts}
    done: set[str] = set()
    waves: list[list[Artifact]] = []
    pending = list(artifacts)
    while pending:
        wave = [a for a in pending if all(r.image in done or r.image not in by_image
                                          for r in a.requires)]
        if not wave:
            names = ", ".join(a.name for a in pending)
            raise InputError(f"build.artifacts: requires form a cycle among {names}")
        waves.append(wave)
        done.update(a.image for a in wave)
        pending = [a for a in pending if a not in wave]
    return waves


def with_requirements(artifacts: Sequence[Artifact], only: Sequence[str]) -> list[Artifact]:
    """The artifacts named in ``only`` (by name or image) plus what they require."""
    if not only:
        return list(artifacts)
    by_image = {a.image: a for a in artifacts}
    wanted: dict[str, Artifact] = {}
    for key in only:
        found = [a for a in artifacts if key in (a.name, a.image)]
        if not found:
            names = ", ".join(a.name for a in artifacts) or "none"
            raise InputError(f"no artifact named {key!r} (artifacts: {names})")
        stack = found
        while stack:
            a = stack.pop()
            if a.image in wanted:
                continue
            wanted[a.image] = a
            stack.extend(by_image[r.image] for r in a.requires if r.image in by_image)
    return [a for a in artifacts if a.image in wanted]


def choose_builder(artifact: Artifact, dockerfile: Path, target: str | None,
                   override: str | None, builders: Mapping[str, Builder]) -> Builder:
    """The configured builder, or on auto: native when the Dockerfile allows it, else the
    first of buildah, podman, docker that can run here."""
    # Skaffold's `docker:` section says how a Dockerfile is built, not which tool builds it:
    # hoist picks one unless the flag or the artifact's `hoist: {builder: …}` names it.
    wanted = override or artifact.hoist_builder or "auto"
    if wanted != "auto":
        builder = builders.get(wanted)
        if builder is None:
            raise InputError(f"{artifact.name}: unknown builder {wanted!r} "
                             f"(builders: {', '.join(sorted(builders))}, auto)")
        reason = builder.unavailable()
        if reason:
            raise BuildError(f"{artifact.name}: builder {wanted} cannot run here: {reason}")
        return builder
    from hoist.build.dockerfile import load_dockerfile
    from hoist.build.native import needs_other_builder

    refusal = needs_other_builder(load_dockerfile(dockerfile), target)
    if refusal is None:
        return builders["native"]
    tried: list[str] = []
    for name in ("buildah", "podman", "docker"):
        candidate = builders.get(name)
        if candidate is None:
            continue
        reason = candidate.unavailable()
        if reason is None:
            return candidate
        tried.append(f"{name}: {reason}")
    raise BuildError(f"{artifact.name}: {refusal}; and no other builder can run here "
                     f"({'; '.join(tried)})")


class _Lazy:
    """A builder made on first use: the external builders' module (and the HTTP stack it
    imports) is not loaded by a build that never needs it."""

    def __init__(self, name: str, make: Callable[[], Builder]) -> None:
        self.name = name
        self._make = make
        self._builder: Builder | None = None

    def _get(self) -> Builder:
        if self._builder is None:
            self._builder = self._make()
        return self._builder

    def unavailable(self) -> str | None:
        return self._get().unavailable()

    def build(self, request: BuildRequest) -> BuiltImage:
        return self._get().build(request)


def _external(name: str) -> Builder:
    from hoist.build import external

    made: Builder = {"buildah": external.BuildahBuilder, "podman": external.PodmanBuilder,
                     "docker": external.DockerBuilder}[name]()
    return made


class _LazyNative(_Lazy):
    """The native builder, made on first build: it can always run, so asking whether it
    can does not load it (nor the Dockerfile parser and layer writer behind it), and an
    artifact the cache answers never does."""

    def unavailable(self) -> str | None:
        return None


def _native() -> Builder:
    from hoist.build.native import NativeBuilder

    return NativeBuilder()


def default_builders() -> dict[str, Builder]:
    return {"native": _LazyNative("native", _native),
            **{name: _Lazy(name, lambda name=name: _external(name))  # type: ignore[misc]
               for name in ("buildah", "podman", "docker")}}


# -- the artifact cache ----------------------------------------------------------------------


class ArtifactCache:
    """input key → built manifest digest, one small file per key under the store, so an
    unchanged artifact is not built again (Skaffold's ~/.skaffold/cache, per store)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> Digest | None:
        try:
            return Digest.parse(json.loads(self._path(key).read_text())["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, digest: Digest) -> None:
        write_atomically(self._path(key), json.dumps({"digest": str(digest)}).encode(),
                         durable=False)


# -- the runner ------------------------------------------------------------------------------


class _Run:
    def __init__(self, config: Config, options: BuildOptions,
                 builders: Mapping[str, Builder] | None) -> None:
        from hoist.tag.policies import tagger_from_config

        self.config = config
        self.options = options
        self.env = dict(options.env if options.env is not None else os.environ)
        self.builders = dict(builders) if builders is not None else default_builders()
        self.store_root = Path(options.store_root) if options.store_root else \
            ContentStore().root
        self.cache = ArtifactCache(self.store_root / "build-cache" / "artifacts")
        self.tagger = tagger_from_config(config.tag_policy)
        self.default_repo = options.default_repo or self.env.get("HOIST_DEFAULT_REPO") or \
            config.default_repo
        self.insecure = frozenset(options.insecure_registries) | frozenset(
            config.insecure_registries)
        self.platform = options.platform or host_platform()
        self.results: dict[str, ArtifactResult] = {}

    def run(self) -> BuildReport:
        artifacts = with_requirements(self.config.artifacts, self.options.only)
        for a in artifacts:
            a.require_buildable()
        waves = build_order(artifacts)
        limit = self.options.concurrency
        if limit is None:
            limit = self.config.local.concurrency
        workers = limit if limit and limit > 0 else max(1, len(artifacts))
        if workers == 1 or all(len(wave) == 1 for wave in waves):
            # One artifact at a time: no thread hop, and no thread pool (whose import
            # brings in logging) for the dev loop's usual single artifact.
            for wave in waves:
                for a in wave:
                    self.results[a.image] = self.one(a)
        else:
            self._run_parallel(waves, workers)
        return BuildReport(tuple(self.results[a.image] for a in artifacts))

    def _run_parallel(self, waves: list[list[Artifact]], workers: int) -> None:
        import concurrent.futures as cf

        with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hoist-build") as ex:
            for wave in waves:
                if len(wave) == 1:
                    self.results[wave[0].image] = self.one(wave[0])
                    continue
                futures = {ex.submit(self.one, a): a for a in wave}
                error: BaseException | None = None
                for fut in cf.as_completed(futures):
                    try:
                        self.results[futures[fut].image] = fut.result()
                    except BaseException as e:  # first failure wins; the rest finish
                        error = error or e
                if error is not None:
                    raise error

    def log(self, artifact: Artifact) -> Callable[[str], None]:
        return lambda line: self.options.log(artifact.name, line)

    def one(self, artifact: Artifact) -> ArtifactResult:
        from hoist.tag.git import git_info
        from hoist.tag.policies import TagContext, current_user

        log = self.log(artifact)
        t0 = time.perf_counter()
        base = Path(self.config.directory)
        context = (base / artifact.context).resolve()
        if not context.is_dir():
            raise InputError(f"{self.config.path}: artifact {artifact.name}: context "
                             f"{artifact.context!r} is not a directory")
        docker = artifact.docker
        dockerfile = context / (docker.dockerfile if docker else "Dockerfile")
        if not dockerfile.is_file():
            raise InputError(f"{self.config.path}: artifact {artifact.name}: no Dockerfile at "
                             f"{dockerfile}")
        target = docker.target if docker else None
        build_args = self._build_args(artifact, docker)
        repository = image_repository(artifact.image, self.default_repo)
        store = ContentStore(self.store_root)
        try:
            matcher = IgnoreMatcher.for_context(context, dockerfile)
            digests = DigestCache(self.store_root / "build-cache" / "context" /
                                  (hashlib.sha256(str(context).encode()).hexdigest()[:32]))
            entries = scan_context(context, matcher, digests)
            digests.save()
            extra = {"target": target or "", **{f"arg:{k}": v if v is not None else "\0"
                                                for k, v in build_args.items()}}
            digest_hex = input_digest(entries, dockerfile.read_bytes(), extra)
            git = git_info(context)
            untracked = False
            if git is not None and not git.dirty:
                from hoist.tag.git import untracked_inputs

                rels = [e.rel for e in entries if e.kind != "dir"]
                if dockerfile.is_relative_to(context):
                    rels.append(dockerfile.relative_to(context).as_posix())
                # Files the image takes that no commit holds (ignored or new): hoist's
                # default tag and the origin then count the tree as dirty. Skaffold's own
                # gitCommit policy keeps git status's answer, as Skaffold does.
                untracked = untracked_inputs(context, rels)
            tag = self.options.tag or self._tag(artifact, TagContext(
                image=repository, context=context, input_digest=lambda: digest_hex,
                env=self.env, now=self.options.now or datetime.now().astimezone(),
                user=current_user(self.env), git=lambda: git,
                untracked_inputs=lambda: untracked))
            self._check_tag(artifact, tag)
            builder = choose_builder(artifact, dockerfile, target, self.options.builder,
                                     self.builders)
            key = hashlib.sha256("\0".join([
                CACHE_VERSION, digest_hex, repository, builder.name, str(self.platform),
            ]).encode()).hexdigest()
            name = f"{repository}:{tag}"
            t_scan = time.perf_counter()
            cached = self._from_cache(store, key, name) if self.options.cache else None
            if cached is not None:
                digest = cached
                log(f"cached: {name}@{digest} (inputs unchanged)")
            else:
                log(f"building {name} with {builder.name}")
                built: BuiltImage = builder.build(BuildRequest(
                    artifact=artifact.name, repository=repository, tag=tag, context=context,
                    dockerfile=dockerfile, store=store, platform=self.platform,
                    target=target, build_args=build_args,
                    insecure_registries=self.insecure, authfile=self.options.authfile,
                    log=log, entries=entries))
                digest = built.digest
                if self.options.cache:
                    self.cache.put(key, digest)
                log(f"built {name}@{digest} ({built.layers_built} of {built.layers_total} "
                    f"layers new)")
            t_build = time.perf_counter()
            policy = artifact.pull_policy
            pushed = False
            if should_push(policy, self.options.push, self.config.local.push):
                pushed = self._push(store, artifact, name, repository, tag, digest, policy,
                                    fresh=cached is None)
            elif policy is PullPolicy.NEVER:
                log(f"not pushed: imagePullPolicy Never; {name} stays in the local store "
                    f"for the node to load")
            t_push = time.perf_counter()
        finally:
            store.close()
        return ArtifactResult(
            artifact.name, artifact.image, repository, tag, digest, policy, builder.name,
            pushed, cached is not None,
            Origin(git.commit if git else None, (git.dirty or untracked) if git else None,
                   digest_hex),
            {"scan": t_scan - t0, "build": t_build - t_scan, "push": t_push - t_build})

    def _build_args(self, artifact: Artifact, docker: DockerSpec | None
                    ) -> dict[str, str | None]:
        """The artifact's buildArgs with ``{{.ENV}}`` templates filled in, plus one per
        ``requires`` alias set to the required artifact's built reference (Skaffold)."""
        raw: Mapping[str, str | None] = docker.build_args if docker else {}
        out: dict[str, str | None] = {}
        if raw:
            from hoist.tag.template import render_template
        for k, v in raw.items():
            try:
                out[k] = render_template(v, self.env) if v is not None else None
            except HoistError as e:
                raise InputError(f"{self.config.path}: {artifact.name}: buildArgs.{k}: {e}"
                                 ) from None
        for req in artifact.requires:
            done = self.results.get(req.image)
            if done is not None and req.alias:
                out[req.alias] = f"{done.repository}:{done.tag}@{done.digest}"
        return out

    def _tag(self, artifact: Artifact, ctx: Any) -> str:
        from hoist.tag.policies import generate_tag

        result = generate_tag(self.tagger, ctx)
        if result.fallback:
            self.log(artifact)(f"tag policy {result.policy} failed ({result.fallback}); "
                               f"tagged {result.tag!r} instead, as Skaffold does")
        return result.tag

    def _check_tag(self, artifact: Artifact, tag: str) -> None:
        from hoist.core.reference import ANCHORED_TAG_RE

        if not ANCHORED_TAG_RE.fullmatch(tag):
            raise InputError(f"{artifact.name}: {tag!r} is not a valid tag")

    def _from_cache(self, store: ContentStore, key: str, name: str) -> Digest | None:
        digest = self.cache.get(key)
        if digest is None or not store.blobs.has(digest):
            return None
        manifest = store.manifest(digest)
        if store.missing_content(manifest):
            return None
        with store.writing():
            store.record(name, manifest)
        return digest

    def _check_tag_move(self, artifact: Artifact, repository: str, tag: str, current: str,
                        digest: Digest) -> None:
        """A tag is never moved to another digest unless forced."""
        if current == str(digest):
            return
        if not self.options.force_tag:
            raise TagCollision(
                f"{artifact.name}: refusing to move tag {repository}:{tag} from {current} to "
                f"{digest}: another build already owns it (use --force-tag to move it)")
        self.log(artifact)(f"moving {repository}:{tag} from {current} (--force-tag)")

    def _quick_push(self, store: ContentStore, artifact: Artifact, repository: str, tag: str,
                    digest: Digest, policy: PullPolicy | None, fresh: bool) -> bool:
        """The push over anonymous plain requests (registry.probe): what a local dev
        registry needs, without the full client's start-up. False when the registry wants
        more (credentials, redirects) or the upload is big; the full client then pushes.
        ``fresh``: the image was just built, so its new blobs go up while the tag is
        checked (the check decides whether the manifest is PUT; a blob no manifest names
        is harmless)."""
        from hoist.build.pushed import BlobUpload, PushedBlobs
        from hoist.registry.probe import ProbeUnavailable, QuickSession

        registry, _, path = repository.partition("/")
        if registry == "docker.io":
            return False  # Docker Hub wants a token even for a HEAD
        log = self.log(artifact)
        manifest = store.manifest(digest)
        insecure = registry in self.insecure

        def session() -> QuickSession:
            return QuickSession(registry, insecure=insecure)

        record = PushedBlobs(self.store_root / "build-cache" / "pushed", registry, path)
        early: BlobUpload | None = None
        if fresh:
            unknown = [d for d in manifest.blobs() if str(d.digest) not in record.known()]
            if unknown and sum(d.size for d in unknown) <= QUICK_PUSH_LIMIT:
                early = BlobUpload(session, path, store, unknown)
        try:
            with session() as quick:
                try:
                    current = quick.manifest_digest(path, tag)
                finally:  # the tag's answer, or its error, comes first
                    uploaded = _outcome(early)
                if current is not None:
                    self._check_tag_move(artifact, repository, tag, current, digest)
                if current == str(digest):
                    log(f"registry already has {repository}:{tag}@{digest}")
                else:
                    sent = self._quick_blobs(quick, session, path, store, manifest,
                                             record.known(), uploaded)
                    if sent is None:
                        return False
                    try:
                        quick.put_manifest(path, tag, manifest.media_type, manifest.raw)
                    except ProbeUnavailable:
                        if not record.known():
                            raise
                        # The record said blobs were there that the registry no longer
                        # has (wiped, garbage-collected): ask about every one, again.
                        record.forget()
                        more = self._quick_blobs(quick, session, path, store, manifest,
                                                 frozenset())
                        if more is None:
                            return False
                        sent += more
                        quick.put_manifest(path, tag, manifest.media_type, manifest.raw)
                    record.remember(str(d.digest) for d in manifest.blobs())
                    log(f"pushed {repository}:{tag}@{digest} "
                        f"({sum(d.size for d in sent)} bytes in {len(sent)} blobs, "
                        f"{len(manifest.blobs()) - len(sent)} already there)")
                if policy is PullPolicy.ALWAYS:
                    served = quick.manifest_digest(path, str(digest))
                    if served != str(digest):
                        raise OperationError(f"{artifact.name}: the registry does not serve "
                                             f"{repository}@{digest} after the push")
                    log(f"verified: the registry serves {repository}@{digest} "
                        "(policy Always)")
        except ProbeUnavailable:
            return False
        return True

    @staticmethod
    def _quick_blobs(quick: QuickSession, session: Callable[[], QuickSession], path: str,
                     store: ContentStore, manifest: Manifest, known: frozenset[str],
                     uploaded: list[Descriptor] | Exception | None = None
                     ) -> list[Descriptor] | None:
        """Upload the manifest's blobs the registry lacks, skipping those in ``known``
        (pushed before): the blobs uploaded, or None when the upload would be too big for
        the quick path (the full client streams it instead). ``uploaded``: what an upload
        started earlier gave (its blobs, or its error), if one was."""
        from hoist.build.pushed import BlobUpload

        if isinstance(uploaded, Exception):
            raise uploaded
        if uploaded is not None:
            return uploaded
        unknown = [d for d in manifest.blobs() if str(d.digest) not in known]
        if sum(d.size for d in unknown) <= QUICK_PUSH_LIMIT:
            return BlobUpload(session, path, store, unknown, first=quick).wait()
        # Big blobs among them: ask first, and go on only if what is missing is small.
        missing = [d for d in unknown if not quick.has_blob(path, str(d.digest))]
        if sum(d.size for d in missing) > QUICK_PUSH_LIMIT:
            return None
        for d in missing:
            quick.put_blob(path, str(d.digest), store.blobs.read(d.digest))
        return missing

    def _push(self, store: ContentStore, artifact: Artifact, name: str, repository: str,
              tag: str, digest: Digest, policy: PullPolicy | None, *, fresh: bool = False
              ) -> bool:
        if self._quick_push(store, artifact, repository, tag, digest, policy, fresh):
            return True
        from hoist.transfer.copy import Options, copy_image, run
        from hoist.transfer.names import ImageName, parse_reference

        log = self.log(artifact)
        dst = ImageName("docker", parse_reference(f"{repository}:{tag}"))
        src = ImageName("store", parse_reference(name))
        options = Options(store=store, authfile=self.options.authfile,
                          insecure=dst.registry in self.insecure)

        async def push(session: Any) -> bool:
            current = await session.destination(dst).current()
            if current is not None:
                self._check_tag_move(artifact, repository, tag, str(current.digest), digest)
            moved = False
            if current is None or current.digest != digest:
                result = await copy_image(session, src, dst)
                log(f"pushed {repository}:{tag}@{digest} ({result.bytes_copied} bytes, "
                    f"{result.blobs.get('exists', 0)} blobs already there)")
                moved = True
            else:
                log(f"registry already has {repository}:{tag}@{digest}")
            if policy is PullPolicy.ALWAYS:
                by_digest = ImageName("docker", parse_reference(f"{repository}@{digest}"))
                served = await session.source(by_digest).resolve()
                if served.digest != digest:
                    raise OperationError(f"{artifact.name}: the registry serves {served.digest}"
                                         f" for {repository}@{digest}")
                log(f"verified: the registry serves {repository}@{digest} (policy Always)")
            return moved or current is not None

        try:
            return bool(run(push, options))
        except HoistError:
            raise
        except OSError as e:
            raise OperationError(f"{artifact.name}: push to {repository}:{tag}: {e}") from None


def _outcome(upload: BlobUpload | None) -> list[Descriptor] | Exception | None:
    """How an upload started in the background ended: its blobs, or its error."""
    if upload is None:
        return None
    try:
        return upload.wait()
    except Exception as e:
        return e


def build_artifacts(config: Config, options: BuildOptions | None = None,
                    builders: Mapping[str, Builder] | None = None) -> BuildReport:
    """``hoist build``: every artifact (or ``options.only``), in ``requires`` order,
    ``build.local.concurrency`` at a time."""
    return _Run(config, options or BuildOptions(), builders).run()


def write_build_json(report: BuildReport | Sequence[Mapping[str, Any]],
                     path: str | Path) -> None:
    """Skaffold's build.json from a report, or from its entries (``{imageName, tag}``)."""
    doc = report.build_json() if isinstance(report, BuildReport) else \
        {"builds": list(report)}
    write_atomically(Path(path), (json.dumps(doc, indent=2) + "\n").encode())


def read_build_json(path: str | Path) -> list[dict[str, Any]]:
    """Skaffold's build.json: ``{"builds": [{"imageName", "tag"}, …]}``; every tag must
    be a valid reference."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not JSON: {e}") from None
    builds = data.get("builds") if isinstance(data, dict) else None
    if not isinstance(builds, list):
        raise InputError(f"{path}: want {{\"builds\": [{{\"imageName\", \"tag\"}}, …]}}")
    out: list[dict[str, Any]] = []
    for i, b in enumerate(builds):
        if not isinstance(b, dict) or not isinstance(b.get("imageName"), str) or \
                not isinstance(b.get("tag"), str):
            raise InputError(f"{path}: builds[{i}] needs string imageName and tag")
        try:
            parse_normalized_named(b["tag"])
        except ReferenceError as e:
            raise InputError(f"{path}: builds[{i}].tag {b['tag']!r}: {e}") from None
        out.append(b)
    return out
