"""Local AWS keeps DynamoDB's transaction guarantees: all or nothing, and isolation under concurrency."""
from __future__ import annotations

import threading
import uuid

import pytest
from botocore.exceptions import ClientError

from crisiscomms_local.aws import client

pytestmark = pytest.mark.integration


def _state(stack, pk: str) -> dict | None:
    return client("dynamodb").get_item(TableName=stack.refs["StateTable"], Key={"pk": {"S": pk}},
                                       ConsistentRead=True).get("Item")


def _put(stack, pk: str, **fields: dict) -> dict:
    return {"Put": {"TableName": stack.refs["StateTable"], "Item": {"pk": {"S": pk}, **fields},
                    "ConditionExpression": "attribute_not_exists(pk)"}}


def _add(stack, pk: str, n: int) -> dict:
    return {"Update": {"TableName": stack.refs["StateTable"], "Key": {"pk": {"S": pk}},
                       "UpdateExpression": "ADD n :n", "ExpressionAttributeValues": {":n": {"N": str(n)}}}}


def test_a_failed_condition_leaves_every_item_of_the_transaction_unchanged(stack) -> None:
    dynamodb = client("dynamodb")
    dynamodb.transact_write_items(TransactItems=[_put(stack, "taken"), _add(stack, "counter", 1)])
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[
            _put(stack, "new"), _add(stack, "counter", 10), _put(stack, "taken", v={"S": "again"})])
    reasons = [r.get("Code") for r in refused.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert _state(stack, "new") is None
    assert _state(stack, "counter")["n"] == {"N": "1"}
    assert "v" not in _state(stack, "taken")


def test_a_write_that_fails_half_way_is_undone_item_by_item(stack) -> None:
    dynamodb = client("dynamodb")
    dynamodb.put_item(TableName=stack.refs["StateTable"], Item={"pk": {"S": "text"}, "n": {"S": "not a number"}})
    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=[_put(stack, "first"), _add(stack, "counter", 5), _add(stack, "text", 1)])
    assert refused.value.response["Error"]["Code"] in ("TransactionCanceledException", "ValidationException")
    assert _state(stack, "first") is None and _state(stack, "counter") is None
    assert _state(stack, "text")["n"] == {"S": "not a number"}


def test_concurrent_transactions_never_lose_a_write(stack) -> None:
    dynamodb = client("dynamodb")
    threads, per_thread, failures = 6, 25, []

    def writer(t: int) -> None:
        for i in range(per_thread):
            try:
                dynamodb.transact_write_items(TransactItems=[_put(stack, f"post-{t}-{i}"), _add(stack, "total", 1)])
                if i % 5 == 0:  # a duplicate, cancelled whole, interleaved with the others
                    dynamodb.transact_write_items(TransactItems=[_add(stack, "total", 1000), _put(stack, f"post-{t}-{i}")])
            except ClientError as exc:
                failures.append(exc.response["Error"]["Code"])

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == ["TransactionCanceledException"] * (threads * per_thread // 5)
    assert _state(stack, "total")["n"] == {"N": str(threads * per_thread)}
    assert all(_state(stack, f"post-{t}-{i}") for t in range(threads) for i in range(per_thread))


def test_two_actions_on_one_item_are_refused(stack) -> None:
    with pytest.raises(ClientError) as refused:
        client("dynamodb").transact_write_items(TransactItems=[_put(stack, "same"), _add(stack, "same", 1)])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _state(stack, "same") is None


def test_the_patch_refuses_a_moto_it_was_not_written_for(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto

    from crisiscomms_local import moto_transactions

    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match="5.2.5"):
        moto_transactions.install()


def test_aws_calls_are_traced_as_subsegments(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import socket

    from crisiscomms.aws.clients import AwsClients

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{daemon.getsockname()[1]}")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    try:
        AwsClients()("dynamodb").get_item(TableName=stack.refs["StateTable"], Key={"pk": {"S": "nothing"}})
        document = json.loads(daemon.recvfrom(65536)[0].split(b"\n", 1)[1])
    finally:
        daemon.close()
    assert document["name"] == "DynamoDB" and document["namespace"] == "aws"
    assert document["aws"]["operation"] == "GetItem" and document["aws"]["table_name"] == stack.refs["StateTable"]
    assert document["http"] == {"response": {"status": 200}} and document["aws"]["request_id"]


def _inbox_like_table() -> str:
    name = f"q{uuid.uuid4().hex[:8]}"
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk", "queue", "created_at")],
        GlobalSecondaryIndexes=[{"IndexName": "by_time", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "queue", "KeyType": "HASH"},
                                               {"AttributeName": "created_at", "KeyType": "RANGE"}]}])
    for n in range(120):
        item = {"pk": {"S": f"conv#{n % 7}"}, "sk": {"S": f"{(n * 37) % 101:04d}"}, "n": {"N": str(n)},
                "created_at": {"S": f"2026-11-28T09:{(n * 13) % 60:02d}:00Z"}}
        if n % 5:  # the index is sparse: some items carry no queue
            item["queue"] = {"S": f"harbor#{'NEW' if n % 2 else 'ASSIGNED'}"}
        dynamodb.put_item(TableName=name, Item=item)
    return name


QUERIES = [  # (key condition, values, index, forward, limit)
    ("pk = :h", {":h": {"S": "conv#3"}}, None, True, 100),
    ("pk = :h AND sk > :s", {":h": {"S": "conv#3"}, ":s": {"S": "0040"}}, None, False, 4),
    ("pk = :h", {":h": {"S": "conv#nothing"}}, None, True, 100),
    ("#q = :q", {":q": {"S": "harbor#NEW"}}, "by_time", True, 9),
    ("#q = :q AND created_at <= :t", {":q": {"S": "harbor#ASSIGNED"}, ":t": {"S": "2026-11-28T09:30:00Z"}},
     "by_time", False, 5),
]


def _pages(table: str, key: str, values: dict, index: str | None, forward: bool, limit: int) -> list[list[dict]]:
    request = {"TableName": table, "KeyConditionExpression": key, "ExpressionAttributeValues": values,
               "ScanIndexForward": forward, "Limit": limit}
    if index:
        request |= {"IndexName": index, "ExpressionAttributeNames": {"#q": "queue"}}
    pages = []
    while True:
        page = client("dynamodb").query(**request)
        pages.append(page["Items"])
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_query_reads_its_partition_and_pages_as_moto_does(local_aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local AWS's Query shortcuts (a table's partition only; an index sorted by plain values) answer
    page by page exactly as moto's own code does."""
    from moto.dynamodb.models.table import Table

    from crisiscomms_local.moto_transactions import MOTO_OWN

    table = _inbox_like_table()
    ours = [_pages(table, *query) for query in QUERIES]
    assert len(ours[3]) > 1 and sum(map(len, ours[3])) == 48, "the index query pages through every NEW item"
    assert [int(i["n"]["N"]) for i in ours[0][0]] == sorted((n for n in range(3, 120, 7)), key=lambda n: (n * 37) % 101)
    replaced = [(cls, method, original) for (cls, method), original in MOTO_OWN.items() if cls is Table]
    assert {method for _, method, _ in replaced} == {"all_items", "query", "sorted_items"}
    for cls, method, original in replaced:
        monkeypatch.setattr(cls, method, original)
    assert [_pages(table, *query) for query in QUERIES] == ours
