"""Image names with a transport, spelled as skopeo spells them: ``docker://REF``,
``oci:DIR[:TAG]``, and hoist's own ``store:REF``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hoist.core.reference import Reference, ReferenceError, parse_normalized_named
from hoist.errors import InputError

TransportName = Literal["docker", "oci", "store"]
# skopeo's other transports: named so that a user of skopeo gets a clear refusal rather
# than a Docker Hub lookup of "docker-archive".
_OTHER_TRANSPORTS = frozenset({"docker-archive", "docker-daemon", "dir", "containers-storage",
                               "oci-archive", "sif", "tarball"})


@dataclass(frozen=True, slots=True)
class ImageName:
    """Where an image is: a registry reference, an OCI layout entry, or a store name."""

    transport: TransportName
    reference: Reference | None = None  # docker and store
    path: str = ""  # oci
    tag: str = ""  # oci

    def __str__(self) -> str:
        if self.transport == "oci":
            return f"oci:{self.path}" + (f":{self.tag}" if self.tag else "")
        assert self.reference is not None
        return f"{self.transport}{'://' if self.transport == 'docker' else ':'}{self.reference}"

    @property
    def repository(self) -> str:
        assert self.reference is not None
        return self.reference.path

    @property
    def registry(self) -> str:
        assert self.reference is not None
        return self.reference.domain

    @property
    def ref(self) -> str:
        """Tag or digest, as the registry API's ``<reference>`` takes it."""
        assert self.reference is not None
        return str(self.reference.digest) if self.reference.digest else self.reference.tag

    @property
    def store_key(self) -> str:
        """The name the store records: normalized, tag or digest kept."""
        assert self.reference is not None
        r = self.reference
        if r.tag:
            return f"{r.name}:{r.tag}"
        return str(r)


def parse_reference(text: str, what: str = "image reference") -> Reference:
    """A docker reference, normalized, with ``:latest`` when neither tag nor digest is
    given (as skopeo's docker transport does)."""
    try:
        ref = parse_normalized_named(text)
    except ReferenceError as e:
        raise InputError(f"{what} {text!r}: {e}") from None
    if not ref.tag and ref.digest is None:
        ref = ref.with_tag("latest")
    return ref


def parse_image_name(text: str, default: TransportName = "docker") -> ImageName:
    """``docker://REF``, ``oci:DIR[:TAG]``, ``store:REF``; a bare name takes ``default``."""
    if text.startswith("docker://"):
        return ImageName("docker", parse_reference(text[len("docker://"):]))
    if text.startswith("store:"):
        return ImageName("store", parse_reference(text[len("store:"):]))
    if text.startswith("oci:"):
        rest = text[len("oci:"):]
        # containers/image oci/layout: the directory ends at the first colon.
        path, _, tag = rest.partition(":")
        if not path:
            raise InputError(f"{text!r}: oci: needs a directory (oci:DIR[:TAG])")
        return ImageName("oci", path=path, tag=tag)
    prefix = text.split(":", 1)[0]
    if "://" in text or prefix in _OTHER_TRANSPORTS:
        raise InputError(f"{text!r}: transport {prefix!r} is not supported "
                         "(use docker://, oci:DIR[:TAG] or store:)")
    if default == "docker":
        return ImageName("docker", parse_reference(text))
    if default == "store":
        return ImageName("store", parse_reference(text))
    raise InputError(f"{text!r}: name a transport (oci:DIR[:TAG])")
