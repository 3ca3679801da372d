"""What a function's first event no longer loads stays unloaded, and what it still checks is still checked.

Each function's handler handles its first event in a fresh interpreter against local AWS (never
timed); then the process must not hold what that function does not need (README "Benchmarks",
cold start).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from crisiscomms.errors import ConfigurationError
from crisiscomms.watch import X_QUERY_MAX_LENGTH, Topic, _x_query_bound, build_x_query, parse_watch_config

_FIRST_EVENT = r"""
import json, sys
from crisiscomms_local.lambda_runtime import invoke

result = invoke(sys.argv[1], json.loads(sys.argv[2]))
print(json.dumps({"result": result, "modules": sorted(sys.modules)}, default=str))
"""


def _first_event(stack: Any, function: str, logical: str, event: dict[str, Any]) -> tuple[Any, set[str]]:
    """The function's first event in a fresh process, with its environment from template.yaml."""
    env = {key: os.environ[key] for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION") if key in os.environ}
    env.update(stack.function_environment(logical))
    env.update({"PATH": "/usr/bin:/bin", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": "ERROR"})
    out = subprocess.run([sys.executable, "-c", _FIRST_EVENT, function, json.dumps(event)], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    return answer["result"], set(answer["modules"])


# --- the Detector reads the watch configuration without the scorer ------------------------------------------

def test_the_detector_s_first_event_does_not_import_the_scorer(stack: Any) -> None:
    """The X query is built from the topics in both scripts (the scorer's table) only when a Poller
    searches; the Detector validates the same document without it."""
    from crisiscomms_local.aws import put_watch_config

    put_watch_config(stack, json.dumps({"topics": [{"id": "harbor", "names": ["港湾银行", "Harbor Bank"],
                                                    "hashtags": ["港湾银行"]}],
                                        "sources": [{"id": "x-main", "platform": "x"}]}))
    result, modules = _first_event(stack, "detector", "DetectorFunction", {"job": "detect"})
    assert [t["topic"] for t in result["topics"]] == ["harbor"] and not result["topics"][0].get("error")
    assert {"crisiscomms.watch", "crisiscomms.detection.levels", "crisiscomms.inbox.overdue"} <= modules
    assert not {m for m in modules if m == "crisiscomms.scoring" or m.startswith("crisiscomms.scoring.")}
    # the overdue check's due times come without triage's text rules; the store's figures without the places' tables
    assert "crisiscomms.inbox.triage" not in modules and "crisiscomms.places" not in modules


def _names_config(names: list[str]) -> dict[str, Any]:
    return {"topics": [{"id": "harbor", "names": names}], "sources": [{"id": "x-main", "platform": "x"}]}


def _over_the_limit_with_traditional_spellings() -> dict[str, Any]:
    """30 names that fit X's limit in Simplified alone (310 characters) and not with their Traditional spellings."""
    names = [f"港湾银行{n:02d}" for n in range(30)]
    assert len(build_x_query([Topic(id="t", names=names)])) > X_QUERY_MAX_LENGTH
    assert len(f"({' OR '.join(names)}) -is:retweet") <= X_QUERY_MAX_LENGTH
    return _names_config(names)


def test_a_query_over_the_limit_only_with_its_traditional_spellings_is_still_refused() -> None:
    with pytest.raises(ConfigurationError, match=f"over X's limit of {X_QUERY_MAX_LENGTH}"):
        parse_watch_config(_over_the_limit_with_traditional_spellings())


@pytest.mark.parametrize("function", ["poller", "detector"])
def test_every_function_refuses_a_configuration_whose_built_query_is_too_long(function: str, stack: Any) -> None:
    """As before the bound: the Poller and the Detector stop on it, naming the limit."""
    from crisiscomms.wiring import Container
    from crisiscomms_local.aws import put_watch_config

    put_watch_config(stack, json.dumps(_over_the_limit_with_traditional_spellings()))
    if function == "poller":
        poller = Container(stack.function_environment("PollerFunction"))
        run = lambda: poller.poll({"source": "x"}, remaining_seconds=lambda: 60.0, run_id="r")  # noqa: E731
    else:
        run = Container(stack.function_environment("DetectorFunction")).run_detector
    with pytest.raises(ConfigurationError, match=f"over X's limit of {X_QUERY_MAX_LENGTH}"):
        run()


def test_over_the_bound_the_real_query_decides() -> None:
    """Han names without a Traditional spelling: the bound counts them twice, the query once."""
    names = [f"平安{n:02d}" for n in range(40)]
    topics = [Topic(id="harbor", names=names)]
    assert _x_query_bound(topics, None) > X_QUERY_MAX_LENGTH >= len(build_x_query(topics))
    config = parse_watch_config(_names_config(names))
    assert config.query_for(config.sources[0]) == build_x_query(topics)


def test_the_bound_is_never_below_the_query() -> None:
    """Over topics mixing Simplified, Traditional, Latin, spaces and repeats, across two topics."""
    pieces = ["港湾银行", "港灣銀行", "银行", "Harbor Bank", "HB", "挤兑", "擠兌", "取钱 排队", "示例", "平安"]
    for n in range(200):
        picked = [pieces[(n * 7 + i * 3) % len(pieces)] + ("" if i % 3 else str(n % 5)) for i in range(1 + n % 6)]
        topics = [Topic(id="a", names=picked, keywords=picked[::-1][: n % 3], hashtags=picked[: n % 4],
                        ambiguous=picked[1:2]),
                  Topic(id="b", names=picked[::2], accounts=["HarborBank"])]
        handle = "@HarborBank" if n % 2 else None
        assert _x_query_bound(topics, handle) >= len(build_x_query(topics, bank_handle=handle))


def test_only_han_characters_have_a_traditional_spelling_of_their_own_length() -> None:
    """What the bound rests on: outside the range it counts, the scorer's table changes nothing, and
    it never changes a character's count."""
    from crisiscomms.scoring import to_traditional
    from crisiscomms.watch import _has_han

    every = "".join(map(chr, range(0x20, 0x30000)))
    spelled = to_traditional(every)
    assert len(spelled) == len(every)
    changed = {c for c, t in zip(every, spelled) if c != t}
    assert changed and all(_has_han(c) for c in changed)


# --- the desk API imports what its routes need, not what the wiring builds on first use of a route ------------

def test_the_api_s_first_statement_does_not_import_other_routes_use_cases(stack: Any) -> None:
    """Use cases named in the routes only as types (exports, the auditor's reads, alerts, a topic's
    distribution) and the effect rules' watch configuration are imported when their routes are used."""
    from crisiscomms_local.apigw import rest_event

    draft = {"channels": ["telegram"], "text": {"zh": {"full": "我行服务已恢复。", "short": "我行服务已恢复。"}}}
    event = rest_event("POST", "/statements", body=draft, user="li", groups=["comms-author"])
    result, modules = _first_event(stack, "api", "DeskApiFunction", event)
    assert result["statusCode"] == 201, result
    assert {"crisiscomms.api", "crisiscomms.statements.desk", "crisiscomms.review.effect"} <= modules
    assert not modules & {"crisiscomms.watch", "crisiscomms.places", "crisiscomms.listening.distribution",
                          "crisiscomms.auditing.export", "crisiscomms.auditing.queries", "crisiscomms.detection.alerts"}


# --- botocore's data files are read into dicts --------------------------------------------------------------

_LOADERS = r"""
import json, botocore.loaders
from crisiscomms.aws.clients import new_loader

def mappings(value, seen):
    if isinstance(value, dict):
        seen.add(type(value).__name__)
        value = list(value.values())
    for item in value if isinstance(value, list) else ():
        mappings(item, seen)
    return seen

ours, botocores = new_loader(None), botocore.loaders.Loader()
found = []
for service, kind in [(s, k) for s in ("s3", "dynamodb") for k in ("service-2", "endpoint-rule-set-1")] + [(None, None)]:
    mine = ours.load_data("endpoints") if service is None else ours.load_service_model(service, kind)
    theirs = botocores.load_data("endpoints") if service is None else botocores.load_service_model(service, kind)
    found.append({"types": sorted(mappings(mine, set())), "same": mine == theirs,
                  "order": json.dumps(mine) == json.dumps(theirs)})
print(json.dumps(found))
"""


def test_service_data_is_read_into_plain_dicts_with_the_same_content() -> None:
    """botocore reads its JSON into OrderedDicts, about twice as slow; the content and its order must not change
    (a fresh process: the tests share one loader between their clients and local AWS)."""
    out = subprocess.run([sys.executable, "-c", _LOADERS], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout)
    assert found == [{"types": ["dict"], "same": True, "order": True}] * 5
