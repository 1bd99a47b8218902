"""Whether the embedded cluster's node already holds an image: asked of the runtime its
node agent uses, as the kubelet asks it (CRI ImageStatus of the image with the default
tag applied).

The builtin runtime keeps its images in ``<cluster dir>/node/images`` (a hoist content
store, safe to read while the agent runs); a CRI node is asked over containerd's default
socket. When neither can be asked, the answer is "unknown" with the reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoist.errors import HoistError

Presence = Callable[[str], "NodeAnswer"]


@dataclass(frozen=True, slots=True)
class NodeAnswer:
    present: bool | None  # None: unknown
    why: str = ""  # for unknown

    def describe(self, policy: str | None) -> str:
        if self.present is None:
            return f"node: unknown ({self.why})"
        if not self.present:
            return "node: image not present, the node pulls it"
        if policy == "Always":
            return "node: image present, but Always pulls on every start"
        if policy == "Never":
            return "node: image present (Never: the node uses it)"
        return "node: image present (IfNotPresent: the node uses it without pulling)"


def _unknown(why: str) -> Presence:
    return lambda image: NodeAnswer(None, why)


def _ask(runtime: Any) -> Presence:
    from hoist.core.policy import apply_default_image_tag

    def presence(image: str) -> NodeAnswer:
        try:
            info = runtime.image_status(apply_default_image_tag(image))
        except (HoistError, ValueError) as e:
            return NodeAnswer(None, f"the runtime could not say: {e}")
        return NodeAnswer(info is not None and bool(info.id))

    return presence


def node_presence(cluster_dir: Path,
                  runtime_name: str | None) -> tuple[Presence, Callable[[], None]]:
    """A presence check for the cluster's node and a function that closes what it opened.
    ``runtime_name`` is what the node agent reported ("builtin", "cri"), None when no
    agent ever ran."""
    from hoist.cluster.agent import NODE_DIR

    images = cluster_dir / NODE_DIR / "images"
    if runtime_name == "cri":
        from hoist.node.cri.runtime import DEFAULT_CRI_SOCKET, CriRuntime, probe_cri_socket

        if not probe_cri_socket(DEFAULT_CRI_SOCKET):
            return _unknown(f"the node uses CRI and nothing answers on {DEFAULT_CRI_SOCKET}"), \
                lambda: None
        try:
            cri = CriRuntime.connect(DEFAULT_CRI_SOCKET, timeout=10.0)
        except HoistError as e:
            return _unknown(str(e)), lambda: None
        return _ask(cri), cri.close
    if runtime_name not in (None, "builtin"):
        return _unknown(f"runtime {runtime_name!r} cannot be asked"), lambda: None
    if not (images / "index.db").is_file():
        if runtime_name == "builtin":  # the agent ran but never stored an image
            return (lambda image: NodeAnswer(False)), lambda: None
        return _unknown("no node agent has run for this cluster"), lambda: None
    from hoist.node.builtin import BuiltinRuntime

    builtin = BuiltinRuntime(images)
    return _ask(builtin), builtin.close
