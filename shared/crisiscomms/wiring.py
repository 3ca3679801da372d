"""The composition root: each function's collaborators, built once per process from its settings.

Handlers call `container()` and one method of it; everything expensive (settings, AWS clients,
parameter caches, HTTP pools, repositories, adapters) lives in the one `Container` and is built
on first use. `reset()` forgets it all (tests and drills switch environments). Collaborators
are passed into the capabilities; nothing below this module looks anything up.

Imports of capabilities happen inside the builders, so a function loads only what it uses.
"""
from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from crisiscomms import clock
from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.parameters import Parameters
from crisiscomms.errors import ConfigurationError
from crisiscomms.settings import (
    ApiSettings,
    DetectorSettings,
    DigestSettings,
    PollerSettings,
    PublisherSettings,
    ReviewerSettings,
    load_settings,
)

if TYPE_CHECKING:
    from datetime import datetime

    from crisiscomms.api import ApiServices
    from crisiscomms.audit.verification import Verification
    from crisiscomms.aws.audit_log import AuditLog
    from crisiscomms.aws.digest_store import DigestStore
    from crisiscomms.listening.polling import Listener
    from crisiscomms.models.delivery import ChannelAdapter, ReplyAdapter
    from crisiscomms.statements.render import ChannelAccount, ChannelsConfig
    from crisiscomms.watch import WatchConfig

T = TypeVar("T")


# --- the channel adapter registry --------------------------------------------------------------

DEFAULT_BASE_URLS = {
    "x": "https://api.x.com",
    "bluesky": "https://bsky.social",
    "telegram": "https://api.telegram.org",
    "weibo": "https://api.weibo.com",
    "wechat": "https://api.weixin.qq.com",
}


@dataclass(frozen=True)
class ChannelParts:
    """What a channel adapter is built from."""

    channel: str
    config: ChannelsConfig
    account: ChannelAccount
    token: Callable[[str], str]
    http: Callable[[], Any]
    clients: AwsClients
    newsroom_bucket: str
    clock: clock.Clock


def _newsroom(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.aws.newsroom_site import NewsroomAdapter

    return NewsroomAdapter(p.newsroom_bucket, clients=p.clients, base_url=str(p.config.newsroom_base_url),
                           site_title=p.account.options.get("site_title", "Newsroom"), clock=p.clock)


def _x(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.adapters.channels.x import XAdapter

    return XAdapter(p.http(), access_token=p.token("x"), user_id=p.account.options["user_id"],
                    username=p.account.account, clock=p.clock)


def _mastodon(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.adapters.channels.mastodon import MastodonAdapter

    return MastodonAdapter(p.http(), access_token=p.token("mastodon"), account_id=p.account.options["account_id"],
                           clock=p.clock)


def _bluesky(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.adapters.channels.bluesky import BlueskyAdapter

    return BlueskyAdapter(p.http(), did=p.account.options["did"], handle=p.account.account,
                          access_jwt=p.token("bluesky"), clock=p.clock)


def _telegram(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.adapters.channels.telegram import TelegramAdapter

    return TelegramAdapter(p.http(), bot_token=p.token("telegram"), chat_id=p.account.account, clock=p.clock)


def _weibo(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.adapters.channels.weibo import WeiboAdapter

    return WeiboAdapter(p.http(), access_token=p.token("weibo"), uid=p.account.account, clock=p.clock)


def _wechat(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.adapters.channels.wechat import WeChatAdapter

    opts = p.account.options
    return WeChatAdapter(p.http(), access_token=p.token("wechat"), thumb_media_id=opts["thumb_media_id"],
                         author=opts.get("author", ""), clock=p.clock, poll_interval=float(opts.get("poll_interval", "3")),
                         publish_mode=opts.get("publish_mode", "freepublish"))


def _webhook(p: ChannelParts) -> ChannelAdapter:
    from crisiscomms.adapters.channels.webhook import WebhookAdapter

    return WebhookAdapter(p.http(), url=str(p.account.base_url), secret=p.token("webhook"), clock=p.clock)


CHANNEL_ADAPTERS: Mapping[str, Callable[[ChannelParts], ChannelAdapter]] = {
    "newsroom": _newsroom, "x": _x, "mastodon": _mastodon, "bluesky": _bluesky, "telegram": _telegram,
    "weibo": _weibo, "wechat": _wechat, "webhook": _webhook,
}


# --- the reply adapter registry ------------------------------------------------------------------
# Replies go out as the bank's official accounts: a platform it publishes on answers with its
# channel's account and token (ChannelParts, as above); Douyin and Reddit, where it only listens, with
# the listening secret's account and token (`listening_credentials`, read only: the Poller renews it).

DEFAULT_REPLY_BASE_URLS = {**DEFAULT_BASE_URLS, "douyin": "https://open.douyin.com", "reddit": "https://oauth.reddit.com"}


@dataclass(frozen=True)
class ReplyParts:
    """What a reply adapter is built from: its channel's parts (no account for Douyin) and the
    listening credentials (fresh: read the secret again, past the cache)."""

    channel: ChannelParts
    listening_credentials: Callable[[bool], dict[str, Any]]


def _x_replies(p: ReplyParts) -> ReplyAdapter:
    from crisiscomms.adapters.replies.x import XReplies

    c = p.channel
    return XReplies(c.http(), access_token=c.token("x"), user_id=c.account.options["user_id"],
                    username=c.account.account or "", clock=c.clock)


def _weibo_replies(p: ReplyParts) -> ReplyAdapter:
    from crisiscomms.adapters.replies.weibo import WeiboReplies

    c = p.channel
    return WeiboReplies(c.http(), access_token=c.token("weibo"), uid=c.account.account or "", clock=c.clock)


def _wechat_replies(p: ReplyParts) -> ReplyAdapter:
    from crisiscomms.adapters.replies.wechat import WeChatReplies

    c = p.channel
    return WeChatReplies(c.http(), access_token=c.token("wechat"), thumb_media_id=c.account.options.get("thumb_media_id", ""),
                         author=c.account.options.get("author", ""), clock=c.clock)


def _mastodon_replies(p: ReplyParts) -> ReplyAdapter:
    from crisiscomms.adapters.replies.mastodon import MastodonReplies

    c = p.channel
    return MastodonReplies(c.http(), access_token=c.token("mastodon"), account_id=c.account.options["account_id"],
                           clock=c.clock)


def _bluesky_replies(p: ReplyParts) -> ReplyAdapter:
    from crisiscomms.adapters.replies.bluesky import BlueskyReplies

    c = p.channel
    return BlueskyReplies(c.http(), did=c.account.options["did"], handle=c.account.account or "",
                          access_jwt=c.token("bluesky"), clock=c.clock)


def _douyin_replies(p: ReplyParts) -> ReplyAdapter:
    from crisiscomms.adapters.replies.douyin import DouyinReplies

    return DouyinReplies(p.channel.http(), credentials=p.listening_credentials, clock=p.channel.clock)


def _reddit_replies(p: ReplyParts) -> ReplyAdapter:
    from crisiscomms.adapters.replies.reddit import RedditReplies

    return RedditReplies(p.channel.http(), credentials=p.listening_credentials, clock=p.channel.clock)


REPLY_ADAPTERS: Mapping[str, Callable[[ReplyParts], ReplyAdapter]] = {
    "x": _x_replies, "weibo": _weibo_replies, "wechat": _wechat_replies, "douyin": _douyin_replies,
    "mastodon": _mastodon_replies, "bluesky": _bluesky_replies, "reddit": _reddit_replies,
}
LISTENING_ONLY_REPLIES = frozenset({"douyin", "reddit"})  # no publishing channel: no channel account needed


# --- the listening source registry ---------------------------------------------------------------

DEFAULT_SOURCE_HOSTS = {
    "weibo": "https://api.weibo.com",
    "wechat": "https://api.weixin.qq.com",
    "douyin": "https://open.douyin.com",
    "bluesky": "https://bsky.social",
    "reddit": "https://oauth.reddit.com",
}


@dataclass(frozen=True)
class SourceParts:
    """What a listening adapter is built from, for one configured source.

    `announced_articles` reads what the Publisher recorded as mass-sent on a platform (WeChat lists
    no past mass sends). Only a source watching the bank's own posts needs it, so it has a default
    that answers nothing and the other platforms' builders stay as they were."""

    source: Any  # the source's watch-configuration entry (crisiscomms.watch.<platform>)
    config: WatchConfig
    http: Callable[[str], Any]  # an httpx client for a base URL, pooled for the process
    base_url: str  # the source's base_url, else the platform's public host
    credentials: Any  # crisiscomms.models.paging.Credentials
    clock: clock.Clock
    announced_articles: Callable[[str], Iterable[str]] = lambda platform: ()  # crisiscomms.aws.source_state


@dataclass(frozen=True)
class SourceKind:
    """How to build one platform's reader, and how its tokens are refreshed (None: they cannot be)."""

    reader: Callable[[SourceParts], Any]
    refresh: Callable[[SourceParts], Callable[[dict[str, Any]], dict[str, Any]]] | None = None


SOURCE_READERS: dict[str, SourceKind] = {}
# Each platform registers its reader below, in its own block: SOURCE_READERS["<platform>"] = SourceKind(...)
def _weibo_reader(p: SourceParts) -> Any:
    """One Weibo stream; search defaults to the commercial host, everything else to api.weibo.com."""
    from datetime import timedelta

    from crisiscomms.adapters.sources.weibo import SEARCH_HOST, WeiboReader, WeiboStream

    source, account = p.source, p.config.accounts.get("weibo")
    base = p.base_url if source.base_url or source.stream != "search" else SEARCH_HOST
    stream = WeiboStream(
        kind=source.stream, source_id=source.id, count=source.page_size,
        lookback=timedelta(minutes=source.initial_lookback_minutes), recent_posts=source.posts_per_pass,
        terms=tuple(source.search_terms(p.config.topics_for(source))) if source.stream == "search" else (),
        lag_seconds=source.lag_seconds, bank_handle=account.handle if account else None,
        bank_id=account.id if account else None)
    return WeiboReader(p.http(base), stream=stream, credentials=p.credentials, clock=p.clock)


SOURCE_READERS["weibo"] = SourceKind(reader=_weibo_reader, refresh=None)  # Weibo has no refresh for server apps


def _wechat_reader(p: SourceParts) -> Any:
    """Comments under the bank's mass-sent Official Account articles: the configured ones, and those the
    Publisher announced (unless the source turns that off)."""
    from crisiscomms.adapters.sources.wechat import WatchedArticle, WeChatCommentReader

    source = p.source
    articles = [WatchedArticle(a.msg_data_id, a.index, str(a.url) if a.url else None) for a in source.articles]
    return WeChatCommentReader(p.http(p.base_url), credentials=p.credentials, articles=articles, source_id=source.id,
                               clock=p.clock, comment_type=source.comment_type,
                               announced=(lambda: p.announced_articles("wechat")) if source.watch_mass_sent else None,
                               announced_days=source.mass_sent_days)


def _wechat_refresh(p: SourceParts) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from crisiscomms.adapters.sources.wechat import stable_token_refresh

    return stable_token_refresh(p.http(p.base_url), clock=p.clock)


SOURCE_READERS["wechat"] = SourceKind(reader=_wechat_reader, refresh=_wechat_refresh)


def _douyin_reader(p: SourceParts) -> Any:
    """Comments under the bank's own Douyin videos, named or its newest."""
    from datetime import timedelta

    from crisiscomms.adapters.sources.douyin import DouyinCommentReader, WatchedVideo

    source = p.source
    return DouyinCommentReader(
        p.http(p.base_url), credentials=p.credentials, source_id=source.id, clock=p.clock,
        videos=[WatchedVideo(v.item_id, str(v.url) if v.url else None) for v in source.videos],
        recent_videos=source.recent_videos, lookback=timedelta(minutes=source.initial_lookback_minutes),
        reread=timedelta(minutes=source.reread_minutes), max_pages_per_video=source.max_pages_per_video)


def _douyin_refresh(p: SourceParts) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from crisiscomms.adapters.sources.douyin import token_refresh

    return token_refresh(p.http(p.base_url), clock=p.clock)


SOURCE_READERS["douyin"] = SourceKind(reader=_douyin_reader, refresh=_douyin_refresh)


def _mastodon_reader(p: SourceParts) -> Any:
    """One Mastodon stream of the server in base_url (a source must name it: there is no single host)."""
    from datetime import timedelta

    from crisiscomms.adapters.sources.mastodon import BankIdentity, MastodonReader

    source, account = p.source, p.config.accounts.get("mastodon")
    return MastodonReader(
        p.http(p.base_url), stream=source.stream, source_id=source.id, credentials=p.credentials, clock=p.clock,
        limit=source.limit, lookback=timedelta(minutes=source.initial_lookback_minutes),
        overlap=timedelta(minutes=source.overlap), hashtag=source.hashtag, any_tags=tuple(source.any_tags),
        local_only=source.local_only, query=source.query,
        bank=BankIdentity(account.handle, account.id) if account else None)


SOURCE_READERS["mastodon"] = SourceKind(reader=_mastodon_reader, refresh=None)  # tokens never expire


def _bluesky_reader(p: SourceParts) -> Any:
    """One searchPosts query, read with the session in the secret (bsky.social proxies it to the AppView)."""
    from crisiscomms.adapters.sources.bluesky import BankIdentity, BlueskySearchReader

    account = p.config.accounts.get("bluesky")
    return BlueskySearchReader(p.http(p.base_url), source=p.source, credentials=p.credentials, clock=p.clock,
                               bank=BankIdentity.of(account.handle, account.id) if account else None)


def _bluesky_sessions(p: SourceParts) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """refreshSession, else createSession with the app password: at the PDS that holds the account."""
    from crisiscomms.adapters.sources.bluesky import BlueskySessions

    return BlueskySessions(p.http(p.base_url), clock=p.clock).renew


SOURCE_READERS["bluesky"] = SourceKind(reader=_bluesky_reader, refresh=_bluesky_sessions)


def _reddit_reader(p: SourceParts) -> Any:
    """One Reddit search (the query from the topics unless the source gives one), or a subreddit's comments."""
    from datetime import timedelta

    from crisiscomms.adapters.sources.reddit import BankOnReddit, RedditReader

    source, account = p.source, p.config.accounts.get("reddit")
    try:
        query = "" if source.stream == "comments" else source.search_query(p.config.topics_for(source),
                                                                           account.handle if account else None)
    except ValueError as exc:
        raise ConfigurationError(f"reddit source {source.id}: {exc}") from exc
    return RedditReader(
        p.http(p.base_url), source_id=source.id, credentials=p.credentials, clock=p.clock, query=query,
        user_agent=source.agent(account.handle if account else None), limit=source.page_size,
        lookback=timedelta(minutes=source.initial_lookback_minutes), overlap=timedelta(minutes=source.overlap_minutes),
        subreddit=source.subreddit, bank=BankOnReddit(account.handle if account else None, source.bank_subreddit),
        stream=source.stream)


def _reddit_tokens(p: SourceParts) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Reddit tokens last 24 hours; the refresh grant goes to www.reddit.com (auth_base_url), not the API host."""
    from crisiscomms.adapters.sources.reddit import RedditTokenRefresh

    account = p.config.accounts.get("reddit")
    return RedditTokenRefresh(p.http(str(p.source.auth_base_url).rstrip("/")),
                              user_agent=p.source.agent(account.handle if account else None), clock=p.clock)


SOURCE_READERS["reddit"] = SourceKind(reader=_reddit_reader, refresh=_reddit_tokens)


# --- the container -------------------------------------------------------------------------------

class Container:
    """Every cached object of one process."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, now: clock.Clock = clock.now) -> None:
        self._environ = environ
        self.now = now
        self.clients = AwsClients()
        self.parameters = Parameters(self.clients)
        self._built: dict[str, Any] = {}
        self._lock = threading.RLock()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        if name not in self._built:
            with self._lock:
                if name not in self._built:
                    self._built[name] = build()
        return self._built[name]  # type: ignore[no-any-return]

    def _settings(self, model: type[T]) -> T:
        return self._once(model.__name__, lambda: load_settings(model, self._environ))  # type: ignore[type-var]

    def _http(self, base_url: str, timeout: float) -> Any:
        """One connection pool per base URL for the life of the process."""
        from crisiscomms.adapters.http import make_client

        return self._once(f"http:{base_url}:{timeout}", lambda: make_client(base_url, timeout_seconds=timeout))

    def _audit_log(self, audit_table: str, state_table: str) -> AuditLog:
        from crisiscomms.aws.audit_log import AuditLog

        return self._once(f"audit:{audit_table}", lambda: AuditLog(audit_table, state_table, clients=self.clients))

    def _watch_config(self, parameter: str, max_age: int) -> WatchConfig:
        from crisiscomms.watch import parse_watch_config

        return parse_watch_config(self.parameters.document(parameter, max_age=max_age))

    def _channels_config(self, parameter: str, max_age: int) -> ChannelsConfig:
        from crisiscomms.statements.render import ChannelsConfig

        return self.parameters.model(parameter, ChannelsConfig, max_age=max_age)

    # --- Poller ---------------------------------------------------------------------------------

    def listener(self, *, remaining_seconds: Callable[[], float], run_id: str) -> Listener:
        """A Listener for one run: the watch configuration is re-read (cached for its max age)."""
        from crisiscomms.adapters.sources.feeds import FeedClient
        from crisiscomms.adapters.sources.x_search import XSearchClient
        from crisiscomms.aws.post_store import PostRepository, PostTables
        from crisiscomms.aws.source_state import StateRepository
        from crisiscomms.aws.source_secrets import SourceSecrets
        from crisiscomms.listening.polling import Ingestor, Listener, OpenedSource
        from crisiscomms.listening.tokens import TokenKeeper
        from crisiscomms.listening.topics import TopicMatcher

        s = self._settings(PollerSettings)
        config = self._watch_config(s.watch_config_parameter, s.config_max_age_seconds)
        posts = self._once("posts", lambda: PostRepository(
            PostTables(s.posts_table, s.topic_posts_table, s.aggregates_table), clients=self.clients,
            retention_days=s.post_retention_days, figures_retention_days=s.aggregate_retention_days))

        def x_search() -> XSearchClient:
            token = self.parameters.secret(s.x_token_secret, max_age=s.config_max_age_seconds)
            bank = config.accounts.get("x")
            return XSearchClient(self._http(s.x_api_base_url, s.http_timeout_seconds), bearer_token=token, clock=self.now,
                                 bank_handle=bank.handle if bank else None, bank_id=bank.id if bank else None)

        secrets = self._once("source_secrets", lambda: SourceSecrets(
            s.source_secret_prefix, clients=self.clients, max_age=s.config_max_age_seconds))
        state = self._once("source_state", lambda: StateRepository(s.state_table, clients=self.clients))

        def open_source(source: Any) -> OpenedSource:
            kind = SOURCE_READERS.get(source.platform)
            if kind is None:
                raise ConfigurationError(f"no listening adapter for {source.platform}")
            keeper_box: list[TokenKeeper] = []
            base = str(source.base_url) if source.base_url else DEFAULT_SOURCE_HOSTS.get(source.platform, "")
            parts = SourceParts(
                source=source, config=config, base_url=base.rstrip("/"),
                http=lambda url: self._http(url.rstrip("/"), s.http_timeout_seconds),
                credentials=_LazyCredentials(keeper_box), clock=self.now, announced_articles=state.announced_articles)
            keeper = TokenKeeper(source.platform, secrets=secrets, state=state,
                                 refresh=kind.refresh(parts) if kind.refresh else None, clock=self.now, owner=run_id)
            keeper_box.append(keeper)
            return OpenedSource(reader=kind.reader(parts), tokens=keeper)

        opener = self._conversation_opener(s, config, posts)
        return Listener(
            config,
            open_source=open_source,
            ingestor=Ingestor(TopicMatcher.for_watch(config), self.scorer(s.sentiment_engine), posts, self.now,
                              high_reach_followers=config.high_reach_followers,
                              early_warning=config.detection.early_warning,
                              on_stored=opener, owes_step=opener.opens, on_due=opener.resume,
                              on_seen_again=self._engagement_follow_up(s, config, posts)),
            state=state,
            x_search=x_search,
            feeds=lambda: FeedClient(self._http("", s.http_timeout_seconds), clock=self.now),
            clock=self.now,
            attempts=s.http_max_attempts,
            base_delay=s.retry_base_delay_seconds,
            sleep=time.sleep,
            run_id=run_id,
            remaining_seconds=remaining_seconds,
        )

    def _conversation_opener(self, s: PollerSettings, config: WatchConfig, posts: Any) -> Any:
        """The Ingestor's `on_stored` (and `owes_step`, `on_due`): triage, then for a page's posts that open a
        conversation (with the topic's level, read once a minute, for its due time) the conversations and
        the posts' `follow_up` for their re-reads, together; one at a time for a post whose step was owed."""
        from crisiscomms.aws.inbox_store import InboxRepository, TopicLevels
        from crisiscomms.inbox.opening import ConversationOpener

        inbox = self._once("inbox_opening", lambda: InboxRepository(s.inbox_table, clients=self.clients))
        levels = self._once("topic_levels", lambda: TopicLevels(s.state_table, clients=self.clients))

        def open_many(pairs: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> list[bool]:
            return inbox.open_conversations([(conversation, None if follow_up is None else
                                              posts.follow_up_update(conversation["post_key"], follow_up))
                                             for conversation, follow_up in pairs])

        return ConversationOpener(inbox.open_conversation, settings=lambda: config.inbox, level_of=levels.level,
                                  clock=self.now, keep_follow_up=posts.set_follow_up, conversation=inbox.get,
                                  reads_again=_read_again, open_many=open_many)

    def _engagement_follow_up(self, s: PollerSettings, config: WatchConfig, posts: Any) -> Callable[[Any], int]:
        """The Ingestor's `on_seen_again`, new for each poll (one update per conversation per poll): a
        re-read post whose engagement grew materially raises its open conversation's priority."""
        from crisiscomms.aws.inbox_store import InboxRepository
        from crisiscomms.inbox.growth import EngagementFollowUp

        inbox = self._once("inbox_opening", lambda: InboxRepository(s.inbox_table, clients=self.clients))
        return EngagementFollowUp(inbox.raise_priority, posts.set_follow_up, settings=lambda: config.inbox,
                                  clock=self.now)

    def scorer(self, engine: str) -> Any:
        """The sentiment engine the deployment selected (SENTIMENT_ENGINE)."""
        from crisiscomms.scoring.engines import ComprehendScorer, LexiconScorer

        if engine == "comprehend":
            from crisiscomms.aws.comprehend import batch_sentiment

            return ComprehendScorer(functools.partial(batch_sentiment, self.clients("comprehend")))
        return LexiconScorer()

    def poll(self, event: dict[str, Any], *, remaining_seconds: Callable[[], float], run_id: str | None) -> dict[str, Any]:
        """Validate the schedule's input (a bad one raises, naming the field), then poll that kind of source."""
        from crisiscomms.listening.polling import ScheduledPoll, poll

        request = ScheduledPoll.model_validate(event)
        listener = self.listener(remaining_seconds=remaining_seconds, run_id=run_id or uuid.uuid4().hex)
        return poll(listener, request)

    # --- Detector -------------------------------------------------------------------------------

    def _alert_repository(self, s: DetectorSettings | ApiSettings, *, retention_days: int = 0) -> Any:
        """`retention_days`: the Detector's ALERT_RETENTION_DAYS for the alerts it creates (the API creates none)."""
        from crisiscomms.aws.alert_store import AlertRepository

        return self._once(f"alerts:{retention_days}", lambda: AlertRepository(
            s.alerts_table, s.state_table, self._audit_log(s.audit_table, s.state_table), retention_days=retention_days))

    def run_detector(self) -> list[dict[str, Any]]:
        """One evaluation of every watched topic."""
        from crisiscomms.aws.notifications import publish_sms
        from crisiscomms.aws.post_store import PostRepository, PostTables
        from crisiscomms.detection.run import Detector

        s = self._settings(DetectorSettings)
        config = self._watch_config(s.watch_config_parameter, s.config_max_age_seconds)
        posts = self._once("figures", lambda: PostRepository(
            PostTables(None, s.topic_posts_table, s.aggregates_table), clients=self.clients, retention_days=1))
        detector = Detector(posts, self._alert_repository(s, retention_days=s.alert_retention_days),
                            thresholds=config.detection, clock=self.now,
                            send_sms=lambda topic, text: publish_sms(self.clients("sns"), topic, text),
                            oncall_topic=s.oncall_topic_arn, escalation_topic=s.escalation_topic_arn)
        results = detector.run(config.topics)
        self._notify_overdue_conversations(s, config, results)
        return results

    def _notify_overdue_conversations(self, s: DetectorSettings, config: WatchConfig,
                                      results: list[dict[str, Any]]) -> dict[str, Any] | None:
        """After the levels are decided: conversations past their target notify the desk once, on the
        desk topic (never the on-call SMS topic). Detection does not depend on it; a failure is logged."""
        from crisiscomms.aws.inbox_store import InboxRepository
        from crisiscomms.aws.notifications import publish_desk_message
        from crisiscomms.inbox.overdue import OverdueNotifier
        from crisiscomms.observability import logger

        if not s.desk_topic_arn:
            logger.warning("DESK_TOPIC_ARN is not set; overdue conversations are not notified")
            return None
        decided = {r["topic"]: r.get("level") for r in results if not r.get("error")}
        levels = {t.id: decided.get(t.id) for t in config.topics}
        try:
            repo = self._once("inbox_detector", lambda: InboxRepository(
                s.inbox_table, clients=self.clients, audit=self._audit_log(s.audit_table, s.state_table)))
            notifier = OverdueNotifier(repo, settings=config.inbox, clock=self.now,
                                       send=lambda subject, text: publish_desk_message(
                                           self.clients("sns"), s.desk_topic_arn, subject, text))
            outcome = notifier.run(levels)
        except Exception:
            logger.exception("overdue conversations not checked")
            return None
        if outcome["notified"]:
            logger.info("overdue conversations notified", extra=outcome)
        return outcome

    # --- desk API -------------------------------------------------------------------------------

    def api_services(self) -> ApiServices:
        from crisiscomms.api import ApiServices

        s = self._settings(ApiSettings)
        return self._once("api_services", lambda: ApiServices(
            desk=self._desk, alerts=self._alert_desk, verify_audit=self._verify_audit,
            dev_identity_header=s.dev_identity_header == "enabled", distribution=self._distribution,
            inbox=self._inbox_desk, replies=self._replies, lessons=self._lesson_book, effects=self._effect_desk,
            auditor=self._auditor_queries, exports=self._export_desk, reports=self._report_desk,
            narratives=self._narratives, idempotent=self._idempotent_request))

    def _idempotent_request(self, request: dict[str, Any], answer: Callable[[], dict[str, Any]],
                            context: Any) -> tuple[dict[str, Any], bool]:
        """The API's answer to a request carrying an Idempotency-Key, once per (user, method, path, key) for a
        day; the same key with another body is refused, and so is a repeat while the first is still running.
        A 5xx answer is not kept: the client's retry runs again."""
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        from crisiscomms.errors import Conflict, InvalidInput

        once, config = self._once("api_idempotency", self._build_idempotent_request)
        config.register_lambda_context(context)
        ran: list[bool] = []
        try:
            return once(request=request, answer=answer, ran=ran), not ran
        except _NotKept as kept:
            return kept.response, False
        except IdempotencyValidationError as exc:
            raise InvalidInput("this Idempotency-Key was sent with another request", details=[
                {"field": "Idempotency-Key", "reason": "already used for a different body on this path; use a new key"}]) from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise Conflict("a request with this Idempotency-Key is still being answered; send it again shortly") from exc
        except IdempotencyPersistenceLayerError as exc:
            raise (exc.__cause__ or exc) from exc    # (AWS not answering is the caller's to retry: 503)

    def _build_idempotent_request(self) -> tuple[Callable[..., dict[str, Any]], Any]:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        s = self._settings(ApiSettings)
        store = DynamoDBPersistenceLayer(table_name=s.idempotency_table, boto3_client=self.clients("dynamodb"))
        config = IdempotencyConfig(event_key_jmespath="[user, method, path, key]", payload_validation_jmespath="body",
                                   expires_after_seconds=24 * 3600)

        @idempotent_function(data_keyword_argument="request", config=config, persistence_store=store, key_prefix="api")
        def once(request: dict[str, Any], answer: Callable[[], dict[str, Any]], ran: list[bool]) -> dict[str, Any]:
            ran.append(True)
            response = answer()
            if int(response.get("statusCode") or 500) >= 500:
                raise _NotKept(response)
            return response

        return once, config

    def _inbox_desk(self) -> Any:
        """The /inbox routes' use cases: queue reads and conditional, audited moves."""
        from crisiscomms.aws.inbox_store import InboxRepository
        from crisiscomms.inbox.desk import InboxDesk

        s = self._settings(ApiSettings)
        repo = self._once("inbox", lambda: InboxRepository(s.inbox_table, clients=self.clients,
                                                           audit=self._audit_log(s.audit_table, s.state_table)))
        return InboxDesk(repo, clock=self.now, open_for=self._open_for_person)

    def _open_for_person(self, who: Any, post_key: str) -> None:
        """crisiscomms.inbox.opening.open_for_person: the stored post read by key, one conditional Put with its entry."""
        from crisiscomms.inbox.opening import open_for_person

        open_for_person(who, post_key, opening_for=self._desk_opening,
                        open_conversation=self._reply_repository().open_conversation, clock=self.now)

    # --- the auditor's reads and exports (crisiscomms.auditing) --------------------------------------

    def series_reader(self, topic_posts_table: str, aggregates_table: str) -> Any:
        """A topic's time series (crisiscomms.aws.series_store.TopicSeriesReader): `.series(topic, start, end,
        bucket)`; negative posts as the scorer labels them."""
        from crisiscomms.aws.series_store import SeriesTables, TopicSeriesReader
        from crisiscomms.scoring import NEGATIVE_THRESHOLD

        return self._once(f"series:{topic_posts_table}:{aggregates_table}", lambda: TopicSeriesReader(
            SeriesTables(topic_posts_table, aggregates_table), clients=self.clients,
            negative_threshold=NEGATIVE_THRESHOLD))

    def _auditor_queries(self) -> Any:
        from crisiscomms.auditing.queries import AuditorQueries

        s = self._settings(ApiSettings)
        return AuditorQueries(self._record_reader(), self.series_reader(s.topic_posts_table, s.aggregates_table),
                              clock=self.now)

    def _record_reader(self) -> Any:
        """The stored records by key and index (crisiscomms.aws.record_reader), for the auditor and the desk."""
        from crisiscomms.aws.record_reader import RecordReader, RecordTables

        s = self._settings(ApiSettings)
        return self._once("auditor_records", lambda: RecordReader(RecordTables(
            posts=s.posts_table, topic_posts=s.topic_posts_table, alerts=s.alerts_table,
            statements=s.statements_table, audit=s.audit_table), clients=self.clients))

    def _desk_opening(self, post_key: str) -> dict[str, Any] | None:
        """The conversation a stored post opens when a person answers it (crisiscomms.inbox.opening.desk_opening):
        the post read by key, its first topic's level and the watch configuration's reply-time targets."""
        from crisiscomms.inbox.opening import desk_opening
        from crisiscomms.watch.inbox import InboxSettings

        s = self._settings(ApiSettings)
        item = self._record_reader().post(post_key)
        if item is None:
            return None
        inbox = getattr(self._watch_config(s.watch_config_parameter, s.config_max_age_seconds), "inbox", None)
        level = self._alert_repository(s).topic_level(str(item["topics"][0])) if item.get("topics") else None
        return desk_opening(item, level=level, now=self.now(), settings=inbox or InboxSettings())

    def _export_jobs(self, state_table: str, audit_table: str) -> Any:
        from crisiscomms.aws.export_store import ExportJobRepository

        return self._once("export_jobs", lambda: ExportJobRepository(state_table, self._audit_log(audit_table, state_table)))

    def _export_desk(self) -> Any:
        """POST /audit/exports and GET /audit/exports/{id}: the job, the queue, links to the files."""
        from crisiscomms.auditing.export import ExportDesk
        from crisiscomms.aws.export_store import ExportFileStore, enqueue_export

        s = self._settings(ApiSettings)
        return ExportDesk(self._export_jobs(s.state_table, s.audit_table), ExportFileStore(s.export_bucket, clients=self.clients),
                          enqueue=lambda message: enqueue_export(self.clients("sqs"), s.export_queue_url, message),
                          clock=self.now, watched_topics=lambda: [t.id for t in self._watch_config(
                              s.watch_config_parameter, s.config_max_age_seconds).topics])

    def exporter(self) -> Any:
        """The Exporter function's work: crisiscomms.auditing.export.Exporter."""
        from datetime import timedelta

        from crisiscomms.audit.digests import chain_prefix
        from crisiscomms.auditing.export import DigestFound, Exporter
        from crisiscomms.aws.audit_log import CHAIN
        from crisiscomms.aws.export_store import ExportFileStore
        from crisiscomms.aws.record_reader import RecordReader, RecordTables
        from crisiscomms.settings import ExporterSettings

        s = self._settings(ExporterSettings)

        def build() -> Exporter:
            log = self._audit_log(s.audit_table, s.state_table)
            from crisiscomms.aws.digest_store import DigestStore

            digests = DigestStore(s.audit_digest_bucket, "", clients=self.clients)  # listing and reading only, never signing

            def latest_digest() -> DigestFound | None:
                found = digests.latest(chain_prefix(CHAIN))
                return DigestFound(found.key, found.body) if found is not None and found.body is not None else None

            records = RecordReader(RecordTables(posts=s.posts_table, alerts=s.alerts_table,
                                                statements=s.statements_table, audit=s.audit_table,
                                                inbox=s.inbox_table, aggregates=s.aggregates_table,
                                                state=s.state_table), clients=self.clients)
            return Exporter(self._export_jobs(s.state_table, s.audit_table), ExportFileStore(s.export_bucket, clients=self.clients),
                            records, chain=CHAIN, chain_head=log.head, latest_digest=latest_digest, clock=self.now,
                            figures_retention=timedelta(days=s.aggregate_retention_days))

        return self._once("exporter", build)

    def run_export(self, body: str) -> dict[str, Any]:
        """One export-queue message ({"export_id": ...}): validated, then the export run once."""
        from crisiscomms.auditing.export import ExportMessage

        return self.exporter().run(ExportMessage.model_validate_json(body).export_id)

    # --- post-crisis reports (crisiscomms.review.report) -------------------------------------------

    def _report_repository(self, state_table: str, audit_table: str, bucket: str) -> Any:
        from crisiscomms.aws.report_store import ReportRepository

        return self._once(f"reports:{bucket}", lambda: ReportRepository(
            state_table, bucket, self._audit_log(audit_table, state_table)))

    def _report_desk(self) -> Any:
        """POST /topics/{topic}/reports and GET /reports/{id}: the record, the queue, links to the files."""
        from crisiscomms.aws.delivery_queue import enqueue
        from crisiscomms.review.report import ReportDesk

        s = self._settings(ApiSettings)
        return ReportDesk(self._report_repository(s.state_table, s.audit_table, s.report_bucket),
                          enqueue=lambda messages: enqueue(self.clients("sqs"), s.report_queue_url, messages),
                          clock=self.now, link_seconds=s.report_link_seconds)

    def report_writer(self) -> Any:
        """The Reporter function's work: crisiscomms.review.report.ReportWriter, reading through each store."""
        from crisiscomms.aws.alert_store import AlertRepository
        from crisiscomms.aws.effect_store import EffectRepository
        from crisiscomms.aws.post_store import PostRepository, PostTables
        from crisiscomms.aws.report_store import ReportReads
        from crisiscomms.listening.distribution import TopicDistribution
        from crisiscomms.review.report import ReportSources, ReportWriter
        from crisiscomms.settings import ReporterSettings

        s = self._settings(ReporterSettings)

        def build() -> ReportWriter:
            log = self._audit_log(s.audit_table, s.state_table)
            posts = PostRepository(PostTables(None, s.topic_posts_table, s.aggregates_table), clients=self.clients,
                                   retention_days=1)
            reads = ReportReads(audit_table=s.audit_table, alerts_table=s.alerts_table,
                                statements_table=s.statements_table, inbox_table=s.inbox_table, clients=self.clients)
            alerts = AlertRepository(s.alerts_table, s.state_table, log)
            effects = EffectRepository(s.statements_table, clients=self.clients)
            series = self.series_reader(s.topic_posts_table, s.aggregates_table)

            def distribution(topic: str, start: datetime, end: datetime, tz: str) -> dict[str, Any]:
                return TopicDistribution(posts.topic_hours, clock=self.now).answer(
                    topic, start=start.isoformat(), end=end.isoformat(), tz=tz)

            def topic_names(topic: str) -> list[str]:
                """The topic's names from the watch configuration; its id alone when it is not watched (any more)."""
                from crisiscomms.observability import logger

                try:
                    config = self._watch_config(s.watch_config_parameter, s.config_max_age_seconds)
                except Exception as exc:  # noqa: BLE001 - the report is written without the names
                    logger.warning("watch configuration unreadable; the report names the topic by its id",
                                   extra={"error": str(exc)})
                    return []
                return next((list(t.names) for t in config.topics if t.id == topic), [])

            sources = ReportSources(
                series=series.series, distribution=distribution, level_changes=reads.level_changes, alerts=reads.alerts,
                statements=reads.statements, effects=effects.for_topic, replies=reads.replies,
                riskiest=lambda topic, day, limit: posts.topic_posts(topic, day, by_risk=True, limit=limit),
                lessons=alerts.lessons, topic_names=topic_names)
            return ReportWriter(self._report_repository(s.state_table, s.audit_table, s.report_bucket), sources,
                                clock=self.now, max_attempts=s.max_report_attempts)

        return self._once("report_writer", build)

    def write_report(self, body: str) -> dict[str, Any]:
        """One report-queue message ({"report_id": ...}): validated, then the report written once."""
        from crisiscomms.review.report import ReportMessage

        return self.report_writer().write(ReportMessage.model_validate_json(body))

    def _distribution(self) -> Any:
        """A topic's figures by place and hour, read from the aggregates table's hour items only."""
        from crisiscomms.aws.post_store import PostRepository, PostTables
        from crisiscomms.listening.distribution import TopicDistribution

        s = self._settings(ApiSettings)
        figures = self._once("hour_figures", lambda: PostRepository(
            PostTables(None, None, s.aggregates_table), clients=self.clients, retention_days=1))
        return TopicDistribution(figures.topic_hours, clock=self.now)

    def _narratives(self) -> Any:
        """A topic's narratives: the aggregates' minute or hour items, and its posts by risk for the top posts."""
        from crisiscomms.aws.post_store import PostRepository, PostTables
        from crisiscomms.listening.narratives import TopicNarratives

        s = self._settings(ApiSettings)
        posts = self._once("narrative_figures", lambda: PostRepository(
            PostTables(None, s.topic_posts_table, s.aggregates_table), clients=self.clients, retention_days=1))
        return TopicNarratives(posts.minute_aggregates, posts.topic_hours, posts.narrative_posts, clock=self.now)

    def _desk(self) -> Any:
        from crisiscomms.aws.delivery_queue import enqueue
        from crisiscomms.aws.statement_store import StatementRepository
        from crisiscomms.statements.desk import Desk
        from crisiscomms.statements.render import Renderer

        s = self._settings(ApiSettings)
        repo = self._once("statements", lambda: StatementRepository(
            s.statements_table, self._audit_log(s.audit_table, s.state_table)))
        config = self._channels_config(s.channels_config_parameter, s.config_max_age_seconds)
        # Holding statements: the reply library's approved holding version, passed in (statements never import inbox).
        return Desk(repo, Renderer(config), clock=self.now,
                    enqueue=lambda messages: enqueue(self.clients("sqs"), s.delivery_queue_url, messages),
                    holding_template=lambda template_id: self.template_library().approved(template_id, kind="holding"))

    def _reply_repository(self) -> Any:
        from crisiscomms.aws.reply_store import ReplyRepository

        s = self._settings(ApiSettings)
        return self._once("reply_store", lambda: ReplyRepository(s.inbox_table, self._audit_log(s.audit_table, s.state_table)))

    def template_library(self) -> Any:
        """The reply library (crisiscomms.inbox.templates.TemplateLibrary); `.approved(id, kind="holding")`
        gives an approved holding template's version, its hashes and `fill_all(values)`."""
        from crisiscomms.inbox.templates import TemplateLibrary

        return TemplateLibrary(self._reply_repository(), clock=self.now)

    def _approve_every_reply_at_crisis(self) -> bool:
        """inbox.approve_every_reply_at_crisis from the watch configuration; on (its default) when the
        configuration cannot be read or has no inbox section: failing safe means asking for approval."""
        from crisiscomms.observability import logger

        s = self._settings(ApiSettings)
        try:
            config = self._watch_config(s.watch_config_parameter, s.config_max_age_seconds)
        except Exception as exc:  # noqa: BLE001 - any failure: the safe default
            logger.warning("watch configuration unreadable; every reply at CRISIS needs approval", extra={"error": str(exc)})
            return True
        return bool(getattr(getattr(config, "inbox", None), "approve_every_reply_at_crisis", True))

    def _replies(self) -> Any:
        """Replies and the reply library: the statements' counting functions for each platform's
        length rule, the Detector's level per topic (a fresh consistent read: the CRISIS switch must
        not lag), the delivery queue, and the statements' Q&A entries a reply too long for its
        platform links to (inbox never imports statements)."""
        from functools import partial

        from crisiscomms.aws.delivery_queue import enqueue
        from crisiscomms.inbox.replies import ReplyDesk
        from crisiscomms.statements import channel_rules as rules

        s = self._settings(ApiSettings)
        counters = {"x_weighted": rules.x_weighted_length, "weibo": rules.weibo_length,
                    "mastodon": partial(rules.mastodon_length, characters_reserved_per_url=23),
                    "graphemes": rules.bluesky_graphemes, "utf8": rules.utf8_bytes, "utf16": rules.utf16_units}
        return ReplyDesk(self._reply_repository(), self.template_library(), clock=self.now,
                         enqueue=lambda messages: enqueue(self.clients("sqs"), s.delivery_queue_url, messages),
                         topic_level=self._alert_repository(s).topic_level,
                         approve_every_reply_at_crisis=self._approve_every_reply_at_crisis, counters=counters,
                         qa_link=lambda entry, situation, language: self._desk().qa_link(entry, situation, language),
                         open_for=self._open_for_person)

    def _alert_desk(self) -> Any:
        from crisiscomms.detection.alerts import AlertDesk

        return AlertDesk(self._alert_repository(self._settings(ApiSettings)), clock=self.now)

    def _lesson_book(self) -> Any:
        """Closing alerts with a conclusion and reading their lessons (crisiscomms.review.lessons)."""
        from crisiscomms.review.lessons import LessonBook

        s = self._settings(ApiSettings)
        return LessonBook(self._alert_repository(s), clock=self.now, retention_days=s.lesson_retention_days)

    def _verify_audit(self) -> dict[str, Any]:
        result = self.verify_audit()
        self._report_chain(broken=not result.ok, problem=result.problem, source="api")
        return result.as_dict()

    def verify_audit(self) -> Verification:
        """The chain against every signed digest and the anchor (with or without digests yet)."""
        s = self._settings(ApiSettings)
        return self._audit_verification(s.audit_table, s.state_table, s.audit_digest_bucket, s.audit_signing_key)

    # --- audit digests (the Digest function; verification above and in the CLI) ------------------

    def _digest_store(self, bucket: str, key_id: str) -> DigestStore:
        from crisiscomms.aws.digest_store import DigestStore

        return self._once(f"digests:{bucket}", lambda: DigestStore(bucket, key_id, clients=self.clients))

    def _audit_verification(self, audit_table: str, state_table: str, bucket: str, key_id: str) -> Verification:
        from crisiscomms.audit.digests import chain_prefix, signature_check
        from crisiscomms.audit.verification import CHAIN, verify_chain

        log = self._audit_log(audit_table, state_table)
        store = self._digest_store(bucket, key_id)
        check = self._once(f"signature_check:{key_id}", lambda: signature_check(store.public_key()))
        digests = store.all(chain_prefix(CHAIN))  # digests first, then the anchor, then the chain they cover
        anchor = log.head()
        return verify_chain(log.records(), anchor, digests, signature_check=check, latest_anchor=log.head)

    def _report_chain(self, *, broken: bool, problem: str | None, source: str) -> None:
        """AuditChainBroken for the alarm (the Digest function reports 0 or 1 on every run, and
        AuditDigestRuns as its heartbeat; a verification through the API reports only a failure)."""
        from crisiscomms.observability import count, logger

        if source != "api" or broken:
            count("AuditChainBroken", 1 if broken else 0)
        if source != "api":
            count("AuditDigestRuns", 1)
        if broken:
            logger.error("audit chain verification failed", extra={"problem": problem, "by": source})

    def run_audit_digest(self, event: dict[str, Any]) -> dict[str, Any]:
        """The Digest function: `digest` signs the entries since the last digest; `verify` checks the whole chain."""
        from crisiscomms.audit.digester import Digester, DigestJob
        from crisiscomms.audit.digests import signature_check

        job = DigestJob.model_validate(event)
        s = self._settings(DigestSettings)
        if job.job == "verify":
            result = self._audit_verification(s.audit_table, s.state_table, s.audit_digest_bucket, s.audit_signing_key)
            self._report_chain(broken=not result.ok, problem=result.problem, source="verify")
            return {"job": "verify", **result.as_dict()}
        log = self._audit_log(s.audit_table, s.state_table)
        store = self._digest_store(s.audit_digest_bucket, s.audit_signing_key)
        check = self._once(f"signature_check:{s.audit_signing_key}", lambda: signature_check(store.public_key()))
        run = Digester(store=store, anchor=log.head, records_between=log.records_between, signature_check=check,
                       clock=self.now).run()
        self._report_chain(broken=run.chain_broken, problem=run.problem, source="digest")
        if run.entries:
            from crisiscomms.observability import count

            count("AuditEntriesDigested", run.entries)
        return {"job": "digest", **run.as_dict()}

    # --- Reviewer: the effect of statements and reply waves (crisiscomms.review.effect) ----------

    def _effect_desk(self) -> Any:
        """The measured effects for the desk API; it reads them only."""
        from crisiscomms.aws.effect_store import EffectRepository
        from crisiscomms.review.effect import EffectDesk

        s = self._settings(ApiSettings)
        repo = self._once("effects_read", lambda: EffectRepository(s.statements_table, clients=self.clients))
        return EffectDesk(repo, clock=self.now)

    def _read_engagement(self, channel: str, ids: list[str]) -> Any:
        """A channel's counts for the bank's posts `ids`, through its adapter (None: it reads none)."""
        reader = getattr(self.channel_adapter(channel, ReviewerSettings), "engagement", None)
        return reader(ids) if reader is not None else None

    def reviewer(self) -> Any:
        from crisiscomms.aws.effect_store import EffectRepository, ReviewReads
        from crisiscomms.aws.post_store import PostRepository, PostTables
        from crisiscomms.aws.reply_store import ReplyRepository
        from crisiscomms.aws.statement_store import StatementRepository
        from crisiscomms.review.effect import Reviewer, Sources

        s = self._settings(ReviewerSettings)

        def build() -> Reviewer:
            audit = self._audit_log(s.audit_table, s.state_table)
            figures = PostRepository(PostTables(None, None, s.aggregates_table), clients=self.clients, retention_days=1)

            def config() -> WatchConfig:
                return self._watch_config(s.watch_config_parameter, s.config_max_age_seconds)

            sources = Sources(statement=StatementRepository(s.statements_table, audit).load,
                              reply=ReplyRepository(s.inbox_table, audit).reply, minutes=figures.minute_aggregates,
                              engagement=self._read_engagement, watched_topics=lambda: [t.id for t in config().topics],
                              rules=lambda: config().review)
            reads = ReviewReads(audit_table=s.audit_table, state_table=s.state_table, inbox_table=s.inbox_table,
                                clients=self.clients)
            return Reviewer(EffectRepository(s.statements_table, clients=self.clients, audit=audit), reads, sources,
                            clock=self.now)

        return self._once("reviewer", build)

    def run_reviewer(self, *, remaining_seconds: Callable[[], float] = lambda: float("inf")) -> dict[str, Any]:
        """The Reviewer function: schedule what was published, measure what is due while time is left."""
        return self.reviewer().run(remaining_seconds)  # type: ignore[no-any-return]

    # --- Publisher ------------------------------------------------------------------------------

    def _channel_tokens(self, s: PublisherSettings | ReviewerSettings) -> dict[str, str]:
        raw = self.parameters.secret(s.channel_tokens_secret, max_age=s.config_max_age_seconds)
        try:
            tokens = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError(f"secret {s.channel_tokens_secret!r} is not a JSON object of channel tokens") from exc
        if not isinstance(tokens, dict):
            raise ConfigurationError(f"secret {s.channel_tokens_secret!r} is not a JSON object of channel tokens")
        return tokens

    def channel_adapter(self, channel: str, settings: type[PublisherSettings | ReviewerSettings] = PublisherSettings
                        ) -> ChannelAdapter:
        """A channel's adapter for the Publisher, or for the Reviewer (which reads engagement back with
        the same accounts and tokens)."""
        s = self._settings(settings)

        def build() -> ChannelAdapter:
            config = self._channels_config(s.channels_config_parameter, s.config_max_age_seconds)
            account = config.channels.get(channel)  # type: ignore[call-overload]
            builder = CHANNEL_ADAPTERS.get(channel)
            if account is None or builder is None:
                raise ConfigurationError(f"{channel} is not configured")

            def token(name: str) -> str:
                value = self._channel_tokens(s).get(name)
                if not value:
                    raise ConfigurationError(f"no token for {name} in the channel tokens secret")
                return str(value)

            base = str(account.base_url) if account.base_url else DEFAULT_BASE_URLS.get(channel, "")
            return builder(ChannelParts(
                channel=channel, config=config, account=account, token=token,
                http=lambda: self._http(base.rstrip("/"), s.http_timeout_seconds), clients=self.clients,
                newsroom_bucket=getattr(s, "newsroom_bucket", ""), clock=self.now))

        return self._once(f"channel:{settings.__name__}:{channel}", build)

    def publisher(self) -> Any:
        from crisiscomms.aws.source_state import StateRepository
        from crisiscomms.aws.statement_store import StatementRepository
        from crisiscomms.statements.publisher import Publisher
        from crisiscomms.statements.render import Renderer

        s = self._settings(PublisherSettings)

        def build() -> Publisher:
            repo = StatementRepository(s.statements_table, self._audit_log(s.audit_table, s.state_table))
            config = self._channels_config(s.channels_config_parameter, s.config_max_age_seconds)
            state = StateRepository(s.state_table, clients=self.clients)

            def announce_mass_sent(msg_data_id: str, sent_at: datetime) -> None:
                """Record the article for the WeChat source; a statement is one article, at index 0."""
                from crisiscomms.adapters.sources.wechat import mass_sent_entry

                state.announce_article("wechat", mass_sent_entry(msg_data_id, 0, sent_at))

            return Publisher(repo, adapter_for=self.channel_adapter, renderer=Renderer(config), clock=self.now,
                             max_attempts=s.max_delivery_attempts, announce_mass_sent=announce_mass_sent)

        return self._once("publisher", build)

    def idempotency_config(self) -> Any:
        """Keyed on the delivery and its retry generation; kept a week, longer than any redelivery."""
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return self._once("idempotency_config", lambda: IdempotencyConfig(
            event_key_jmespath="[delivery_id, to_string(generation)]", expires_after_seconds=7 * 24 * 3600))

    def _idempotent_deliver(self) -> Callable[..., dict[str, Any]]:
        """Publisher.deliver wrapped in powertools idempotency."""

        def build() -> Callable[..., dict[str, Any]]:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

            from crisiscomms.statements.publisher import DeliveryMessage

            s = self._settings(PublisherSettings)
            # On the process's DynamoDB client: a client of its own would load the session, the
            # endpoints and DynamoDB's model a second time on a cold start.
            store = DynamoDBPersistenceLayer(table_name=s.idempotency_table, boto3_client=self.clients("dynamodb"))

            @idempotent_function(data_keyword_argument="message", config=self.idempotency_config(), persistence_store=store)
            def deliver(message: dict[str, Any]) -> dict[str, Any]:
                return self.publisher().deliver(DeliveryMessage.model_validate(message))

            return deliver

        return self._once("idempotent_deliver", build)

    def deliver_record(self, body: str) -> dict[str, Any]:
        """One SQS message: validate it, then deliver exactly once (or prepare / discard, whose own
        conditional moves make a repeat harmless; nothing they touch is public). A reply
        (`{"kind": "reply", ...}`) is delivered exactly once in the same way."""
        from crisiscomms.statements.publisher import DeliveryMessage, ReplyMessage

        if _message_kind(body) == "reply":
            reply = ReplyMessage.model_validate_json(body)
            return self._idempotent_deliver_reply()(message=json.loads(reply.model_dump_json(exclude={"kind"})))
        message = DeliveryMessage.model_validate_json(body)
        if message.kind != "deliver":
            return self.publisher().handle(message)
        return self._idempotent_deliver()(message=json.loads(message.model_dump_json(exclude={"kind"})))

    # --- Publisher: replies -------------------------------------------------------------------------

    def _listening_credentials(self, platform: str, fresh: bool) -> dict[str, Any]:
        """A listening secret the Publisher may read (Douyin's and Reddit's: DOUYIN_TOKENS_SECRET,
        REDDIT_TOKENS_SECRET)."""
        s = self._settings(PublisherSettings)
        names = {"douyin": ("DOUYIN_TOKENS_SECRET", s.douyin_tokens_secret),
                 "reddit": ("REDDIT_TOKENS_SECRET", s.reddit_tokens_secret)}
        variable, secret = names.get(platform, ("DOUYIN_TOKENS_SECRET or REDDIT_TOKENS_SECRET", ""))
        if not secret:
            raise ConfigurationError(f"no listening secret for {platform} replies ({variable})")
        raw = self.parameters.secret(secret, max_age=0 if fresh else s.config_max_age_seconds)
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ConfigurationError(f"secret {secret!r} is not a JSON object of {platform} credentials")
        return value

    def reply_adapter(self, platform: str) -> ReplyAdapter:
        """The platform's reply adapter (REPLY_ADAPTERS), built once per process."""
        s = self._settings(PublisherSettings)

        def build() -> ReplyAdapter:
            from crisiscomms.statements.render import ChannelAccount

            config = self._channels_config(s.channels_config_parameter, s.config_max_age_seconds)
            builder = REPLY_ADAPTERS.get(platform)
            if builder is None:
                raise ConfigurationError(f"{platform} posts cannot be answered by API")
            account = config.channels.get(platform)  # type: ignore[call-overload]
            if account is None and platform not in LISTENING_ONLY_REPLIES:
                raise ConfigurationError(f"{platform} is not configured as a channel, so the bank has no account to "
                                         "reply from")
            settings = config.replies.get(platform)  # type: ignore[call-overload]
            base = str((settings.base_url if settings else None) or (account.base_url if account else None)
                       or DEFAULT_REPLY_BASE_URLS.get(platform, ""))

            def token(name: str) -> str:
                value = self._channel_tokens(s).get(name)
                if not value:
                    raise ConfigurationError(f"no token for {name} in the channel tokens secret")
                return str(value)

            parts = ChannelParts(channel=platform, config=config, account=account or ChannelAccount(languages=["zh"]),
                                 token=token, http=lambda: self._http(base.rstrip("/"), s.http_timeout_seconds),
                                 clients=self.clients, newsroom_bucket=s.newsroom_bucket, clock=self.now)
            return builder(ReplyParts(parts, lambda fresh: self._listening_credentials(platform, fresh)))

        return self._once(f"reply:{platform}", build)

    def reply_pace(self, platform: str) -> tuple[float, int]:
        """(per minute, burst) of a platform's replies: the channels configuration, else the capability table."""
        from crisiscomms.adapters.replies import default_pace

        s = self._settings(PublisherSettings)
        config = self._channels_config(s.channels_config_parameter, s.config_max_age_seconds)
        per_minute, burst = default_pace(platform)
        settings = config.replies.get(platform)  # type: ignore[call-overload]
        if settings is not None:
            per_minute = settings.per_minute or per_minute
            burst = settings.burst or burst
        return per_minute, burst

    def reply_publisher(self) -> Any:
        from crisiscomms.aws.inbox_store import InboxRepository
        from crisiscomms.aws.reply_pacing import ReplyPacer, defer
        from crisiscomms.aws.reply_store import ReplyRepository
        from crisiscomms.statements.publisher import ReplyPublisher

        s = self._settings(PublisherSettings)

        def build() -> ReplyPublisher:
            audit = self._audit_log(s.audit_table, s.state_table)
            inbox = InboxRepository(s.inbox_table, clients=self.clients, audit=audit)
            pacer = ReplyPacer(s.state_table, clients=self.clients)

            def pace(platform: str) -> float:
                per_minute, burst = self.reply_pace(platform)
                return pacer.take(platform, per_minute=per_minute, burst=burst, now=self.now())

            return ReplyPublisher(
                ReplyRepository(s.inbox_table, audit), adapter_for=self.reply_adapter, clock=self.now,
                max_attempts=s.max_delivery_attempts, pace=pace,
                mark_replied=lambda post_key, reply_id, at, entry: inbox.mark_replied(post_key, reply_id, at, entry=entry),
                defer=(lambda message, seconds: defer(self.clients("sqs"), s.delivery_queue_url, message, seconds))
                if s.delivery_queue_url else None)

        return self._once("reply_publisher", build)

    def reply_idempotency_config(self) -> Any:
        """Keyed on the reply, its generation and how often it was deferred; kept a week."""
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        return self._once("reply_idempotency_config", lambda: IdempotencyConfig(
            event_key_jmespath="[reply_id, to_string(generation), to_string(deferrals)]",
            expires_after_seconds=7 * 24 * 3600))

    def _idempotent_deliver_reply(self) -> Callable[..., dict[str, Any]]:
        """ReplyPublisher.deliver wrapped in powertools idempotency."""

        def build() -> Callable[..., dict[str, Any]]:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

            from crisiscomms.statements.publisher import ReplyMessage

            s = self._settings(PublisherSettings)
            store = DynamoDBPersistenceLayer(table_name=s.idempotency_table, boto3_client=self.clients("dynamodb"))

            @idempotent_function(data_keyword_argument="message", config=self.reply_idempotency_config(),
                                 persistence_store=store)
            def deliver_reply(message: dict[str, Any]) -> dict[str, Any]:
                return self.reply_publisher().deliver(ReplyMessage.model_validate(message))

            return deliver_reply

        return self._once("idempotent_deliver_reply", build)


class _NotKept(Exception):
    """An API answer the idempotency record must not keep (a 5xx): the record is deleted, the answer returned."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__(response.get("statusCode"))
        self.response = response


def _message_kind(body: str) -> str | None:
    """The `kind` of a delivery-queue message (None when it is not a JSON object); validation follows."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("kind") if isinstance(value, dict) else None


class _LazyCredentials:
    """The reader's view of its platform's credentials: always the keeper's latest."""

    def __init__(self, keeper_box: list[Any]) -> None:
        self._box = keeper_box

    def current(self) -> dict[str, Any]:
        return self._box[0].current()  # type: ignore[no-any-return]


_container: Container | None = None
_container_lock = threading.Lock()


def container() -> Container:
    """The process's container, built on first use."""
    global _container
    if _container is None:
        with _container_lock:
            if _container is None:
                _container = Container()
    return _container


def reset() -> None:
    """Forget everything built (tests and drills switch environments and clocks)."""
    global _container
    with _container_lock:
        _container = None


def _read_again(post_key: str) -> bool:
    """Whether a post's source can hand it back: X's search and the feeds never return a post they stored
    (since_id; seen GUIDs), so a follow-up there would be a write per conversation that nothing ever reads
    (in a bank run, one more request per post)."""
    from crisiscomms.listening.polling import READ_ONCE_PLATFORMS

    return post_key.split("#", 1)[0] not in READ_ONCE_PLATFORMS
