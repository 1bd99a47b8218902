"""The dev loop's push of a small new image to a registry that needs no credentials: which
blobs to send, sent side by side.

After hoist pushes an image, the registry repository holds every blob its manifest
names, and the next rebuild's image names mostly the same ones (the base layers, the
layers whose files did not change). :class:`PushedBlobs` records those digests per
registry and repository under the store's build-cache directory, so the next push asks
the registry only about the blobs not in the record. The record is a hint and never
decides correctness: a registry checks that a manifest's blobs are there when the
manifest is PUT, and when that PUT fails after blobs were skipped, the caller forgets the
record, asks about every blob and tries again.

:class:`BlobUpload` sends the remaining blobs, each on a connection of its own at the same
time (a rebuild has two: the new layer and the new config), so the push waits for the
slowest blob rather than for all of them in turn.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hoist.fileio import write_atomically

if TYPE_CHECKING:
    from hoist.core.manifest import Descriptor
    from hoist.registry.probe import QuickSession
    from hoist.store.store import ContentStore

RECORD_VERSION = 1
# Digests kept per repository, most recent first: a few images' worth of layers.
MAX_RECORDED = 512
# Connections at once: a registry serves a client's few uploads side by side.
MAX_CONNECTIONS = 4
# Blobs up to this size are uploaded without a HEAD first: an upload this small costs
# about what the question does, and a blob not in the record is most likely new.
SMALL_BLOB = 16 << 10


class PushedBlobs:
    """Blob digests known to be in ``repository`` of ``registry``, kept in a small JSON
    file under ``root``. Unreadable or damaged records count as empty; a record that
    cannot be written is left as it was (it only saves requests)."""

    def __init__(self, root: Path, registry: str, repository: str) -> None:
        self.registry = registry
        self.repository = repository
        name = hashlib.sha256(f"{registry}/{repository}".encode()).hexdigest()[:32]
        self.path = root / name
        self._known: list[str] | None = None

    def known(self) -> frozenset[str]:
        return frozenset(self._load())

    def _load(self) -> list[str]:
        if self._known is None:
            self._known = []
            try:
                doc = json.loads(self.path.read_bytes())
            except (OSError, ValueError):
                return self._known
            if isinstance(doc, dict) and doc.get("version") == RECORD_VERSION and \
                    doc.get("registry") == self.registry and \
                    doc.get("repository") == self.repository and \
                    isinstance(doc.get("blobs"), list):
                self._known = [d for d in doc["blobs"] if isinstance(d, str)]
        return self._known

    def remember(self, digests: Iterable[str]) -> None:
        """Add ``digests`` (the blobs of a manifest the registry just accepted)."""
        new = list(dict.fromkeys(digests))
        fresh = set(new)
        before = self._load()
        merged = [*new, *(d for d in before if d not in fresh)][:MAX_RECORDED]
        if merged == before:
            return
        self._write(merged)

    def forget(self) -> None:
        """The registry does not have what the record says: start again from nothing."""
        self._write([])

    def _write(self, blobs: list[str]) -> None:
        doc = {"version": RECORD_VERSION, "registry": self.registry,
               "repository": self.repository, "blobs": blobs}
        try:
            write_atomically(self.path, json.dumps(doc, separators=(",", ":")).encode(),
                             durable=False)
        except OSError:
            return
        self._known = blobs


class BlobUpload:
    """Blobs made sure of in ``repository``, side by side: each is HEADed and uploaded
    (read whole from the store) when the registry lacks it; a blob of at most
    ``SMALL_BLOB`` bytes is uploaded without asking, which costs no more than the
    question. Up to ``MAX_CONNECTIONS`` lanes; lane 0 runs on ``first`` in the caller's
    thread when given, every other lane on a session of its own from ``open_session`` in
    a thread. :meth:`wait` returns the blobs uploaded, or raises the first error of any
    lane once all have stopped."""

    def __init__(self, open_session: Callable[[], QuickSession], repository: str,
                 store: ContentStore, blobs: Sequence[Descriptor],
                 first: QuickSession | None = None) -> None:
        self._open = open_session
        self._repository = repository
        self._store = store
        self._blobs = list(blobs)
        self._first = first
        count = min(len(self._blobs), MAX_CONNECTIONS)
        self._lanes = [self._blobs[i::MAX_CONNECTIONS] for i in range(count)]
        self._sent: list[list[Descriptor]] = [[] for _ in self._lanes]
        self._errors: list[BaseException] = []
        start = 1 if first is not None else 0
        self._threads = [threading.Thread(target=self._lane, args=(i,), daemon=True,
                                          name=f"hoist-push-{i}")
                         for i in range(start, len(self._lanes))]
        for t in self._threads:
            t.start()

    def _lane(self, index: int) -> None:
        try:
            if index == 0 and self._first is not None:
                self._send(self._first, index)
                return
            with self._open() as session:
                self._send(session, index)
        except BaseException as e:  # raised in the caller's thread by wait()
            self._errors.append(e)

    def _send(self, session: QuickSession, index: int) -> None:
        for d in self._lanes[index]:
            digest = str(d.digest)
            if d.size <= SMALL_BLOB or not session.has_blob(self._repository, digest):
                session.put_blob(self._repository, digest, self._store.blobs.read(d.digest))
                self._sent[index].append(d)

    def wait(self) -> list[Descriptor]:
        if self._first is not None and self._lanes:
            self._lane(0)
        for t in self._threads:
            t.join()
        if self._errors:
            raise self._errors[0]
        uploaded = {str(d.digest) for part in self._sent for d in part}
        return [d for d in self._blobs if str(d.digest) in uploaded]
