"""template.yaml: lint clean before and after the SAM transform, and the properties we promise."""
from __future__ import annotations

import json

import pytest

from crisiscomms.listening.polling import SOURCE_KINDS
from crisiscomms_local.template import (
    TEMPLATE_PATH,
    lint,
    lint_schedule_expressions,
    lint_template_and_transform,
    load_template,
    resources_of_type,
    sam_transform,
)

TEMPLATE = load_template()


@pytest.mark.slow(seconds=5)
def test_template_lints_clean_as_written_and_after_sam_transform() -> None:
    assert lint_template_and_transform() == []


BREAKAGES = [  # (where, what, how its error names it, why the linter must catch it)
    (("Globals", "Function", "Runtime"), "python3.99", "'python3.99'", "a runtime Lambda does not have"),
    (("Resources", "PollerFunction", "Properties", "Events", "PollX", "Properties", "ScheduleExpression"),
     "rate(1 minutes)", "rate(1 minutes)", "a malformed schedule"),
    (("Resources", "PollerFunction", "Properties", "Environment", "Variables", "POSTS_TABLE"), {"Ref": "NoSuchTable"},
     "'NoSuchTable'", "a dangling Ref"),
]


@pytest.mark.slow(seconds=3)
def test_lint_after_transform_catches_what_it_must() -> None:
    """Each breakage is named by its own error: one template carries all of them, so one lint run
    (seconds each) checks every case."""
    broken = load_template()
    for path, bad_value, _, _ in BREAKAGES:
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = bad_value
    transformed = sam_transform(broken)
    errors = lint(json.dumps(transformed)) + lint_schedule_expressions(transformed)
    for _, _, named, why in BREAKAGES:
        assert any(named in error for error in errors), f"{why} went unnoticed: {errors}"


def test_each_function_gets_exactly_the_environment_its_settings_read() -> None:
    from crisiscomms.settings import FUNCTION_SETTINGS

    shared = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    assert all(name.startswith("POWERTOOLS_") for name in shared), "Globals carry only powertools' own variables"
    functions = resources_of_type(TEMPLATE, "AWS::Serverless::Function")
    assert set(FUNCTION_SETTINGS) <= set(functions)
    for name, model in FUNCTION_SETTINGS.items():
        given = set(functions[name]["Properties"].get("Environment", {}).get("Variables", {}))
        fields = {f.alias for f in model.model_fields.values()}
        required = {f.alias for f in model.model_fields.values() if f.is_required()}
        assert given <= fields, f"{name} is given variables its settings never read: {sorted(given - fields)}"
        assert required <= given, f"{name} lacks required variables: {sorted(required - given)}"
    for name, function in functions.items():
        if name not in FUNCTION_SETTINGS:
            assert not function["Properties"].get("Environment", {}).get("Variables"), f"{name} reads no settings"


def test_the_transform_is_made_once_per_template_and_each_caller_gets_its_own_copy() -> None:
    from crisiscomms_local.template import _transformed

    first = sam_transform(TEMPLATE)
    first["Resources"].clear()
    again = sam_transform(load_template())
    assert again["Resources"] and again == _transformed.__wrapped__(json.dumps(TEMPLATE), "eu-west-1")
    other = load_template()
    other["Globals"]["Function"]["MemorySize"] = 1024
    assert sam_transform(other) != again, "another template is expanded on its own"


def test_tables_keep_data_safe() -> None:
    for name, table in resources_of_type(TEMPLATE, "AWS::DynamoDB::Table").items():
        assert table.get("DeletionPolicy") == "Retain", name
        assert table.get("UpdateReplacePolicy") == "Retain", name
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


def test_policies_grant_no_wildcard_table_actions() -> None:
    transformed = sam_transform(TEMPLATE)
    for name, role in resources_of_type(transformed, "AWS::IAM::Role").items():
        for policy in _both_branches(role["Properties"].get("Policies", [])):
            document = json.dumps(policy["PolicyDocument"])
            statements = policy["PolicyDocument"]["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                actions = statement.get("Action", [])
                actions = actions if isinstance(actions, list) else [actions]
                assert not any(a in ("*", "dynamodb:*") for a in actions), (name, document)
                assert not any(a.startswith("dynamodb:") and a.endswith(("Scan", "DeleteTable")) for a in actions), (name, actions)
                if "dynamodb:DeleteItem" in actions:  # only powertools idempotency records may be deleted
                    assert statement["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}, (name, statement)
                if any(a.startswith("dynamodb:") for a in actions):
                    assert statement.get("Resource") not in ("*", ["*"]), (name, statement)


def _both_branches(policies: list[dict]) -> list[dict]:
    """Policies behind a condition count whichever way the condition goes."""
    out = []
    for policy in policies:
        if "Fn::If" in policy:
            out += [p for p in policy["Fn::If"][1:] if p != {"Ref": "AWS::NoValue"}]
        else:
            out.append(policy)
    return out


def test_one_schedule_per_source_kind_whose_input_names_it() -> None:
    events = TEMPLATE["Resources"]["PollerFunction"]["Properties"]["Events"]
    named = sorted(json.loads(e["Properties"]["Input"])["source"] for e in events.values() if e["Type"] == "ScheduleV2")
    assert named == sorted(SOURCE_KINDS)


def test_every_table_and_config_name_is_an_output() -> None:
    outputs = {json.dumps(o["Value"]) for o in TEMPLATE["Outputs"].values()}
    for kind in ("AWS::DynamoDB::Table", "AWS::SSM::Parameter", "AWS::SecretsManager::Secret"):
        for name in resources_of_type(TEMPLATE, kind):
            assert json.dumps({"Ref": name}) in outputs, name


def test_functions_run_on_arm64_with_json_logs_and_tracing() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["LoggingConfig"]["LogFormat"] == "JSON"
    assert function_globals["Tracing"] == "Active"
    assert TEMPLATE_PATH.name == "template.yaml"


def test_posts_refused_by_dynamodb_page_on_call_for_every_source_kind() -> None:
    """The Poller sets a refused post apart and moves on; the alarm is what keeps that from being silent."""
    alarm = TEMPLATE["Resources"]["PostsRefusedAlarm"]["Properties"]
    stats = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert sorted(dict((d["Name"], d["Value"]) for d in s["Metric"]["Dimensions"])["source_kind"]
                  for s in stats) == sorted(SOURCE_KINDS)
    for stat in stats:
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], stat["Stat"]) == (
            "CrisisComms", "PostsRefused", "Sum")
        assert {"Name": "service", "Value": "crisiscomms"} in stat["Metric"]["Dimensions"]
    summed = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    assert [m.get("Expression") for m in summed] == ["SUM(METRICS())"]
    assert alarm["AlarmActions"] == [{"Ref": "EscalationTopic"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_a_delivery_reaches_its_outcome_before_sqs_gives_up_and_a_dead_letter_pages_on_call() -> None:
    """Each attempt, each later look for a lost answer and each later check of a post the platform has
    only accepted is one receive of the message: the queue must allow them all, or a delivery would stay
    SENDING (or unconfirmed) with its message in the dead-letter queue."""
    from crisiscomms.settings import PublisherSettings
    from crisiscomms.statements.publisher import LOST_ANSWER_LOOKS

    attempts = PublisherSettings.model_fields["max_delivery_attempts"].default
    queue = TEMPLATE["Resources"]["DeliveryQueue"]["Properties"]
    later = max(LOST_ANSWER_LOOKS - 1, attempts - 1)  # after the last attempt: looks, or confirmation checks
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= attempts + later + 1
    alarm = TEMPLATE["Resources"]["DeliveryDeadLetterAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "QueueName"]}}]
    assert alarm["AlarmActions"] == [{"Ref": "EscalationTopic"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
