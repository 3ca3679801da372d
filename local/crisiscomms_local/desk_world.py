"""Local AWS plus every channel emulator, wired for the desk API and the Publisher.

Used by the tests, the drill and `tasks.py serve`. The delivery queue is drained by `pump`,
which hands SQS event batches to the real Publisher handler and deletes what it processed,
as the Lambda SQS integration does (a failed message is made visible again at once here,
standing in for its visibility timeout).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from crisiscomms import clock as clock_module
from crisiscomms_local.aws import LocalAwsServer, Stack, provision, reset_process_caches
from crisiscomms_local.emulators.channels.bluesky import BlueskyEmulator
from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator
from crisiscomms_local.emulators.channels.telegram import TelegramEmulator
from crisiscomms_local.emulators.channels.webhook import WebhookReceiver
from crisiscomms_local.emulators.channels.wechat import WeChatEmulator
from crisiscomms_local.emulators.channels.weibo import WeiboEmulator
from crisiscomms_local.emulators.channels.x_publish import XPublishEmulator
from crisiscomms_local.lambda_runtime import invoke

NEWSROOM = "https://newsroom.examplebank.com"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"local-webhook-signing-secret-32b").decode()
LANGUAGES = {"newsroom": ["zh", "en"], "x": ["en"], "weibo": ["zh"], "wechat": ["zh"], "mastodon": ["en"],
             "bluesky": ["en"], "telegram": ["zh"], "webhook": ["en"]}
TOKENS = {"x": "local-x-user-token", "mastodon": "local-mastodon-token", "bluesky": "local-bsky-access-jwt",
          "telegram": "123456789:AAlocal-telegram-token", "weibo": "local-weibo-token", "wechat": "local-wechat-token",
          "webhook": WEBHOOK_SECRET}


@dataclass
class DeskWorld:
    stack: Stack
    emulators: dict[str, Any]
    aws: LocalAwsServer | None = None
    processed: int = 0
    redeliveries: list[str] = field(default_factory=list)
    languages: dict[str, list[str]] | None = None  # each channel's, as configured (None: LANGUAGES)

    def summary(self) -> dict[str, str]:
        return {name: em.base_url for name, em in self.emulators.items()}

    def channel_posts(self, channel: str) -> list[Any]:
        """What a channel shows the public (for checks): one entry per post/article/webhook."""
        if channel == "newsroom":
            from crisiscomms_local.aws import client

            listing = client("s3").list_objects_v2(Bucket=self.stack.refs["NewsroomBucket"], Prefix="statements/")
            return [o["Key"] for o in listing.get("Contents", [])]
        em = self.emulators[channel]
        for attr in ("posts", "articles", "received", "messages", "statuses", "records"):
            if hasattr(em, attr):
                return list(getattr(em, attr))
        raise AttributeError(f"{type(em).__name__} exposes no list of what it published")

    def newsroom_feed(self) -> list[str]:
        """The newsroom feed's items as a reader gets them (title and summary each), read with feedparser."""
        import feedparser
        from botocore.exceptions import ClientError

        from crisiscomms.aws.newsroom_site import FEED_KEY
        from crisiscomms_local.aws import client

        try:
            body = client("s3").get_object(Bucket=self.stack.refs["NewsroomBucket"], Key=FEED_KEY)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return []  # nothing published there yet
            raise
        return [f"{entry.get('title', '')}\n{entry.get('summary', '')}" for entry in feedparser.parse(body).entries]

    def pump(self, *, rounds: int = 20, duplicate_next: bool = False) -> int:
        """Drain the delivery queue through the Publisher; returns how many messages were handled."""
        from crisiscomms_local.aws import client

        url = self.stack.refs["DeliveryQueue"]
        handled = 0
        to_retry: list[str] = []
        for _ in range(rounds):
            batch = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                                  AttributeNames=["All"]).get("Messages", [])
            if not batch:
                break
            records = [_sqs_record(m, self.stack.arns["DeliveryQueue"]) for m in batch]
            if duplicate_next:
                records += [dict(r) for r in records]
                self.redeliveries += [r["messageId"] for r in records[: len(batch)]]
                duplicate_next = False
            try:
                result = invoke("publisher", {"Records": records}, timeout_seconds=30)
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except BatchProcessingError:
                failed = {m["MessageId"] for m in batch}  # every record failed: Lambda returns the batch
            done = [m for m in batch if m["MessageId"] not in failed]
            to_retry += [m["ReceiptHandle"] for m in batch if m["MessageId"] in failed]  # invisible for the rest of this pump
            if done:  # one DeleteMessageBatch, as the Lambda SQS integration does
                client("sqs").delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
            handled += len(batch)
        for receipt in to_retry:
            # Its visibility timeout, compressed: visible again for the next pump.
            client("sqs").change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
        self.processed += handled
        return handled

    def close(self) -> None:
        for em in self.emulators.values():
            em.stop()
        if self.aws is not None:
            self.aws.stop()


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
                       "SentTimestamp": attributes.get("SentTimestamp", "0"), "SenderId": "local",
                       "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0")},
        "messageAttributes": {}, "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "eu-west-1",
    }


def channels_config(emulators: dict[str, Any], languages: dict[str, list[str]] | None = None) -> dict[str, Any]:
    languages = languages or LANGUAGES
    em = emulators
    channels = {
        "newsroom": {"languages": languages["newsroom"], "options": {"site_title": "Example Bank Newsroom"}},
        "x": {"languages": languages["x"], "account": getattr(em["x"], "username", "examplebank"),
              "base_url": em["x"].base_url, "options": {"user_id": getattr(em["x"], "user_id", "1234567890")}},
        "mastodon": {"languages": languages["mastodon"], "account": getattr(em["mastodon"], "username", "examplebank"),
                     "base_url": em["mastodon"].base_url, "options": {"account_id": "109876543210987654"}},
        "bluesky": {"languages": languages["bluesky"],
                    "account": getattr(em["bluesky"], "account_handle", "examplebank.bsky.social"),
                    "base_url": em["bluesky"].base_url, "options": {"did": "did:plc:examplebank0000000000000"}},
        "telegram": {"languages": languages["telegram"], "account": "@examplebank", "base_url": em["telegram"].base_url},
        "weibo": {"languages": languages["weibo"], "account": "5566778899", "base_url": em["weibo"].base_url},
        "wechat": {"languages": languages["wechat"], "base_url": em["wechat"].base_url,
                   "options": {"thumb_media_id": "THUMB_MEDIA_ID", "author": "Example Bank", "poll_interval": "0"}},
        "webhook": {"languages": languages["webhook"], "base_url": em["webhook"].base_url + "/hooks/crisiscomms"},
    }
    return {"newsroom_base_url": NEWSROOM, "channels": channels}


def start_desk_world(*, stack: Stack | None = None, timeout_delay: float = 0.6, http_timeout: float = 0.3,
                     clock: Any = None, languages: dict[str, list[str]] | None = None,
                     accounts: dict[str, str] | None = None) -> DeskWorld:
    """Provision (unless given a stack), start every channel emulator and point the functions at them.
    `accounts` (platform -> handle, a drill scenario's): the channels publish as those accounts, so a post
    that mentions the bank's X account may be answered there, and delivery links name the bank's accounts."""
    aws = None
    if stack is None:
        aws = LocalAwsServer().start()
        stack = provision(secrets={"XBearerTokenSecret": "local", "ChannelTokensSecret": json.dumps(TOKENS)})
    else:
        from crisiscomms_local.aws import client

        client("secretsmanager").put_secret_value(SecretId=stack.refs["ChannelTokensSecret"], SecretString=json.dumps(TOKENS))
    now = clock or clock_module.now
    emulators: dict[str, Any] = {
        "x": XPublishEmulator(now, timeout_delay=timeout_delay,
                              **({"username": accounts["x"].lstrip("@")} if accounts and accounts.get("x") else {})),
        "mastodon": MastodonEmulator(now, timeout_delay=timeout_delay),
        "bluesky": BlueskyEmulator(now, timeout_delay=timeout_delay),
        "telegram": TelegramEmulator(now, timeout_delay=timeout_delay),
        "weibo": WeiboEmulator(now, access_token=TOKENS["weibo"], timeout_delay=timeout_delay),
        "wechat": WeChatEmulator(now, access_token=TOKENS["wechat"], timeout_delay=timeout_delay),
        "webhook": WebhookReceiver(now, secret=WEBHOOK_SECRET, timeout_delay=timeout_delay),
    }
    for platform, handle in (accounts or {}).items():
        if platform in ("mastodon", "bluesky", "weibo"):
            emulators[platform].play_account(handle)
    for em in emulators.values():
        em.start()
    from crisiscomms_local.aws import client

    client("ssm").put_parameter(Name=stack.refs["ChannelsConfigParameter"], Value=json.dumps(channels_config(emulators, languages)),
                                Type="String", Overwrite=True)
    env = {**stack.function_environment("DeskApiFunction"), **stack.function_environment("PublisherFunction")}
    env.update({"HTTP_TIMEOUT_SECONDS": str(http_timeout), "CONFIG_MAX_AGE_SECONDS": "0",
                "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_IDEMPOTENCY_DISABLED": "false"})
    os.environ.update(env)
    reset_process_caches()
    return DeskWorld(stack=stack, emulators=emulators, aws=aws, languages=languages)


def new_request_id() -> str:
    return str(uuid.uuid4())


def sqs_follows_clock(clock: Callable[[], datetime]) -> Callable[[], None]:
    """Make local SQS's delays and visibility timeouts pass with a simulated clock; returns the undo.

    moto (in this process) keeps them in real time, so a reply the Publisher defers by its pace or
    by a platform's Retry-After would stay invisible for minutes of a replay that runs an hour in
    seconds. From this call on, SQS's time is real time plus how far `clock` has moved forward since
    then (never back), so a message deferred by 60 s is visible once the simulated clock moved 60 s.
    Against another endpoint (AWS_ENDPOINT_URL given) delays stay real.
    """
    import moto.sqs.models as sqs_models

    start = clock()
    ahead = [0.0]
    real_time, real_millis = sqs_models.unix_time, sqs_models.unix_time_millis

    def skew() -> float:
        ahead[0] = max(ahead[0], (clock() - start).total_seconds())
        return ahead[0]

    def unix_time(dt: Any = None) -> float:
        return real_time(dt) if dt is not None else real_time() + skew()

    def unix_time_millis(dt: Any = None) -> float:
        return real_millis(dt) if dt is not None else real_millis() + skew() * 1000.0

    sqs_models.unix_time, sqs_models.unix_time_millis = unix_time, unix_time_millis

    def undo() -> None:
        sqs_models.unix_time, sqs_models.unix_time_millis = real_time, real_millis

    return undo

