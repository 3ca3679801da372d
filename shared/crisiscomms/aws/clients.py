"""boto3 clients with bounded timeouts and retries, made on first use.

One `AwsClients` per process, owned by the composition root (`crisiscomms.wiring`) and passed
to every repository. boto3 reads AWS_ENDPOINT_URL itself, which is how local runs reach moto.
"""
from __future__ import annotations

import threading
from typing import Any

CLIENT_CONFIG = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"max_attempts": 3, "mode": "standard"},
}


def botocore_config() -> Any:
    from botocore.config import Config

    return Config(**CLIENT_CONFIG)


class AwsClients:
    """A client per service, created once; thread-safe because the Publisher handles records in threads."""

    def __init__(self) -> None:
        self._made: dict[str, Any] = {}
        self._session: Any = None
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        made = self._made.get(service)
        if made is None:
            with self._lock:
                made = self._made.get(service)
                if made is None:
                    # One session for every client: each session loads the endpoint and service
                    # data again, which was most of a function's first invocation.
                    if self._session is None:
                        import boto3

                        self._session = boto3.session.Session()
                    made = self._session.client(service, config=botocore_config())
                    _trace_calls(made)
                    self._made[service] = made
        return made


def _trace_calls(client: Any) -> None:
    """One X-Ray subsegment per AWS call, from botocore's own events (no SDK patching)."""
    from crisiscomms.observability import tracer

    service = client.meta.service_model.service_id.hyphenize()
    name = client.meta.service_model.service_id

    def named(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if isinstance(params.get("TableName"), str):  # the API's own parameters, before serialisation
            context["xray_table"] = params["TableName"]

    def before(model: Any, context: dict[str, Any], **_: Any) -> None:
        aws = {"operation": model.name, "region": client.meta.region_name}
        if "xray_table" in context:
            aws["table_name"] = context.pop("xray_table")
        context["xray"] = tracer.begin(str(name), namespace="aws", aws=aws)

    def after(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        subsegment = context.pop("xray", None)
        if subsegment is None:
            return
        status = getattr(http_response, "status_code", 0)
        subsegment.aws["request_id"] = (parsed or {}).get("ResponseMetadata", {}).get("RequestId")
        subsegment.http = {"response": {"status": status}}
        subsegment.error, subsegment.fault = 400 <= status < 500, status >= 500
        tracer.end(subsegment)

    def failed(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        subsegment = context.pop("xray", None)
        if subsegment is not None:
            subsegment.failed(exception)
            tracer.end(subsegment)

    client.meta.events.register(f"before-parameter-build.{service}", named)
    client.meta.events.register(f"before-call.{service}", before)
    client.meta.events.register(f"after-call.{service}", after)
    client.meta.events.register(f"after-call-error.{service}", failed)
