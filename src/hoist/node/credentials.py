"""Which credentials the kubelet tries for one image, in its order: the pod's pull Secrets
(one keyring, pkg/credentialprovider/secrets), then the node's config files
(pkg/credentialprovider/config.go search paths); no match means one anonymous pull,
otherwise one pull per credential until one succeeds (kuberuntime_image.go PullImage).

Each credential keeps where it came from, so the pulled-image records (KEP-2535) can say
which Secret let this pod use an image, and messages can name it without its secret."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoist.auth.credential import Credential
from hoist.auth.keyring import Keyring
from hoist.errors import InputError
from hoist.node.runtime import AuthConfig


@dataclass(frozen=True)
class SecretSource:
    uid: str
    namespace: str
    name: str


@dataclass(frozen=True)
class TrackedCredential:
    """One credential to try, with the Secret it came from (None: a node config file)."""

    auth: AuthConfig
    source: SecretSource | None
    description: str  # "secret ns/name" or the config file path, never the secret

    def __repr__(self) -> str:
        return f"TrackedCredential({self.description})"


def node_config_files(node_dir: Path | None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The node's docker config files, in the kubelet's order (config.go: the kubelet's
    root directory, then ``$HOME/.docker``, then ``/.docker``); each directory's
    ``config.json`` before its legacy ``.dockercfg``. Only existing files."""
    env = os.environ if env is None else env
    dirs: list[Path] = []
    if node_dir is not None:
        dirs.append(node_dir)
    home = env.get("HOME")
    if home:
        dirs.append(Path(home) / ".docker")
    dirs.append(Path("/.docker"))
    found: list[Path] = []
    for d in dirs:
        for name in ("config.json", ".dockercfg"):
            p = d / name
            if p.is_file() and p not in found:
                found.append(p)
    return found


def node_keyring(files: Sequence[Path]) -> Keyring:
    """The node keyring: the first readable config file wins, as ``ReadDockerConfigFile``
    stops at the first file it can read. A broken file is skipped (the kubelet logs it)."""
    for f in files:
        try:
            return Keyring.from_config_file(f)
        except InputError:
            continue
    return Keyring(())


def _auth_config(c: Credential) -> AuthConfig:
    return AuthConfig(username=c.username, password=c.password,
                      identity_token=c.identity_token, registry_token=c.registry_token)


def _secret_key(secret: Mapping[str, Any]) -> tuple[str, SecretSource]:
    meta = secret.get("metadata") or {}
    ns, name, uid = (str(meta.get(k) or "") for k in ("namespace", "name", "uid"))
    # keyring.py names a credential's source "secret NS/NAME" (or "secret NAME").
    label = f"secret {ns}/{name}" if ns else f"secret {name}"
    return label, SecretSource(uid=uid, namespace=ns, name=name)


def pull_credentials(image: str, pull_secrets: Sequence[Mapping[str, Any]],
                     node: Keyring) -> list[TrackedCredential]:
    """Every credential to try for ``image``, pod Secrets first, then the node's. A Secret
    whose payload does not decode raises InputError: ``MakeDockerKeyring`` fails the whole
    pull with the decoding error."""
    sources = dict(_secret_key(s) for s in pull_secrets)
    keyring = Keyring.merged(Keyring.from_secrets(pull_secrets), node)
    tracked: list[TrackedCredential] = []
    for c in keyring.lookup(image):
        tracked.append(TrackedCredential(_auth_config(c), sources.get(c.source),
                                         c.source or "node"))
    return tracked


def credential_from_auth(auth: AuthConfig | None) -> Credential | None:
    """The registry client's credential for a CRI AuthConfig (``auth`` is base64
    ``user:password`` and wins over the separate fields, as containerd reads it)."""
    if auth is None:
        return None
    username, password = auth.username, auth.password
    if auth.auth:
        import base64
        import binascii

        try:
            decoded = base64.b64decode(auth.auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            username, password = decoded.split(":", 1)
    return Credential(username=username, password=password,
                      identity_token=auth.identity_token,
                      registry_token=auth.registry_token, source="pull credentials")

