"""Registry-credential Secrets: build them as kubectl does, print them as kubectl prints them,
and read them back without ever showing a password.

:func:`docker_registry_secret` builds the object that
``kubectl create secret docker-registry NAME --docker-server=… --docker-username=…
--docker-password=… [--docker-email=…] [-n NS] --dry-run=client`` builds
(k8s.io/kubectl pkg/cmd/create/create_secret_docker.go); :func:`to_kubectl_yaml` and
:func:`to_kubectl_json` print it byte for byte as ``-o yaml`` / ``-o json`` do.

What kubectl does, and so what these functions do:

* ``.dockerconfigjson`` is Go's compact ``json.Marshal`` of
  ``{"auths":{SERVER:{"username","password","email","auth"}}}``: fields in that order, empty
  ones left out (``omitempty``; in practice only ``email``, since kubectl refuses an empty
  username, password or server), ``auth`` = base64(``username:password``), the optional
  ``HttpHeaders`` never written. Strings are escaped as Go escapes them (``<`` ``>`` ``&``
  as ``\\u003c`` …, U+2028/U+2029, invalid UTF-8 as ``\\ufffd``).
* The default server is ``https://index.docker.io/v1/``.
* The namespace is written only when ``-n`` was given (``-n ''`` counts as not given).
* Client-side dry run keeps ``creationTimestamp: null`` and does not validate the name.
* ``-o json`` is ``json.MarshalIndent(…, "", "    ")`` in Go struct order (kind, apiVersion,
  metadata{name, namespace, creationTimestamp}, data, type); ``-o yaml`` goes through JSON
  and go-yaml v2, so keys are sorted and strings quoted only where YAML 1.1 would misread
  them (``"true"``, ``"0x1F"``, ``"2001-01-01"``, ``'a: b'`` …), long ones folded at column 80.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hoist.auth import _gojson, _goyaml
from hoist.errors import InputError

DEFAULT_DOCKER_SERVER = "https://index.docker.io/v1/"
SECRET_TYPE_DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
SECRET_TYPE_DOCKERCFG = "kubernetes.io/dockercfg"
DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson"
DOCKERCFG_KEY = ".dockercfg"

_KEY_FOR_TYPE = {
    SECRET_TYPE_DOCKER_CONFIG_JSON: DOCKER_CONFIG_JSON_KEY,
    SECRET_TYPE_DOCKERCFG: DOCKERCFG_KEY,
}

# Go struct field order of core/v1 Secret and meta/v1 ObjectMeta (what -o json follows).
_SECRET_FIELDS = ("kind", "apiVersion", "metadata", "immutable", "data", "stringData", "type")
_OBJECT_META_FIELDS = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)
# Go maps: encoding/json writes their keys sorted bytewise.
_MAP_FIELDS = frozenset({"data", "stringData"})
_META_MAP_FIELDS = frozenset({"labels", "annotations"})


@dataclass(frozen=True)
class RegistryCredentialInfo:
    """One registry entry of a pull secret: where it applies and as whom (never the password)."""

    registry: str
    username: str

    def to_dict(self) -> dict[str, str]:
        return {"registry": self.registry, "username": self.username}


# --------------------------------------------------------------------------- build

def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def docker_config_json(
    server: str, username: str, password: str, email: str = ""
) -> str:
    """The ``.dockerconfigjson`` text kubectl writes (before base64)."""
    entry: dict[str, str] = {}
    if username:
        entry["username"] = username
    if password:
        entry["password"] = password
    if email:
        entry["email"] = email
    auth = _b64(_gojson.go_bytes(username) + b":" + _gojson.go_bytes(password))
    entry["auth"] = auth
    return _gojson.marshal({"auths": {server: entry}})


def docker_registry_secret(
    name: str,
    server: str,
    username: str,
    password: str,
    email: str = "",
    namespace: str = "",
) -> dict[str, Any]:
    """The Secret ``kubectl create secret docker-registry … --dry-run=client`` builds.

    ``namespace=""`` leaves ``metadata.namespace`` out, as kubectl does without ``-n``.
    Pass :data:`DEFAULT_DOCKER_SERVER` for Docker Hub. Raises :class:`InputError` when the
    name, server, username or password is empty (kubectl refuses those too).
    """
    if not name:
        raise InputError("secret docker-registry: name must be specified")
    missing = [
        flag
        for flag, value in (
            ("--docker-username", username),
            ("--docker-password", password),
            ("--docker-server", server),
        )
        if not value
    ]
    if missing:
        raise InputError(
            f"secret docker-registry: {', '.join(missing)} must not be empty "
            "(username, password and server are all required)"
        )
    config = docker_config_json(server, username, password, email)
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    metadata["creationTimestamp"] = None
    return {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": metadata,
        "data": {DOCKER_CONFIG_JSON_KEY: _b64(_gojson.go_bytes(config))},
        "type": SECRET_TYPE_DOCKER_CONFIG_JSON,
    }


# --------------------------------------------------------------------------- print

def _ordered(obj: Mapping[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: obj[k] for k in order if k in obj}
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


def _go_map(obj: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in sorted(obj, key=lambda key: _gojson.go_bytes(str(key))):
        v = obj[k]
        out[k] = _b64(bytes(v)) if isinstance(v, bytes | bytearray) else v
    return out


def _canonical(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` with its fields in the order Go's encoding/json writes a core/v1 Secret."""
    out = _ordered(obj, _SECRET_FIELDS)
    for field in _MAP_FIELDS:
        if isinstance(out.get(field), Mapping):
            out[field] = _go_map(out[field])
    meta = out.get("metadata")
    if isinstance(meta, Mapping):
        meta = _ordered(meta, _OBJECT_META_FIELDS)
        for field in _META_MAP_FIELDS:
            if isinstance(meta.get(field), Mapping):
                meta[field] = _go_map(meta[field])
        out["metadata"] = meta
    return out


def to_kubectl_json(obj: Mapping[str, Any]) -> str:
    """What ``kubectl … -o json`` prints for the Secret ``obj``, trailing newline included.

    Fields are written in Go struct order whatever the dict's order; ``data`` values may be
    ``bytes`` (base64-encoded here) or the base64 text itself.
    """
    return _gojson.marshal_indent(_canonical(obj)) + "\n"


def to_kubectl_yaml(obj: Mapping[str, Any]) -> str:
    """What ``kubectl … -o yaml`` prints for the Secret ``obj``, trailing newline included.

    Raises :class:`InputError` where kubectl's own JSON→YAML step fails (a name holding
    DEL or a C1 control character: "yaml: control characters are not allowed").
    """
    try:
        value = _goyaml.reparse(_gojson.marshal(_canonical(obj)))
    except _goyaml.YAMLConversionError as e:
        raise _goyaml.YAMLConversionError(
            f"cannot print the Secret as YAML, and neither can kubectl ({e})"
        ) from None
    return _goyaml.emit(value)


def created_message(obj: Mapping[str, Any]) -> str:
    """The line kubectl prints without ``-o`` under ``--dry-run=client``."""
    name = str(obj.get("metadata", {}).get("name", ""))
    return f"secret/{name} created (dry run)\n"


# --------------------------------------------------------------------------- inspect

_B64_PADDED = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_RAW = re.compile(r"[A-Za-z0-9+/]*")


def _b64decode_std(text: str) -> bytes | None:
    """Go's ``base64.StdEncoding.DecodeString`` (CR and LF ignored, padding required)."""
    text = text.replace("\r", "").replace("\n", "")
    if len(text) % 4 or not _B64_PADDED.fullmatch(text):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64decode_raw(text: str) -> bytes | None:
    """Go's ``base64.RawStdEncoding.DecodeString`` (no padding)."""
    text = text.replace("\r", "").replace("\n", "")
    if len(text) % 4 == 1 or not _B64_RAW.fullmatch(text):
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse_text(text: str, source: str) -> Any:
    if text.startswith("\ufeff"):
        text = text[1:]
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # flow-style YAML is also YAML; let the YAML reader say where it breaks
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InputError(f"{source}: not valid YAML or JSON{where}") from None
    except yaml.YAMLError:
        raise InputError(f"{source}: not valid YAML or JSON") from None
    if len(docs) != 1:
        raise InputError(f"{source}: expected one Secret, found {len(docs)} documents")
    return docs[0]


def _secret_payload(secret: Mapping[str, Any], source: str) -> tuple[str, bytes]:
    kind = secret.get("kind")
    if kind is not None and kind != "Secret":
        raise InputError(f"{source}: not a Secret (kind is not Secret)")
    stype = secret.get("type")
    if stype not in _KEY_FOR_TYPE:
        if stype is None:
            shown = "missing (so Opaque)"
        elif isinstance(stype, str) and len(stype) <= 64:
            shown = repr(stype)
        else:
            shown = "not a known type"
        raise InputError(
            f"{source}: Secret type is {shown}; the kubelet only reads "
            f"{SECRET_TYPE_DOCKER_CONFIG_JSON} and {SECRET_TYPE_DOCKERCFG}"
        )
    key = _KEY_FOR_TYPE[stype]
    raw = _payload_bytes(secret, key, source)
    if raw is None:
        raise InputError(f"{source}: Secret of type {stype} has no {key} in data or stringData")
    return key, raw


def _payload_bytes(
    secret: Mapping[str, Any], key: str, source: str, *, decoded_ok: bool = False
) -> bytes | None:
    """The decoded ``key`` of a Secret manifest, ``stringData`` over ``data`` as the API
    server merges them; ``None`` when neither has it. With ``decoded_ok``, ``data`` values
    may also be ``bytes`` already decoded (a Secret as the API hands it to the kubelet)."""
    string_data = secret.get("stringData")
    data = secret.get("data")
    if string_data is not None and not isinstance(string_data, Mapping):
        raise InputError(f"{source}: stringData is not a mapping")
    if data is not None and not isinstance(data, Mapping):
        raise InputError(f"{source}: data is not a mapping")
    # The API server merges stringData over data, stringData winning.
    if string_data and key in string_data:
        value = string_data[key]
        if not isinstance(value, str):
            raise InputError(f"{source}: stringData[{key}] is not a string")
        return value.encode("utf-8", "surrogateescape")
    if data and key in data:
        value = data[key]
        if decoded_ok and isinstance(value, bytes | bytearray):
            return bytes(value)
        if not isinstance(value, str):
            raise InputError(f"{source}: data[{key}] is not a base64 string")
        raw = _b64decode_std(value)
        if raw is None:
            raise InputError(f"{source}: data[{key}] is not valid base64")
        return raw
    return None


def kubelet_secret_payload(
    secret: Mapping[str, Any], source: str
) -> tuple[str, bytes] | None:
    """The docker config a kubelet reads from a pull Secret: ``(key, decoded bytes)``, or
    ``None`` when the kubelet passes the Secret over.

    credentialprovider/secrets/secrets.go takes ``.dockerconfigjson`` from a Secret of type
    ``kubernetes.io/dockerconfigjson`` or ``.dockercfg`` from one of type
    ``kubernetes.io/dockercfg``, and only when that value is non-empty; any other Secret is
    skipped without a word. Raises :class:`InputError` for a manifest the API server would
    refuse (``data`` that is not base64, fields of the wrong type).
    """
    stype = secret.get("type")
    if not isinstance(stype, str) or stype not in _KEY_FOR_TYPE:
        return None
    key = _KEY_FOR_TYPE[stype]
    raw = _payload_bytes(secret, key, source, decoded_ok=True)
    if not raw:
        return None
    return key, raw


def _entries(key: str, raw: bytes, source: str) -> list[RegistryCredentialInfo]:
    where = f"{source}: {key}"
    try:
        config = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{where} is not valid JSON ({e.msg} at line {e.lineno}, "
                         f"column {e.colno})") from None
    if not isinstance(config, dict):
        raise InputError(f"{where} is not a JSON object")
    if key == DOCKER_CONFIG_JSON_KEY:
        if "auths" not in config:
            raise InputError(
                f"{where} has no \"auths\" object (a bare registry map is the legacy "
                f"{DOCKERCFG_KEY} format, for Secrets of type {SECRET_TYPE_DOCKERCFG})"
            )
        auths = config["auths"]
        section = "auths"
        if auths is None:
            auths = {}
        if not isinstance(auths, dict):
            raise InputError(f"{where}: \"auths\" is not a JSON object")
    else:
        auths, section = config, "registry map"
    out: list[RegistryCredentialInfo] = []
    for index, (registry, entry) in enumerate(auths.items(), start=1):
        label = f"{where}: {section} entry #{index}"
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise InputError(f"{label} is not a JSON object")
        for field in ("username", "password", "email", "auth"):
            if entry.get(field) is not None and not isinstance(entry[field], str):
                raise InputError(f"{label}: field {field} is not a string")
        username = entry.get("username") or ""
        auth = entry.get("auth") or ""
        if auth:
            # kubelet (credentialprovider/config.go): padded or unpadded base64 of user:pass;
            # it replaces username and password.
            decoded = _b64decode_std(auth) if auth.strip().endswith("=") else _b64decode_raw(auth)
            if decoded is None:
                raise InputError(f"{label}: auth is not valid base64")
            user, sep, _ = decoded.partition(b":")
            if not sep:
                raise InputError(f"{label}: auth is not base64(username:password)")
            username = user.decode("utf-8", "replace")
        out.append(RegistryCredentialInfo(registry=str(registry), username=username))
    return out


def inspect_docker_config_secret(
    text_or_obj: str | bytes | Mapping[str, Any], source: str = "<input>"
) -> list[RegistryCredentialInfo]:
    """Registry and username of each entry of a pull Secret, in file order.

    Reads a Secret of type ``kubernetes.io/dockerconfigjson`` (``.dockerconfigjson``:
    ``{"auths": {…}}``) or ``kubernetes.io/dockercfg`` (``.dockercfg``: the legacy bare map),
    given as YAML or JSON text or as a parsed mapping, its payload under ``data`` (base64) or
    ``stringData``. Usernames come from ``auth`` when it is set (split at the first colon),
    as the kubelet reads them. Passwords are never returned.

    Raises :class:`InputError` — one line naming ``source`` and what is wrong, never the
    Secret's content — for anything malformed.
    """
    if isinstance(text_or_obj, bytes | bytearray):
        try:
            text_or_obj = bytes(text_or_obj).decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{source}: not UTF-8 text") from None
    obj = _parse_text(text_or_obj, source) if isinstance(text_or_obj, str) else text_or_obj
    if not isinstance(obj, Mapping):
        raise InputError(f"{source}: not a Kubernetes object (expected a mapping)")
    key, raw = _secret_payload(obj, source)
    return _entries(key, raw, source)
