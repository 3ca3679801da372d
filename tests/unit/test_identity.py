from __future__ import annotations

from crisiscomms.identity import add_group_scopes, scopes_for_groups
from crisiscomms_local.lambda_runtime import invoke

V2_EVENT = {
    "version": "2", "triggerSource": "TokenGeneration_Authentication", "region": "eu-west-1",
    "userPoolId": "eu-west-1_example", "userName": "wang", "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "abc"},
    "request": {
        "userAttributes": {"sub": "1f1e", "email": "wang@example-bank.com"},
        "groupConfiguration": {"groupsToOverride": ["comms-approver", "staff"], "iamRolesToOverride": [], "preferredRole": None},
        "scopes": ["openid", "aws.cognito.signin.user.admin"],
    },
    "response": {"claimsAndScopeOverrideDetails": None},
}


def test_each_known_group_becomes_a_scope_and_nothing_else() -> None:
    assert scopes_for_groups(["auditor", "comms-author", "admins"]) == ["crisiscomms/comms-author", "crisiscomms/auditor"]
    assert scopes_for_groups(None) == []


def test_the_trigger_answers_in_the_v2_shape() -> None:
    answer = invoke("token_scopes", dict(V2_EVENT))
    assert answer["response"]["claimsAndScopeOverrideDetails"] == {
        "accessTokenGeneration": {"scopesToAdd": ["crisiscomms/comms-approver"]}}
    assert add_group_scopes({"request": {}})["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]["scopesToAdd"] == []
