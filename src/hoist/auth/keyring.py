"""The kubelet's credential keyring: which pull credentials it tries for an image, in order.

A reproduction of kubernetes pkg/credentialprovider (keyring.go ``BasicDockerKeyring``,
``UnionDockerKeyring``; config.go; secrets/secrets.go ``MakeDockerKeyring``):

* Each config entry's key is normalised: ``https://`` is added unless the key starts with
  ``https://`` or ``http://``; the URL is parsed (Go ``net/url``; an unparsable key is
  dropped); a path starting ``/v1/`` or ``/v2/`` loses that prefix; the key is host + path,
  or the host alone when the path is empty or ``/``.
* The keys form an index sorted in reverse byte order, so ``quay.io/coreos`` is tried
  before ``quay.io``. A lookup returns the credentials of *every* key that matches, in index
  order (credentials under one key in the order they were added).
* A key matches an image when the ports are equal, the hosts have the same number of
  dot-separated labels, each key label matches as a Go ``filepath.Match`` glob (``*``,
  ``?``, ``[…]``, ``\\``), and the key's path is a plain string prefix of the image's path.
* No match, and the image is Docker Hub's (no host, or a first component without ``.`` or
  ``:``, or ``docker.io``/``index.docker.io``): the credentials under ``index.docker.io``.
* Pod pull Secrets (``kubernetes.io/dockerconfigjson`` or ``kubernetes.io/dockercfg``) all go
  into ONE keyring, in pod order; other Secrets are skipped. The kubelet then unions it with
  the node's keyring (config files, then credential-provider plugins): each part is looked
  up on its own, with its own Docker Hub fallback, and the results are concatenated.

The kubelet keeps only username and password (and email) per entry: ``identitytoken`` and
``registrytoken`` in a pull Secret or node config are ignored, so they are here too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoist.auth._gojson import go_bytes
from hoist.auth.credential import Credential
from hoist.auth.credhelper import (
    GoJSONError,
    go_field_values,
    go_json_loads,
    go_pairs,
    go_string_map,
    go_struct_strings,
)
from hoist.auth.dockerconfig import GoURL, parse_go_url
from hoist.auth.k8s_secret import (
    DOCKERCFG_KEY,
    _b64decode_raw,
    _b64decode_std,
    kubelet_secret_payload,
)
from hoist.core.reference import parse_normalized_named
from hoist.errors import InputError

#: keyring.go ``defaultRegistryHost``: where the Docker Hub fallback looks.
DEFAULT_REGISTRY_HOST = "index.docker.io"

# --------------------------------------------------------------------------- Go filepath.Match


class BadPattern(ValueError):
    """Go's ``filepath.ErrBadPattern``."""


_SEPARATOR = ord("/")


def _decode_rune(b: bytes) -> tuple[int, int]:
    """Go's ``utf8.DecodeRune``: ``(rune, width)``, ``(0xFFFD, 1)`` for invalid UTF-8."""
    b0 = b[0]
    if b0 < 0x80:
        return b0, 1
    width = 2 if 0xC2 <= b0 <= 0xDF else 3 if 0xE0 <= b0 <= 0xEF else 4 if 0xF0 <= b0 <= 0xF4 else 0
    if width == 0 or width > len(b):
        return 0xFFFD, 1
    try:
        return ord(b[:width].decode("utf-8")), width
    except UnicodeDecodeError:
        return 0xFFFD, 1


def _scan_chunk(pattern: bytes) -> tuple[bool, bytes, bytes]:
    """Leading stars, then the literal chunk up to the next star outside ``[…]``."""
    stripped = pattern.lstrip(b"*")
    star = len(stripped) != len(pattern)
    in_range = False
    i = 0
    while i < len(stripped):
        c = stripped[i]
        if c == ord("\\"):
            if i + 1 < len(stripped):
                i += 1
        elif c == ord("["):
            in_range = True
        elif c == ord("]"):
            in_range = False
        elif c == ord("*") and not in_range:
            break
        i += 1
    return star, stripped[:i], stripped[i:]


def _get_esc(chunk: bytes) -> tuple[int, bytes]:
    """One (possibly escaped) rune of a character class; the class must go on after it."""
    if not chunk or chunk[0] in (ord("-"), ord("]")):
        raise BadPattern("syntax error in pattern")
    if chunk[0] == ord("\\"):
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern("syntax error in pattern")
    rune, width = _decode_rune(chunk)
    if rune == 0xFFFD and width == 1:
        raise BadPattern("syntax error in pattern")
    rest = chunk[width:]
    if not rest:
        raise BadPattern("syntax error in pattern")
    return rune, rest


def _match_chunk(chunk: bytes, s: bytes) -> tuple[bytes, bool]:
    """Match a star-free chunk at the start of ``s``. Once it fails it keeps reading the
    chunk only to report a malformed one, as Go does."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == ord("["):
            rune = 0
            if not failed:
                rune, width = _decode_rune(s)
                s = s[width:]
            chunk = chunk[1:]
            negated = chunk[:1] == b"^"
            if negated:
                chunk = chunk[1:]
            matched, ranges = False, 0
            while True:
                if chunk[:1] == b"]" and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == ord("-"):
                    hi, chunk = _get_esc(chunk[1:])
                matched = matched or lo <= rune <= hi
                ranges += 1
            if matched == negated:
                failed = True
        elif c == ord("?"):
            if not failed:
                failed = s[0] == _SEPARATOR
                s = s[_decode_rune(s)[1] :]
            chunk = chunk[1:]
        else:
            if c == ord("\\"):
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern("syntax error in pattern")
            if not failed:
                failed = chunk[0] != s[0]
                s = s[1:]
            chunk = chunk[1:]
    return (b"", False) if failed else (s, True)


def _match_star(chunk: bytes, name: bytes, last: bool) -> bytes | None:
    """What a ``*chunk`` leaves of ``name``, trying each skip that does not cross ``/``."""
    i = 0
    while i < len(name) and name[i] != _SEPARATOR:
        rest, ok = _match_chunk(chunk, name[i + 1 :])
        if ok and not (last and rest):
            return rest
        i += 1
    return None


def go_filepath_match(pattern: str, name: str) -> bool:
    """Go's ``path/filepath.Match`` on Unix, byte for byte.

    ``*`` is any run of non-``/`` bytes, ``?`` one non-``/`` rune, ``[…]`` a class (``^``
    negates, ``a-z`` ranges), ``\\`` escapes. Raises :class:`BadPattern` for a malformed
    pattern, which Go also reports only when matching reaches or passes the bad part.
    """
    pat, rest_name = go_bytes(pattern), go_bytes(name)
    while pat:
        star, chunk, pat = _scan_chunk(pat)
        if star and not chunk:
            return _SEPARATOR not in rest_name
        left, ok = _match_chunk(chunk, rest_name)
        if ok and (not left or pat):
            rest_name = left
            continue
        if star:
            skipped = _match_star(chunk, rest_name, last=not pat)
            if skipped is not None:
                rest_name = skipped
                continue
        while pat:  # the remainder must still be a well-formed pattern
            _, chunk, pat = _scan_chunk(pat)
            _match_chunk(chunk, b"")
        return False
    return not rest_name


# --------------------------------------------------------------------------- URLs


def go_split_host_port(hostport: str) -> tuple[str, str] | None:
    """Go's ``net.SplitHostPort``; ``None`` where it returns an error (no port, too many
    colons, stray brackets)."""
    colon = hostport.rfind(":")
    if colon < 0:
        return None
    start, end_skip = 0, 0
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0 or close + 1 != colon:
            return None
        host = hostport[1:close]
        start, end_skip = 1, close + 1
    else:
        host = hostport[:colon]
        if ":" in host:
            return None
    if "[" in hostport[start:] or "]" in hostport[end_skip:]:
        return None
    return host, hostport[colon + 1 :]


def parse_schemeless_url(text: str) -> GoURL | None:
    """keyring.go ``ParseSchemelessURL``: parse ``https://`` + ``text``."""
    return parse_go_url("https://" + text)


def split_url(url: GoURL) -> tuple[list[str], str]:
    """keyring.go ``SplitURL``: the host's dot-separated labels and the port (a host that
    ``net.SplitHostPort`` refuses counts as a host without a port)."""
    split = go_split_host_port(url.host)
    host, port = split if split is not None else (url.host, "")
    return host.split("."), port


def urls_match(glob: GoURL, target: GoURL) -> bool:
    """keyring.go ``URLsMatch``: equal ports, as many labels, the glob's path a prefix of
    the target's, every label a glob match. A malformed glob label does not match."""
    glob_labels, glob_port = split_url(glob)
    target_labels, target_port = split_url(target)
    if glob_port != target_port or len(glob_labels) != len(target_labels):
        return False
    if not target.path.startswith(glob.path):
        return False
    try:
        return all(go_filepath_match(g, t) for g, t in zip(glob_labels, target_labels, strict=True))
    except BadPattern:
        return False


def urls_match_str(glob: str, target: str) -> bool:
    """keyring.go ``URLsMatchStr`` (its error folded into "no match", as Lookup does)."""
    glob_url, target_url = parse_schemeless_url(glob), parse_schemeless_url(target)
    if glob_url is None or target_url is None:
        return False
    return urls_match(glob_url, target_url)


def normalize_key(location: str) -> str | None:
    """The index key keyring.go ``Add`` files a config entry under; ``None`` for an entry
    it drops because the URL does not parse."""
    value = location
    if not value.startswith(("https://", "http://")):
        value = "https://" + value
    parsed = parse_go_url(value)
    if parsed is None:
        return None
    path = parsed.path
    # "It also considers /v2/ and /v1/ equivalent to the hostname" (keyring.go).
    if path.startswith(("/v2/", "/v1/")):
        path = path[3:]
    return parsed.host + path if path and path != "/" else parsed.host


def is_default_registry_match(image: str) -> bool:
    """keyring.go ``isDefaultRegistryMatch``: would this name pull from Docker Hub?"""
    first, sep, _ = image.partition("/")
    if not first:
        return False
    if not sep:
        return True
    if first in ("docker.io", "index.docker.io"):
        return True
    return "." not in first and ":" not in first


# --------------------------------------------------------------------------- config entries


def decode_kubelet_auth(auth: str, where: str) -> tuple[str, str]:
    """config.go ``decodeDockerConfigFieldAuth``: base64 of ``user:pass`` — padded when it
    ends in ``=``, unpadded otherwise — split at the first colon."""
    padded = auth.strip().endswith("=")
    raw = _b64decode_std(auth) if padded else _b64decode_raw(auth)
    if raw is None:
        raise InputError(f"{where}: auth is not valid base64")
    user, sep, password = raw.partition(b":")
    if not sep:
        raise InputError(f"{where}: auth is not base64(username:password)")
    return user.decode("utf-8", "surrogateescape"), password.decode("utf-8", "surrogateescape")


def _entry_credential(value: Any, source: str, where: str) -> Credential:
    """config.go ``DockerConfigEntry.UnmarshalJSON``: a non-empty ``auth`` replaces
    username and password; ``null`` is an empty entry."""
    fields = go_struct_strings(value, ("username", "password", "email", "auth"), where)
    username, password = fields["username"], fields["password"]
    if fields["auth"]:
        username, password = decode_kubelet_auth(fields["auth"], where)
    return Credential(username=username, password=password, source=source)


def _credentials(
    auths: Mapping[str, Any], source: str, where: str
) -> list[tuple[str, Credential]]:
    return [
        (location, _entry_credential(value, source, f"{where}: entry {location!r}"))
        for location, value in auths.items()
    ]


def _config_auths(doc: Any, *, dockercfg: bool, where: str) -> dict[str, Any]:
    """The registry map of a decoded config: the legacy ``.dockercfg`` is the map itself;
    ``config.json``/``.dockerconfigjson`` is ``DockerConfigJSON`` (``auths``, and
    ``HttpHeaders``, which must be a map of strings for Go to decode it)."""
    if dockercfg:
        return go_string_map(doc, where)
    if doc is not None and go_pairs(doc) is None:
        raise InputError(f"{where} is not a JSON object")
    auths: dict[str, Any] = {}
    for value in go_field_values(doc, "auths"):
        if value is None:
            auths = {}
            continue
        for key, item in go_string_map(value, f"{where}: auths").items():
            auths.pop(key, None)
            auths[key] = item
    for value in go_field_values(doc, "HttpHeaders"):
        for name, header in go_string_map(value, f"{where}: HttpHeaders").items():
            if header is not None and not isinstance(header, str):
                raise InputError(f"{where}: HttpHeaders[{name!r}] is not a string")
    return auths


def _decode_config(data: bytes | str, *, dockercfg: bool, where: str) -> dict[str, Any]:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    try:
        doc = go_json_loads(text, first_value_only=False)
    except GoJSONError as e:
        raise InputError(f"{where} is not valid JSON ({e})") from None
    return _config_auths(doc, dockercfg=dockercfg, where=where)


# --------------------------------------------------------------------------- keyrings


@dataclass(frozen=True, slots=True)
class _Basic:
    """One ``BasicDockerKeyring``: the reverse-sorted index and the credentials per key."""

    index: tuple[str, ...]
    creds: Mapping[str, tuple[Credential, ...]]

    @classmethod
    def build(cls, entries: Iterable[tuple[str, Credential]]) -> _Basic:
        creds: dict[str, list[Credential]] = {}
        for location, credential in entries:
            key = normalize_key(location)
            if key is not None:  # keyring.go logs "Entry … invalid" and ignores it
                creds.setdefault(key, []).append(credential)
        # Go's sort.Strings compares bytes; sort.Reverse turns it around.
        index = tuple(sorted(creds, key=go_bytes, reverse=True))
        return cls(index, {k: tuple(v) for k, v in creds.items()})

    def lookup(self, name: str) -> list[Credential]:
        found = [c for key in self.index if urls_match_str(key, name) for c in self.creds[key]]
        if found:
            return found
        if is_default_registry_match(name):
            return list(self.creds.get(DEFAULT_REGISTRY_HOST, ()))
        return []


def _secret_source(secret: Mapping[str, Any]) -> str:
    meta = secret.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    name = name if isinstance(name, str) and name else "<unnamed>"
    if isinstance(namespace, str) and namespace:
        return f"secret {namespace}/{name}"
    return f"secret {name}"


@dataclass(frozen=True, slots=True)
class Keyring:
    """The credentials the kubelet would try for an image, in the order it tries them.

    A keyring is a sequence of basic keyrings (``UnionDockerKeyring``): :meth:`lookup` asks
    each in turn and concatenates what they return. Build the kubelet's view of a pod with
    ``Keyring.merged(Keyring.from_secrets(pod_pull_secrets), node_keyring)``.
    """

    groups: tuple[_Basic, ...] = ()

    @classmethod
    def from_config(cls, auths: Mapping[str, Mapping[str, Any] | None], source: str) -> Keyring:
        """A keyring of one registry map (``{"https://quay.io": {"auth": …}, …}``), each
        credential's ``source`` set to ``source``. Raises :class:`InputError` for an entry
        the kubelet cannot decode (a field that is not a string, a bad ``auth``)."""
        return cls((_Basic.build(_credentials(dict(auths), source, source)),))

    @classmethod
    def from_config_bytes(
        cls, data: bytes | str, source: str, *, dockercfg: bool = False
    ) -> Keyring:
        """A keyring of one config file's content as the kubelet reads it: ``config.json``
        (only ``auths`` counts), or with ``dockercfg`` the legacy bare map."""
        auths = _decode_config(data, dockercfg=dockercfg, where=source)
        return cls((_Basic.build(_credentials(auths, source, source)),))

    @classmethod
    def from_config_file(cls, path: str | os.PathLike[str]) -> Keyring:
        """A node config file: ``config.json``, or the legacy format when it is named
        ``.dockercfg`` (config.go ``ReadDockerConfigJSONFile`` / ``ReadDockercfgFile``)."""
        where = Path(path)
        try:
            data = where.read_bytes()
        except OSError as e:
            raise InputError(f"{where}: cannot read ({e.strerror or e})") from None
        return cls.from_config_bytes(data, str(where), dockercfg=where.name == DOCKERCFG_KEY)

    @classmethod
    def from_secrets(cls, secrets: Iterable[Mapping[str, Any]]) -> Keyring:
        """The keyring the kubelet builds from a pod's ``imagePullSecrets`` (the Secret
        objects, in pod order). All of them feed ONE basic keyring, so a more specific key
        in a later Secret is tried before a host-only key in an earlier one, and under one
        key the earlier Secret's credential comes first. Secrets of other types, or without
        their payload, are skipped as the kubelet skips them; none left gives an empty
        keyring. Each credential's ``source`` is ``secret NAMESPACE/NAME``.
        """
        entries: list[tuple[str, Credential]] = []
        for secret in secrets:
            source = _secret_source(secret)
            payload = kubelet_secret_payload(secret, source)
            if payload is None:
                continue
            key, raw = payload
            where = f"{source}: {key}"
            auths = _decode_config(raw, dockercfg=key == DOCKERCFG_KEY, where=where)
            entries.extend(_credentials(auths, source, where))
        if not entries:
            return cls(())
        return cls((_Basic.build(entries),))

    @classmethod
    def merged(cls, *keyrings: Keyring) -> Keyring:
        """``UnionDockerKeyring``: the keyrings' lookups concatenated, in argument order."""
        return cls(tuple(group for keyring in keyrings for group in keyring.groups))

    @property
    def indexes(self) -> tuple[tuple[str, ...], ...]:
        """Each basic keyring's keys in the order they are tried (for explanations)."""
        return tuple(group.index for group in self.groups)

    def lookup_repository(self, name: str) -> list[Credential]:
        """``Lookup`` on a repository name exactly as given (the kubelet passes the
        normalised name, e.g. ``docker.io/library/nginx``). Never raises."""
        return [c for group in self.groups for c in group.lookup(name)]

    def lookup(self, image: str) -> list[Credential]:
        """The credentials the kubelet tries for ``image`` as written in a pod spec, in
        order; empty means one anonymous pull. The image is normalised as the kubelet's
        ``ParseImageName`` does first; an image it cannot parse gets no credentials (the
        kubelet fails it as InvalidImageName before looking). Never raises."""
        try:
            name = parse_normalized_named(image).name
        except ValueError:  # ReferenceError, and anything else the parser refuses
            return []
        return self.lookup_repository(name)

