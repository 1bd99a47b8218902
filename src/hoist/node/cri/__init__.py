"""The node's runtime over CRI (gRPC to containerd on a unix socket).

``api_pb2*`` are generated from ``api.proto`` by scripts/gen-cri-proto.
"""

from hoist.node.cri.runtime import (
    DEFAULT_CRI_SOCKET,
    CriRuntime,
    RuntimeVersion,
    go_error_text,
    probe_cri_socket,
)

__all__ = ["DEFAULT_CRI_SOCKET", "CriRuntime", "RuntimeVersion", "go_error_text",
           "probe_cri_socket"]
