"""What a function's cold start no longer pays for stays unpaid (checked in fresh processes, never timed).

Each function's handler module is imported in a fresh interpreter, and the work its first
invocation does before any request leaves (settings, AWS clients, typed DynamoDB values) is
done there too; then the process must not hold boto3 (the clients are botocore's), powertools'
parameter providers, or a settings model it did not validate. botocore must not have listed
every service directory to find a model.
"""
from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest

from ..conftest import ROOT

FUNCTIONS = ("poller", "detector", "api", "token_scopes", "digest", "publisher")

_FIRST_STEPS = r"""
import importlib.util, json, sys
import botocore.loaders

listed = []
_list = botocore.loaders.Loader.list_available_services
def _listing(self, type_name):
    listed.append(type_name)
    return _list(self, type_name)
botocore.loaders.Loader.list_available_services = _listing

name = sys.argv[1]
spec = importlib.util.spec_from_file_location("app", f"{sys.argv[2]}/functions/{name}/app.py")
spec.loader.exec_module(importlib.util.module_from_spec(spec))

from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.wiring import container

clients = container().clients
for service in ("dynamodb", "ssm", "secretsmanager", "sqs", "sns", "s3", "kms"):
    clients(service)
from_item(to_item({"pk": "x", "n": 1.5, "tags": {"a"}, "data": b"\x00"}))
print(json.dumps({"modules": sorted(sys.modules), "listed": listed}))
"""


@functools.cache  # one fresh interpreter per function and worker: several tests read the same first steps
def _first_steps(name: str) -> dict[str, list[str]]:
    env = {"AWS_DEFAULT_REGION": "eu-west-1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "shared"),
           "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
    out = subprocess.run([sys.executable, "-c", _FIRST_STEPS, name, str(ROOT)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_clients_and_typed_values_do_not_import_boto3(name: str) -> None:
    modules = set(_first_steps(name)["modules"])
    if name != "publisher":  # powertools' idempotency layer imports boto3 itself
        assert "boto3" not in modules, f"{name} imports boto3"
    assert "aws_lambda_powertools.utilities.parameters" not in modules
    assert "aws_xray_sdk" not in modules


def test_no_module_of_the_package_imports_boto3() -> None:
    """Typed DynamoDB values come from crisiscomms.aws.dynamo, clients from botocore (crisiscomms.aws.clients)."""
    import ast

    found = []
    for path in (ROOT / "shared" / "crisiscomms").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "boto3" or n.startswith("boto3.")]
    assert not found, found


def test_the_publisher_does_not_build_powertools_parser_models() -> None:
    """powertools' batch utility imports every event parser model (pydantic) when pydantic is already
    imported, for type hints only: the handler imports it first."""
    assert "aws_lambda_powertools.utilities.parser.models" not in _first_steps("publisher")["modules"]


def test_a_service_model_is_found_without_listing_every_service() -> None:
    assert _first_steps("detector")["listed"] == []


def test_only_the_settings_a_function_validates_are_built() -> None:
    code = ("import crisiscomms.settings as s\n"
            "print(sorted(m.__name__ for m in s.FUNCTION_SETTINGS.values() if m.__pydantic_complete__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "shared")})
    assert out.stdout.strip() == "[]"


def test_idempotency_records_go_through_the_process_s_own_dynamodb_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """A persistence layer with a client of its own would build a second session and load DynamoDB again."""
    import boto3.session

    from crisiscomms.wiring import Container

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a second boto3 session was made")

    monkeypatch.setattr(boto3.session, "Session", refused)
    environ = {"STATEMENTS_TABLE": "statements", "AUDIT_TABLE": "audit", "STATE_TABLE": "state",
               "CHANNELS_CONFIG_PARAMETER": "/channels", "CHANNEL_TOKENS_SECRET": "tokens", "NEWSROOM_BUCKET": "news",
               "IDEMPOTENCY_TABLE": "idempotency", "INBOX_TABLE": "inbox"}
    container = Container(environ)
    container._idempotent_deliver()
    container._idempotent_deliver_reply()
    assert set(container.clients._made) == {"dynamodb"}
