"""The desk's REST API (API Gateway, Cognito user-pool authorizer), as a powertools resolver.

Roles come from the `cognito:groups` claim; API Gateway checks the token and this module
checks the group again for every route. The handler passes the use cases in (`ApiServices`,
built by crisiscomms.wiring); routes never look them up. Every domain error maps to an HTTP
status in one place (`_domain_error`); request validation errors name the field and the reason.

Before anything reads a request body, `handle` refuses a body over MAX_BODY_BYTES (413) or nested
deeper than MAX_NESTING (422), and checks the caller's group against the route's roles (403), so
a caller without the role learns nothing about what the route expects. Each route declares every
status it can answer in the OpenAPI document.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, get_args

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel, ConfigDict, Field

from crisiscomms.errors import (
    AuditContention,
    ConfigurationError,
    CrisisCommsError,
    Forbidden,
    InvalidParameter,
    NotHandedOver,
    PlatformError,
    RequestRefused,
)
from crisiscomms.identity import APPROVER, AUDITOR, AUTHOR, ONCALL, Identity
from crisiscomms.inbox.desk import READERS as INBOX_READERS
from crisiscomms.inbox.desk import AssignRequest, InboxDesk, ReasonRequest
from crisiscomms.inbox.replies import REPLY_ID_PATTERN, REPLY_READERS, ReplyDesk, ReplyRequest
from crisiscomms.inbox.templates import (
    TEMPLATE_ID_PATTERN,
    TEMPLATE_READERS,
    TemplateApproveRequest,
    TemplateDraftRequest,
    TemplateEditRequest,
    TemplateRejectRequest,
)
from crisiscomms.models.timestamps import instant
from crisiscomms.models.alerts import Conclusion, Lesson
from crisiscomms.models.delivery import CHANNELS
from crisiscomms.models.effect import EffectRecord, Stage
from crisiscomms.models.export import EXPORT_ID_PATTERN, ExportRequest
from crisiscomms.models.posts import Platform
from crisiscomms.models.series import TopicSeries
from crisiscomms.models.topics import TOPIC_ID_PATTERN
from crisiscomms.models.inbox import CONVERSATION_ID_PATTERN, post_key_of
from crisiscomms.observability import logger
from crisiscomms.review.effect import EFFECT_READERS, EffectDesk
from crisiscomms.review.lessons import CLOSERS, LESSON_READERS, LessonBook
from crisiscomms.review.report import READERS as REPORT_READERS
from crisiscomms.review.report import REPORT_ID_PATTERN, REQUESTERS as REPORT_REQUESTERS
from crisiscomms.review.report import ReportDesk, ReportRequest
from crisiscomms.statements.desk import READERS, Desk
from crisiscomms.statements.holding import HoldingRequest
from crisiscomms.statements.qa import QaCorrectionRequest, QaDraftRequest, QaEditRequest
from crisiscomms.statements.rules import ApproveRequest, CorrectionRequest, DraftRequest, EditRequest, RejectRequest

if TYPE_CHECKING:  # built by the wiring on first use of their routes, not imported with the routes
    from crisiscomms.auditing.export import ExportDesk
    from crisiscomms.auditing.queries import AuditorQueries
    from crisiscomms.detection.alerts import AlertDesk
    from crisiscomms.listening.distribution import TopicDistribution
    from crisiscomms.listening.narratives import TopicNarratives

MAX_BODY_BYTES = 64 * 1024
MAX_NESTING = 32  # arrays and objects inside each other; no request model comes near it
AWS_UNAVAILABLE_RETRY_AFTER_SECONDS = 30  # an outage or throttling outlasts the SDK's own retries: not seconds
DEV_IDENTITY_HEADER = "x-crisiscomms-dev-identity"
StatementId = Annotated[str, Path(pattern=r"^st-[0-9a-f]{16}$")]
ChannelName = Annotated[str, Path(pattern="^(" + "|".join(CHANNELS) + ")$")]

app = APIGatewayRestResolver(enable_validation=True)


@dataclass(frozen=True)
class ApiServices:
    """What the routes work with, built once per process by the composition root."""

    desk: Callable[[], Desk]
    alerts: Callable[[], AlertDesk]
    verify_audit: Callable[[], dict[str, Any]]
    dev_identity_header: bool = False  # only the local API server turns this on
    distribution: Callable[[], TopicDistribution] | None = None  # a topic's figures by place and hour
    replies: Callable[[], ReplyDesk] | None = None  # the reply library and replies (its `.templates`)
    inbox: Callable[[], InboxDesk] | None = None  # conversations: the queues, assign, close, ignore
    lessons: Callable[[], LessonBook] | None = None  # closing alerts with a conclusion; their lessons
    effects: Callable[[], EffectDesk] | None = None  # measured effects of statements and reply waves
    auditor: Callable[[], AuditorQueries] | None = None  # the auditor's reads: posts, alerts, statements, entries, series
    exports: Callable[[], ExportDesk] | None = None  # the auditor's exports: request one, follow it, fetch its files
    reports: Callable[[], ReportDesk] | None = None  # post-crisis reports: ask for one, follow it, fetch its files
    narratives: Callable[[], TopicNarratives] | None = None  # a topic's crisis narratives over a time range
    # (request, answer, context) -> (response, replayed): a POST or PUT carrying an Idempotency-Key answered
    # once per user, path and key; a repeat of the same request gets the first answer (wiring: powertools)
    idempotent: Callable[[dict[str, Any], Callable[[], dict[str, Any]], Any], tuple[dict[str, Any], bool]] | None = None


def _services() -> ApiServices:
    return app.context["services"]


# --- identity ---------------------------------------------------------------------------------

def _groups(raw: Any) -> frozenset[str]:
    if isinstance(raw, list):
        return frozenset(str(g) for g in raw)
    text = str(raw or "").strip().strip("[]")
    return frozenset(g for g in text.replace(",", " ").split() if g)


def identity() -> Identity:
    """Who is calling: the Cognito claims API Gateway verified, or locally the development header."""
    return _identity_of(app.current_event, _services())


def _identity_of(event: Any, services: ApiServices) -> Identity:
    if services.dev_identity_header:
        header = event.headers.get(DEV_IDENTITY_HEADER) or event.headers.get(DEV_IDENTITY_HEADER.title())
        if header and ":" in header:
            user, groups = header.split(":", 1)
            return Identity(user=user, groups=_groups(groups))
    claims = (event.request_context.authorizer.claims or {}) if event.request_context.authorizer else {}
    user = claims.get("cognito:username") or claims.get("username") or claims.get("sub")
    if not user:
        raise Forbidden("no authenticated user")
    return Identity(user=user, groups=_groups(claims.get("cognito:groups")))


# --- errors, in one place -----------------------------------------------------------------------

def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, ensure_ascii=False), headers=headers)


def _refused_body(exc: RequestRefused) -> dict[str, Any]:
    return {"error": str(exc), **({"details": exc.details} if exc.details else {})}


# AWS not answering: the caller's to retry, with this body and these headers on every route
AWS_UNAVAILABLE_BODY = {"error": "a service the desk relies on did not answer; read back what you did, then try again"}


def _aws_unavailable_headers() -> dict[str, str]:
    return {"Retry-After": str(AWS_UNAVAILABLE_RETRY_AFTER_SECONDS)}


@app.exception_handler(CrisisCommsError)
def _domain_error(exc: CrisisCommsError) -> Response:
    """The one mapping from the error tree to HTTP."""
    if isinstance(exc, RequestRefused):
        return _json(exc.status, _refused_body(exc))
    if isinstance(exc, AuditContention):
        logger.warning("audit chain busy; request refused", extra={"error": str(exc)})
        return _json(503, {"error": "the audit log is busy; nothing was changed, try again"},
                     {"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, NotHandedOver):
        logger.warning("recorded but not handed over", extra={"error": str(exc)})
        return _json(503, {"error": str(exc)}, {"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, ConfigurationError):
        logger.error("configuration error", extra={"error": str(exc)})
        return _json(500, {"error": "the service is misconfigured; the operators have been told"})
    if isinstance(exc, PlatformError):
        logger.warning("platform error", extra={"error": str(exc), "status": exc.status, "code": exc.code})
        return _json(502, {"error": "a platform did not answer as expected"})
    logger.exception("unexpected domain error")
    return _json(500, {"error": "internal error"})


def _aws_outage(exc: Exception) -> bool:
    """Whether `exc` is AWS not answering (an outage, throttling), logged: the caller's to retry (503), not an
    internal error."""
    from crisiscomms.aws.clients import aws_unavailable

    if not aws_unavailable(exc):
        return False
    logger.warning("AWS did not answer; request refused", extra={"error": str(exc), "kind": type(exc).__name__})
    return True


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    """AWS not answering is a 503; anything else is raised on, as before: the function fails and is seen as
    an error."""
    if not _aws_outage(exc):
        raise exc
    return _json(503, AWS_UNAVAILABLE_BODY, _aws_unavailable_headers())


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response:
    problems = [{"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "reason": e["msg"]} for e in exc.errors()]
    return _json(422, {"error": "invalid request", "details": problems})


@app.exception_handler(NotFoundError)
def _no_route(exc: NotFoundError) -> Response:
    return _json(404, {"error": "no such route"})


class ErrorAnswer(BaseModel):
    """Every answer other than success: what went wrong and, where it helps, each problem."""

    error: str
    details: list[dict[str, Any]] | None = Field(
        default=None, description="one entry per problem: the field (or channel, language, length and limit) and the reason")


_STATUS_TEXT = {
    400: "A body that is not UTF-8, or a parameter the API cannot use (a list cursor it did not issue; details name it)",
    403: "The caller lacks the route's group, or breaks the two-person rule",
    404: "No such statement, template, reply, conversation, version, delivery or alert",
    409: "The statement or alert is in the wrong state, the version is stale or capped, or it changed meanwhile",
    413: f"Request body over {MAX_BODY_BYTES} bytes",
    422: f"Invalid input (each field and reason, nesting deeper than {MAX_NESTING}) or a text too long for a channel",
    503: ("The audit log is busy (nothing was changed), or AWS did not answer (read back whether the action "
          "happened): try again after Retry-After seconds"),
}


def _responses(success: int, *statuses: int) -> dict[int, Any]:
    out: dict[int, Any] = {success: {"description": "Successful Response"}}  # its schema: the route's return type
    for status in sorted({400, 403, 413, 422, 503, *statuses}):  # 503: any route when AWS does not answer
        out[status] = {"description": _STATUS_TEXT[status], "content": {"application/json": {"model": ErrorAnswer}}}
        if status == 503:
            out[status]["headers"] = {"Retry-After": {"description": "seconds", "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
    return out


_ROLES: list[tuple[str, re.Pattern[str], tuple[str, ...]]] = []


def _route(method: str, rule: str, roles: tuple[str, ...], *, errors: tuple[int, ...] = (), **kwargs: Any) -> Callable:
    """Register a route with the groups that may call it (checked in `handle` before the body is
    read) and every error status it can answer in the OpenAPI document."""
    _ROLES.append((method.upper(), re.compile("^" + re.sub(r"<\w+>", "[^/]+", rule) + "$"), roles))
    success = kwargs.get("status_code", 200)
    if method.upper() in IDEMPOTENT_METHODS:    # 409: a repeat of an Idempotency-Key still being answered
        errors = (*errors, 409)
    return getattr(app, method.lower())(rule, responses=_responses(success, *errors), **kwargs)


def _roles_for(method: str, path: str) -> tuple[str, ...] | None:
    return next((roles for m, pattern, roles in _ROLES if m == method and pattern.match(path)), None)


def roles_allowed(method: str, path: str) -> tuple[str, ...]:
    """The groups that may call a route (none for a path no route serves), for tests and documentation."""
    return _roles_for(method.upper(), path) or ()


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_deeper_than(body: str, limit: int) -> bool:
    """Whether arrays and objects in `body` nest deeper than `limit`, brackets inside strings ignored:
    a scan of the raw text, so that no parser recurses into a hostile document."""
    if body.count("[") + body.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_JSON_STRING.sub("", body)):
        if bracket.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth = max(0, depth - 1)
    return False


# A client that did not hear an answer (a timeout, a dropped connection) sends the same POST or PUT again
# with the same key: the first answer comes back and nothing is drafted, approved or published twice.
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENT_REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
IDEMPOTENT_METHODS = frozenset({"POST", "PUT"})


def _refusal(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(body, ensure_ascii=False), "isBase64Encoded": False}


def handle(event: dict[str, Any], context: Any, services: ApiServices) -> dict[str, Any]:
    """Refuse an oversized or too deeply nested body, or a caller without the route's group, before
    anything parses the body; then route with the services passed in."""
    body = event.get("body") or ""
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        return _refusal(413, {"error": f"request body over {MAX_BODY_BYTES} bytes"})
    if nesting_deeper_than(body, MAX_NESTING):
        return _refusal(422, {"error": "invalid request",
                              "details": [{"field": "body", "reason": f"nested deeper than {MAX_NESTING} levels"}]})
    roles = _roles_for(str(event.get("httpMethod") or "").upper(), str(event.get("path") or ""))
    who: Identity | None = None
    if roles is not None:
        try:
            who = _identity_of(APIGatewayProxyEvent(event), services)
            who.require(*roles)
        except Forbidden as exc:
            return _refusal(403, {"error": str(exc)})
    app.append_context(services=services)
    key = _idempotency_key(event)
    if key is None or services.idempotent is None or who is None:   # (no route, no caller: resolve answers)
        return app.resolve(event, context)
    if not IDEMPOTENCY_KEY.fullmatch(key):
        return _refusal(400, {"error": f"invalid {IDEMPOTENCY_HEADER}", "details": [
            {"field": IDEMPOTENCY_HEADER, "reason": "1-64 characters: letters, digits, '_', '.', ':' or '-'"}]})
    request = {"user": who.user, "method": str(event.get("httpMethod")).upper(), "path": str(event.get("path")),
               "key": key, "body": body}
    try:
        response, replayed = services.idempotent(request, lambda: app.resolve(event, context), context)
    except RequestRefused as exc:
        return _refusal(exc.status, _refused_body(exc))
    except Exception as exc:
        if not _aws_outage(exc):
            raise
        return _refusal(503, AWS_UNAVAILABLE_BODY, _aws_unavailable_headers())
    if replayed:
        headers = response.get("multiValueHeaders")
        response = {**response, "multiValueHeaders": {**(headers or {}), IDEMPOTENT_REPLAYED_HEADER: ["true"]}}
    return response


def _idempotency_key(event: dict[str, Any]) -> str | None:
    """The request's Idempotency-Key (any letter case), on the methods that change something."""
    if str(event.get("httpMethod") or "").upper() not in IDEMPOTENT_METHODS:
        return None
    wanted = IDEMPOTENCY_HEADER.lower()
    for name, value in (event.get("headers") or {}).items():
        if str(name).lower() == wanted and value is not None:
            return str(value)
    return None


# --- routes -------------------------------------------------------------------------------------

def desk() -> Desk:
    return _services().desk()


@_route("post", "/statements", (AUTHOR,), errors=(503,), status_code=201, summary="Draft a statement", tags=["statements"])
def create_statement(body: DraftRequest) -> dict:
    who = identity()
    return desk().draft(who, body)


@_route("get", "/statements", READERS, summary="List statements, newest first", tags=["statements"])
def list_statements(limit: Annotated[int, Query(ge=1, le=100)] = 50,
                    state: Annotated[str | None, Query(pattern=r"^[A-Z]+$")] = None,
                    next: Annotated[str | None, Query(max_length=2048)] = None) -> dict:
    who = identity()
    return desk().list(who, limit=limit, state=state, start=next)


@_route("get", "/statements/<statement_id>", READERS, errors=(404,), summary="A statement with versions, approvals and deliveries", tags=["statements"])
def get_statement(statement_id: StatementId) -> dict:
    who = identity()
    statement = desk().get(who, statement_id)
    if _services().effects is not None:  # its measured effects, once the Reviewer has made them
        statement["effects"] = effect_desk().effects(statement_id)
    return statement


@_route("get", "/statements/<statement_id>/versions/<version>", READERS, errors=(404,),
        summary="One version of a statement with its full text", tags=["statements"])
def get_statement_version(statement_id: StatementId, version: Annotated[int, Path(ge=1, le=9999)]) -> dict:
    who = identity()
    return desk().version(who, statement_id, version)


@_route("put", "/statements/<statement_id>/draft", (AUTHOR,), errors=(404, 409, 503), summary="Edit: a new version that needs approval again", tags=["statements"])
def edit_statement(statement_id: StatementId, body: EditRequest) -> dict:
    who = identity()
    return desk().edit(who, statement_id, body)


@_route("post", "/statements/<statement_id>/submit", (AUTHOR,), errors=(404, 409, 503), summary="Submit for approval (checks every channel)", tags=["statements"])
def submit_statement(statement_id: StatementId) -> dict:
    who = identity()
    return desk().submit(who, statement_id)


@_route("post", "/statements/<statement_id>/approve", (APPROVER,), errors=(404, 409, 503), summary="Approve the exact text of one version", tags=["statements"])
def approve_statement(statement_id: StatementId, body: ApproveRequest) -> dict:
    who = identity()
    return desk().approve(who, statement_id, body)


@_route("post", "/statements/<statement_id>/reject", (APPROVER,), errors=(404, 409, 503), summary="Reject with a reason", tags=["statements"])
def reject_statement(statement_id: StatementId, body: RejectRequest) -> dict:
    who = identity()
    return desk().reject(who, statement_id, body)


@_route("post", "/statements/<statement_id>/publish", (APPROVER, AUTHOR), errors=(404, 409, 503), status_code=202, summary="Publish to every channel", tags=["statements"])
def publish_statement(statement_id: StatementId) -> dict:
    who = identity()
    return desk().publish(who, statement_id)


@_route("post", "/statements/<statement_id>/deliveries/<channel>/retry", (APPROVER,), errors=(404, 409, 503),
        status_code=202,
          summary="Retry one failed or unknown channel", tags=["statements"])
def retry_delivery(statement_id: StatementId,
                   channel: ChannelName,
                   language: Annotated[str | None, Query(pattern=r"^(zh|en)$")] = None) -> dict:
    who = identity()
    return desk().retry(who, statement_id, channel, language)


@_route("post", "/statements/<statement_id>/corrections", (AUTHOR,), errors=(404, 409, 503), status_code=201,
          summary="Draft a correction or update linked to a published statement", tags=["statements"])
def correct_statement(statement_id: StatementId, body: CorrectionRequest) -> dict:
    who = identity()
    return desk().correct(who, statement_id, body)


@_route("post", "/holding-statements", (AUTHOR,), errors=(404, 409, 503), status_code=201,
        summary="A statement from an approved holding template, APPROVED at once: the template's approval carried over",
        tags=["statements"])
def create_holding_statement(body: HoldingRequest) -> dict:
    return desk().holding(identity(), body)


@_route("post", "/qa-entries", (AUTHOR,), errors=(503,), status_code=201,
        summary="Draft a Q&A entry (question and answer) for the newsroom's Q&A page; approve and publish it as a statement",
        tags=["qa"])
def create_qa_entry(body: QaDraftRequest) -> dict:
    return desk().draft_qa(identity(), body)


@_route("put", "/qa-entries/<statement_id>/draft", (AUTHOR,), errors=(404, 409, 503),
        summary="Edit a Q&A entry: a new version that needs approval again", tags=["qa"])
def edit_qa_entry(statement_id: StatementId, body: QaEditRequest) -> dict:
    return desk().edit_qa(identity(), statement_id, body)


@_route("post", "/qa-entries/<statement_id>/corrections", (AUTHOR,), errors=(404, 409, 503), status_code=201,
        summary="Draft a correction of a published Q&A entry (it replaces the answer at the same anchor)", tags=["qa"])
def correct_qa_entry(statement_id: StatementId, body: QaCorrectionRequest) -> dict:
    return desk().correct_qa(identity(), statement_id, body)


@_route("post", "/alerts/<alert_id>/ack", (ONCALL,), errors=(404, 409, 503), summary="Acknowledge an alert", tags=["alerts"])
def acknowledge_alert(alert_id: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,63}-\d{8}-\d{4}$")]) -> dict:
    return _services().alerts().acknowledge(identity(), alert_id)


@_route("get", "/alerts", (ONCALL, AUDITOR), summary="A topic's alerts, newest first", tags=["alerts"])
def list_alerts(topic: Annotated[str, Query(pattern=TOPIC_ID_PATTERN)],
                limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict:
    return _services().alerts().list(identity(), topic, limit)


# --- closing alerts, and the lessons they leave ---------------------------------------------------

def lesson_book() -> LessonBook:
    services = _services()
    if services.lessons is None:
        raise ConfigurationError("the desk API was built without its lessons")
    return services.lessons()


@_route("post", "/alerts/<alert_id>/close", CLOSERS, errors=(404, 409, 503),
        summary="Close an alert with a conclusion: cause and lessons required, what worked and what to change "
                "optional (closing acknowledges a TRIGGERED alert; a closed alert cannot be closed again)",
        tags=["alerts"])
def close_alert(alert_id: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,63}-\d{8}-\d{4}$")], body: Conclusion) -> dict:
    return lesson_book().close(identity(), alert_id, body)


class LessonsAnswer(BaseModel):
    """The conclusions of a topic's closed alerts triggered in [from, to], oldest first."""

    model_config = ConfigDict(populate_by_name=True)

    topic: str
    from_: str = Field(alias="from")
    to: str
    lessons: list[Lesson]


@_route("get", "/lessons", LESSON_READERS, summary="A topic's lessons: the conclusions of its alerts closed by people",
        tags=["alerts"])
def list_lessons(topic: Annotated[str, Query(pattern=TOPIC_ID_PATTERN)],
                 from_: Annotated[str | None, Query(alias="from", description="RFC 3339; default: 90 days before to")] = None,
                 to: Annotated[str | None, Query(description="RFC 3339; default: now")] = None) -> LessonsAnswer:
    start = instant("from", from_) if from_ is not None else None
    end = instant("to", to) if to is not None else None
    return LessonsAnswer.model_validate(lesson_book().lessons(identity(), topic, start, end))


class UncoveredEntries(BaseModel):
    """Entries after the latest signed digest: only the writers' anchor vouches for them yet."""

    model_config = ConfigDict(populate_by_name=True)

    entries: int
    first_seq: int | None
    last_seq: int | None
    from_: str | None = Field(alias="from", description="when the first uncovered entry was recorded")
    to: str | None = Field(description="when the last uncovered entry was recorded")


class AuditVerificationAnswer(BaseModel):
    """The chain checked against every signed digest (signature, digest-to-digest continuity, the
    entry at each digest's last seq) and the anchor's consistency; `ok` false names the first problem."""

    ok: bool
    entries: int = Field(description="entries verified")
    first_bad_seq: int | None
    problem: str | None
    digests: int | None = Field(description="signed digests checked")
    covered_through_seq: int = Field(description="the latest digest's last entry (0: no digest yet)")
    latest_digest: str | None
    latest_digest_time: str | None
    bad_digest: str | None = Field(description="the digest object at fault, when one is")
    uncovered: UncoveredEntries


@_route("get", "/audit/verify", (AUDITOR,), summary="Verify the audit chain against its signed digests", tags=["audit"])
def verify_audit() -> AuditVerificationAnswer:
    identity().require(AUDITOR)
    return AuditVerificationAnswer.model_validate(_services().verify_audit())


# Aggregate counts only (no post text, no author), which every desk role works from: on-call staff
# to see where an alert is coming from, authors and approvers to choose the language, channels and
# hour of a statement, auditors to check a response against what was happening.
FIGURE_READERS = (ONCALL, AUTHOR, APPROVER, AUDITOR)
TopicId = Annotated[str, Path(pattern=TOPIC_ID_PATTERN)]


class RegionFigures(BaseModel):
    """One place's posts; `country` and `region` are null for posts that named no place."""

    country: str | None = Field(description="ISO 3166-1 alpha-2")
    region: str | None = Field(description="ISO 3166-2 of a mainland Chinese province-level division")
    label: str
    posts: int
    negative: int
    share: float = Field(description="of all the topic's posts in the range, 0 to 1")


class HourFigures(BaseModel):
    hour: int = Field(ge=0, le=23, description="hour of day in the requested time zone")
    posts: int
    negative: int


class DistributionAnswer(BaseModel):
    """A topic's posts over whole hours [from, to): by place, by hour of day in `tz`, by platform."""

    model_config = ConfigDict(populate_by_name=True)

    topic: str
    from_: str = Field(alias="from", description="first hour counted, UTC")
    to: str = Field(description="end of the last hour counted, UTC")
    tz: str
    total: int
    negative: int
    by_region: list[RegionFigures]
    by_hour_of_day: list[HourFigures] = Field(min_length=24, max_length=24)
    by_platform: dict[str, int]


@_route("get", "/topics/<topic>/distribution", FIGURE_READERS, summary="A topic's posts by place and by hour of day",
        tags=["figures"])
def topic_distribution(topic: TopicId,
                       from_: Annotated[str | None, Query(alias="from", description="RFC 3339; default: 24 h before to")] = None,
                       to: Annotated[str | None, Query(description="RFC 3339; default: now")] = None,
                       tz: Annotated[str | None, Query(description="IANA time zone of the hours of day; default Asia/Shanghai")] = None,
                       ) -> DistributionAnswer:
    identity().require(*FIGURE_READERS)
    services = _services()
    if services.distribution is None:
        raise ConfigurationError("the desk API was built without its figures")
    answer = services.distribution().answer(topic, start=from_, end=to, tz=tz)
    return DistributionAnswer.model_validate(answer)


class NarrativePost(BaseModel):
    post_key: str | None
    platform: str | None
    author: str | None
    followers: int
    risk: int = Field(description="0..100")
    published_at: str | None
    url: str | None
    excerpt: str = Field(description="the post's text, cut to 140 characters")


class NarrativeFigures(BaseModel):
    """One narrative of the topic over the range (formulas: README, "Narratives")."""

    id: str = Field(description="a catalogue id, or other:<term> for a story beyond the catalogue")
    names: dict[str, str] = Field(description="en and zh")
    rank: int = Field(description="1 = highest priority")
    priority: float = Field(description="posts x (0.5 + negative share) x growth x (1 + reach)")
    posts: int
    negative: int
    negative_share: float
    growth: float = Field(description="second half of the range against the first, per unit of time, 0.25..4")
    first_half: int
    second_half: int
    reach: float = Field(description="min(1, log10(1 + mean followers) / 6)")
    platforms: dict[str, int] = Field(description="posts per platform, from stored counters")
    top_posts: list[NarrativePost] = Field(description="the riskiest, at most three")


class NarrativesAnswer(BaseModel):
    """A topic's crisis narratives over [from, to), ranked by priority."""

    model_config = ConfigDict(populate_by_name=True)

    topic: str
    from_: str = Field(alias="from", description="first moment counted, UTC")
    to: str = Field(description="end of the range (exclusive), UTC")
    middle: str = Field(description="where the range is cut into the halves growth compares")
    resolution: str = Field(description="minute (ranges up to 48 h) or hour")
    narratives: list[NarrativeFigures]


# The roles of the other topic routes; the top posts' excerpts are what the inbox shows each of them already.
@_route("get", "/topics/<topic>/narratives", FIGURE_READERS,
        summary="A topic's crisis narratives over a time range: counts, growth, polarity, top posts, platforms, "
                "ranked by priority", tags=["figures"])
def topic_narratives(topic: TopicId,
                     from_: Annotated[str | None, Query(alias="from", description="RFC 3339; default: 24 h before to")] = None,
                     to: Annotated[str | None, Query(description="RFC 3339; default: now")] = None,
                     ) -> NarrativesAnswer:
    identity().require(*FIGURE_READERS)
    services = _services()
    if services.narratives is None:
        raise ConfigurationError("the desk API was built without its narratives")
    return NarrativesAnswer.model_validate(services.narratives().answer(topic, start=from_, end=to))


# --- post-crisis reports (crisiscomms.review.report) ---------------------------------------------------

def report_desk() -> ReportDesk:
    services = _services()
    if services.reports is None:
        raise ConfigurationError("the desk API was built without its reports")
    return services.reports()


class ReportFile(BaseModel):
    name: str = Field(description="report.html, or csv/<series>.csv")
    bytes: int
    sha256: str
    content_type: str | None
    url: str = Field(description="presigned GET, valid links_expire_in seconds")


class ReportAnswer(BaseModel):
    """A post-crisis report: its state, and once DONE its files (the page first) and headline figures."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    topic: str
    from_: str = Field(alias="from", description="first moment covered, UTC")
    to: str = Field(description="end of the range (exclusive), UTC")
    tz: str
    state: str = Field(description="REQUESTED, RUNNING, DONE or FAILED")
    requested_by: str
    requested_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int | None = None
    error: str | None = None
    figures: dict[str, Any] | None = Field(default=None, description="posts in all, by platform and source type, "
                                                                       "highest level, alerts, statements, replies, lessons")
    files: list[ReportFile]
    links_expire_in: int | None = None


@_route("post", "/topics/<topic>/reports", REPORT_REQUESTERS, errors=(503,), status_code=202,
        summary="Ask for a post-crisis report of a topic over a time range: an HTML page with charts and CSV of every "
                "series, written in the background (follow it with GET /reports/{report_id})", tags=["reports"])
def request_report(topic: TopicId, body: ReportRequest) -> ReportAnswer:
    return ReportAnswer.model_validate(report_desk().request(identity(), topic, body))


@_route("get", "/reports/<report_id>", REPORT_READERS, errors=(404,),
        summary="A post-crisis report: its state and, once written, links to its page and CSV files", tags=["reports"])
def get_report(report_id: Annotated[str, Path(pattern=REPORT_ID_PATTERN)]) -> ReportAnswer:
    return ReportAnswer.model_validate(report_desk().get(identity(), report_id))


# --- the auditor's reads and exports (crisiscomms.auditing): read-only, auditors only ----------------

AuditFrom = Annotated[str | None, Query(alias="from", description="RFC 3339; default: 24 h before to")]
AuditTo = Annotated[str | None, Query(description="RFC 3339; default: now")]
AuditCursor = Annotated[str | None, Query(max_length=2048, description="`next` of the previous page, with the same "
                                                                         "parameters; anything else is refused (400)")]
AuditLimit = Annotated[int, Query(ge=1, le=100)]
PlatformName = Annotated[str, Path(pattern="^(" + "|".join(get_args(Platform)) + ")$")]
ExportId = Annotated[str, Path(pattern=EXPORT_ID_PATTERN)]


def auditor() -> AuditorQueries:
    services = _services()
    if services.auditor is None:
        raise ConfigurationError("the desk API was built without the auditor's reads")
    return services.auditor()


def export_desk() -> ExportDesk:
    services = _services()
    if services.exports is None:
        raise ConfigurationError("the desk API was built without exports")
    return services.exports()


@_route("get", "/audit/topics/<topic>/posts", (AUDITOR,),
        summary="A topic's posts in [from, to) (at most 31 days): oldest first, or with min_risk riskiest first "
                "within each UTC day", tags=["audit"])
def audit_topic_posts(topic: TopicId, from_: AuditFrom = None, to: AuditTo = None,
                      min_risk: Annotated[int | None, Query(ge=0, le=100)] = None, limit: AuditLimit = 50,
                      cursor: AuditCursor = None) -> dict:
    return auditor().topic_posts(identity(), topic, start=from_, end=to, min_risk=min_risk, limit=limit, cursor=cursor)


@_route("get", "/audit/platforms/<platform>/posts", (AUDITOR,),
        summary="A platform's posts in [from, to) (at most 31 days), oldest first", tags=["audit"])
def audit_platform_posts(platform: PlatformName, from_: AuditFrom = None, to: AuditTo = None, limit: AuditLimit = 50,
                         cursor: AuditCursor = None) -> dict:
    return auditor().platform_posts(identity(), platform, start=from_, end=to, limit=limit, cursor=cursor)


@_route("get", "/audit/alerts", (AUDITOR,), summary="Alerts triggered in [from, to) across every topic (or one), oldest first",
        tags=["audit"])
def audit_alerts(from_: AuditFrom = None, to: AuditTo = None,
                 topic: Annotated[str | None, Query(pattern=TOPIC_ID_PATTERN)] = None,
                 limit: AuditLimit = 50, cursor: AuditCursor = None) -> dict:
    return auditor().alerts(identity(), start=from_, end=to, topic=topic, limit=limit, cursor=cursor)


@_route("get", "/audit/statements", (AUDITOR,),
        summary="Statements created in [from, to), oldest first, with versions, deliveries and audit entries "
                "(approvals among them)", tags=["audit"])
def audit_statements(from_: AuditFrom = None, to: AuditTo = None, limit: Annotated[int, Query(ge=1, le=25)] = 10,
                     cursor: AuditCursor = None) -> dict:
    return auditor().statements(identity(), start=from_, end=to, limit=limit, cursor=cursor)


@_route("get", "/audit/entries", (AUDITOR,),
        summary="Audit entries recorded in [from, to) by time (or one actor's), or one target's in chain order",
        tags=["audit"])
def audit_entries(from_: AuditFrom = None, to: AuditTo = None,
                  actor: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
                  target: Annotated[str | None, Query(min_length=1, max_length=256,
                                                      description="e.g. statement#st-..., alert#..., export#ex-...")] = None,
                  limit: AuditLimit = 50, cursor: AuditCursor = None) -> dict:
    return auditor().audit_entries(identity(), start=from_, end=to, actor=actor, target=target, limit=limit,
                                   cursor=cursor)


@_route("get", "/audit/topics/<topic>/series", (AUDITOR,),
        summary="A topic's figures in minute or hour buckets, by source type and by platform: volume, negative "
                "share, net sentiment, crisis posts", tags=["audit"])
def audit_topic_series(topic: TopicId, from_: AuditFrom = None, to: AuditTo = None,
                       bucket: Annotated[str, Query(pattern=r"^(minute|hour)$")] = "hour") -> TopicSeries:
    return TopicSeries.model_validate(auditor().series(identity(), topic, start=from_, end=to, bucket=bucket))


@_route("post", "/audit/exports", (AUDITOR,), errors=(503,), status_code=202,
        summary="Export record kinds over [from, to) to JSON Lines and CSV with a manifest (written by the Exporter)",
        tags=["audit"])
def request_export(body: ExportRequest) -> dict:
    return export_desk().request(identity(), body)


@_route("get", "/audit/exports/<export_id>", (AUDITOR,), errors=(404,),
        summary="An export's state; once DONE, short-lived links to its manifest and files", tags=["audit"])
def get_export(export_id: ExportId) -> dict:
    return export_desk().get(identity(), export_id)


# --- the effect of statements and reply waves (crisiscomms.review.effect) -------------------------------

WaveId = Annotated[str, Path(pattern=r"^rw-[0-9a-f]{16}$")]


def effect_desk() -> EffectDesk:
    services = _services()
    if services.effects is None:
        raise ConfigurationError("the desk API was built without the measured effects")
    return services.effects()


class NextMeasurement(BaseModel):
    stage: Stage
    due_at: str = Field(description="UTC; the Reviewer measures within a minute or two of it")


class StatementEffectAnswer(BaseModel):
    """A statement's measurements (`after` when the after-window closed, `plus2h` at the second look),
    each with its figures per topic, engagement per channel and the rule that decided the recommendation."""

    statement_id: str
    effects: list[EffectRecord]
    next_measurement: NextMeasurement | None


class WaveEffectAnswer(BaseModel):
    """A reply wave's measurements (replies of one topic from one template or approved text)."""

    wave_id: str
    effects: list[EffectRecord]
    next_measurement: NextMeasurement | None


class TopicEffectsAnswer(BaseModel):
    """Every measurement of the statements and reply waves published in [from, to) that measured the topic."""

    model_config = ConfigDict(populate_by_name=True)

    topic: str
    from_: str = Field(alias="from")
    to: str
    effects: list[EffectRecord]


@_route("get", "/statements/<statement_id>/effect", EFFECT_READERS, errors=(404,),
        summary="A statement's measured effect and recommendation", tags=["effects"])
def get_statement_effect(statement_id: StatementId) -> StatementEffectAnswer:
    return StatementEffectAnswer.model_validate(effect_desk().for_subject(identity(), "statement", statement_id))


@_route("get", "/reply-waves/<wave_id>/effect", EFFECT_READERS, errors=(404,),
        summary="A reply wave's measured effect and recommendation", tags=["effects"])
def get_wave_effect(wave_id: WaveId) -> WaveEffectAnswer:
    return WaveEffectAnswer.model_validate(effect_desk().for_subject(identity(), "reply_wave", wave_id))


@_route("get", "/topics/<topic>/effects", EFFECT_READERS,
        summary="The measured effects of a topic's statements and reply waves, by publication time", tags=["effects"])
def topic_effects(topic: TopicId,
                  from_: Annotated[str | None, Query(alias="from", description="RFC 3339; default: 24 h before to")] = None,
                  to: Annotated[str | None, Query(description="RFC 3339; default: now")] = None) -> TopicEffectsAnswer:
    return TopicEffectsAnswer.model_validate(effect_desk().for_topic(identity(), topic, start=from_, end=to))


# --- the reply library (应对话术) and replies ---------------------------------------------------------

TemplateId = Annotated[str, Path(pattern=TEMPLATE_ID_PATTERN)]
ReplyId = Annotated[str, Path(pattern=REPLY_ID_PATTERN)]
ConversationPath = Annotated[str, Path(pattern=CONVERSATION_ID_PATTERN,
                                       description="<platform>:<native id>, or <platform>:~<native id in base64url>")]


def post_key_from_path(conversation_id: str) -> str:
    """The post key a conversation's path id names (crisiscomms.models.inbox.conversation_id's form)."""
    post_key = post_key_of(conversation_id)
    if post_key is None:
        raise InvalidParameter("conversation_id", "not a conversation id: <platform>:<native id> or <platform>:~<base64url>")
    return post_key


def inbox() -> InboxDesk:
    services = _services()
    if services.inbox is None:
        raise ConfigurationError("the desk API was built without its inbox")
    return services.inbox()


@_route("get", "/inbox", INBOX_READERS, summary="A topic's conversations in one state, by priority or by time",
        tags=["inbox"])
def list_inbox(topic: Annotated[str, Query(pattern=TOPIC_ID_PATTERN)],
               state: Annotated[str, Query(pattern=r"^(NEW|ASSIGNED|REPLIED|CLOSED|IGNORED)$")] = "NEW",
               order: Annotated[str, Query(pattern=r"^(priority|time)$",
                                           description="priority: highest first, then oldest; time: oldest first")] = "priority",
               limit: Annotated[int, Query(ge=1, le=100)] = 50,
               cursor: Annotated[str | None, Query(max_length=1024, description="`next` of the previous page")] = None,
               ) -> dict:
    return inbox().list(identity(), topic=topic, state=state, order=order, limit=limit, cursor=cursor)  # type: ignore[arg-type]


@_route("get", "/inbox/<conversation_id>", INBOX_READERS, errors=(404,), summary="One conversation", tags=["inbox"])
def get_conversation(conversation_id: ConversationPath) -> dict:
    return inbox().get(identity(), post_key_from_path(conversation_id))


@_route("post", "/inbox/<conversation_id>/assign", (AUTHOR,), errors=(404, 409, 503),
        summary="Assign an open or answered conversation to a desk member (a follow-up)", tags=["inbox"])
def assign_conversation(conversation_id: ConversationPath, body: AssignRequest) -> dict:
    return inbox().assign(identity(), post_key_from_path(conversation_id), body)


@_route("post", "/inbox/<conversation_id>/close", (AUTHOR,), errors=(404, 409, 503),
        summary="Close an open or answered conversation, with a reason", tags=["inbox"])
def close_conversation(conversation_id: ConversationPath, body: ReasonRequest) -> dict:
    return inbox().close(identity(), post_key_from_path(conversation_id), body)


@_route("post", "/inbox/<conversation_id>/ignore", (AUTHOR,), errors=(404, 409, 503),
        summary="Ignore an open conversation, with a reason", tags=["inbox"])
def ignore_conversation(conversation_id: ConversationPath, body: ReasonRequest) -> dict:
    return inbox().ignore(identity(), post_key_from_path(conversation_id), body)


def replies() -> ReplyDesk:
    services = _services()
    if services.replies is None:
        raise ConfigurationError("the desk API was built without its replies")
    return services.replies()


@_route("post", "/templates", (AUTHOR,), errors=(409, 503), status_code=201, summary="Draft a reply or holding template",
        tags=["templates"])
def create_template(body: TemplateDraftRequest) -> dict:
    return replies().templates.draft(identity(), body)


@_route("get", "/templates", TEMPLATE_READERS, summary="The reply library, of one kind or all", tags=["templates"])
def list_templates(kind: Annotated[str | None, Query(pattern=r"^(reply|holding)$")] = None) -> dict:
    return replies().templates.list(identity(), kind)


@_route("get", "/templates/<template_id>", TEMPLATE_READERS, errors=(404,),
        summary="A template: its current version, approval and every version's hashes", tags=["templates"])
def get_template(template_id: TemplateId) -> dict:
    return replies().templates.get(identity(), template_id)


@_route("put", "/templates/<template_id>/draft", (AUTHOR,), errors=(404, 409, 503),
        summary="Edit: a new version (text and placeholder rules) that needs approval again", tags=["templates"])
def edit_template(template_id: TemplateId, body: TemplateEditRequest) -> dict:
    return replies().templates.edit(identity(), template_id, body)


@_route("post", "/templates/<template_id>/approve", (APPROVER,), errors=(404, 409, 503),
        summary="Approve one version's text and placeholder rules (not its author)", tags=["templates"])
def approve_template(template_id: TemplateId, body: TemplateApproveRequest) -> dict:
    return replies().templates.approve(identity(), template_id, body)


@_route("post", "/templates/<template_id>/reject", (APPROVER,), errors=(404, 409, 503), summary="Reject with a reason",
        tags=["templates"])
def reject_template(template_id: TemplateId, body: TemplateRejectRequest) -> dict:
    return replies().templates.reject(identity(), template_id, body)


@_route("post", "/inbox/<conversation_id>/replies", (AUTHOR,), errors=(404, 409, 503), status_code=201,
        summary="Reply: from an approved template (approved at once) or free text (awaits approval)", tags=["replies"])
def create_reply(conversation_id: ConversationPath, body: ReplyRequest) -> dict:
    return replies().create(identity(), post_key_from_path(conversation_id), body)


@_route("get", "/inbox/<conversation_id>/replies", REPLY_READERS, errors=(404,), summary="A conversation's replies, oldest first",
        tags=["replies"])
def list_replies(conversation_id: ConversationPath) -> dict:
    return replies().list_for(identity(), post_key_from_path(conversation_id))


@_route("get", "/replies/<reply_id>", REPLY_READERS, errors=(404,), summary="A reply with its state", tags=["replies"])
def get_reply(reply_id: ReplyId) -> dict:
    return replies().get(identity(), reply_id)


@_route("post", "/replies/<reply_id>/approve", (APPROVER,), errors=(404, 409, 503),
        summary="Approve the exact text of a reply awaiting approval (not its author); it is then sent", tags=["replies"])
def approve_reply(reply_id: ReplyId) -> dict:
    return replies().approve(identity(), reply_id)


def openapi_document() -> dict[str, Any]:
    """The resolver's document, with the Idempotency-Key header `handle` reads on every POST and PUT."""
    document = json.loads(app.get_openapi_json_schema(title="crisiscomms desk API", version="1.0.0"))
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method.upper() in IDEMPOTENT_METHODS:
                operation.setdefault("parameters", []).append({
                    "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
                    "description": "the caller's key for this request: sent again with the same key and body, the "
                                   "first answer comes back (header Idempotent-Replayed: true) and nothing is done "
                                   "twice; kept per user, method and path for 24 hours",
                    "schema": {"type": "string", "pattern": "^" + IDEMPOTENCY_KEY.pattern + "$"}})
    return document


__all__ = ["ApiServices", "app", "handle", "openapi_document"]
