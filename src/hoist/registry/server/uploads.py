"""Upload sessions: bytes stream to a file of their own while they are hashed; a finished
upload is verified and renamed into the store's blob directory, or removed.

Session files live under ``<store>/uploads/<server instance>/``; the instance directory
is flock-ed for the server's lifetime, so a starting server removes the directories of
servers that are gone (their sessions died with them) and leaves running ones alone."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from hoist.core.digest import Digest
from hoist.store.blobs import BlobDir

READ_CHUNK = 1 << 20


@dataclass(eq=False)
class UploadSession:
    id: str
    repo: str
    path: Path
    fd: int
    offset: int = 0
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False


class UploadError(Exception):
    """The body did not arrive whole (the client went away or sent too little)."""


class Uploads:
    def __init__(self, store_root: Path) -> None:
        self.base = Path(store_root) / "uploads"
        self.base.mkdir(parents=True, exist_ok=True)
        self._remove_abandoned()
        self.dir = self.base / f"{os.getpid()}-{secrets.token_hex(4)}"
        self.dir.mkdir()
        self._lock_fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self.sessions: dict[str, UploadSession] = {}

    def _remove_abandoned(self) -> None:
        for entry in self.base.iterdir():
            lock = entry / ".lock"
            try:
                fd = os.open(lock, os.O_RDWR)
            except OSError:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a running server's
            finally:
                os.close(fd)
            shutil.rmtree(entry, ignore_errors=True)

    def close(self) -> None:
        for session in list(self.sessions.values()):
            self.discard(session)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __len__(self) -> int:
        return len(self.sessions)

    def create(self, repo: str) -> UploadSession:
        upload_id = secrets.token_hex(16)
        path = self.dir / upload_id
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        session = UploadSession(upload_id, repo, path, fd)
        self.sessions[upload_id] = session
        return session

    def get(self, repo: str, upload_id: str) -> UploadSession | None:
        session = self.sessions.get(upload_id)
        if session is None or session.repo != repo or session.closed:
            return None
        session.touched = time.monotonic()
        return session

    def discard(self, session: UploadSession) -> None:
        self.sessions.pop(session.id, None)
        if not session.closed:
            session.closed = True
            with contextlib.suppress(OSError):
                os.close(session.fd)
        with contextlib.suppress(FileNotFoundError):
            session.path.unlink()

    def purge_idle(self, max_idle: float) -> int:
        cutoff = time.monotonic() - max_idle
        idle = [s for s in self.sessions.values() if s.touched < cutoff and not s.lock.locked()]
        for session in idle:
            self.discard(session)
        return len(idle)

    async def append(self, session: UploadSession, chunks: AsyncIterator[bytes],
                     expected: int | None) -> int:
        """Write the body at the session's end. When it breaks off or its length is not
        ``expected``, the session is rolled back to where it was and UploadError raised."""
        start, saved = session.offset, session.hasher.copy()
        written = 0
        try:
            async for chunk in chunks:
                if expected is not None and written + len(chunk) > expected:
                    raise UploadError(f"more than the {expected} bytes announced")
                view = memoryview(chunk)
                while view:
                    n = os.pwrite(session.fd, view, start + written)
                    view = view[n:]
                    written += n
                session.hasher.update(chunk)
            if expected is not None and written != expected:
                raise UploadError(f"{written} bytes of the {expected} announced")
        except BaseException as e:
            os.ftruncate(session.fd, start)
            session.offset, session.hasher = start, saved
            if isinstance(e, UploadError):
                raise
            if isinstance(e, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                raise
            raise UploadError(f"body broke off after {written} bytes: {e}") from None
        session.offset = start + written
        session.touched = time.monotonic()
        return written

    def digest_of(self, session: UploadSession, algorithm: str) -> Digest:
        """Blocking when ``algorithm`` is not sha256 (the file is hashed again)."""
        if algorithm == "sha256":
            return Digest("sha256", session.hasher.hexdigest())
        h = hashlib.new(algorithm)
        with open(session.path, "rb") as fh:
            while chunk := fh.read(READ_CHUNK):
                h.update(chunk)
        return Digest(algorithm, h.hexdigest())

    def commit(self, session: UploadSession, blobs: BlobDir, digest: Digest) -> bool:
        """Blocking: make the session's verified bytes the blob ``digest``. False when the
        blob was already there (the session's copy is dropped: committed once)."""
        self.sessions.pop(session.id, None)
        final = blobs.path(digest)
        if final.is_file():
            self.discard(session)
            return False
        os.fsync(session.fd)
        os.close(session.fd)
        session.closed = True
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(session.path, 0o644)
        os.replace(session.path, final)
        fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return True
