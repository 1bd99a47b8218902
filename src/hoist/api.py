"""hoist as a library: every CLI verb is one of these functions.

Inputs are paths (files, directories, ``-`` for stdin) and, optionally, a config file;
results are typed values. Files that cannot be read or parsed do not stop the others:
they come back in ``problems``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hoist.config import Config, find_config, load_config
from hoist.core.policy import PullPolicy
from hoist.errors import InputError
from hoist.images import ImageFields, parse_image
from hoist.manifests.source import DocumentFilter, SourceFile, SourceProblem, read_sources

# Each verb imports its own machinery when called, so that one command's start-up does
# not pay for all the others' (the docker-registry Secret lives in hoist.auth).
if TYPE_CHECKING:
    from hoist.explain import ExplainRow
    from hoist.lint import Finding
    from hoist.manifests.rewrite import RenderedFile
    from hoist.store import ImageRecord
    from hoist.transfer import CopyResult
    from hoist.transfer import Options as TransferOptions

__all__ = [
    "ExplainResult",
    "ImageFields",
    "LintResult",
    "RenderResult",
    "copy",
    "explain",
    "lint",
    "parse_image",
    "pull",
    "push",
    "read_inputs",
    "render",
    "resolve_config",
    "store_images",
]


@dataclass(slots=True)
class Inputs:
    files: list[SourceFile]
    problems: list[SourceProblem]
    config: Config | None


@dataclass(slots=True)
class ExplainResult:
    rows: list[ExplainRow]
    problems: list[SourceProblem] = field(default_factory=list)
    config: Config | None = None


@dataclass(slots=True)
class LintResult:
    findings: list[Finding]
    problems: list[SourceProblem] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        from hoist.lint import has_errors

        return has_errors(self.findings)


@dataclass(slots=True)
class RenderResult:
    files: list[RenderedFile]
    problems: list[SourceProblem] = field(default_factory=list)

    @property
    def changed(self) -> list[RenderedFile]:
        return [f for f in self.files if f.changed]


def resolve_config(config: str | None, paths: Sequence[str]) -> Config | None:
    """``config`` if given; else, when no paths are given, hoist.yaml or skaffold.yaml in
    the current directory if one exists."""
    path = config or (find_config() if not paths else None)
    return load_config(path) if path else None


def read_inputs(
    paths: Sequence[str],
    cfg: Config | None = None,
    want: DocumentFilter | None = None,
    stdin: bytes | None = None,
) -> Inputs:
    """The manifests to work on: ``paths``, or the config's manifests when none given."""
    chosen = list(paths) or (cfg.manifest_paths() if cfg else [])
    if not chosen:
        raise InputError("no manifests given: name files or directories, '-' for stdin, "
                         "or a config (--config FILE)")
    files, problems = read_sources(chosen, stdin=stdin, want=want)
    return Inputs(files, problems, cfg)


def explain(paths: Sequence[str] = (), config: str | None = None,
            stdin: bytes | None = None,
            builds: Sequence[Mapping[str, object]] | None = None) -> ExplainResult:
    """``builds``: build.json entries, so each artifact's row shows its built reference."""
    from hoist.explain import document_wanted
    from hoist.explain import explain as explain_sources

    inputs = read_inputs(paths, resolve_config(config, paths), document_wanted, stdin)
    built: dict[str, str] = {}
    for b in builds or ():
        artifact = inputs.config.artifact_for(str(b["imageName"])) if inputs.config else None
        built[artifact.name if artifact else str(b["imageName"])] = str(b["tag"])
    return ExplainResult(explain_sources(inputs.files, inputs.config, built), inputs.problems,
                         inputs.config)


def lint(paths: Sequence[str] = (), config: str | None = None, local_cluster: bool = False,
         stdin: bytes | None = None) -> LintResult:
    from hoist.lint import LintOptions, document_wanted
    from hoist.lint import lint as lint_sources

    inputs = read_inputs(paths, resolve_config(config, paths), document_wanted, stdin)
    opts = LintOptions(local_cluster=local_cluster, config=inputs.config)
    return LintResult(lint_sources(inputs.files, opts), inputs.problems)


def render(
    paths: Sequence[str] = (),
    images: Mapping[str, str] | Sequence[str] = (),
    config: str | None = None,
    pull_policy: PullPolicy | None = None,
    override: bool = False,
    stdin: bytes | None = None,
    builds: Sequence[Mapping[str, object]] | None = None,
    digest_source: str = "local",
    annotate: bool = True,
) -> RenderResult:
    """``images`` maps a repository (or config artifact) to its built reference; a list of
    ``ARTIFACT=REF`` strings is accepted too. ``builds`` are build.json entries
    (``imageName``, ``tag``); ``digest_source`` as ``hoist render --digest-source``."""
    from hoist.render import build_rules, document_filter, parse_image_args, rules_from_builds
    from hoist.render import render as render_sources

    image_map = dict(images) if isinstance(images, Mapping) else parse_image_args(images)
    cfg = resolve_config(config, paths)
    rules = build_rules(image_map, cfg, pull_policy, override)
    if builds is not None:
        rules += rules_from_builds(builds, cfg, digest_source,
                                   _remote_digest if digest_source == "remote" else None,
                                   annotate)
    want: DocumentFilter = document_filter(rules) if rules else _nothing
    inputs = read_inputs(paths, cfg, want, stdin)
    return RenderResult(render_sources(inputs.files, rules), inputs.problems)


def _remote_digest(ref: str) -> str:
    """The digest a registry serves for ``ref`` now (one HEAD)."""
    from hoist.transfer.ops import resolve

    return str(resolve(ref).digest)


def _nothing(piece: str) -> bool:
    return False


# ---------------------------------------------------------------------- images
# The image verbs live in hoist.transfer (copy and reads) and hoist.store; these are their
# CLI-shaped entry points. ``options`` is a hoist.transfer.Options (credentials, platform,
# parallelism, store directory, progress).


def copy(src: str, dst: str, options: TransferOptions | None = None) -> CopyResult:
    """``hoist copy SRC DST``: transports ``docker://REF``, ``oci:DIR[:TAG]``, ``store:REF``."""
    from hoist.transfer import copy as _copy

    return _copy(src, dst, options)


def pull(ref: str, options: TransferOptions | None = None) -> CopyResult:
    """``hoist pull REF``: the registry image into the store under its own name."""
    from hoist.transfer import pull as _pull

    return _pull(ref, options)


def push(src: str, ref: str, options: TransferOptions | None = None) -> CopyResult:
    """``hoist push SRC REF``: a store image (bare name or ``store:``) or ``oci:`` layout to
    the registry reference ``ref``."""
    from hoist.transfer import push as _push

    return _push(src, ref, options)


def store_images(store: str | None = None) -> list[ImageRecord]:
    """``hoist images``: what the store holds."""
    from hoist.store import ContentStore

    with ContentStore(store) as s:
        return s.images()
