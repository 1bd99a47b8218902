"""Which deflate the native builder's layers use: ``python -m bench.gzip_choice``.

Compresses one mixed input (4 copies of the busybox binary when present, 200 copies of a
Python source file, 2 MB of random bytes) with zlib -1/-6, ISA-L -1/-2/-3 and, when
installed, zlib-ng -1/-6; prints the best of 3 times and the sizes. Not part of
``python -m bench``: it chooses a library, it does not compare hoist with a peer tool.
"""

from __future__ import annotations

import os
import shutil
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from isal import isal_zlib


def _input() -> bytes:
    busybox = shutil.which("busybox")
    parts = [Path(busybox).read_bytes() * 4] if busybox else []
    parts.append(Path(__file__).with_name("runner.py").read_bytes() * 200)
    parts.append(os.urandom(2_000_000))
    return b"".join(parts)


def _raw(make: Callable[[], object], data: bytes) -> int:
    c = make()
    return len(c.compress(data) + c.flush())  # type: ignore[attr-defined]


def main() -> int:
    data = _input()
    candidates: dict[str, Callable[[], object]] = {
        **{f"zlib -{lvl}": (lambda lvl=lvl: zlib.compressobj(lvl, zlib.DEFLATED, -15))
           for lvl in (1, 6)},
        **{f"isal -{lvl}": (lambda lvl=lvl: isal_zlib.compressobj(lvl, isal_zlib.DEFLATED,
                                                                  -15))
           for lvl in (1, 2, 3)},
    }
    try:
        from zlib_ng import zlib_ng  # type: ignore[import-not-found]

        candidates.update({f"zlib-ng -{lvl}": (lambda lvl=lvl: zlib_ng.compressobj(
            lvl, zlib_ng.DEFLATED, -15)) for lvl in (1, 6)})
    except ImportError:
        print("(zlib-ng not installed: pip install zlib-ng to compare it too)")
    print(f"input: {len(data) / 1e6:.1f} MB")
    for name, make in candidates.items():
        best, size = float("inf"), 0
        for _ in range(3):
            start = time.perf_counter()
            size = _raw(make, data)
            best = min(best, time.perf_counter() - start)
        print(f"{name:12} {best * 1000:7.1f} ms  {size / 1e6:6.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
