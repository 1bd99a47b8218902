"""Builders that drive a container build tool: buildah, podman, or the docker CLI against a
running daemon.

Each runs the tool's Dockerfile build, streams every output line to the request's log,
exports the result as an OCI image layout and imports that into hoist's content store with
hoist's own copy, which records the store name last: a build that fails at any point leaves
no name behind (blobs nobody names are gc's to collect).

The built image gets no name in the tool's storage: the build writes its image ID to an
``--iidfile`` and export goes by that ID. A temporary name would have to be removed with
``rmi`` afterwards, and buildah's and podman's ``rmi`` also delete the intermediate images
``--layers`` keeps, which are the build cache; an unnamed image stays as cache, as the
superseded image of an ordinary ``docker build -t`` does.

Limitations:
- buildah and podman take ``--tls-verify=false`` for a whole build, so when any base-image
  registry is insecure, every registry the build reads is reached without TLS verification.
- docker build has no per-build TLS option: insecure registries are the daemon's
  ``insecure-registries`` setting (127.0.0.0/8 is insecure by default).
- ``docker save`` writes uncompressed layers; they are gzip-compressed on import
  (deterministically, so an unchanged build gives the same digests).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hoist.build.base import BuildError, BuilderUnavailable, BuildRequest, BuiltImage, LogFn
from hoist.core import mediatypes
from hoist.core.digest import Digest
from hoist.core.manifest import Descriptor, build_manifest
from hoist.errors import HoistError, OperationError
from hoist.store.layout import OciLayout
from hoist.store.store import ContentStore
from hoist.transfer.copy import Options, copy
from hoist.transfer.names import ImageName, parse_reference

# Debian packages that provide each tool, for "not installed" messages.
DEBIAN_PACKAGES: Mapping[str, str] = {"buildah": "buildah", "podman": "podman",
                                      "docker": "docker.io"}
# How long `docker version` may take before the daemon counts as not answering.
DAEMON_TIMEOUT = 3.0
# The tag the exported image carries inside the temporary OCI layout.
LAYOUT_TAG = "build"
# Output lines kept for the failure message (the whole output went to the log).
_TAIL_LINES = 60
_CHUNK = 1 << 20
_STOP_GRACE = 10.0

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# --------------------------------------------------------------------- command lines


def build_arg_flags(build_args: Mapping[str, str | None]) -> list[str]:
    """``--build-arg K=V`` per argument; a None value gives ``--build-arg K``, which the
    tool fills from its own environment (as Skaffold passes such arguments)."""
    flags: list[str] = []
    for key, value in build_args.items():
        flags += ["--build-arg", key if value is None else f"{key}={value}"]
    return flags


def common_build_flags(request: BuildRequest) -> list[str]:
    """The flags buildah bud, podman build and docker build spell alike."""
    flags = ["-f", str(request.dockerfile)]
    if request.target:
        flags += ["--target", request.target]
    flags += build_arg_flags(request.build_args)
    flags += ["--platform", str(request.platform)]
    return flags


# --------------------------------------------------------------------- tool output

# "STEP 2/4: COPY x /x" (buildah, podman), "Step 2/4 : COPY x /x" (docker's classic
# builder); older buildah prints "STEP 2: …".
_STEP_RE = re.compile(r"^(?:STEP \d+(?:/\d+)?: |Step \d+/\d+ : )(?P<instruction>.+)$")
# "--> Using cache <id>" (buildah, podman), " ---> Using cache" (docker).
_CACHE_RE = re.compile(r"^\s*-+> Using cache\b")
_NOISE_RE = re.compile(
    r"^(?:DEPRECATED:|WARN(?:ING)?\b|time=\S+ level=warn|Install the buildx|BuildKit is "
    r"currently disabled|environment-variable\.|https?://)")
_ERROR_RE = re.compile(r"^(?:error|Error|ERROR)\b|\bfailed\b|returned a non-zero code",
                       re.IGNORECASE)
_ERROR_PREFIX_RE = re.compile(r"^(?:error|Error|ERROR)(?::\s*|\s+(?=\S))")


def _keyword(instruction: str) -> str:
    return instruction.split(None, 1)[0].upper() if instruction.strip() else ""


def normalize_instruction(instruction: str) -> str:
    """An instruction as a comparable string: keyword upper-cased, whitespace runs as one
    space (tools print an instruction as the parser joined it, spacing kept)."""
    words = instruction.split()
    if not words:
        return ""
    return " ".join([words[0].upper(), *words[1:]])


@dataclass(slots=True)
class _Step:
    instruction: str
    cached: bool = False


@dataclass(slots=True)
class BuildOutput:
    """What a build's output says, read line by line: the step being run, which steps of
    the last stage came from the cache, and the last lines for a failure message."""

    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL_LINES))
    stage_from: str | None = None  # the FROM instruction of the stage being built
    stage: list[_Step] = field(default_factory=list)  # its steps after FROM
    last_step: str | None = None

    def feed(self, line: str) -> None:
        self.tail.append(line)
        m = _STEP_RE.match(line)
        if m:
            instruction = m.group("instruction").strip()
            self.last_step = instruction
            if _keyword(instruction) == "FROM":
                self.stage_from, self.stage = instruction, []
            else:
                self.stage.append(_Step(instruction))
            return
        if _CACHE_RE.match(line) and self.stage and self.last_step == self.stage[-1].instruction:
            self.stage[-1].cached = True

    @property
    def executed(self) -> int | None:
        """Steps of the final stage that ran (rather than came from the cache); None when
        the output showed no steps."""
        if self.stage_from is None and not self.stage:
            return None
        return sum(1 for s in self.stage if not s.cached)


def layers_built(history: Sequence[Mapping[str, Any]], layers_total: int,
                 executed: int | None) -> int:
    """Layers this build made: the cache is used for a prefix of the final stage's steps,
    so the steps that ran are the last ``executed`` history entries; those that made a
    layer count. Unknown (``executed`` None) counts every layer."""
    if executed is None:
        return layers_total
    if executed <= 0:
        return 0
    if not history:
        return min(executed, layers_total)
    recent = history[-executed:]
    return min(layers_total, sum(1 for h in recent if not h.get("empty_layer")))


def _drop_step_dumps(text: str) -> str:
    """Remove the Go struct dumps of a build step that buildah and podman append to some
    errors (``&imagebuilder.Step{Env:[]string{…}, …, Original:"…"}``): balanced braces
    holding ``Original:``. The step is named in the message already."""
    out, i = [], 0
    while True:
        start = text.find("{", i)
        if start < 0:
            break
        depth, end = 0, -1
        for j in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                end = j
                break
        if end < 0:
            break
        if "Original:" in text[start:end]:
            head = text[i:start]
            out.append(re.sub(r"\s*&?[\w.]*$", "", head))
        else:
            out.append(text[i:end + 1])
        i = end + 1
    out.append(text[i:])
    return "".join(out).strip()


def summarize_error(lines: Sequence[str]) -> str:
    """The last meaningful error line of a tool's output, without its ``Error:`` prefix;
    a line ending in ':' takes the next line along (``Error: 1 error occurred:`` /
    ``* image used by …``). Without an error line, the last line that is not a warning."""
    cleaned = [line.strip() for line in lines]
    fallback = ""
    for i in range(len(cleaned) - 1, -1, -1):
        text = cleaned[i]
        if not text or _NOISE_RE.match(text):
            continue
        if not fallback:
            fallback = text
        if _ERROR_RE.search(text):
            message = _drop_step_dumps(_ERROR_PREFIX_RE.sub("", text, count=1))
            if message.endswith(":"):
                after = next((t for t in cleaned[i + 1:] if t), "")
                if after:
                    message = f"{message} {after.lstrip('*').strip()}"
            return message
    return fallback or "no output"


# --------------------------------------------------------------------- Dockerfile lines

_DIRECTIVE_RE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")


def dockerfile_instructions(text: str) -> list[tuple[int, str]]:
    """(first line number, normalized instruction) per instruction, continuation lines
    joined as the Dockerfile parser joins them (escape and newline removed; comment and
    blank lines inside a continuation skipped); the ``escape`` parser directive honoured."""
    lines = text.splitlines()
    escape = "\\"
    for raw in lines:
        m = _DIRECTIVE_RE.match(raw.strip())
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            escape = m.group(2)
    out: list[tuple[int, str]] = []
    current: str | None = None
    start = 0
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if current is None:
            start, current = number, ""
        body = raw.rstrip()
        if body.endswith(escape):
            current += body[: -len(escape)]
            continue
        current += body
        out.append((start, normalize_instruction(current)))
        current = None
    if current is not None and current.strip():
        out.append((start, normalize_instruction(current)))
    return out


def find_instruction_line(text: str, instruction: str, stage_from: str | None = None
                          ) -> int | None:
    """The Dockerfile line of ``instruction`` as a tool printed it; when several
    instructions read the same, the one in the stage begun by ``stage_from``, else the
    first. None when no instruction matches (a tool that printed it expanded)."""
    target = normalize_instruction(instruction)
    instructions = dockerfile_instructions(text)
    matches = [n for n, s in instructions if s == target]
    if len(matches) <= 1 or stage_from is None:
        return matches[0] if matches else None
    wanted_from = normalize_instruction(stage_from)
    current_from = None
    for n, s in instructions:
        if _keyword(s) == "FROM":
            current_from = s
        if s == target and current_from == wanted_from:
            return n
    return matches[0]


def _dockerfile_label(request: BuildRequest) -> str:
    try:
        return str(request.dockerfile.relative_to(request.context))
    except ValueError:
        return str(request.dockerfile)


def failure_message(request: BuildRequest, what: str, status: int, output: BuildOutput) -> str:
    """``artifact: Dockerfile:LINE: what failed (exit N)[ at step "…"]: error line``."""
    error = summarize_error(output.tail)
    location = ""
    step = output.last_step
    if step is not None:
        try:
            text = request.dockerfile.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        line = find_instruction_line(text, step, output.stage_from)
        if line is not None:
            location = f"{_dockerfile_label(request)}:{line}: "
    at = ""
    if step is not None and normalize_instruction(step) not in normalize_instruction(error):
        at = f' at step "{step}"'
    return f"{request.artifact}: {location}{what} failed (exit {status}){at}: {error}"


# --------------------------------------------------------------------- storage driver


def _unescape_mount(field_text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_text)


def backing_filesystem(path: Path, mountinfo: str) -> str | None:
    """The filesystem type of the mount holding ``path`` (absolute, resolved), from the
    text of /proc/self/mountinfo; the longest mount point that contains it wins."""
    best: tuple[int, str] | None = None
    target = str(path)
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        point = _unescape_mount(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), right.split()[0])
    return best[1] if best else None


# An overlay upper directory cannot live on these (the kernel refuses, or containers/
# storage does: it falls back to vfs on them itself when it picks the driver).
_NO_OVERLAY_ON = frozenset({"overlay", "aufs", "fuse.fuse-overlayfs", "zfs", "ecryptfs"})


def overlay_possible(path: Path, mountinfo: str, filesystems: str) -> bool:
    """Whether the kernel has overlay and ``path``'s filesystem can hold its upper dirs
    (not the case in a container whose root is itself an overlay)."""
    if not any(line.split()[-1:] == ["overlay"] for line in filesystems.splitlines()):
        return False
    return backing_filesystem(path, mountinfo) not in _NO_OVERLAY_ON


def existing_driver(root: Path) -> str | None:
    """The driver a containers/storage root was made with (``<driver>-images``): a root
    must keep the driver it was created with."""
    with contextlib.suppress(OSError):
        for entry in sorted(root.iterdir()):
            if entry.is_dir() and entry.name.endswith("-images"):
                return entry.name[: -len("-images")]
    return None


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path.resolve()


def _overlay_mounts(root: Path) -> bool:
    """Try an overlay mount under ``root`` in a private mount namespace (it vanishes with
    the namespace): permission and kernel support both show. No ``unshare``: trust the
    static check."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return True
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hoist-overlay-probe-", dir=root) as tmp:
        dirs = {name: Path(tmp) / name for name in ("lower", "upper", "work", "merged")}
        for d in dirs.values():
            d.mkdir()
        options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
        try:
            done = subprocess.run(
                [unshare, "--mount", "--propagation", "private", "mount", "-t", "overlay",
                 "overlay", "-o", options, str(dirs["merged"])],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


def choose_storage_driver(root: Path) -> str:
    """overlay where it works for ``root``, else vfs (slow, but needs no mounts)."""
    existing = existing_driver(root)
    if existing is not None:
        return existing
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text(errors="replace")
        filesystems = Path("/proc/filesystems").read_text(errors="replace")
    except OSError:
        return "vfs"
    if not overlay_possible(_nearest_existing(root), mountinfo, filesystems):
        return "vfs"
    return "overlay" if _overlay_mounts(root) else "vfs"


# --------------------------------------------------------------------- running tools


def run_streaming(argv: Sequence[str], env: Mapping[str, str], log: LogFn,
                  output: BuildOutput, tool: str) -> int:
    """Run ``argv`` with stderr merged into stdout, handing each line to ``output`` and
    ``log`` as it comes; the exit status. Stopped (SIGTERM, then SIGKILL) if the caller
    is interrupted or ``log`` raises."""
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=dict(env))
    except OSError as e:
        package = DEBIAN_PACKAGES.get(tool, tool)
        raise BuilderUnavailable(f"{tool} cannot run ({e.strerror or e}; Debian package "
                                 f"{package})") from None
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            output.feed(line)
            log(line)
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=_STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()


def _not_installed(tool: str) -> str:
    return f"{tool} is not installed (Debian package {DEBIAN_PACKAGES[tool]})"


def _store_name(request: BuildRequest) -> ImageName:
    return ImageName("store", parse_reference(request.name, "image name"))


def import_layout(request: BuildRequest, layout: Path, tag: str, what: str,
                  executed: int | None) -> BuiltImage:
    """Copy ``oci:layout:tag`` into the request's store under its name, and describe what
    the store now holds."""
    dst = _store_name(request)
    try:
        copy(ImageName("oci", path=str(layout), tag=tag), dst, Options(store=request.store))
    except HoistError as e:
        raise BuildError(f"{request.artifact}: storing the image {what} built: {e}") from None
    return stored_image(request.store, dst.store_key, executed, request.artifact)


def stored_image(store: ContentStore, name: str, executed: int | None,
                 artifact: str) -> BuiltImage:
    """A BuiltImage from the store's record and manifest of ``name``."""
    record = store.lookup(name)
    if record is None:
        raise BuildError(f"{artifact}: {name} is not in the store after the build")
    manifest = store.manifest(record.digest)
    if manifest.config is None:
        raise BuildError(f"{artifact}: the built image {name} is an index, not an image")
    try:
        config = json.loads(store.blobs.read(manifest.config.digest))
    except (OperationError, ValueError) as e:
        raise BuildError(f"{artifact}: the config of the built image {name}: {e}") from None
    history = config.get("history") if isinstance(config, dict) else None
    entries = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    total = len(manifest.layers)
    return BuiltImage(name=name, digest=manifest.digest, config_digest=manifest.config.digest,
                      media_type=manifest.media_type, size=store.image_size(manifest),
                      layers_built=layers_built(entries, total, executed),
                      layers_total=total)


@contextlib.contextmanager
def _workdir(tmpdir: Path | None, artifact: str) -> Iterator[Path]:
    # "oci:DIR:TAG" ends DIR at the first colon; hoist's copy takes the ImageName whole,
    # but the tools parse the string.
    path = Path(tempfile.mkdtemp(prefix="hoist-build-", dir=tmpdir))
    try:
        if ":" in str(path):
            raise BuildError(f"{artifact}: temporary directory {path} has a ':' in its path, which "
                             "oci:DIR:TAG cannot name; set TMPDIR elsewhere")
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _image_id(iidfile: Path, request: BuildRequest, tool: str) -> str:
    try:
        text = iidfile.read_text().strip()
    except OSError:
        text = ""
    image_id = text.removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", image_id):
        raise BuildError(f"{request.artifact}: {tool} reported success but wrote no image "
                         f"ID ({iidfile.name}: {text[:80]!r})")
    return image_id


# --------------------------------------------------------------------- buildah / podman


class _ContainersBuilder:
    """buildah and podman: the same storage library, flags and OCI export."""

    name = ""
    _verb = ""

    def __init__(self, *, root: Path | None = None, runroot: Path | None = None,
                 storage_driver: str | None = None, isolation: str | None = None,
                 layers: bool = True, binary: str | None = None,
                 tmpdir: Path | None = None) -> None:
        """``root``/``runroot``: a storage of its own (``--root``/``--runroot``; runroot
        defaults to ``root/run``); without them the tool's configured storage is used as
        configured. ``storage_driver``: chosen for an own root when not given (overlay
        where it mounts, else vfs). ``isolation``: the tool's ``--isolation`` (``chroot``
        runs RUN steps without an OCI runtime). ``tmpdir``: where exports are staged."""
        self.root = root
        self.runroot = runroot if runroot is not None or root is None else root / "run"
        self.storage_driver = storage_driver
        self.isolation = isolation
        self.layers = layers
        self.binary = binary or self.name
        self.tmpdir = tmpdir

    def unavailable(self) -> str | None:
        if shutil.which(self.binary) is None:
            return _not_installed(self.name)
        return None

    def _driver(self) -> str | None:
        if self.storage_driver is None and self.root is not None:
            self.storage_driver = choose_storage_driver(self.root)
        return self.storage_driver

    def global_flags(self) -> list[str]:
        flags: list[str] = []
        if self.root is not None:
            flags += ["--root", str(self.root)]
        if self.runroot is not None:
            flags += ["--runroot", str(self.runroot)]
        driver = self._driver()
        if driver is not None:
            flags += ["--storage-driver", driver]
        return flags

    def build_command(self, request: BuildRequest, iidfile: Path) -> list[str]:
        argv = [self.binary, *self.global_flags(), self._verb, "--format", "oci",
                f"--layers={'true' if self.layers else 'false'}", "--force-rm",
                "--iidfile", str(iidfile), *common_build_flags(request)]
        if self.isolation:
            argv += ["--isolation", self.isolation]
        if request.insecure_registries:
            argv.append("--tls-verify=false")
        if request.authfile:
            argv += ["--authfile", request.authfile]
        return [*argv, str(request.context)]

    def push_command(self, image_id: str, layout: Path) -> list[str]:
        return [self.binary, *self.global_flags(), "push", "--format", "oci", image_id,
                f"oci:{layout}:{LAYOUT_TAG}"]

    def build(self, request: BuildRequest) -> BuiltImage:
        reason = self.unavailable()
        if reason is not None:
            raise BuilderUnavailable(f"{request.artifact}: {reason}")
        _store_name(request)  # a bad name fails before the build, not after
        env = dict(os.environ)
        what = f"{self.name} {self._verb}"
        with _workdir(self.tmpdir, request.artifact) as work:
            iidfile = work / "iid"
            output = BuildOutput()
            status = run_streaming(self.build_command(request, iidfile), env, request.log,
                                   output, self.name)
            if status != 0:
                raise BuildError(failure_message(request, what, status, output))
            image_id = _image_id(iidfile, request, self.name)
            layout = work / "layout"
            pushed = BuildOutput()
            status = run_streaming(self.push_command(image_id, layout), env, request.log,
                                   pushed, self.name)
            if status != 0:
                raise BuildError(f"{request.artifact}: {self.name} push to an OCI layout "
                                 f"failed (exit {status}): {summarize_error(pushed.tail)}")
            return import_layout(request, layout, LAYOUT_TAG, what, output.executed)


class BuildahBuilder(_ContainersBuilder):
    """``buildah bud``."""

    name = "buildah"
    _verb = "bud"


class PodmanBuilder(_ContainersBuilder):
    """``podman build``."""

    name = "podman"
    _verb = "build"

    def global_flags(self) -> list[str]:
        flags = super().global_flags()
        if self.runroot is not None:
            # libpod's own state (alive lock, exit files, events) beside the runroot, so a
            # storage of its own shares nothing with the machine's podman.
            flags += ["--tmpdir", str(self.runroot / "libpod")]
        return flags


# --------------------------------------------------------------------- docker


def _is_loopback_registry(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


class DockerBuilder:
    """The docker CLI against a running daemon (``docker build``, then ``docker save``)."""

    name = "docker"

    def __init__(self, *, host: str | None = None, binary: str | None = None,
                 tmpdir: Path | None = None) -> None:
        """``host``: the daemon address (``unix:///…``, ``tcp://…``); None takes
        DOCKER_HOST or the CLI's default."""
        self.host = host
        self.binary = binary or "docker"
        self.tmpdir = tmpdir

    def _base(self) -> list[str]:
        return [self.binary, *(["--host", self.host] if self.host else [])]

    def unavailable(self) -> str | None:
        if shutil.which(self.binary) is None:
            return _not_installed("docker")
        where = self.host or os.environ.get("DOCKER_HOST") or "the default address"
        try:
            done = subprocess.run([*self._base(), "version", "--format",
                                   "{{.Server.Version}}"], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=DAEMON_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"the docker daemon at {where} did not answer within {DAEMON_TIMEOUT:g} s"
        except OSError as e:
            return f"docker cannot run ({e.strerror or e})"
        if done.returncode != 0 or not done.stdout.strip():
            detail = summarize_error((done.stderr or done.stdout).splitlines())
            return f"the docker daemon at {where} does not answer: {detail}"
        return None

    def build_command(self, request: BuildRequest, iidfile: Path) -> list[str]:
        return [*self._base(), "build", "--force-rm", "--iidfile", str(iidfile),
                *common_build_flags(request), str(request.context)]

    def _env(self, request: BuildRequest, work: Path) -> dict[str, str]:
        env = dict(os.environ)
        if request.authfile:
            # The CLI reads credentials from DOCKER_CONFIG/config.json only.
            authfile = Path(request.authfile).absolute()
            if authfile.name == "config.json":
                env["DOCKER_CONFIG"] = str(authfile.parent)
            else:
                config_dir = work / "docker-config"
                config_dir.mkdir()
                (config_dir / "config.json").symlink_to(authfile)
                env["DOCKER_CONFIG"] = str(config_dir)
        return env

    def build(self, request: BuildRequest) -> BuiltImage:
        reason = self.unavailable()
        if reason is not None:
            raise BuilderUnavailable(f"{request.artifact}: {reason}")
        _store_name(request)
        remote = sorted(r for r in request.insecure_registries if not _is_loopback_registry(r))
        if remote:
            request.log(f"hoist: docker build reads {', '.join(remote)} as the daemon's "
                        "insecure-registries setting allows (no per-build TLS option)")
        with _workdir(self.tmpdir, request.artifact) as work:
            env = self._env(request, work)
            iidfile = work / "iid"
            output = BuildOutput()
            status = run_streaming(self.build_command(request, iidfile), env, request.log,
                                   output, self.name)
            if status != 0:
                raise BuildError(failure_message(request, "docker build", status, output))
            image_id = _image_id(iidfile, request, self.name)
            archive = work / "image.tar"
            saved = BuildOutput()
            status = run_streaming([*self._base(), "save", "-o", str(archive), image_id], env,
                                   request.log, saved, self.name)
            if status != 0:
                raise BuildError(f"{request.artifact}: docker save failed (exit {status}): "
                                 f"{summarize_error(saved.tail)}")
            layout = work / "layout"
            try:
                docker_archive_to_layout(archive, layout, LAYOUT_TAG)
            except OperationError as e:
                raise BuildError(f"{request.artifact}: reading docker save output: {e}"
                                 ) from None
            archive.unlink()
            return import_layout(request, layout, LAYOUT_TAG, "docker build", output.executed)


# --------------------------------------------------------------------- docker save


class _HashingWriter:
    """A write-only file that hashes and counts what passes through."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        f = tar.extractfile(name)
    except KeyError:
        f = None
    if f is None:
        raise OperationError(f"{name} is not a file in the archive")
    return f


def _layer_blob(tar: tarfile.TarFile, name: str, layout: OciLayout) -> Descriptor:
    """One layer of the archive as a blob of ``layout``: kept as it is when already
    gzip or zstd compressed (docker 25+ may save the registry's blobs), else gzipped
    with fixed header fields so equal layers give equal digests."""
    src = _member(tar, name)
    first = src.read(_CHUNK)
    layout.root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".layer-", dir=layout.root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _HashingWriter(out)
            if first.startswith(_GZIP_MAGIC) or first.startswith(_ZSTD_MAGIC):
                media_type = (mediatypes.OCI_LAYER_GZIP if first.startswith(_GZIP_MAGIC)
                              else mediatypes.OCI_LAYER_ZSTD)
                chunk = first
                while chunk:
                    writer.write(chunk)
                    chunk = src.read(_CHUNK)
            else:
                media_type = mediatypes.OCI_LAYER_GZIP
                with gzip.GzipFile(filename="", mode="wb", fileobj=writer,
                                   compresslevel=6, mtime=0) as gz:
                    chunk = first
                    while chunk:
                        gz.write(chunk)
                        chunk = src.read(_CHUNK)
        digest = Digest("sha256", writer.hash.hexdigest())
        dest = layout.blobs.path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        return Descriptor(media_type, digest, writer.size)
    finally:
        tmp.unlink(missing_ok=True)


def docker_archive_to_layout(archive: Path, layout_dir: Path, tag: str) -> Descriptor:
    """Turn ``docker save`` output (one image) into an OCI image layout entry ``tag``: the
    config as it is, each layer compressed (see ``_layer_blob``). Works from the
    archive's ``manifest.json``, which docker writes in its classic format and beside the
    OCI layout of docker 25+ alike."""
    layout = OciLayout(layout_dir)
    layout.init()
    try:
        with tarfile.open(archive) as tar:
            try:
                entries = json.loads(_member(tar, "manifest.json").read())
                entry = entries[0]
                config_name = str(entry["Config"])
                layer_names = [str(n) for n in entry["Layers"]]
            except (ValueError, KeyError, IndexError, TypeError) as e:
                raise OperationError(f"manifest.json does not describe an image ({e})"
                                     ) from None
            config = _member(tar, config_name).read()
            config_desc = Descriptor(mediatypes.OCI_CONFIG, layout.blobs.put(config),
                                     len(config))
            layers = [_layer_blob(tar, name, layout) for name in layer_names]
    except (OSError, tarfile.TarError) as e:
        raise OperationError(f"{archive}: {e}") from None
    raw = build_manifest(config_desc, layers)
    desc = Descriptor(mediatypes.OCI_MANIFEST, layout.blobs.put(raw), len(raw))
    layout.add(desc, tag)
    return desc
