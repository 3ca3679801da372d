"""What an auditor reads and exports: stored records by time, page by page, by Query only.

    posts of a topic, by time .. TopicPostsTable  topic_day, published_key       one Query per UTC day
    posts of a topic, by risk .. TopicPostsTable  GSI by_risk: topic_day,        riskiest first within a day,
                                                  risk_key >= "<min risk>#"      the time range as a filter
    posts of a platform ........ PostsTable       GSI by_platform_time:          one Query per UTC day
                                                  platform_day, published_key
    alerts across topics ....... AlertsTable      GSI by_triggered: list_pk = "alert", triggered_at
    alerts of one topic ........ AlertsTable      GSI by_topic: topic, triggered_at
    statements ................. StatementsTable  GSI by_created: list_pk = "statement", created_at; then each
                                                  statement's items (pk) and its audit entries (by_target)
    audit entries by time ...... AuditTable       GSI by_time: chain, at (an actor as a filter)
    audit entries of a target .. AuditTable       GSI by_target: target, seq (a time range as a filter)

Exports read every record of a kind in a range (`every`), by Query and by key only:

    conversations .............. InboxTable       GSI by_time: queue "<topic>#<state>", created_at, for each
                                                  topic asked and each state
    replies, effects, reports .. AuditTable       GSI by_time: their creation is always audited (target
                                                  reply#<id>, report#<id>, `effect_measured` on statement#<id>
                                                  or wave#<id>), so the entries of the range (and
                                                  CREATION_SLACK after it) name them; then replies and reports
                                                  by key (BatchGetItem), effects by their subject's partition
                                                  (Query pk, sk begins_with "effect#"); kept when their own
                                                  time lies in the range
    templates .................. InboxTable       GSI by_time: queue "templates#<kind>", created_at; then each
                                                  template's partition (head and versions)
    minute and hour figures .... AggregatesTable  topic, minute_key between the range's first and last minute
                                                  (or "hour#" and hour) for each topic asked; the Detector's
                                                  arrivals items are left out
    lessons .................... AlertsTable      GSI by_triggered, the closed alerts as a filter

A topic's posts come back as the stored post (one BatchGetItem per page); a post whose link outlived it
(TTL removes the two separately) comes back as its link, marked `"post_missing": true`.

Cursors are opaque: unpadded base64url of [version, query fingerprint, partition index, position].
The fingerprint is a hash of the query's parameters, so a cursor only continues the query that issued
it; the position is the last key read, checked attribute by attribute against the partition and the
range before it is used. Anything else is InvalidParameter("cursor", reason). A request runs at most
MAX_QUERIES Queries (a filter can leave pages empty); when it stops early it returns a cursor.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, get_args

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, query_all, to_item, to_value
from crisiscomms.errors import InvalidParameter
from crisiscomms.models.alerts import CLOSED, Lesson
from crisiscomms.models.inbox import ConversationState, TemplateKind
from crisiscomms.models.posts import Platform, hour_key, minute_key

CURSOR_FIELD = "cursor"
CURSOR_VERSION = 1
CURSOR_MAX_CHARS = 2048
MAX_QUERIES = 40
BATCH_GET_ATTEMPTS = 3
EXPORT_PAGE = 500
AUDIT_CHAIN = "audit"
ALERT_LIST = "alert"  # list_pk of every alert (crisiscomms.aws.alert_store writes it)
STATEMENT_LIST = "statement"
PLATFORMS: tuple[str, ...] = get_args(Platform)
CONVERSATION_STATES: tuple[str, ...] = get_args(ConversationState)
TEMPLATE_KINDS: tuple[str, ...] = get_args(TemplateKind)
# A record is stamped before its audit entry is appended, in the same function run: entries this long
# after a range still name records created in it.
CREATION_SLACK = timedelta(minutes=15)
EFFECT_MEASURED = "effect_measured"  # the Reviewer's audit action for one measurement (crisiscomms.review.effect)
REVIEWER_ITEMS = ("effect#", "effect-topic#", "review#")  # the Reviewer's items under a statement
BATCH_GET_LIMIT = 100  # DynamoDB's limit of keys per BatchGetItem

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2})?")
_POST_KEY = re.compile(r"[a-z]{1,16}#[^\x00-\x1f]{1,700}")
_PUBLISHED_KEY = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#[a-z]{1,16}#[^\x00-\x1f]{1,700}")
_RISK_KEY = re.compile(r"\d{3}#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z#[a-z]{1,16}#[^\x00-\x1f]{1,700}")
_ALERT_ID = re.compile(r"[a-z0-9-]{1,63}-\d{8}-\d{4}")
_STATEMENT_PK = re.compile(r"statement#st-[0-9a-f]{16}")
_TARGET = re.compile(r"[^\x00-\x1f]{1,256}")


@dataclass(frozen=True)
class RecordTables:
    """The tables a reader may read; None where a function has no business reading one."""

    posts: str | None = None
    topic_posts: str | None = None
    alerts: str | None = None
    statements: str | None = None
    audit: str | None = None
    inbox: str | None = None
    aggregates: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next: str | None


def iso_z(when: datetime) -> str:
    """UTC to the second with a Z: how post keys hold their time."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(when: datetime) -> str:
    """UTC `isoformat()`: how alerts, statements and audit entries hold their times."""
    return when.astimezone(timezone.utc).isoformat()


def _last_before(when: datetime) -> str:
    """The greatest `iso()` string before `when`, so BETWEEN leaves `when` itself out."""
    return (when.astimezone(timezone.utc) - timedelta(microseconds=1)).isoformat()


def _moment(value: Any) -> datetime | None:
    """A stored time (ISO 8601, Z or an offset; naive taken as UTC), or None when it is not one."""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _within(value: Any, start: datetime, end: datetime) -> bool:
    when = _moment(value)
    return when is not None and start <= when < end


def _days(start: datetime, end: datetime) -> list[str]:
    """The UTC days [start, end) touches, oldest first."""
    day = start.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    while day < end:
        out.append(day.strftime("%Y-%m-%d"))
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class _Plan:
    """One paged read: the same key condition over a list of partitions, in order."""

    name: str
    params: dict[str, Any]
    table: str
    index: str | None
    partition_attr: str
    partitions: list[str]
    sort_attr: str
    sort_condition: str  # "BETWEEN", ">=" or "ALL" (the whole partition)
    low: Any
    high: Any = None
    forward: bool = True
    key_shape: dict[str, re.Pattern[str] | type] = field(default_factory=dict)  # the position's other attributes
    filter: str | None = None
    filter_names: dict[str, str] = field(default_factory=dict)
    filter_values: dict[str, Any] = field(default_factory=dict)
    consistent: bool = False

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps([self.name, self.params], sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def query(self, partition: str, limit: int, start: dict[str, Any] | None) -> dict[str, Any]:
        names = {"#p": self.partition_attr, **self.filter_names}
        values = {":p": to_value(partition), **{k: to_value(v) for k, v in self.filter_values.items()}}
        condition = "#p = :p"
        if self.sort_condition != "ALL":
            names["#s"] = self.sort_attr
            values[":low"] = to_value(self.low)
        if self.sort_condition == "BETWEEN":
            condition += " AND #s BETWEEN :low AND :high"
            values[":high"] = to_value(self.high)
        elif self.sort_condition == ">=":
            condition += " AND #s >= :low"
        kwargs: dict[str, Any] = {"TableName": self.table, "KeyConditionExpression": condition,
                                  "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
                                  "ScanIndexForward": self.forward, "Limit": limit}
        if self.index:
            kwargs["IndexName"] = self.index
        if self.consistent:
            kwargs["ConsistentRead"] = True
        if self.filter:
            kwargs["FilterExpression"] = self.filter
        if start:
            kwargs["ExclusiveStartKey"] = start
        return kwargs

    # --- cursors ----------------------------------------------------------------------------------

    def encode(self, partition_index: int, last_key: dict[str, Any] | None) -> str:
        position = from_item(last_key) if last_key else None
        raw = json.dumps([CURSOR_VERSION, self.fingerprint, partition_index, position], separators=(",", ":"),
                         ensure_ascii=False, sort_keys=True)
        return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")

    def decode(self, cursor: str) -> tuple[int, dict[str, Any] | None]:
        """(partition index, ExclusiveStartKey) of a cursor this plan issued; InvalidParameter otherwise."""
        def refuse(reason: str) -> InvalidParameter:
            return InvalidParameter(CURSOR_FIELD, reason)

        if len(cursor) > CURSOR_MAX_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
            raise refuse("not a cursor this API issued: unexpected characters or length")
        try:
            decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
        except (binascii.Error, ValueError) as exc:
            raise refuse("not a cursor this API issued: it does not decode") from exc
        if not (isinstance(decoded, list) and len(decoded) == 4 and decoded[0] == CURSOR_VERSION
                and isinstance(decoded[1], str) and type(decoded[2]) is int):
            raise refuse("not a cursor this API issued: unexpected structure")
        _, fingerprint, index, position = decoded
        if fingerprint != self.fingerprint:
            raise refuse("issued for a different query: repeat the parameters of the request that returned it")
        if not 0 <= index < len(self.partitions):
            raise refuse("its position lies outside the requested range")
        if position is None:
            return index, None
        expected = {self.partition_attr, self.sort_attr, *self.key_shape}
        if not isinstance(position, dict) or set(position) != expected:
            raise refuse("its position does not name a record of this query")
        if position[self.partition_attr] != self.partitions[index]:
            raise refuse("its position lies outside the requested range")
        sort_value = position[self.sort_attr]
        if type(sort_value) is not type(self.low) or sort_value < self.low or (
                self.high is not None and sort_value > self.high):
            raise refuse("its position lies outside the requested range")
        for name, shape in self.key_shape.items():
            value = position[name]
            ok = type(value) is shape if isinstance(shape, type) else (
                isinstance(value, str) and shape.fullmatch(value) is not None)
            if not ok:
                raise refuse("its position does not name a record of this query")
        return index, to_item(position)

    # --- reading ----------------------------------------------------------------------------------

    def page(self, dynamodb: Any, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` items from the cursor on, and the cursor after them (None: nothing is left)."""
        index, start = self.decode(cursor) if cursor else (0, None)
        items: list[dict[str, Any]] = []
        queries = 0
        while index < len(self.partitions):
            if queries == MAX_QUERIES:
                return items, self.encode(index, start)
            answer = dynamodb.query(**self.query(self.partitions[index], limit - len(items), start))
            queries += 1
            items += (from_item(i) for i in answer["Items"])
            start = answer.get("LastEvaluatedKey")
            if len(items) >= limit:
                if start:
                    return items, self.encode(index, start)
                return items, self.encode(index + 1, None) if index + 1 < len(self.partitions) else None
            if not start:
                index += 1
        return items, None

    def every(self, dynamodb: Any, page_size: int = EXPORT_PAGE) -> Iterator[dict[str, Any]]:
        """Every item, partition by partition (exports and their verification)."""
        for partition in self.partitions:
            start = None
            while True:
                answer = dynamodb.query(**self.query(partition, page_size, start))
                yield from (from_item(i) for i in answer["Items"])
                start = answer.get("LastEvaluatedKey")
                if not start:
                    break


class RecordReader:
    """The auditor's reads. Every method takes a UTC range [start, end); nothing here scans."""

    def __init__(self, tables: RecordTables, *, clients: AwsClients) -> None:
        self._tables = tables
        self._clients = clients

    def _dynamodb(self) -> Any:
        return self._clients("dynamodb")

    @staticmethod
    def _need(name: str | None, what: str) -> str:
        if not name:
            raise LookupError(f"this reader was built without the {what} table")
        return name

    # --- posts ------------------------------------------------------------------------------------

    def _topic_posts_plan(self, topic: str, start: datetime, end: datetime, min_risk: int | None) -> _Plan:
        table = self._need(self._tables.topic_posts, "topic posts")
        days = _days(start, end)
        common = {"table": table, "partition_attr": "topic_day", "partitions": [f"{topic}#{d}" for d in days]}
        if min_risk is None:
            return _Plan("topic_posts", {"topic": topic, "from": iso_z(start), "to": iso_z(end)}, index=None,
                         sort_attr="published_key", sort_condition="BETWEEN", low=iso_z(start), high=iso_z(end),
                         key_shape={"published_key": _PUBLISHED_KEY}, **common)
        return _Plan("topic_posts_by_risk", {"topic": topic, "from": iso_z(start), "to": iso_z(end), "min": min_risk},
                     index="by_risk", sort_attr="risk_key", sort_condition=">=", low=f"{min_risk:03d}#", forward=False,
                     key_shape={"published_key": _PUBLISHED_KEY, "risk_key": _RISK_KEY},
                     filter="#t BETWEEN :from AND :to", filter_names={"#t": "published_key"},
                     filter_values={":from": iso_z(start), ":to": iso_z(end)}, **common)

    def topic_posts(self, topic: str, start: datetime, end: datetime, *, limit: int, cursor: str | None,
                    min_risk: int | None = None) -> Page:
        """A topic's posts published in [start, end): oldest first, or with `min_risk` riskiest first
        within each day (days oldest first)."""
        plan = self._topic_posts_plan(topic, start, end, min_risk)
        links, nxt = plan.page(self._dynamodb(), limit, cursor)
        return Page(self._posts_for(links), nxt)

    def post(self, post_key: str) -> dict[str, Any] | None:
        """One stored post by its key, or None."""
        found = self._posts_for([{"post_key": post_key}])[0]
        return None if found.get("post_missing") else found

    def _posts_for(self, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The stored posts of these links, in the links' order: one BatchGetItem (100 keys at most)."""
        if not links:
            return []
        table = self._need(self._tables.posts, "posts")
        keys = list(dict.fromkeys(link["post_key"] for link in links))
        found: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {table: {"Keys": [to_item({"post_key": k}) for k in keys]}}
        for _ in range(BATCH_GET_ATTEMPTS):
            answer = self._dynamodb().batch_get_item(RequestItems=request)
            for item in answer["Responses"].get(table, []):
                post = from_item(item)
                found[post["post_key"]] = post
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        if request:
            raise RuntimeError("posts still unprocessed after retries; try again")
        return [found.get(link["post_key"]) or {**link, "post_missing": True} for link in links]

    def _platform_plan(self, platform: str, start: datetime, end: datetime) -> _Plan:
        table = self._need(self._tables.posts, "posts")
        return _Plan("platform_posts", {"platform": platform, "from": iso_z(start), "to": iso_z(end)}, table=table,
                     index="by_platform_time", partition_attr="platform_day",
                     partitions=[f"{platform}#{d}" for d in _days(start, end)], sort_attr="published_key",
                     sort_condition="BETWEEN", low=iso_z(start), high=iso_z(end),
                     key_shape={"post_key": _POST_KEY, "published_key": _PUBLISHED_KEY})

    def platform_posts(self, platform: str, start: datetime, end: datetime, *, limit: int, cursor: str | None) -> Page:
        """A platform's posts published in [start, end), oldest first."""
        items, nxt = self._platform_plan(platform, start, end).page(self._dynamodb(), limit, cursor)
        return Page(items, nxt)

    # --- alerts -----------------------------------------------------------------------------------

    def _alerts_plan(self, start: datetime, end: datetime, topic: str | None) -> _Plan:
        table = self._need(self._tables.alerts, "alerts")
        common = {"table": table, "sort_attr": "triggered_at", "sort_condition": "BETWEEN", "low": iso(start),
                  "high": _last_before(end), "key_shape": {"alert_id": _ALERT_ID, "triggered_at": _ISO}}
        if topic:
            return _Plan("topic_alerts", {"topic": topic, "from": iso(start), "to": iso(end)}, index="by_topic",
                         partition_attr="topic", partitions=[topic], **common)
        return _Plan("alerts", {"from": iso(start), "to": iso(end)}, index="by_triggered", partition_attr="list_pk",
                     partitions=[ALERT_LIST], **common)

    def alerts(self, start: datetime, end: datetime, *, limit: int, cursor: str | None, topic: str | None = None) -> Page:
        """Alerts triggered in [start, end) across every topic (or one), oldest first."""
        items, nxt = self._alerts_plan(start, end, topic).page(self._dynamodb(), limit, cursor)
        return Page(items, nxt)

    # --- statements -------------------------------------------------------------------------------

    def _statements_plan(self, start: datetime, end: datetime) -> _Plan:
        table = self._need(self._tables.statements, "statements")
        return _Plan("statements", {"from": iso(start), "to": iso(end)}, table=table, index="by_created",
                     partition_attr="list_pk", partitions=[STATEMENT_LIST], sort_attr="created_at",
                     sort_condition="BETWEEN", low=iso(start), high=_last_before(end),
                     key_shape={"pk": _STATEMENT_PK, "sk": re.compile("meta"), "created_at": _ISO})

    def statements(self, start: datetime, end: datetime, *, limit: int, cursor: str | None) -> Page:
        """Statements created in [start, end), oldest first, each with its versions, deliveries, other
        items under it and its audit entries (approvals among them): 1 + 2 Queries per statement."""
        metas, nxt = self._statements_plan(start, end).page(self._dynamodb(), limit, cursor)
        return Page([self._statement(meta) for meta in metas], nxt)

    def statement_items(self, pk: str) -> list[dict[str, Any]]:
        """Every item under one statement (meta, versions, deliveries, prepared, effects), in key order."""
        table = self._need(self._tables.statements, "statements")
        return list(_Plan("statement", {"pk": pk}, table=table, index=None, partition_attr="pk", partitions=[pk],
                          sort_attr="sk", sort_condition="ALL", low="", consistent=True).every(self._dynamodb()))

    def _statement(self, meta: dict[str, Any]) -> dict[str, Any]:
        items = self.statement_items(meta["pk"])
        current = next((i for i in items if i["sk"] == "meta"), meta)
        out = {k: v for k, v in current.items() if k not in ("pk", "sk", "list_pk")}
        groups: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            kind, _, _ = item["sk"].partition("#")
            if kind != "meta":
                groups.setdefault(kind, []).append({k: v for k, v in item.items() if k != "pk"})
        out["versions"] = groups.pop("version", [])
        out["deliveries"] = groups.pop("delivery", [])
        out["other_items"] = [i for group in groups.values() for i in group]
        out["audit_entries"] = list(self.target_entries(meta["pk"]))
        return out

    # --- audit entries ----------------------------------------------------------------------------

    def _audit_plan(self, start: datetime, end: datetime, actor: str | None) -> _Plan:
        table = self._need(self._tables.audit, "audit")
        params: dict[str, Any] = {"from": iso(start), "to": iso(end)}
        extra: dict[str, Any] = {}
        if actor:
            params["actor"] = actor
            extra = {"filter": "#actor = :actor", "filter_names": {"#actor": "actor"}, "filter_values": {":actor": actor}}
        return _Plan("audit", params, table=table, index="by_time", partition_attr="chain", partitions=[AUDIT_CHAIN],
                     sort_attr="at", sort_condition="BETWEEN", low=iso(start), high=_last_before(end),
                     key_shape={"seq": int, "at": _ISO}, **extra)

    def _target_plan(self, target: str, start: datetime | None, end: datetime | None) -> _Plan:
        table = self._need(self._tables.audit, "audit")
        params: dict[str, Any] = {"target": target}
        extra: dict[str, Any] = {}
        if start is not None and end is not None:
            params |= {"from": iso(start), "to": iso(end)}
            extra = {"filter": "#at BETWEEN :from AND :to", "filter_names": {"#at": "at"},
                     "filter_values": {":from": iso(start), ":to": _last_before(end)}}
        return _Plan("audit_target", params, table=table, index="by_target", partition_attr="target",
                     partitions=[target], sort_attr="seq", sort_condition=">=", low=0, key_shape={"chain": _TARGET},
                     **extra)

    def audit_entries(self, start: datetime, end: datetime, *, limit: int, cursor: str | None,
                      actor: str | None = None) -> Page:
        """Audit entries recorded in [start, end), by time (`actor`: only theirs, read as a filter)."""
        items, nxt = self._audit_plan(start, end, actor).page(self._dynamodb(), limit, cursor)
        return Page([_entry(i) for i in items], nxt)

    def entries_for_target(self, target: str, *, limit: int, cursor: str | None, start: datetime | None = None,
                           end: datetime | None = None) -> Page:
        """One target's audit entries in chain order (within [start, end) when both are given)."""
        items, nxt = self._target_plan(target, start, end).page(self._dynamodb(), limit, cursor)
        return Page([_entry(i) for i in items], nxt)

    def target_entries(self, target: str, *, after_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Every audit entry of one target, in chain order, after `after_seq`."""
        for item in self._target_plan(target, None, None).every(self._dynamodb()):
            if int(item["seq"]) > after_seq:
                yield _entry(item)

    # --- everything in a range (exports) ----------------------------------------------------------

    def every(self, kind: str, start: datetime, end: datetime, *,
              topics: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every stored record of a kind in [start, end), as stored (crisiscomms.models.export names
        the kinds and the time that places each); `topics` for the per-topic kinds."""
        dynamodb = self._dynamodb()
        if kind == "posts":
            for platform in PLATFORMS:
                yield from self._platform_plan(platform, start, end).every(dynamodb)
        elif kind == "alerts":
            yield from self._alerts_plan(start, end, None).every(dynamodb)
        elif kind == "statements":
            for meta in self._statements_plan(start, end).every(dynamodb):
                yield from (i for i in self.statement_items(meta["pk"]) if not i["sk"].startswith(REVIEWER_ITEMS))
        elif kind == "audit":
            for item in self._audit_plan(start, end, None).every(dynamodb):
                yield _entry(item)
        elif kind == "conversations":
            yield from self._conversations(topics, start, end)
        elif kind == "replies":
            ids = [t.removeprefix("reply#") for t in self._audited_targets(start, end, prefix="reply#")]
            found = self._by_keys(self._need(self._tables.inbox, "inbox"), [{"pk": f"reply#{i}", "sk": "#"} for i in ids])
            yield from (r for r in found if _within(r.get("created_at"), start, end))
        elif kind == "templates":
            yield from self._templates(start, end)
        elif kind in ("minute_figures", "hour_figures"):
            for topic in topics:
                yield from self._figures_plan(kind, topic, start, end).every(dynamodb)
        elif kind == "effects":
            yield from self._effects(start, end)
        elif kind == "reports":
            ids = [t.removeprefix("report#") for t in self._audited_targets(start, end, prefix="report#")]
            found = self._by_keys(self._need(self._tables.state, "state"), [{"pk": f"report#{i}"} for i in ids])
            yield from (r for r in found if _within(r.get("requested_at"), start, end))
        elif kind == "lessons":
            for alert in self._closed_alerts_plan(start, end).every(dynamodb):
                yield Lesson.of(alert).model_dump(mode="json")
        else:
            raise ValueError(f"no such record kind: {kind}")

    def _conversations(self, topics: Sequence[str], start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """A topic's conversations posted in [start, end), state by state; one a move carried from a
        state read later to one read earlier is read once."""
        table = self._need(self._tables.inbox, "inbox")
        seen: set[str] = set()
        for topic in topics:
            for state in CONVERSATION_STATES:
                plan = _Plan("conversations", {"queue": f"{topic}#{state}"}, table=table, index="by_time",
                             partition_attr="queue", partitions=[f"{topic}#{state}"], sort_attr="created_at",
                             sort_condition="BETWEEN", low=iso_z(start),
                             high=iso_z(end - timedelta(microseconds=1)))
                for item in plan.every(self._dynamodb()):
                    if item["post_key"] not in seen:
                        seen.add(item["post_key"])
                        yield item

    def _templates(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every item (head and versions) of the reply templates created in [start, end)."""
        table = self._need(self._tables.inbox, "inbox")
        for kind in TEMPLATE_KINDS:
            plan = _Plan("templates", {"kind": kind}, table=table, index="by_time", partition_attr="queue",
                         partitions=[f"templates#{kind}"], sort_attr="created_at", sort_condition="BETWEEN",
                         low=iso(start), high=_last_before(end))
            for head in plan.every(self._dynamodb()):
                yield from _Plan("template", {"pk": head["pk"]}, table=table, index=None, partition_attr="pk",
                                 partitions=[head["pk"]], sort_attr="sk", sort_condition="ALL", low="",
                                 consistent=True).every(self._dynamodb())

    def _figures_plan(self, kind: str, topic: str, start: datetime, end: datetime) -> _Plan:
        """A topic's minute (or hour) figures of every minute (hour) [start, end) touches."""
        table = self._need(self._tables.aggregates, "aggregates")
        last = end - timedelta(microseconds=1)
        if kind == "minute_figures":
            low, high = minute_key(start), f"{minute_key(last)}#~"
        else:
            low, high = f"hour#{hour_key(start)}", f"hour#{hour_key(last)}#~"
        return _Plan(kind, {"topic": topic}, table=table, index=None, partition_attr="topic", partitions=[topic],
                     sort_attr="minute_key", sort_condition="BETWEEN", low=low, high=high)

    def _closed_alerts_plan(self, start: datetime, end: datetime) -> _Plan:
        plan = self._alerts_plan(start, end, None)
        return _Plan("lessons", plan.params, table=plan.table, index=plan.index, partition_attr=plan.partition_attr,
                     partitions=plan.partitions, sort_attr=plan.sort_attr, sort_condition=plan.sort_condition,
                     low=plan.low, high=plan.high, filter="#closed = :closed", filter_names={"#closed": "state"},
                     filter_values={":closed": CLOSED})

    def _audited_targets(self, start: datetime, end: datetime, *, prefix: str | None = None,
                         action: str | None = None) -> list[str]:
        """The targets (each once, in chain-time order) of the audit entries recorded from `start` to
        CREATION_SLACK after `end` whose target starts with `prefix` or whose action is `action`."""
        table = self._need(self._tables.audit, "audit")
        if prefix is not None:
            condition, names, values = "begins_with(#t, :v)", {"#t": "target"}, {":v": prefix}
        else:
            condition, names, values = "#a = :v", {"#a": "action"}, {":v": action}
        plan = _Plan("audited", {}, table=table, index="by_time", partition_attr="chain", partitions=[AUDIT_CHAIN],
                     sort_attr="at", sort_condition="BETWEEN", low=iso(start), high=_last_before(end + CREATION_SLACK),
                     filter=condition, filter_names=names, filter_values=values)
        return list(dict.fromkeys(str(item["target"]) for item in plan.every(self._dynamodb())))

    def _effects(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every measurement (effect#<stage>) made in [start, end), of statements and reply waves."""
        table = self._need(self._tables.statements, "statements")
        for subject in self._audited_targets(start, end, action=EFFECT_MEASURED):
            items = query_all(self._dynamodb(), TableName=table, ConsistentRead=True,
                              KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
                              ExpressionAttributeValues={":pk": to_value(subject), ":e": to_value("effect#")})
            yield from (e for e in map(from_item, items) if _within(e.get("measured_at"), start, end))

    def _by_keys(self, table: str, keys: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of these keys that exist, in the keys' order: BatchGetItem, a hundred at a time."""
        wanted = list(keys)
        out: list[dict[str, Any]] = []
        for first in range(0, len(wanted), BATCH_GET_LIMIT):
            chunk = wanted[first:first + BATCH_GET_LIMIT]
            found: dict[str, dict[str, Any]] = {}
            request: dict[str, Any] = {table: {"Keys": [to_item(k) for k in chunk]}}
            for _ in range(BATCH_GET_ATTEMPTS):
                answer = self._dynamodb().batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(table, []):
                    record = from_item(item)
                    found[record["pk"]] = record
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            if request:
                raise RuntimeError("items still unprocessed after retries; try again")
            out += [found[k["pk"]] for k in chunk if k["pk"] in found]
        return out


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    """An audit entry as the chain holds it (the table's partition attribute left out)."""
    return {k: v for k, v in item.items() if k != "chain"}
