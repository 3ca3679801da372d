"""Shared fixtures. No test reaches beyond 127.0.0.1: a guard refuses any other address."""
from __future__ import annotations

import gc
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


@pytest.fixture(scope="session")
def _shared_stack(local_aws: object) -> object:
    from crisiscomms_local.aws import SharedStack

    shared = SharedStack(local_aws, secrets={"XBearerTokenSecret": "test-x-token"})  # type: ignore[arg-type]
    shared.fresh()  # provisioned now, so that moto's and botocore's long-lived objects are frozen with the rest
    _freeze_long_lived_objects()
    return shared


@pytest.fixture
def stack(_shared_stack: object) -> object:
    """The tables, queues, buckets, parameters and secrets of template.yaml, as just provisioned.

    Provisioned once per worker; before each test local AWS is put back to that moment (every item,
    message, object, secret version and anything a test created is gone), so no test sees another's
    writes, whatever the order (crisiscomms_local.aws.SharedStack)."""
    return _shared_stack.fresh()  # type: ignore[attr-defined]


@pytest.fixture
def sim_clock() -> Iterator[object]:
    from crisiscomms import clock
    from crisiscomms.clock import SimulatedClock

    simulated = SimulatedClock(datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc))
    clock.install(simulated)
    yield simulated
    clock.install(None)


def _freeze_long_lived_objects() -> None:
    """What is alive now (modules, service models, moto's backends) lives on: after a collection of
    the garbage, the cyclic collector stops walking it. A worker holds ~450,000 such objects; every full
    collection walked them all, and pytest makes five at the end of the session to surface unraisable
    exceptions (~1.5 s a worker). Objects made by tests afterwards are collected as before."""
    gc.collect()
    gc.freeze()


def _one_tls_context_per_process() -> None:
    """The httpx clients the tests make share the TLS context httpx would build for each of them.

    httpx builds an SSL context for every client, loading the whole CA bundle: ~20 ms of CPU a client,
    and the tests make one per adapter and case (and per `httpx.get`), while they only speak plain HTTP
    to 127.0.0.1. The shared context is built by httpx itself, from the same arguments and the same
    SSL_CERT_FILE / SSL_CERT_DIR; any other arguments get a context of their own, as before."""
    import functools

    from httpx._transports import default

    build = default.create_ssl_context

    @functools.lru_cache(maxsize=8)
    def built(trust_env: bool, cert_file: str | None, cert_dir: str | None) -> object:
        return build(verify=True, cert=None, trust_env=trust_env)

    def create_ssl_context(verify: object = True, cert: object = None, trust_env: bool = True) -> object:
        if verify is True and cert is None:
            return built(trust_env, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        return build(verify=verify, cert=cert, trust_env=trust_env)

    default.create_ssl_context = create_ssl_context


def pytest_configure(config: pytest.Config) -> None:
    from crisiscomms_local.aws import answer_in_process

    _one_tls_context_per_process()

    # A young collection every 20,000 allocations rather than 700: a test allocates millions of
    # short-lived objects (requests, answers, items), and each collection walks every survivor.
    gc.set_threshold(20_000, 20, 20)
    # botocore's calls to local AWS are answered in the calling thread, by the server's own request
    # handling, without the socket in between (crisiscomms_local.aws.answer_in_process).
    answer_in_process()
    _aws_requests_checked_against_the_model()


def _aws_requests_checked_against_the_model() -> None:
    """The functions' clients skip botocore's check of each request against the service model (AWS
    checks it on arrival; crisiscomms.aws.clients.CLIENT_CONFIG). The tests turn it back on, so every
    request the code makes is checked here: a misspelt parameter, which the serialiser would drop
    without a word, fails its test instead."""
    from crisiscomms.aws import clients

    clients.CLIENT_CONFIG["parameter_validation"] = True


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_long_lived_objects()


@pytest.fixture(autouse=True, scope="module")
def _freeze_after_each_module() -> Iterator[None]:
    """Modules imported and models loaded by a test module's cases stay; garbage is collected first."""
    yield
    _freeze_long_lived_objects()


def _expected_seconds(item: pytest.Item) -> float:
    """What a test's `slow` marker says it takes (`seconds=`, about, in CPU here; 1 if it does not say), else 0."""
    marker = item.get_closest_marker("slow")
    return 0.0 if marker is None else float(marker.kwargs.get("seconds", 1))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests start first, longest of all first, so parallel workers finish together instead
    of one running a long drill at the end while the other has nothing left to take (a worker takes
    queued tests from the end of another's queue). Order is the only change: every test still sets up
    its own world."""
    items.sort(key=lambda item: -_expected_seconds(item))
