"""Shared fixtures. No test reaches beyond 127.0.0.1: a guard refuses any other address."""
from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if isinstance(host, str):
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = host == "localhost"
        if not allowed:
            raise ConnectionRefusedError(f"tests may not reach {host}: only 127.0.0.1 is allowed")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]
    # Tests never use real credentials, whatever the developer's shell holds.
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    os.environ.update({
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "crisiscomms-tests",
        "POWERTOOLS_METRICS_NAMESPACE": "CrisisCommsTests",
        "AWS_DEFAULT_REGION": "eu-west-1",
    })
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def local_aws() -> Iterator[object]:
    """moto in server mode on 127.0.0.1 (or AWS_ENDPOINT_URL when set), shared by the session."""
    from crisiscomms_local.aws import LocalAwsServer

    server = LocalAwsServer().start()
    yield server
    server.stop()


@pytest.fixture
def stack(local_aws: object) -> object:
    """A fresh set of tables, parameters and secrets from template.yaml, unique to this test."""
    from crisiscomms_local.aws import provision, reset_process_caches

    reset_process_caches()
    return provision(secrets={"XBearerTokenSecret": "test-x-token"})


@pytest.fixture
def sim_clock() -> Iterator[object]:
    from crisiscomms import clock
    from crisiscomms.clock import SimulatedClock

    simulated = SimulatedClock(datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc))
    clock.install(simulated)
    yield simulated
    clock.install(None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests start first, so parallel workers finish together instead of one waiting on a
    drill that was dealt last. Order is the only change: every test still sets up its own world."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
