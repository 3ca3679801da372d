"""Local AWS for tests and drills: moto in server mode on 127.0.0.1, provisioned from template.yaml.

Tables, indexes, TTL, parameters, secrets, topics, queues, buckets (with Object Lock) and KMS
keys are created from the template's own resource definitions, so a key schema is never retyped.
When AWS_ENDPOINT_URL is already set, that endpoint is used instead of starting moto.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms_local.servers import shutdown_promptly
from crisiscomms_local.template import load_template, resources_of_type

REGION = "eu-west-1"
ACCOUNT = "123456789012"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


_local_clients: AwsClients | None = None
_local_clients_environment: frozenset[tuple[str, str]] | None = None  # what they were made from


def _client_environment() -> frozenset[tuple[str, str]]:
    """What a client is made from: every AWS_* variable (endpoint, credentials, region, ...)."""
    return frozenset((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))


def client(service: str) -> Any:
    """A client of local AWS for the tooling itself (provisioning, checks); functions use their own container's."""
    global _local_clients, _local_clients_environment
    if _local_clients is None:
        _local_clients = AwsClients()
        _local_clients_environment = _client_environment()
    return _local_clients(service)


def share_service_models() -> None:
    """One botocore data loader for every session this process makes (idempotent).

    Tests and drills forget their clients between cases (`reset_process_caches`), and every new
    session read the services' JSON models again: about a second per test for DynamoDB, S3, KMS,
    SQS and SNS. The models never change within a process; a deployed function makes one session.
    """
    import botocore.loaders
    import botocore.session

    from crisiscomms.aws import clients

    if getattr(botocore.session.create_loader, "shared", False):
        return

    def shared(create: Any) -> Any:
        loaders: dict[Any, Any] = {}

        def shared_loader(search_path_string: Any = None) -> Any:
            if search_path_string not in loaders:
                loaders[search_path_string] = create(search_path_string)
            return loaders[search_path_string]

        shared_loader.shared = True  # type: ignore[attr-defined]
        shared_loader.original = create  # type: ignore[attr-defined]
        return shared_loader

    botocore.session.create_loader = shared(botocore.loaders.create_loader)
    clients.new_loader = shared(clients.new_loader)  # the functions' own (crisiscomms.aws.clients)
    _client_parts_shared()
    _sessions_shared()


def _sessions_shared() -> None:
    """The functions' clients come from one botocore session per set of AWS_* variables, not one per `AwsClients`.

    Every `AwsClients` makes its session (a deployed function makes one), and tests make one or more
    per case (`reset_process_caches` forgets the functions' clients; repositories under test get
    their own): each session registered botocore's ~300 handlers and looked up the credentials again,
    ~6 ms, and a client made from a fresh session cost more than one from a used session. A session
    holds no state of a client, and what it does keep (credentials, region, endpoint) comes from the
    AWS_* variables, so those name the session; a client is still made per `AwsClients` and service,
    one at a time (botocore's sessions do not make clients concurrently).
    """
    from crisiscomms.aws import clients

    make = clients._session
    if getattr(make, "_crisiscomms_shared", False):
        return
    lock = threading.Lock()
    sessions: dict[frozenset[tuple[str, str]], Any] = {}

    class _Shared:
        def __init__(self, session: Any) -> None:
            self._session = session

        def create_client(self, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return self._session.create_client(*args, **kwargs)

    def session() -> Any:
        key = _client_environment()
        with lock:
            shared = sessions.get(key)
            if shared is None:
                if len(sessions) >= 64:
                    sessions.clear()
                shared = sessions[key] = _Shared(make())
        return shared

    session._crisiscomms_shared = True  # type: ignore[attr-defined]
    clients._session = session  # type: ignore[assignment]


def _client_parts_shared() -> None:
    """What botocore builds for every new client from data that never changes, built once per model.

    With the models shared, each client still made a method (and its docstring object) per operation
    of its service and parsed the service's endpoint rules into a rule tree: about a fifth of the
    ~4 ms a client costs. The methods only name their operation, and an endpoint provider only maps
    endpoint parameters to an endpoint (it caches its answers by them), so each is made once per
    service model or rule set, which the shared loader hands out as the same object.
    """
    import botocore.client
    import botocore.regions

    creator = botocore.client.ClientCreator
    if getattr(creator._create_methods, "_crisiscomms_shared", False):
        return
    create_methods = creator._create_methods
    methods: dict[int, tuple[Any, dict[str, Any]]] = {}

    def _create_methods(self: Any, service_model: Any) -> dict[str, Any]:
        description = service_model._service_description
        hit = methods.get(id(description))
        if hit is None or hit[0] is not description:
            hit = methods[id(description)] = (description, create_methods(self, service_model))
        return dict(hit[1])

    provider_class = botocore.regions.EndpointProvider
    providers: dict[tuple[int, int, str], tuple[Any, Any, Any]] = {}

    def endpoint_provider(ruleset_data: Any, partition_data: Any, **options: Any) -> Any:
        key = (id(ruleset_data), id(partition_data), repr(sorted(options.items())))
        hit = providers.get(key)
        if hit is None or hit[0] is not ruleset_data or hit[1] is not partition_data:
            made = provider_class(ruleset_data=ruleset_data, partition_data=partition_data, **options)
            hit = providers[key] = (ruleset_data, partition_data, made)
        return hit[2]

    _create_methods._crisiscomms_shared = True  # type: ignore[attr-defined]
    creator._create_methods = _create_methods  # type: ignore[method-assign]
    botocore.regions.EndpointProvider = endpoint_provider  # type: ignore[assignment,misc]


def reset_process_caches() -> None:
    """Forget clients, settings and cached parameters so the next call sees the current environment.

    The tooling's own clients (`client`) are kept while every AWS_* variable they were made from is
    unchanged (a test switching tables changes none of them; pointing a service elsewhere does): making
    a client costs ~5-10 ms, and tests reset between every case. The functions' clients are forgotten.
    """
    from crisiscomms.wiring import reset as reset_wiring

    global _local_clients
    if _local_clients is not None and _client_environment() != _local_clients_environment:
        _local_clients = None
    reset_wiring()
    try:
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
    except ImportError:  # pragma: no cover - powertools is a runtime dependency
        pass


_WRITE_LOCK = threading.RLock()  # every local DynamoDB request, and writes however they come (see _dynamodb_answer)
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")

# S3 checks a write's If-Match / If-None-Match and makes the write as one step; moto checks, then writes, so two
# writers conditional on the same ETag could both succeed (a lost update): local AWS makes them one at a time.
_CONDITIONAL_WRITES = threading.RLock()
_UNLOCKED = contextlib.nullcontext()
_CONDITIONS = ("If-Match", "If-None-Match", "x-amz-copy-source-if-match", "x-amz-copy-source-if-none-match")


def _conditional_write(method: str, headers: Any) -> bool:
    return method in ("PUT", "POST", "DELETE") and any(name in headers for name in _CONDITIONS)


# A bucket's outage, for drills: S3 answering an error, or no answer at all, for a window of simulated time.
@dataclass(frozen=True)
class _BucketFault:
    bucket: str
    fault: Any  # crisiscomms_local.emulators.base.Fault: the window, kind and status, as the emulators take them
    clock: Callable[[], datetime]


_BUCKET_FAULTS: list[_BucketFault] = []
_BUCKET_FAULTS_LOCK = threading.Lock()
_S3_ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
              503: ("SlowDown", "Please reduce your request rate."),
              403: ("AccessDenied", "Access Denied"),
              404: ("NoSuchBucket", "The specified bucket does not exist")}


# SendMessageBatch entries SQS is to refuse, per queue name: how many of the next batch's last entries come
# back under `Failed` (InternalError, not the sender's fault), as SQS answers a batch it takes only in part.
_BATCH_REFUSALS: dict[str, int] = {}
_SQS_BATCH_TARGET = "AmazonSQS.SendMessageBatch"


def _refused_entries(body: bytes) -> tuple[bytes, list[dict[str, Any]]] | None:
    """For a SendMessageBatch with a refusal armed for its queue: the body of the entries SQS takes, and the
    `Failed` entries for the others (the refusal is used up)."""
    request = json.loads(body or b"{}")
    queue = str(request.get("QueueUrl") or "").rstrip("/").rpartition("/")[2]
    entries = request.get("Entries") or []
    with _BUCKET_FAULTS_LOCK:
        wanted = _BATCH_REFUSALS.pop(queue, 0)
    if not wanted or not entries:
        return None
    kept, refused = entries[:max(0, len(entries) - wanted)], entries[max(0, len(entries) - wanted):]
    failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError",
               "Message": "We encountered an internal error. Please try again."} for e in refused]
    return json.dumps({**request, "Entries": kept}).encode(), failed


class _NoAnswer(Exception):
    """The request gets no answer: the connection is dropped, as when S3 or the network fails mid-call."""


def _bucket_fault(environ: dict[str, Any], method: str) -> Any:
    """The fault (emulators.base.Fault) that applies to this S3 request now, if any.

    A bucket is named in the path (path-style, as botocore addresses a loopback endpoint) or as the
    first label of the host (virtual-hosted). A lost answer after the work (`timeout_after_send`)
    applies to writes only, as in the platform emulators."""
    if not _BUCKET_FAULTS:
        return None
    path = environ.get("PATH_INFO") or "/"
    named = {path.lstrip("/").split("/", 1)[0], (environ.get("HTTP_HOST") or "").split(".", 1)[0]}
    with _BUCKET_FAULTS_LOCK:
        candidates = [f for f in _BUCKET_FAULTS if f.bucket in named]
    for candidate in candidates:
        fault = candidate.fault
        if fault.applies(candidate.clock(), None) and (fault.kind != "timeout_after_send"
                                                       or method in ("PUT", "POST", "DELETE")):
            return fault
    return None


def _s3_error(fault: Any) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """S3's own error answer for a rate_limit (503 SlowDown, S3's throttling) or http_status fault."""
    from http import HTTPStatus

    status = 503 if fault.kind == "rate_limit" else int(fault.status)
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:  # a status with no name (e.g. 599)
        reason = "Error"
    code, message = _S3_ERRORS.get(status, (reason.replace(" ", ""), reason))
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>").encode()
    return status, reason, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body


def _isolate_dynamodb_writes() -> None:
    """Transactions that cost what they touch, and every DynamoDB write serialised, as DynamoDB isolates them.

    moto applies each write on its own; the Publisher and the audit chain rely on DynamoDB's
    isolation under concurrency, so local AWS runs one write (or transaction) at a time.
    """
    from moto.dynamodb.models import DynamoDBBackend

    from crisiscomms_local import moto_transactions

    if getattr(DynamoDBBackend, "_crisiscomms_isolated", False):
        return
    moto_transactions.install()
    for name in _WRITES:
        original = getattr(DynamoDBBackend, name)

        def serialised(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _WRITE_LOCK:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, serialised)
    DynamoDBBackend._crisiscomms_isolated = True  # type: ignore[attr-defined]


def _cache_moto_dispatch() -> None:
    """Per-request work moto's server repeats although its answer never changes, done once.

    moto 5.2.5 lists its own package directory (one stat per service, ~150) to route every
    request, and walks its response class with `inspect.getmembers` to find the action's method.
    Both answers depend only on the installed moto and the class, so they are computed once.
    """
    import functools

    import moto.backends
    import moto.core.responses

    if getattr(moto.backends, "_crisiscomms_cached", False):
        return
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]
    original = moto.core.responses.method_names_from_class
    cached = functools.lru_cache(maxsize=None)(lambda clazz: tuple(original(clazz)))
    moto.core.responses.method_names_from_class = lambda clazz: list(cached(clazz))  # type: ignore[assignment]
    moto.backends._crisiscomms_cached = True  # type: ignore[attr-defined]


class _TimeWithoutSleep:
    """The `time` module as botocore's endpoint sees it locally: everything but the retry backoff's wait."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        return None


def _retry_backoff_not_waited() -> None:
    """botocore still makes every retry attempt against local AWS, without sleeping its backoff between them.

    The clients' retry policy (crisiscomms.aws.clients: standard mode, 3 attempts) sleeps up to
    seconds between attempts; against a local endpoint on a simulated clock (the drill's SNS outage
    points SNS at a closed port) that is wall time with no meaning, and it made a drill with an SNS
    outage wait about 17 s. Attempts are still made, counted and bounded as configured.
    """
    import botocore.endpoint

    if not isinstance(botocore.endpoint.time, _TimeWithoutSleep):
        botocore.endpoint.time = _TimeWithoutSleep()  # type: ignore[assignment]


def speed_up_moto() -> None:
    """Everything local AWS does to cost less per request than moto's server does out of the box.

    Each step keeps moto's answers (tests in tests/integration/test_bench_scale.py and
    tests/unit/test_bench_scale_moto.py compare them with moto's own path): the routing answers
    cached, item answers serialised as plain JSON, the DynamoDB shortcuts in moto_transactions.
    The keep-alive server and the direct DynamoDB route are in `_keep_alive_server`.
    """
    _isolate_dynamodb_writes()
    _cache_moto_dispatch()
    _dynamodb_items_as_json()
    _dynamodb_requests_as_json()


# DynamoDB answers made of items: moto's result is already the wire form of the output shape.
_PLAIN_JSON_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "Query", "Scan", "BatchGetItem",
                                    "TransactWriteItems"})


def _dynamodb_items_as_json() -> None:
    """DynamoDB's item answers written with json.dumps instead of moto's shape-walking serialiser.

    moto 5.2.5 serialises every answer by walking the botocore output shape value by value, with
    several key spellings tried at every step: reading 2,000 posts back cost ~6 ms per post. For
    the operations above, moto's result dict is already in DynamoDB's JSON (AttributeValue maps
    under the API's own member names), so json.dumps of it is the same body (checked answer by
    answer against moto's serialiser over the integration tests and drills); this is used only
    when every top-level key is a member of the operation's output (moto adds extras elsewhere,
    e.g. DeleteItem) and the values are plain JSON (bytes of binary attributes are not), and
    moto's serialiser is used otherwise. Errors always take moto's path.
    """
    import json

    from moto.core.responses import ActionResult

    if getattr(ActionResult, "_crisiscomms_plain_json", False):
        return
    serialise = ActionResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        result = self.result
        operation = context.operation_model
        if (type(self).__name__ in ("ActionResult", "DynamoResult") and isinstance(result, dict)
                and operation.name in _PLAIN_JSON_OPERATIONS and context.service_model.service_name == "dynamodb"
                and operation.output_shape is not None and set(result) <= set(operation.output_shape.members)):
            try:
                body = json.dumps(result)
            except (TypeError, ValueError):
                pass
            else:
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return serialise(self, context)

    ActionResult.execute_result = execute_result  # type: ignore[method-assign]
    ActionResult._crisiscomms_plain_json = True  # type: ignore[attr-defined]


# DynamoDB requests whose input shape holds nothing but JSON's own types, binary attribute values aside.
_PLAIN_JSON_INPUTS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
                                "BatchWriteItem", "TransactWriteItems", "TransactGetItems"})
_BINARY_ATTRIBUTE = re.compile(rb'"BS?"\s*:')
MOTO_OWN_PARSE: dict[type, Any] = {}  # moto's own parse_parameters, where the JSON reading replaced it (for tests)


def _dynamodb_requests_as_json() -> None:
    """DynamoDB's item requests read with json.loads instead of moto's shape-walking parser.

    moto 5.2.5 parses every request body by walking the botocore input shape value by value (in
    the drills, about 3% of all their CPU time). For the operations above that walk changes nothing
    botocore sends: their members are strings, integers, booleans, lists, maps and structures, but
    for binary attribute values (`B`, `BS`), which it decodes from base64. So a body without a `B`
    or `BS` key is the parse's result as loaded; anything else (a binary value, a body that is not
    a JSON object, another operation) takes moto's parser. tests/unit/test_bench_scale_moto.py
    compares the two.
    """
    import json

    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_crisiscomms_plain_json", False):
        return
    parse = DynamoHandler.parse_parameters

    def parse_parameters(self: Any, request: Any) -> None:
        body = request.data
        if body and self._get_action() in _PLAIN_JSON_INPUTS and not _BINARY_ATTRIBUTE.search(body):
            try:
                params = json.loads(body)
            except ValueError:
                params = None
            if isinstance(params, dict):
                self.params = params
                return
        parse(self, request)

    MOTO_OWN_PARSE[DynamoHandler] = parse
    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
    DynamoHandler._crisiscomms_plain_json = True  # type: ignore[attr-defined]


_REQUESTS: dict[str, int] = {}
_REQUESTS_LOCK = threading.Lock()


def _count_request(operation: str) -> None:
    with _REQUESTS_LOCK:
        _REQUESTS[operation] = _REQUESTS.get(operation, 0) + 1


def request_counts() -> dict[str, int]:
    """Requests local AWS has answered in this process, by operation ("DynamoDB_20120810.Query", ...)."""
    with _REQUESTS_LOCK:
        return dict(_REQUESTS)


_DYNAMODB_TARGET = "DynamoDB_20120810."


def _dynamodb_answer(environ: dict[str, Any]) -> tuple[list[Any], bytes]:
    """A DynamoDB request handed straight to moto's DynamoDB handler, as its Flask view would.

    moto's server routes every request by inferring the service from the signature, then runs it
    through a Flask app (request context, URL map, CORS hook, response object) whose only view
    for DynamoDB calls `DynamoHandler.dispatch(request, raw_url, headers)`. Here that call is made
    directly with the same request class; its status, headers and body are the answer.

    DynamoDB reads and writes an item whole. moto answers a read with the stored item itself, turned
    into JSON after its backend returns, and applies an update to that same item in place, so a read
    answered while another thread's update adds an attribute failed ("dictionary changed size during
    iteration", a 500) or mixed two versions. Each DynamoDB request is answered under the lock that
    serialises writes: moto's work is Python under one interpreter lock, so nothing ran in parallel anyway.
    """
    from http import HTTPStatus

    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_api import recorder
    from moto.moto_server.werkzeug_app import BackendRequest

    request = BackendRequest(environ)
    recorder._record_request(request)
    with _WRITE_LOCK:  # answered whole: moto answers with the stored items themselves (above)
        status, headers, content = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
    code = int(status)
    try:
        reason = HTTPStatus(code).phrase.upper()
    except ValueError:
        reason = "UNKNOWN"
    body = content.encode("utf-8") if isinstance(content, str) else bytes(content or b"")
    names = {str(name).lower() for name in headers}
    out = [(str(name), str(value)) for name, value in headers.items()]
    if "content-type" not in names:
        out.append(("Content-Type", "text/html; charset=utf-8"))  # what Flask's Response would say
    out.append(("Access-Control-Allow-Origin", "*"))  # what moto's CORS hook adds to every answer
    return [f"{code} {reason}", out], body


def _keep_alive_server(app: Any, host: str, port: int) -> Any:
    """moto's WSGI app behind werkzeug's threaded server, answering HTTP/1.1 keep-alive requests.

    werkzeug's development server closes the connection after every answer, so each request
    costs a TCP connect, an accept and a new thread. Here a request with a known length is read
    whole before the app sees it (nothing is left on the socket to corrupt the next request),
    the answer goes out in one write with its Content-Length, and the connection stays open for
    the client's next request. Anything else (chunked uploads, 100-continue) takes werkzeug's
    own path, which closes the connection as before.
    """
    import socket

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class KeepAliveHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 300  # an idle kept-alive connection is closed after this many seconds

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.server.open_lock:  # type: ignore[attr-defined]
                self.server.open_connections.add(self.connection)  # type: ignore[attr-defined]

        def finish(self) -> None:
            with self.server.open_lock:  # type: ignore[attr-defined]
                self.server.open_connections.discard(self.connection)  # type: ignore[attr-defined]
            super().finish()

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            """No access log line per request (the werkzeug logger is quiet anyway)."""

        def run_wsgi(self) -> None:
            length = self.headers.get("Content-Length")
            expect = (self.headers.get("Expect") or "").strip().lower()
            if (self.headers.get("Transfer-Encoding") or expect not in ("", "100-continue")
                    or (length is None and self.command in ("POST", "PUT", "PATCH"))):
                _count_request(self.headers.get("X-Amz-Target") or self.command)
                return super().run_wsgi()
            # 100-continue (botocore asks so for S3 bodies) was answered by http.server's parse_request
            body = self.rfile.read(int(length)) if length else b""
            self.environ = environ = self.make_environ()
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                code, reason, headers, payload = self.answer(environ)
            except _NoAnswer:
                self.close_connection = True  # nothing written: the client sees the connection closed
                return
            self.send_response(code, reason)
            for name, value in headers:
                self.send_header(name, value)
            self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
            head = b"".join(self._headers_buffer)  # type: ignore[attr-defined]
            self._headers_buffer = []  # type: ignore[attr-defined]
            self.wfile.write(head + (payload if self.command != "HEAD" else b""))

        def answer(self, environ: dict[str, Any]) -> tuple[int, str, list[tuple[str, str]], bytes]:
            """moto's answer to one whole request: status, reason, headers (with Content-Length) and body."""
            target = self.headers.get("X-Amz-Target") or ""
            _count_request(target or self.command)
            fault = None if target else _bucket_fault(environ, self.command)
            if fault is not None and fault.kind in ("rate_limit", "http_status"):
                return _s3_error(fault)
            if fault is not None and fault.kind == "timeout":
                raise _NoAnswer
            answer: list[Any] = []
            chunks: list[bytes] = []

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                answer[:] = [status, headers]
                return chunks.append

            refused: list[dict[str, Any]] = []
            if target == _SQS_BATCH_TARGET and _BATCH_REFUSALS:
                split = _refused_entries(environ["wsgi.input"].getvalue())
                if split is not None:
                    kept_body, refused = split
                    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(kept_body), str(len(kept_body))
            try:
                if target.startswith(_DYNAMODB_TARGET) and self.command == "POST" and self.path == "/":
                    answer[:], body_out = _dynamodb_answer(environ)
                    chunks.append(body_out)
                else:
                    with _CONDITIONAL_WRITES if _conditional_write(self.command, self.headers) else _UNLOCKED:
                        result = self.server.app(environ, start_response)
                        try:
                            chunks.extend(result)
                        finally:
                            if hasattr(result, "close"):
                                result.close()
            except Exception as exc:  # noqa: BLE001 - answered as 500, as werkzeug does
                self.server.log("error", f"Error on request: {type(exc).__name__}: {exc}")
                answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
                chunks[:] = [b"Internal Server Error"]
                self.close_connection = True
            if fault is not None:  # timeout_after_send: the work is done, its answer lost
                raise _NoAnswer
            status, headers = answer
            code, _, reason = status.partition(" ")
            payload = b"".join(chunks)
            if refused and code == "200":
                result = json.loads(payload or b"{}")
                result["Failed"] = [*(result.get("Failed") or []), *refused]
                payload = json.dumps(result).encode()
                headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
            headers = [(str(name), str(value)) for name, value in headers]
            if (all(name.lower() != "content-length" for name, _ in headers)
                    and self.command != "HEAD" and int(code) not in (204, 304)):
                headers.append(("Content-Length", str(len(payload))))
            return int(code), reason, headers, payload

    server = make_server(host, port, app, threaded=True, request_handler=KeepAliveHandler)
    server.open_connections = set()  # type: ignore[attr-defined]
    server.open_lock = threading.Lock()  # type: ignore[attr-defined]
    return server


class _WholeBody(io.BytesIO):
    """An answer's body as botocore reads a raw urllib3 response: read(n) and stream()."""

    def stream(self, amt: int = 2 ** 16, **_: Any) -> Any:
        while chunk := self.read(amt):
            yield chunk


_LOCAL_SERVERS: dict[str, "_MotoServer"] = {}  # endpoint -> a local AWS server running in this process
_DIRECT_CALLS = False


def answer_in_process(enabled: bool = True) -> None:
    """While enabled, botocore calls to a local AWS server of this process are answered in the calling thread.

    For tests: every call still goes through botocore's whole client side (parameters validated and
    serialised, the request signed (a DynamoDB call with its scope only), the answer parsed, retries) and
    through the server's own request
    handling (`_MotoServer.answer_directly`), without the socket, HTTP framing and thread switch in
    between. Anything else (another endpoint, a closed port standing in for an outage, raw HTTP to the
    server) goes over HTTP as before.
    """
    global _DIRECT_CALLS
    _DIRECT_CALLS = enabled
    if enabled:
        _install_direct_send()
        _dynamodb_calls_answered_here_carry_their_scope_only()
        _user_agent_parts_cleaned_once()


def _user_agent_parts_cleaned_once() -> None:
    """Each part of botocore's User-Agent header is cleaned once per process, not at every call.

    botocore rebuilds the header twice a call from about ten parts, each cleaned character by character
    (and cleaned twice: once to see whether it is empty, once to join it): about 4% of a drill's CPU
    time under pytest. A part's text depends only on its prefix, name, value and size limit, so the
    cleaned text is kept by those; the header is the same string.
    """
    import botocore.useragent

    part = botocore.useragent.UserAgentComponent
    if getattr(part.to_string, "_crisiscomms_kept", False):
        return
    clean = part.to_string
    cleaned: dict[tuple[Any, ...], str] = {}

    def to_string(self: Any) -> str:
        limit = self.size_config
        key = (self.prefix, self.name, self.value, None if limit is None else (limit.max_size_in_bytes, limit.delimiter))
        text = cleaned.get(key)
        if text is None:
            if len(cleaned) >= 4096:
                cleaned.clear()
            text = cleaned[key] = clean(self)
        return text

    to_string._crisiscomms_kept = True  # type: ignore[attr-defined]
    to_string.original = clean  # type: ignore[attr-defined]
    part.to_string = to_string  # type: ignore[method-assign]


def _answered_here(url: str) -> "_MotoServer | None":
    """The local AWS server of this process that answers a call to `url` in the calling thread, if any."""
    if _DIRECT_CALLS and _LOCAL_SERVERS:
        for endpoint, local in list(_LOCAL_SERVERS.items()):
            if url.startswith(endpoint) and url[len(endpoint):len(endpoint) + 1] in ("/", "?", ""):
                return local
    return None


def _dynamodb_calls_answered_here_carry_their_scope_only() -> None:
    """A DynamoDB call answered in this process carries its credential scope, not a computed signature.

    moto checks no signature: it reads the region and the access key from the credential scope of the
    Authorization header. Computing SigV4 (the canonical request, a hash of the body, four HMACs) was
    about an eighth of an in-process DynamoDB call. The headers are the ones botocore sets (X-Amz-Date,
    the session token, Authorization with the same scope); only the signature is a placeholder. Every
    other call (over HTTP, another service, another endpoint) is signed by botocore as always.
    """
    import botocore.auth
    from botocore.exceptions import NoCredentialsError

    add_auth = botocore.auth.SigV4Auth.add_auth
    if getattr(add_auth, "_crisiscomms_scoped", False):
        return

    def scoped(self: Any, request: Any) -> Any:
        if (type(self) is not botocore.auth.SigV4Auth or self._service_name != "dynamodb"
                or _answered_here(request.url) is None):
            return add_auth(self, request)
        if self.credentials is None:
            raise NoCredentialsError()
        request.context["timestamp"] = botocore.auth.get_current_datetime().strftime(botocore.auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        request.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.scope(request)}, "
                                            f"SignedHeaders=host;x-amz-date, Signature={UNCOMPUTED_SIGNATURE}")
        return None

    scoped._crisiscomms_scoped = True  # type: ignore[attr-defined]
    botocore.auth.SigV4Auth.add_auth = scoped  # type: ignore[method-assign]


UNCOMPUTED_SIGNATURE = "0" * 64


def _install_direct_send() -> None:
    import botocore.endpoint

    send = botocore.endpoint.Endpoint._send
    if getattr(send, "_crisiscomms_direct", False):
        return

    def _send(self: Any, request: Any) -> Any:
        local = _answered_here(request.url)
        if local is not None:
            return local.answer_directly(request)
        return send(self, request)

    _send._crisiscomms_direct = True  # type: ignore[attr-defined]
    botocore.endpoint.Endpoint._send = _send  # type: ignore[method-assign]


class _MotoServer:
    """moto's ThreadedMotoServer, with keep-alive connections and its routing answers cached."""

    def __init__(self, host: str) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        speed_up_moto()
        self._server = _keep_alive_server(DomainDispatcherApplication(create_backend_app), host, 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)

    def start(self) -> None:
        self._thread.start()
        _LOCAL_SERVERS[self.endpoint] = self

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), port

    @property
    def endpoint(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def answer_directly(self, request: Any) -> Any:
        """botocore's prepared request answered by this server's code in the calling thread, no socket.

        The request is what urllib3 and http.client would put on the wire (the request target; botocore's
        headers with Host, Accept-Encoding and Content-Length as they add them; the whole body), turned
        into a WSGI environ by the server's own request handler, and answered by the same code a request
        over HTTP is (`KeepAliveHandler.answer`: the direct DynamoDB route, or moto's app). The answer is
        an AWSResponse with the headers the server would send (Server, Date and the app's own).
        """
        import email.utils
        import http.client
        from urllib.parse import urlsplit

        from botocore.awsrequest import AWSResponse

        url = urlsplit(request.url)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        body = request.body
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")
        elif hasattr(body, "read"):
            body = body.read()
            body = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        elif not isinstance(body, (bytes, bytearray)):
            body = b"".join(part.encode("utf-8") if isinstance(part, str) else bytes(part) for part in body)
        body = bytes(body)
        headers = http.client.HTTPMessage()
        for name, value in request.headers.items():
            if name.lower() in ("expect", "transfer-encoding", "content-length"):
                continue  # the body is whole: no 100-continue, no chunks; its length is set below
            headers[name] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if "Host" not in headers:
            headers["Host"] = url.netloc
        if "Accept-Encoding" not in headers:
            headers["Accept-Encoding"] = "identity"
        if body or request.method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        handler = self._server.RequestHandlerClass.__new__(self._server.RequestHandlerClass)
        handler.server = self._server
        handler.client_address = ("127.0.0.1", 0)
        handler.connection = None
        handler.command, handler.path, handler.request_version = request.method, target, "HTTP/1.1"
        handler.headers = headers
        handler.rfile = io.BytesIO(body)
        handler.close_connection = False
        environ = handler.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            code, _, answer_headers, payload = handler.answer(environ)
        except _NoAnswer:
            from botocore.exceptions import ConnectionClosedError

            raise ConnectionClosedError(endpoint_url=request.url) from None  # what urllib3's dropped connection gives
        sent = [("Server", handler.version_string()), ("Date", email.utils.formatdate(usegmt=True)), *answer_headers]
        response = AWSResponse(request.url, code, sent, _WholeBody(payload if request.method != "HEAD" else b""))
        if not request.stream_output:
            response.content  # noqa: B018 - read at once, as botocore's own session does
        return response

    def stop(self) -> None:
        import socket

        _LOCAL_SERVERS.pop(self.endpoint, None)
        shutdown_promptly(self._server)
        self._server.server_close()
        with self._server.open_lock:
            connections = list(self._server.open_connections)
        for connection in connections:  # wake handlers waiting for a kept-alive client's next request
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)


class LocalAwsServer:
    """moto's threaded server on an ephemeral loopback port, or an endpoint given in the environment."""

    def __init__(self) -> None:
        self._server: Any = None
        self.endpoint: str | None = None
        self._saved_env: dict[str, str | None] = {}
        self._bucket_faults: list[_BucketFault] = []

    def start(self) -> "LocalAwsServer":
        share_service_models()
        _retry_backoff_not_waited()
        external = os.environ.get("AWS_ENDPOINT_URL")
        if external:
            self.endpoint = external
        else:
            import logging

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
            _isolate_dynamodb_writes()
            self._server = _MotoServer("127.0.0.1")
            self._server.start()
            host, port = self._server.get_host_and_port()
            self.endpoint = f"http://{host}:{port}"
        for key, value in {**DUMMY_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if key == "AWS_ENDPOINT_URL" or key not in os.environ or not external:
                os.environ[key] = value
        reset_process_caches()
        return self

    def stop(self) -> None:
        with _BUCKET_FAULTS_LOCK:
            for added in self._bucket_faults:
                _BUCKET_FAULTS.remove(added)
            _BATCH_REFUSALS.clear()
        self._bucket_faults.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        reset_process_caches()

    @property
    def in_process(self) -> bool:
        """moto runs in this process (its state can be saved and put back), not at a given endpoint."""
        return self._server is not None

    def fail_bucket(self, bucket: str, fault: Any, clock: Callable[[], datetime]) -> bool:
        """Make S3 requests to `bucket` fail as `fault` (emulators.base.Fault) says while `clock` is in its
        window: S3's error answer, or the connection dropped (`timeout`; `timeout_after_send` after the
        write is made). False when the endpoint is not served by this process (nothing can be injected).
        Undone by `stop`."""
        if self.endpoint not in _LOCAL_SERVERS:
            return False
        added = _BucketFault(bucket=bucket, fault=fault, clock=clock)
        with _BUCKET_FAULTS_LOCK:
            _BUCKET_FAULTS.append(added)
        self._bucket_faults.append(added)
        return True

    def refuse_batch_entries(self, queue_url: str, count: int) -> bool:
        """The next SendMessageBatch to the queue is taken only in part: its last `count` entries come back
        under `Failed` (InternalError), as SQS may answer. False when the endpoint is not served by this
        process. Undone by `stop`."""
        if self.endpoint not in _LOCAL_SERVERS:
            return False
        with _BUCKET_FAULTS_LOCK:
            _BATCH_REFUSALS[queue_url.rstrip("/").rpartition("/")[2]] = count
        return True

    def __enter__(self) -> "LocalAwsServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MotoSnapshot:
    """Every moto backend of this process as it was when taken; `restore` puts that state back.

    Tests share one provisioned stack per process: provisioning the template (~45 requests and
    the clients to make them) cost more than most tests themselves. Taken right after provisioning,
    the snapshot is each backend's attributes, pickled (a few kB: the tables, queues, buckets,
    topics, keys and secrets, empty), with the attributes of moto's per-service backend maps (S3's
    bucket-to-account map is one); `restore` unpickles a fresh copy into each, in place, and resets
    any backend made since. Whatever a test wrote, created, deleted or reconfigured in any service is
    gone, as if the stack had just been provisioned (about a millisecond).

    What moto keeps beside the backends is put right too: S3 objects' buffers are closed as moto's own
    reset closes them, and moto's list of model instances (its dashboard, /moto-api/data.json) then
    holds the restored ones only. Kept by reference rather than copied: other backends (each restored
    in its own place), cryptography key objects (immutable; KMS keys hold them) and functions local to
    moto's code. Locks and conditions are made new. Only for moto in this process.
    """

    def __init__(self) -> None:
        from moto.core.base_backend import BackendDict

        self._maps: list[tuple[Any, bytes, dict[int, Any]]] = []
        self._taken: list[tuple[Any, str, str, Any, bytes, dict[int, Any]]] = []
        with _WRITE_LOCK:
            for backends in list(BackendDict._instances):
                kept: dict[int, Any] = {}
                self._maps.append((backends, _freeze(vars(backends), kept), kept))
                for account, by_region in list(dict.items(backends)):
                    for region, backend in list(dict.items(by_region)):
                        kept = {}
                        self._taken.append((backends, account, region, backend, _freeze(backend.__dict__, kept), kept))

    def restore(self) -> bool:
        """Put every backend back as it was; False (nothing changed) if moto's backends were replaced since."""
        from moto.core.base_backend import BackendDict
        from moto.core.model_instances import reset_model_data

        with _WRITE_LOCK:
            taken = set()
            for backends, account, region, backend, _, _ in self._taken:
                by_region = dict.get(backends, account)
                if backends not in BackendDict._instances or by_region is None or dict.get(by_region, region) is not backend:
                    return False
                taken.add(id(backend))
            _close_s3_objects()
            reset_model_data()
            for backends in list(BackendDict._instances):
                for by_region in list(dict.values(backends)):
                    for backend in list(dict.values(by_region)):
                        if id(backend) not in taken:
                            backend.reset()
            for backends, frozen, kept in self._maps:
                state = _thaw(frozen, kept)
                vars(backends).clear()
                vars(backends).update(state)
            for _, _, _, backend, frozen, kept in self._taken:
                state = _thaw(frozen, kept)
                backend.__dict__.clear()
                backend.__dict__.update(state)
        return True


def _close_s3_objects() -> None:
    """Close every S3 object's and upload part's buffer, as moto's S3 reset does, before they are dropped."""
    import sys

    models = sys.modules.get("moto.s3.models")
    if models is None:
        return
    for upload in list(models.FakeMultipart.instances_tracked):
        upload.dispose()
    for key in list(models.FakeKey.instances_tracked):
        key.dispose()


def _reset_every_backend() -> None:
    """Every moto backend of this process emptied in place (moto's reset, without forgetting the backends)."""
    from moto.core.base_backend import BackendDict
    from moto.core.model_instances import reset_model_data

    with _WRITE_LOCK:
        _close_s3_objects()
        reset_model_data()
        for backends in list(BackendDict._instances):
            for by_region in list(dict.values(backends)):
                for backend in list(dict.values(by_region)):
                    backend.reset()


class SharedStack:
    """One provisioned stack per process, handed to each user as if just provisioned.

    With moto in this process, the template is provisioned once (into an emptied moto) and moto's
    state saved (`MotoSnapshot`); each `fresh()` puts that state back, so nothing one user did is
    seen by the next, whatever their order. Against an endpoint given in the environment, each
    `fresh()` provisions a new stack, as before.
    """

    def __init__(self, server: "LocalAwsServer", **provisioning: Any) -> None:
        self._server = server
        self._provisioning = provisioning
        self._stack: Stack | None = None
        self._snapshot: MotoSnapshot | None = None

    def fresh(self) -> "Stack":
        import dataclasses

        if not self._server.in_process:
            reset_process_caches()
            return provision(**self._provisioning)
        if self._stack is None or self._snapshot is None or not self._snapshot.restore():
            _reset_every_backend()
            reset_process_caches()
            self._stack = provision(**self._provisioning)
            self._snapshot = MotoSnapshot()
        reset_process_caches()
        stack = self._stack
        return dataclasses.replace(stack, parameters=dict(stack.parameters), refs=dict(stack.refs), arns=dict(stack.arns))


def _reducers() -> dict[type, Any]:
    import copyreg

    from moto.ssm.models import ParameterDict

    def parameter_dict(d: Any) -> Any:  # its constructor takes the account and region
        return ParameterDict, (d.account_id, d.region_name), dict(d.__dict__), None, iter(d.items())

    return {**copyreg.dispatch_table,
            type(threading.RLock()): lambda _: (threading.RLock, ()),
            type(threading.Lock()): lambda _: (threading.Lock, ()),
            threading.Condition: lambda _: (threading.Condition, ()),
            threading.Event: lambda _: (threading.Event, ()),
            ParameterDict: parameter_dict}


def _freeze(state: dict[str, Any], kept: dict[int, Any]) -> bytes:
    import pickle
    import types

    from moto.core.base_backend import BaseBackend

    class Freezer(pickle.Pickler):
        dispatch_table = _reducers()

        def persistent_id(self, obj: Any) -> Any:
            if (isinstance(obj, BaseBackend) or type(obj).__module__.startswith("cryptography.")
                    or (isinstance(obj, types.FunctionType) and "<" in obj.__qualname__)):
                kept[id(obj)] = obj
                return id(obj)
            return None

    out = io.BytesIO()
    Freezer(out, protocol=pickle.HIGHEST_PROTOCOL).dump(state)
    return out.getvalue()


def _thaw(frozen: bytes, kept: dict[int, Any]) -> dict[str, Any]:
    import pickle

    class Thawer(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            return kept[pid]

    return Thawer(io.BytesIO(frozen)).load()  # type: ignore[no-any-return]


@dataclass
class Stack:
    """What provisioning created: physical names and ARNs by logical id, like a deployed stack."""

    prefix: str
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Evaluate Ref / Fn::Sub / Fn::GetAtt(.Arn) / Fn::Join against this stack."""
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                if attribute != "Arn":
                    raise KeyError(f"GetAtt {logical}.{attribute} is not provided locally")
                return self.arns[logical]
            if fn == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.resolve(extra[m.group(1)])) if m.group(1) in extra
                              else str(self._ref(m.group(1))), text)
            if fn == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.resolve(p)) for p in parts)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _ref(self, name: str) -> str:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::StackName": self.prefix, "AWS::URLSuffix": "amazonaws.com"}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise KeyError(f"Ref {name!r} does not resolve to anything provisioned locally")

    def function_environment(self, function: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """A function's environment as Lambda would set it: Globals, then the function's own, then overrides."""
        global_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        own = self.template["Resources"][function].get("Properties", {}).get("Environment", {}).get("Variables", {})
        resolved = {k: str(self.resolve(v)) for k, v in {**global_env, **own}.items()}
        return {**resolved, **(overrides or {})}


def provision(*, parameters: dict[str, str] | None = None, secrets: dict[str, str] | None = None,
              template: dict[str, Any] | None = None, prefix: str | None = None) -> Stack:
    """Create the template's stateful resources on the current endpoint and return their names.

    `secrets` maps a secret's logical id to the value to store (locally the operators' step).
    """
    template = template or load_template()
    prefix = prefix or f"cc{uuid.uuid4().hex[:8]}"
    defaults = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    stack = Stack(prefix=prefix, parameters={**defaults, "Stage": prefix, **(parameters or {})}, template=template)

    for logical, resource in resources_of_type(template, "AWS::DynamoDB::Table").items():
        props = stack.resolve(resource["Properties"])
        name = props.get("TableName") or f"{prefix}-{logical}"
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(index_kind):
                request[index_kind] = props[index_kind]
        if props.get("StreamSpecification"):
            request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        description = client("dynamodb").create_table(**request)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client("dynamodb").update_time_to_live(
                TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True})
        stack.refs[logical], stack.arns[logical] = name, description["TableArn"]

    for logical, resource in resources_of_type(template, "AWS::SSM::Parameter").items():
        props = stack.resolve(resource["Properties"])
        client("ssm").put_parameter(Name=props["Name"], Value=props["Value"], Type=props.get("Type", "String"), Overwrite=True)
        stack.refs[logical] = props["Name"]

    for logical, resource in resources_of_type(template, "AWS::SecretsManager::Secret").items():
        props = stack.resolve(resource["Properties"])
        name = props.get("Name") or f"{prefix}-{logical}"
        kwargs = {"Name": name}
        if secrets and logical in secrets:
            kwargs["SecretString"] = secrets[logical]
        arn = client("secretsmanager").create_secret(**kwargs)["ARN"]
        stack.refs[logical] = stack.arns[logical] = arn

    for logical, resource in resources_of_type(template, "AWS::SNS::Topic").items():
        props = stack.resolve(resource.get("Properties", {}))
        arn = client("sns").create_topic(Name=props.get("TopicName") or f"{prefix}-{logical}")["TopicArn"]
        stack.refs[logical] = stack.arns[logical] = arn

    for logical, resource in resources_of_type(template, "AWS::KMS::Key").items():
        # Key spec, usage and description; the key policy names IAM roles, which local AWS neither
        # creates nor enforces (tests/unit/test_audit_permissions.py checks the policies instead).
        props = resource.get("Properties", {})
        request = {k: stack.resolve(props[k]) for k in ("KeySpec", "KeyUsage", "Description") if k in props}
        metadata = client("kms").create_key(**request)["KeyMetadata"]
        stack.refs[logical], stack.arns[logical] = metadata["KeyId"], metadata["Arn"]

    for logical, resource in resources_of_type(template, "AWS::S3::Bucket").items():
        props = resource.get("Properties", {})
        name = stack.resolve(props["BucketName"]) if "BucketName" in props else f"{prefix}-{logical}".lower()
        create: dict[str, Any] = {"Bucket": name, "CreateBucketConfiguration": {"LocationConstraint": REGION}}
        if props.get("ObjectLockEnabled"):
            create["ObjectLockEnabledForBucket"] = True  # versioning comes with it, as on S3
        client("s3").create_bucket(**create)
        lock = stack.resolve(props.get("ObjectLockConfiguration"))
        if props.get("ObjectLockEnabled") and lock:
            retention = lock.get("Rule", {}).get("DefaultRetention")
            if retention:
                retention = {k: (int(v) if k in ("Days", "Years") else v) for k, v in retention.items()}
                lock = {**lock, "Rule": {"DefaultRetention": retention}}
            client("s3").put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=lock)
        stack.refs[logical], stack.arns[logical] = name, f"arn:aws:s3:::{name}"

    queues = resources_of_type(template, "AWS::SQS::Queue")
    # Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    for logical, resource in sorted(queues.items(), key=lambda kv: "RedrivePolicy" in kv[1].get("Properties", {})):
        props = stack.resolve(resource.get("Properties", {}))
        attributes = {k: str(v) for k, v in props.items() if k in {"VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"}}
        if "RedrivePolicy" in props:
            import json

            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = client("sqs").create_queue(QueueName=props.get("QueueName") or f"{prefix}-{logical}", Attributes=attributes)["QueueUrl"]
        stack.refs[logical] = url
        stack.arns[logical] = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return stack


def put_watch_config(stack: Stack, document: str) -> None:
    """Replace the watch configuration, as an operator would with `aws ssm put-parameter --overwrite`."""
    client("ssm").put_parameter(Name=stack.refs["WatchConfigParameter"], Value=document, Type="String", Overwrite=True)


def sent_notifications(topic_arn: str) -> list[str]:
    """Messages local SNS published to a topic, read back from moto's /moto-api/data.json."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{os.environ['AWS_ENDPOINT_URL']}/moto-api/data.json", timeout=5) as response:
        data = json.load(response)
    for topic in data.get("sns", {}).get("Topic", []):
        if topic.get("arn") == topic_arn:
            return [entry[1] for entry in topic.get("sent_notifications") or []]
    return []
