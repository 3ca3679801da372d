"""The narratives drill: two stories in two languages, the faster-growing one leads the alert and the list."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crisiscomms_local.drill.runner import main

from ..conftest import ROOT
from .conftest import TEST_WAITS

pytestmark = pytest.mark.integration


@pytest.mark.slow(seconds=4)
def test_the_alert_carries_the_data_breach_rumour_and_both_narratives_are_listed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "result.json"
    assert main([str(ROOT / "events" / "drills" / "narratives.json"), "--json", str(out)], waits=TEST_WAITS) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    harbor = result["narratives"]["harbor"]
    [alert] = harbor["alerts"]
    assert alert["narrative"] == "data_breach", alert
    assert result["sms"] and all("Narrative: Data breach." in m["text"] for m in result["sms"] if m["to"] == "on-call")
    breach, atm = harbor["narratives"]
    assert (breach["id"], breach["rank"], atm["id"], atm["rank"]) == ("data_breach", 1, "withdrawals", 2)
    assert breach["growth"] > atm["growth"] and breach["platforms"]["x"] > 0 and breach["platforms"].get("weibo") == 1
    assert atm["platforms"] == {"weibo": atm["posts"]} and atm["negative_share"] == 1.0
    assert "Narratives, topic harbor, by priority" in printed
    assert f"alert {alert['alert_id']} ({alert['level']}): leading narrative data_breach" in printed
