"""Post-crisis reports on local AWS: ask through the real API handler, run the Reporter on its queue,
and bring the written files to a local folder (the drill and the tests).

    answer = ask(topic, start, end)            POST /topics/{topic}/reports, as an approver
    run_queue(stack)                           the report queue drained through the Reporter handler
    answer = status(answer["id"])              GET /reports/{id}
    paths = download(answer, Path("out"))      each file fetched through its presigned link
"""
from __future__ import annotations

import hashlib
import json
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from crisiscomms_local.aws import Stack, client
from crisiscomms_local.sqs_lambda import drain
from crisiscomms_local.lambda_runtime import invoke

ASKED_BY = "approver:report-desk"
ROLE_GROUPS = {"author": ["comms-author"], "approver": ["comms-approver"], "auditor": ["auditor"], "oncall": ["oncall"]}


def call(method: str, path: str, body: Any = None, *, as_: str = ASKED_BY) -> tuple[int, Any]:
    """The real desk API handler with an API Gateway event, as a named person in a Cognito group."""
    from crisiscomms_local.apigw import rest_event

    role, user = as_.split(":", 1)
    result = invoke("api", rest_event(method, path, body=body, user=user, groups=ROLE_GROUPS[role]))
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


def ask(topic: str, start: datetime, end: datetime, *, tz: str | None = None, as_: str = ASKED_BY) -> dict[str, Any]:
    body = {"from": start.isoformat(), "to": end.isoformat(), **({"tz": tz} if tz else {})}
    status, answer = call("POST", f"/topics/{topic}/reports", body, as_=as_)
    if status != 202:
        raise RuntimeError(f"asking for a report answered {status}: {answer}")
    return answer  # type: ignore[no-any-return]


def status(report_id: str, *, as_: str = ASKED_BY) -> dict[str, Any]:
    code, answer = call("GET", f"/reports/{report_id}", as_=as_)
    if code != 200:
        raise RuntimeError(f"reading report {report_id} answered {code}: {answer}")
    return answer  # type: ignore[no-any-return]


def run_queue(stack: Stack, *, rounds: int = 10, first_twice: bool = False) -> list[dict[str, Any]]:
    """Hand each message of the report queue to the Reporter (batches of one, as the template's event
    source) and delete those it handled, as the Lambda SQS integration does; returns each batch's answer.
    A failed message is made visible again at once, standing in for its visibility timeout. `first_twice`:
    the first is delivered twice (a drill's `duplicate_invocation` of the Reporter)."""
    return drain(stack, "ReportQueue", "reporter", timeout_seconds=120, rounds=rounds, first_twice=first_twice)


def download(answer: dict[str, Any], into: Path) -> dict[str, Path]:
    """Every file of a finished report, fetched through its presigned link into `into` (by its name)."""
    paths: dict[str, Path] = {}
    for item in answer["files"]:
        target = into / item["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(item["url"], timeout=30) as response:  # noqa: S310 - a presigned link of local S3
            body = response.read()
        if hashlib.sha256(body).hexdigest() != item["sha256"]:
            raise RuntimeError(f"{item['name']}: the file read back is not the one recorded")
        target.write_bytes(body)
        paths[item["name"]] = target
    return paths


__all__ = ["ask", "call", "download", "run_queue", "status"]
