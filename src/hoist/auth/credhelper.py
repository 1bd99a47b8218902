"""The docker-credential-helpers protocol: ``docker-credential-<name> get|store|erase``.

What the docker CLI does (docker-credential-helpers client/client.go, docker/cli
credentials/native_store.go), and so what this does:

* ``get``: the server URL on stdin, no newline; on success stdout is JSON
  ``{"ServerURL", "Username", "Secret"}``. Username ``<token>`` means Secret is an identity
  (refresh) token, not a password.
* ``store``: ``{"ServerURL", "Username", "Secret"}`` on stdin as Go's ``json.Encoder``
  writes it (compact, HTML-escaped, one trailing newline).
* ``erase``: the server URL on stdin.
* A helper reports errors by exiting non-zero with the message on stdout; the message
  ``credentials not found in native keychain`` (credentials/error.go) means "nothing
  stored", which a lookup treats as anonymous. client.go looks for it on stdout only;
  hoist also accepts it on stderr, where hand-written helpers tend to put it.

Errors never carry a secret: a helper's output is quoted only as its first line, only when
it is not JSON (a helper may print credentials even when it fails), with the secret hoist
sent it removed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hoist.auth import _gojson
from hoist.auth.credential import Credential
from hoist.errors import InputError, OperationError

HELPER_PREFIX = "docker-credential-"
TOKEN_USERNAME = "<token>"
NOT_FOUND_MESSAGE = "credentials not found in native keychain"
DEFAULT_TIMEOUT = 30.0
_MAX_QUOTED = 200


def helper_program(name: str) -> str:
    """The executable for helper ``name`` (credsStore/credHelpers hold only the suffix)."""
    return HELPER_PREFIX + name


def is_not_found(output: str) -> bool:
    """credentials/error.go ``IsErrCredentialsNotFoundMessage``: the exact message, spaces
    around it ignored."""
    return output.strip() == NOT_FOUND_MESSAGE


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def failure_summary(stdout: str, stderr: str, secrets: tuple[str, ...] = ()) -> str:
    """One line saying why a helper failed, safe to show: stderr's first line, else stdout's
    (where helpers built on docker-credential-helpers print errors) unless it looks like
    JSON, with ``secrets`` masked and the length capped."""
    line = _first_line(stderr)
    if not line:
        candidate = _first_line(stdout)
        line = "" if candidate.startswith(("{", "[")) else candidate
    line = _redact(line, secrets)
    if len(line) > _MAX_QUOTED:
        line = line[:_MAX_QUOTED] + "…"
    return line


# --------------------------------------------------------------------------- Go encoding/json
# The decoding rules of Go's encoding/json, which every reader of these formats (the docker
# CLI, the helpers' client, the kubelet) goes through. They live in this module because it
# is the lowest of the three; dockerconfig and keyring import them from here.


class GoObject(list[tuple[str, Any]]):
    """A JSON object as its ``(key, value)`` pairs in document order, duplicates kept.

    Go decodes objects into structs pair by pair, so the order and the duplicates decide
    the result; a Python ``dict`` would already have thrown that away.
    """


class GoJSONError(ValueError):
    """Input Go's ``encoding/json`` would refuse. ``str()`` never quotes the input."""


def _reject_constant(name: str) -> Any:
    # Python accepts NaN/Infinity; Go's decoder calls them invalid characters.
    raise GoJSONError(f"invalid JSON literal {name}")


GO_JSON_SPACE = " \t\n\r"


def go_json_loads(text: str, *, first_value_only: bool) -> Any:
    """Decode ``text`` as Go does, objects as :class:`GoObject`.

    ``first_value_only`` is ``json.Decoder.Decode`` (the docker CLI: an empty input is
    ``None``, text after the first value is never read); otherwise ``json.Unmarshal``
    (the kubelet: exactly one value).
    """
    decoder = json.JSONDecoder(object_pairs_hook=GoObject, parse_constant=_reject_constant)
    start = len(text) - len(text.lstrip(GO_JSON_SPACE))
    if start == len(text):
        if first_value_only:
            return None
        raise GoJSONError("unexpected end of JSON input")
    try:
        value, end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise GoJSONError(f"{e.msg} at line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise GoJSONError("exceeded max depth") from None
    if not first_value_only and text[end:].strip(GO_JSON_SPACE):
        raise GoJSONError("invalid character after top-level value")
    return value


def go_fold(name: str) -> str:
    """The key Go's decoder compares struct field names by (``foldName``, encoding/json).

    ASCII is upper-cased; any other rune ``r`` becomes ``ToUpper(ToLower(r))`` with simple
    (one-rune) case mapping, so ``ſ`` matches ``s`` and the Kelvin sign matches ``k``.
    """
    out: list[str] = []
    for ch in name:
        if ch < "\x80":
            out.append(ch.upper())
            continue
        lower = ch.lower()
        lower = lower if len(lower) == 1 else ch
        upper = lower.upper()
        out.append(upper if len(upper) == 1 else lower)
    return "".join(out)


def go_pairs(value: Any) -> list[tuple[str, Any]] | None:
    """The pairs of a JSON object (a :class:`GoObject` or any mapping), else ``None``."""
    if isinstance(value, GoObject):
        return list(value)
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    return None


def go_struct_strings(
    value: Any, fields: Iterable[str], where: str
) -> dict[str, str]:
    """Decode an object into a Go struct whose ``fields`` are all ``string``.

    Matching is case-insensitive, a later pair overwrites an earlier one, ``null`` leaves
    the field as it was, other keys are ignored. Raises :class:`InputError` naming
    ``where`` and the field (never its value) for a field of another JSON type, or when
    ``value`` is not an object. ``null`` decodes to the zero struct.
    """
    out = dict.fromkeys(fields, "")
    if value is None:
        return out
    pairs = go_pairs(value)
    if pairs is None:
        raise InputError(f"{where} is not a JSON object")
    by_fold = {go_fold(f): f for f in out}
    for key, item in pairs:
        name = by_fold.get(go_fold(key))
        if name is None or item is None:
            continue
        if not isinstance(item, str):
            raise InputError(f"{where}: field {name} is not a string")
        out[name] = item
    return out


def go_string_map(value: Any, where: str) -> dict[str, Any]:
    """Decode an object into a Go ``map[string]T`` (values left to the caller).

    Duplicated keys: the last one wins. ``null`` is an empty map.
    """
    if value is None:
        return {}
    pairs = go_pairs(value)
    if pairs is None:
        raise InputError(f"{where} is not a JSON object")
    out: dict[str, Any] = {}
    for key, item in pairs:
        out.pop(key, None)  # keep the position of the last occurrence, as decoded last
        out[key] = item
    return out


def go_field_values(value: Any, name: str) -> list[Any]:
    """Every value an object gives the struct field ``name``, in document order.

    Go decodes each matching pair in turn into the same field; a map field accumulates
    them (and ``null`` resets it), so a caller may need all of them.
    """
    pairs = go_pairs(value) or []
    folded = go_fold(name)
    return [item for key, item in pairs if go_fold(key) == folded]



def _decode_get_output(stdout: str, program: str) -> tuple[str, str]:
    """Username and Secret from ``get``'s stdout, decoded as Go's json.Decoder would
    (field names case-insensitive, the last duplicate wins, only the first value read)."""
    try:
        doc = go_json_loads(stdout, first_value_only=True)
        fields = go_struct_strings(doc, ("ServerURL", "Username", "Secret"), program)
    except (GoJSONError, InputError):
        raise OperationError(
            f"credential helper {program} get: its output is not the expected JSON "
            '{"ServerURL","Username","Secret"}'
        ) from None
    return fields["Username"], fields["Secret"]


@dataclass(frozen=True)
class CredentialHelper:
    """One credential helper, run as a subprocess per call.

    ``env`` is the environment it runs in (``None``: this process's); ``PATH`` in it is
    where ``docker-credential-<name>`` is looked up. ``timeout`` bounds each call, since a
    helper may wait on a keychain prompt that never comes.
    """

    name: str
    timeout: float = DEFAULT_TIMEOUT
    env: Mapping[str, str] | None = field(default=None, repr=False)

    @property
    def program(self) -> str:
        return helper_program(self.name)

    @property
    def source(self) -> str:
        """What :attr:`Credential.source` says for credentials from this helper."""
        return f"credential helper {self.program}"

    def _run(self, action: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        env = None if self.env is None else dict(self.env)
        try:
            return subprocess.run(
                [self.program, action],
                input=stdin,
                capture_output=True,
                timeout=self.timeout,
                env=env,
                check=False,
            )
        except FileNotFoundError:
            raise OperationError(
                f"credential helper {self.program} not found on PATH "
                f"(the docker config names it for this registry)"
            ) from None
        except PermissionError:
            raise OperationError(f"credential helper {self.program} is not executable") from None
        except subprocess.TimeoutExpired:
            raise OperationError(
                f"credential helper {self.program} {action} did not answer within "
                f"{self.timeout:g} s"
            ) from None
        except OSError as e:
            raise OperationError(
                f"credential helper {self.program} could not be run ({e.strerror or e})"
            ) from None

    def _failed(
        self, action: str, done: subprocess.CompletedProcess[bytes], secrets: tuple[str, ...]
    ) -> OperationError:
        why = failure_summary(
            done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"),
            secrets,
        )
        status = f"exit status {done.returncode}"
        return OperationError(
            f"credential helper {self.program} {action} failed ({status})"
            + (f": {why}" if why else "")
        )

    def get(self, server_url: str) -> Credential:
        """The credential stored for ``server_url``; anonymous (with :attr:`source`) when the
        helper has none. Raises :class:`OperationError` when the helper fails."""
        done = self._run("get", _gojson.go_bytes(server_url))
        if done.returncode != 0:
            if is_not_found(done.stdout.decode("utf-8", "replace")) or is_not_found(
                done.stderr.decode("utf-8", "replace")
            ):
                return Credential(source=self.source)
            raise self._failed("get", done, ())
        username, secret = _decode_get_output(
            done.stdout.decode("utf-8", "surrogateescape"), self.program
        )
        if username == TOKEN_USERNAME:
            return Credential(identity_token=secret, source=self.source)
        return Credential(username=username, password=secret, source=self.source)

    def store(
        self, server_url: str, username: str, secret: str, *, identity_token: bool = False
    ) -> None:
        """Store a login. ``identity_token=True`` stores ``secret`` as an identity token
        (Username ``<token>``, as native_store.go ``storeCredentialsInStore`` does)."""
        payload = {
            "ServerURL": server_url,
            "Username": TOKEN_USERNAME if identity_token else username,
            "Secret": secret,
        }
        stdin = _gojson.go_bytes(_gojson.marshal(payload) + "\n")
        done = self._run("store", stdin)
        if done.returncode != 0:
            raise self._failed("store", done, (secret,))

    def erase(self, server_url: str) -> bool:
        """Remove the login for ``server_url``; ``False`` when the helper had none."""
        done = self._run("erase", _gojson.go_bytes(server_url))
        if done.returncode == 0:
            return True
        if is_not_found(done.stdout.decode("utf-8", "replace")) or is_not_found(
            done.stderr.decode("utf-8", "replace")
        ):
            return False
        raise self._failed("erase", done, ())

