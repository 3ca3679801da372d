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
# [weibo]
# [wechat]
# [douyin]
# [mastodon]
# [bluesky]
# [reddit]
