"""The drill's world: simulated clock, local AWS provisioned from the template, platform emulators."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crisiscomms import clock as clock_module
from crisiscomms.clock import SimulatedClock
from crisiscomms.models import Post, stable_id
from crisiscomms.listening.topics import TopicMatcher
from crisiscomms.watch import WatchConfig, parse_watch_config
from crisiscomms_local.aws import LocalAwsServer, Stack, provision, put_watch_config, reset_process_caches
from crisiscomms_local.drill.desk import Desk, subject_of
from crisiscomms_local.drill.scenario import (
    ChannelFault,
    FunctionFault,
    PlatformFault,
    ServiceFault,
    Scenario,
    expand_posts,
    parse_offset,
)
from crisiscomms_local.emulators import Fault, NewsEmulator, XEmulator

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CONFIG = ROOT / "events" / "watch-config.json"
X_TOKEN = "drill-x-bearer-token"
SUPPORTED_DESK_ACTIONS = {"draft", "edit", "submit", "approve", "reject", "publish", "correct", "ack_alert",
                          "expect_refused", "template", "holding", "assign", "close", "reply_template", "reply",
                          "approve_reply", "close_alert"}
SUPPORTED_CHECKS = {"alert", "no_alert", "max_level", "sms", "deliveries", "no_duplicates", "stored_posts",
                    "topic_posts", "audit_chain_valid", "replied_within", "reply_delivered", "no_unapproved_reply",
                    "alert_closed",
                    "effect", "report"}
REPLY_CHECKS = ("replied_within", "reply_delivered", "no_unapproved_reply")
# The bank's own Weibo status that `to_bank` Weibo posts not @-mentioning it are comments under.
BANK_WEIBO_STATUS_TEXT = "早上好，祝大家周末愉快。"


@dataclass(frozen=True)
class FaultWaits:
    """How long a timeout fault holds in real time: clients give up after `client` seconds, an emulator
    stalls its answer `stall` seconds (longer, so the client always gives up first). The drill's are kept
    short, far above a local answer; tests pass shorter ones to the same code."""

    client: float = 0.5
    stall: float = 1.0


DRILL_WAITS = FaultWaits()
# Functions the drill invokes on their schedules; EventBridge delivers at least once, so any may run twice.
SCHEDULED_FUNCTIONS = ("poller", "detector", "reviewer")
# What a scenario may call each function (template.yaml's FunctionName without "Function", any case, or the job
# it does), for `duplicate_invocation` faults.
DRILL_FUNCTIONS = ("poller", "detector", "publisher", "api", "reviewer", "reporter", "digest")
_FUNCTION_ALIASES = {
    "listener": "poller", "listening": "poller",
    "notifier": "detector", "alerter": "detector", "alerts": "detector", "escalator": "detector", "escalation": "detector",
    "deliverer": "publisher", "delivery": "publisher", "fanout": "publisher", "replier": "publisher",
    "replies": "publisher", "replysender": "publisher",
    "deskapi": "api", "desk": "api",
    "review": "reviewer", "effect": "reviewer",
    "report": "reporter", "auditdigest": "digest",
}


def function_named(name: str) -> str | None:
    """The drill function a scenario's name means ("PublisherFunction", "publisher", "notifier"), or None."""
    key = "".join(ch for ch in name.casefold() if ch.isalnum())
    key = key.removesuffix("function") or key
    key = _FUNCTION_ALIASES.get(key, key)
    return key if key in DRILL_FUNCTIONS else None


DIGEST_EVERY_MINUTES = 5    # the Digest function's schedule in template.yaml: rate(5 minutes)


def listened_platforms() -> set[str]:
    """Platforms with a listening adapter and an emulator in this version."""
    from crisiscomms_local.emulators import LISTENING_EMULATORS

    return {"x", *LISTENING_EMULATORS}


@dataclass
class Emulated:
    """One post or article the drill put into an emulator, and what became of it."""

    key: str
    platform: str
    source: str
    created_at: datetime
    text: str
    author: str
    followers: int
    topics: tuple[str, ...]


@dataclass
class World:
    scenario: Scenario
    clock: SimulatedClock
    aws: LocalAwsServer
    stack: Stack
    config: WatchConfig
    x: XEmulator
    news: NewsEmulator
    listening: dict[str, Any] = field(default_factory=dict)  # platform -> its started ListeningEmulator
    post_ids: dict[str, str] = field(default_factory=dict)  # a scenario post's `id` -> the stored post key
    emulated: dict[str, Emulated] = field(default_factory=dict)
    not_replayed: dict[str, int] = field(default_factory=dict)
    after_end: int = 0  # posts and articles the file dates after the drill's last minute: never read
    desk_after_end: list[str] = field(default_factory=list)  # desk actions dated after the replay's last minute
    unsupported: list[str] = field(default_factory=list)
    duplicate_invocations: dict[str, list[datetime]] = field(default_factory=dict)  # scheduled function -> when
    publisher_duplicates: list[datetime] = field(default_factory=list)
    api_duplicates: list[datetime] = field(default_factory=list)  # the next desk change request after each: sent twice
    reporter_duplicates: int = 0  # the next report requests' queue messages delivered twice
    digests: bool = False  # the Digest function runs on its schedule (the audit trail is checked or faulted)
    digests_signed: int = 0
    report_notes: list[str] = field(default_factory=list)  # what the `report` checks injected, for the notes
    source_kinds: list[str] = field(default_factory=list)
    restore_log_stream: Any = None
    desk_world: Any = None
    desk: Desk | None = None
    outages: list[tuple[datetime, datetime, str]] = field(default_factory=list)  # (from, to, service): sns, sqs, dynamodb
    failed_invocations: dict[str, int] = field(default_factory=dict)  # function -> scheduled runs failed in an outage
    levels: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    sms: dict[str, list[str]] = field(default_factory=dict)
    sms_log: list[dict[str, Any]] = field(default_factory=list)
    sms_readback: dict[str, str] = field(default_factory=dict)
    oncall_phone: str = "+85290000001"
    bank_weibo_status: str | None = None
    reply_routes: dict[str, str] = field(default_factory=dict)  # platform -> the emulator its replies reach
    undo_sqs_clock: Any = None
    reports: list[dict[str, Any]] = field(default_factory=list)  # post-crisis reports written, by the `report` checks

    def alerts(self, topic: str | None) -> list[dict[str, Any]]:
        from crisiscomms.aws.alert_store import AlertRepository
        from crisiscomms.aws.audit_log import AuditLog
        from crisiscomms.aws.clients import AwsClients

        refs = self.stack.refs
        log = AuditLog(refs["AuditTable"], refs["StateTable"], clients=AwsClients())
        return AlertRepository(refs["AlertsTable"], refs["StateTable"], log).for_topic(topic or "", limit=100)

    def end_outages(self) -> None:
        """Every injected service outage over (the functions' and the drill's clients answered again)."""
        variables = [f"AWS_ENDPOINT_URL_{service.upper()}" for _, _, service in self.outages]
        if any(v in os.environ for v in variables):
            for variable in variables:
                os.environ.pop(variable, None)
            reset_process_caches()

    def close(self) -> None:
        self.end_outages()
        if self.undo_sqs_clock is not None:
            self.undo_sqs_clock()
        if self.desk_world is not None:
            self.desk_world.close()
        if self.restore_log_stream is not None:
            from crisiscomms.observability import logger

            logger.registered_handler.setStream(self.restore_log_stream)
        self.x.stop()
        self.news.stop()
        for emulator in self.listening.values():
            emulator.stop()
        clock_module.install(None)
        self.aws.stop()


def channel_languages(scenario: Scenario) -> dict[str, list[str]]:
    """The bank's channels publish in the sample configuration's languages, and a channel that one of the
    scenario's statements reaches with none of them publishes in that statement's too, as a bank's X account
    that also posts in Chinese does; the newsroom, a page per language, publishes in every language the
    statements are written in (the drill's deployment is set up for the scenario, as its watch
    configuration is from its topics)."""
    from crisiscomms.models.languages import PUBLISHED_LANGUAGES
    from crisiscomms_local.desk_world import LANGUAGES

    channels_of: dict[str, list[str]] = {}     # a statement's ref -> its channels (a correction keeps them)
    languages_of: dict[str, set[str]] = {}     # a holding template's ref -> its languages
    extra: dict[str, set[str]] = {}
    for action in sorted(scenario.desk, key=lambda a: scenario.at(a.at)):
        spec = action.model_dump(by_alias=True, exclude_none=True)
        if spec["do"] == "template":
            languages_of[spec.get("ref", "")] = set(spec.get("text") or ())
            continue
        if spec["do"] not in ("draft", "correct", "edit", "holding"):
            continue
        channels = spec.get("channels") or channels_of.get(spec.get("corrects") or spec.get("ref") or "", [])
        channels_of.setdefault(spec.get("ref", ""), channels)
        texts = set(spec["text"]) if isinstance(spec.get("text"), dict) else languages_of.get(spec.get("template", ""), set())
        for channel in channels:
            if channel in LANGUAGES and (channel == "newsroom" or not texts & set(LANGUAGES[channel])):
                extra.setdefault(channel, set()).update(texts & set(PUBLISHED_LANGUAGES))
    return {channel: [*default, *sorted(extra.get(channel, set()) - set(default))] for channel, default in LANGUAGES.items()}


def _sample() -> dict[str, Any]:
    return json.loads(SAMPLE_CONFIG.read_text(encoding="utf-8"))


def bank_accounts(scenario: Scenario, listening: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The bank's own account per platform: the scenario's, else the sample configuration's, else the emulator's."""
    sample = _sample().get("accounts", {})
    accounts: dict[str, dict[str, Any]] = {}
    for platform in ("x", *listening):
        if scenario.accounts and platform in scenario.accounts:
            known = sample.get(platform, {})
            handle = scenario.accounts[platform]
            if platform in listening:   # the emulator plays this account (_start_listening): the id is its own
                account_id = listening[platform].default_account().get("id")
            else:
                account_id = known.get("id") if known.get("handle") == handle else None
            accounts[platform] = {"handle": handle, **({"id": account_id} if account_id else {})}
        elif platform in sample:
            accounts[platform] = dict(sample[platform])
        elif platform in listening:
            accounts[platform] = dict(listening[platform].default_account())
    return accounts


def _watch_config(scenario: Scenario, feeds: list[str], news: NewsEmulator, wants_x: bool,
                  listening: dict[str, Any]) -> WatchConfig:
    if scenario.topics:
        topics = [{"id": t.id, "names": t.names, "keywords": t.keywords, "exclude": t.exclude, "ambiguous": t.ambiguous}
                  for t in scenario.topics]
    else:
        topics = _sample()["topics"]
    accounts = bank_accounts(scenario, listening)
    sources: list[dict[str, Any]] = []
    if wants_x:
        sources.append({"id": "x-drill", "platform": "x", "every_minutes": 1, "initial_lookback_minutes": 5})
    for platform, emulator in sorted(listening.items()):
        sources += emulator.watch_sources(accounts.get(platform))
    document = {
        "version": 1,
        "topics": topics,
        "sources": sources,
        "accounts": accounts,
        "feeds": [
            # Alternate formats so every drill exercises both RSS 2.0 and Atom parsing.
            {"name": name, "url": news.url_for(name, "rss" if i % 2 == 0 else "atom"), "language": "en",
             "audience": 500_000, "every_minutes": 1}
            for i, name in enumerate(feeds)
        ],
    }
    return parse_watch_config(document)


def build_world(scenario: Scenario, *, log_stream: Any, waits: FaultWaits = DRILL_WAITS) -> World:
    clock = SimulatedClock(scenario.start)
    clock_module.install(clock)
    aws = LocalAwsServer().start()
    try:
        stack = provision(secrets={"XBearerTokenSecret": X_TOKEN})
        x = XEmulator(clock, bearer_token=X_TOKEN, timeout_delay=waits.stall)
        news = NewsEmulator(clock, timeout_delay=waits.stall)
        x.start()
        news.start()
    except Exception:
        aws.stop()
        clock_module.install(None)
        raise

    posts = expand_posts(scenario)
    feeds = sorted({item.feed for item in scenario.news}
                   | {f.feed for f in scenario.faults if isinstance(f, PlatformFault) and f.feed})
    used = {p["platform"] for p in posts} | {f.platform for f in scenario.faults if isinstance(f, PlatformFault)}
    wants_x = "x" in used
    listening = _start_listening(sorted(used & listened_platforms() - {"x"}), clock, stack, waits.stall, scenario.accounts)
    config = _watch_config(scenario, feeds, news, wants_x, listening)
    world = World(scenario, clock, aws, stack, config, x, news, listening=listening)
    if "x" in config.accounts:
        x.bank_handle = config.accounts["x"].handle
    world.source_kinds = (["x"] if wants_x else []) + sorted(listening) + (["news"] if feeds else [])
    matcher = TopicMatcher.for_watch(config)
    needs_desk = bool(scenario.desk) or any(isinstance(f, ChannelFault) for f in scenario.faults) or any(
        c.check in ("deliveries", "audit_chain_valid", "effect", *REPLY_CHECKS) for c in scenario.expect)
    if needs_desk:
        from crisiscomms_local.desk_world import sqs_follows_clock, start_desk_world
        from crisiscomms_local.drill import replies

        world.desk_world = start_desk_world(stack=stack, clock=clock, timeout_delay=waits.stall,
                                            http_timeout=waits.client, languages=channel_languages(scenario),
                                            accounts=scenario.accounts)
        world.desk = Desk(post_ids=world.post_ids)
        world.reply_routes = replies.configure(world)
        world.undo_sqs_clock = sqs_follows_clock(clock)
    _note_unsupported(world)

    last_minute = scenario.start + scenario.length
    world.after_end = sum(1 for post in posts if post["created_at"] > last_minute) + sum(
        1 for item in scenario.news if scenario.at(item.at) > last_minute)
    # the replay's last minute takes the actions of its whole minute; later ones are never done
    world.desk_after_end = [" ".join(filter(None, (a.do, subject_of(a.model_dump(by_alias=True, exclude_none=True)), "at", a.at)))
                            for a in scenario.desk if scenario.at(a.at) >= last_minute + timedelta(minutes=1)]
    for post in posts:
        platform = post["platform"]
        if post["created_at"] > last_minute:
            continue  # after the end: never heard (the notes count it), though the last poll runs after it
        if platform == "x":
            native_id = x.add_post(
                text=post["text"], author=post["author"], created_at=post["created_at"], followers=post["followers"],
                likes=post["likes"], reposts=post["reposts"], replies=post["replies"], lang=post["lang"],
                location=post["location"], to_bank=post["to_bank"],
            )
            if world.desk_world is not None:
                from crisiscomms_local.drill.replies import mirror_x_post

                mirror_x_post(world, native_id, author=post["author"], text=post["text"], created_at=post["created_at"],
                              to_bank=post["to_bank"])
        elif platform == "weibo" and platform in listening and post["to_bank"] \
                and not _mentions_bank(listening[platform], post["text"]):
            native_id = _weibo_comment(world, post)
        elif platform in listening:
            native_id = listening[platform].add_post(
                text=post["text"], author=post["author"], created_at=post["created_at"], followers=post["followers"],
                likes=post["likes"], reposts=post["reposts"], replies=post["replies"], lang=post["lang"],
                location=post["location"], to_bank=post["to_bank"],
            )
        else:
            world.not_replayed[platform] = world.not_replayed.get(platform, 0) + 1
            continue
        key = f"{platform}#{native_id}"
        if post.get("id"):
            world.post_ids[post["id"]] = key
        _remember(world, matcher, Post(
            platform=platform, native_id=native_id, source_type="social", source_id=f"{platform}-drill", url="",
            author=post["author"], followers=post["followers"], text=post["text"], published_at=post["created_at"],
        ))
    audience = {str(f.name): f.audience for f in config.feeds}
    for item in scenario.news:
        published = scenario.at(item.at)
        if published > last_minute:
            continue
        guid = news.add_item(item.feed, title=item.title, summary=item.summary, published_at=published, lang=item.lang)
        _remember(world, matcher, Post(
            platform="news", native_id=f"{item.feed}#{stable_id(guid)}", source_type="news", source_id=item.feed,
            url="", author=item.feed, followers=audience[item.feed], title=item.title,
            text=item.summary or item.title, published_at=published,
        ))

    for fault in scenario.faults:
        start = scenario.at(fault.at) if fault.at else scenario.at(fault.from_)
        end = scenario.at(fault.to) if fault.to else start + timedelta(minutes=1)
        if isinstance(fault, PlatformFault) and fault.platform in {"x", "news", *listening}:
            emulator = {"x": x, "news": news, **listening}[fault.platform]
            emulator.add_fault(Fault(start=start, end=end, kind=fault.kind, status=fault.status,
                                     retry_after=fault.retry_after, target=fault.feed))
        elif isinstance(fault, FunctionFault) and (named := function_named(fault.function)) in (*SCHEDULED_FUNCTIONS, "digest"):
            world.duplicate_invocations.setdefault(named, []).append(start)
        elif isinstance(fault, FunctionFault) and named == "publisher":
            world.publisher_duplicates.append(start)
        elif isinstance(fault, FunctionFault) and named == "api":
            world.api_duplicates.append(start)
        elif isinstance(fault, FunctionFault) and named == "reporter" and any(
                check.check == "report" for check in scenario.expect):
            world.reporter_duplicates += 1  # the report asked for at the end is the Reporter's next event
        elif isinstance(fault, FunctionFault) and named is None:
            world.unsupported.append(f"fault {fault.model_dump(by_alias=True, exclude_none=True)}: {fault.function!r} is not"
                                     f" a function the drill runs ({', '.join(DRILL_FUNCTIONS)})")
        elif isinstance(fault, ServiceFault):
            world.outages.append((start, end, fault.service))
        elif isinstance(fault, ChannelFault) and _channel_fault(world, fault, start, end):
            pass
        else:
            world.unsupported.append(f"fault {fault.model_dump(by_alias=True, exclude_none=True)}")
    if world.desk is None and any(a.do in SUPPORTED_DESK_ACTIONS for a in scenario.desk):
        world.desk = Desk(post_ids=world.post_ids)

    put_watch_config(stack, config.model_dump_json())
    from crisiscomms_local.aws import client

    for topic_ref in ("OnCallTopic", "EscalationTopic"):
        client("sns").subscribe(TopicArn=stack.refs[topic_ref], Protocol="sms", Endpoint=world.oncall_phone)
        # A queue on the same topic reads back every message the phones were sent.
        queue = client("sqs").create_queue(QueueName=f"{stack.prefix}-{topic_ref}-readback")["QueueUrl"]
        arn = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client("sns").subscribe(TopicArn=stack.refs[topic_ref], Protocol="sqs", Endpoint=arn,
                                Attributes={"RawMessageDelivery": "true"})
        world.sms_readback[topic_ref] = queue
    world.digests = "digest" in world.duplicate_invocations or any(c.check == "audit_chain_valid" for c in scenario.expect)
    if world.digests:  # signs what the functions write into the audit trail, every 5 minutes as deployed
        os.environ.update(stack.function_environment("DigestFunction"))
    if world.desk_world is not None:  # the Reviewer measures what the desk publishes; it reads engagement back
        os.environ.update(stack.function_environment("ReviewerFunction", {"HTTP_TIMEOUT_SECONDS": str(waits.client)}))
    if any(c.check == "report" for c in scenario.expect):  # asked for through the desk API, written by the Reporter
        os.environ.update(stack.function_environment("DeskApiFunction"))
        os.environ.update(stack.function_environment("ReporterFunction"))
    os.environ.update(stack.function_environment("DetectorFunction"))
    os.environ.update(stack.function_environment("PollerFunction", {
        "HTTP_TIMEOUT_SECONDS": str(waits.client),
        "RETRY_BASE_DELAY_SECONDS": "0",
        "X_API_BASE_URL": x.base_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }))
    # The functions keep what they read of the configurations and credentials for the template's default
    # (CONFIG_MAX_AGE_SECONDS), as they do in Lambda; the drill resets the process's caches whenever it
    # changes a configuration itself (replies.configure). Read every invocation, they were a quarter of a
    # bank-run drill's requests.
    os.environ.pop("CONFIG_MAX_AGE_SECONDS", None)
    reset_process_caches()
    from crisiscomms.observability import logger

    world.restore_log_stream = logger.registered_handler.setStream(log_stream)
    return world


# Mastodon files every scripted post under one hashtag the drill's source reads, and shows it in the post as
# Mastodon would: a word no scenario's topic names, so the hashtag never matches a topic ("#examplebank" did)
LISTENING_OPTIONS: dict[str, dict[str, Any]] = {"mastodon": {"listening_hashtag": "drillreplayfeed"}}


def _start_listening(platforms: list[str], clock: SimulatedClock, stack: Stack, stall: float,
                     accounts: dict[str, str] | None = None) -> dict[str, Any]:
    """One emulator per listened platform the scenario uses, playing the scenario's account there (`accounts`),
    its credentials in the platform's secret.

    It takes the bank's channel token where the platform is also a channel (the account is one),
    so the Publisher's replies, sent with the channel token, are accepted where the post is."""
    from crisiscomms_local.aws import client
    from crisiscomms_local.drill.replies import listening_tokens
    from crisiscomms_local.emulators import LISTENING_EMULATORS

    started: dict[str, Any] = {}
    prefix = stack.function_environment("PollerFunction")["SOURCE_SECRET_PREFIX"]
    try:
        for platform in platforms:
            emulator = LISTENING_EMULATORS[platform](clock, timeout_delay=stall, **listening_tokens().get(platform, {}),
                                                     **LISTENING_OPTIONS.get(platform, {}))
            emulator.start()
            started[platform] = emulator
            if accounts and platform in accounts:
                emulator.play_account(accounts[platform])
            client("secretsmanager").put_secret_value(SecretId=f"{prefix}{platform}",
                                                      SecretString=json.dumps(emulator.credentials()))
    except Exception:
        for emulator in started.values():
            emulator.stop()
        raise
    return started


def _mentions_bank(emulator: Any, text: str) -> bool:
    return f"@{emulator.screen_name}".casefold() in text.casefold()


def _weibo_comment(world: World, post: dict[str, Any]) -> str:
    """A `to_bank` Weibo post that does not @ the bank: a comment under the bank's own status (one,
    made a day before the drill starts, with a text that names nothing a topic watches)."""
    weibo = world.listening["weibo"]
    if world.bank_weibo_status is None:
        world.bank_weibo_status = weibo.add_own_post(BANK_WEIBO_STATUS_TEXT,
                                                     created_at=world.scenario.start - timedelta(days=1))
    return weibo.add_comment(text=post["text"], author=post["author"], created_at=post["created_at"],
                             post_id=world.bank_weibo_status, followers=post["followers"], likes=post["likes"],
                             location=post["location"])


def _channel_fault(world: World, fault: ChannelFault, start: datetime, end: datetime) -> bool:
    """A channel fault hits the channel's emulator and, where the drill listens to that platform, the
    reply API of the listening emulator its replies reach (every request of it where the emulator
    cannot aim a fault at one endpoint: Mastodon, Douyin); the newsroom's hits its bucket in local AWS.
    False when nothing could take it."""
    from crisiscomms_local.drill.replies import REPLY_FAULT_TARGETS

    hit = False
    if fault.channel == "newsroom":  # the bank's own site: its bucket in local AWS
        hit = world.aws.fail_bucket(world.stack.refs["NewsroomBucket"], Fault(
            start=start, end=end, kind=fault.kind, status=fault.status, retry_after=fault.retry_after), world.clock)
    if fault.channel in world.desk_world.emulators:
        world.desk_world.emulators[fault.channel].add_fault(Fault(
            start=start, end=end, kind=fault.kind, status=fault.status, retry_after=fault.retry_after))
        hit = True
    if fault.channel in world.reply_routes and fault.channel in REPLY_FAULT_TARGETS:
        world.listening[fault.channel].add_fault(Fault(
            start=start, end=end, kind=fault.kind, status=fault.status, retry_after=fault.retry_after,
            target=REPLY_FAULT_TARGETS[fault.channel]))
        hit = True
    return hit


def _note_unsupported(world: World) -> None:
    """Scenario parts this version cannot run are reported, and fail the drill, rather than skipped silently."""
    scenario = world.scenario
    for action in scenario.desk:
        if action.do not in SUPPORTED_DESK_ACTIONS:
            world.unsupported.append(f"desk action {action.do!r} at {action.at}")


def _remember(world: World, matcher: TopicMatcher, post: Post) -> None:
    world.emulated[post.key] = Emulated(
        key=post.key, platform=post.platform, source=post.source_id, created_at=post.published_at,
        text=post.full_text, author=post.author, followers=post.followers, topics=matcher.match(post),
    )


def offset_of(scenario: Scenario, when: datetime) -> str:
    seconds = int((when - scenario.start).total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}" + (f":{seconds % 60:02d}" if seconds % 60 else "")


__all__ = ["DRILL_WAITS", "FaultWaits", "World", "build_world", "offset_of", "parse_offset"]
