"""A recording stand-in for ``kubectl``: no Kubernetes API server can run on this machine,
so the kube target's tests drive this script instead. It records every invocation (argv
and stdin) as one JSON line and answers ``get`` from JSON files the test writes:
``<state>/<kind>.json`` holds a list of objects of that kind (``deployment``, ``pods``,
``events``, ``replicaset``…). ``apply`` and ``delete`` print what ``-o name`` would.
A file ``<state>/fail-server-side`` makes ``--server-side`` fail as an old server does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = r'''#!{python}
import json, sys
from pathlib import Path

state = Path({state!r})
argv = sys.argv[1:]
data = sys.stdin.buffer.read().decode() if "-f" in argv and "-" in argv else ""
with open(state / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"argv": argv, "stdin": data}}) + "\n")

def opt(name):
    return argv[argv.index(name) + 1] if name in argv else None

words = [a for i, a in enumerate(argv) if not a.startswith("-")
         and (i == 0 or argv[i - 1] not in ("--context", "--kubeconfig", "-n", "-o", "-l",
                                            "-f", "--field-manager"))]
verb = words[0] if words else ""
if verb == "apply":
    if "--server-side" in argv and (state / "fail-server-side").exists():
        sys.stderr.write("error: server-side apply: the server does not allow this method\n")
        sys.exit(1)
    for item in json.loads(data)["items"]:
        print(item["kind"].lower() + "/" + item["metadata"]["name"])
    sys.exit(0)
if verb == "delete":
    kinds = words[1].split(",")
    selector = opt("-l")
    key, _, value = (selector or "").partition("=")
    for kind in kinds:
        path = state / (kind + ".json")
        items = json.loads(path.read_text()) if path.exists() else []
        for item in items:
            if (item["metadata"].get("labels") or {{}}).get(key) == value:
                print(kind + "/" + item["metadata"]["name"])
    sys.exit(0)
if verb == "get":
    items = []
    for spec in words[1:]:
        kind, _, name = spec.partition("/")
        path = state / (kind + ".json")
        found = json.loads(path.read_text()) if path.exists() else []
        items += [o for o in found if not name or o["metadata"]["name"] == name]
    print(json.dumps({{"apiVersion": "v1", "kind": "List", "items": items}}))
    sys.exit(0)
sys.stderr.write("kubectl stand-in: unsupported: " + " ".join(argv) + "\n")
sys.exit(1)
'''


@dataclass
class KubectlStandIn:
    path: Path
    state: Path

    def calls(self) -> list[dict[str, Any]]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def set_objects(self, kind: str, objects: list[dict[str, Any]]) -> None:
        (self.state / f"{kind}.json").write_text(json.dumps(objects))


def make_kubectl_standin(directory: Path) -> KubectlStandIn:
    state = directory / "kubectl-state"
    state.mkdir(parents=True, exist_ok=True)
    path = directory / "kubectl"
    path.write_text(SCRIPT.format(python=sys.executable, state=str(state)))
    path.chmod(0o755)
    return KubectlStandIn(path, state)
