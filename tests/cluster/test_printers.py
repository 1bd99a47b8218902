"""kubectl-shaped printing: ages, tables, STATUS cells, describe, events, json/yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hoist.cluster.controllers import format_timestamp
from hoist.cluster.printers import (
    RUNTIME_NOTE_ANNOTATION,
    as_list,
    describe_pod,
    format_events,
    format_table,
    human_duration,
    pod_row,
    tabwrite,
    to_json,
    to_yaml,
)

NOW = 1_800_000_000.0
DATA = Path(__file__).parent / "data"


def ago(seconds: float) -> str:
    return format_timestamp(NOW - seconds)


# apimachinery pkg/util/duration HumanDuration's boundaries.
@pytest.mark.parametrize(("seconds", "text"), [
    (-3, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
    (182, "3m2s"), (599, "9m59s"), (600, "10m"), (3 * 3600 - 1, "179m"), (3 * 3600, "3h"),
    (4 * 3600 + 30 * 60, "4h30m"), (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
    (49 * 3600, "2d1h"), (8 * 86400, "8d"), (400 * 86400, "400d"), (731 * 86400, "2y1d"),
    (365 * 8 * 86400 + 86400 * 3, "8y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_get_pods_table_matches_kubectl_layout() -> None:
    # As kubectl prints one running pod (cli-runtime tabwriter: minwidth 6, padding 3).
    running = {"metadata": {"name": "nginx", "creationTimestamp": ago(5)},
               "spec": {"containers": [{"name": "nginx"}]},
               "status": {"phase": "Running", "containerStatuses": [
                   {"name": "nginx", "ready": True, "restartCount": 0,
                    "state": {"running": {"startedAt": ago(4)}}}]}}
    assert format_table("Pod", [running], NOW) == (
        "NAME    READY   STATUS    RESTARTS   AGE\n"
        "nginx   1/1     Running   0          5s\n")


def _containers(n: int) -> list[dict[str, Any]]:
    return [{"name": f"c{i}"} for i in range(n)]


def _pod(containers: int, status: dict[str, Any], init: int = 0,
         deleting: bool = False, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    return {"metadata": meta, "spec": {"containers": _containers(containers),
                                       "initContainers": _containers(init), **spec},
            "status": status}


RUNNING = {"running": {}}
TEN_S_AGO = {"terminated": {"finishedAt": ago(10)}}

# Cases of TestPrintPod in kubernetes pkg/printers/internalversion/printers_test.go
# (test1 … test20): containers, status → READY, STATUS, RESTARTS.
PRINT_POD_CASES = [
    (_pod(2, {"phase": "podPhase", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": RUNNING}, {"restartCount": 3}]}),
     ("1/2", "podPhase", "6")),
    (_pod(2, {"phase": "podPhase", "containerStatuses": [
        {"ready": True, "restartCount": 3, "state": RUNNING},
        {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}}]}),
     ("1/2", "ContainerWaitingReason", "6")),
    (_pod(2, {"phase": "podPhase", "containerStatuses": [
        {"restartCount": 3, "state": {"waiting": {"reason": "ContainerWaitingReason"}}},
        {"restartCount": 3, "state": {"terminated": {"reason": "ContainerTerminatedReason"}}}]}),
     ("0/2", "ContainerWaitingReason", "6")),
    (_pod(2, {"phase": "Running", "containerStatuses": [
        {"ready": True, "restartCount": 3,
         "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
        {"ready": True, "restartCount": 3, "state": RUNNING}],
        "conditions": [{"type": "Ready", "status": "True"}]}),
     ("1/2", "Running", "6")),
    (_pod(1, {"phase": "podPhase", "initContainerStatuses": [
        {"restartCount": 3, "state": RUNNING, "lastState": TEN_S_AGO}],
        "containerStatuses": [{"state": {"waiting": {}}}]}, init=1),
     ("0/1", "Init:0/1", "3 (10s ago)")),
    (_pod(1, {"phase": "podPhase", "initContainerStatuses": [
        {"state": {"terminated": {}}},
        {"restartCount": 3, "state": RUNNING, "lastState": TEN_S_AGO}],
        "containerStatuses": [{"state": {"waiting": {}}}]}, init=2),
     ("0/1", "Init:1/2", "3 (10s ago)")),
    (_pod(1, {"phase": "podPhase", "initContainerStatuses": [
        {"restartCount": 2, "state": {"terminated": {}},
         "lastState": {"terminated": {"finishedAt": ago(120)}}},
        {"restartCount": 3, "state": RUNNING, "lastState": TEN_S_AGO}],
        "containerStatuses": [{"state": {"waiting": {}}}]}, init=2),
     ("0/1", "Init:1/2", "5 (10s ago)")),
    (_pod(1, {"phase": "Running", "initContainerStatuses": [
        {"restartCount": 2, "state": {"terminated": {}},
         "lastState": {"terminated": {"finishedAt": ago(120)}}}],
        "containerStatuses": [{"restartCount": 4, "state": RUNNING,
                               "lastState": {"terminated": {"finishedAt": ago(20)}}}]}, init=1),
     ("0/1", "Running", "4 (20s ago)")),
    (_pod(2, {"phase": "Running", "containerStatuses": [
        {"ready": True, "restartCount": 6, "state": RUNNING,
         "lastState": {"terminated": {"finishedAt": ago(5 * 86400)}}},
        {"ready": True, "restartCount": 3, "state": RUNNING,
         "lastState": {"terminated": {"finishedAt": ago(20 * 86400)}}}]}),
     ("2/2", "Running", "9 (5d ago)")),
    (_pod(2, {"phase": "podPhase", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
     ("0/2", "SchedulingGated", "0")),
    (_pod(1, {"phase": "Succeeded", "containerStatuses": [
        {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}),
     ("0/1", "Completed", "0")),
    (_pod(1, {"phase": "Failed", "containerStatuses": [
        {"state": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
     ("0/1", "Error", "0")),
    (_pod(1, {"phase": "Succeeded", "containerStatuses": [
        {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}, deleting=True),
     ("0/1", "Completed", "0")),
    (_pod(1, {"phase": "Running", "containerStatuses": [{"state": RUNNING}]}, deleting=True),
     ("0/1", "Terminating", "0")),
    (_pod(1, {"phase": "Pending"}, deleting=True), ("0/1", "Terminating", "0")),
    # TestPrintPodWithRestartableInitContainer, first case: sidecars count in READY.
    ({"metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "r1", "restartPolicy": "Always"},
                           {"name": "r2", "restartPolicy": "Always"}],
        "containers": _containers(1)},
      "status": {"phase": "Pending", "initContainerStatuses": [
          {"name": "r1", "restartCount": 3, "state": RUNNING, "started": False,
           "lastState": TEN_S_AGO},
          {"name": "r2", "state": {"waiting": {}}, "started": False}],
          "containerStatuses": [{"state": {"waiting": {}}}],
          "conditions": [{"type": "Initialized", "status": "False"}]}},
     ("0/3", "Init:0/2", "3 (10s ago)")),
    # What the embedded node reports while pulling fails.
    (_pod(1, {"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "ImagePullBackOff",
                               "message": 'Back-off pulling image "x"'}}}]}),
     ("0/1", "ImagePullBackOff", "0")),
    (_pod(1, {"phase": "Pending", "initContainerStatuses": [
        {"state": {"waiting": {"reason": "ErrImagePull"}}}]}, init=1),
     ("0/1", "Init:ErrImagePull", "0")),
    (_pod(1, {"phase": "Pending", "initContainerStatuses": [
        {"state": {"terminated": {"exitCode": 2}}}]}, init=1),
     ("0/1", "Init:ExitCode:2", "0")),
    (_pod(1, {"phase": "Running", "containerStatuses": [
        {"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4,
         "lastState": {"terminated": {"finishedAt": ago(30), "exitCode": 1}}}]}),
     ("0/1", "CrashLoopBackOff", "4 (30s ago)")),
]


@pytest.mark.parametrize(("pod", "expected"), PRINT_POD_CASES)
def test_pod_status_cells_as_upstream_printer(pod: dict[str, Any],
                                              expected: tuple[str, str, str]) -> None:
    ready, status, restarts, age = pod_row(pod, NOW)
    assert (ready, status, restarts) == expected
    assert age == "<unknown>"


def test_wide_and_all_namespaces_columns() -> None:
    pod = {"metadata": {"name": "web", "namespace": "team", "creationTimestamp": ago(190)},
           "spec": {"containers": _containers(1), "nodeName": "node-1"},
           "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.7"}]}}
    assert format_table("Pod", [pod], NOW, wide=True, with_namespace=True) == (
        "NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE     IP         NODE     "
        "NOMINATED NODE   READINESS GATES\n"
        "team        web    0/1     Running   0          3m10s   10.0.0.7   node-1   "
        "<none>           <none>\n")


def test_other_tables() -> None:
    dep = {"metadata": {"name": "app", "creationTimestamp": ago(7200)},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "a"}},
                    "template": {"spec": {"containers": [{"name": "m", "image": "busybox:1"}]}}},
           "status": {"readyReplicas": 1, "updatedReplicas": 3, "availableReplicas": 1}}
    assert format_table("Deployment", [dep], NOW) == (
        "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n"
        "app    1/3     3            1           120m\n")
    secret = {"metadata": {"name": "regcred", "creationTimestamp": ago(3)},
              "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}}
    assert format_table("Secret", [secret], NOW) == (
        "NAME      TYPE                             DATA   AGE\n"
        "regcred   kubernetes.io/dockerconfigjson   1      3s\n")
    sa = {"metadata": {"name": "default", "creationTimestamp": ago(3 * 86400)}}
    assert format_table("ServiceAccount", [sa], NOW) == (
        "NAME      SECRETS   AGE\n"
        "default   0         3d\n")


EVENT_BASE = {"involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
              "source": {"component": "kubelet", "host": "node-1"}, "metadata": {}}


def _event(reason: str, message: str, etype: str, first: float, last: float, count: int,
           component: str = "kubelet") -> dict[str, Any]:
    return {**EVENT_BASE, "reason": reason, "message": message, "type": etype,
            "firstTimestamp": ago(first), "lastTimestamp": ago(last), "count": count,
            "source": {"component": component}}


EVENTS = [
    _event("Scheduled", "Successfully assigned default/web to minikube", "Normal", 60, 60, 1,
           "default-scheduler"),
    _event("Pulling", 'Pulling image "nginx:doesnotexist"', "Normal", 59, 20, 3),
    _event("Failed", 'Failed to pull image "nginx:doesnotexist": not found', "Warning", 58,
           19, 3),
    _event("Failed", "Error: ErrImagePull", "Warning", 58, 19, 3),
    _event("BackOff", 'Back-off pulling image "nginx:doesnotexist"', "Normal", 58, 5, 4),
    _event("Failed", "Error: ImagePullBackOff", "Warning", 58, 5, 4),
]


def test_describe_pod_layout() -> None:
    pod = {
        "metadata": {"name": "web", "namespace": "default", "labels": {"run": "web"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                     "creationTimestamp": ago(60)},
        "spec": {"containers": [{"name": "web", "image": "nginx:doesnotexist"}],
                 "serviceAccountName": "default", "priority": 0, "nodeName": "minikube",
                 "tolerations": [
                     {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                      "effect": "NoExecute", "tolerationSeconds": 300},
                     {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                      "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": {"phase": "Pending", "hostIP": "192.168.49.2", "podIP": "10.244.0.7",
                   "podIPs": [{"ip": "10.244.0.7"}], "qosClass": "BestEffort",
                   "startTime": "2024-03-05T10:00:00Z",
                   "conditions": [{"type": t, "status": s} for t, s in (
                       ("PodReadyToStartContainers", "True"), ("Initialized", "True"),
                       ("Ready", "False"), ("ContainersReady", "False"),
                       ("PodScheduled", "True"))],
                   "containerStatuses": [{"name": "web", "ready": False, "restartCount": 0,
                                          "image": "nginx:doesnotexist", "imageID": "",
                                          "containerID": "",
                                          "state": {"waiting": {"reason": "ImagePullBackOff"}}}]},
    }
    text = describe_pod(pod, EVENTS, NOW)
    start = text.splitlines()[5]
    assert start.startswith("Start Time:       ") and "2024" in start
    # kubectl describe's layout for this pod, kept as a file: its lines carry the trailing
    # blanks Go's tabwriter leaves after empty cells and `%v \t` conditions.
    expected = (DATA / "describe_pod_imagepullbackoff.txt").read_text().replace(
        "{START}", start)
    assert text == expected


def test_describe_runtime_note_terminating_and_no_events() -> None:
    pod = {"metadata": {"name": "web", "namespace": "default", "deletionTimestamp": ago(4),
                        "deletionGracePeriodSeconds": 30,
                        "annotations": {RUNTIME_NOTE_ANNOTATION:
                                        "containers are not executed\nby this runtime"}},
           "spec": {"containers": [{"name": "web", "image": "x",
                                    "env": [{"name": "A", "value": "1"}]}]},
           "status": {"phase": "Running", "qosClass": "BestEffort"}}
    lines = describe_pod(pod, [], NOW).splitlines()
    status = lines.index("Status:                    Terminating (lasts 4s)")
    assert lines[status + 1] == "Termination Grace Period:  30s"
    assert lines[status + 2] == ("Runtime:                   containers are not executed by "
                                 "this runtime")
    assert "      A:         1" in lines  # "Environment:" has no tab: a new block
    assert lines[-1] == "Events:          <none>"
    assert "Node:                      <none>" in lines


def test_events_table_like_kubectl_events() -> None:
    text = format_events(list(reversed(EVENTS[:2])), NOW)
    assert text == (
        "LAST SEEN           TYPE     REASON      OBJECT    MESSAGE\n"
        "60s                 Normal   Scheduled   Pod/web   Successfully assigned default/web "
        "to minikube\n"
        "20s (x3 over 59s)   Normal   Pulling     Pod/web   Pulling image "
        '"nginx:doesnotexist"\n')
    get = format_table("Event", EVENTS[:1], NOW)
    assert get.splitlines()[1].split() [:4] == ["60s", "Normal", "Scheduled", "pod/web"]


def test_tabwriter_cells_and_blocks() -> None:
    # A line without a tab ends a column block; the last cell of a line is never padded.
    assert tabwrite("a\tb\nlonger\tc\nx\ny\tz\n", 0, 2) == "a       b\nlonger  c\nx\ny  z\n"
    assert tabwrite("k:\t\n", 0, 2) == "k:  \n"


def test_json_and_yaml_as_kubectl_prints_them() -> None:
    obj = {"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": "web", "annotations": {"note": "a <b> & c", "multi": "1\n2\n"},
                        "labels": {"x": "y"}, "creationTimestamp": "2027-01-15T08:00:00Z"},
           "spec": {"containers": [{"name": "web", "image": "nginx", "resources": {}}]}}
    text = to_json(obj)
    assert text.startswith('{\n    "apiVersion": "v1",\n    "kind": "Pod",\n')
    assert '"note": "a \\u003cb\\u003e \\u0026 c"' in text
    assert json.loads(text) == obj
    y = to_yaml(obj)
    assert y.startswith("apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n"
                        "    multi: |\n      1\n      2\n")
    assert '  creationTimestamp: "2027-01-15T08:00:00Z"\n' in y
    assert '    x: "y"\n' in y
    assert "  - image: nginx\n    name: web\n    resources: {}\n" in y
    assert yaml.safe_load(y) == obj
    assert as_list([obj]) == {"apiVersion": "v1", "items": [obj], "kind": "List",
                              "metadata": {"resourceVersion": ""}}
