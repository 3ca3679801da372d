"""botocore clients with bounded timeouts and retries, made on first use.

One `AwsClients` per process, owned by the composition root (`crisiscomms.wiring`) and passed
to every repository. botocore reads AWS_ENDPOINT_URL itself, which is how local runs reach moto.

The clients come from a botocore session rather than boto3's: they are the same botocore
clients, and boto3 adds only resources, S3 transfers and their imports (about 15 ms of a cold
start), none of which is used here. Service models are found as botocore finds them, except that
`new_loader` looks in the directories of the one service asked for instead of first listing
every service the runtime ships (about 430 directories, listed once for the service models and
once for the endpoint rules: about 20 ms of a cold start), and reads its JSON files into plain
dicts instead of OrderedDicts.
"""
from __future__ import annotations

import os
import threading
from typing import Any

CLIENT_CONFIG = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"max_attempts": 3, "mode": "standard"},
    # botocore checks every request against the service model before sending it; AWS checks it again
    # on arrival. The data-access layer builds its requests from typed helpers, and the test suite
    # runs every one of them with the check on (tests/conftest.py), so the functions skip it: it was
    # the largest single cost of a DynamoDB call in botocore (the Poller's batched writes carry
    # hundreds of attribute values a request).
    "parameter_validation": False,
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
                        self._session = _session()
                    made = self._session.create_client(service, config=botocore_config())
                    _trace_calls(made)
                    self._made[service] = made
        return made


def _session() -> Any:
    import botocore.session

    session = botocore.session.get_session()
    session.register_component("data_loader", new_loader(session.get_config_variable("data_path")))
    return session


def new_loader(data_path: str | None) -> Any:
    """botocore's Loader for the search paths botocore would use (AWS_DATA_PATH first), except
    that a service model's latest version is looked up in that service's own directories. An
    unknown service still gets botocore's UnknownServiceError, naming the services it knows.
    Models are kept by the loader, as botocore's are."""
    import json

    from botocore.exceptions import DataNotFoundError
    from botocore.loaders import JSONFileLoader, Loader

    class PlainJson(JSONFileLoader):  # type: ignore[misc]
        """botocore's file loader, parsing into dicts (ordered, as JSON objects are read) rather than
        OrderedDicts: about half the time for endpoints.json and each service's model and rules."""

        def _load_file(self, full_path: str, open_method: Any) -> Any:
            if not os.path.isfile(full_path):
                return None
            with open_method(full_path, "rb") as fp:
                return json.loads(fp.read().decode("utf-8"))

    class ServiceModels(Loader):  # type: ignore[misc]
        FILE_LOADER_CLASS = PlainJson

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._service_models: dict[tuple[str, str, str | None], Any] = {}

        def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
            key = (service_name, type_name, api_version)
            if key not in self._service_models:
                self._service_models[key] = self._service_model(service_name, type_name, api_version)
            return self._service_models[key]

        def _service_model(self, service_name: str, type_name: str, api_version: str | None) -> Any:
            if api_version is not None:
                return super().load_service_model(service_name, type_name, api_version)
            try:
                api_version = self.determine_latest_version(service_name, type_name)
            except DataNotFoundError:
                return super().load_service_model(service_name, type_name)  # botocore's own refusal
            model = self.load_data(os.path.join(service_name, api_version, type_name))
            self._extras_processor.process(model, self._find_extras(service_name, type_name, api_version))
            return model

    paths = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)] if data_path else None
    return ServiceModels(extra_search_paths=paths)


# Answers that say AWS could not serve the call now (botocore's standard retry mode treats them so too).
_UNAVAILABLE_CODES = frozenset({
    "ServiceUnavailable", "InternalServerError", "InternalFailure", "InternalError", "ThrottlingException",
    "Throttling", "RequestLimitExceeded", "ProvisionedThroughputExceededException", "SlowDown", "RequestTimeout",
    "RequestTimeoutException", "PriorRequestNotComplete"})


def aws_unavailable(exc: BaseException) -> bool:
    """Whether `exc` is AWS not answering, or answering that it cannot serve the call now (a 5xx or
    throttling, after botocore's own bounded retries), rather than refusing the call itself."""
    import sys

    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:  # botocore never loaded: no AWS call was made
        return False
    if isinstance(exc, (exceptions.ConnectionError, exceptions.HTTPClientError)):
        return True
    if isinstance(exc, exceptions.ClientError):
        return (answered_status(exc) or 0) >= 500 or exc.response.get("Error", {}).get("Code") in _UNAVAILABLE_CODES
    return False


def answered_status(exc: Any) -> int | None:
    """The HTTP status of a botocore ClientError; a HEAD's error has no body, so its code may be the status."""
    code = str(exc.response.get("Error", {}).get("Code") or "")
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) or (
        int(code) if code.isdigit() else None)


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
