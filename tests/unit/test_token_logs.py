"""No credential reaches the logs, even with every logger at DEBUG.

Every publishing adapter and both source clients run against their local emulators on
127.0.0.1 while a handler on the root logger keeps every record; no token, secret or key may
appear in any of them (message, arguments, formatted line with its traceback).
"""
from __future__ import annotations

import base64
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from crisiscomms.adapters.channels.bluesky import BlueskyAdapter
from crisiscomms.adapters.channels.mastodon import MastodonAdapter
from crisiscomms.adapters.channels.telegram import TelegramAdapter
from crisiscomms.adapters.channels.webhook import WebhookAdapter
from crisiscomms.adapters.channels.wechat import WeChatAdapter
from crisiscomms.adapters.channels.weibo import WeiboAdapter
from crisiscomms.adapters.channels.x import XAdapter
from crisiscomms.adapters.http import make_client, redact
from crisiscomms.adapters.sources.feeds import FeedClient
from crisiscomms.adapters.sources.x_search import XSearchClient
from crisiscomms.errors import PlatformError
from crisiscomms.models.delivery import DeliveryRequest
from crisiscomms_local.emulators.base import EmulatorServer
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator
from crisiscomms_local.emulators.channels.telegram import TelegramEmulator
from crisiscomms_local.emulators.channels.webhook import WebhookReceiver
from crisiscomms_local.emulators.channels.wechat import WeChatEmulator
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator
from crisiscomms_local.emulators.channels.x_publish import XPublishEmulator
from crisiscomms_local.emulators.feeds import NewsEmulator
from crisiscomms_local.emulators.x import XEmulator

from ..conftest import ROOT

WEIBO_TOKEN = "2.00weibo-token-SECRET-7f3a"
WECHAT_TOKEN = "wechat-token-SECRET-91bc"
TELEGRAM_TOKEN = "987654321:AAtelegram-SECRET-token"
X_SEARCH_TOKEN = "x-search-bearer-SECRET-55"
FEED_KEY = "feed-api-key-SECRET-0d"
WEBHOOK_KEY = b"webhook-signing-key-SECRET-0123"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_KEY).decode()
NEWSROOM = "https://newsroom.examplebank.com/statements/s-42"
HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.connection_pool", "httpcore.http11",
                "httpcore.http2", "httpcore.proxy", "httpcore.socks")


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logs() -> Iterator[Everything]:
    """Root, httpx and httpcore at DEBUG; every record kept."""
    handler = Everything()
    names = ("", *HTTP_LOGGERS)
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _texts(record: logging.LogRecord) -> str:
    parts = [str(record.msg), repr(record.args)]
    try:
        parts.append(record.getMessage())
    except Exception:  # noqa: BLE001 - a broken record still shows its parts above
        pass
    parts.append(logging.Formatter("%(name)s %(message)s").format(record))
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def assert_no_secret(handler: Everything, secrets: list[str]) -> None:
    assert handler.records, "nothing was logged: the test saw nothing"
    for record in handler.records:
        text = _texts(record)
        for secret in secrets:
            assert secret not in text, f"{secret!r} logged by {record.name}: {text[:400]}"


@pytest.fixture
def started() -> Iterator[Callable[[EmulatorServer], httpx.Client]]:
    cleanup: list[Callable[[], None]] = []

    def start(emulator: EmulatorServer) -> httpx.Client:
        base_url = emulator.start()
        cleanup.append(emulator.stop)
        client = make_client(base_url, timeout_seconds=2.0)
        cleanup.append(client.close)
        return client

    yield start
    for step in reversed(cleanup):
        step()


def delivery(channel: str, text: str, **changes: Any) -> DeliveryRequest:
    fields: dict[str, Any] = dict(delivery_id=f"d-{channel}-1", statement_id="s-42", version=1, channel=channel,
                                  language="en", text=text, title="Service restored", newsroom_url=NEWSROOM)
    fields.update(changes)
    return DeliveryRequest(**fields)


TEXT = f"Online banking is fully restored; all payments are complete. Details: {NEWSROOM}"


def _attempt(call: Callable[[], Any]) -> None:
    """Run a call whose failure is expected in some paths; what matters here is what got logged."""
    try:
        call()
    except PlatformError:
        logging.getLogger("crisiscomms.tests").exception("platform call failed")


def test_every_adapter_and_source_client_at_debug_logs_no_token(logs: Everything, started, sim_clock) -> None:
    secrets = [WEIBO_TOKEN, WECHAT_TOKEN, TELEGRAM_TOKEN, X_SEARCH_TOKEN, FEED_KEY, WEBHOOK_SECRET,
               WEBHOOK_SECRET.removeprefix("whsec_")]

    weibo = WeiboEmulator(sim_clock, access_token=WEIBO_TOKEN, timeout_delay=0.4)
    adapter = WeiboAdapter(started(weibo), access_token=WEIBO_TOKEN, uid=weibo.uid, clock=sim_clock)
    adapter.publish(delivery("weibo", TEXT))
    assert adapter.find(delivery("weibo", TEXT)) is not None  # GET with access_token in the query string
    _attempt(lambda: WeiboAdapter(started(WeiboEmulator(sim_clock, access_token="other")), access_token=WEIBO_TOKEN,
                                  uid="1", clock=sim_clock).find(delivery("weibo", TEXT)))

    wechat = WeChatEmulator(sim_clock, access_token=WECHAT_TOKEN, thumb_media_ids=("THUMB-1",), timeout_delay=0.4)
    adapter = WeChatAdapter(started(wechat), access_token=WECHAT_TOKEN, thumb_media_id="THUMB-1", author="Newsroom",
                            clock=sim_clock, sleep=lambda _: None, poll_interval=0.0)
    request = delivery("wechat", "Online banking is fully restored.\nAll payments are complete.")
    sent = adapter.publish(request)
    adapter.confirm(request, sent)
    adapter.find(request)

    telegram = TelegramEmulator(sim_clock, bot_token=TELEGRAM_TOKEN, timeout_delay=0.4)
    adapter = TelegramAdapter(started(telegram), bot_token=TELEGRAM_TOKEN, chat_id="@examplebank", clock=sim_clock)
    adapter.publish(delivery("telegram", TEXT))
    _attempt(lambda: TelegramAdapter(started(TelegramEmulator(sim_clock)), bot_token=TELEGRAM_TOKEN,
                                     chat_id="@examplebank", clock=sim_clock).publish(delivery("telegram", TEXT)))

    x = XPublishEmulator(sim_clock, timeout_delay=0.4)
    secrets.append(x.access_token)
    adapter = XAdapter(started(x), access_token=x.access_token, user_id=x.user_id, username=x.username, clock=sim_clock)
    adapter.publish(delivery("x", TEXT))
    adapter.find(delivery("x", TEXT))

    mastodon = MastodonEmulator(sim_clock, timeout_delay=0.4)
    secrets.append(mastodon.access_token)
    adapter = MastodonAdapter(started(mastodon), access_token=mastodon.access_token, account_id=mastodon.account_id,
                              clock=sim_clock)
    adapter.publish(delivery("mastodon", TEXT))
    adapter.find(delivery("mastodon", TEXT))

    bluesky = BlueskyEmulator(sim_clock, timeout_delay=0.4)
    secrets.append(bluesky.access_jwt)
    adapter = BlueskyAdapter(started(bluesky), did=bluesky.did, handle=bluesky.account_handle,
                             access_jwt=bluesky.access_jwt, clock=sim_clock)
    adapter.publish(delivery("bluesky", TEXT))
    adapter.find(delivery("bluesky", TEXT))

    receiver = WebhookReceiver(sim_clock, secret=WEBHOOK_SECRET, timeout_delay=0.4)
    http = started(receiver)
    adapter = WebhookAdapter(http, url=receiver.url, secret=WEBHOOK_SECRET, clock=sim_clock)
    adapter.publish(delivery("webhook", TEXT))

    search = XEmulator(sim_clock, bearer_token=X_SEARCH_TOKEN, timeout_delay=0.4)
    search.add_post(text="Example Bank app down again", author="someone", created_at=sim_clock() - timedelta(minutes=1))
    client = XSearchClient(started(search), bearer_token=X_SEARCH_TOKEN, clock=sim_clock)
    client.search("bank", source_id="x-test", start_time=sim_clock() - timedelta(hours=1))
    _attempt(lambda: XSearchClient(started(XEmulator(sim_clock)), bearer_token=X_SEARCH_TOKEN, clock=sim_clock)
             .search("bank", source_id="x-test"))

    news = NewsEmulator(sim_clock, timeout_delay=0.4)
    news.add_item("wire", title="Example Bank restores service", summary="All systems up",
                  published_at=sim_clock() - timedelta(minutes=5))
    feeds = FeedClient(started(news), clock=sim_clock)
    for fmt in ("rss", "atom"):
        # a feed URL carrying a key: the key must not be logged with the URL
        feeds.fetch(f"{news.url_for('wire', fmt)}?key={FEED_KEY}&token={FEED_KEY}", feed_name="wire",
                    audience=1000, language="en")

    assert_no_secret(logs, secrets)
    assert any(r.name == "httpx" for r in logs.records)  # httpx did log the requests, redacted
    assert any(r.name.startswith("httpcore") for r in logs.records)


@pytest.mark.parametrize("url", [
    "https://api.weixin.qq.com/cgi-bin/draft/add?access_token=SECRET",
    "https://api.weibo.com/2/statuses/user_timeline.json?uid=1&access_token=SECRET&count=20",
    "https://api.telegram.org/botSECRET/sendMessage",
    "https://feeds.example/rss.xml?key=SECRET",
    "https://feeds.example/rss.xml?a=1&api_key=SECRET#top",
    "https://x.example/?token=SECRET",
    "https://x.example/?client_secret=SECRET&x=1",
    "https://x.example/?signature=SECRET",
    "https://x.example/?X-Amz-Signature=SECRET&X-Amz-Security-Token=SECRET",
    "Authorization: Bearer SECRET",
])
def test_redact_masks_every_token_shape(url: str) -> None:
    assert "SECRET" not in redact(url)


def test_redact_keeps_what_is_not_a_secret() -> None:
    url = "https://api.x.com/2/tweets/search/recent?query=bank&next_token=abc&max_results=100"
    assert redact(url) == url


def test_a_fresh_process_at_info_logs_no_token_and_quiets_httpx() -> None:
    """Nothing but making a client: no adapter constructed, so nothing else installs the filter."""
    script = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
import httpx
from crisiscomms.adapters.http import make_client
client = make_client("https://api.weixin.qq.com", timeout_seconds=1)
client._transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
for name in ("httpx", "httpcore", "httpcore.http11"):
    logging.getLogger(name).setLevel(logging.DEBUG)  # even when someone turns them up
client.get("/cgi-bin/draft/add", params={"access_token": "TOKEN-IN-QUERY"})
client.get("https://feeds.example/rss.xml", params={"key": "KEY-IN-QUERY"})
client.get("https://api.telegram.org/bot1234:TELEGRAM-TOKEN/getMe")
print("LEVELS", logging.getLogger("httpx").level, logging.getLogger("httpcore").level)
"""
    quiet = """
import logging, sys
import crisiscomms.observability
print(logging.getLogger("httpx").getEffectiveLevel(), logging.getLogger("httpcore").getEffectiveLevel())
"""
    env = {"PYTHONPATH": f"{ROOT / 'shared'}", "PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-west-1",
           "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True)
    logged = out.stdout + out.stderr
    assert "HTTP Request" in logged  # httpx did log: the filter, not the level, kept the tokens out
    for secret in ("TOKEN-IN-QUERY", "KEY-IN-QUERY", "TELEGRAM-TOKEN"):
        assert secret not in logged
    levels = subprocess.run([sys.executable, "-c", quiet], capture_output=True, text=True, env=env, timeout=60,
                            check=True).stdout.split()
    assert levels == [str(logging.WARNING), str(logging.WARNING)]
