"""KEP-2535's pulled-image records on disk, as the kubelet keeps them
(pkg/kubelet/images/pullmanager/fs_pullrecords.go).

Two directories under the records directory (the kubelet's ``<root>/image_manager``):
``pulling/`` holds one ``ImagePullIntent`` per image being pulled, ``pulled/`` one
``ImagePulledRecord`` per image ref the node pulled. A file is named ``sha256-<hex>`` of
the image (intents) or the image ref (records), so names are filesystem-safe. Contents are
the kubelet's JSON (k8s.io/kubelet/config/v1alpha1 types.go), written atomically: a ``.tmp``
beside the target, fsync, rename. Only credential hashes are stored, never a secret.

Reading follows the kubelet: files that are not ``sha256-*`` or end in ``.tmp`` are not
records; a record that does not decode (strict: unknown fields, wrong kind or version) is
left out of listings and reported; a pulled record whose ``imageRef`` is not the one its
name says is treated as absent."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hoist.errors import OperationError

# k8s.io/kubelet/config/v1alpha1 (the version the kubelet writes); v1beta1 carries the
# same types since the feature went beta and is read as well.
API_VERSION = "kubelet.config.k8s.io/v1alpha1"
READABLE_API_VERSIONS = frozenset({API_VERSION, "kubelet.config.k8s.io/v1beta1"})
INTENT_KIND = "ImagePullIntent"
PULLED_KIND = "ImagePulledRecord"

# fs_pullrecords.go: cacheFilesSHA256Prefix, tmpFilesSuffix.
FILE_PREFIX = "sha256-"
TMP_SUFFIX = ".tmp"
PULLING_DIR = "pulling"
PULLED_DIR = "pulled"


class PullRecordError(OperationError):
    """A record could not be read, decoded or written. The message names the file."""


@dataclass(frozen=True)
class ImagePullSecret:
    """The coordinates of a pull Secret and the hash of the credential it held
    (config types.go ImagePullSecret). ``credential_hash`` is a SHA-256, not the secret."""

    uid: str
    namespace: str
    name: str
    credential_hash: str


@dataclass(frozen=True)
class ImagePullServiceAccount:
    """A service account whose token got the credentials (config types.go)."""

    uid: str
    namespace: str
    name: str


def secret_sort_key(s: ImagePullSecret) -> tuple[str, str, str]:
    # imagePullSecretLess: namespace, name, uid.
    return (s.namespace, s.name, s.uid)


def service_account_sort_key(s: ImagePullServiceAccount) -> tuple[str, str, str]:
    return (s.namespace, s.name, s.uid)


@dataclass(frozen=True)
class ImagePullCredentials:
    """What an image was pulled with: Secrets, service accounts, or credentials every pod
    on the node has (node config files, or none at all)."""

    secrets: tuple[ImagePullSecret, ...] = ()
    service_accounts: tuple[ImagePullServiceAccount, ...] = ()
    node_pod_accessible: bool = False


@dataclass(frozen=True)
class ImagePullIntent:
    image: str


@dataclass(frozen=True)
class ImagePulledRecord:
    """``credential_mapping`` keys are images without tag or digest (normalized
    repositories); ``last_updated`` is unix seconds, whole seconds once written (RFC 3339
    as metav1.Time encodes it)."""

    image_ref: str
    last_updated: float
    credential_mapping: Mapping[str, ImagePullCredentials] = field(default_factory=dict)


def cache_filename(key: str) -> str:
    """fs_pullrecords.go cacheFilename: ``sha256-`` and the hex SHA-256 of the key."""
    return FILE_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def go_json(obj: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it: no spaces, non-ASCII kept, and the
    HTML-significant characters and line/paragraph separators escaped (``<`` → ``\\u003c``).
    Those characters only ever occur inside strings, so replacing them afterwards is exact."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text.encode()


def _rfc3339(ts: float) -> str:
    # metav1.Time marshals as UTC RFC 3339 with whole seconds.
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> float:
    if not isinstance(value, str):
        raise ValueError("lastUpdatedTime is not a string")
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    return datetime.fromisoformat(text).timestamp()


def encode_intent(intent: ImagePullIntent) -> bytes:
    # Go's json.Encoder ends the document with a newline.
    return go_json({"kind": INTENT_KIND, "apiVersion": API_VERSION, "image": intent.image}) + b"\n"


def _credentials_json(c: ImagePullCredentials) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.secrets:
        out["kubernetesSecrets"] = [
            {"uid": s.uid, "namespace": s.namespace, "name": s.name,
             "credentialHash": s.credential_hash} for s in c.secrets]
    if c.service_accounts:
        out["kubernetesServiceAccounts"] = [
            {"uid": a.uid, "namespace": a.namespace, "name": a.name}
            for a in c.service_accounts]
    if c.node_pod_accessible:
        out["nodePodsAccessible"] = True
    return out


def encode_pulled_record(record: ImagePulledRecord) -> bytes:
    doc: dict[str, Any] = {"kind": PULLED_KIND, "apiVersion": API_VERSION,
                           "lastUpdatedTime": _rfc3339(record.last_updated),
                           "imageRef": record.image_ref}
    if record.credential_mapping:
        # Go marshals map keys sorted.
        doc["credentialMapping"] = {k: _credentials_json(record.credential_mapping[k])
                                    for k in sorted(record.credential_mapping)}
    return go_json(doc) + b"\n"


def _object(data: bytes, kind: str) -> dict[str, Any]:
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if doc.get("kind") != kind:
        raise ValueError(f"kind is {doc.get('kind')!r}, not {kind!r}")
    if doc.get("apiVersion") not in READABLE_API_VERSIONS:
        raise ValueError(f"unknown apiVersion {doc.get('apiVersion')!r}")
    return doc


def _strict(doc: Mapping[str, Any], allowed: set[str], what: str) -> None:
    # The kubelet decodes strictly: an unknown field fails the whole record.
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise ValueError(f'unknown field "{unknown[0]}" in {what}')


def _str(doc: Mapping[str, Any], key: str, required: bool = True) -> str:
    value = doc.get(key, None if required else "")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def decode_intent(data: bytes) -> ImagePullIntent:
    doc = _object(data, INTENT_KIND)
    _strict(doc, {"kind", "apiVersion", "image"}, INTENT_KIND)
    return ImagePullIntent(_str(doc, "image", required=False))


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise ValueError(f"{key} must be a list")
    return value


def _decode_credentials(doc: Any) -> ImagePullCredentials:
    if not isinstance(doc, dict):
        raise ValueError("credentials must be an object")
    _strict(doc, {"kubernetesSecrets", "kubernetesServiceAccounts", "nodePodsAccessible"},
            "ImagePullCredentials")
    secrets: list[ImagePullSecret] = []
    for s in _list(doc, "kubernetesSecrets"):
        if not isinstance(s, dict):
            raise ValueError("kubernetesSecrets entries must be objects")
        _strict(s, {"uid", "namespace", "name", "credentialHash"}, "ImagePullSecret")
        secrets.append(ImagePullSecret(_str(s, "uid", False), _str(s, "namespace", False),
                                       _str(s, "name", False), _str(s, "credentialHash", False)))
    accounts: list[ImagePullServiceAccount] = []
    for a in _list(doc, "kubernetesServiceAccounts"):
        if not isinstance(a, dict):
            raise ValueError("kubernetesServiceAccounts entries must be objects")
        _strict(a, {"uid", "namespace", "name"}, "ImagePullServiceAccount")
        accounts.append(ImagePullServiceAccount(_str(a, "uid", False),
                                                _str(a, "namespace", False),
                                                _str(a, "name", False)))
    node = doc.get("nodePodsAccessible", False)
    if not isinstance(node, bool):
        raise ValueError("nodePodsAccessible must be a boolean")
    return ImagePullCredentials(tuple(secrets), tuple(accounts), node)


def decode_pulled_record(data: bytes) -> ImagePulledRecord:
    doc = _object(data, PULLED_KIND)
    _strict(doc, {"kind", "apiVersion", "lastUpdatedTime", "imageRef", "credentialMapping"},
            PULLED_KIND)
    mapping = doc.get("credentialMapping") or {}
    if not isinstance(mapping, dict):
        raise ValueError("credentialMapping must be an object")
    return ImagePulledRecord(
        image_ref=_str(doc, "imageRef", required=False),
        last_updated=_parse_time(doc.get("lastUpdatedTime")),
        credential_mapping={k: _decode_credentials(v) for k, v in mapping.items()})


def write_atomically(directory: Path, name: str, content: bytes) -> None:
    """Write ``content`` to ``directory/name`` so a reader sees the old file or the new one,
    never a part: ``name.tmp``, fsync, rename, fsync the directory (the kubelet's writeFile
    renames too; the fsyncs make it survive a power cut)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / name
    tmp = directory / (name + TMP_SUFFIX)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PullRecordError(f"{target}: cannot write: {e.strerror or e}") from e


class FsPullRecords:
    """The records directory (``<node dir>/image_manager``): ``pulling/`` and ``pulled/``."""

    def __init__(self, records_dir: Path) -> None:
        self.records_dir = Path(records_dir)
        self.pulling_dir = self.records_dir / PULLING_DIR
        self.pulled_dir = self.records_dir / PULLED_DIR
        try:
            self.pulling_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.pulled_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise PullRecordError(f"{self.records_dir}: cannot create: {e.strerror or e}") from e

    # -- intents -------------------------------------------------------------------------

    def write_intent(self, image: str) -> None:
        write_atomically(self.pulling_dir, cache_filename(image),
                         encode_intent(ImagePullIntent(image)))

    def list_intents(self) -> tuple[list[ImagePullIntent], list[str]]:
        """Every readable intent, and one message per file that could not be used."""
        intents: list[ImagePullIntent] = []
        problems: list[str] = []
        for path, data in self._files(self.pulling_dir, problems):
            try:
                intents.append(decode_intent(data))
            except ValueError as e:
                problems.append(f"{path}: not an ImagePullIntent: {e}")
        return intents, problems

    def intent_exists(self, image: str) -> bool:
        """Raises PullRecordError when the file is there but unreadable."""
        path = self.pulling_dir / cache_filename(image)
        data = self._read(path)
        if data is None:
            return False
        try:
            return decode_intent(data).image == image
        except ValueError as e:
            raise PullRecordError(f"{path}: not an ImagePullIntent: {e}") from e

    def delete_intent(self, image: str) -> None:
        self._delete(self.pulling_dir / cache_filename(image))

    # -- pulled records ------------------------------------------------------------------

    def get_pulled_record(self, image_ref: str) -> ImagePulledRecord | None:
        """The record for ``image_ref``, or None. A file that is there but does not decode
        raises PullRecordError (the kubelet: exists, with the decoding error)."""
        path = self.pulled_dir / cache_filename(image_ref)
        data = self._read(path)
        if data is None:
            return None
        try:
            record = decode_pulled_record(data)
        except ValueError as e:
            raise PullRecordError(f"{path}: not an ImagePulledRecord: {e}") from e
        return record if record.image_ref == image_ref else None

    def list_pulled_records(self) -> tuple[list[ImagePulledRecord], list[str]]:
        records: list[ImagePulledRecord] = []
        problems: list[str] = []
        for path, data in self._files(self.pulled_dir, problems):
            try:
                records.append(decode_pulled_record(data))
            except ValueError as e:
                problems.append(f"{path}: not an ImagePulledRecord: {e}")
        return records, problems

    def write_pulled_record(self, record: ImagePulledRecord) -> None:
        write_atomically(self.pulled_dir, cache_filename(record.image_ref),
                         encode_pulled_record(record))

    def delete_pulled_record(self, image_ref: str) -> None:
        self._delete(self.pulled_dir / cache_filename(image_ref))

    # -- files ---------------------------------------------------------------------------

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise PullRecordError(f"{path}: cannot read: {e.strerror or e}") from e

    @staticmethod
    def _delete(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as e:
            raise PullRecordError(f"{path}: cannot remove: {e.strerror or e}") from e

    @staticmethod
    def _files(directory: Path, problems: list[str]) -> list[tuple[Path, bytes]]:
        """(path, content) of the record files directly in ``directory``, by name. Files the
        kubelet did not write (no ``sha256-`` prefix) and ``.tmp`` leftovers are not
        records; subdirectories are not walked."""
        out: list[tuple[Path, bytes]] = []
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as e:
            problems.append(f"{directory}: cannot list: {e.strerror or e}")
            return out
        for entry in entries:
            if not entry.name.startswith(FILE_PREFIX) or entry.name.endswith(TMP_SUFFIX):
                continue
            try:
                if entry.is_dir():
                    continue
                out.append((Path(entry.path), Path(entry.path).read_bytes()))
            except OSError as e:
                problems.append(f"{entry.path}: cannot read: {e.strerror or e}")
        return out
