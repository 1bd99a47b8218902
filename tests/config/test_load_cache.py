"""The loaded-config cache: a second load of the same bytes gives the same model without
importing the parser, and nothing the parse read can change without the cache seeing it
(bytes, path as given, profiles, command, the environment variables profiles look at,
hoist's own code)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hoist.config import Config, load_config
from hoist.config import load as cache
from hoist.errors import InputError
from hoist.store.store import default_store_root

HEAD = "apiVersion: skaffold/v4beta11\nkind: Config\n"
CONFIG = HEAD + """\
build:
  artifacts:
    - image: registry.test/app
      imagePullPolicy: Always
  tagPolicy:
    sha256: {}
profiles:
  - name: ci
    activation:
      - env: CI=true
    build:
      tagPolicy:
        inputDigest: {}
  - name: dev
    activation:
      - command: dev
    build:
      artifacts:
        - image: registry.test/dev-app
"""
REPO_ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str = CONFIG, name: str = "hoist.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _entries() -> dict[str, tuple[Any, dict[str, str | None], Any]]:
    return cache._read_entries(cache.config_cache_file(os.environ))


def test_the_cache_lives_in_the_default_store(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "HOME": "/home/u"}
    assert Path(cache.config_cache_file(env)) == \
        default_store_root(env) / "build-cache" / "config" / "entries"
    env = {"HOME": str(tmp_path / "home")}
    assert Path(cache.config_cache_file(env)) == \
        default_store_root(env) / "build-cache" / "config" / "entries"


def test_a_second_load_is_served_from_the_cache_and_equal(tmp_path: Path) -> None:
    path = _write(tmp_path)
    first = load_config(str(path), command="build", environ={})
    assert list(_entries()) == [os.path.abspath(path)]
    second = load_config(str(path), command="build", environ={})
    assert second == first and second is not first
    assert second.tag_policy == {"sha256": {}}
    assert second.artifacts[0].pull_policy is first.artifacts[0].pull_policy


def test_a_cached_load_does_not_import_the_parser(tmp_path: Path) -> None:
    path = _write(tmp_path)
    code = ("import sys\nfrom hoist.config import load_config\n"
            f"c = load_config({str(path)!r}, command='build')\n"
            "print(c.artifacts[0].image, 'yaml' in sys.modules,"
            " 'hoist.config.loader' in sys.modules)\n")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True).stdout.split() for _ in range(2)]
    assert runs[0] == ["registry.test/app", "True", "True"]  # parsed, and cached
    assert runs[1] == ["registry.test/app", "False", "False"]  # from the cache alone


def test_changed_bytes_are_parsed_again_even_with_the_same_size_and_mtime(
        tmp_path: Path) -> None:
    path = _write(tmp_path)
    first = load_config(str(path), environ={})
    st = path.stat()
    path.write_text(CONFIG.replace("registry.test/app", "registry.test/bpp"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    again = load_config(str(path), environ={})
    assert again.artifacts[0].image == "registry.test/bpp" != first.artifacts[0].image


def test_profiles_command_and_path_as_given_are_part_of_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    plain = load_config(str(path), environ={})
    assert plain.active_profiles == ()
    assert load_config(str(path), ["ci"], environ={}).active_profiles == ("ci",)
    assert load_config(str(path), environ={}).active_profiles == ()
    assert load_config(str(path), command="dev", environ={}).active_profiles == ("dev",)
    assert load_config(str(path), command="build", environ={}).active_profiles == ()
    monkeypatch.chdir(tmp_path)
    relative = load_config("hoist.yaml", environ={})
    assert relative.path == "hoist.yaml" and relative.artifacts[0].file == "hoist.yaml"
    assert load_config(str(path), environ={}).path == str(path)


def test_environment_variables_a_profile_looks_at_are_checked_on_every_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    assert load_config(str(path), environ={"CI": "true"}).active_profiles == ("ci",)
    assert load_config(str(path), environ={"CI": "true"}).active_profiles == ("ci",)
    assert load_config(str(path), environ={}).active_profiles == ()
    assert load_config(str(path), environ={"CI": "false"}).active_profiles == ()
    assert load_config(str(path), environ={"CI": "true", "OTHER": "x"}).active_profiles == \
        ("ci",)
    # the process environment by default
    monkeypatch.setenv("CI", "true")
    assert load_config(str(path)).active_profiles == ("ci",)
    monkeypatch.delenv("CI")
    assert load_config(str(path)).active_profiles == ()


def test_a_parse_that_walks_the_whole_environment_is_not_cached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hoist.config.loader as loader

    real = loader.parse_config

    def walking(*args: object, **kwargs: object) -> Config:
        env = kwargs["environ"]
        assert isinstance(env, cache._EnvRecorder)
        sorted(env)  # iterates: the entry could not say what it depends on
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "parse_config", walking)
    load_config(str(_write(tmp_path)), environ={})
    assert _entries() == {}


def test_errors_are_not_cached(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "build:\n  artifacts: [{image: app, colour: red}]\n")
    for _ in range(2):
        with pytest.raises(InputError, match="colour"):
            load_config(str(path), environ={})
    assert _entries() == {}
    path.write_text(HEAD + "build:\n  artifacts: [{image: app}]\n")
    assert load_config(str(path), environ={}).artifacts[0].image == "app"


def test_a_damaged_cache_is_ignored_and_replaced(tmp_path: Path) -> None:
    path = _write(tmp_path)
    load_config(str(path), environ={})
    file = Path(cache.config_cache_file(os.environ))
    for damage in (b"", b"\x80\x04garbage", b"not a pickle at all", file.read_bytes()[:40]):
        file.write_bytes(damage)
        assert load_config(str(path), environ={}).artifacts[0].image == "registry.test/app"
        assert list(_entries()) == [os.path.abspath(path)]


def test_an_unwritable_cache_only_costs_time(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))  # the cache directory cannot exist
    path = _write(tmp_path)
    assert load_config(str(path), environ={}) == load_config(str(path), environ={})


def test_other_code_misses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path)
    load_config(str(path), environ={})
    ((key, _, _),) = _entries().values()
    assert key == cache._key(str(path), path.read_bytes(), (), "")
    names = {name for name, _, _ in cache._code_fingerprint()}
    assert {"config/loader.py", "config/model.py", "config/schema.py", "config/profiles.py",
            "manifests/source.py", "core/policy.py"} <= names
    monkeypatch.setattr(cache, "_code_fingerprint", lambda: (("config/loader.py", 1, 2),))
    assert cache._key(str(path), path.read_bytes(), (), "") != key


def test_the_cache_keeps_a_bounded_number_of_configs(tmp_path: Path) -> None:
    paths = [_write(tmp_path, name=f"c{i}.yaml") for i in range(cache.CACHE_ENTRIES + 3)]
    for p in paths:
        load_config(str(p), environ={})
    kept = list(_entries())
    assert len(kept) == cache.CACHE_ENTRIES
    assert kept[0] == os.path.abspath(paths[-1])  # most recent first
    assert os.path.abspath(paths[0]) not in kept


def test_every_public_name_is_importable() -> None:
    import hoist.config

    for name in hoist.config.__all__:
        assert getattr(hoist.config, name) is not None, name
    assert {"apiVersion", "build"} <= hoist.config.TOP_LEVEL_KEYS
    assert "image" in hoist.config.ARTIFACT_KEYS
    from hoist.config.loader import find_config as from_loader
    from hoist.config.loader import load_config as loader_load

    assert loader_load is load_config and from_loader is hoist.config.find_config
    with pytest.raises(AttributeError):
        hoist.config.no_such_name  # noqa: B018
