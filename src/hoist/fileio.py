"""Writing a file so that a reader sees the old content or the new, never part of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, mode: int = 0o644, *,
                     durable: bool = True) -> None:
    """A temporary file beside ``path``, written and fsynced, then renamed over it; the
    temporary file goes on any failure. Secrets (docker config.json) and the kubelet's
    pull records keep writers of their own, for their modes and file names.

    ``durable=False`` skips the fsync, for caches whose readers take anything unreadable
    as a miss: after a crash such a file holds the old bytes, the new ones, or (on some
    filesystems) nothing, and a rebuild costs less than an fsync on every save, which
    also stalls every other file creation on the disk until the journal commits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
