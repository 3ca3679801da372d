"""The auditor's cursors, ranges and export files, without AWS: what a cursor may carry, how a page is cut
across partitions, what an export line and CSV cell look like, and what an export request may ask."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crisiscomms.auditing.export import render_csv
from crisiscomms.auditing.queries import time_range
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.record_reader import MAX_QUERIES, RecordReader, RecordTables
from crisiscomms.errors import InvalidParameter
from crisiscomms.models.export import ExportRequest, jsonl_line, parse_jsonl

START = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
END = datetime(2026, 11, 29, 6, 0, tzinfo=timezone.utc)  # three UTC days


class FakeDynamo:
    """Answers Queries from lists of items per partition, honouring Limit and ExclusiveStartKey like DynamoDB
    (a page that fills its Limit carries a LastEvaluatedKey even when nothing follows)."""

    def __init__(self, partitions: dict[str, list[dict[str, Any]]], *, filtered: set[str] = frozenset()) -> None:
        self.partitions = partitions
        self.filtered = filtered  # items a FilterExpression drops (they still count against Limit)
        self.queries: list[dict[str, Any]] = []

    def query(self, **kwargs: Any) -> dict[str, Any]:
        self.queries.append(kwargs)
        partition = from_item({"p": kwargs["ExpressionAttributeValues"][":p"]})["p"]
        items = self.partitions.get(partition, [])
        start = 0
        if "ExclusiveStartKey" in kwargs:
            last = from_item(kwargs["ExclusiveStartKey"])["published_key"]
            start = next(n for n, i in enumerate(items) if i["published_key"] == last) + 1
        page = items[start:start + kwargs["Limit"]]
        answer: dict[str, Any] = {"Items": [to_item(i) for i in page if i["post_key"] not in self.filtered]}
        if len(page) == kwargs["Limit"]:
            answer["LastEvaluatedKey"] = to_item({k: page[-1][k] for k in ("topic_day", "published_key")})
        return answer


def _links(day: str, count: int, topic: str = "harbor") -> list[dict[str, Any]]:
    """Links inside [START, END): the last day's before 06:00."""
    hour = "05" if day == "2026-11-29" else "13"
    return [{"topic_day": f"{topic}#{day}", "published_key": f"{day}T{hour}:{n:02d}:00Z#x#{day}-{n}",
             "post_key": f"x#{day}-{n}"} for n in range(count)]


def _reader(dynamo: FakeDynamo) -> RecordReader:
    return RecordReader(RecordTables(topic_posts="tp", posts="posts"), clients=lambda service: dynamo)  # type: ignore[arg-type]


def _plan(reader: RecordReader) -> Any:
    return reader._topic_posts_plan("harbor", START, END, None)  # noqa: SLF001 - the paging under test


@settings(deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=7), min_size=3, max_size=3), st.integers(min_value=1, max_value=5))
def test_paging_across_days_returns_every_item_once_in_order(counts: list[int], limit: int) -> None:
    days = ["2026-11-27", "2026-11-28", "2026-11-29"]
    partitions = {f"harbor#{d}": _links(d, c) for d, c in zip(days, counts)}
    dynamo = FakeDynamo(partitions)
    plan = _plan(_reader(dynamo))
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        items, cursor = plan.page(dynamo, limit, cursor)
        assert len(items) <= limit
        seen += [i["post_key"] for i in items]
        if cursor is None:
            break
    assert seen == [i["post_key"] for d in days for i in partitions[f"harbor#{d}"]]


def test_a_page_stops_after_max_queries_and_its_cursor_goes_on_from_there() -> None:
    """A filter can leave every page empty; a request still ends after MAX_QUERIES Queries."""
    links = _links("2026-11-28", MAX_QUERIES * 2 + 1)
    dynamo = FakeDynamo({"harbor#2026-11-28": links}, filtered={i["post_key"] for i in links[:-1]})
    plan = _plan(_reader(dynamo))
    items, cursor = plan.page(dynamo, 1, None)
    assert items == [] and cursor and len(dynamo.queries) == MAX_QUERIES
    found = []
    while cursor:
        items, cursor = plan.page(dynamo, 1, cursor)
        found += items
    assert [i["post_key"] for i in found] == [links[-1]["post_key"]]


def _cursor(plan: Any, index: int, position: dict[str, Any] | None) -> str:
    return plan.encode(index, to_item(position) if position else None)


def _raw(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


GOOD = {"topic_day": "harbor#2026-11-28", "published_key": "2026-11-28T13:00:00Z#x#1"}


@pytest.mark.parametrize(("cursor", "reason"), [
    (lambda plan: "", None),
    (lambda plan: _cursor(plan, 1, GOOD), None),
    (lambda plan: _cursor(plan, 2, None), None),
    (lambda plan: "a" * 3000, "unexpected characters or length"),
    (lambda plan: "abc$", "unexpected characters or length"),
    (lambda plan: "!!!!", "unexpected characters or length"),
    (lambda plan: "A", "does not decode"),
    (lambda plan: _raw({"v": 1}), "unexpected structure"),
    (lambda plan: _raw([2, plan.fingerprint, 0, None]), "unexpected structure"),
    (lambda plan: _raw([1, plan.fingerprint, True, None]), "unexpected structure"),
    (lambda plan: _raw([1, "0" * 16, 0, None]), "issued for a different query"),
    (lambda plan: _raw([1, plan.fingerprint, 3, None]), "outside the requested range"),
    (lambda plan: _raw([1, plan.fingerprint, -1, None]), "outside the requested range"),
    (lambda plan: _cursor(plan, 0, GOOD), "outside the requested range"),  # day 2's key in day 1
    (lambda plan: _cursor(plan, 1, {**GOOD, "published_key": "2026-11-30T00:00:00Z#x#1"}), "outside the requested range"),
    (lambda plan: _cursor(plan, 1, {**GOOD, "published_key": "2026-11-28T13:00:00Z"}), "does not name a record"),
    (lambda plan: _cursor(plan, 1, {**GOOD, "post_key": "x#1"}), "does not name a record"),
    (lambda plan: _cursor(plan, 1, {"topic_day": GOOD["topic_day"]}), "does not name a record"),
    (lambda plan: _raw([1, plan.fingerprint, 1, {**GOOD, "published_key": 5}]), "outside the requested range"),
])
def test_a_cursor_is_used_only_when_it_is_one_this_query_issued(cursor: Any, reason: str | None) -> None:
    plan = _plan(_reader(FakeDynamo({})))
    text = cursor(plan)
    if reason is None:
        plan.decode(text) if text else None
        return
    with pytest.raises(InvalidParameter) as refused:
        plan.decode(text)
    assert refused.value.details == [{"field": "cursor", "reason": refused.value.details[0]["reason"]}]
    assert reason in refused.value.details[0]["reason"]


def test_a_cursor_is_bound_to_every_parameter_of_its_query() -> None:
    reader = _reader(FakeDynamo({}))
    base = reader._topic_posts_plan("harbor", START, END, None)  # noqa: SLF001
    others = [reader._topic_posts_plan("northgate", START, END, None),  # noqa: SLF001
              reader._topic_posts_plan("harbor", START + timedelta(seconds=1), END, None),  # noqa: SLF001
              reader._topic_posts_plan("harbor", START, END - timedelta(seconds=1), None),  # noqa: SLF001
              reader._topic_posts_plan("harbor", START, END, 0)]  # noqa: SLF001
    cursor = base.encode(1, to_item(GOOD))
    for other in others:
        with pytest.raises(InvalidParameter, match="different query"):
            other.decode(cursor)


@pytest.mark.parametrize(("start", "end", "field", "reason"), [
    ("2026-11-28T10:00:00Z", "2026-11-28T09:00:00Z", "from", "must be before to"),
    ("2026-11-28T09:00:00", None, "from", "needs an offset"),
    ("yesterday", None, "from", "RFC 3339"),
    (None, "2026-11-28T09:00:00+08:00 junk", "to", "RFC 3339"),
    ("2025-01-01T00:00:00Z", "2026-11-28T00:00:00Z", "to", "at most 31 days"),
    ("9999-12-30T00:00:00Z", "9999-12-31T23:00:00Z", "from", "out of range"),
    ("0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z", "from", "out of range"),
])
def test_a_range_the_api_cannot_use_names_the_parameter(start: str | None, end: str | None, field: str,
                                                        reason: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        time_range(start, end, datetime(2026, 11, 28, 9, tzinfo=timezone.utc), timedelta(days=31))
    assert refused.value.details[0]["field"] == field and reason in refused.value.details[0]["reason"]


def test_a_range_defaults_to_the_day_before_now_and_reads_a_plus_sent_as_a_space() -> None:
    now = datetime(2026, 11, 28, 9, tzinfo=timezone.utc)
    assert time_range(None, None, now, timedelta(days=1)) == (now - timedelta(days=1), now)
    assert time_range("2026-11-28T08:00:00 08:00", None, now, timedelta(days=1))[0] == datetime(2026, 11, 28, 0,
                                                                                                tzinfo=timezone.utc)


def test_export_lines_and_csv_cells_are_exact_and_never_formulas() -> None:
    records = [{"post_key": "x#1", "text": "=1+1", "risk": 7, "topics": ["harbor"], "ok": True, "neg": -0.5},
               {"post_key": "x#2", "text": "line\nbreak, comma \"quoted\"", "author": "@bank", "missing": None}]
    assert jsonl_line(records[0]) == b'{"neg":-0.5,"ok":true,"post_key":"x#1","risk":7,"text":"=1+1","topics":["harbor"]}\n'
    assert parse_jsonl(b"".join(jsonl_line(r) for r in records)) == records
    assert render_csv(records).decode() == (
        "author,missing,neg,ok,post_key,risk,text,topics\n"
        ",,-0.5,true,x#1,7,'=1+1,\"[\"\"harbor\"\"]\"\n"
        "'@bank,,,,x#2,,\"line\nbreak, comma \"\"quoted\"\"\",\n")
    with pytest.raises(ValueError, match="line 2"):
        parse_jsonl(b'{"a":1}\n[1]\n')


@pytest.mark.parametrize(("body", "field"), [
    ({"kinds": ["posts"], "from": "2026-11-28T00:00:00Z", "to": "2026-11-27T00:00:00Z"}, "from must be before to"),
    ({"kinds": ["posts"], "from": "2025-01-01T00:00:00Z", "to": "2026-11-27T00:00:00Z"}, "at most 366 days"),
    ({"kinds": ["posts", "posts"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z"}, "at most once"),
    ({"kinds": ["posts"], "from": "2026-11-27T00:00:00", "to": "2026-11-28T00:00:00Z"}, "needs an offset"),
    ({"kinds": ["posts"], "from": "2026-11-27T00:00:00Z", "to": "2026-11-28T00:00:00Z", "bucket": "b"}, "Extra inputs"),
])
def test_an_export_request_is_refused_with_the_reason(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ExportRequest.model_validate(body)


def test_kinds_are_exported_in_a_fixed_order() -> None:
    request = ExportRequest.model_validate({"kinds": ["audit", "posts"], "from": "2026-11-27T00:00:00+08:00",
                                            "to": "2026-11-28T00:00:00Z"})
    assert request.kinds == ["posts", "audit"]
