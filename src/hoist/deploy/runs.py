"""Run records: what each deploy applied, where, under which run id, so ``hoist delete``
removes exactly that."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoist.deploy.target import ResourceRef
from hoist.errors import InputError
from hoist.fileio import write_atomically

LAST = "last"


def default_runs_dir() -> Path:
    """``runs`` beside the embedded cluster's directory (``$XDG_DATA_HOME/hoist/runs``,
    else ``~/.local/share/hoist/runs``)."""
    from hoist.cluster.store import default_cluster_dir

    return default_cluster_dir().parent / "runs"


@dataclass
class RunRecord:
    run_id: str
    target: str  # "embedded" | "kube"
    context: str | None = None
    kubeconfig: str | None = None
    cluster_dir: str | None = None
    config: str | None = None
    resources: list[ResourceRef] = field(default_factory=list)
    updated: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"runId": self.run_id, "target": self.target, "context": self.context,
                "kubeconfig": self.kubeconfig, "clusterDir": self.cluster_dir,
                "config": self.config, "updated": self.updated,
                "resources": [r.to_json() for r in self.resources]}

    @classmethod
    def from_json(cls, data: Any, source: Path) -> RunRecord:
        try:
            return cls(run_id=str(data["runId"]), target=str(data["target"]),
                       context=data.get("context"), kubeconfig=data.get("kubeconfig"),
                       cluster_dir=data.get("clusterDir"), config=data.get("config"),
                       resources=[ResourceRef(str(r["kind"]), str(r["namespace"]),
                                              str(r["name"])) for r in data["resources"]],
                       updated=float(data.get("updated") or 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{source}: not a hoist run record ({e})") from None

    def merge(self, resources: Sequence[ResourceRef]) -> None:
        """A dev loop redeploys under one run id: its record holds the union."""
        self.resources = sorted(set(self.resources) | set(resources))


class RunStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_runs_dir()

    def _path(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise InputError(f"--run-id {run_id!r}: not a run id")
        return self.root / f"{run_id}.json"

    def save(self, record: RunRecord) -> None:
        record.updated = time.time()
        write_atomically(self._path(record.run_id),
                         (json.dumps(record.to_json(), indent=2) + "\n").encode())
        write_atomically(self.root / LAST, (record.run_id + "\n").encode())

    def load(self, run_id: str | None = None) -> RunRecord:
        """A run by id, else the last one saved."""
        if run_id is None:
            try:
                run_id = (self.root / LAST).read_text().strip()
            except FileNotFoundError:
                raise InputError(f"no hoist run recorded under {self.root}: nothing to "
                                 f"delete (name one with --run-id)") from None
        path = self._path(run_id)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"--run-id {run_id}: no such run under {self.root}") from None
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
        return RunRecord.from_json(data, path)

    def forget(self, run_id: str) -> None:
        self._path(run_id).unlink(missing_ok=True)
        last = self.root / LAST
        try:
            if last.read_text().strip() == run_id:
                last.unlink()
        except FileNotFoundError:
            pass

    def all(self) -> list[RunRecord]:
        out = []
        for path in sorted(self.root.glob("*.json")):
            try:
                out.append(RunRecord.from_json(json.loads(path.read_text()), path))
            except (InputError, json.JSONDecodeError):
                continue
        return out
