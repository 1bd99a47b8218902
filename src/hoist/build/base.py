"""What every builder takes and gives back.

A builder turns one artifact (a context directory and a Dockerfile) into an image in
hoist's content store, named ``<repository>:<tag>``. Pushing, tag-collision checks and the
artifact cache are the runner's business, the same for every builder: a builder only
builds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from hoist.core.digest import Digest
from hoist.core.platform import Platform
from hoist.errors import OperationError
from hoist.store.store import ContentStore

if TYPE_CHECKING:
    from hoist.build.context import ContextEntry

LogFn = Callable[[str], None]


def _discard(line: str) -> None:
    del line


class BuildError(OperationError):
    """A build that failed; the message names the artifact and, where one is at fault,
    the Dockerfile line (``Dockerfile:7: …``)."""


class BuilderUnavailable(BuildError):
    """The builder cannot run here (tool not installed, daemon not answering)."""


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """One artifact for a builder: context, Dockerfile, target, build args, and the name
    the image gets in the store."""

    artifact: str  # the artifact's name in the config (its image when the list form has none)
    repository: str  # normalized repository the image is named under, no tag
    tag: str
    context: Path  # absolute
    dockerfile: Path  # absolute
    store: ContentStore
    platform: Platform
    target: str | None = None
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    # registries reached over plain HTTP / unverified TLS, for base images
    insecure_registries: frozenset[str] = frozenset()
    # docker config.json to read registry credentials from (None: the usual places)
    authfile: str | None = None
    log: LogFn = _discard  # one line of builder output at a time
    # the context as already scanned (ignore rules applied) by whoever computed the input
    # digest; a builder that reads files itself may use it instead of walking again
    entries: Sequence[ContextEntry] | None = None

    @property
    def name(self) -> str:
        """The store name the image is recorded under."""
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """The image a builder left in the store."""

    name: str  # store name, ``repository:tag``
    digest: Digest  # manifest digest
    config_digest: Digest
    media_type: str
    size: int  # manifest + config + layers, compressed
    layers_built: int = 0  # layers made by this build (the rest came from a cache or base)
    layers_total: int = 0


class Builder(Protocol):
    """One way to build. ``unavailable()`` says why it cannot run here, or None."""

    name: str

    def unavailable(self) -> str | None: ...

    def build(self, request: BuildRequest) -> BuiltImage: ...
