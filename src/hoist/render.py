"""``hoist render``: manifests with built references and injected pull policies.

Only containers whose image is a given artifact change; everything else in every file,
down to comments, quoting and document separators, stays byte for byte as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hoist.config import Config
from hoist.core.policy import PullPolicy
from hoist.core.reference import ReferenceError, parse_normalized_named, repository_name
from hoist.errors import InputError
from hoist.manifests.rewrite import ImageRule, RenderedFile, render_file, rules_by_repository
from hoist.manifests.source import DocumentFilter, SourceFile, kind_filter


def parse_image_args(pairs: Iterable[str]) -> dict[str, str]:
    """``ARTIFACT=REF`` pairs; the reference must parse (a bad one is an input error)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, ref = pair.partition("=")
        if not sep or not key or not ref:
            raise InputError(f"--images {pair!r}: want ARTIFACT=REFERENCE")
        try:
            parse_normalized_named(ref)
        except ReferenceError as e:
            raise InputError(f"--images {pair!r}: {ref!r} is not a valid reference: {e}") from None
        out[key] = ref
    return out


def build_rules(
    images: Mapping[str, str],
    config: Config | None = None,
    pull_policy: PullPolicy | None = None,
    override: bool = False,
) -> list[ImageRule]:
    """One rule per ``--images`` entry. A key may name a config artifact (by name or
    image); then that artifact's repository and pull policy apply. ``pull_policy`` is for
    entries the config does not cover."""
    rules: list[ImageRule] = []
    by_name = {a.name: a for a in config.artifacts} if config else {}
    for key, ref in images.items():
        artifact = by_name.get(key) or (config.artifact_for(key) if config else None)
        if artifact is not None:
            rules.append(ImageRule(artifact.image, ref,
                                   artifact.pull_policy or pull_policy,
                                   artifact.override_policy or override, artifact.name))
        else:
            rules.append(ImageRule(key, ref, pull_policy, override, key))
    return rules


DIGEST_SOURCES = ("local", "remote", "tag", "none")


def rules_from_builds(
    builds: Sequence[Mapping[str, Any]],
    config: Config | None = None,
    digest_source: str = "local",
    remote_digest: Callable[[str], str] | None = None,
    annotate: bool = True,
) -> list[ImageRule]:
    """Rules from build.json entries (``imageName`` → ``tag``, where tag is
    ``repo:tag@digest``), with each artifact's pull policy from the config.

    ``digest_source`` says where the pinned digest comes from: ``local`` the build's own
    (no network), ``remote`` what the registry serves for the tag now (``remote_digest``
    asks it), ``tag`` none (``repo:tag``), ``none`` no rewriting at all."""
    if digest_source not in DIGEST_SOURCES:
        raise InputError(f"--digest-source {digest_source!r}: want one of "
                         f"{', '.join(DIGEST_SOURCES)}")
    if digest_source == "none":
        return []
    rules: list[ImageRule] = []
    for b in builds:
        name, ref = str(b["imageName"]), str(b["tag"])
        try:
            parsed = parse_normalized_named(ref)
        except ReferenceError as e:
            raise InputError(f"build artifact {name!r}: tag {ref!r}: {e}") from None
        tag = parsed.tag
        digest = str(parsed.digest) if parsed.digest else ""
        familiar = ref.split("@", 1)[0]
        if tag and familiar.endswith(":" + tag):
            familiar = familiar[: -len(tag) - 1]
        tagged = f"{familiar}:{tag}" if tag else familiar
        if digest_source == "remote":
            if remote_digest is None:
                raise InputError("--digest-source remote needs a registry lookup")
            digest = remote_digest(tagged)
        elif digest_source == "tag":
            digest = ""
        new_image = f"{tagged}@{digest}" if digest else tagged
        artifact = config.artifact_for(name) if config else None
        origin: dict[str, object] | None = None
        if annotate:
            origin = {"artifact": artifact.name if artifact else name}
            if tag:
                origin["tag"] = tag
            if digest:
                origin["digest"] = digest
            extra = b.get("origin")
            if isinstance(extra, Mapping):
                origin.update({str(k): v for k, v in extra.items()})
        rules.append(ImageRule(artifact.image if artifact else name, new_image,
                               artifact.pull_policy if artifact else None,
                               artifact.override_policy if artifact else False,
                               artifact.name if artifact else name, origin))
    return rules


def document_filter(rules: Sequence[ImageRule]) -> DocumentFilter:
    """Parse only documents that mention the last path component of some rule's
    repository: every spelling of a repository contains it, and a document without any
    is returned untouched anyway."""
    needles = sorted({repository_name(r.repository).rsplit("/", 1)[-1] for r in rules})

    pod_kind = kind_filter()

    def wanted(piece: str) -> bool:
        # A backslash may be a double-quoted escape that spells the repository without
        # the needle (`image: "ngi\u006ex"` is nginx): such documents are parsed too.
        return ("\\" in piece or any(n in piece for n in needles)) and pod_kind(piece)

    return wanted


def render(sources: Sequence[SourceFile], rules: Sequence[ImageRule]) -> list[RenderedFile]:
    table = rules_by_repository(rules)
    return [render_file(s, table) for s in sources]
