"""A statement mass-sent on WeChat is watched for comments with no article configured: the real API and
Publisher mass-send it and announce it, the real Poller reads and stores its comments."""
from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import pytest

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import from_item, to_item
from crisiscomms.aws.post_store import PostRepository, PostTables
from crisiscomms_local.aws import client, put_watch_config, reset_process_caches
from crisiscomms_local.desk_world import channels_config
from crisiscomms_local.lambda_runtime import invoke

from .conftest import DeskClient

pytestmark = pytest.mark.integration
DAY = "2026-11-28"
TEXT = {"zh": {"full": "港湾银行声明：所有账户正常，部分ATM因线路故障取款延迟，现已恢复。", "short": "港湾银行：所有账户正常，ATM取款已恢复。"}}


def _mass_send_channel(desk: DeskClient) -> None:
    """The desk's WeChat channel publishes by mass send."""
    config = channels_config(desk.world.emulators)
    config["channels"]["wechat"]["options"]["publish_mode"] = "mass_send"
    client("ssm").put_parameter(Name=desk.world.stack.refs["ChannelsConfigParameter"], Value=json.dumps(config),
                                Type="String", Overwrite=True)
    reset_process_caches()


def _as_poller(desk: DeskClient) -> None:
    """Switch this process to the Poller's environment, its WeChat source naming no article."""
    wechat = desk.world.emulators["wechat"]
    os.environ.update(desk.world.stack.function_environment("PollerFunction", {
        "HTTP_TIMEOUT_SECONDS": "0.8", "HTTP_MAX_ATTEMPTS": "2", "RETRY_BASE_DELAY_SECONDS": "0",
        "CONFIG_MAX_AGE_SECONDS": "0", "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}))
    client("secretsmanager").put_secret_value(SecretId=os.environ["SOURCE_SECRET_PREFIX"] + "wechat",
                                              SecretString=json.dumps(wechat.credentials()))
    put_watch_config(desk.world.stack, json.dumps({
        "version": 1, "topics": [{"id": "harbor", "names": ["港湾银行"]}],
        "sources": [{"id": "comments", "platform": "wechat", "every_minutes": 1, "base_url": wechat.base_url}],
        "accounts": {"wechat": wechat.default_account()}}))
    reset_process_caches()


def _poll(desk: DeskClient) -> dict[str, Any]:
    event = {"source": "wechat", "scheduled_time": desk.clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
    [report] = invoke("poller", event)["reports"]
    return report


def _announced() -> set[str]:
    item = client("dynamodb").get_item(TableName=os.environ["STATE_TABLE"], Key=to_item({"pk": "source#wechat#mass-sent"}),
                                       ConsistentRead=True)
    return set(from_item(item.get("Item", {})).get("articles", set()))


def _stored() -> set[str]:
    repo = PostRepository(PostTables(os.environ["POSTS_TABLE"], os.environ["TOPIC_POSTS_TABLE"],
                                     os.environ["AGGREGATES_TABLE"]), clients=AwsClients(), retention_days=1)
    return {p["post_key"] for p in repo.platform_posts("wechat", DAY, limit=1000)}


def test_a_mass_sent_statement_is_announced_and_its_comments_are_stored_by_the_poller(desk: DeskClient) -> None:
    _mass_send_channel(desk)
    wechat = desk.world.emulators["wechat"]
    sid = desk.draft(TEXT, ["wechat"])["id"]
    desk.approve_and_publish(sid)
    desk.world.pump()
    statement = desk.get(sid)
    [delivery] = statement["deliveries"]
    [mass] = wechat.mass_sends
    assert (statement["state"], delivery["state"], delivery["platform_id"]) == ("PUBLISHED", "SENT", str(mass.msg_data_id))
    assert _announced() == {f"{mass.msg_data_id}:0:{int(desk.clock().timestamp())}"}

    _as_poller(desk)
    desk.clock.advance(timedelta(minutes=5))
    comment = wechat.add_comment(mass.msg_data_id, content="港湾银行的声明收到了，ATM确实恢复了",
                                 created_at=desk.clock() - timedelta(minutes=1))
    unwatched = wechat.add_comment(wechat.watched_article, content="港湾银行 这篇没人看",
                                   created_at=desk.clock() - timedelta(minutes=1))
    report = _poll(desk)
    assert (report["status"], report["stored"]) == ("ok", 1), report
    assert _stored() == {f"wechat#{comment}"} and f"wechat#{unwatched}" not in _stored()

    # A week and a day later the statement is no longer watched: no call is spent on it.
    desk.clock.advance(timedelta(days=8))
    calls = len(wechat.requests_log)
    report = _poll(desk)
    assert (report["status"], report["stored"], report["pages"]) == ("ok", 0, 1)
    assert len(wechat.requests_log) == calls
