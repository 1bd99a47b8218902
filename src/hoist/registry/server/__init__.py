"""``hoist registry serve``: an OCI distribution registry over the local content store."""

from hoist.registry.server.app import Registry, ServerOptions, build_app
from hoist.registry.server.errors import ApiError
from hoist.registry.server.runner import (
    RegistryServer,
    RunningServer,
    ServerError,
    parse_addr,
    serve,
    start,
)

__all__ = ["ApiError", "Registry", "RegistryServer", "RunningServer", "ServerError",
           "ServerOptions", "build_app", "parse_addr", "serve", "start"]
