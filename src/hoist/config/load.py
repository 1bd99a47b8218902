"""Finding the config file and loading it, with a cache of parsed results.

Parsing a config costs little; importing the parser (PyYAML, the schema, profiles and
patches) costs tens of milliseconds, which is most of a no-change ``hoist build``. So the
model a file gave is kept in a small cache under the content store's ``build-cache``
directory, and a later load of the same bytes takes it from there without importing the
parser at all.

An entry is used only when everything the parse read is the same: the path as given
(the model names it), the file's bytes (compared by sha256, so no timestamp race can
serve a stale model), the profiles asked for, the command, the value of every environment
variable a profile activation looked at, the Python version, and the size and mtime of
every module whose code decides the result. Errors are never cached. A cache that cannot
be read or written is ignored: it only saves time. Entries are pickled models in the
user's own store, trusted as the store's other files are.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hoist.config.model import Config

CONFIG_NAMES = ("hoist.yaml", "skaffold.yaml")
CACHE_FORMAT = "hoist-config-cache-v1"
# Entries kept (one per config path, most recent first): a developer works on a few.
CACHE_ENTRIES = 16
_HOIST = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Modules outside hoist.config whose code shapes a loaded config (every module of
# hoist.config counts as well).
_CODE_OUTSIDE = ("errors.py", "manifests/source.py", "core/policy.py", "core/reference.py")


def find_config(explicit: str | None = None, directory: str = ".") -> str | None:
    """``-f FILE`` if given, else hoist.yaml, else skaffold.yaml in ``directory``."""
    if explicit:
        return explicit
    for name in CONFIG_NAMES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def load_config(path: str, profiles: Sequence[str] = (), *, command: str = "",
                environ: Mapping[str, str] | None = None) -> Config:
    """Load a config file into the model with the named profiles (``-p NAME``, also
    ``a,b`` and ``-NAME`` to deactivate) and the auto-activated ones for ``command``
    (``dev``, ``run``, ``build``, …) and ``environ`` (default: the process environment).
    Bad input raises InputError naming file, line and key."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        from hoist.errors import InputError

        raise InputError(f"{path}: {e.strerror or e}") from None
    env: Mapping[str, str] = os.environ if environ is None else environ
    cache_file = config_cache_file(os.environ)
    key = _key(path, data, profiles, command)
    entries = _read_entries(cache_file)
    slot = os.path.abspath(path)
    cached = _usable(entries.get(slot), key, env)
    if cached is not None:
        return cached

    from hoist.config.loader import parse_config

    recorder = _EnvRecorder(env)
    config = parse_config(path, data, profiles, command=command, environ=recorder)
    if not recorder.iterated:
        entries.pop(slot, None)
        kept = [(slot, (key, dict(recorder.looked_at), config)),
                *list(entries.items())[:CACHE_ENTRIES - 1]]
        _write_entries(cache_file, dict(kept))
    return config


def _usable(entry: Any, key: tuple[Any, ...], env: Mapping[str, str]) -> Config | None:
    """The entry's model when it was made from exactly what this load would read."""
    from hoist.config.model import Config  # already loaded by unpickling the entry

    try:
        cached_key, looked_at, config = entry
        if cached_key != key or not isinstance(config, Config):
            return None
        if all(env.get(k) == v for k, v in looked_at.items()):
            return config
    except (TypeError, ValueError, AttributeError):
        pass  # not an entry this code wrote
    return None


def config_cache_file(environ: Mapping[str, str]) -> str:
    """The cache file: ``build-cache/config/entries`` in the default content store
    (hoist.store.default_store_root, spelled out here so that loading a config does not
    import the store)."""
    base = environ.get("XDG_DATA_HOME") or os.path.join(environ.get("HOME", "~"),
                                                        ".local", "share")
    return os.path.join(os.path.expanduser(base), "hoist", "store", "build-cache", "config",
                        "entries")


class _EnvRecorder(Mapping[str, str]):
    """The environment as the parser sees it, noting every variable it looks up (a
    variable not set is noted as None). A parse that walks the whole environment cannot
    be keyed by what it read: ``iterated`` says so."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.looked_at: dict[str, str | None] = {}
        self.iterated = False

    def __getitem__(self, key: str) -> str:
        value = self._env.get(key)
        self.looked_at[key] = value
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        self.iterated = True
        return iter(self._env)

    def __len__(self) -> int:
        self.iterated = True
        return len(self._env)


def _key(path: str, data: bytes, profiles: Sequence[str], command: str) -> tuple[Any, ...]:
    return (CACHE_FORMAT, sys.version, _code_fingerprint(), path,
            hashlib.sha256(data).hexdigest(), tuple(profiles), command)


def _code_fingerprint() -> tuple[tuple[str, int, int], ...]:
    """Size and mtime of the modules that decide what a config loads as: a changed or
    reinstalled hoist misses the cache instead of serving a model its code would not
    give."""
    out: list[tuple[str, int, int]] = []
    try:
        config_dir = os.path.join(_HOIST, "config")
        with os.scandir(config_dir) as it:
            names = sorted(f"config/{e.name}" for e in it if e.name.endswith(".py"))
        for name in (*names, *_CODE_OUTSIDE):
            st = os.stat(os.path.join(_HOIST, name))
            out.append((name, st.st_size, st.st_mtime_ns))
    except OSError:
        out.append(("unreadable", 0, 0))
    return tuple(out)


def _read_entries(file: str) -> dict[str, tuple[Any, dict[str, str | None], Any]]:
    """The cache's entries by absolute config path, most recent first; {} when there is
    no cache or it cannot be read as one."""
    try:
        with open(file, "rb") as fh:
            raw = fh.read()
    except OSError:
        return {}
    try:
        from _pickle import loads
    except ImportError:  # pragma: no cover - a Python without the C accelerator
        from pickle import loads
    try:
        doc = loads(raw)
    except Exception:  # any damage (a torn or foreign file): an empty cache
        return {}
    if not (isinstance(doc, tuple) and len(doc) == 2 and doc[0] == CACHE_FORMAT
            and isinstance(doc[1], dict)):
        return {}
    return doc[1]


def _write_entries(file: str, entries: Mapping[str, Any]) -> None:
    """Replace the cache file (atomically); a cache that cannot be written stays as it
    was."""
    import pickle
    from pathlib import Path

    from hoist.fileio import write_atomically

    try:
        data = pickle.dumps((CACHE_FORMAT, dict(entries)), protocol=pickle.HIGHEST_PROTOCOL)
        write_atomically(Path(file), data, durable=False)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
