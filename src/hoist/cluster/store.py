"""The embedded cluster's object store: Kubernetes-shaped objects in SQLite.

One database file, ``<cluster_dir>/cluster.db``, in WAL mode with a busy timeout, so the
CLI, the node and tests may use one cluster from several processes and threads at once;
every write is one ``BEGIN IMMEDIATE`` transaction. Objects are the dicts the API serves
(apiVersion, kind, metadata, spec, status); kinds are Namespace, Pod, Deployment (apps/v1),
Secret and ServiceAccount. Events live in their own table.

Two counters: ``resourceVersion`` (every write, as etcd's revision) and :meth:`revision`
(spec-level changes only: creating, updating, deleting any object — not pod status,
not events, not Deployment status). :meth:`wait_for_change` and :meth:`wait_for_write`
wait on them, woken by inotify where the system has it (:mod:`hoist.cluster.notify`).

Admission settings (:class:`AdmissionConfig`) are stored in the database: give
``Cluster.open(dir, admission=AdmissionConfig(always_pull_images=True))`` (or call
:meth:`Cluster.set_admission`) once, and every later ``Cluster.open(dir)`` in any process
admits pods the same way, as every request to one kube-apiserver is.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import copy
import fcntl
import json
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.cluster import controllers
from hoist.cluster.admission import (
    AdmissionConfig,
    admit_pod_create,
    admit_pod_update,
    default_deployment,
)
from hoist.cluster.validation import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    validate_deployment,
    validate_deployment_update,
    validate_namespace,
    validate_pod,
    validate_pod_update,
    validate_secret,
    validate_service_account,
)
from hoist.errors import InputError, OperationError

if TYPE_CHECKING:
    from hoist.cluster.notify import DirectoryWatch

CLUSTER_DB = "cluster.db"
# A node counts as alive while its last heartbeat is this recent.
NODE_ALIVE_SECONDS = 10.0
# kube-apiserver's --event-ttl default: events older than an hour are dropped.
EVENT_TTL_SECONDS = 3600.0
# After a write wakes a waiter, the counter is looked at this many more times, this far
# apart, before the waiter blocks again (see Cluster._wait).
SETTLE_LOOKS = 5
SETTLE_INTERVAL = 0.002
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Namespaces a cluster starts with; the first three may not be deleted (NamespaceLifecycle).
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
DEFAULT_NAMESPACE = "default"
# client-go EventAggregator: more than 10 similar events in 10 minutes are combined.
EVENT_AGGREGATE_MAX = 10
EVENT_AGGREGATE_WINDOW = 600.0
EVENT_COMBINED_PREFIX = "(combined from similar events): "


@dataclass(frozen=True, slots=True)
class KindInfo:
    kind: str
    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def resource(self) -> str:
        """``pods``, ``deployments.apps``: how kubectl names the resource in messages."""
        group = self.api_version.split("/")[0] if "/" in self.api_version else ""
        return f"{self.plural}.{group}" if group else self.plural


KINDS: dict[str, KindInfo] = {
    "Namespace": KindInfo("Namespace", "v1", "namespaces", namespaced=False),
    "Pod": KindInfo("Pod", "v1", "pods"),
    "Deployment": KindInfo("Deployment", "apps/v1", "deployments"),
    "Secret": KindInfo("Secret", "v1", "secrets"),
    "ServiceAccount": KindInfo("ServiceAccount", "v1", "serviceaccounts"),
}


def kind_info(kind: str) -> KindInfo:
    info = KINDS.get(kind)
    if info is None:
        raise BadRequestError(
            f'no matches for kind "{kind}": the embedded cluster serves '
            + ", ".join(KINDS))
    return info


def default_cluster_dir() -> Path:
    """``$XDG_DATA_HOME/hoist/cluster``, else ``~/.local/share/hoist/cluster``."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "hoist" / "cluster"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (kind, namespace, name));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    namespace TEXT NOT NULL, name TEXT NOT NULL, involved_uid TEXT NOT NULL,
    correlation TEXT NOT NULL, last REAL NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (namespace, name));
CREATE INDEX IF NOT EXISTS events_by_key ON events (correlation);
CREATE INDEX IF NOT EXISTS events_by_uid ON events (involved_uid);
CREATE TABLE IF NOT EXISTS event_similar (
    key TEXT PRIMARY KEY, messages TEXT NOT NULL, last REAL NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY, runtime TEXT NOT NULL, info TEXT NOT NULL, heartbeat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS controller_state (uid TEXT PRIMARY KEY, data TEXT NOT NULL);
"""


# ``Cluster.list`` shadows the builtin inside the class body.
Objects = list[dict[str, Any]]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def _qualified_name(info: KindInfo, name: str) -> str:
    return f'{info.resource} "{name}"'


def _three_way(last: Any, current: Any, new: Any) -> Any:
    """kubectl apply's merge, simplified: fields the applied configuration sets win;
    fields it set last time and dropped now are removed; fields it never set (defaults,
    server-set values) are kept. Lists of named objects merge item by item, by name."""
    if isinstance(new, dict) and isinstance(current, dict):
        last_d = last if isinstance(last, dict) else {}
        out: dict[str, Any] = {}
        for key, value in current.items():
            if key in new:
                out[key] = _three_way(last_d.get(key), value, new[key])
            elif key not in last_d:
                out[key] = value
        for key, value in new.items():
            if key not in out:
                out[key] = value
        return out
    if (isinstance(new, list) and isinstance(current, list) and new and
            all(isinstance(i, dict) and "name" in i for i in (*new, *current))):
        by_name = {i["name"]: i for i in current}
        last_by_name = {i.get("name"): i for i in last if isinstance(i, dict)} if isinstance(
            last, list) else {}
        return [_three_way(last_by_name.get(i["name"]), by_name[i["name"]], i)
                if i["name"] in by_name else i for i in new]
    return copy.deepcopy(new)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _label_match(obj: Mapping[str, Any], selector: Mapping[str, str] | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


# Fields of an object's metadata that the user writes (the rest is the server's).
_USER_META = ("name", "generateName", "namespace", "labels", "annotations", "ownerReferences",
              "finalizers")


def _spec_view(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What counts as a change for apply's ``unchanged``: everything but status and the
    server-set metadata."""
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    meta = obj.get("metadata") or {}
    out["metadata"] = {k: meta[k] for k in _USER_META if k in meta}
    return out


class Cluster:
    """A handle on one embedded cluster. Thread-safe; many may be open on one directory
    in many processes. Use :meth:`open` to get one."""

    def __init__(self, cluster_dir: Path, conn: sqlite3.Connection,
                 clock: Callable[[], float]) -> None:
        self.cluster_dir = cluster_dir
        self._conn = conn
        self._lock = threading.RLock()
        self._clock = clock
        self._rng = random.SystemRandom()
        self._watches: dict[int, DirectoryWatch | None] = {}

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, cluster_dir: Path | None = None, *, admission: AdmissionConfig | None = None,
             clock: Callable[[], float] | None = None) -> Cluster:
        """Open (creating when needed) the cluster in ``cluster_dir`` (default
        :func:`default_cluster_dir`). ``admission`` replaces the stored admission
        settings; ``clock`` (seconds since the epoch) is for tests."""
        directory = Path(cluster_dir) if cluster_dir is not None else default_cluster_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(directory / CLUSTER_DB, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise InputError(f"{directory}: cannot open the cluster database ({e})") from None
        conn.execute("PRAGMA busy_timeout = 30000")
        cluster = cls(directory, conn, clock or time.time)
        # Switching to WAL and creating the schema answer "database is locked" at once,
        # without waiting, when another process does the same: processes opening one
        # cluster take turns here.
        with _exclusive(directory / "cluster.lock"):
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    conn.execute(statement)
            cluster._bootstrap()
        if admission is not None:
            cluster.set_admission(admission)
        return cluster

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            for watch in self._watches.values():
                if watch is not None:
                    watch.close()
            self._watches.clear()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Cluster({str(self.cluster_dir)!r})"

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction; a database failure (locked past the busy timeout, disk
        full) is an OperationError naming the database."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise OperationError(f"{self.cluster_dir / CLUSTER_DB}: {e}") from None
            try:
                yield cur
            except sqlite3.Error as e:
                cur.execute("ROLLBACK")
                raise OperationError(f"{self.cluster_dir / CLUSTER_DB}: {e}") from None
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _now(self) -> float:
        return float(self._clock())

    def now(self) -> float:
        """The cluster's clock (seconds since the epoch): what it stamps objects with."""
        return self._now()

    # ------------------------------------------------------------------ settings

    def admission(self) -> AdmissionConfig:
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM settings WHERE key = 'admission'").fetchone()
        return AdmissionConfig.from_dict(json.loads(row[0])) if row else AdmissionConfig()

    def set_admission(self, config: AdmissionConfig) -> None:
        with self._write() as cur:
            cur.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('admission', ?)",
                        (_dumps(config.to_dict()),))

    # ------------------------------------------------------------------ counters

    def _bump(self, cur: sqlite3.Cursor, name: str) -> int:
        cur.execute("INSERT INTO counters (name, value) VALUES (?, 1) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + 1", (name,))
        row = cur.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def revision(self) -> int:
        """Increases on every spec-level change: create, update or delete of any object."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM counters WHERE name = 'revision'").fetchone()
        return int(row[0]) if row else 0

    def resource_version(self) -> int:
        """Increases on every write, status and events included (etcd's revision)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM counters WHERE name = 'resourceVersion'").fetchone()
        return int(row[0]) if row else 0

    def wait_for_change(self, since: int, timeout: float) -> int:
        """The revision once it differs from ``since``, or the current one after
        ``timeout`` seconds."""
        return self._wait(self.revision, since, timeout)

    def wait_for_write(self, since: int, timeout: float) -> int:
        """The resource version once it differs from ``since`` (any write: a pod's status,
        an event), or the current one after ``timeout`` seconds."""
        return self._wait(self.resource_version, since, timeout)

    def _wait(self, counter: Callable[[], int], since: int, timeout: float) -> int:
        deadline = time.monotonic() + max(0.0, timeout)
        # The watch exists before the first read, so no write can slip between the two.
        watch = self._watch()
        settling = 0
        while True:
            current = counter()
            remaining = deadline - time.monotonic()
            if current != since or remaining <= 0:
                return current
            if watch is None:
                # No notifications here: one indexed read of a counter is cheap enough to
                # repeat 100 times a second.
                time.sleep(min(0.01, remaining))
            elif settling:
                # A commit writes its WAL frames (which inotify reports) before the index
                # in the shared memory that makes them visible (which it does not): after
                # a wake the counter is read again a few times before blocking.
                settling -= 1
                watch.wait(min(remaining, SETTLE_INTERVAL))
            elif watch.wait(remaining):
                settling = SETTLE_LOOKS

    def _watch(self) -> DirectoryWatch | None:
        """This thread's watch on the cluster directory (one per thread, so two waiters
        never take each other's notifications), kept until :meth:`close`: closing an
        inotify descriptor waits for an RCU grace period, about a millisecond."""
        ident = threading.get_ident()
        with self._lock:
            if ident in self._watches:
                return self._watches[ident]
        from hoist.cluster.notify import open_watch

        watch = open_watch(self.cluster_dir)
        with self._lock:
            self._watches[ident] = watch
        return watch

    # ------------------------------------------------------------------ raw rows

    def _row(self, cur: sqlite3.Cursor | sqlite3.Connection, kind: str, namespace: str,
             name: str) -> dict[str, Any] | None:
        row = cur.execute("SELECT body FROM objects WHERE kind = ? AND namespace = ? AND "
                          "name = ?", (kind, namespace, name)).fetchone()
        return json.loads(row[0]) if row else None

    def _rows(self, cur: sqlite3.Cursor | sqlite3.Connection, kind: str,
              namespace: str | None) -> list[dict[str, Any]]:
        if namespace is None:
            rows = cur.execute("SELECT body FROM objects WHERE kind = ? ORDER BY namespace, "
                               "name", (kind,)).fetchall()
        else:
            rows = cur.execute("SELECT body FROM objects WHERE kind = ? AND namespace = ? "
                               "ORDER BY name", (kind, namespace)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def _store(self, cur: sqlite3.Cursor, obj: dict[str, Any], spec_change: bool) -> None:
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._bump(cur, "resourceVersion"))
        if spec_change:
            self._bump(cur, "revision")
        cur.execute("INSERT OR REPLACE INTO objects (kind, namespace, name, uid, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (obj["kind"], meta.get("namespace", ""), meta["name"], meta["uid"],
                     _dumps(obj)))

    def _remove(self, cur: sqlite3.Cursor, obj: Mapping[str, Any]) -> None:
        meta = obj["metadata"]
        cur.execute("DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?",
                    (obj["kind"], meta.get("namespace", ""), meta["name"]))
        self._bump(cur, "resourceVersion")
        self._bump(cur, "revision")

    # ------------------------------------------------------------------ bootstrap

    def _bootstrap(self) -> None:
        """The namespaces a cluster starts with and their ``default`` ServiceAccounts
        (the serviceaccounts controller's job), only when missing."""
        with self._lock:
            have = {r[0] for r in self._conn.execute(
                "SELECT name FROM objects WHERE kind = 'Namespace'")}
            sas = {r[0] for r in self._conn.execute(
                "SELECT namespace FROM objects WHERE kind = 'ServiceAccount' AND "
                "name = 'default'")}
        if set(INITIAL_NAMESPACES) <= have and have <= sas:
            return
        with self._write() as cur:
            for ns in INITIAL_NAMESPACES:
                if self._row(cur, "Namespace", "", ns) is None:
                    self._insert_new(cur, {"apiVersion": "v1", "kind": "Namespace",
                                           "metadata": {"name": ns}})
            self._ensure_default_accounts(cur)

    def _ensure_default_accounts(self, cur: sqlite3.Cursor, only: str | None = None) -> None:
        namespaces = [only] if only else [n["metadata"]["name"]
                                          for n in self._rows(cur, "Namespace", "")]
        for ns in namespaces:
            if self._row(cur, "Namespace", "", ns) is None:
                continue
            if self._row(cur, "ServiceAccount", ns, "default") is None:
                self._insert_new(cur, {"apiVersion": "v1", "kind": "ServiceAccount",
                                       "metadata": {"name": "default", "namespace": ns}})

    def _insert_new(self, cur: sqlite3.Cursor, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = controllers.format_timestamp(self._now())
        if obj["kind"] in ("Deployment", "Pod"):
            # Pods carry a generation too since Kubernetes 1.33 (KEP-5067): a node can tell
            # a changed spec (a new image) from a status write.
            meta["generation"] = 1
        if obj["kind"] == "Namespace":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        self._store(cur, obj, spec_change=True)
        return obj

    # ------------------------------------------------------------------ reading

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        info = kind_info(kind)
        ns = (namespace or DEFAULT_NAMESPACE) if info.namespaced else ""
        with self._lock:
            return self._row(self._conn, kind, ns, name)

    def list(self, kind: str, namespace: str | None = None,
             label_selector: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` (all namespaces when None), by namespace
        and name, that carry every label of ``label_selector``."""
        info = kind_info(kind)
        with self._lock:
            objs = self._rows(self._conn, kind, namespace if info.namespaced else None)
        return [o for o in objs if _label_match(o, label_selector)]

    # ------------------------------------------------------------------ writing

    def _prepare(self, obj: Mapping[str, Any]) -> tuple[KindInfo, dict[str, Any]]:
        if not isinstance(obj, Mapping):
            raise BadRequestError("an object must be a mapping")
        kind = obj.get("kind")
        if not isinstance(kind, str) or not kind:
            raise BadRequestError("Object 'Kind' is missing")
        info = kind_info(kind)
        api_version = obj.get("apiVersion")
        if api_version != info.api_version:
            raise BadRequestError(
                f'no matches for kind "{kind}" in version "{api_version}" (the embedded '
                f"cluster serves {kind} as {info.api_version})")
        new = copy.deepcopy(dict(obj))
        meta = new.get("metadata")
        if meta is None:
            meta = new["metadata"] = {}
        if not isinstance(meta, dict):
            raise BadRequestError("metadata must be a mapping")
        if info.namespaced:
            meta["namespace"] = meta.get("namespace") or DEFAULT_NAMESPACE
        else:
            meta.pop("namespace", None)
        for server_field in ("uid", "resourceVersion", "creationTimestamp", "generation",
                             "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                             "managedFields"):
            meta.pop(server_field, None)
        if kind in ("Pod", "Deployment", "Namespace"):
            new.pop("status", None)
        if kind == "Secret":
            _normalize_secret(new)
        return info, new

    def _admit_create(self, cur: sqlite3.Cursor, info: KindInfo,
                      obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = str(meta["generateName"]) + controllers.random_suffix(self._rng)
        ns = meta.get("namespace", "")
        name = str(meta.get("name") or "")
        if info.namespaced and self._row(cur, "Namespace", "", ns) is None:
            # NamespaceLifecycle admission.
            raise NotFoundError(f'namespaces "{ns}" not found')
        if info.kind == "Pod":
            self._ensure_default_accounts(cur, ns)

            def lookup(namespace: str, sa: str) -> dict[str, Any] | None:
                return self._row(cur, "ServiceAccount", namespace, sa)

            obj = admit_pod_create(obj, ns, lookup, self.admission())
            validate_pod(obj)
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj["spec"])}
        elif info.kind == "Deployment":
            default_deployment(obj)
            validate_deployment(obj)
        elif info.kind == "Secret":
            validate_secret(obj, _decoded_data(obj))
        elif info.kind == "ServiceAccount":
            validate_service_account(obj)
        elif info.kind == "Namespace":
            validate_namespace(obj)
        if name and self._row(cur, info.kind, ns, name) is not None:
            raise AlreadyExistsError(f"{_qualified_name(info, name)} already exists")
        return obj

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``obj`` (defaulting, admission, validation as the API server does);
        AlreadyExistsError when it exists."""
        info, new = self._prepare(obj)
        with self._write() as cur:
            stored = self._create_in(cur, info, new)
        if info.kind == "Deployment":
            self.reconcile()
        return stored

    def _create_in(self, cur: sqlite3.Cursor, info: KindInfo,
                   new: dict[str, Any]) -> dict[str, Any]:
        admitted = self._admit_create(cur, info, new)
        stored = self._insert_new(cur, admitted)
        if info.kind == "Namespace":
            self._ensure_default_accounts(cur, stored["metadata"]["name"])
        return stored

    def apply(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """Create or update like ``kubectl apply``: returns the stored object and
        ``created``, ``configured`` or ``unchanged``. The applied configuration is kept in
        the ``kubectl.kubernetes.io/last-applied-configuration`` annotation, and fields it
        never set (defaults such as imagePullPolicy) survive an update, as with kubectl."""
        info, new = self._prepare(obj)
        meta = new["metadata"]
        annotations = dict(meta.get("annotations") or {})
        annotations.pop(LAST_APPLIED, None)
        applied = copy.deepcopy(new)
        if annotations:
            applied["metadata"]["annotations"] = annotations
        else:
            applied["metadata"].pop("annotations", None)
        annotations[LAST_APPLIED] = _dumps(applied) + "\n"
        meta["annotations"] = annotations
        with self._write() as cur:
            name = str(meta.get("name") or "")
            current = self._row(cur, info.kind, meta.get("namespace", ""), name) if name \
                else None
            if current is None:
                stored, outcome = self._create_in(cur, info, new), "created"
            else:
                last_text = ((current.get("metadata") or {}).get("annotations") or {}).get(
                    LAST_APPLIED)
                try:
                    last = json.loads(last_text) if last_text else {}
                except json.JSONDecodeError:
                    last = {}
                merged = _three_way(last, _spec_view(current), _spec_view(new))
                stored, changed = self._update_in(cur, info, current, merged)
                outcome = "configured" if changed else "unchanged"
        if info.kind == "Deployment" and outcome != "unchanged":
            self.reconcile()
        return stored, outcome

    def patch(self, kind: str, namespace: str | None, name: str,
              patch: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Apply a JSON merge patch (RFC 7386) to an object's user fields; returns the
        stored object and whether anything changed."""
        info = kind_info(kind)
        ns = (namespace or DEFAULT_NAMESPACE) if info.namespaced else ""
        if not isinstance(patch, Mapping):
            raise BadRequestError("the patch must be a JSON object")
        with self._write() as cur:
            current = self._row(cur, kind, ns, name)
            if current is None:
                raise NotFoundError(f"{_qualified_name(info, name)} not found")
            view = _spec_view(current)
            target = merge_patch(view, dict(patch))
            target["kind"], target["apiVersion"] = kind, info.api_version
            target.setdefault("metadata", {}).update(
                {"name": name, **({"namespace": ns} if info.namespaced else {})})
            _, prepared = self._prepare(target)
            stored, changed = self._update_in(cur, info, current, prepared)
        if kind == "Deployment" and changed:
            self.reconcile()
        return stored, changed

    def _update_in(self, cur: sqlite3.Cursor, info: KindInfo, current: dict[str, Any],
                   new: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        meta = new.setdefault("metadata", {})
        name = current["metadata"]["name"]
        if info.kind == "Pod":
            new = admit_pod_update(new, current, self.admission())
            validate_pod(new)
            validate_pod_update(current.get("spec") or {}, new.get("spec") or {}, name)
        elif info.kind == "Deployment":
            default_deployment(new)
            validate_deployment(new)
            validate_deployment_update(current, new)
        elif info.kind == "Secret":
            _normalize_secret(new)
            validate_secret(new, _decoded_data(new))
        elif info.kind == "ServiceAccount":
            validate_service_account(new)
        elif info.kind == "Namespace":
            validate_namespace(new)
            new.setdefault("spec", current.get("spec"))
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if _spec_view(new) == _spec_view(current):
            return current, False
        stored = copy.deepcopy(current)
        for key in list(stored):
            if key not in ("metadata", "status", "apiVersion", "kind"):
                del stored[key]
        stored.update({k: v for k, v in new.items() if k not in ("metadata", "status")})
        smeta = stored["metadata"]
        for key in _USER_META:
            if key in meta:
                smeta[key] = meta[key]
            elif key not in ("name", "namespace"):
                smeta.pop(key, None)
        if info.kind in ("Deployment", "Pod") and new.get("spec") != current.get("spec"):
            smeta["generation"] = int(smeta.get("generation", 1)) + 1
        self._store(cur, stored, spec_change=True)
        return stored, True

    # ------------------------------------------------------------------ deleting

    def node_alive(self) -> bool:
        """Whether a node sent a heartbeat within the last ten seconds."""
        return self._alive_node() is not None

    def _alive_node(self) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT name FROM nodes WHERE heartbeat >= ? ORDER BY heartbeat DESC LIMIT 1",
                (self._now() - NODE_ALIVE_SECONDS,)).fetchone()
        return str(row[0]) if row else None

    def heartbeat(self, node_name: str, runtime_name: str, info: Mapping[str, Any]) -> None:
        with self._write() as cur:
            cur.execute("INSERT OR REPLACE INTO nodes (name, runtime, info, heartbeat) "
                        "VALUES (?, ?, ?, ?)",
                        (node_name, runtime_name, _dumps(dict(info)), self._now()))

    def nodes(self) -> Objects:
        """Every node that ever sent a heartbeat: name, runtime, info, heartbeat, alive."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, runtime, info, heartbeat FROM nodes ORDER BY name").fetchall()
        now = self._now()
        return [{"name": r[0], "runtime": r[1], "info": json.loads(r[2]), "heartbeat": r[3],
                 "alive": r[3] >= now - NODE_ALIVE_SECONDS} for r in rows]

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        """Delete an object; False when there is none. A Pod on a live node is only
        marked (``deletionTimestamp``) until the node calls :meth:`finalize_pod`; a
        Deployment's pods go with it; a Namespace takes its objects along."""
        info = kind_info(kind)
        ns = (namespace or DEFAULT_NAMESPACE) if info.namespaced else ""
        alive = self.node_alive()
        with self._write() as cur:
            obj = self._row(cur, kind, ns, name)
            if obj is None:
                return False
            if kind == "Namespace" and name in IMMORTAL_NAMESPACES:
                raise ForbiddenError(
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted')
            if kind == "Pod":
                self._delete_pod(cur, obj, alive)
            elif kind == "Deployment":
                uid = obj["metadata"]["uid"]
                for pod in self._rows(cur, "Pod", ns):
                    if controllers.owned_by(pod, uid):
                        self._delete_pod(cur, pod, alive)
                self._remove(cur, obj)
                cur.execute("DELETE FROM controller_state WHERE uid = ?", (uid,))
            elif kind == "Namespace":
                for pod in self._rows(cur, "Pod", name):
                    self._delete_pod(cur, pod, alive)
                for other in ("Deployment", "Secret", "ServiceAccount"):
                    for o in self._rows(cur, other, name):
                        self._remove(cur, o)
                self._remove(cur, obj)
            else:
                self._remove(cur, obj)
                if kind == "ServiceAccount" and name == "default":
                    self._ensure_default_accounts(cur, ns)  # the controller recreates it
        return True

    def _delete_pod(self, cur: sqlite3.Cursor, pod: dict[str, Any], alive: bool) -> None:
        meta = pod["metadata"]
        if not alive:
            self._remove(cur, pod)
            return
        if meta.get("deletionTimestamp"):
            return
        meta["deletionTimestamp"] = controllers.format_timestamp(self._now())
        meta["deletionGracePeriodSeconds"] = int(
            (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        self._store(cur, pod, spec_change=True)

    def finalize_pod(self, namespace: str, name: str, uid: str) -> bool:
        """The node is done with a deleted pod: remove it (only that incarnation)."""
        with self._write() as cur:
            pod = self._row(cur, "Pod", namespace, name)
            if pod is None or pod["metadata"].get("uid") != uid:
                return False
            self._remove(cur, pod)
        return True

    def update_pod_status(self, namespace: str, name: str, uid: str,
                          status: Mapping[str, Any]) -> bool:
        """Replace a pod's status (the ``/status`` subresource); False when the pod is
        gone or is another incarnation (``uid`` differs)."""
        with self._write() as cur:
            pod = self._row(cur, "Pod", namespace, name)
            if pod is None or pod["metadata"].get("uid") != uid:
                return False
            new_status = copy.deepcopy(dict(status))
            if "qosClass" not in new_status and "qosClass" in (pod.get("status") or {}):
                new_status["qosClass"] = pod["status"]["qosClass"]
            pod["status"] = new_status
            self._store(cur, pod, spec_change=False)
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == "Deployment":
                    dep = self._row(cur, "Deployment", namespace, str(ref.get("name")))
                    if dep is not None and dep["metadata"]["uid"] == ref.get("uid"):
                        self._refresh_deployment_status(cur, dep, False)
        return True

    # ------------------------------------------------------------------ controllers

    def reconcile(self) -> None:
        """One pass of the control loops: default ServiceAccounts, scheduling onto the
        live node, and every Deployment's pods and status."""
        node = self._alive_node()
        failures: builtins.list[tuple[dict[str, Any], str]] = []
        with self._write() as cur:
            self._ensure_default_accounts(cur)
            for dep in self._rows(cur, "Deployment", None):
                problem = self._sync_deployment(cur, dep)
                if problem:
                    failures.append((dep, problem))
            scheduled = self._schedule(cur, node) if node else []
        for dep, message in failures:
            self.record_event(dep, "Warning", "FailedCreate", message,
                              source="replicaset-controller")
        for pod in scheduled:
            meta = pod["metadata"]
            self.record_event(pod, "Normal", "Scheduled",
                              f"Successfully assigned {meta['namespace']}/{meta['name']} "
                              f"to {node}", source="default-scheduler")

    def _schedule(self, cur: sqlite3.Cursor, node: str) -> Objects:
        """The scheduler of a one-node cluster: bind every unbound pod to the node."""
        bound = []
        for pod in self._rows(cur, "Pod", None):
            spec = pod.get("spec") or {}
            if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
                continue
            spec["nodeName"] = node
            status = pod.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or []
                          if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": controllers.format_timestamp(
                                   self._now())})
            status["conditions"] = conditions
            self._store(cur, pod, spec_change=True)
            bound.append(pod)
        return bound

    def _sync_deployment(self, cur: sqlite3.Cursor, dep: dict[str, Any]) -> str | None:
        meta = dep["metadata"]
        ns, uid = meta["namespace"], meta["uid"]
        pods = [p for p in self._rows(cur, "Pod", ns) if controllers.owned_by(p, uid)]
        plan = controllers.plan_rollout(dep, pods)
        alive = self._alive_node() is not None
        for pod in plan.delete:
            self._delete_pod(cur, pod, alive)
        problem = None
        for _ in range(plan.create):
            for _attempt in range(5):
                candidate = controllers.new_pod(dep, plan.hash,
                                                controllers.random_suffix(self._rng))
                if self._row(cur, "Pod", ns, candidate["metadata"]["name"]) is None:
                    break
            try:
                _, prepared = self._prepare(candidate)
                self._create_in(cur, KINDS["Pod"], prepared)
            except ApiError as e:
                problem = f"Error creating: {e}"
                break
        self._note_revision(cur, dep, plan.hash)
        self._refresh_deployment_status(cur, dep, plan.create > 0 and problem is None)
        return problem

    def _note_revision(self, cur: sqlite3.Cursor, dep: dict[str, Any], hash_: str) -> None:
        """``deployment.kubernetes.io/revision``: 1 for the first template, one more for
        each template the Deployment moves to (a template seen before keeps its number)."""
        uid = dep["metadata"]["uid"]
        row = cur.execute("SELECT data FROM controller_state WHERE uid = ?", (uid,)).fetchone()
        state = json.loads(row[0]) if row else {"revisions": {}}
        revisions: dict[str, int] = state["revisions"]
        top = max(revisions.values(), default=0)
        if revisions.get(hash_) != top or not revisions:
            revisions[hash_] = top + 1
            cur.execute("INSERT OR REPLACE INTO controller_state (uid, data) VALUES (?, ?)",
                        (uid, _dumps(state)))
        annotations = dep["metadata"].setdefault("annotations", {})
        wanted = str(revisions[hash_])
        if annotations.get(controllers.REVISION_ANNOTATION) != wanted:
            annotations[controllers.REVISION_ANNOTATION] = wanted
            self._store(cur, dep, spec_change=False)

    def _refresh_deployment_status(self, cur: sqlite3.Cursor, dep: dict[str, Any],
                                   created: bool) -> None:
        meta = dep["metadata"]
        current = self._row(cur, "Deployment", meta["namespace"], meta["name"]) or dep
        pods = [p for p in self._rows(cur, "Pod", meta["namespace"])
                if controllers.owned_by(p, meta["uid"])]
        status = controllers.deployment_status(current, pods, self._now(), created)
        if status != current.get("status"):
            current["status"] = status
            self._store(cur, current, spec_change=False)

    # ------------------------------------------------------------------ events

    def record_event(self, involved: Mapping[str, Any], type: str, reason: str, message: str,
                     *, source: str = "kubelet", host: str = "", field_path: str = "",
                     now: float | None = None) -> None:
        """Record a v1 Event about ``involved``, aggregated as client-go's event
        correlator does: an identical event (same source, object, fieldPath, type,
        reason, message) only raises the count and lastTimestamp; more than ten similar
        ones (differing only in message) within ten minutes are combined into one."""
        at = self._now() if now is None else float(now)
        meta = involved.get("metadata") or {}
        kind = str(involved.get("kind", ""))
        namespace = str(meta.get("namespace") or DEFAULT_NAMESPACE)
        ref = {"kind": kind, "namespace": namespace, "name": str(meta.get("name", "")),
               "uid": str(meta.get("uid", "")), "apiVersion": str(involved.get("apiVersion",
                                                                               "")),
               "resourceVersion": str(meta.get("resourceVersion", ""))}
        if field_path:
            ref["fieldPath"] = field_path
        if not ref["resourceVersion"]:
            del ref["resourceVersion"]
        identity = [source, host, kind, namespace, ref["name"], ref["uid"], ref["apiVersion"],
                    field_path, type, reason]
        stamp = controllers.format_timestamp(at)
        with self._write() as cur:
            cur.execute("DELETE FROM events WHERE last < ?", (at - EVENT_TTL_SECONDS,))
            similar_key = _dumps(identity)
            row = cur.execute("SELECT messages, last FROM event_similar WHERE key = ?",
                              (similar_key,)).fetchone()
            messages: builtins.list[str] = json.loads(row[0]) if row and \
                row[1] >= at - EVENT_AGGREGATE_WINDOW else []
            if message not in messages and len(messages) >= EVENT_AGGREGATE_MAX:
                message = EVENT_COMBINED_PREFIX + message
                correlation = _dumps([*identity, "<combined>"])
            else:
                if message not in messages:
                    messages.append(message)
                correlation = _dumps([*identity, message])
            cur.execute("INSERT OR REPLACE INTO event_similar (key, messages, last) "
                        "VALUES (?, ?, ?)", (similar_key, _dumps(messages), at))
            existing = cur.execute("SELECT namespace, name, body FROM events WHERE "
                                   "correlation = ?", (correlation,)).fetchone()
            if existing:
                event = json.loads(existing[2])
                event["count"] = int(event.get("count", 1)) + 1
                event["lastTimestamp"] = stamp
                # client-go patches only count, lastTimestamp and message of the first.
                event["message"] = message
                event["metadata"]["resourceVersion"] = str(self._bump(cur, "resourceVersion"))
                cur.execute("UPDATE events SET body = ?, last = ? WHERE namespace = ? AND "
                            "name = ?", (_dumps(event), at, existing[0], existing[1]))
                return
            # client-go names an event <object>.<unix nanoseconds, hex>; one nanosecond
            # more when two events of one object share a clock reading.
            nanos = int(at * 1e9)
            name = f"{ref['name']}.{nanos:x}"
            while cur.execute("SELECT 1 FROM events WHERE namespace = ? AND name = ?",
                              (namespace, name)).fetchone():
                nanos += 1
                name = f"{ref['name']}.{nanos:x}"
            event = {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                             "resourceVersion": str(self._bump(cur, "resourceVersion")),
                             "creationTimestamp": stamp},
                "involvedObject": ref, "reason": reason, "message": message,
                "source": {"component": source, **({"host": host} if host else {})},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "type": type,
                "eventTime": None, "reportingComponent": source,
                "reportingInstance": host,
            }
            cur.execute("INSERT INTO events (namespace, name, involved_uid, correlation, last, "
                        "body) VALUES (?, ?, ?, ?, ?, ?)",
                        (namespace, name, ref["uid"], correlation, at, _dumps(event)))

    def events(self, namespace: str | None = None,
               involved_uid: str | None = None, *,
               involved_uids: Sequence[str] | None = None) -> Objects:
        """v1 Events, oldest first (by lastTimestamp, then name); ``involved_uids``
        keeps those about any of these objects."""
        query, args = "SELECT body FROM events WHERE 1 = 1", []
        if namespace is not None:
            query += " AND namespace = ?"
            args.append(namespace)
        if involved_uid is not None:
            query += " AND involved_uid = ?"
            args.append(involved_uid)
        if involved_uids is not None:
            query += f" AND involved_uid IN ({', '.join('?' * len(involved_uids))})"
            args.extend(involved_uids)
        query += " ORDER BY last, name"
        with self._lock:
            rows = self._conn.execute(query, args).fetchall()
        return [json.loads(r[0]) for r in rows]


# --------------------------------------------------------------------------- internals


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _qos_class(spec: Mapping[str, Any]) -> str:
    """qos.GetPodQOS, coarsely: no requests or limits at all → BestEffort; every
    container's requests equal to limits for cpu and memory → Guaranteed; else Burstable."""
    containers = [c for key in ("initContainers", "containers") for c in spec.get(key) or []
                  if isinstance(c, Mapping)]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        if not all(k in limits for k in ("cpu", "memory")):
            return "Burstable"
        if any(requests.get(k, limits[k]) != limits[k] for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"


def _normalize_secret(secret: dict[str, Any]) -> None:
    """What the API server stores for a Secret: stringData merged into data (base64),
    type Opaque by default; data that is not base64 is the decoder's BadRequest."""
    data = secret.get("data") or {}
    if not isinstance(data, dict):
        raise BadRequestError('Secret in version "v1" cannot be handled as a Secret: '
                              "data must be a map of strings")
    for key, value in data.items():
        if not isinstance(value, str) or _b64(value) is None:
            raise BadRequestError(
                'Secret in version "v1" cannot be handled as a Secret: illegal base64 data '
                f"at key {key!r}")
    string_data = secret.pop("stringData", None) or {}
    if not isinstance(string_data, dict):
        raise BadRequestError('Secret in version "v1" cannot be handled as a Secret: '
                              "stringData must be a map of strings")
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
    if data:
        secret["data"] = data
    secret["type"] = secret.get("type") or "Opaque"


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _decoded_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    return {k: _b64(v) or b"" for k, v in (secret.get("data") or {}).items()}
