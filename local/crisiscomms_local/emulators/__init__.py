"""Local HTTP emulators of the platforms crisiscomms listens to (X search, news feeds).

They serve the platforms' documented wire formats from scripted content on 127.0.0.1,
driven by a simulated clock, for unit tests and the crisis drill.
"""
from .base import EmulatorServer, Fault, RecordedRequest
from .feeds import NewsEmulator
from .x import XEmulator, XStats

__all__ = ["EmulatorServer", "Fault", "NewsEmulator", "RecordedRequest", "XEmulator", "XStats", "LISTENING_EMULATORS"]

# Listening emulators the drill drives, by platform: each class implements `ListeningEmulator`
# (crisiscomms_local.emulators.listening). Each platform adds its own line below.
LISTENING_EMULATORS: dict[str, type] = {}
from .channels.weibo import WeiboEmulator  # noqa: E402  (one host for Weibo publishing and listening)

LISTENING_EMULATORS["weibo"] = WeiboEmulator
from .channels.wechat import WeChatEmulator  # noqa: E402  (one api.weixin.qq.com for publishing and comments)

LISTENING_EMULATORS["wechat"] = WeChatEmulator
from .douyin_listen import DouyinEmulator  # noqa: E402  (open.douyin.com: videos, comments, OAuth refresh)

LISTENING_EMULATORS["douyin"] = DouyinEmulator
from .channels.mastodon import MastodonEmulator  # noqa: E402  (one server for publishing and listening)

LISTENING_EMULATORS["mastodon"] = MastodonEmulator
from .channels.bluesky import BlueskyEmulator  # noqa: E402 - the PDS/AppView serves publishing and listening

LISTENING_EMULATORS["bluesky"] = BlueskyEmulator
from .reddit_listen import RedditEmulator  # noqa: E402  (oauth.reddit.com and www.reddit.com's token endpoint)

LISTENING_EMULATORS["reddit"] = RedditEmulator
