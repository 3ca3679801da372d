"""The API's published contract and its local-only identity switch."""
from __future__ import annotations

import json

from crisiscomms.api import DEV_IDENTITY_HEADER
from crisiscomms.settings import DEV_IDENTITY_SWITCH
from crisiscomms_local.openapi import OPENAPI_PATH, generated
from crisiscomms_local.template import load_template

from ..conftest import ROOT


def test_the_openapi_document_in_the_repo_matches_the_code() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == generated(), "run: python3 tasks.py openapi"


def test_the_document_covers_every_desk_operation() -> None:
    paths = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))["paths"]
    expected = {
        ("/statements", "post"), ("/statements", "get"), ("/statements/{statement_id}", "get"),
        ("/statements/{statement_id}/draft", "put"), ("/statements/{statement_id}/submit", "post"),
        ("/statements/{statement_id}/approve", "post"), ("/statements/{statement_id}/reject", "post"),
        ("/statements/{statement_id}/publish", "post"), ("/statements/{statement_id}/deliveries/{channel}/retry", "post"),
        ("/statements/{statement_id}/corrections", "post"), ("/audit/verify", "get"),
    }
    assert expected <= {(p, m) for p, ops in paths.items() for m in ops}


def test_the_deployed_template_never_enables_the_development_identity_header() -> None:
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    assert DEV_IDENTITY_SWITCH not in text and DEV_IDENTITY_HEADER not in text
    template = load_template()
    for resource in template["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert DEV_IDENTITY_SWITCH not in variables


def test_the_development_header_is_ignored_unless_switched_on() -> None:
    from crisiscomms_local.apigw import rest_event
    from crisiscomms.api import ApiServices, handle
    from crisiscomms.settings import ApiSettings

    assert ApiSettings.model_fields["dev_identity_header"].default == "disabled"

    def no_desk():
        raise AssertionError("the desk must not be reached")

    services = ApiServices(desk=no_desk, alerts=no_desk, verify_audit=no_desk)
    event = rest_event("GET", "/statements", dev_header="mallory:comms-approver")
    result = handle(event, None, services)
    assert result["statusCode"] == 403


def test_every_change_documents_the_idempotency_key_it_may_carry_and_only_changes_do() -> None:
    import re

    document = json.loads(generated())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            keys = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
            if method in ("post", "put"):
                assert len(keys) == 1 and keys[0]["in"] == "header" and not keys[0]["required"], (method, path)
                assert "409" in operation["responses"], (method, path)     # a repeat still being answered
                pattern = re.compile(keys[0]["schema"]["pattern"])
                assert pattern.fullmatch("draft-7f3a") and not pattern.fullmatch("x" * 65), (method, path)
            else:
                assert keys == [], (method, path)
