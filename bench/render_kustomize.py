"""Benchmark ``render-vs-kustomize``: rewrite image references in the corpus.

hoist: ``hoist render FILE… --images NAME=NEWREF …``. Peer: ``kubectl kustomize DIR`` where
DIR holds copies of the same files and a kustomization.yaml with the equivalent ``images:``
transformer (name/newName/newTag/digest).

kustomize refuses duplicate resource IDs and documents it cannot read, so the corpus is split
into *groups*: directories in which no two documents share an ID. Files kustomize cannot build
even on their own are dropped (and listed in the result). kustomize runs once per group;
hoist runs once per group (same files) and, separately, once over every file at once.

After timing, the last run's outputs are compared: for every container of a pod template that
kustomize rewrote, the image hoist printed must be the same string.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.context import Context, hoist_version, kubectl_versions, require_hoist_command
from bench.runner import BenchError, Outputs, Plan, Step, Variant

NAME = "render-vs-kustomize"

# libyaml when available: the corpus has several megabytes of YAML
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Repositories rewritten by the benchmark. Each occurs in the corpus and is written the same
#: way everywhere it occurs (no `docker.io/library/nginx` next to `nginx`), so kustomize's
#: literal name matching and hoist's normalized matching select the same containers.
#: Together they cover bare Docker Hub names, user repos, registry hosts, tag-only, untagged,
#: `:latest` and tag+digest originals, init containers, and names spread over many files.
IMAGE_NAMES: tuple[str, ...] = (
    "nginx",
    "busybox",
    "kubernetes/pause",
    "docker.io/curlimages/curl",
    "registry.k8s.io/test-webserver",
    "registry.k8s.io/ingress-nginx/controller",
    "registry.k8s.io/ingress-nginx/kube-webhook-certgen",
    "quay.io/argoproj/argocd",
    "quay.io/brancz/kube-rbac-proxy",
    "registry.istio.io/release/tcp-echo-server",
    "registry.istio.io/release/examples-bookinfo-ratings-v1",
)

NEW_REGISTRY = "registry.example"
NEW_TAG = "bench"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
)


# --------------------------------------------------------------------------- image names


@dataclass(frozen=True)
class NewImage:
    name: str
    new_name: str
    new_tag: str
    digest: str

    @property
    def reference(self) -> str:
        return f"{self.new_name}:{self.new_tag}@{self.digest}"

    def kustomize_entry(self) -> dict[str, str]:
        return {
            "name": self.name, "newName": self.new_name, "newTag": self.new_tag,
            "digest": self.digest,
        }

    def hoist_arg(self) -> str:
        return f"{self.name}={self.reference}"


def new_image(name: str) -> NewImage:
    """``registry.example/<path without registry host>:bench@sha256:<sha256 of name>``."""
    first, sep, rest = name.partition("/")
    path = rest if sep and _is_registry_host(first) else name
    digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
    return NewImage(name, f"{NEW_REGISTRY}/{path}", NEW_TAG, digest)


def _is_registry_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def repository_of(image: str) -> str:
    """The image string without tag and digest, as written."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name


def normalize_repository(repo: str) -> str:
    """Docker's normalization: `nginx` and `docker.io/library/nginx` are one repository."""
    first, sep, rest = repo.partition("/")
    if sep and _is_registry_host(first):
        host, path = first, rest
    else:
        host, path = "docker.io", repo
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = "docker.io"
    if host == "docker.io" and "/" not in path:
        path = "library/" + path
    return f"{host}/{path}"


def uniformity_problems(names: Iterable[str], images: Iterable[str]) -> dict[str, list[str]]:
    """For each name, other spellings of the same repository found among ``images``."""
    by_norm: dict[str, set[str]] = {}
    for image in images:
        repo = repository_of(image)
        by_norm.setdefault(normalize_repository(repo), set()).add(repo)
    problems: dict[str, list[str]] = {}
    for name in names:
        others = by_norm.get(normalize_repository(name), set()) - {name}
        if others:
            problems[name] = sorted(others)
    return problems


# --------------------------------------------------------------------------- documents


def load_documents(text: str) -> list[Any]:
    """All non-empty documents of a YAML/JSON stream; raises yaml.YAMLError."""
    return [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def load_documents_lenient(text: str) -> tuple[list[Any], int]:
    """Like :func:`load_documents`, but on failure parse each ``---`` piece alone.

    Returns the documents and the number of pieces that did not parse.
    """
    try:
        return load_documents(text), 0
    except yaml.YAMLError:
        pass
    docs: list[Any] = []
    bad = 0
    for piece in _SEPARATOR.split(text):
        try:
            docs.extend(load_documents(piece))
        except yaml.YAMLError:
            bad += 1
    return docs, bad


def iter_objects(docs: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Documents, with the items of lists (``kind: List``, ``RoleList``, …) looked into."""
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if _is_list(doc):
            yield from iter_objects(doc["items"])
        else:
            yield doc


def _is_list(obj: Mapping[str, Any]) -> bool:
    """``kind: List``, ``ConfigMapList``, …: kustomize reads their ``items`` as resources."""
    kind = obj.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list)


def _dig(obj: Any, *path: str) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def pod_spec(obj: Mapping[str, Any]) -> Any:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj.get("spec")
    if kind == "PodTemplate":
        return _dig(obj, "template", "spec")
    if kind == "CronJob":
        return _dig(obj, "spec", "jobTemplate", "spec", "template", "spec")
    if kind in WORKLOAD_KINDS:
        return _dig(obj, "spec", "template", "spec")
    return None


ContainerKey = tuple[str, str, str, str]  # kind, namespace, name, container name


def container_images(docs: Iterable[Any]) -> tuple[dict[ContainerKey, str], int]:
    """(kind, namespace, name, container) -> image, for containers and initContainers.

    Returns the map and how many keys occurred more than once (later ones win).
    """
    images: dict[ContainerKey, str] = {}
    duplicates = 0
    for obj in iter_objects(docs):
        spec = pod_spec(obj)
        if not isinstance(spec, dict):
            continue
        raw_meta = obj.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        kind = str(obj.get("kind"))
        namespace = str(meta.get("namespace") or "")
        name = str(meta.get("name") or "")
        for field_name in ("initContainers", "containers"):
            containers = spec.get(field_name)
            if not isinstance(containers, list):
                continue
            for c in containers:
                if not isinstance(c, dict) or not isinstance(c.get("image"), str):
                    continue
                key = (kind, namespace, name, str(c.get("name") or ""))
                if key in images:
                    duplicates += 1
                images[key] = c["image"]
    return images, duplicates


# --------------------------------------------------------------------------- grouping

ResKey = tuple[str, str, str]  # kind, effective namespace, name


def first_duplicate_key(text: str) -> str | None:
    """The first key that occurs twice in one mapping (PyYAML keeps the last; kustomize fails)."""
    stack: list[yaml.Node] = list(yaml.compose_all(text, Loader=_Loader))
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        return str(key.value)
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def resource_keys(text: str) -> list[ResKey]:
    """Resource IDs kustomize would see in one file; raises ValueError when it would refuse.

    The key leaves out apiVersion, so it is stricter than kustomize's own (group, version,
    kind, namespace, name): two files are never put together when kustomize might object.
    An empty namespace counts as ``default``, as in kustomize.
    """
    try:
        docs = load_documents(text)
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"does not parse as YAML: {first}") from e
    duplicate = first_duplicate_key(text)
    if duplicate is not None:
        raise ValueError(f"mapping key {duplicate!r} appears twice (kustomize refuses that)")
    keys: list[ResKey] = []
    for obj in docs:
        if not isinstance(obj, dict):
            raise ValueError("a document is not a mapping")
        for item in obj["items"] if _is_list(obj) else [obj]:
            if not isinstance(item, dict):
                raise ValueError("a List item is not a mapping")
            kind = item.get("kind")
            meta = item.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            if not isinstance(kind, str) or not kind:
                raise ValueError("a document has no kind")
            if not isinstance(name, str) or not name:
                raise ValueError(f"a {kind} has no metadata.name")
            ns = meta.get("namespace") if isinstance(meta, dict) else None
            key = (kind, str(ns) if ns else "default", name)
            if key in keys:
                raise ValueError(f"the file itself holds {kind} {name} twice")
            keys.append(key)
    return keys


@dataclass
class Grouping:
    #: Each group: names of files that kustomize can build together.
    groups: list[list[str]] = field(default_factory=list)
    #: Files predicted unbuildable, with the reason.
    rejected: dict[str, str] = field(default_factory=dict)


def group_manifests(files: Sequence[tuple[str, str]]) -> Grouping:
    """Split (name, text) files into groups without duplicate resource IDs (first fit).

    Files keep their input order inside a group; files whose documents kustomize would refuse
    (unparseable, no kind/name, a duplicate inside the file) go to ``rejected`` instead.
    """
    result = Grouping()
    taken: list[set[ResKey]] = []
    for name, text in files:
        try:
            keys = resource_keys(text)
        except ValueError as e:
            result.rejected[name] = str(e)
            continue
        for index, used in enumerate(taken):
            if used.isdisjoint(keys):
                used.update(keys)
                result.groups[index].append(name)
                break
        else:
            taken.append(set(keys))
            result.groups.append([name])
    return result


def kustomization_text(resources: Sequence[str], images: Sequence[NewImage]) -> str:
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(resources),
    }
    if images:
        doc["images"] = [i.kustomize_entry() for i in images]
    return yaml.safe_dump(doc, sort_keys=False)


# --------------------------------------------------------------------------- materializing


@dataclass
class Layout:
    """Groups written to disk: one directory per group, copies of the corpus files."""

    group_dirs: list[Path]
    #: Per group, the copied files in kustomization order.
    group_files: list[list[Path]]
    #: Copy -> the corpus file it came from (relative path).
    origin: dict[Path, str]
    dropped: dict[str, str]


def _copy_name(index: int, rel: str) -> str:
    return f"{index:04d}-{Path(rel).name}"


def write_group(
    gdir: Path, rels: Sequence[str], corpus: Path, index_of: Mapping[str, int],
    images: Sequence[NewImage],
) -> list[Path]:
    if gdir.exists():
        shutil.rmtree(gdir)
    gdir.mkdir(parents=True)
    copies: list[Path] = []
    for rel in rels:
        dest = gdir / _copy_name(index_of[rel], rel)
        shutil.copyfile(corpus / rel, dest)
        copies.append(dest)
    (gdir / "kustomization.yaml").write_text(
        kustomization_text([c.name for c in copies], images)
    )
    return copies


def kustomize_error(kubectl: str, gdir: Path) -> str | None:
    """None when ``kubectl kustomize gdir`` succeeds, else its error (shortened)."""
    proc = subprocess.run(
        [kubectl, "kustomize", str(gdir)], capture_output=True, text=True, check=False
    )
    if proc.returncode == 0:
        return None
    return clean_kustomize_error(proc.stderr, gdir) or f"exit {proc.returncode}"


_KLOG_PREFIX = re.compile(r'^E\d{4} [\d:.]+\s+\d+ \S+\] "command failed" ')


def clean_kustomize_error(stderr: str, gdir: Path | None = None) -> str:
    """kubectl's klog line down to kustomize's own message, on one line."""
    msg = _KLOG_PREFIX.sub("", stderr.strip())
    if msg.startswith('err="') and msg.endswith('"'):
        msg = msg[5:-1].replace('\\"', '"')
    elif msg.startswith("err=<") and msg.endswith(">"):
        msg = msg[5:-1]
    if gdir is not None:
        msg = msg.replace(str(gdir) + "/", "")
    return " ".join(msg.split())[:400]


def find_unbuildable(
    rels: Sequence[str],
    builds_together: Callable[[Sequence[str]], str | None],
    builds_alone: Callable[[str], str | None],
) -> dict[str, str]:
    """Files of ``rels`` that kustomize refuses on their own (bisection), with the error."""
    if not rels:
        return {}
    if len(rels) == 1:
        err = builds_alone(rels[0])
        return {} if err is None else {rels[0]: err}
    if builds_together(rels) is None:
        return {}
    half = len(rels) // 2
    return {
        **find_unbuildable(rels[:half], builds_together, builds_alone),
        **find_unbuildable(rels[half:], builds_together, builds_alone),
    }


def settle_layout(
    corpus: Path, rels: Sequence[str], kubectl: str, root: Path, images: Sequence[NewImage],
    max_rounds: int = 5,
) -> Layout:
    """Group the files, then let kustomize itself confirm every group builds.

    Files predicted unbuildable are tried alone: dropped if kustomize refuses them, else given
    a group of their own. A group that fails has its files tried alone; those that fail alone
    are dropped, the rest are grouped again.
    """
    index_of = {rel: i for i, rel in enumerate(rels)}
    texts = [(rel, (corpus / rel).read_text(errors="replace")) for rel in rels]
    grouping = group_manifests(texts)
    dropped: dict[str, str] = {}
    probe = root / "probe"

    def builds_together(rels_: Sequence[str]) -> str | None:
        write_group(probe, rels_, corpus, index_of, images)
        return kustomize_error(kubectl, probe)

    def builds_alone(rel: str) -> str | None:
        return builds_together([rel])

    groups = [list(g) for g in grouping.groups]
    for rel, reason in grouping.rejected.items():
        err = builds_alone(rel)
        if err is None:
            groups.append([rel])
        else:
            dropped[rel] = f"{err} (predicted: {reason})"

    gdirs: list[Path] = []
    gfiles: list[list[Path]] = []
    for _round in range(max_rounds):
        gdirs, gfiles, failed = [], [], []
        for n, rels_in_group in enumerate(groups):
            gdir = root / "groups" / f"g{n:02d}"
            copies = write_group(gdir, rels_in_group, corpus, index_of, images)
            gdirs.append(gdir)
            gfiles.append(copies)
            if kustomize_error(kubectl, gdir) is not None:
                failed.append(n)
        if not failed:
            break
        keep: list[str] = []
        for n in failed:
            bad = find_unbuildable(groups[n], builds_together, builds_alone)
            dropped.update(bad)
            keep.extend(rel for rel in groups[n] if rel not in bad)
        survivors = [g for n, g in enumerate(groups) if n not in failed]
        if _round < max_rounds - 2:
            regroup = group_manifests([(r, t) for r, t in texts if r in set(keep)])
            survivors.extend(regroup.groups)
        else:  # give up on being clever: one file per group
            survivors.extend([r] for r in keep)
        groups = [g for g in survivors if g]
    else:
        raise BenchError("could not build kustomization groups that kustomize accepts")
    shutil.rmtree(probe, ignore_errors=True)
    origin = {
        copy: rel for copies, g in zip(gfiles, groups, strict=True)
        for copy, rel in zip(copies, g, strict=True)
    }
    return Layout(gdirs, gfiles, origin, dropped)


def corpus_manifests(corpus: Path) -> list[str]:
    if not corpus.is_dir():
        raise BenchError(f"corpus directory not found: {corpus} (give --corpus DIR)")
    return sorted(
        p.relative_to(corpus).as_posix() for p in corpus.rglob("*")
        if p.is_file() and p.suffix in MANIFEST_SUFFIXES
    )


# --------------------------------------------------------------------------- checking


@dataclass
class Expectations:
    """What the check needs to know about the inputs, per group."""

    originals: list[dict[ContainerKey, str]]
    names: tuple[str, ...]


def _mismatch(group: int | None, key: ContainerKey, original: str | None, kustomize: str,
              hoist: str | None) -> dict[str, Any]:
    kind, namespace, name, container = key
    return {
        "group": group, "kind": kind, "namespace": namespace, "name": name,
        "container": container, "original": original, "kustomize": kustomize,
        "hoist": hoist,
    }


def compare_outputs(
    expectations: Expectations,
    kustomize_texts: Sequence[str],
    hoist_group_texts: Sequence[str],
    hoist_all_text: str,
    limit: int = 50,
) -> dict[str, Any]:
    """Compare image strings of every container kustomize rewrote with hoist's."""
    per_group_mismatches: list[dict[str, Any]] = []
    hoist_only: list[dict[str, Any]] = []
    unparsed: dict[str, int] = {}
    duplicates = 0
    rewritten_total: Counter[tuple[ContainerKey, str]] = Counter()
    rewrites_by_name: Counter[str] = Counter()
    compared = 0
    for g, (orig, k_text, h_text) in enumerate(
        zip(expectations.originals, kustomize_texts, hoist_group_texts, strict=True)
    ):
        k_docs, k_bad = load_documents_lenient(k_text)
        h_docs, h_bad = load_documents_lenient(h_text)
        if k_bad:
            unparsed[f"kustomize g{g:02d}"] = k_bad
        if h_bad:
            unparsed[f"hoist g{g:02d}"] = h_bad
        k_map, k_dup = container_images(k_docs)
        h_map, h_dup = container_images(h_docs)
        duplicates += k_dup + h_dup
        for key, k_img in k_map.items():
            original = orig.get(key)
            if original is None or original == k_img:
                continue
            compared += 1
            rewritten_total[(key, k_img)] += 1
            rewrites_by_name[repository_of(original)] += 1
            h_img = h_map.get(key)
            if h_img != k_img:
                per_group_mismatches.append(_mismatch(g, key, original, k_img, h_img))
        for key, h_img in h_map.items():
            original = orig.get(key)
            if original is not None and h_img != original and k_map.get(key) == original:
                hoist_only.append(_mismatch(g, key, original, original, h_img))

    all_docs, all_bad = load_documents_lenient(hoist_all_text)
    if all_bad:
        unparsed["hoist all files"] = all_bad
    rewritten_keys = {key for key, _ in rewritten_total}
    all_counter: Counter[tuple[ContainerKey, str]] = Counter()
    for obj in iter_objects(all_docs):
        # container_images() keeps one image per key; count every occurrence instead.
        per_obj, _ = container_images([obj])
        for key, img in per_obj.items():
            if key in rewritten_keys:
                all_counter[(key, img)] += 1
    all_mismatches: list[dict[str, Any]] = []
    for key in sorted(rewritten_keys):
        want = {img: n for (k, img), n in rewritten_total.items() if k == key}
        got = {img: n for (k, img), n in all_counter.items() if k == key}
        if want != got:
            m = _mismatch(None, key, None, ", ".join(sorted(want)), ", ".join(sorted(got)))
            m["kustomize_count"] = sum(want.values())
            m["hoist_count"] = sum(got.values())
            all_mismatches.append(m)

    never_rewritten = [n for n in expectations.names if rewrites_by_name[n] == 0]
    ok = not per_group_mismatches and not all_mismatches and not hoist_only and compared > 0
    return {
        "ok": ok,
        "kustomize_rewrites": compared,
        "rewrites_by_image_name": dict(sorted(rewrites_by_name.items())),
        "names_never_rewritten": never_rewritten,
        "per_group": {
            "mismatch_count": len(per_group_mismatches),
            "mismatches": per_group_mismatches[:limit],
        },
        "all_at_once": {
            "compared_keys": len(rewritten_keys),
            "mismatch_count": len(all_mismatches),
            "mismatches": all_mismatches[:limit],
        },
        "hoist_only_rewrites": {"count": len(hoist_only), "items": hoist_only[:limit]},
        "unparseable_output_pieces": unparsed,
        "duplicate_container_keys": duplicates,
    }


# --------------------------------------------------------------------------- plan


def build(ctx: Context) -> Plan:
    require_hoist_command(ctx.hoist, "render")
    if shutil.which(ctx.kubectl) is None and not Path(ctx.kubectl).exists():
        raise BenchError(f"kubectl not found: {ctx.kubectl} (give --kubectl PATH)")
    rels = corpus_manifests(ctx.corpus)
    images = [new_image(n) for n in IMAGE_NAMES]
    root = ctx.workdir / "render"
    layout = settle_layout(ctx.corpus, rels, ctx.kubectl, root, images)

    originals: list[dict[ContainerKey, str]] = []
    all_images: list[str] = []
    occurrences: Counter[str] = Counter()
    for copies in layout.group_files:
        docs: list[Any] = []
        for copy in copies:
            found, _bad = load_documents_lenient(copy.read_text(errors="replace"))
            docs.extend(found)
        orig, _dup = container_images(docs)
        originals.append(orig)
        for img in orig.values():
            all_images.append(img)
            occurrences[repository_of(img)] += 1
    uniform = uniformity_problems(IMAGE_NAMES, all_images)

    image_args: list[str] = []
    for i in images:
        image_args += ["--images", i.hoist_arg()]
    hoist = str(ctx.hoist)
    peer = Variant(
        name="kustomize",
        role="peer",
        description="kubectl kustomize GROUP_DIR, once per group",
        steps=tuple(Step(argv=(ctx.kubectl, "kustomize", str(d))) for d in layout.group_dirs),
    )
    per_group = Variant(
        name="hoist-per-group",
        role="hoist",
        description="hoist render GROUP_FILES… --images …, once per group",
        steps=tuple(
            Step(argv=(hoist, "render", *map(str, files), *image_args))
            for files in layout.group_files
        ),
    )
    all_files = [str(f) for files in layout.group_files for f in files]
    all_at_once = Variant(
        name="hoist-all",
        role="hoist",
        description="hoist render ALL_FILES… --images …, one process",
        steps=(Step(argv=(hoist, "render", *all_files, *image_args)),),
    )
    expectations = Expectations(originals=originals, names=IMAGE_NAMES)

    def check(outputs: Outputs) -> dict[str, Any]:
        def read(paths: Sequence[Path]) -> list[str]:
            return [p.read_text(errors="replace") for p in paths]

        doc = compare_outputs(
            expectations,
            read(outputs["kustomize"]),
            read(outputs["hoist-per-group"]),
            read(outputs["hoist-all"])[0],
        )
        if uniform:
            doc["ok"] = False
        return doc

    kept_bytes = sum((ctx.corpus / rel).stat().st_size for rel in layout.origin.values())
    sample_kustomization = (
        (layout.group_dirs[0] / "kustomization.yaml").read_text() if layout.group_dirs else ""
    )
    return Plan(
        name=NAME,
        description=(
            "Rewrite image references of the corpus: kubectl kustomize with an images: "
            "transformer, one build per group of files without duplicate resource IDs, vs "
            "hoist render --images over the same files per group and all at once."
        ),
        peer=peer,
        hoists=[per_group, all_at_once],
        versions={"hoist": hoist_version(ctx.hoist), **kubectl_versions(ctx.kubectl)},
        info={
            "corpus": str(ctx.corpus),
            "corpus_files": len(rels),
            "files_used": len(layout.origin),
            "bytes_used": kept_bytes,
            "groups": len(layout.group_dirs),
            "files_per_group": [len(f) for f in layout.group_files],
            "dropped_files": dict(sorted(layout.dropped.items())),
            "images": {i.name: i.reference for i in images},
            "image_occurrences_in_used_files": {n: occurrences[n] for n in IMAGE_NAMES},
            "non_uniform_spellings": uniform,
            "sample_kustomization": sample_kustomization,
            "group_members": [
                [layout.origin[c] for c in files] for files in layout.group_files
            ],
        },
        check=check,
    )
