"""Local AWS keeps DynamoDB's transaction guarantees (all or nothing, isolation under concurrency); every test
gets the stack as provisioned; calls answered in the calling thread are answered as over HTTP; and local
DynamoDB's shortcuts answer as moto does."""
from __future__ import annotations

import json
import os
import threading
import uuid
from typing import Any

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


def test_a_dynamodb_read_never_meets_a_write_half_way(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB reads and writes an item whole; moto answers a GetItem by converting the stored item itself
    while another request's update may add attributes to it ("dictionary changed size during
    iteration", answered as a 500 and retried by botocore). A pause in each value's conversion lets the
    writer in at every step: with retries off, not one read may fail and each sees a whole item."""
    import time

    from botocore.config import Config
    from moto.dynamodb.models import utilities
    from moto.dynamodb.models.dynamo_type import DynamoType

    from crisiscomms.aws.clients import _session

    convert = utilities.dynamo_to_dict  # how moto turns an answer's values to JSON, one call per value

    def paused(value: Any) -> Any:
        if isinstance(value, DynamoType):
            time.sleep(0.0001)
        return convert(value)

    monkeypatch.setattr(utilities, "dynamo_to_dict", paused)
    table, key = stack.refs["StateTable"], {"pk": {"S": "race#item"}}
    writer = client("dynamodb")
    reader = _session().create_client("dynamodb", endpoint_url=writer.meta.endpoint_url,
                                      region_name=writer.meta.region_name,
                                      config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    writer.put_item(TableName=table, Item={**key, "n0": {"N": "0"}})
    failures: list[str] = []
    sizes: list[int] = []
    written = threading.Event()

    def write() -> None:
        for n in range(1, 50):
            writer.update_item(TableName=table, Key=key, UpdateExpression=f"SET n{n} = :n",
                               ExpressionAttributeValues={":n": {"N": str(n)}})
        written.set()

    def read() -> None:
        while not written.is_set():
            try:
                item = reader.get_item(TableName=table, Key=key)["Item"]
            except Exception as exc:  # noqa: BLE001 - whatever the client makes of a failed answer
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            sizes.append(len(item) - 1)
            if not all(f"n{n}" in item for n in range(len(item) - 1)):
                failures.append(f"not a version the item ever had: {sorted(item)}")

    threads = [threading.Thread(target=read), threading.Thread(target=read), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(set(sizes)) > 5, "the reads overlapped the writes"


def test_concurrent_conditional_s3_writes_never_lose_an_update(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each writer adds its mark to one object, conditional on the ETag it read (as the newsroom's indexes are
    written): S3 lets one writer of an ETag through, so no mark may be lost, however the threads interleave.
    moto checks the condition, then writes: a pause between the two lets every thread in that could be."""
    import time

    from moto.s3.models import S3Backend

    write = S3Backend.put_object
    monkeypatch.setattr(S3Backend, "put_object", lambda *a, **k: (time.sleep(0.002), write(*a, **k))[1])
    s3, bucket, key = client("s3"), stack.refs["NewsroomBucket"], "race/index.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b"[]")
    threads, per_thread = 6, 15

    def writer(t: int) -> None:
        for i in range(per_thread):
            while True:
                got = s3.get_object(Bucket=bucket, Key=key)
                marks = [*json.loads(got["Body"].read()), f"{t}-{i}"]
                try:
                    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(marks).encode(), IfMatch=got["ETag"])
                    break
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict")

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    marks = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sorted(marks) == sorted(f"{t}-{i}" for t in range(threads) for i in range(per_thread))


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


def test_the_functions_clients_share_a_session_while_the_aws_variables_stay_the_same(
        stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients stay one per `AwsClients` and service (each traced once); a changed AWS_* variable (the
    drill's SNS outage points SNS at a closed port) gives another session, and clients that follow it."""
    from crisiscomms.aws import clients as clients_module
    from crisiscomms.aws.clients import AwsClients

    first, second = AwsClients(), AwsClients()
    assert first("dynamodb") is not second("dynamodb") and first("dynamodb") is first("dynamodb")
    assert clients_module._session() is clients_module._session()
    assert second("dynamodb").meta.events is not first("dynamodb").meta.events, "each client has its own handlers"
    shared = clients_module._session()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:9")
    assert clients_module._session() is not shared
    assert AwsClients()("sns").meta.endpoint_url == "http://127.0.0.1:9"
    assert first("dynamodb").get_item(TableName=stack.refs["StateTable"], Key={"pk": {"S": "nothing"}}).get("Item") is None
    monkeypatch.delenv("AWS_ENDPOINT_URL_SNS")
    assert clients_module._session() is shared
    assert AwsClients()("sns").meta.endpoint_url == os.environ["AWS_ENDPOINT_URL"]


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
    ("pk = :h AND sk BETWEEN :a AND :b", {":h": {"S": "conv#2"}, ":a": {"S": "0020"}, ":b": {"S": "0080"}}, None, True, 3),
    ("pk = :h AND begins_with(sk, :p)", {":h": {"S": "conv#5"}, ":p": {"S": "00"}}, None, False, 100),
    ("#q = :q AND created_at BETWEEN :a AND :b", {":q": {"S": "harbor#NEW"}, ":a": {"S": "2026-11-28T09:10:00Z"},
                                                   ":b": {"S": "2026-11-28T09:40:00Z"}}, "by_time", True, 4),
    ("#q = :q AND begins_with(created_at, :p)", {":q": {"S": "harbor#ASSIGNED"}, ":p": {"S": "2026-11-28T09:1"}},
     "by_time", False, 100),
    ("#q = :q", {":q": {"S": "harbor#NOBODY"}}, "by_time", True, 10),
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
    assert {method for _, method, _ in replaced} == {"all_items", "query", "sorted_items", "scan"}
    for cls, method, original in replaced:
        monkeypatch.setattr(cls, method, original)
    assert [_pages(table, *query) for query in QUERIES] == ours


def _large_items_table() -> str:
    """One partition of items from 40 KB to 80 KB (a 1 MB page holds a dozen or so) with number sort keys,
    a global index without a range key projecting keys only, and a local index projecting one more."""
    name = f"l{uuid.uuid4().hex[:8]}"
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"},
                              {"AttributeName": "group", "AttributeType": "S"},
                              {"AttributeName": "label", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_group", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                 "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}]}],
        LocalSecondaryIndexes=[{"IndexName": "by_label",
                                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["size"]},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "label", "KeyType": "RANGE"}]}])
    for i in range(40):
        item = {"pk": {"S": "big" if i % 8 else "other"}, "n": {"N": str((i * 7) % 40 * 1.5 - 9)},
                "body": {"S": "x" * (40_000 + (i * 997) % 40_000)}, "size": {"N": str(i)},
                "label": {"S": f"{'ab'[i % 2]}{(i * 11) % 40:02d}"}}
        if i % 5:
            item["group"] = {"S": f"g{i % 3}"}
        dynamodb.put_item(TableName=name, Item=item)
    for n in range(1, 15):  # eleven fill a page to 990 KB: moto ends it on the twelfth, which n <= 11 does not take
        dynamodb.put_item(TableName=name, Item={"pk": {"S": "edge"}, "n": {"N": str(n)}, "body": {"S": "y" * 90_000},
                                                "label": {"S": f"c{n:02d}"}})
    return name


MORE_QUERIES = [  # every key condition of the large-items table, with what moto does to a page
    {"KeyConditionExpression": "pk = :h AND n <= :x", "ExpressionAttributeValues": {":h": {"S": "big"}, ":x": {"N": "30"}}},
    {"KeyConditionExpression": "pk = :h AND n <= :x", "ExpressionAttributeValues": {":h": {"S": "big"}, ":x": {"N": "13.5"}},
     "ProjectionExpression": "n, label"},
    {"KeyConditionExpression": "pk = :h AND n <= :x", "ExpressionAttributeValues": {":h": {"S": "edge"}, ":x": {"N": "11"}}},
    {"KeyConditionExpression": "pk = :h AND n >= :x", "ExpressionAttributeValues": {":h": {"S": "big"}, ":x": {"N": "0"}},
     "ScanIndexForward": False, "Limit": 6, "ProjectionExpression": "n"},
    {"KeyConditionExpression": "pk = :h", "ExpressionAttributeValues": {":h": {"S": "big"}, ":m": {"N": "20"}},
     "FilterExpression": "#s > :m", "ExpressionAttributeNames": {"#s": "size"}, "ProjectionExpression": "n, #s",
     "Limit": 7},
    {"KeyConditionExpression": "#g = :g", "ExpressionAttributeValues": {":g": {"S": "g1"}},
     "ExpressionAttributeNames": {"#g": "group"}, "IndexName": "by_group", "Limit": 4},
    {"KeyConditionExpression": "#g = :g", "ExpressionAttributeValues": {":g": {"S": "g2"}},
     "ExpressionAttributeNames": {"#g": "group"}, "IndexName": "by_group", "ScanIndexForward": False},
    {"KeyConditionExpression": "pk = :h AND begins_with(label, :p)", "ExpressionAttributeValues": {
        ":h": {"S": "big"}, ":p": {"S": "b"}}, "IndexName": "by_label", "ScanIndexForward": False, "Limit": 5},
    {"KeyConditionExpression": "pk = :h AND label BETWEEN :a AND :b", "ExpressionAttributeValues": {
        ":h": {"S": "big"}, ":a": {"S": "a10"}, ":b": {"S": "b20"}}, "IndexName": "by_label"},
    {"KeyConditionExpression": "pk = :h AND n < :x", "ExpressionAttributeValues": {":h": {"S": "big"}, ":x": {"N": "-100"}}},
]


def _every_page(operation: str, request: dict) -> list:
    """Each page of a Query or Scan: its items, counts and start key."""
    request = dict(request)
    pages = []
    for _ in range(200):  # bounded: a read that goes back to earlier items fails instead of running forever
        page = getattr(client("dynamodb"), operation)(**request)
        pages.append((page["Items"], page["Count"], page["ScannedCount"], page.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise AssertionError(f"{operation} {request['TableName']}: no last page after 200 pages")


def _pages_while_the_table_changes(operation: str, request: dict, change: Any) -> list:
    """Pages of a Query or Scan (items and start key), with `change(turn)` made to the table after each page."""
    pages = []
    for turn in range(40):
        page = getattr(client("dynamodb"), operation)(**request)
        pages.append((page["Items"], page.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        change(turn)
    raise AssertionError(f"{operation}: no last page after 40 pages")


def _query_while_the_queue_changes() -> list:
    """Pages of an index query of a new inbox-like table, with items added, moved and removed between pages."""
    table = _inbox_like_table()
    dynamodb = client("dynamodb")

    def change(turn: int) -> None:
        if turn == 0:  # before the page, inside it, after the condition's end, and one moved out of the queue
            for n, at in ((500, "09:00"), (501, "09:20"), (502, "09:50")):
                dynamodb.put_item(TableName=table, Item={"pk": {"S": "conv#new"}, "sk": {"S": f"{n}"}, "n": {"N": str(n)},
                                                         "queue": {"S": "harbor#NEW"},
                                                         "created_at": {"S": f"2026-11-28T{at}:00Z"}})
            dynamodb.update_item(TableName=table, Key={"pk": {"S": "conv#1"}, "sk": {"S": "0037"}},
                                 UpdateExpression="REMOVE #q", ExpressionAttributeNames={"#q": "queue"})
        if turn == 1:
            dynamodb.delete_item(TableName=table, Key={"pk": {"S": "conv#new"}, "sk": {"S": "501"}})

    return _pages_while_the_table_changes("query", {
        "TableName": table, "IndexName": "by_time", "KeyConditionExpression": "#q = :q AND created_at <= :t",
        "ExpressionAttributeNames": {"#q": "queue"}, "Limit": 6, "ProjectionExpression": "pk, sk, n",
        "ExpressionAttributeValues": {":q": {"S": "harbor#NEW"}, ":t": {"S": "2026-11-28T09:45:00Z"}}}, change)


def test_a_query_starts_where_it_stopped_and_pages_as_moto_does(local_aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local AWS's Query shortcut (the partition sorted by plain values, the page started by bisection, an
    item measured when answered) answers page by page, counts and start keys included, exactly as moto's
    own code does: number sort keys, the 1 MB page (also ended on an item the condition does not take,
    as moto ends it), projections, filters, a global index without a range key, a local index, and a
    queue that changes between pages."""
    from moto.dynamodb.models.table import Table

    from crisiscomms_local.moto_transactions import MOTO_OWN

    table = _large_items_table()
    ours = [_every_page("query", {"TableName": table, **request}) for request in MORE_QUERIES]
    assert [len(items) for items, *_ in ours[0]] == [16, 7], "the large items fill more than one 1 MB page"
    assert [(len(items), start) for items, _, _, start in ours[2]] == [(11, {"pk": {"S": "edge"}, "n": {"N": "11"}}),
                                                                       (0, None)], "moto ends the page on the twelfth"
    assert [len(items) for items, *_ in ours[3]] == [6, 6, 6, 6, 6, 0] and ours[-1] == [([], 0, 0, None)]
    assert [(len(items), count, scanned) for items, count, scanned, _ in ours[4]][0] == (3, 3, 7), "filtered after"
    changing = _query_while_the_queue_changes()
    seen = [int(item["n"]["N"]) for items, _ in changing for item in items]
    assert 500 not in seen and 502 not in seen and len(seen) == len(set(seen))
    for cls, method, original in [(cls, method, original) for (cls, method), original in MOTO_OWN.items()
                                  if cls is Table]:
        monkeypatch.setattr(cls, method, original)
    assert [_every_page("query", {"TableName": table, **request}) for request in MORE_QUERIES] == ours
    assert _query_while_the_queue_changes() == changing


def _keyed_by_hash_only() -> str:
    """A table with a hash key only, numbers for keys, and items of every size up to ~30 KB."""
    name = f"s{uuid.uuid4().hex[:8]}"
    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    for n in range(90):
        item = {"id": {"N": str((n * 53) % 97 - 40)}, "body": {"S": "x" * (n * 331 % 30_000)},
                "tags": {"M": {"a": {"L": [{"N": str(n)}, {"S": "t"}]}}}}
        if n % 3:
            item["even"] = {"BOOL": n % 2 == 0}
        dynamodb.put_item(TableName=name, Item=item)
    return name


SCANS = [  # (table maker's index, extra request parameters)
    (0, {}),
    (0, {"Limit": 7}),
    (0, {"ProjectionExpression": "n, created_at", "Limit": 11}),
    (0, {"ProjectionExpression": "#q, sk", "ExpressionAttributeNames": {"#q": "queue"}}),
    (0, {"FilterExpression": "n > :n", "ExpressionAttributeValues": {":n": {"N": "60"}}, "Limit": 13}),
    (0, {"FilterExpression": "attribute_exists(#q)", "ProjectionExpression": "pk, #q",
         "ExpressionAttributeNames": {"#q": "queue"}, "Limit": 9}),
    (0, {"ScanFilter": {"n": {"AttributeValueList": [{"N": "50"}], "ComparisonOperator": "LT"}}, "Limit": 10}),
    (0, {"Segment": 1, "TotalSegments": 3, "Limit": 6}),
    (0, {"IndexName": "by_time", "Limit": 8}),
    (1, {}),
    (1, {"ProjectionExpression": "id, even", "Limit": 17}),
    (1, {"ProjectionExpression": "tags.a[0], id"}),
    (1, {"FilterExpression": "even = :t", "ExpressionAttributeValues": {":t": {"BOOL": True}}}),
]


def _scan_pages(table: str, extra: dict) -> list:
    return _every_page("scan", {"TableName": table, **extra})


def _scan_while_the_table_changes() -> list:
    """Pages of a scan of a new hash-keyed table, with items added, replaced and removed between the pages."""
    table = _keyed_by_hash_only()
    dynamodb = client("dynamodb")

    def change(turn: int) -> None:
        if turn == 0:
            for n in (-100, 1000, 31):  # before the page, after it, and in the middle
                dynamodb.put_item(TableName=table, Item={"id": {"N": str(n)}, "body": {"S": f"new {n}"}})
            dynamodb.delete_item(TableName=table, Key={"id": {"N": "45"}})
        if turn == 1:  # as many items as before, not the same ones
            dynamodb.put_item(TableName=table, Item={"id": {"N": "50"}, "body": {"S": "replaced"}})
            dynamodb.delete_item(TableName=table, Key={"id": {"N": "52"}})
            dynamodb.put_item(TableName=table, Item={"id": {"N": "52.5"}, "body": {"S": "new 52.5"}})

    return _pages_while_the_table_changes("scan", {"TableName": table, "Limit": 20, "ProjectionExpression": "id, body"},
                                          change)


def test_a_scan_resumes_where_it_stopped_and_pages_as_moto_does(local_aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local AWS's Scan shortcut (start key by bisection, only the projection copied) answers page by
    page, counts and start keys included, exactly as moto's own code does: with and without a range key,
    number keys, limits, the 1 MB page, projections, filters, segments and an index."""
    from moto.dynamodb.models.table import Table

    from crisiscomms_local.moto_transactions import MOTO_OWN

    tables = [_inbox_like_table(), _keyed_by_hash_only()]
    ours = [_scan_pages(tables[which], extra) for which, extra in SCANS]
    assert len(ours[1]) == 18 and sum(len(items) for items, *_ in ours[1]) == 120, "seven a page, every item once"
    assert len(ours[9]) > 1, "the large items fill more than one 1 MB page"
    assert ours[2][0][0][0].keys() <= {"n", "created_at"}
    changing = _scan_while_the_table_changes()
    seen = [item["body"]["S"] for items, _ in changing for item in items]
    assert {"new 1000", "new 31", "replaced", "new 52.5"} <= set(seen) and "new -100" not in seen
    monkeypatch.setattr(Table, "scan", MOTO_OWN[(Table, "scan")])
    assert [_scan_pages(tables[which], extra) for which, extra in SCANS] == ours
    assert _scan_while_the_table_changes() == changing


# --- one provisioned stack per worker, put back before every test ------------------------------------

def _as_described(stack) -> dict:
    """What provisioning made, as the services themselves describe it."""
    from crisiscomms_local.template import resources_of_type

    dynamodb, sqs, s3 = client("dynamodb"), client("sqs"), client("s3")
    seen: dict = {"tables": sorted(dynamodb.list_tables()["TableNames"]),
                  "queues": sorted(sqs.list_queues().get("QueueUrls", [])),
                  "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"])}
    for logical in resources_of_type(stack.template, "AWS::DynamoDB::Table"):
        name = stack.refs[logical]
        seen[logical] = (dynamodb.describe_table(TableName=name)["Table"],
                         dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
                         dynamodb.scan(TableName=name)["Items"])
    for logical in resources_of_type(stack.template, "AWS::SQS::Queue"):
        seen[logical] = sqs.get_queue_attributes(QueueUrl=stack.refs[logical], AttributeNames=["All"])["Attributes"]
    for logical in resources_of_type(stack.template, "AWS::S3::Bucket"):
        versions = s3.list_object_versions(Bucket=stack.refs[logical])
        seen[logical] = [(v["Key"], v["Size"]) for v in versions.get("Versions", [])]
    for logical in resources_of_type(stack.template, "AWS::SecretsManager::Secret"):
        seen[logical] = sorted(v["VersionId"] for v in client("secretsmanager").list_secret_version_ids(
            SecretId=stack.refs[logical])["Versions"])
    for logical in resources_of_type(stack.template, "AWS::SSM::Parameter"):
        parameter = client("ssm").get_parameter(Name=stack.refs[logical])["Parameter"]
        seen[logical] = (parameter["Value"], parameter["Version"])
    for logical in resources_of_type(stack.template, "AWS::SNS::Topic"):
        seen[logical] = client("sns").list_subscriptions_by_topic(TopicArn=stack.refs[logical])["Subscriptions"]
    for logical in resources_of_type(stack.template, "AWS::KMS::Key"):
        seen[logical] = client("kms").describe_key(KeyId=stack.refs[logical])["KeyMetadata"]
    return seen


def test_every_test_gets_the_stack_as_provisioned_whatever_the_one_before_did(stack, _shared_stack) -> None:
    from moto.s3.models import FakeKey

    from crisiscomms_local.aws import sent_notifications

    provisioned = _as_described(stack)
    dynamodb, sqs, s3 = client("dynamodb"), client("sqs"), client("s3")
    # A test's worth of changes, in every service the template provisions, and resources of its own.
    dynamodb.put_item(TableName=stack.refs["StateTable"], Item={"pk": {"S": "left-behind"}})
    dynamodb.update_time_to_live(TableName=stack.refs["StateTable"],
                                 TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": False})
    dynamodb.create_table(TableName="a-test-s-own", BillingMode="PAY_PER_REQUEST",
                          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    sqs.send_message(QueueUrl=stack.refs["DeliveryQueue"], MessageBody="left behind")
    sqs.set_queue_attributes(QueueUrl=stack.refs["DeliveryQueue"], Attributes={"VisibilityTimeout": "7"})
    sqs.create_queue(QueueName="a-test-s-own")
    s3.put_object(Bucket=stack.refs["NewsroomBucket"], Key="statements/left-behind.html", Body=b"<p>left</p>")
    s3.create_bucket(Bucket="a-test-s-own", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    client("secretsmanager").put_secret_value(SecretId=stack.refs["XBearerTokenSecret"], SecretString="changed")
    client("ssm").put_parameter(Name=stack.refs["WatchConfigParameter"], Value="{}", Type="String", Overwrite=True)
    client("sns").subscribe(TopicArn=stack.refs["OnCallTopic"], Protocol="sms", Endpoint="+85291234567")
    client("sns").publish(TopicArn=stack.refs["OnCallTopic"], Message="left behind")
    client("kms").disable_key(KeyId=stack.refs["AuditSigningKey"])
    written = [k for k in FakeKey.instances_tracked if k.name == "statements/left-behind.html"]
    changed = _as_described(stack)
    assert {name for name in provisioned if changed[name] != provisioned[name]} >= {
        "tables", "queues", "buckets", "StateTable", "DeliveryQueue", "NewsroomBucket", "XBearerTokenSecret",
        "WatchConfigParameter", "OnCallTopic", "AuditSigningKey"}

    again = _shared_stack.fresh()
    assert again.refs == stack.refs and again.arns == stack.arns
    assert _as_described(again) == provisioned
    assert written and all(k.disposed for k in written), "the object's buffer is closed, as moto's own reset does"
    assert sent_notifications(stack.refs["OnCallTopic"]) == []
    client("sns").subscribe(TopicArn=stack.refs["OnCallTopic"], Protocol="sms", Endpoint="+85291234567")
    client("sns").publish(TopicArn=stack.refs["OnCallTopic"], Message="after")
    assert sent_notifications(stack.refs["OnCallTopic"]) == ["after"], "moto's dashboard shows the live topic"
    # Names a test used are free again, as on a fresh moto.
    s3.create_bucket(Bucket="a-test-s-own", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sqs.create_queue(QueueName="a-test-s-own")


def test_items_are_not_kept_in_moto_s_list_of_instances(stack) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    before = len(Item.instances_tracked)
    for n in range(20):
        client("dynamodb").put_item(TableName=stack.refs["StateTable"], Item={"pk": {"S": f"p{n}"}, "n": {"N": str(n)}})
        assert client("dynamodb").get_item(TableName=stack.refs["StateTable"], Key={"pk": {"S": f"p{n}"}},
                                           ProjectionExpression="n")["Item"] == {"n": {"N": str(n)}}
    assert len(Item.instances_tracked) == before


def _plain(value):
    """An answer without what differs from one request to the next (request ids, dates)."""
    from datetime import datetime

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata" and not isinstance(v, datetime)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.read() if hasattr(value, "read") else value


def _a_little_of_everything(stack) -> list:
    dynamodb, s3, sqs = client("dynamodb"), client("s3"), client("sqs")
    answers = []
    table, bucket, queue = stack.refs["StateTable"], stack.refs["ExportBucket"], stack.refs["DeliveryQueue"]
    answers.append(dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}, "b": {"B": bytes(range(256))}},
                                     ReturnConsumedCapacity="TOTAL"))
    answers.append(dynamodb.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True))
    with pytest.raises(ClientError) as missing:
        dynamodb.get_item(TableName="no-such-table", Key={"pk": {"S": "a"}})
    answers.append(missing.value.response["Error"])
    answers.append(s3.put_object(Bucket=bucket, Key="dir/a b+ü.bin", Body=bytes(range(256)) * 300,
                                 ContentType="application/octet-stream", Metadata={"kind": "test"}))
    answers.append(s3.get_object(Bucket=bucket, Key="dir/a b+ü.bin"))
    answers.append(s3.get_object(Bucket=bucket, Key="dir/a b+ü.bin", Range="bytes=10-19"))
    answers.append(s3.head_object(Bucket=bucket, Key="dir/a b+ü.bin"))
    answers.append(s3.list_objects_v2(Bucket=bucket, Prefix="dir/"))
    with pytest.raises(ClientError) as no_key:
        s3.get_object(Bucket=bucket, Key="nothing")
    answers.append(no_key.value.response["Error"])
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"ü": 1}))
    answers.append([m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]])
    answers.append(client("ssm").get_parameter(Name=stack.refs["WatchConfigParameter"]))
    answers.append(client("secretsmanager").get_secret_value(SecretId=stack.refs["XBearerTokenSecret"])["SecretString"])
    answers.append(client("kms").get_public_key(KeyId=stack.refs["AuditSigningKey"]))
    return [_plain(a) for a in answers]


def test_calls_answered_in_the_calling_thread_are_answered_as_over_http(stack, _shared_stack, monkeypatch) -> None:
    import botocore.httpsession

    from crisiscomms_local import aws

    assert aws._DIRECT_CALLS, "the tests' local AWS answers in process"
    sent = []
    http_send = botocore.httpsession.URLLib3Session.send
    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", lambda self, r: sent.append(r.url) or http_send(self, r))
    before = aws.request_counts()
    directly = _a_little_of_everything(stack)
    assert sent == [], "no call to local AWS went over HTTP"
    assert sum(aws.request_counts().values()) - sum(before.values()) >= 14, "each is counted as a request"

    over_http_stack = _shared_stack.fresh()
    monkeypatch.setattr(aws, "_DIRECT_CALLS", False)
    over_http = _a_little_of_everything(over_http_stack)
    assert len(sent) >= 14
    assert directly == over_http


def test_only_dynamodb_calls_answered_in_process_skip_computing_their_signature(stack, monkeypatch) -> None:
    """In-process DynamoDB calls carry botocore's headers and scope with a placeholder signature (moto reads the
    region and key from the scope: the table is found in the stack's region); any other call is signed."""
    import re

    import botocore.httpsession

    from crisiscomms_local import aws

    seen: list[tuple[str, str | bytes]] = []
    direct = aws._MotoServer.answer_directly
    monkeypatch.setattr(aws._MotoServer, "answer_directly",
                        lambda self, r: seen.append(("in-process", r.headers["Authorization"])) or direct(self, r))
    http_send = botocore.httpsession.URLLib3Session.send
    monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send",
                        lambda self, r: seen.append(("over-http", r.headers["Authorization"])) or http_send(self, r))
    table = stack.refs["StateTable"]
    region = client("dynamodb").meta.region_name

    client("dynamodb").put_item(TableName=table, Item={"pk": {"S": "signed#1"}})
    client("sqs").get_queue_attributes(QueueUrl=stack.refs["DeliveryQueue"], AttributeNames=["QueueArn"])
    monkeypatch.setattr(aws, "_DIRECT_CALLS", False)
    assert client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "signed#1"}})["Item"]
    scope = re.compile(rf"AWS4-HMAC-SHA256 Credential=\w+/\d{{8}}/{region}/(\w+)/aws4_request, "
                       r"SignedHeaders=[\w;-]+, Signature=([0-9a-f]{64})")
    found = [(how, scope.fullmatch(auth if isinstance(auth, str) else auth.decode()).groups()) for how, auth in seen]
    assert found[0] == ("in-process", ("dynamodb", aws.UNCOMPUTED_SIGNATURE))
    assert found[1][0] == "in-process" and found[1][1][0] == "sqs" and found[1][1][1] != aws.UNCOMPUTED_SIGNATURE
    assert found[2][0] == "over-http" and found[2][1][0] == "dynamodb" and found[2][1][1] != aws.UNCOMPUTED_SIGNATURE
    assert len(found) == 3


# --- UpdateItem of plain SET/REMOVE actions, applied directly, answers as moto does -----------------------

def _update_tables():
    from moto.dynamodb.models import DynamoDBBackend

    from crisiscomms_local.aws import speed_up_moto

    speed_up_moto()
    backend = DynamoDBBackend("eu-west-1", "000000000043")
    for name in ("mine", "theirs"):
        backend.create_table(
            name, schema=[{"AttributeName": "pk", "KeyType": "HASH"}], throughput=None,
            attr=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "queue", "AttributeType": "S"}],
            global_indexes=[{"IndexName": "by_queue", "KeySchema": [{"AttributeName": "queue", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "ALL"}}],
            indexes=None, streams=None, billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
            deletion_protection_enabled=None, warm_throughput=None)
    return backend


def _outcome(call):
    try:
        item = call()
    except Exception as exc:  # noqa: BLE001 - the kind and text of a refusal are what is compared
        return ("refused", type(exc).__name__, str(exc), getattr(exc, "item", None))
    return ("updated", item.to_json())


# Mostly plain attributes; "name" is a reserved word and pk the key: those go to moto. queue is an index's key,
# removed directly and set directly only to a non-empty string (its declared type).
_ATTRIBUTES = ["a", "b", "c", "lease_owner", "seq"] * 6 + ["name", "pk"] + ["queue"] * 4
_VALUES = [{"S": "x"}, {"S": ""}, {"N": "7"}, {"N": "-0.50"}, {"BOOL": True}, {"NULL": True}, {"B": "AAE="},
           {"M": {"k": {"S": "v"}, "n": {"L": [{"N": "1"}, {"S": "two"}]}}}, {"L": []}, {"S": "y" * 300_000}] * 3 + [
           {"SS": ["s"]}]
_CONDITIONS = [None, "attribute_exists(a)", "attribute_not_exists(a)", "lease_owner = :c",
               "attribute_not_exists(lease_owner) OR lease_owner = :c"]


def test_plain_set_and_remove_updates_answer_as_moto_does() -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType

    from crisiscomms_local.moto_transactions import MOTO_OWN

    backend = _update_tables()  # installs local AWS's shortcuts, as starting it does
    moto_update = MOTO_OWN[(DynamoDBBackend, "update_item")]
    action = st.tuples(st.sampled_from(_ATTRIBUTES), st.booleans(), st.sampled_from(_VALUES))

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(sets=st.lists(action, max_size=3, unique_by=lambda a: a[0]),
           removes=st.lists(st.tuples(st.sampled_from(_ATTRIBUTES), st.booleans()), max_size=2),
           remove_first=st.booleans(), condition=st.sampled_from(_CONDITIONS), owner=st.sampled_from(["me", "you"]),
           before=st.one_of(st.none(), st.fixed_dictionaries({"a": st.sampled_from(_VALUES[:3]),
                                                               "lease_owner": st.just({"S": "me"})})),
           all_old=st.booleans())
    def check(sets, removes, remove_first, condition, owner, before, all_old):
        names, values, set_parts, remove_parts = {}, {":c": {"S": owner}} if condition and ":c" in condition else {}, [], []
        for n, (attribute, placeholder, value) in enumerate(sets):
            if placeholder:
                names[f"#s{n}"] = attribute
            values[f":v{n}"] = value
            set_parts.append(f"{f'#s{n}' if placeholder else attribute} = :v{n}")
        for n, (attribute, placeholder) in enumerate(removes):
            if placeholder:
                names[f"#r{n}"] = attribute
            remove_parts.append(f"#r{n}" if placeholder else attribute)
        clauses = ([f"SET {', '.join(set_parts)}"] if set_parts else []) + (
            [f"REMOVE {', '.join(remove_parts)}"] if remove_parts else [])
        if not clauses:
            return
        expression = " ".join(reversed(clauses) if remove_first else clauses)
        key = {"pk": {"S": "item"}}
        outcomes = []
        for table, update in (("mine", backend.update_item), ("theirs", lambda *a, **k: moto_update(backend, *a, **k))):
            backend.get_table(table).delete_item(DynamoType(key["pk"]), None)
            if before is not None:
                backend.put_item(table, {**key, **before})
            outcome = _outcome(lambda: update(
                table, key, update_expression=expression, expression_attribute_names=dict(names) or None,
                expression_attribute_values=dict(values) or None, condition_expression=condition,
                return_values_on_condition_check_failure="ALL_OLD" if all_old else None))
            stored = backend.get_table(table).get_item(DynamoType(key["pk"]), None)
            outcomes.append((outcome, stored.to_json() if stored is not None else None))
        assert outcomes[0] == outcomes[1], (expression, names, values, condition, before)

    check()


def test_the_functions_commonest_updates_take_the_direct_way(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    backend = _update_tables()

    def not_expected(*_a, **_k):
        raise AssertionError("moto's validator ran")

    monkeypatch.setattr(UpdateExpressionValidator, "validate", not_expected)
    key = {"pk": {"S": "state#x"}}
    backend.update_item("mine", key, update_expression="SET seq = :seq, #h = :hash",
                        expression_attribute_names={"#h": "hash"},
                        expression_attribute_values={":seq": {"N": "1"}, ":hash": {"S": "abc"}})
    backend.update_item("mine", key, update_expression="SET lease_owner = :owner, lease_until = :until",
                        expression_attribute_names=None,
                        expression_attribute_values={":owner": {"S": "me"}, ":until": {"N": "9"}, ":now": {"N": "5"}},
                        condition_expression="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner")
    item = backend.update_item("mine", key, update_expression="SET #f0 = :f0 REMOVE #r0",
                               expression_attribute_names={"#f0": "follow_up", "#r0": "lease_owner"},
                               expression_attribute_values={":f0": {"M": {"at": {"S": "t"}}}})
    assert item.to_json()["Attributes"] == {"pk": {"S": "state#x"}, "seq": {"N": "1"}, "hash": {"S": "abc"},
                                            "lease_until": {"N": "9"}, "follow_up": {"M": {"at": {"S": "t"}}}}
    # a desk move files the conversation under another queue (an index's key); an overdue claim takes it out
    conversation = {"pk": {"S": "conv#x"}}
    backend.update_item("mine", conversation, update_expression="SET #f0 = :f0, #f1 = :f1",
                        expression_attribute_names={"#f0": "queue", "#f1": "state"},
                        expression_attribute_values={":f0": {"S": "harbor#ASSIGNED"}, ":f1": {"S": "ASSIGNED"}})
    item = backend.update_item("mine", conversation, update_expression="SET #f0 = :f0 REMOVE #r0",
                               expression_attribute_names={"#f0": "overdue_notified_at", "#r0": "queue", "#s": "state"},
                               expression_attribute_values={":f0": {"S": "t"}, ":open": {"S": "ASSIGNED"}},
                               condition_expression="attribute_exists(pk) AND #s = :open")
    assert item.to_json()["Attributes"] == {"pk": {"S": "conv#x"}, "state": {"S": "ASSIGNED"},
                                            "overdue_notified_at": {"S": "t"}}


# --- a bucket's outage, for drills -------------------------------------------------------------------

@pytest.mark.parametrize("direct", [True, False], ids=["in-process", "over-http"])
def test_a_bucket_fault_fails_that_bucket_alone_inside_its_window_and_stop_undoes_it(
        stack, local_aws, monkeypatch: pytest.MonkeyPatch, direct: bool) -> None:
    from datetime import datetime, timedelta, timezone

    from botocore.exceptions import ConnectionClosedError

    from crisiscomms_local import aws
    from crisiscomms_local.emulators import Fault

    monkeypatch.setattr(aws, "_DIRECT_CALLS", direct)
    s3, bucket, other = client("s3"), stack.refs["NewsroomBucket"], stack.refs["ReportBucket"]
    start = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
    now = [start - timedelta(seconds=1)]
    server = aws.LocalAwsServer().start()  # at the session's endpoint, as a drill's is under the tests
    try:
        assert server.fail_bucket(bucket, Fault(start=start, end=start + timedelta(minutes=1), kind="http_status",
                                                status=503), lambda: now[0])
        assert server.fail_bucket(bucket, Fault(start=start + timedelta(minutes=1), end=start + timedelta(minutes=2),
                                                kind="timeout"), lambda: now[0])
        assert server.fail_bucket(bucket, Fault(start=start + timedelta(minutes=2), end=start + timedelta(minutes=3),
                                                kind="timeout_after_send"), lambda: now[0])
        s3.put_object(Bucket=bucket, Key="before", Body=b"1")  # a second before the window: answered

        now[0] = start
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=bucket, Key="in-503", Body=b"1")
        assert refused.value.response["Error"]["Code"] == "SlowDown"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        s3.put_object(Bucket=other, Key="elsewhere", Body=b"1")  # another bucket answers as ever

        now[0] = start + timedelta(minutes=1)
        with pytest.raises(ConnectionClosedError):
            s3.get_object(Bucket=bucket, Key="before")  # no answer at all, reads too

        now[0] = start + timedelta(minutes=2)
        assert s3.get_object(Bucket=bucket, Key="before")["Body"].read() == b"1"  # reads keep their answer
        with pytest.raises(ConnectionClosedError):
            s3.put_object(Bucket=bucket, Key="lost-answer", Body=b"2")
        now[0] = start + timedelta(minutes=3)
        assert s3.get_object(Bucket=bucket, Key="lost-answer")["Body"].read() == b"2"  # the write was made
        assert "in-503" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]

        now[0] = start  # the 503 window again: until the server that added it stops
    finally:
        server.stop()
    s3.put_object(Bucket=bucket, Key="after-stop", Body=b"1")
    assert aws._BUCKET_FAULTS == []


def test_a_bucket_fault_is_refused_where_local_aws_is_not_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta, timezone

    from crisiscomms_local import aws
    from crisiscomms_local.emulators import Fault

    server = aws.LocalAwsServer()
    server.endpoint = "http://127.0.0.1:9"  # an endpoint given in the environment, served elsewhere
    start = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
    fault = Fault(start=start, end=start + timedelta(minutes=1), kind="http_status", status=503)
    assert server.fail_bucket("newsroom", fault, lambda: start) is False
    assert aws._BUCKET_FAULTS == []
