"""The collector is paused while a function loads and handles its first event, in Lambda only."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_PROBE = r"""
import gc, json, sys
sys.path.insert(0, sys.argv[1])
from crisiscomms import coldstart
seen = {"paused_at_import": not gc.isenabled()}

@coldstart.after_first_invocation
def handler(event, context):
    seen.setdefault("paused_in_first", not gc.isenabled())
    if event == "raise":
        raise RuntimeError("first invocation failed")
    return "ok"

try:
    handler(sys.argv[2], None)
except RuntimeError:
    pass
seen["enabled_after_first"] = gc.isenabled()
seen["frozen"] = gc.get_freeze_count()
handler("again", None)
seen["enabled_after_second"] = gc.isenabled()
print(json.dumps(seen))
"""


def _run(env_extra: dict[str, str], first_event: str = "ok") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_FUNCTION_NAME"} | env_extra
    out = subprocess.run([sys.executable, "-c", _PROBE, str(ROOT / "shared"), first_event], env=env,
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first_event", ["ok", "raise"])
def test_in_lambda_the_collector_is_off_until_the_first_invocation_ends_then_on_with_the_rest_frozen(
        first_event: str) -> None:
    seen = _run({"AWS_LAMBDA_FUNCTION_NAME": "probe"}, first_event)
    assert seen["paused_at_import"] and seen["paused_in_first"]
    assert seen["enabled_after_first"] and seen["enabled_after_second"]
    assert seen["frozen"] > 0


def test_outside_lambda_nothing_changes() -> None:
    seen = _run({})
    assert not seen["paused_at_import"] and not seen["paused_in_first"]
    assert seen["enabled_after_first"] and seen["frozen"] == 0


def test_every_handler_module_pauses_first_and_resumes_after_its_first_invocation() -> None:
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        text = app.read_text(encoding="utf-8")
        body = text.split('"""', 2)[2].lstrip("\n")
        assert body.startswith("from crisiscomms.coldstart import after_first_invocation"), app
        assert "@after_first_invocation\n@" in text or "@after_first_invocation\ndef lambda_handler" in text, app
