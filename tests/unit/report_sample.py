"""A made-up crisis for the report's unit tests: posts, levels, alerts, a statement with its effect,
replies, lessons, and the ReportSources that serve them as the stores would."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from crisiscomms.models.alerts import Lesson
from crisiscomms.models.effect import EffectRecord
from crisiscomms.models.series import BUCKET_SIZE, SeriesLine, TopicSeries, ceil_to, floor_to, point
from crisiscomms.review.report import ReportSources

START = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
END = START + timedelta(hours=4)
TOPIC = "harbor"
HOSTILE = '<script>alert("x")</script> =HYPERLINK("http://evil") 港湾银行 & <b>'


def posts(seed: int = 7) -> list[dict[str, Any]]:
    """Stored topic links: a quiet start, a Weibo storm from +01:00, X and news following."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(600):
        minute = rng.randrange(240)
        platform = rng.choices(["weibo", "x", "mastodon", "news"], weights=[6, 3, 1, 1] if minute >= 60 else [1, 1, 1, 1])[0]
        hostile = minute >= 60 and rng.random() < 0.7
        sentiment = round(rng.uniform(-0.9, -0.3) if hostile else rng.uniform(-0.2, 0.6), 3)
        at = START + timedelta(minutes=minute, seconds=rng.randrange(60))
        out.append({"post_key": f"{platform}#{n}", "platform": platform, "source_type": "news" if platform == "news" else "social",
                    "published_key": f"{at:%Y-%m-%dT%H:%M:%SZ}#{platform}#{n}", "sentiment": sentiment,
                    "is_crisis": hostile and rng.random() < 0.4, "risk": rng.randrange(100),
                    "crisis_terms": ["挤兑"] if hostile else [], "author": f"user{n}", "followers": rng.randrange(10, 90000),
                    "url": f"https://example.com/{platform}/{n}", "text": HOSTILE if n == 3 else f"post {n} about 港湾银行",
                    "region": "CN-GD" if n % 3 else None})
    return out


def series_of(links: list[dict[str, Any]], topic: str, start: datetime, end: datetime, bucket: str) -> TopicSeries:
    """What TopicSeriesReader answers for these links (negative: sentiment <= -0.25)."""
    first, stop = floor_to(start, bucket), ceil_to(end, bucket)  # type: ignore[arg-type]
    size = BUCKET_SIZE[bucket]
    buckets = [first + n * size for n in range(int((stop - first) / size))]

    def lines(key_of: str, keys: list[str]) -> list[SeriesLine]:
        sums: dict[str, dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0.0]))
        for link in links:
            when = floor_to(datetime.fromisoformat(link["published_key"][:19]).replace(tzinfo=timezone.utc), bucket)  # type: ignore[arg-type]
            if not first <= when < stop:
                continue
            s = sums[link[key_of]][when]
            s[0] += 1
            s[1] += link["sentiment"] <= -0.25
            s[2] += bool(link["is_crisis"])
            s[3] += link["sentiment"]
        out = []
        for key in keys or sorted(sums):
            per = sums[key]
            total = [sum(v[i] for v in per.values()) for i in range(4)]
            out.append(SeriesLine(key=key, points=[point(b, *(int(x) for x in per[b][:3]), per[b][3]) if b in per
                                                   else point(b, 0, 0, 0, 0.0) for b in buckets],
                                  total=point(first, int(total[0]), int(total[1]), int(total[2]), total[3])))
        return out

    return TopicSeries(topic=topic, bucket=bucket, start=first, end=stop, buckets=buckets,  # type: ignore[arg-type]
                       by_source_type=lines("source_type", ["social", "news"]), by_platform=lines("platform", []))


def effect(statement_id: str, stage: str = "after") -> EffectRecord:
    published = START + timedelta(hours=1, minutes=40)
    social = lambda volume, share: {"volume": volume, "negative": int(volume * share), "negative_share": share,  # noqa: E731
                                    "net_polarity": -0.4, "crisis_hits": 7, "rumour_posts": 2}
    topic_effect = {"topic": TOPIC, "level_at_publication": "WARNING", "before": social(120, 0.6),
                    "after": social(160, 0.65), "news_before": {"items": 2, "negative": 1, "negative_share": 0.5},
                    "news_after": {"items": 3, "negative": 2, "negative_share": 0.67}, "open_questions": 4,
                    "recommendation": {"code": "revise", "rule": 1, "reason": "volume after 1.33 x before, negative share not lower"}}
    return EffectRecord.model_validate({
        "subject": "statement", "subject_id": statement_id, "stage": stage, "published_at": published,
        "measured_at": published + timedelta(minutes=30), "window_minutes": 30,
        "before": {"start": published - timedelta(minutes=30), "end": published},
        "after": {"start": published, "end": published + timedelta(minutes=30)},
        "topics_basis": "given", "topics": [topic_effect],
        "engagement": {"weibo": {"state": "available", "likes": 10, "reposts": 3, "replies": 5, "posts": 1},
                       "webhook": {"state": "unavailable", "reason": "webhooks report no engagement"}},
        "recommendation": topic_effect["recommendation"] | {"topic": TOPIC}, "ref": "s1"})


def sources(links: list[dict[str, Any]] | None = None, *, lessons: bool = True) -> ReportSources:
    links = posts() if links is None else links
    changes = [
        {"seq": 3, "at": "2026-11-28T08:30:00+00:00", "action": "level_changed", "before": {"level": "NORMAL"},
         "after": {"level": "WATCH", "reasons": ["volume above baseline"]}},
        {"seq": 9, "at": "2026-11-28T10:12:00+00:00", "action": "level_changed", "before": {"level": "WATCH"},
         "after": {"level": "WARNING", "reasons": ["negative share 70%"]}},
        {"seq": 15, "at": "2026-11-28T10:40:00+00:00", "action": "level_changed", "before": {"level": "WARNING"},
         "after": {"level": "CRISIS", "reasons": ["crisis terms"]}},
        {"seq": 30, "at": "2026-11-28T12:20:00+00:00", "action": "level_changed", "before": {"level": "CRISIS"},
         "after": {"level": "WATCH", "reasons": []}},
    ]
    alert = {"alert_id": "harbor-20261128-1012", "topic": TOPIC, "level": "CRISIS", "status": "RESOLVED",
             "triggered_at": "2026-11-28T10:12:00+00:00", "acknowledged_by": "chen",
             "acknowledged_at": "2026-11-28T10:15:00+00:00", "resolved_at": "2026-11-28T12:20:00+00:00",
             "state": "CLOSED", "closed_by": "chen", "closed_at": "2026-11-28T12:50:00+00:00",
             "conclusion": {"cause": "ATM outage rumour", "lessons": HOSTILE, "worked": "early holding statement"}}
    statement = {"id": "st-00000000000000a1", "ref": "s1", "kind": "statement", "state": "PUBLISHED", "published_version": 1,
                 "published_at": "2026-11-28T10:40:00+00:00",
                 "versions": [{"version": 1, "text": {"zh": {"full": "港湾银行声明：ATM 已恢复。", "short": "ATM 已恢复"},
                                                      "en": {"full": "Harbor Bank: ATMs are back.", "short": "ATMs back"}}}],
                 "deliveries": [{"channel": "weibo", "language": "zh", "state": "SENT", "attempts": 1, "version": 1,
                                 "sent_at": "2026-11-28T10:40:05+00:00", "url": "https://weibo.example/1"},
                                {"channel": "webhook", "language": "en", "state": "FAILED", "attempts": 5, "version": 1,
                                 "error": "HTTP 503"}]}
    reply = {"id": "rp-00000000000000b1", "created_at": "2026-11-28T10:20:00Z", "platform": "weibo", "post_key": "weibo#5",
             "template_id": "tp-1", "author": "li", "state": "SENT", "sent_at": "2026-11-28T10:21:00Z", "text": "=1+1 您好"}
    distribution = {"topic": TOPIC, "from": "2026-11-28T09:00:00Z", "to": "2026-11-28T13:00:00Z", "tz": "Asia/Shanghai",
                    "total": len(links), "negative": 0,
                    "by_region": [{"country": "CN", "region": "CN-GD", "label": "广东", "posts": 400, "negative": 200, "share": 0.66},
                                  {"country": None, "region": None, "label": "unknown", "posts": 200, "negative": 50, "share": 0.33}],
                    "by_hour_of_day": [{"hour": h, "posts": 100 if 17 <= h <= 20 else 0, "negative": 40 if 17 <= h <= 20 else 0}
                                       for h in range(24)],
                    "by_platform": {}}
    lesson = Lesson.of(alert)

    def riskiest(topic: str, day: str, limit: int) -> list[dict[str, Any]]:
        found = [p for p in links if p["published_key"].startswith(day)]
        return sorted(found, key=lambda p: -p["risk"])[:limit]

    return ReportSources(
        series=lambda topic, start, end, bucket: series_of(links, topic, start, end, bucket),
        distribution=lambda topic, start, end, tz: distribution,
        level_changes=lambda topic, end: changes,
        alerts=lambda topic, start, end: [alert],
        statements=lambda start, end: [statement],
        effects=lambda topic, start, end: [effect(statement["id"]), effect(statement["id"], "plus2h")],
        replies=lambda topic, start, end: [reply],
        riskiest=riskiest,
        lessons=lambda topic, start, end: [lesson] if lessons else [],
        topic_names=lambda topic: ["Harbor Bank", "港湾银行"],
    )


RECORD = {"id": "rpt-0123456789abcdef", "topic": TOPIC, "from": "2026-11-28T09:00:00Z", "to": "2026-11-28T13:00:00Z",
          "tz": "Asia/Shanghai", "state": "RUNNING", "requested_by": "wang", "revision": 2, "attempts": 1}
