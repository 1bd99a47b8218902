"""What ``hoist image parse`` reports for one reference."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hoist.core.policy import default_pull_policy
from hoist.core.reference import ReferenceError, parse_normalized_named


@dataclass(frozen=True, slots=True)
class ImageFields:
    """One row of ``hoist image parse`` (DESIGN §3 names the fields)."""

    input: str
    valid: bool
    error: str
    reference: str
    name: str
    domain: str
    path: str
    tag: str
    digest: str
    familiar: str
    default_pull_policy: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_image(text: str) -> ImageFields:
    """Parse as the API server does (``ParseNormalizedNamed``); an invalid reference gives
    ``valid=False`` and the upstream error text, never an exception."""
    policy = default_pull_policy(text).value
    try:
        ref = parse_normalized_named(text)
    except ReferenceError as e:
        return ImageFields(text, False, str(e), "", "", "", "", "", "", "", policy)
    return ImageFields(
        input=text,
        valid=True,
        error="",
        reference=str(ref),
        name=ref.name,
        domain=ref.domain,
        path=ref.path,
        tag=ref.tag,
        digest=str(ref.digest) if ref.digest else "",
        familiar=ref.familiar,
        default_pull_policy=policy,
    )
