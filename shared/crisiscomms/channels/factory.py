"""Builds each channel's adapter from the deployment's channel configuration and token secret.

Tokens live in one Secrets Manager secret (JSON keyed by channel), read through powertools
parameters and cached for CONFIG_MAX_AGE_SECONDS; they are passed to adapters, never logged.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crisiscomms.channels.base import ChannelAdapter
from crisiscomms.errors import ConfigurationError

DEFAULT_BASE_URLS = {
    "x": "https://api.x.com",
    "bluesky": "https://bsky.social",
    "telegram": "https://api.telegram.org",
    "weibo": "https://api.weibo.com",
    "wechat": "https://api.weixin.qq.com",
}


class AdapterFactory:
    def __init__(self, config: Any, *, settings: Any, clock: Callable[[], datetime],
                 tokens: Callable[[], dict[str, str]] | None = None) -> None:
        self._config = config
        self._settings = settings
        self._clock = clock
        self._tokens = tokens or self._tokens_from_secret
        self._built: dict[str, ChannelAdapter] = {}

    def _tokens_from_secret(self) -> dict[str, str]:
        import os

        from crisiscomms.aws.parameters import platform_secret

        name = os.environ.get("CHANNEL_TOKENS_SECRET")
        if not name:
            raise ConfigurationError("CHANNEL_TOKENS_SECRET is not set")
        try:
            tokens = json.loads(platform_secret(name, max_age=self._settings.config_max_age_seconds))
        except ValueError as exc:
            raise ConfigurationError(f"secret {name!r} is not a JSON object of channel tokens") from exc
        return tokens

    def _token(self, channel: str) -> str:
        token = self._tokens().get(channel)
        if not token:
            raise ConfigurationError(f"no token for {channel} in the channel tokens secret")
        return token

    def _http(self, channel: str, account: Any) -> Any:
        from crisiscomms.adapters.http import make_client

        base = str(account.base_url) if account.base_url else DEFAULT_BASE_URLS.get(channel, "")
        return make_client(base.rstrip("/"), timeout_seconds=self._settings.http_timeout_seconds)

    def adapter(self, channel: str) -> ChannelAdapter:
        if channel not in self._built:
            self._built[channel] = self._build(channel)
        return self._built[channel]

    def _build(self, channel: str) -> ChannelAdapter:
        account = self._config.channels.get(channel)
        if account is None:
            raise ConfigurationError(f"{channel} is not configured")
        opts, clock = account.options, self._clock
        if channel == "newsroom":
            from crisiscomms.aws.newsroom import NewsroomAdapter

            return NewsroomAdapter(self._settings.newsroom_bucket, base_url=str(self._config.newsroom_base_url),
                                   site_title=opts.get("site_title", "Newsroom"), clock=clock)
        http = self._http(channel, account)
        if channel == "x":
            from crisiscomms.adapters.channels.x import XAdapter

            return XAdapter(http, access_token=self._token("x"), user_id=opts["user_id"], username=account.account, clock=clock)
        if channel == "mastodon":
            from crisiscomms.adapters.channels.mastodon import MastodonAdapter

            return MastodonAdapter(http, access_token=self._token("mastodon"), account_id=opts["account_id"], clock=clock)
        if channel == "bluesky":
            from crisiscomms.adapters.channels.bluesky import BlueskyAdapter

            return BlueskyAdapter(http, did=opts["did"], handle=account.account, access_jwt=self._token("bluesky"), clock=clock)
        if channel == "telegram":
            from crisiscomms.adapters.channels.telegram import TelegramAdapter

            return TelegramAdapter(http, bot_token=self._token("telegram"), chat_id=account.account, clock=clock)
        if channel == "weibo":
            from crisiscomms.adapters.channels.weibo import WeiboAdapter

            return WeiboAdapter(http, access_token=self._token("weibo"), uid=account.account, clock=clock)
        if channel == "wechat":
            from crisiscomms.adapters.channels.wechat import WeChatAdapter

            return WeChatAdapter(http, access_token=self._token("wechat"), thumb_media_id=opts["thumb_media_id"],
                                 author=opts.get("author", ""), clock=clock,
                                 poll_interval=float(opts.get("poll_interval", "3")))
        if channel == "webhook":
            from crisiscomms.adapters.channels.webhook import WebhookAdapter

            return WebhookAdapter(http, url=str(account.base_url), secret=self._token("webhook"), clock=clock)
        raise ConfigurationError(f"no adapter for {channel}")
