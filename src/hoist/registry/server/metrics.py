"""Counters of one server, rendered in the Prometheus text exposition format (0.0.4)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Metrics:
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    bytes_served: int = 0
    bytes_received: int = 0
    blobs_committed: int = 0
    # how many upload sessions are open right now (read when rendering)
    uploads_in_flight: Callable[[], int] = lambda: 0

    def count_request(self, method: str, status: int) -> None:
        self.requests[(method, status)] += 1

    def render(self) -> str:
        lines = [
            "# HELP hoist_registry_http_requests_total Requests answered, by method and "
            "status.",
            "# TYPE hoist_registry_http_requests_total counter",
        ]
        for (method, status), n in sorted(self.requests.items()):
            lines.append(f'hoist_registry_http_requests_total{{method="{method}",'
                         f'status="{status}"}} {n}')
        lines += [
            "# HELP hoist_registry_bytes_served_total Bytes of blob and manifest bodies sent.",
            "# TYPE hoist_registry_bytes_served_total counter",
            f"hoist_registry_bytes_served_total {self.bytes_served}",
            "# HELP hoist_registry_bytes_received_total Bytes of upload bodies received.",
            "# TYPE hoist_registry_bytes_received_total counter",
            f"hoist_registry_bytes_received_total {self.bytes_received}",
            "# HELP hoist_registry_blobs_committed_total Uploads verified and committed.",
            "# TYPE hoist_registry_blobs_committed_total counter",
            f"hoist_registry_blobs_committed_total {self.blobs_committed}",
            "# HELP hoist_registry_uploads_in_flight Upload sessions open now.",
            "# TYPE hoist_registry_uploads_in_flight gauge",
            f"hoist_registry_uploads_in_flight {self.uploads_in_flight()}",
        ]
        return "\n".join(lines) + "\n"
