"""kubectl-shaped output for the embedded cluster.

* Tables: the server-side column definitions of pkg/printers/internalversion/printers.go
  (printPod, printDeployment, printSecret, printServiceAccount, printNamespace,
  printEvent) laid out as k8s.io/cli-runtime's table printer does: Go text/tabwriter with
  minwidth 6, tabwidth 4, padding 3 (cli-runtime pkg/printers/tabwriter.go).
* Ages: apimachinery pkg/util/duration.HumanDuration (``5s``, ``3m2s``, ``4h``, ``2d``).
* ``describe pod``: k8s.io/kubectl pkg/describe/describe.go (describePod,
  describeContainers, DescribeEvents …) through a tabwriter with minwidth 0, tabwidth 8,
  padding 2 (tabbedString).
* ``events``: kubectl events (pkg/cmd/events/event_printer.go): ``10s (x3 over 2m)``.
* ``-o json``: json.MarshalIndent with four spaces over the object's map (keys sorted,
  ``<`` ``>`` ``&`` escaped as Go escapes them); several objects as a ``List``.
  ``-o yaml``: keys sorted, block style, double quotes where quoting is needed, multi-line
  strings as literal blocks (go-yaml v2's choices).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import yaml

from hoist.cluster.controllers import parse_timestamp

RUNTIME_NOTE_ANNOTATION = "hoist.dev/runtime-note"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
MAX_ANNOTATION_LEN = 140  # describe.go maxAnnotationLen


# --------------------------------------------------------------------------- tabwriter


def tabwrite(text: str, minwidth: int, padding: int) -> str:
    """Go's text/tabwriter (left-aligned, space padding, no flags): cells end with a tab,
    a column block is a run of consecutive lines that have a cell in that column, and
    the text after a line's last tab is not aligned."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            parts = []
            for j, cell in enumerate(lines[i]):
                parts.append(cell)
                if j < len(widths):
                    parts.append(" " * (widths[j] - len(cell)))
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out)


def table_text(rows: Sequence[Sequence[str]]) -> str:
    """cli-runtime's table layout: each row's cells tab-separated, minwidth 6, padding 3."""
    return tabwrite("".join("\t".join(r) + "\n" for r in rows), 6, 3)


# --------------------------------------------------------------------------- time


def human_duration(seconds: float) -> str:
    """apimachinery duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, now: float) -> str:
    """translateTimestampSince: ``<unknown>`` for a missing time."""
    ts = parse_timestamp(timestamp)
    if ts is None:
        return "<unknown>"
    return human_duration(now - ts)


def rfc1123z(timestamp: Any) -> str:
    """Go's time.RFC1123Z in the local zone, as kubectl describe prints times."""
    ts = parse_timestamp(timestamp)
    if ts is None:
        return ""
    return _dt.datetime.fromtimestamp(ts).astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


# --------------------------------------------------------------------------- pods


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _state(status: Mapping[str, Any], key: str = "state") -> Mapping[str, Any]:
    return status.get(key) or {}


def _restartable_init(container: Mapping[str, Any] | None) -> bool:
    return bool(container) and (container or {}).get("restartPolicy") == "Always"


def pod_row(pod: Mapping[str, Any], now: float) -> tuple[str, str, str, str]:
    """printPod's READY, STATUS, RESTARTS and AGE cells."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    total = len(spec.get("containers") or [])
    ready = 0
    restarts = 0
    restartable_restarts = 0
    last_restart = 0.0
    last_restartable = 0.0
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total += sum(1 for c in init_specs.values() if _restartable_init(c))
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += int(cs.get("restartCount", 0))
        finished = parse_timestamp(_state(cs, "lastState").get("terminated", {}).get(
            "finishedAt")) if _state(cs, "lastState").get("terminated") else None
        if finished is not None:
            last_restart = max(last_restart, finished)
        restartable = _restartable_init(init_specs.get(cs.get("name")))
        if restartable:
            restartable_restarts += int(cs.get("restartCount", 0))
            if finished is not None:
                last_restartable = max(last_restartable, finished)
        terminated = _state(cs).get("terminated")
        waiting = _state(cs).get("waiting")
        if terminated is not None and int(terminated.get("exitCode", 0)) == 0:
            continue
        if restartable and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            if not terminated.get("reason"):
                if terminated.get("signal"):
                    reason = f"Init:Signal:{terminated['signal']}"
                else:
                    reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
            else:
                reason = "Init:" + str(terminated["reason"])
        elif waiting is not None and waiting.get("reason") and \
                waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    initialized = any(c.get("type") == "Initialized" and c.get("status") == "True"
                      for c in status.get("conditions") or [])
    if not initializing or initialized:
        restarts = restartable_restarts
        last_restart = last_restartable
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount", 0))
            last_term = _state(cs, "lastState").get("terminated")
            if last_term:
                finished = parse_timestamp(last_term.get("finishedAt"))
                if finished is not None:
                    last_restart = max(last_restart, finished)
            waiting = _state(cs).get("waiting")
            terminated = _state(cs).get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated is not None:
                reason = (f"Signal:{terminated['signal']}" if terminated.get("signal")
                          else f"ExitCode:{terminated.get('exitCode', 0)}")
            elif cs.get("ready") and _state(cs).get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            has_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in status.get("conditions") or [])
            reason = "Running" if has_ready else "NotReady"
    if _meta(pod).get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif _meta(pod).get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    return f"{ready}/{total}", reason, restarts_text, since(_meta(pod).get("creationTimestamp"),
                                                           now)


def _pod_cells(pod: Mapping[str, Any], now: float, wide: bool) -> list[str]:
    ready, reason, restarts, age = pod_row(pod, now)
    cells = [str(_meta(pod).get("name", "")), ready, reason, restarts, age]
    if wide:
        status = pod.get("status") or {}
        spec = pod.get("spec") or {}
        ips = status.get("podIPs") or []
        ip = (ips[0].get("ip") if ips else "") or status.get("podIP") or "<none>"
        gates = spec.get("readinessGates") or []
        gates_text = "<none>"
        if gates:
            true = {c.get("type") for c in status.get("conditions") or []
                    if c.get("status") == "True"}
            gates_text = f"{sum(1 for g in gates if g.get('conditionType') in true)}/{len(gates)}"
        cells += [ip, spec.get("nodeName") or "<none>",
                  status.get("nominatedNodeName") or "<none>", gates_text]
    return cells


def _selector_text(selector: Mapping[str, Any] | None) -> str:
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = str(expr.get("operator", "")).lower()
        values = ",".join(sorted(expr.get("values") or []))
        if op in ("in", "notin"):
            parts.append(f"{expr.get('key')} {op} ({values})")
        elif op == "exists":
            parts.append(str(expr.get("key")))
        else:
            parts.append(f"!{expr.get('key')}")
    return ",".join(parts) or "<none>"


def _deployment_cells(dep: Mapping[str, Any], now: float, wide: bool) -> list[str]:
    spec = dep.get("spec") or {}
    status = dep.get("status") or {}
    cells = [str(_meta(dep).get("name", "")),
             f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
             str(status.get("updatedReplicas", 0)), str(status.get("availableReplicas", 0)),
             since(_meta(dep).get("creationTimestamp"), now)]
    if wide:
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        cells += [",".join(str(c.get("name", "")) for c in containers),
                  ",".join(str(c.get("image", "")) for c in containers),
                  _selector_text(spec.get("selector"))]
    return cells


def _secret_cells(secret: Mapping[str, Any], now: float, wide: bool) -> list[str]:
    return [str(_meta(secret).get("name", "")), str(secret.get("type", "")),
            str(len(secret.get("data") or {})), since(_meta(secret).get("creationTimestamp"),
                                                      now)]


def _sa_cells(sa: Mapping[str, Any], now: float, wide: bool) -> list[str]:
    return [str(_meta(sa).get("name", "")), str(len(sa.get("secrets") or [])),
            since(_meta(sa).get("creationTimestamp"), now)]


def _namespace_cells(ns: Mapping[str, Any], now: float, wide: bool) -> list[str]:
    return [str(_meta(ns).get("name", "")), str((ns.get("status") or {}).get("phase", "")),
            since(_meta(ns).get("creationTimestamp"), now)]


def _event_cells(ev: Mapping[str, Any], now: float, wide: bool) -> list[str]:
    first = since(ev.get("firstTimestamp"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    obj = ev.get("involvedObject") or {}
    kind = str(obj.get("kind", "")).lower()
    target = f"{kind}/{obj['name']}" if obj.get("name") else kind
    message = str(ev.get("message", "")).strip()
    if not wide:
        return [last, str(ev.get("type", "")), str(ev.get("reason", "")), target, message]
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    source_text = f"{component}, {host}" if host else component
    return [last, str(ev.get("type", "")), str(ev.get("reason", "")), target,
            str(obj.get("fieldPath", "")), source_text, message, first,
            str(ev.get("count", 1) or 1), str(_meta(ev).get("name", ""))]


_Cells = Callable[[Mapping[str, Any], float, bool], list[str]]
TABLES: dict[str, tuple[list[str], list[str], _Cells]] = {
    "Pod": (["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"], _pod_cells),
    "Deployment": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                   ["CONTAINERS", "IMAGES", "SELECTOR"], _deployment_cells),
    "Secret": (["NAME", "TYPE", "DATA", "AGE"], [], _secret_cells),
    "ServiceAccount": (["NAME", "SECRETS", "AGE"], [], _sa_cells),
    "Namespace": (["NAME", "STATUS", "AGE"], [], _namespace_cells),
    "Event": (["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
              ["SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"], _event_cells),
}


def format_table(kind: str, objects: Iterable[Mapping[str, Any]], now: float, *,
                 wide: bool = False, with_namespace: bool = False) -> str:
    """``kubectl get KIND`` (``-o wide``, ``-A``) for the objects given."""
    headers, wide_headers, cells = TABLES[kind]
    if wide:
        headers = headers[:4] + wide_headers if kind == "Event" else headers + wide_headers
    rows = [(["NAMESPACE"] if with_namespace else []) + headers]
    for obj in objects:
        row = cells(obj, now, wide)
        rows.append(([str(_meta(obj).get("namespace", ""))] if with_namespace else []) + row)
    return table_text(rows)


# --------------------------------------------------------------------------- events


def event_interval(ev: Mapping[str, Any], now: float) -> str:
    """DescribeEvents' and kubectl events' age column: ``10s (x3 over 2m)``."""
    first = since(ev.get("firstTimestamp"), now)
    count = int(ev.get("count", 1) or 1)
    if count > 1:
        return f"{since(ev.get('lastTimestamp'), now)} (x{count} over {first})"
    return first


def _event_sort_key(ev: Mapping[str, Any]) -> float:
    return parse_timestamp(ev.get("lastTimestamp")) or parse_timestamp(
        ev.get("firstTimestamp")) or 0.0


def format_events(events: Iterable[Mapping[str, Any]], now: float, *,
                  with_namespace: bool = False) -> str:
    """``kubectl events``: oldest first, ``Kind/name`` objects, aggregated ages."""
    rows = [(["NAMESPACE"] if with_namespace else []) +
            ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]]
    for ev in sorted(events, key=_event_sort_key):
        obj = ev.get("involvedObject") or {}
        rows.append(([str(_meta(ev).get("namespace", ""))] if with_namespace else []) + [
            event_interval(ev, now), str(ev.get("type", "")), str(ev.get("reason", "")),
            f"{obj.get('kind', '')}/{obj.get('name', '')}",
            str(ev.get("message", "")).strip()])
    return table_text(rows)


# --------------------------------------------------------------------------- json / yaml


def as_list(objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "items": list(objects), "kind": "List",
            "metadata": {"resourceVersion": ""}}


def to_json(doc: Any) -> str:
    """json.MarshalIndent(…, "", "    ") of a map: sorted keys, Go's HTML-safe escapes."""
    text = json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text + "\n"


class _GoYamlDumper(yaml.SafeDumper):
    """PyYAML dressed as go-yaml v2: double quotes instead of single, literal blocks for
    multi-line strings."""

    def choose_scalar_style(self) -> Any:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


# YAML 1.1 booleans PyYAML reads as strings but go-yaml v2 would not: quoted.
_GO_YAML_BOOL_WORDS = frozenset({"y", "Y", "n", "N"})


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if value in _GO_YAML_BOOL_WORDS:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_GoYamlDumper.add_representer(str, _represent_str)


def to_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_GoYamlDumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=80)


# --------------------------------------------------------------------------- describe


class _Describe:
    """describe.go's PrefixWriter: two spaces per level, tab-separated cells."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, level: int, text: str) -> None:
        self.parts.append("  " * level + text)

    def text(self) -> str:
        return tabwrite("".join(self.parts), 0, 2)


def _labels_multiline(w: _Describe, title: str, labels: Mapping[str, Any] | None) -> None:
    w.write(0, f"{title}:\t")
    if not labels:
        w.write(0, "<none>\n")
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            w.write(0, "\t")
        w.write(0, f"{key}={labels[key]}\n")


def _annotations_multiline(w: _Describe, title: str,
                           annotations: Mapping[str, Any] | None) -> None:
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in (annotations or {}) if k != LAST_APPLIED)
    if not keys:
        w.write(0, "<none>\n")
        return
    assert annotations is not None
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = str(annotations[key]).removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for line in value.split("\n"):
                short = line if len(line) <= MAX_ANNOTATION_LEN - 2 else \
                    line[: MAX_ANNOTATION_LEN - 2] + "..."
                w.write(0, f"\t  {short}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def _tolerations_multiline(w: _Describe, title: str,
                           tolerations: Sequence[Mapping[str, Any]] | None) -> None:
    w.write(0, f"{title}:\t")
    if not tolerations:
        w.write(0, "<none>\n")
        return
    for i, t in enumerate(sorted(tolerations, key=lambda t: str(t.get("key", "")))):
        if i:
            w.write(0, "\t")
        text = str(t.get("key", ""))
        if t.get("value"):
            text += f"={t['value']}"
        if t.get("effect"):
            text += f":{t['effect']}"
        if t.get("operator") == "Exists" and not t.get("value"):
            text += " op=Exists" if (t.get("key") or t.get("effect")) else "op=Exists"
        if t.get("tolerationSeconds") is not None:
            text += f" for {t['tolerationSeconds']}s"
        w.write(0, text + "\n")


def _describe_state(w: _Describe, name: str, state: Mapping[str, Any]) -> None:
    if state.get("running") is not None:
        w.write(2, f"{name}:\tRunning\n")
        w.write(3, f"Started:\t{rfc1123z(state['running'].get('startedAt'))}\n")
    elif state.get("waiting") is not None:
        w.write(2, f"{name}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{state['waiting']['reason']}\n")
    elif state.get("terminated") is not None:
        t = state["terminated"]
        w.write(2, f"{name}:\tTerminated\n")
        if t.get("reason"):
            w.write(3, f"Reason:\t{t['reason']}\n")
        if t.get("message"):
            w.write(3, f"Message:\t{t['message']}\n")
        w.write(3, f"Exit Code:\t{t.get('exitCode', 0)}\n")
        if t.get("signal"):
            w.write(3, f"Signal:\t{t['signal']}\n")
        w.write(3, f"Started:\t{rfc1123z(t.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{rfc1123z(t.get('finishedAt'))}\n")
    else:
        w.write(2, f"{name}:\tWaiting\n")


def _describe_containers(w: _Describe, label: str, containers: Sequence[Mapping[str, Any]],
                         statuses: Sequence[Mapping[str, Any]]) -> None:
    by_name = {s.get("name"): s for s in statuses}
    w.write(0, f"{label}:{'' if containers else ' <none>'}\n")
    for c in containers:
        status = by_name.get(c.get("name"))
        w.write(1, f"{c.get('name', '')}:\n")
        if status is not None:
            w.write(2, f"Container ID:\t{status.get('containerID', '')}\n")
        w.write(2, f"Image:\t{c.get('image', '')}\n")
        if status is not None:
            w.write(2, f"Image ID:\t{status.get('imageID', '')}\n")
        ports = [f"{p.get('containerPort', 0)}/{p.get('protocol', 'TCP')}"
                 for p in c.get("ports") or []]
        host_ports = [f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}"
                      for p in c.get("ports") or []]
        if len(ports) > 1:
            w.write(2, f"Ports:\t{', '.join(ports)}\n")
        else:
            w.write(2, f"Port:\t{', '.join(ports) or '<none>'}\n")
        if len(host_ports) > 1:
            w.write(2, f"Host Ports:\t{', '.join(host_ports)}\n")
        else:
            w.write(2, f"Host Port:\t{', '.join(host_ports) or '<none>'}\n")
        for key, title in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                w.write(2, f"{title}:\n")
                for arg in c[key]:
                    for line in str(arg).split("\n"):
                        w.write(3, f"{line}\n")
        if status is not None:
            _describe_state(w, "State", status.get("state") or {})
            if (status.get("lastState") or {}).get("terminated"):
                _describe_state(w, "Last State", status["lastState"])
            w.write(2, f"Ready:\t{'True' if status.get('ready') else 'False'}\n")
            w.write(2, f"Restart Count:\t{status.get('restartCount', 0)}\n")
        resources = c.get("resources") or {}
        for key, title in (("limits", "Limits"), ("requests", "Requests")):
            if resources.get(key):
                w.write(2, f"{title}:\n")
                for name in sorted(resources[key]):
                    w.write(3, f"{name}:\t{resources[key][name]}\n")
        env = c.get("env") or []
        w.write(2, f"Environment:{'' if env else chr(9) + '<none>'}\n")
        for e in env:
            if "valueFrom" not in e:
                for i, line in enumerate(str(e.get("value", "")).split("\n")):
                    w.write(3, f"{e.get('name')}:\t{line}\n" if i == 0 else f"\t{line}\n")
                continue
            ref = e["valueFrom"] or {}
            if ref.get("secretKeyRef"):
                s = ref["secretKeyRef"]
                w.write(3, f"{e.get('name')}:\t<set to the key '{s.get('key')}' in secret "
                           f"'{s.get('name')}'>\tOptional: {str(bool(s.get('optional'))).lower()}"
                           "\n")
            elif ref.get("configMapKeyRef"):
                s = ref["configMapKeyRef"]
                w.write(3, f"{e.get('name')}:\t<set to the key '{s.get('key')}' of config map "
                           f"'{s.get('name')}'>\tOptional: {str(bool(s.get('optional'))).lower()}"
                           "\n")
            elif ref.get("fieldRef"):
                f = ref["fieldRef"]
                w.write(3, f"{e.get('name')}:\t ({f.get('apiVersion', 'v1')}:"
                           f"{f.get('fieldPath')})\n")
        mounts = c.get("volumeMounts") or []
        w.write(2, f"Mounts:{'' if mounts else chr(9) + '<none>'}\n")
        for m in sorted(mounts, key=lambda m: str(m.get("mountPath", ""))):
            flags = ["ro" if m.get("readOnly") else "rw"]
            if m.get("subPath"):
                flags.append(f'path="{m["subPath"]}"')
            w.write(3, f"{m.get('mountPath')} from {m.get('name')} ({','.join(flags)})\n")


def _describe_volumes(w: _Describe, volumes: Sequence[Mapping[str, Any]]) -> None:
    if not volumes:
        w.write(0, "Volumes:\t<none>\n")
        return
    w.write(0, "Volumes:\n")
    for v in volumes:
        w.write(1, f"{v.get('name')}:\n")
        if v.get("secret") is not None:
            s = v["secret"]
            w.write(2, "Type:\tSecret (a volume populated by a Secret)\n"
                       f"    SecretName:\t{s.get('secretName', '')}\n"
                       f"    Optional:\t{str(bool(s.get('optional'))).lower()}\n")
        elif v.get("emptyDir") is not None:
            e = v["emptyDir"]
            w.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
                       f"    Medium:\t{e.get('medium', '')}\n"
                       f"    SizeLimit:\t{e.get('sizeLimit') or '<unset>'}\n")
        elif v.get("hostPath") is not None:
            h = v["hostPath"]
            w.write(2, "Type:\tHostPath (bare host directory volume)\n"
                       f"    Path:\t{h.get('path', '')}\n"
                       f"    HostPathType:\t{h.get('type') or '<none>'}\n")
        elif v.get("configMap") is not None:
            cm = v["configMap"]
            w.write(2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n"
                       f"    Name:\t{cm.get('name', '')}\n"
                       f"    Optional:\t{str(bool(cm.get('optional'))).lower()}\n")
        elif v.get("image") is not None:
            im = v["image"]
            w.write(2, "Type:\tImage (a container image or OCI artifact)\n"
                       f"    Reference:\t{im.get('reference', '')}\n"
                       f"    PullPolicy:\t{im.get('pullPolicy', '')}\n")
        else:
            w.write(1, "<unknown>\n")


def describe_events(w: _Describe, events: Sequence[Mapping[str, Any]], now: float) -> None:
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for ev in sorted(events, key=_event_sort_key):
        source = (ev.get("source") or {}).get("component") or ev.get("reportingComponent", "")
        w.write(1, f"{ev.get('type', '')}\t{ev.get('reason', '')}\t{event_interval(ev, now)}\t"
                   f"{source}\t{str(ev.get('message', '')).strip()}\n")


def describe_pod(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]] | None,
                 now: float) -> str:
    """``kubectl describe pod``; a ``hoist.dev/runtime-note`` annotation is also shown as a
    ``Runtime:`` line right after ``Status:`` (kubectl has no such line)."""
    meta = _meta(pod)
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    w = _Describe()
    w.write(0, f"Name:\t{meta.get('name', '')}\n")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    if spec.get("nodeName"):
        w.write(0, f"Node:\t{spec['nodeName']}/{status.get('hostIP', '')}\n")
    else:
        w.write(0, "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{rfc1123z(status['startTime'])}\n")
    _labels_multiline(w, "Labels", meta.get("labels"))
    _annotations_multiline(w, "Annotations", meta.get("annotations"))
    phase = status.get("phase", "")
    if meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        w.write(0, f"Status:\tTerminating (lasts {since(meta['deletionTimestamp'], now)})\n")
        w.write(0, f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 0)}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    note = (meta.get("annotations") or {}).get(RUNTIME_NOTE_ANNOTATION)
    if note:
        w.write(0, f"Runtime:\t{' '.join(str(note).split())}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    ips = status.get("podIPs") or []
    if not ips:
        w.write(0, "IPs:\t<none>\n")
    else:
        w.write(0, "IPs:\n")
        for ip in ips:
            w.write(1, f"IP:\t{ip.get('ip', '')}\n")
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            w.write(0, f"Controlled By:\t{ref.get('kind')}/{ref.get('name')}\n")
            break
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")
    if spec.get("initContainers"):
        _describe_containers(w, "Init Containers", spec["initContainers"],
                             status.get("initContainerStatuses") or [])
    _describe_containers(w, "Containers", spec.get("containers") or [],
                         status.get("containerStatuses") or [])
    if spec.get("ephemeralContainers"):
        _describe_containers(w, "Ephemeral Containers", spec["ephemeralContainers"],
                             status.get("ephemeralContainerStatuses") or [])
    if spec.get("readinessGates"):
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        for gate in spec["readinessGates"]:
            found = next((c.get("status") for c in status.get("conditions") or []
                          if c.get("type") == gate.get("conditionType")), "<none>")
            w.write(1, f"{gate.get('conditionType')} \t{found} \n")
    if status.get("conditions"):
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in status["conditions"]:
            w.write(1, f"{c.get('type')} \t{c.get('status')} \n")
    _describe_volumes(w, spec.get("volumes") or [])
    w.write(0, f"QoS Class:\t{status.get('qosClass', '')}\n")
    _labels_multiline(w, "Node-Selectors", spec.get("nodeSelector"))
    _tolerations_multiline(w, "Tolerations", spec.get("tolerations"))
    if events is not None:
        describe_events(w, events, now)
    return w.text()
