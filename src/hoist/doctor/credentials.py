"""The credentials a node tries for one image, in its order, each with a label naming
where it came from and which keyring entry matched — never the secret itself.

The matching is the kubelet keyring's (:class:`hoist.auth.keyring.Keyring`): the pod's
pull Secrets form one keyring, the node's config files another, and their lookups are
concatenated (pkg/credentialprovider). Nothing matching means one anonymous pull."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hoist.auth.credential import Credential
from hoist.auth.keyring import Keyring
from hoist.doctor.classify import ANONYMOUS_LABEL

SECRET_PREFIX = "secret "


@dataclass(frozen=True, slots=True)
class CredentialChoice:
    """One credential to try. ``matched`` is the keyring key that selected it (a registry
    host, or host/path); ``credential.source`` is ``secret NS/NAME`` or a config file."""

    credential: Credential
    matched: str

    @property
    def label(self) -> str:
        source = self.credential.source or "node"
        if not source.startswith(SECRET_PREFIX):
            source = f"node config {source}"
        return f"{source} (matched {self.matched})"


def _matched_keys(keyring: Keyring) -> dict[int, str]:
    """Credential object → the keyring key it is filed under. A lookup hands back the very
    objects the keyring holds, so identity tells which entry matched."""
    out: dict[int, str] = {}
    for group in keyring.groups:
        for key, credentials in group.creds.items():
            for credential in credentials:
                out.setdefault(id(credential), key)
    return out


def credential_choices(image: str, pull_secrets: Sequence[Mapping[str, object]],
                       node: Keyring) -> list[CredentialChoice]:
    """Every credential the node tries for ``image`` (as the pod spec writes it), pod
    Secrets first; empty means one anonymous pull. Raises InputError for a Secret whose
    payload does not decode (the kubelet fails the pull with that error)."""
    keyring = Keyring.merged(Keyring.from_secrets(pull_secrets), node)
    keys = _matched_keys(keyring)
    return [CredentialChoice(c, keys.get(id(c), "?")) for c in keyring.lookup(image)]


def choice_label(choice: CredentialChoice | None) -> str:
    return ANONYMOUS_LABEL if choice is None else choice.label
