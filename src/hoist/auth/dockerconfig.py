"""Registry credentials the way the docker CLI finds them in ``config.json``.

The file is ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json`` (or an explicit
``--authfile``, which podman and skopeo read in the same format). For one registry the CLI
asks, in this order (configfile/file.go ``GetCredentialsStore``):

1. ``credHelpers[key]``: run ``docker-credential-<helper>`` (see :mod:`hoist.auth.credhelper`);
2. ``credsStore``: the same, with the default helper;
3. ``auths``: the entry stored in the file itself.

``key`` is ``https://index.docker.io/v1/`` for Docker Hub and the bare ``host[:port]`` for
every other registry (cli/command/registry.go ``getAuthConfigKey``). ``auths`` keys written by
old clients carry a scheme and a path (``https://myreg:5000/v1/``); the CLI falls back to
comparing them after ``ConvertToHostname`` (credentials/file_store.go).

The CLI decodes the file with Go's ``encoding/json``, and what that accepts is what is
accepted here: field names match case-insensitively, the last duplicate wins, ``null`` leaves
a field empty, only the first JSON value of the file is read, an empty file is an empty
config (the JSON rules are in :mod:`hoist.auth.credhelper`). The ``net/url`` parsing lives
here and :mod:`hoist.auth.keyring` reuses it, because the kubelet parses the same keys.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoist.auth._gojson import go_bytes
from hoist.auth.credential import Credential
from hoist.auth.credhelper import (
    GO_JSON_SPACE,
    CredentialHelper,
    GoJSONError,
    go_field_values,
    go_fold,
    go_json_loads,
    go_pairs,
    go_string_map,
    go_struct_strings,
    helper_program,
)
from hoist.auth.k8s_secret import DEFAULT_DOCKER_SERVER, _b64decode_std
from hoist.errors import InputError, OperationError

CONFIG_FILE_NAME = "config.json"
CONFIG_DIR_ENV = "DOCKER_CONFIG"
#: Registry domains whose credentials live under :data:`DEFAULT_DOCKER_SERVER`. docker/cli
#: maps docker.io and index.docker.io (registry.go ``getAuthConfigKey``); hoist also maps the
#: API host, so a name written against it finds the same login.
DOCKER_HUB_DOMAINS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# --------------------------------------------------------------------------- Go net/url


@dataclass(frozen=True, slots=True)
class GoURL:
    """The parts of Go's ``url.URL`` that registry matching reads (Host and Path unescaped)."""

    scheme: str
    host: str
    path: str


_HEX = frozenset("0123456789abcdefABCDEF")
_HOST_PUNCT = frozenset("!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_PUNCT = frozenset("-._:~!$&'()*+,;=%@")


def _is_alnum_ascii(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _unescape(s: str, *, host: bool) -> str | None:
    """Go's ``unescape`` in host mode or in path/userinfo/fragment mode; ``None`` on error.

    In a host, ``%XX`` may only encode a byte ≥ 0x80 (or be ``%25``), and ASCII outside
    the RFC 3986 host set is an error (``InvalidHostError``).
    """
    raw = go_bytes(s)
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            pair = raw[i + 1 : i + 3]
            if len(pair) < 2 or not all(chr(b) in _HEX for b in pair):
                return None
            byte = int(pair.decode("ascii"), 16)
            if host and byte < 0x80 and pair != b"25":
                return None
            out.append(byte)
            i += 3
            continue
        if host and c < 0x80 and not (_is_alnum_ascii(chr(c)) or chr(c) in _HOST_PUNCT):
            return None
        out.append(c)
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    return port[0] == ":" and all("0" <= ch <= "9" for ch in port[1:])


def _parse_host(host: str) -> str | None:
    if host.startswith("["):
        close = host.rfind("]")
        if close < 0 or not _valid_optional_port(host[close + 1 :]):
            return None
        literal = host[1:close]
        zone = literal.find("%25")
        address = literal if zone < 0 else literal[:zone]
        # Go ≥ 1.25.2 / 1.24.8 (CVE-2025-47912): brackets must hold an IPv6 address.
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return None
        if zone >= 0:
            head = _unescape(host[: 1 + zone], host=True)
            zone_part = _unescape(literal[zone:], host=False)
            tail = _unescape(host[close:], host=True)
            if head is None or zone_part is None or tail is None:
                return None
            return head + zone_part + tail
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _valid_optional_port(host[colon:]):
            return None
    return _unescape(host, host=True)


def _get_scheme(raw: str) -> tuple[str, str] | None:
    for i, ch in enumerate(raw):
        if ch.isascii() and ch.isalpha():
            continue
        if ch.isascii() and (ch.isdigit() or ch in "+-."):
            if i == 0:
                return "", raw
            continue
        if ch == ":":
            return (raw[:i], raw[i + 1 :]) if i else None
        return "", raw
    return "", raw


def _valid_userinfo(userinfo: str) -> bool:
    return all(_is_alnum_ascii(ch) or ch in _USERINFO_PUNCT for ch in userinfo)


def _parse_authority(authority: str) -> str | None:
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :])
    if host is None:
        return None
    if at >= 0:
        userinfo = authority[:at]
        if not _valid_userinfo(userinfo):
            return None
        user, _, password = userinfo.partition(":")
        if _unescape(user, host=False) is None or _unescape(password, host=False) is None:
            return None
    return host


def parse_go_url(raw: str) -> GoURL | None:
    """Go's ``url.Parse(raw)``, reduced to scheme, host and path; ``None`` where Go errs.

    Follows net/url: the fragment is cut first, control bytes are refused, a scheme is
    letters then letters/digits/``+-.`` before ``:``, the query is cut at the first ``?``,
    ``//`` starts an authority whose host is validated (port digits, the RFC 3986 host
    characters, ``%`` only for non-ASCII bytes, bracketed IPv6), and Host and Path come
    back percent-decoded.
    """
    text, _, fragment = raw.partition("#")
    if _unescape(fragment, host=False) is None:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return None
    if text == "*":
        return GoURL("", "", "*")
    split = _get_scheme(text)
    if split is None:
        return None
    scheme, rest = split[0].lower(), split[1]
    rest = rest.partition("?")[0]
    if not rest.startswith("/"):
        if scheme:
            return GoURL(scheme, "", "")  # opaque: no host, no path
        if ":" in rest.partition("/")[0]:
            return None  # "first path segment in URL cannot contain colon"
    host = ""
    if (scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        parsed_host = _parse_authority(authority)
        if parsed_host is None:
            return None
        host = parsed_host
    path = _unescape(rest, host=False)
    if path is None:
        return None
    return GoURL(scheme, host, path)


def split_url_host_port(host: str) -> tuple[str, str]:
    """Go's ``url.URL.Hostname()`` and ``Port()``: a trailing ``:digits`` is the port,
    brackets around the rest are dropped."""
    name, port = host, ""
    colon = host.rfind(":")
    if colon >= 0 and _valid_optional_port(host[colon:]):
        name, port = host[:colon], host[colon + 1 :]
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    return name, port


def convert_to_hostname(maybe_url: str) -> str:
    """``ConvertToHostname`` (docker/cli credentials/file_store.go): the ``host[:port]`` a
    config key names, whether written as ``https://host:port/v1/`` or ``host/path``."""
    if "://" in maybe_url:
        parsed = parse_go_url(maybe_url)
        if parsed is not None:
            name, port = split_url_host_port(parsed.host)
            if name:
                if not port:
                    return name
                # net.JoinHostPort: brackets whenever the host holds a colon.
                return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    return maybe_url.partition("/")[0]


def config_key(registry: str) -> str:
    """The ``auths``/``credHelpers`` key docker uses for ``registry`` (a ``host[:port]`` as
    in a reference's domain, or a server URL): Docker Hub's is ``https://index.docker.io/v1/``
    (registry.go ``getAuthConfigKey``), any other is the bare ``host[:port]``."""
    if registry == DEFAULT_DOCKER_SERVER or registry in DOCKER_HUB_DOMAINS:
        return DEFAULT_DOCKER_SERVER
    host = convert_to_hostname(registry)
    return DEFAULT_DOCKER_SERVER if host in DOCKER_HUB_DOMAINS else host


# --------------------------------------------------------------------------- the file


_AUTH_FIELDS = (
    "username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken",
)


@dataclass(frozen=True, slots=True)
class AuthEntry:
    """One ``auths`` entry after ``LoadFromReader``: ``auth`` already split into username
    and password (secrets hidden from ``repr``)."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)


def decode_docker_auth(auth: str, where: str) -> tuple[str, str]:
    """docker/cli ``decodeAuth``: padded base64 of ``user:pass``, split at the first colon.

    The username must not be empty; NUL bytes around the password are trimmed (the CLI
    decodes into a buffer of the maximal length and trims what it did not fill).
    """
    raw = _b64decode_std(auth)
    if raw is None:
        raise InputError(f"{where}: auth is not valid base64")
    user, sep, password = raw.partition(b":")
    if not sep or not user:
        raise InputError(f"{where}: auth is not base64(username:password)")
    return (
        user.decode("utf-8", "surrogateescape"),
        password.strip(b"\x00").decode("utf-8", "surrogateescape"),
    )


def _entry(value: Any, where: str) -> AuthEntry:
    fields = go_struct_strings(value, _AUTH_FIELDS, where)
    username, password = fields["username"], fields["password"]
    if fields["auth"]:
        username, password = decode_docker_auth(fields["auth"], where)
    return AuthEntry(username, password, fields["identitytoken"], fields["registrytoken"])


def _merged_map(values: list[Any], where: str) -> dict[str, Any]:
    """A Go map field decoded from every pair naming it: objects merge, ``null`` resets."""
    out: dict[str, Any] = {}
    for value in values:
        if value is None:
            out = {}
            continue
        for key, item in go_string_map(value, where).items():
            out.pop(key, None)
            out[key] = item
    return out


def _last_string(values: list[Any], where: str) -> str:
    out = ""
    for value in values:
        if value is None:
            continue
        if not isinstance(value, str):
            raise InputError(f"{where} is not a string")
        out = value
    return out


def resolve_config_path(
    authfile: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Where the docker CLI keeps its config: ``authfile``, ``$DOCKER_CONFIG/config.json``,
    ``~/.docker/config.json`` (cli/config/config.go ``Dir``; HOME taken from ``env``)."""
    if authfile is not None:
        return Path(authfile)
    environ = os.environ if env is None else env
    config_dir = environ.get(CONFIG_DIR_ENV, "")
    if config_dir:
        return Path(config_dir) / CONFIG_FILE_NAME
    home = environ.get("HOME", "")
    base = Path(home) if home else Path.home()
    return base / ".docker" / CONFIG_FILE_NAME


def _read_text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a docker config file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Go keeps invalid UTF-8 inside strings (as U+FFFD); outside them it is a syntax
        # error either way, so replacing is faithful enough and never loses a valid file.
        return data.decode("utf-8", "replace")


# --------------------------------------------------------------------------- writing


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old file or the new one, never
    half of it: a temp file in the same directory, fsync, rename, fsync the directory.

    Like docker's ``Save`` the rename goes to the symlink's target, so a config file kept
    elsewhere through a link stays a link. The file is 0600 and a new directory 0700: it
    holds passwords.
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _load_document(path: Path) -> dict[str, Any]:
    """The file as a plain JSON object, for rewriting with every unknown key kept."""
    text = _read_text(path)
    if text is None or not text.strip(GO_JSON_SPACE):
        return {}
    try:
        doc = json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip(GO_JSON_SPACE)))[0]
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, "
                         f"column {e.colno}); not rewriting it") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a JSON object; not rewriting it")
    return doc


def _auths_sections(doc: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """Every ``auths`` object of the document (any letter case: Go merges them all)."""
    out: list[dict[str, Any]] = []
    for key, value in doc.items():
        if go_fold(key) != go_fold("auths") or value is None:
            continue
        if not isinstance(value, dict):
            raise InputError(f"{path}: auths is not a JSON object; not rewriting it")
        out.append(value)
    return out


def _edit_document(path: Path, edit: Callable[[dict[str, Any]], bool]) -> bool:
    """Apply ``edit`` to the file's JSON and write it back if ``edit`` says it changed."""
    doc = _load_document(path)
    if not edit(doc):
        return False
    _atomic_write(path, json.dumps(doc, indent="\t", ensure_ascii=False) + "\n")
    return True


def _set_entry(doc: dict[str, Any], key: str, entry: dict[str, str], path: Path) -> bool:
    sections = _auths_sections(doc, path)
    if not sections:
        auths: dict[str, Any] = {}
        # A null "auths" is replaced by the object.
        name = next((k for k in doc if go_fold(k) == go_fold("auths")), "auths")
        doc[name] = auths
        sections = [auths]
    last = sections[-1]
    if last.get(key) == entry and all(key not in s for s in sections[:-1]):
        return False  # credentials unchanged: leave the file alone (file_store.go Store)
    for section in sections[:-1]:
        section.pop(key, None)
    last[key] = entry
    return True


def _drop_entries(doc: dict[str, Any], keys: Iterable[str], path: Path) -> bool:
    changed = False
    for section in _auths_sections(doc, path):
        for key in keys:
            if key in section:
                del section[key]
                changed = True
    return changed


# --------------------------------------------------------------------------- DockerConfig


@dataclass(frozen=True)
class DockerConfig:
    """A docker CLI config file as loaded: which credentials apply to which registry.

    A snapshot: :meth:`store_login` and :meth:`erase_login` change the file on disk (and
    the helpers' stores), not this object; load it again to see their effect.
    """

    path: Path
    auths: Mapping[str, AuthEntry] = field(default_factory=dict, repr=False)
    creds_store: str = ""
    cred_helpers: Mapping[str, str] = field(default_factory=dict)
    helper_timeout: float = 30.0

    @classmethod
    def load(
        cls,
        authfile: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        helper_timeout: float = 30.0,
    ) -> DockerConfig:
        """Read the config file the docker CLI would read (see :func:`resolve_config_path`).

        A missing file is an empty config. Raises :class:`InputError` — one line naming the
        file and the field, never a secret — for a file that is not JSON, or whose
        ``auths``, ``credsStore`` or ``credHelpers`` have the wrong JSON types, or whose
        ``auth`` is not ``base64(user:pass)``. ``env`` (default ``os.environ``) only decides
        where the file is; credential helpers run in this process's environment.
        """
        path = resolve_config_path(authfile, env)
        text = _read_text(path)
        if text is None:
            return cls(path=path, helper_timeout=helper_timeout)
        return cls.parse(text, path, helper_timeout=helper_timeout)

    @classmethod
    def parse(
        cls,
        text: str,
        path: str | os.PathLike[str],
        *,
        helper_timeout: float = 30.0,
    ) -> DockerConfig:
        """Decode config file text as ``ConfigFile.LoadFromReader`` does (``path`` names it
        in messages and is where :meth:`store_login` writes)."""
        where = Path(path)
        try:
            doc = go_json_loads(text, first_value_only=True)
        except GoJSONError as e:
            raise InputError(f"{where}: not valid JSON ({e})") from None
        if doc is not None and go_pairs(doc) is None:
            raise InputError(f"{where}: not a JSON object")
        raw_auths = _merged_map(go_field_values(doc, "auths"), f"{where}: auths")
        auths = {
            key: _entry(value, f"{where}: auths[{key!r}]") for key, value in raw_auths.items()
        }
        helpers = _merged_map(go_field_values(doc, "credHelpers"), f"{where}: credHelpers")
        for key, value in helpers.items():
            if value is not None and not isinstance(value, str):
                raise InputError(f"{where}: credHelpers[{key!r}] is not a string")
        return cls(
            path=where,
            auths=auths,
            creds_store=_last_string(go_field_values(doc, "credsStore"), f"{where}: credsStore"),
            cred_helpers={k: v or "" for k, v in helpers.items()},
            helper_timeout=helper_timeout,
        )

    # ------------------------------------------------------------------ lookups

    def helper_for(self, key: str) -> str:
        """The helper suffix that serves ``key``: ``credHelpers[key]`` when the key is
        there at all (an empty value then means "this file", overriding ``credsStore``),
        else ``credsStore`` (configfile/file.go ``getConfiguredCredentialStore``)."""
        if key and key in self.cred_helpers:
            return self.cred_helpers[key]
        return self.creds_store

    def _helper(self, name: str) -> CredentialHelper:
        return CredentialHelper(name, timeout=self.helper_timeout)

    def _file_entry(self, key: str) -> AuthEntry | None:
        """file_store.go ``Get``: the exact key, else the first key (in file order; Go's
        map order is random) whose ``ConvertToHostname`` is ``key``."""
        if key in self.auths:
            return self.auths[key]
        for stored, entry in self.auths.items():
            if convert_to_hostname(stored) == key:
                return entry
        return None

    def credential_for(self, registry: str) -> Credential:
        """The credential the docker CLI would use for ``registry`` (``host[:port]``).

        No entry anywhere gives an anonymous credential whose ``source`` still says where
        hoist looked. Raises :class:`~hoist.errors.OperationError` when a helper fails
        (other than "credentials not found", which is anonymous).
        """
        key = config_key(registry)
        helper = self.helper_for(key)
        entry = self._file_entry(key)
        if helper:
            # native_store.go Get: the helper's username, password and identity token
            # replace the file entry's; the file's registry token stays.
            found = self._helper(helper).get(key)
            return Credential(
                username=found.username,
                password=found.password,
                identity_token=found.identity_token,
                registry_token=entry.registry_token if entry else "",
                source=found.source,
            )
        if entry is None:
            return Credential(source=str(self.path))
        return Credential(
            username=entry.username,
            password=entry.password,
            identity_token=entry.identity_token,
            registry_token=entry.registry_token,
            source=str(self.path),
        )

    # ------------------------------------------------------------------ login / logout

    def store_login(self, registry: str, username: str, password: str) -> str:
        """Save a login as ``docker login`` does; returns where it went (never the secret).

        With a helper for the registry the password goes to the helper and the file keeps
        an empty ``auths`` entry (native_store.go ``Store``: the CLI's record that a login
        exists, and any plain-text password from before is dropped). Otherwise the file
        gets ``auths[key] = {"auth": base64(user:pass)}``. Every other key of the file is
        kept; nothing is written when the entry is already there.
        """
        if not username:
            raise InputError("login: the username must not be empty")
        if ":" in username:
            raise InputError("login: the username must not contain ':' (basic auth splits there)")
        key = config_key(registry)
        helper = self.helper_for(key)
        if helper:
            self._helper(helper).store(key, username, password)
            _edit_document(self.path, lambda doc: _set_entry(doc, key, {}, self.path))
            return f"credential helper {helper_program(helper)}"
        auth = base64.b64encode(go_bytes(username) + b":" + go_bytes(password)).decode("ascii")
        _edit_document(self.path, lambda doc: _set_entry(doc, key, {"auth": auth}, self.path))
        return str(self.path)

    def erase_login(self, registry: str) -> str:
        """Forget a login as ``docker logout`` does; returns where it was removed from.

        For a registry other than Docker Hub, logout.go also tries the forms older
        clients stored: ``host``, ``http://host`` and ``https://host``. A helper that has
        nothing stored is not an error; one that fails is, if every attempt failed.
        """
        key = config_key(registry)
        tries = [key]
        if key != DEFAULT_DOCKER_SERVER:
            tries = list(dict.fromkeys([registry, key, f"http://{key}", f"https://{key}"]))
        helper_names = list(dict.fromkeys(h for h in map(self.helper_for, tries) if h))
        erased_by: list[str] = []
        failures: list[OperationError] = []
        for name in helper_names:
            for server in (t for t in tries if self.helper_for(t) == name):
                try:
                    self._helper(name).erase(server)
                except OperationError as e:  # collected: logout reports only if all failed
                    failures.append(e)
                else:
                    erased_by.append(f"credential helper {helper_program(name)}")
        removed = _edit_document(self.path, lambda doc: _drop_entries(doc, tries, self.path))
        if failures and not erased_by and not removed:
            raise failures[0]
        places = list(dict.fromkeys(erased_by))
        if removed:
            places.append(str(self.path))
        return ", ".join(places) if places else f"nothing stored for {key}"
