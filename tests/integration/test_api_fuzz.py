"""API fuzzing: schemathesis against the local API server (`serve`'s machinery, in-process on an
ephemeral port), as each desk role, every operation of functions/api/openapi.json.

Every answer must conform to the document (status, Content-Type, headers, body schema) and none may
be a 5xx other than the documented 503. Examples are bounded per operation and role: a role the
route refuses gets a few (the group is checked before the body is read, so every body takes the same
path; tests/integration/test_api_hardening.py proves that); the first role (in ROLES order) the route
admits gets the full number, and every other role it admits a third of it: a route handles every role
it admits alike (the role is recorded, rarely branched on), so each further role's own answers are
checked on fewer requests rather than the whole number drawn again for paths already taken.
One test per role, so parallel workers share the load.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from crisiscomms_local.aws import reset_process_caches
from crisiscomms_local.openapi import OPENAPI_PATH

from .conftest import DeskClient

pytestmark = pytest.mark.integration
schemathesis = pytest.importorskip("schemathesis")

ROLES = ("comms-author", "comms-approver", "auditor", "oncall")
EXAMPLES_PER_OPERATION = int(os.environ.get("CRISISCOMMS_FUZZ_EXAMPLES", "12"))
EXAMPLES_WHEN_REFUSED = 2
EXAMPLES_WHEN_ADMITTED_AGAIN = max(EXAMPLES_WHEN_REFUSED, EXAMPLES_PER_OPERATION // 3)


@pytest.fixture
def api_url(desk: DeskClient) -> Iterator[str]:
    from crisiscomms_local.serve import ApiServer
    from crisiscomms_local.servers import shutdown_promptly

    os.environ["CRISISCOMMS_DEV_IDENTITY_HEADER"] = "enabled"  # as `serve` sets it; the desk fixture restores the environment
    reset_process_caches()
    server = ApiServer(0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        shutdown_promptly(server)
        server.server_close()


def _no_undocumented_server_error(ctx: Any, response: Any, case: Any) -> None:
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"{case.method} {case.formatted_path} answered {response.status_code}: {response.text[:300]}")


@pytest.mark.slow(seconds=3)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_as_every_role_answers_as_documented(api_url: str, role: str) -> None:
    import requests

    from crisiscomms.api import roles_allowed
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [_no_undocumented_server_error, status_code_conformance, content_type_conformance,
              response_headers_conformance, response_schema_conformance]
    schema = schemathesis.openapi.from_dict(json.loads(OPENAPI_PATH.read_text(encoding="utf-8")))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    session = requests.Session()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    started = time.monotonic()

    headers = {"x-crisiscomms-dev-identity": f"fuzz-{role}:{role}"}
    admitted = 0
    for operation in operations:
        admitting = [r for r in ROLES if r in roles_allowed(operation.method, operation.path.replace("{", "<").replace("}", ">"))]
        allowed = role in admitting
        admitted += allowed
        examples = (EXAMPLES_WHEN_REFUSED if not allowed
                    else EXAMPLES_PER_OPERATION if role == admitting[0] else EXAMPLES_WHEN_ADMITTED_AGAIN)
        strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                             operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

        @settings(max_examples=examples, deadline=None,
                  derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            response = case.call(base_url=api_url, session=session, headers=headers, timeout=30)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every failure, report them together
                failures.append(f"{role} {case.method} {case.formatted_path}: {str(exc)[:600]}")

        run()

    elapsed = time.monotonic() - started
    print(f"fuzz: {sum(statuses.values())} requests in {elapsed:.1f}s, statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures[:10]) + f"\n\n({len(failures)} failures)"
    assert admitted, f"{role} may call no route: the role lookup is broken"
    assert sum(statuses.values()) >= len(operations) * EXAMPLES_WHEN_REFUSED
    assert 403 in statuses or admitted == len(operations), statuses
    if admitted:
        assert 422 in statuses, statuses
