"""Retention per record kind as configured: the template's parameters, the functions' settings and the tables' TTL."""
from __future__ import annotations

import pytest

from crisiscomms.settings import ApiSettings, DetectorSettings, PollerSettings
from crisiscomms_local.template import load_template, resources_of_type

TEMPLATE = load_template()
# parameter -> (default, function, variable, settings model)
RETENTION = {
    "PostRetentionDays": (400, "PollerFunction", "POST_RETENTION_DAYS", PollerSettings),
    "AggregateRetentionDays": (400, "PollerFunction", "AGGREGATE_RETENTION_DAYS", PollerSettings),
    "AlertRetentionDays": (0, "DetectorFunction", "ALERT_RETENTION_DAYS", DetectorSettings),
    "LessonRetentionDays": (0, "DeskApiFunction", "LESSON_RETENTION_DAYS", ApiSettings),
}


@pytest.mark.parametrize("parameter", sorted(RETENTION))
def test_each_retention_is_a_parameter_given_to_the_function_that_writes_the_records(parameter: str) -> None:
    default, function, variable, model = RETENTION[parameter]
    spec = TEMPLATE["Parameters"][parameter]
    assert (spec["Type"], spec["Default"]) == ("Number", default)
    variables = TEMPLATE["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables[variable] == {"Ref": parameter}
    field = next(f for f in model.model_fields.values() if f.alias == variable)
    assert field.default == default, "the settings' default is the template's"


def test_posts_and_figures_expire_by_ttl_and_statements_deliveries_and_audit_entries_cannot() -> None:
    tables = resources_of_type(TEMPLATE, "AWS::DynamoDB::Table")

    def ttl(logical: str) -> dict | None:
        return tables[logical]["Properties"].get("TimeToLiveSpecification")

    for logical in ("PostsTable", "TopicPostsTable", "AggregatesTable", "AlertsTable"):
        assert ttl(logical) == {"AttributeName": "expires_at", "Enabled": True}, logical
    for logical in ("StatementsTable", "AuditTable", "InboxTable"):
        assert ttl(logical) is None, f"{logical} keeps its records: no TTL"


@pytest.mark.parametrize(("model", "variable", "bad"), [
    (PollerSettings, "POST_RETENTION_DAYS", "0"),
    (PollerSettings, "AGGREGATE_RETENTION_DAYS", "0"),
    (DetectorSettings, "ALERT_RETENTION_DAYS", "-1"),
    (ApiSettings, "LESSON_RETENTION_DAYS", "-1"),
])
def test_a_retention_out_of_range_stops_the_function_naming_the_variable(model: type, variable: str, bad: str) -> None:
    from crisiscomms.errors import ConfigurationError
    from crisiscomms.settings import load_settings

    environ = {f.alias: "x" * 3 for f in model.model_fields.values() if f.is_required()}
    load_settings(model, environ)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings(model, {**environ, variable: bad})
