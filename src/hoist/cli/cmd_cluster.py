"""``hoist cluster …``: the embedded single-node cluster, driven as kubectl drives one.

``apply``, ``get``, ``describe pod``, ``delete``, ``events`` and ``patch`` talk to the
object store (hoist.cluster); ``up``, ``down`` and ``logs`` hand over to the node
(hoist.cluster.agent). Output is kubectl's, line for line where kubectl has a line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hoist.cli.output import EXIT_BAD_INPUT, EXIT_OK, error
from hoist.errors import InputError, OperationError

if TYPE_CHECKING:
    from hoist.cluster import Cluster

# kubectl's names for each kind: singular, plural, short names (api-resources).
_KUBECTL_NAMES: dict[str, tuple[str, ...]] = {
    "Pod": ("po", "pod", "pods"),
    "Deployment": ("deploy", "deployment", "deployments", "deployment.apps",
                   "deployments.apps"),
    "Secret": ("secret", "secrets"),
    "ServiceAccount": ("sa", "serviceaccount", "serviceaccounts"),
    "Event": ("ev", "event", "events"),
    "Namespace": ("ns", "namespace", "namespaces"),
}
KIND_ALIASES: dict[str, str] = {name: kind for kind, names in _KUBECTL_NAMES.items()
                                for name in names}
# How kubectl names an object in its one-line results (resource[.group]/name).
RESOURCE_NAMES = {"Pod": "pod", "Deployment": "deployment.apps", "Secret": "secret",
                  "ServiceAccount": "serviceaccount", "Namespace": "namespace",
                  "Event": "event"}
PLURALS = {"Pod": "pods", "Deployment": "deployments.apps", "Secret": "secrets",
           "ServiceAccount": "serviceaccounts", "Namespace": "namespaces", "Event": "events"}
RUNTIMES = ("auto", "cri", "builtin")
VERIFICATION_POLICIES = ("NeverVerify", "NeverVerifyPreloadedImages",
                         "NeverVerifyAllowlistedImages", "AlwaysVerify")


def kind_of(word: str) -> str:
    kind = KIND_ALIASES.get(word.lower())
    if kind is None:
        raise InputError(f'the server doesn\'t have a resource type "{word}"')
    return kind


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    cluster = sub.add_parser(
        "cluster", help="the embedded single-node cluster (kubectl-shaped)",
        description="An embedded single-node Kubernetes cluster: an object store with the "
        "API server's defaulting, admission and validation, a Deployment controller, and a "
        "node that pulls images as the kubelet does. Output is kubectl's.",
    )
    cluster.add_argument("--cluster-dir", type=Path, metavar="DIR",
                         help="the cluster's state directory "
                              "(default: $XDG_DATA_HOME/hoist/cluster)")
    verbs = cluster.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)

    p = verbs.add_parser("apply", help="create or update objects from files (kubectl apply)")
    p.add_argument("-f", "--filename", action="append", required=True, metavar="FILE|DIR|-",
                   help="YAML or JSON manifests (multi-document, kind: List); repeatable")
    p.add_argument("-n", "--namespace", metavar="NS")
    p.set_defaults(func=run_apply)

    p = verbs.add_parser("get", help="list objects (kubectl get)")
    p.add_argument("kind", metavar="KIND[/NAME]")
    p.add_argument("names", nargs="*", metavar="NAME")
    _namespace_args(p)
    p.add_argument("-o", "--output", choices=("json", "yaml", "wide", "name"))
    p.add_argument("-l", "--selector", metavar="K=V[,K=V]", help="equality label selector")
    p.set_defaults(func=run_get)

    p = verbs.add_parser("describe", help="describe a pod (kubectl describe pod)")
    p.add_argument("kind", metavar="pod")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-n", "--namespace", metavar="NS")
    p.set_defaults(func=run_describe)

    p = verbs.add_parser("delete", help="delete objects (kubectl delete)")
    p.add_argument("args", nargs="*", metavar="KIND NAME…")
    p.add_argument("-f", "--filename", action="append", metavar="FILE|DIR|-")
    p.add_argument("-n", "--namespace", metavar="NS")
    p.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                   help="wait until the node has finished with deleted pods (default: wait)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long --wait waits (default 60)")
    p.set_defaults(func=run_delete)

    p = verbs.add_parser("events", help="events, oldest first (kubectl events)")
    _namespace_args(p)
    p.set_defaults(func=run_events)

    p = verbs.add_parser("patch", help="merge-patch an object (kubectl patch)")
    p.add_argument("kind", metavar="KIND")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-p", "--patch", required=True, metavar="JSON")
    p.add_argument("--type", choices=("merge", "strategic"), default="strategic",
                   help="accepted for kubectl compatibility; both apply a JSON merge patch")
    p.add_argument("-n", "--namespace", metavar="NS")
    p.set_defaults(func=run_patch)

    p = verbs.add_parser("up", help="start the node (kubelet and its image manager)")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto")
    p.add_argument("--cri-socket", metavar="PATH")
    p.add_argument("--detach", action="store_true", help="run in the background")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="F",
                   help="multiply the kubelet's durations (back-off …) by F (default 1.0)")
    p.add_argument("--always-pull-images", action="store_true",
                   help="enable the AlwaysPullImages admission plugin")
    p.add_argument("--verification-policy", choices=VERIFICATION_POLICIES,
                   default="NeverVerifyPreloadedImages",
                   help="pulled-image credential verification (KEP-2535)")
    p.add_argument("--allowlist", action="append", default=[], metavar="PATTERN",
                   help="image allowlist for NeverVerifyAllowlistedImages; repeatable")
    p.add_argument("--max-parallel-image-pulls", type=int, default=0, metavar="N",
                   help="0 or 1: serial pulls (default 0)")
    p.add_argument("--registry-pull-qps", type=float, default=5.0, metavar="F")
    p.add_argument("--registry-burst", type=int, default=10, metavar="N")
    p.set_defaults(func=run_up)

    p = verbs.add_parser("down", help="stop the node")
    p.add_argument("--all", action="store_true",
                   help="also stop the embedded registry and the containerd hoist started "
                        "for `hoist deploy` / `hoist run`")
    p.set_defaults(func=run_down)

    p = verbs.add_parser("logs", help="a container's log")
    p.add_argument("pod", metavar="POD")
    p.add_argument("-c", "--container", metavar="CONTAINER")
    p.add_argument("-n", "--namespace", metavar="NS", default="default")
    p.set_defaults(func=run_logs)


def _namespace_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", metavar="NS")
    p.add_argument("-A", "--all-namespaces", action="store_true")


def _open(args: argparse.Namespace) -> Cluster:
    from hoist.cluster import Cluster

    return Cluster.open(args.cluster_dir)


def _cluster_dir(args: argparse.Namespace) -> Path:
    from hoist.cluster import default_cluster_dir

    return Path(args.cluster_dir) if args.cluster_dir else default_cluster_dir()


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


# --------------------------------------------------------------------------- reading files


def iter_manifest_objects(
    paths: Sequence[str],
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(file, line, object) for every object of the manifests, Lists flattened; InputError
    naming the file and line for what cannot be read or is not an object."""
    import yaml

    from hoist.manifests import iter_resources, read_sources

    files, problems = read_sources(paths)
    if problems:
        raise InputError(str(problems[0]))
    for source in files:
        for res in iter_resources(source):
            try:
                obj = yaml.constructor.SafeConstructor().construct_document(res.node)
            except (yaml.YAMLError, TypeError, ValueError) as e:
                raise InputError(f"{source.name}:{res.line}: cannot read the object "
                                 f"({e})") from None
            yield source.name, res.line, _jsonable(obj)


def _jsonable(value: Any) -> Any:
    """YAML 1.1 timestamps and dates back to the text they were (JSON has no dates)."""
    import datetime as _dt

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    return value


def _object_label(obj: dict[str, Any]) -> str:
    kind = str(obj.get("kind") or "")
    name = str((obj.get("metadata") or {}).get("name") or "")
    return f"{RESOURCE_NAMES.get(kind, kind.lower())}/{name}"


def _set_namespace(obj: dict[str, Any], namespace: str | None) -> None:
    """kubectl's rule: -n fills in a missing namespace and must agree with a given one."""
    if namespace is None or obj.get("kind") == "Namespace":
        return
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        return
    have = meta.get("namespace")
    if have and have != namespace:
        raise InputError(
            f'the namespace from the provided object "{have}" does not match the namespace '
            f'"{namespace}". You must pass \'--namespace={have}\' to perform this operation.')
    meta["namespace"] = namespace


# --------------------------------------------------------------------------- verbs


def run_apply(args: argparse.Namespace) -> int:
    objects = list(iter_manifest_objects(args.filename))
    if not objects:
        raise InputError("no objects passed to apply")
    failed = 0
    with _open(args) as cluster:
        for source, line, obj in objects:
            try:
                _set_namespace(obj, args.namespace)
                _, outcome = cluster.apply(obj)
            except InputError as e:
                error(f"{source}:{line}: {e}")
                failed += 1
                continue
            _out(f"{_object_label(obj)} {outcome}\n")
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _parse_selector(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    selector: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InputError(f"-l {text}: only equality selectors (k=v[,k=v]) are supported")
        selector[key.strip().removesuffix("=")] = value.lstrip("=").strip()
    return selector


def _namespace(args: argparse.Namespace) -> str:
    return str(args.namespace or "default")


def _not_found(kind: str, name: str) -> OperationError:
    return OperationError(f'Error from server (NotFound): {PLURALS[kind]} "{name}" not found')


def run_get(args: argparse.Namespace) -> int:
    from hoist.cluster import printers

    word, _, first_name = args.kind.partition("/")
    kind = kind_of(word)
    names = ([first_name] if first_name else []) + list(args.names)
    all_ns = bool(args.all_namespaces) and not names
    namespace = None if all_ns else _namespace(args)
    selector = _parse_selector(args.selector)
    with _open(args) as cluster:
        if kind == "Event":
            found = cluster.events(namespace)
            if selector:
                found = []
            if names:
                found = [e for e in found if e["metadata"]["name"] in names]
        elif names:
            found = []
            for name in names:
                obj = cluster.get(kind, namespace, name)
                if obj is None:
                    raise _not_found(kind, name)
                found.append(obj)
        else:
            found = cluster.list(kind, namespace, selector)
    now = time.time()
    if args.output in ("json", "yaml"):
        doc: Any = found[0] if len(names) == 1 and found else printers.as_list(found)
        _out(printers.to_json(doc) if args.output == "json" else printers.to_yaml(doc))
        return EXIT_OK
    if not found:
        where = "" if all_ns or kind == "Namespace" else f" in {namespace} namespace"
        sys.stderr.write(f"No resources found{where}.\n")
        return EXIT_OK
    if args.output == "name":
        _out("".join(f"{RESOURCE_NAMES[kind]}/{o['metadata']['name']}\n" for o in found))
        return EXIT_OK
    _out(printers.format_table(kind, found, now, wide=args.output == "wide",
                               with_namespace=all_ns and kind != "Namespace"))
    return EXIT_OK


def run_describe(args: argparse.Namespace) -> int:
    from hoist.cluster import printers

    word, _, first_name = args.kind.partition("/")
    if kind_of(word) != "Pod":
        raise InputError(f"describe {args.kind}: only pods can be described")
    names = ([first_name] if first_name else []) + list(args.names)
    namespace = _namespace(args)
    with _open(args) as cluster:
        texts = []
        for name in names:
            pod = cluster.get("Pod", namespace, name)
            if pod is None:
                raise _not_found("Pod", name)
            events = cluster.events(namespace, pod["metadata"]["uid"])
            texts.append(printers.describe_pod(pod, events, time.time()))
    _out("\n\n".join(texts))
    return EXIT_OK


def run_delete(args: argparse.Namespace) -> int:
    targets: list[tuple[str, str | None, str]] = []
    if args.filename:
        if args.args:
            raise InputError("delete: give either -f FILE or KIND NAME…, not both")
        for _source, _line, obj in iter_manifest_objects(args.filename):
            _set_namespace(obj, args.namespace)
            kind = str(obj.get("kind") or "")
            meta = obj.get("metadata") or {}
            targets.append((kind, meta.get("namespace") or _namespace(args),
                            str(meta.get("name") or "")))
    else:
        if not args.args:
            raise InputError("delete: give -f FILE or KIND NAME…")
        word, _, first_name = args.args[0].partition("/")
        kind = kind_of(word)
        names = ([first_name] if first_name else []) + list(args.args[1:])
        if not names:
            raise InputError(f"delete {args.args[0]}: name the objects to delete")
        targets = [(kind, _namespace(args), name) for name in names]
    missing = 0
    with _open(args) as cluster:
        for kind, namespace, name in targets:
            before = cluster.get(kind, namespace, name) if kind in RESOURCE_NAMES else None
            if not cluster.delete(kind, namespace, name):
                error(str(_not_found(kind, name)))
                missing += 1
                continue
            _out(f'{RESOURCE_NAMES[kind]} "{name}" deleted\n')
            if args.wait and kind == "Pod" and before is not None:
                _wait_gone(cluster, namespace, name, before["metadata"]["uid"], args.timeout)
    return 1 if missing else EXIT_OK


def _wait_gone(cluster: Cluster, namespace: str | None, name: str, uid: str,
               timeout: float) -> None:
    deadline = time.monotonic() + timeout
    revision = cluster.revision()
    while True:
        pod = cluster.get("Pod", namespace, name)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OperationError(f'timed out waiting for the deletion of pod "{name}" '
                                 "(is the node running? see `hoist cluster up`)")
        revision = cluster.wait_for_change(revision, min(remaining, 1.0))


def run_events(args: argparse.Namespace) -> int:
    from hoist.cluster import printers

    namespace = None if args.all_namespaces else _namespace(args)
    with _open(args) as cluster:
        found = cluster.events(namespace)
    if not found:
        where = "" if namespace is None else f" in {namespace} namespace"
        sys.stderr.write(f"No events found{where}.\n")
        return EXIT_OK
    _out(printers.format_events(found, time.time(), with_namespace=namespace is None))
    return EXIT_OK


def run_patch(args: argparse.Namespace) -> int:
    kind = kind_of(args.kind)
    if kind == "Event":
        raise InputError("patch: events cannot be patched")
    try:
        patch = json.loads(args.patch)
    except json.JSONDecodeError as e:
        raise InputError(f"-p: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(patch, dict):
        raise InputError("-p: the patch must be a JSON object")
    with _open(args) as cluster:
        if cluster.get(kind, _namespace(args), args.name) is None:
            raise _not_found(kind, args.name)
        _, changed = cluster.patch(kind, _namespace(args), args.name, patch)
    _out(f"{RESOURCE_NAMES[kind]}/{args.name} patched{'' if changed else ' (no change)'}\n")
    return EXIT_OK


# --------------------------------------------------------------------------- node verbs


def _agent() -> Any:
    try:
        return importlib.import_module("hoist.cluster.agent")
    except ImportError as e:
        raise OperationError(f"the cluster node is not available in this build ({e})") from None


def run_up(args: argparse.Namespace) -> int:
    agent = _agent()
    if args.max_parallel_image_pulls < 0:
        raise InputError("--max-parallel-image-pulls must be 0 or more")
    if args.time_scale <= 0:
        raise InputError("--time-scale must be greater than 0")
    options = agent.NodeOptions(
        runtime=args.runtime, cri_socket=args.cri_socket, detach=args.detach,
        time_scale=args.time_scale, always_pull_images=args.always_pull_images,
        verification_policy=args.verification_policy, allowlist=list(args.allowlist),
        max_parallel_image_pulls=args.max_parallel_image_pulls,
        registry_pull_qps=args.registry_pull_qps, registry_burst=args.registry_burst,
    )
    up: Callable[[Path, Any], int] = agent.up
    return int(up(_cluster_dir(args), options))


def run_down(args: argparse.Namespace) -> int:
    if getattr(args, "all", False):
        from hoist.deploy.embedded import stop_embedded

        stopped = stop_embedded(cluster_dir=_cluster_dir(args),
                                log=lambda line: print(line, file=sys.stderr))
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return EXIT_OK
    down: Callable[[Path], int] = _agent().down
    return int(down(_cluster_dir(args)))


def run_logs(args: argparse.Namespace) -> int:
    logs: Callable[[Path, str, str, str | None], str] = _agent().logs
    text = logs(_cluster_dir(args), args.namespace, args.pod, args.container)
    _out(text)
    return EXIT_OK
