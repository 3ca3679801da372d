"""The data layer's own pieces behave as the boto3 and powertools pieces they stand in for.

Typed DynamoDB values are made and read exactly as boto3's TypeSerializer and TypeDeserializer do
(same values, same errors); the service-model loader loads what botocore's loads; Parameters
caches for `max_age` seconds as powertools' providers did, and never puts a value in an error.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary as Boto3Binary
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from crisiscomms.aws import dynamo
from crisiscomms.aws.parameters import Parameters
from crisiscomms.errors import ConfigurationError

_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
            | st.decimals(allow_nan=True, allow_infinity=True, places=None) | st.text(max_size=8)
            | st.binary(max_size=8) | st.floats(allow_nan=False, allow_infinity=False))
_sets = (st.frozensets(st.text(max_size=4), max_size=3) | st.frozensets(st.integers(), max_size=3)
         | st.frozensets(st.binary(max_size=4), max_size=3) | st.frozensets(st.integers() | st.text(), max_size=3))
_values = st.recursive(_scalars | _sets, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=3) | st.tuples(inner, inner), max_leaves=8)


def _outcome(call: Any, value: Any) -> tuple[str, Any]:
    try:
        return "value", call(value)
    except Exception as exc:  # noqa: BLE001 - the comparison is of what each raises
        return type(exc).__name__, str(exc)


def _comparable(value: Any) -> Any:
    """boto3's Binary and ours compare by their bytes."""
    if isinstance(value, (Boto3Binary, dynamo.Binary)):
        return ("binary", bytes(value.value))
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return ("set", sorted((repr(_comparable(v)) for v in value)))
    if isinstance(value, Decimal) and value.is_nan():
        return "NaN"
    return value


@settings(max_examples=400, deadline=None)
@given(_values)
def test_values_are_typed_as_boto3_types_them(value: Any) -> None:
    ours, theirs = _outcome(dynamo.serialize, value), _outcome(TypeSerializer().serialize, value)
    assert ours[0] == theirs[0]
    if ours[0] != "value":
        assert ours == theirs
        return
    if isinstance(value, (set, frozenset)):  # a set's order is its own; the members are what counts
        (kind, members), = ours[1].items()
        assert theirs[1].keys() == {kind} and sorted(members, key=repr) == sorted(theirs[1][kind], key=repr)
    else:
        assert ours == theirs
        assert _comparable(dynamo.deserialize(ours[1])) == _comparable(TypeDeserializer().deserialize(theirs[1]))


@pytest.mark.parametrize("typed", [
    {"NULL": True}, {"BOOL": False}, {"N": "1.50"}, {"N": "1E+3"}, {"S": "x"}, {"B": b"\x00\x01"},
    {"NS": ["1", "2.5"]}, {"SS": ["a", "b"]}, {"BS": [b"a"]}, {"L": [{"N": "1"}, {"S": "y"}]},
    {"M": {"k": {"L": [{"BOOL": True}]}}}, {"n": "7"}, {"ss": ["a"]},
    {}, {"X": "1"}, {"N": "1" * 39}, {"N": "not a number"},
])
def test_typed_values_are_read_as_boto3_reads_them(typed: dict[str, Any]) -> None:
    ours, theirs = _outcome(dynamo.deserialize, typed), _outcome(TypeDeserializer().deserialize, typed)
    assert ours[0] == theirs[0]
    assert _comparable(ours[1]) == _comparable(theirs[1]) if ours[0] == "value" else ours == theirs


_EDGES = st.sampled_from([10**38 - 1, 10**38, -(10**38 - 1), -(10**38), 0, -7, True, 1.5, "", " s\t", "港湾"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _values | _EDGES, max_size=6))
def test_items_are_typed_as_boto3_types_their_values(values: dict[str, Any]) -> None:
    def theirs(d: dict[str, Any]) -> dict[str, Any]:
        return {k: TypeSerializer().serialize(dynamo._plain(v)) for k, v in d.items() if v is not None}

    ours, expected = _outcome(dynamo.to_item, values), _outcome(theirs, values)
    assert ours[0] == expected[0]
    if ours[0] == "value" and not any(isinstance(v, (set, frozenset)) for v in values.values()):
        assert ours[1] == expected[1]


def test_items_keep_their_python_shape() -> None:
    item = dynamo.to_item({"pk": "a", "score": 0.1234567, "n": 3, "gone": None, "tags": {"x"}, "blob": b"\x00"})
    assert "gone" not in item and item["score"] == {"N": "0.123457"}
    back = dynamo.from_item(item)
    assert back["score"] == 0.123457 and back["n"] == 3 and back["tags"] == {"x"} and bytes(back["blob"]) == b"\x00"


@pytest.mark.parametrize("service", ["dynamodb", "ssm", "secretsmanager", "s3", "sqs"])
@pytest.mark.parametrize("kind", ["service-2", "endpoint-rule-set-1", "paginators-1"])
def test_the_loader_loads_what_botocore_loads(service: str, kind: str) -> None:
    from botocore.loaders import Loader

    from crisiscomms.aws import clients

    # The project's own loader, not the one local AWS shares across a test process (whose cached models
    # botocore's client customisations may already have touched).
    new_loader = getattr(clients.new_loader, "original", clients.new_loader)
    loader = new_loader(None)
    assert loader.load_service_model(service, kind) == Loader().load_service_model(service, kind)
    assert loader.load_service_model(service, kind) is loader.load_service_model(service, kind)


def test_an_unknown_service_is_refused_as_botocore_refuses_it() -> None:
    from botocore.exceptions import UnknownServiceError

    from crisiscomms.aws.clients import new_loader

    with pytest.raises(UnknownServiceError, match="dynamodb"):  # the message lists the services it knows
        new_loader(None).load_service_model("no-such-service", "service-2")


class _Answers:
    """An AwsClients stand-in whose SSM and Secrets Manager count their calls."""

    def __init__(self, *, secret: dict[str, Any] | None = None, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.secret, self.fail = secret or {"SecretString": " token "}, fail

    def __call__(self, service: str) -> Any:
        return self

    def get_parameter(self, *, Name: str, WithDecryption: bool) -> dict[str, Any]:  # noqa: N803 - the SDK's names
        self.calls.append(Name)
        if self.fail:
            raise RuntimeError("AccessDenied for value s3cr3t")
        return {"Parameter": {"Value": f'{{"v": {len(self.calls)}}}'}}

    def get_secret_value(self, *, SecretId: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append(SecretId)
        return self.secret


def test_a_value_is_kept_for_its_max_age_and_read_again_after() -> None:
    now = [100.0]
    answers = _Answers()
    parameters = Parameters(answers, monotonic=lambda: now[0])  # type: ignore[arg-type]
    assert parameters.document("/p", max_age=60) == '{"v": 1}'
    now[0] += 60
    assert parameters.document("/p", max_age=60) == '{"v": 1}'
    now[0] += 0.5
    assert parameters.document("/p", max_age=60) == '{"v": 2}'
    assert parameters.document("/q", max_age=0) == '{"v": 3}'
    assert parameters.document("/q", max_age=0) == '{"v": 4}'
    assert parameters.secret("s", max_age=60) == "token" and parameters.secret("s", max_age=60) == "token"
    assert answers.calls == ["/p", "/p", "/q", "/q", "s"]


def test_a_failed_read_names_the_parameter_and_never_the_value() -> None:
    with pytest.raises(ConfigurationError, match="configuration parameter '/p' could not be read") as raised:
        Parameters(_Answers(fail=True)).document("/p", max_age=60)  # type: ignore[arg-type]
    assert "s3cr3t" not in str(raised.value)


def test_a_binary_or_empty_secret_is_refused() -> None:
    for answer in ({"SecretBinary": b"x"}, {"SecretString": "  "}):
        with pytest.raises(ConfigurationError, match="secret 's' is empty"):
            Parameters(_Answers(secret=answer)).secret("s", max_age=0)  # type: ignore[arg-type]


def test_the_functions_skip_botocore_s_request_check_and_the_test_suite_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from botocore.exceptions import ParamValidationError

    from crisiscomms.aws.clients import AwsClients

    # A function's process, as Lambda starts it: the check is off.
    shown = subprocess.run([sys.executable, "-c", "from crisiscomms.aws.clients import botocore_config; "
                            "print(botocore_config().parameter_validation)"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
    # This suite's processes: on (tests/conftest.py), so a misspelt parameter fails before anything is sent.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    dynamodb = AwsClients()("dynamodb")
    with pytest.raises(ParamValidationError, match="ConsistantRead"):
        dynamodb.get_item(TableName="posts", Key={"pk": {"S": "p"}}, ConsistantRead=True)
