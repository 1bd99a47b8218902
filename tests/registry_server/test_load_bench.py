"""The load benchmark's client, briefly, against hoist's server and Distribution."""

from __future__ import annotations

import asyncio

from bench.registry_load import run_load, verify_store

from tests.support.distribution import Distribution
from tests.support.registry_server_fixtures import HoistRegistry


def test_load_client_against_both(hoist_registry: HoistRegistry,
                                  distribution_open: Distribution) -> None:
    for url in (hoist_registry.url, distribution_open.url):
        report = asyncio.run(run_load(url, seconds=1.5, clients=6, seed=7))
        assert report["requests"] > 20, report
        assert (report["errors"], report["lost"], report["corrupt"]) == (0, 0, 0), report
        assert report["blobs_pushed"] > 0
    verify = verify_store(hoist_registry.store)
    assert verify["exit"] == 0 and verify["ok"] is True
