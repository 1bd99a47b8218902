"""After the status check: does every container of hoist's images run the digest hoist
built? The node's answer is the container status ``imageID``; this compares it with the
build and, when they differ, names the likeliest reason from the reference and its pull
policy. Pure: fed with pods as the API serves them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hoist.core.digest import Digest, DigestError
from hoist.core.policy import PullPolicy, default_pull_policy
from hoist.core.reference import ReferenceError, parse_normalized_named, repository_name

NOT_RUNNING = "not running yet"
LOADED_IMAGE = ("the runtime reports an image ID, not a repository digest: the image was "
                "loaded or built on the node rather than pulled, so the node cannot show "
                "which manifest it came from")
PINNED = ("the runtime reports another digest for a pinned reference: the registry served "
          "different content or the node's image record is stale")
NEVER = ("the node holds another image under {image} and pull policy Never loads nothing: "
         "load the built image onto the node before the deploy")
ALWAYS = ("the node pulled {image} with policy Always and got another digest: the tag "
          "moved in the registry after hoist pushed it")
GENERIC = ("the node runs another image under {image} than the one built: the tag moved, "
           "or the node's copy predates the push")
STALE_TAG = ("the node already had {image} from an earlier push and IfNotPresent did not "
             "pull: push under a new tag or pin the digest")

# Container runtimes prefix imageID with a scheme: cri-dockerd (and dockershim before it)
# "docker-pullable://repo@sha256:…" or "docker://sha256:…"; containerd and CRI-O give
# "repo@sha256:…", or the bare image ID "sha256:…" for an image without a repository
# digest.
_SCHEME_SEP = "://"


@dataclass(frozen=True)
class ImageMismatch:
    namespace: str
    pod: str
    container: str
    image: str  # as the pod spec writes it
    expected_digest: str
    running_digest: str  # "" when nothing runs yet
    likely_cause: str


def image_id_digest(image_id: str) -> str:
    """The digest in a container status ``imageID`` (``docker-pullable://repo@sha256:…``,
    ``repo@sha256:…``, ``sha256:…``), or "" when it holds none."""
    text = image_id.strip()
    if _SCHEME_SEP in text:
        text = text.split(_SCHEME_SEP, 1)[1]
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    try:
        return str(Digest.parse(text))
    except DigestError:
        return ""


def image_id_is_repo_digest(image_id: str) -> bool:
    """Whether ``imageID`` names a repository's manifest digest (``repo@sha256:…``), as
    opposed to the runtime's bare image ID (a config digest)."""
    text = image_id.strip()
    if _SCHEME_SEP in text:
        text = text.split(_SCHEME_SEP, 1)[1]
    return "@" in text and bool(image_id_digest(image_id))


def matches_repository(image: str, repository: str) -> bool:
    """Whether ``image`` (as written in a manifest) is of ``repository``, tag and digest
    ignored, both normalized (``nginx`` is ``docker.io/library/nginx``)."""
    return repository_name(image) == repository_name(repository)


def _normalize_digest(value: str) -> str:
    text = value.strip()
    try:
        return str(Digest.parse(text))
    except DigestError:
        pass
    try:
        return str(Digest.parse(f"sha256:{text}"))
    except DigestError:
        return text


def _policy(container: Mapping[str, Any]) -> PullPolicy:
    value = container.get("imagePullPolicy")
    try:
        return PullPolicy(str(value)) if value else default_pull_policy(
            str(container.get("image") or ""))
    except ValueError:
        return default_pull_policy(str(container.get("image") or ""))


def likely_cause(image: str, policy: PullPolicy, image_id: str) -> str:
    """Why a container would run another digest than the one built."""
    if not image_id.strip():
        return NOT_RUNNING
    if not image_id_digest(image_id):
        return f"the runtime reports imageID {image_id!r}, which holds no digest"
    if not image_id_is_repo_digest(image_id):
        return LOADED_IMAGE
    try:
        pinned = parse_normalized_named(image).digest is not None
    except ReferenceError:
        pinned = False
    if pinned:
        return PINNED
    if policy is PullPolicy.IF_NOT_PRESENT:
        return STALE_TAG.format(image=image)
    if policy is PullPolicy.NEVER:
        return NEVER.format(image=image)
    if policy is PullPolicy.ALWAYS:
        return ALWAYS.format(image=image)
    return GENERIC.format(image=image)


def verify_running(pods: Sequence[Mapping[str, Any]],
                   expected: Mapping[str, str]) -> list[ImageMismatch]:
    """Every container (init, regular, ephemeral) of ``pods`` whose image is one of the
    repositories in ``expected`` (repository → the digest hoist built) must report that
    digest in its status; the ones that do not, in pod and container order."""
    wanted = {repository_name(repo): _normalize_digest(d) for repo, d in expected.items()}
    out: list[ImageMismatch] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        for spec_key, status_key in (("initContainers", "initContainerStatuses"),
                                     ("containers", "containerStatuses"),
                                     ("ephemeralContainers", "ephemeralContainerStatuses")):
            statuses = {str(s.get("name")): s for s in status.get(status_key) or []
                        if isinstance(s, Mapping)}
            for c in spec.get(spec_key) or []:
                if not isinstance(c, Mapping):
                    continue
                image = str(c.get("image") or "")
                digest = wanted.get(repository_name(image))
                if digest is None:
                    continue
                image_id = str((statuses.get(str(c.get("name"))) or {}).get("imageID") or "")
                running = image_id_digest(image_id)
                if running == digest:
                    continue
                out.append(ImageMismatch(
                    str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                    str(c.get("name") or ""), image, digest, running,
                    likely_cause(image, _policy(c), image_id)))
    return out


def format_mismatch(m: ImageMismatch) -> str:
    """One line: the pod and container, both digests, the likely cause."""
    running = m.running_digest or "nothing"
    return (f"pod {m.namespace}/{m.pod} container {m.container} ({m.image}) runs {running}, "
            f"hoist built {m.expected_digest}: {m.likely_cause}")
