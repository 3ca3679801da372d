"""Local DynamoDB's shortcuts (crisiscomms_local.moto_transactions) give the answers moto itself gives.

The scale benchmark made local AWS cheaper per stored post; each shortcut is checked here against
moto's own code path on an in-process backend of its own (no server, no other test's tables).
"""
from __future__ import annotations

import copy
import uuid

import pytest

from crisiscomms_local import moto_transactions
from crisiscomms_local.aws import speed_up_moto

speed_up_moto()  # installs the shortcuts, as starting local AWS does

from moto.dynamodb.comparisons import get_filter_expression  # noqa: E402
from moto.dynamodb.exceptions import ItemSizeTooLarge  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models.dynamo_type import DynamoType, Item  # noqa: E402


@pytest.fixture
def backend() -> DynamoDBBackend:
    return DynamoDBBackend("eu-west-1", "000000000042")


def _table(backend: DynamoDBBackend) -> str:
    name = f"t{uuid.uuid4().hex[:8]}"
    backend.create_table(
        name, schema=[{"AttributeName": "topic", "KeyType": "HASH"}, {"AttributeName": "minute_key", "KeyType": "RANGE"}],
        throughput=None,
        attr=[{"AttributeName": "topic", "AttributeType": "S"}, {"AttributeName": "minute_key", "AttributeType": "S"},
              {"AttributeName": "ranked", "AttributeType": "S"}],
        global_indexes=[{"IndexName": "by_rank", "KeySchema": [{"AttributeName": "ranked", "KeyType": "HASH"}],
                         "Projection": {"ProjectionType": "ALL"}}],
        indexes=None, streams=None, billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[],
        deletion_protection_enabled=None, warm_throughput=None)
    return name


KEY = {"topic": {"S": "harbor"}, "minute_key": {"S": "2026-11-28T09:20#social"}}
MINUTE = {  # what crisiscomms.aws.post_store sends for every stored post
    "UpdateExpression": "ADD #posts :posts, #negative :negative, #sentiment_sum :sentiment_sum, #reach :reach"
                        " SET #minute = :minute, #source_type = :source_type, #expires_at = :expires_at",
    "ExpressionAttributeNames": {f"#{k}": k for k in ("posts", "negative", "sentiment_sum", "reach", "minute",
                                                       "source_type", "expires_at")},
}


def _values(posts: int, negative: int, sentiment: str, reach: int) -> dict:
    return {":posts": {"N": str(posts)}, ":negative": {"N": str(negative)}, ":sentiment_sum": {"N": sentiment},
            ":reach": {"N": str(reach)}, ":minute": {"S": "2026-11-28T09:20"}, ":source_type": {"S": "social"},
            ":expires_at": {"N": "1830000000"}}


def _get(backend: DynamoDBBackend, table: str) -> dict:
    item = backend.get_table(table).get_item(DynamoType(KEY["topic"]), DynamoType(KEY["minute_key"]))
    return item.to_json() if item is not None else {}


def test_the_minute_aggregate_update_gives_what_moto_gives(backend: DynamoDBBackend) -> None:
    mine, theirs = _table(backend), _table(backend)
    for values in (_values(1, 1, "-0.500000", 1200), _values(1, 0, "0.250000", 30), _values(1, 1, "-1", 7),
                   _values(1, 0, "0.000001", 0)):
        op = {**MINUTE, "ExpressionAttributeValues": values, "TableName": mine, "Key": KEY}
        table = backend.get_table(mine)
        current = table.get_item(DynamoType(KEY["topic"]), DynamoType(KEY["minute_key"]))
        assert moto_transactions._simple_update(table, KEY, current, op) is True
        backend.update_item(theirs, KEY, update_expression=MINUTE["UpdateExpression"],
                            expression_attribute_names=MINUTE["ExpressionAttributeNames"],
                            expression_attribute_values=values)
        assert _get(backend, mine) == _get(backend, theirs)
    assert _get(backend, mine)["Attributes"]["posts"] == {"N": "4"}
    assert _get(backend, mine)["Attributes"]["sentiment_sum"] == {"N": "-1.249999"}


@pytest.mark.parametrize("expression, names, values", [
    ("ADD n :n", {}, {":n": {"N": "1"}}),                                                  # a bare name
    ("ADD #s :s", {"#s": "s"}, {":s": {"SS": ["a"]}}),                                     # a set
    ("SET #t = :t", {"#t": "topic"}, {":t": {"S": "x"}}),                                  # a key attribute
    ("SET #r = :r", {"#r": "ranked"}, {":r": {"S": "x"}}),                                 # an index key
    ("SET #a = :a REMOVE #b", {"#a": "a", "#b": "b"}, {":a": {"S": "x"}}),                 # another clause
    ("ADD #a :a, #a :b", {"#a": "a"}, {":a": {"N": "1"}, ":b": {"N": "2"}}),               # one attribute twice
    ("ADD #a :a", {"#a": "a"}, {":a": {"N": "1"}, ":unused": {"N": "2"}}),                 # an unused value
    ("SET #a.#b = :v", {"#a": "a", "#b": "b"}, {":v": {"S": "x"}}),                        # a nested path
    ("SET #a = #a + :v", {"#a": "a"}, {":v": {"N": "1"}}),                                 # arithmetic
    ("SET #l = :l", {"#l": "l"}, {":l": {"L": [{"S": "x"}]}}),                             # a list value
    ("ADD #a :a", {"#a": "a"}, {":a": {"N": "not a number"}}),                             # not a number
])
def test_anything_else_is_left_to_moto(backend: DynamoDBBackend, expression: str, names: dict, values: dict) -> None:
    table = backend.get_table(_table(backend))
    op = {"UpdateExpression": expression, "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    assert moto_transactions._simple_update(table, KEY, None, op) is False
    assert table.get_item(DynamoType(KEY["topic"]), DynamoType(KEY["minute_key"])) is None


def test_an_update_with_its_own_condition_or_on_a_text_attribute_is_left_to_moto(backend: DynamoDBBackend) -> None:
    table = backend.get_table(_table(backend))
    op = {"UpdateExpression": "ADD #a :a", "ExpressionAttributeNames": {"#a": "a"},
          "ExpressionAttributeValues": {":a": {"N": "1"}}}
    assert moto_transactions._simple_update(table, KEY, None, {**op, "ConditionExpression": "attribute_exists(#a)"}) is False
    backend.put_item(table.name, {**KEY, "a": {"S": "text"}})
    current = table.get_item(DynamoType(KEY["topic"]), DynamoType(KEY["minute_key"]))
    assert moto_transactions._simple_update(table, KEY, current, op) is False
    assert current.attrs["a"] == DynamoType({"S": "text"})


def test_a_condition_parsed_once_still_answers_for_its_own_names_and_values() -> None:
    item = Item(DynamoType({"S": "k"}), None, {"pk": {"S": "k"}, "a": {"N": "5"}})
    assert get_filter_expression("attribute_not_exists(#x)", {"#x": "a"}, None).expr(item) is False
    assert get_filter_expression("attribute_not_exists(#x)", {"#x": "b"}, None).expr(item) is True
    assert get_filter_expression("#x < :v", {"#x": "a"}, {":v": {"N": "6"}}).expr(item) is True
    assert get_filter_expression("#x < :v", {"#x": "a"}, {":v": {"N": "4"}}).expr(item) is False
    assert get_filter_expression("#x < :v", {"#x": "a"}, {":v": {"N": "6"}}).expr(item) is True


def test_a_projection_of_top_level_attributes_is_those_attributes() -> None:
    attrs = {"pk": {"S": "k"}, "n": {"N": "1.50"}, "l": {"L": [{"S": "x"}, {"N": "2"}]},
             "m": {"M": {"x": {"S": "y"}, "z": {"L": [{"BOOL": True}]}}}, "ss": {"SS": ["b", "a"]},
             "t": {"BOOL": False}, "nothing": {"NULL": True}, "other": {"S": "left out"}}
    item = Item(DynamoType({"S": "k"}), None, attrs)
    projected = item.project([["n"], ["l"], ["m"], ["ss"], ["t"], ["nothing"], ["absent"]])
    expected = {k: v for k, v in item.to_json()["Attributes"].items() if k in ("n", "l", "m", "ss", "t", "nothing")}
    assert projected.to_json()["Attributes"] == expected
    # the stored values themselves, not copies: the answer is JSON before its request lets go of the lock
    assert all(projected.attrs[name] is item.attrs[name] for name in projected.attrs)
    nested = item.project([["m", "x"]])                                # moto's own way for a nested path
    assert nested.to_json()["Attributes"] == {"m": {"M": {"x": {"S": "y"}}}}


def test_an_item_is_still_refused_over_the_size_limit() -> None:
    Item(DynamoType({"S": "k"}), None, {"pk": {"S": "k"}, "big": {"S": "x" * 404_000}})
    with pytest.raises(ItemSizeTooLarge):
        Item(DynamoType({"S": "k"}), None, {"pk": {"S": "k"}, "big": {"S": "x" * 300_000}, "more": {"S": "y" * 110_000}})


def test_a_deep_copy_of_an_item_is_independent() -> None:
    item = Item(DynamoType({"S": "k"}), None, {"pk": {"S": "k"}, "l": {"L": [{"S": "x"}]}})
    copied = copy.deepcopy(item)
    copied.attrs["l"].value.append(DynamoType({"S": "y"}))
    assert item.to_json() != copied.to_json()


SIZED = {"s": {"S": "港湾银行 app"}, "n": {"N": "-12.500"}, "b": {"B": b"\x00\xff"}, "b64": {"B": "AAE="},
         "t": {"BOOL": True}, "f": {"BOOL": False}, "nothing": {"NULL": True}, "ss": {"SS": ["a", "银行"]},
         "ns": {"NS": ["1", "22.5"]}, "bs": {"BS": [b"\x01", b"\x02\x03"]}, "empty": {"L": []}, "m0": {"M": {}},
         "l": {"L": [{"S": "x"}, {"N": "2"}, {"L": [{"BOOL": False}, {"M": {"k": {"SS": ["v"]}}}]}]},
         "m": {"M": {"x": {"S": "y"}, "z": {"L": [{"NULL": True}]}, "deep": {"M": {"n": {"N": "7"}, "b": {"B": b"z"}}}}}}


def test_sizes_are_moto_s_own_for_every_type_and_every_item() -> None:
    own_value, own_item = moto_transactions.MOTO_OWN[(DynamoType, "size")], moto_transactions.MOTO_OWN[(Item, "size")]
    assert DynamoType.size is not own_value and Item.size is not own_item
    for name, raw in SIZED.items():
        value = DynamoType(raw)
        assert value.size() == own_value(value), name
    raw_map = DynamoType({"M": {}})
    raw_map.value["plain"] = {"S": "a value moto left unwrapped"}  # a map value that is not yet a DynamoType
    assert raw_map.size() == own_value(raw_map) > 0
    item = Item(DynamoType({"S": "k"}), None, {"pk": {"S": "k"}, **SIZED})
    assert item.size() == own_item(item) > 0


def _dynamodb_request(action: str, body: bytes) -> object:
    from werkzeug.test import EnvironBuilder

    return EnvironBuilder(method="POST", path="/", data=body, headers={
        "X-Amz-Target": f"DynamoDB_20120810.{action}", "Content-Type": "application/x-amz-json-1.0"}).get_request()


def _parsed(parse: object, request: object) -> dict:
    from moto.dynamodb.responses import DynamoHandler

    handler = DynamoHandler()
    handler.uri_match, handler.querystring, handler.headers = {}, {}, request.headers  # type: ignore[attr-defined]
    parse(handler, request)  # type: ignore[operator]
    return handler.params


TEXTUAL = {k: v for k, v in SIZED.items() if k not in ("b", "b64", "bs", "m")}  # no binary value anywhere
TEXTUAL_MAP = {"M": {"x": {"S": "y"}, "z": {"L": [{"NULL": True}]}, "deep": {"M": {"n": {"N": "7"}, "ss": {"SS": ["a"]}}}}}
REQUESTS = [
    ("PutItem", {"TableName": "t", "Item": {"pk": {"S": "k"}, **TEXTUAL, "m": TEXTUAL_MAP},
                 "ConditionExpression": "attribute_not_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
    ("Query", {"TableName": "t", "IndexName": "by_time", "KeyConditionExpression": "#p = :p AND #t < :t",
               "ExpressionAttributeNames": {"#p": "queue", "#t": "created_at"},
               "ExpressionAttributeValues": {":p": {"S": "harbor#NEW"}, ":t": {"S": "2026-11-28T09:00:00Z"}},
               "Limit": 25, "ScanIndexForward": False, "ConsistentRead": False,
               "ExclusiveStartKey": {"pk": {"S": "a"}, "n": {"N": "3"}}}),
    ("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "m": TEXTUAL_MAP}}},
        {"Update": {"TableName": "t", "Key": {"pk": {"S": "b"}}, "UpdateExpression": "ADD #n :one",
                    "ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "c"}}, "ConditionExpression": "attribute_exists(pk)"}}],
        "ClientRequestToken": "token-1"}),
    ("BatchGetItem", {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}], "ConsistentRead": True}}}),
]


@pytest.mark.parametrize("action,body", REQUESTS, ids=[r[0] for r in REQUESTS])
def test_an_item_request_read_as_json_is_what_moto_s_parser_gives(action: str, body: dict) -> None:
    import json

    from moto.dynamodb.responses import DynamoHandler

    from crisiscomms_local.aws import MOTO_OWN_PARSE

    own = MOTO_OWN_PARSE[DynamoHandler]
    assert DynamoHandler.parse_parameters is not own
    raw = json.dumps(body).encode()
    assert _parsed(DynamoHandler.parse_parameters, _dynamodb_request(action, raw)) == \
        _parsed(own, _dynamodb_request(action, raw)) == body


def test_a_request_with_a_binary_value_is_left_to_moto_s_parser() -> None:
    import base64
    import json

    from moto.dynamodb.responses import DynamoHandler

    from crisiscomms_local.aws import MOTO_OWN_PARSE

    body = {"TableName": "t", "Item": {"pk": {"S": "k"}, "blob": {"B": base64.b64encode(b"\x00\xff").decode()},
                                       "set": {"BS": [base64.b64encode(b"\x01").decode()]}}}
    raw = json.dumps(body).encode()
    parsed = _parsed(DynamoHandler.parse_parameters, _dynamodb_request("PutItem", raw))
    assert parsed == _parsed(MOTO_OWN_PARSE[DynamoHandler], _dynamodb_request("PutItem", raw))
    assert parsed["Item"]["blob"] == {"B": b"\x00\xff"} and parsed["Item"]["set"] == {"BS": [b"\x01"]}
