"""`tasks.py serve`'s machinery in-process: the local API server and its background work. An export and a
report asked for over HTTP complete without anything else being run, and a statement published through it
is scheduled for measurement by the Reviewer running on the template's schedule."""
from __future__ import annotations

import io
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from crisiscomms.api import DEV_IDENTITY_HEADER
from crisiscomms_local.aws import Stack, reset_process_caches
from crisiscomms_local.serve import ApiServer, BackgroundWork, background_environment, schedule
from crisiscomms_local.servers import shutdown_promptly

pytestmark = pytest.mark.integration
TEXT = {"zh": {"full": "示例银行声明：所有账户均可正常使用。", "short": "示例银行：账户正常。"},
        "en": {"full": "Example Bank statement: all accounts are available.", "short": "Example Bank: accounts are available."}}


@dataclass
class Served:
    url: str
    background: BackgroundWork

    def call(self, method: str, path: str, body: Any = None, *, as_: str) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={DEV_IDENTITY_HEADER: as_, "content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - the local server
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def settle(self) -> None:
        """Two full rounds of the background after this call: whatever was asked before is handled."""
        assert self.background.wait_rounds(2, timeout=120), "the background work stopped"
        assert self.background.errors == []


@pytest.fixture
def served(stack: Stack) -> Iterator[Served]:
    from crisiscomms_local.desk_world import start_desk_world

    saved = dict(os.environ)
    world = start_desk_world(stack=stack, timeout_delay=1.5, http_timeout=0.8)
    os.environ.update(background_environment(stack))
    os.environ.update({"CRISISCOMMS_DEV_IDENTITY_HEADER": "enabled", "CONFIG_MAX_AGE_SECONDS": "0"})
    reset_process_caches()
    server = ApiServer(0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    background = BackgroundWork(world, every=0.05, review_every=0.0, log=io.StringIO()).start()
    try:
        yield Served(server.url, background)
    finally:
        background.stop()
        shutdown_promptly(server)
        server.server_close()
        world.close()
        os.environ.clear()
        os.environ.update(saved)
        reset_process_caches()


def _range() -> dict[str, str]:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()}


def test_an_export_asked_for_through_the_server_completes(served: Served) -> None:
    status, job = served.call("POST", "/audit/exports", {"kinds": ["conversations", "minute_figures", "audit"], **_range()},
                              as_="zhou:auditor")
    assert status == 202 and job["state"] == "REQUESTED", job
    served.settle()
    status, done = served.call("GET", f"/audit/exports/{job['export_id']}", as_="zhou:auditor")
    assert status == 200 and done["state"] == "DONE", done
    assert done["topics"] == ["examplebank"], "the template's watch configuration"
    with urllib.request.urlopen(done["links"]["manifest"], timeout=10) as answer:  # noqa: S310 - local S3
        manifest = json.loads(answer.read())
    assert manifest["counts"] == {"conversations": 0, "minute_figures": 0, "audit": 2}, "its own request and claim"


def test_a_report_asked_for_through_the_server_completes(served: Served) -> None:
    status, report = served.call("POST", "/topics/examplebank/reports", _range(), as_="wang:comms-approver")
    assert status == 202, report
    served.settle()
    status, done = served.call("GET", f"/reports/{report['id']}", as_="wang:comms-approver")
    assert status == 200 and done["state"] == "DONE", done
    assert any(item["name"] == "report.html" for item in done["files"]), done["files"]


def test_the_reviewer_runs_on_its_schedule_and_schedules_what_was_published(served: Served, stack: Stack) -> None:
    assert schedule(stack.template, "ReviewerFunction") == (60, {"job": "review"}), "rate(1 minute), as deployed"
    status, draft = served.call("POST", "/statements", {"channels": ["newsroom"], "text": TEXT}, as_="li:comms-author")
    assert status == 201, draft
    assert served.call("POST", f"/statements/{draft['id']}/approve", {"version": 1}, as_="wang:comms-approver")[0] == 200
    assert served.call("POST", f"/statements/{draft['id']}/publish", as_="wang:comms-approver")[0] == 202
    served.settle()
    status, statement = served.call("GET", f"/statements/{draft['id']}", as_="zhou:auditor")
    assert statement["state"] == "PUBLISHED", "the Publisher ran on the delivery queue"
    served.settle()
    status, effect = served.call("GET", f"/statements/{draft['id']}/effect", as_="zhou:auditor")
    assert status == 200 and effect["next_measurement"]["stage"] == "after", effect
    assert served.background.reviews >= 2


def test_the_first_review_waits_one_period_as_a_new_schedule_does(stack: Stack) -> None:
    class Idle:
        def __init__(self) -> None:
            self.stack, self.pumped = stack, 0

        def pump(self) -> int:
            self.pumped += 1
            return 0

    world = Idle()
    background = BackgroundWork(world, every=0.01, log=io.StringIO())  # type: ignore[arg-type]
    assert background.review_every == 60
    background.start()
    try:
        assert background.wait_rounds(3, timeout=30)
    finally:
        background.stop()
    assert world.pumped >= 3 and background.reviews == 0 and background.errors == []
