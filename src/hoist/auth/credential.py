"""One registry credential, as a docker config entry, a credential helper or a pull Secret
gives it. Secrets never appear in ``repr()`` or ``str()``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Credential:
    """What a client may present to one registry.

    ``identity_token`` is a refresh token (docker's ``identitytoken``; a helper's Username
    ``<token>``): exchanged at the token endpoint with ``grant_type=refresh_token``.
    ``registry_token`` is a bearer token sent as is (docker's ``registrytoken``).
    ``source`` says where it came from, for messages (a path, a helper, a Secret's
    namespace/name), never the secret itself.
    """

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)
    source: str = ""

    @property
    def is_anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def __str__(self) -> str:
        who = self.username or ("<token>" if self.identity_token or self.registry_token else "")
        where = f" from {self.source}" if self.source else ""
        return f"credential {who or 'anonymous'}{where}"

    def secrets(self) -> tuple[str, ...]:
        """The secret strings, so a logger or error formatter can redact them."""
        return tuple(s for s in (self.password, self.identity_token, self.registry_token) if s)


ANONYMOUS = Credential()
