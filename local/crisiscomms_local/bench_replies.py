"""Reply fan-out: 100 approved replies across six platforms, paced per platform, against the pacing floor.

    python -m crisiscomms_local.bench_replies [replies]

One approved answer goes to many people at once (a personal apology to everyone who complained
about the same outage). Each platform's replies are paced by a token bucket (per minute, burst:
the defaults of crisiscomms.adapters.replies.REPLY_CAPABILITIES), so an account is not flagged as a
spammer; a reply over its platform's pace is deferred by the Publisher with an SQS delay.

Measured end to end on local AWS and the platform emulators, on a simulated clock: the reply
template is drafted and approved through the real API handler, one conversation is opened per
person on a post (comment, mention) their platform's emulator holds, as the Poller's opener stores
them; then each reply is made through the API (`POST /inbox/{id}/replies` with the template and
the person's handle: APPROVED at once and queued) at one simulated instant, t0. The real Publisher
handler drains the delivery queue; between drains the simulated clock moves one second, and local
SQS's delays pass with it (crisiscomms_local.desk_world.sqs_follows_clock). The figure is t0 to the
last reply shown by its platform's emulator, in simulated seconds.

The floor is what the configured pace makes the minimum: on a platform with n replies, pace p a
minute and burst b, the first b go at once and the last at (n - b) x 60 / p seconds; the fan-out
cannot end before the slowest platform's. The ratio to it is the pacing's overhead (SQS delays are
whole seconds, the clock steps by one). Also checked: no platform was sent replies faster than its
pace, every reply item ended SENT, and each person got exactly one reply.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

START = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)
PLATFORMS = ("weibo", "wechat", "douyin", "mastodon", "bluesky", "x")
ZH = ("weibo", "wechat", "douyin")
TEMPLATE = {
    "kind": "reply", "situation": "service_failure_apology", "title": "Outage apology, personal",
    "text": {"zh": "{handle} 您好，今天上午的转账故障给您带来不便，非常抱歉。故障已修复，款项将于今日到账。",
             "en": "{handle} we are sorry for this morning's transfer outage. It is fixed and your payment arrives today."},
    "placeholders": {"handle": {"pattern": "@?[A-Za-z0-9_]{1,24}", "max": 25}},
}
STEP = timedelta(seconds=1)
GIVE_UP = timedelta(hours=2)


def split(total: int) -> dict[str, int]:
    """`total` replies spread as evenly as possible over the platforms, in PLATFORMS order."""
    return {p: total // len(PLATFORMS) + (1 if i < total % len(PLATFORMS) else 0) for i, p in enumerate(PLATFORMS)}


def pacing_floor(counts: dict[str, int], paces: dict[str, tuple[float, int]]) -> dict[str, float]:
    """Per platform, the earliest the last of its replies may go after t0 at its pace (seconds)."""
    return {p: max(0, n - paces[p][1]) * 60 / paces[p][0] for p, n in counts.items()}


def _call(method: str, path: str, body: Any = None, *, who: str) -> dict[str, Any]:
    from crisiscomms_local.apigw import rest_event
    from crisiscomms_local.lambda_runtime import invoke

    role, user = who.split(":")
    result = invoke("api", rest_event(method, path, body=body, user=user, groups=[role]))
    assert result["statusCode"] < 300, (path, result["statusCode"], result.get("body"))
    return json.loads(result["body"])


def _people(world: Any, douyin: Any, counts: dict[str, int], now: datetime) -> list[dict[str, Any]]:
    """One post per person on their platform's emulator: (platform, native id, reply reference, handle)."""
    em = world.emulators
    status = em["weibo"].add_own_post("转账故障说明 https://newsroom.examplebank.com/s/outage", created_at=now - timedelta(hours=1))
    article = em["wechat"].add_article()
    people: list[dict[str, Any]] = []
    for platform, n in counts.items():
        for i in range(n):
            handle = f"{platform}_user{i:03d}"
            said = now - timedelta(minutes=5)
            if platform == "weibo":
                native = em["weibo"].add_comment(text="转账失败，钱扣了没到账", author=handle, created_at=said, post_id=status)
                ref = {"id": status, "cid": native}
            elif platform == "wechat":
                native = em["wechat"].add_comment(article, 0, content="转账一直失败", created_at=said, openid=f"o{handle}")
                msg_data_id, index, comment_id = native.split("_")
                ref = {"msg_data_id": msg_data_id, "index": index, "user_comment_id": comment_id}
            elif platform == "douyin":
                native = douyin.add_comment(douyin.watched_video, content="转账失败了", created_at=said, user_id=f"u-{handle}")
                ref = {"item_id": douyin.watched_video, "comment_id": native}
            elif platform == "mastodon":
                native = em["mastodon"].add_post(text="@examplebank my transfer failed", author=handle, created_at=said,
                                                 to_bank=True)
                ref = {"server": em["mastodon"].base_url}
            elif platform == "bluesky":
                native = em["bluesky"].add_post(text="@examplebank my transfer failed", author=handle, created_at=said,
                                                to_bank=True)
                cid = em["bluesky"]._index[native].cid  # noqa: SLF001 - the strong ref listening would have stored
                ref = {"uri": native, "cid": cid, "root_uri": native, "root_cid": cid}
            else:
                native = em["x"].add_external_post(said, author=handle, text="@examplebank my transfer failed")
                ref = {}
            people.append({"platform": platform, "native_id": native, "ref": ref, "handle": handle,
                           "language": "zh" if platform in ZH else "en", "said": said})
    return people


def _open(repo: Any, person: dict[str, Any]) -> str:
    """The conversation the Poller's opener would have stored for the person's post; its URL id."""
    from crisiscomms.aws.inbox_store import iso_z
    from crisiscomms.models.inbox import conversation_id, priority_key

    post_key = f"{person['platform']}#{person['native_id']}"
    created = iso_z(person["said"])
    assert repo.open_conversation({
        "post_key": post_key, "id": conversation_id(post_key), "topic": "harbor", "topics": ["harbor"],
        "platform": person["platform"], "native_id": person["native_id"], "author": person["handle"],
        "text": "转账失败" if person["language"] == "zh" else "my transfer failed", "language": person["language"],
        "reply_ref": person["ref"], "to_bank": True, "kind": "complaint", "priority": 400, "state": "NEW",
        "priority_key": priority_key(400, created), "created_at": created, "opened_at": created,
        "due_at": created, "version": 1})
    return conversation_id(post_key)


def _shown(world: Any, douyin: Any) -> dict[str, list[tuple[datetime, str]]]:
    """Per platform, (when, answered native id) of every reply its emulator shows the bank sent."""
    em = world.emulators
    out: dict[str, list[tuple[datetime, str]]] = {
        "weibo": [(r.created_at, str(r.reply_to)) for r in em["weibo"].replies],
        "douyin": [(r.created_at, r.answers) for r in douyin.replies],
        "mastodon": [(s.created_at, str(s.in_reply_to_id)) for s in em["mastodon"].replies],
        "bluesky": [(r.created_at, r.value["reply"]["parent"]["uri"]) for r in em["bluesky"].replies],
        "x": [(p.created_at, str(p.in_reply_to)) for p in em["x"].replies],
    }
    with em["wechat"]._lock:  # noqa: SLF001 - `replies` leaves out when each was sent
        out["wechat"] = [(c.reply_at, f"{m}_{i}_{c.user_comment_id}") for (m, i), listed in em["wechat"].comments.items()
                         for c in listed if c.reply_at is not None]
    return out


def bench_replies(total: int = 100) -> dict[str, Any]:
    from crisiscomms import clock as clock_module
    from crisiscomms.adapters.replies import default_pace
    from crisiscomms.aws.audit_log import AuditLog
    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.inbox_store import InboxRepository
    from crisiscomms.aws.reply_store import ReplyRepository
    from crisiscomms.clock import SimulatedClock
    from crisiscomms_local.aws import client, reset_process_caches
    from crisiscomms_local.desk_world import channels_config, sqs_follows_clock, start_desk_world
    from crisiscomms_local.emulators.douyin_listen import DouyinEmulator

    counts = split(total)
    paces = {p: default_pace(p) for p in PLATFORMS}
    floors = pacing_floor(counts, paces)
    sim = SimulatedClock(START)
    clock_module.install(sim)
    saved = dict(os.environ)
    world = start_desk_world(clock=sim, timeout_delay=1.5, http_timeout=1.0)
    douyin = DouyinEmulator(sim, timeout_delay=1.5)
    douyin.start()
    world.emulators["douyin"] = douyin  # stopped with the others
    undo = sqs_follows_clock(sim)
    try:
        client("secretsmanager").put_secret_value(SecretId=os.environ["DOUYIN_TOKENS_SECRET"],
                                                  SecretString=json.dumps(douyin.credentials()))
        document = {**channels_config({k: v for k, v in world.emulators.items() if k != "douyin"}),
                    "replies": {"douyin": {"base_url": douyin.base_url}}}
        client("ssm").put_parameter(Name=world.stack.refs["ChannelsConfigParameter"], Value=json.dumps(document),
                                    Type="String", Overwrite=True)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        reset_process_caches()
        clients = AwsClients()
        audit = AuditLog(os.environ["AUDIT_TABLE"], os.environ["STATE_TABLE"], clients=clients)
        conversations = InboxRepository(os.environ["INBOX_TABLE"], clients=clients, audit=audit)
        replies_repo = ReplyRepository(os.environ["INBOX_TABLE"], audit)

        template = _call("POST", "/templates", TEMPLATE, who="comms-author:li")
        _call("POST", f"/templates/{template['id']}/approve", {"version": 1}, who="comms-approver:wang")
        people = _people(world, douyin, counts, sim())
        paths = [_open(conversations, person) for person in people]

        t0 = sim()
        started = time.perf_counter()
        made = []
        for person, path in zip(people, paths, strict=True):
            reply = _call("POST", f"/inbox/{path}/replies", {"template": template["id"], "values": {"handle": person["handle"]}},
                          who="comms-author:li")
            assert reply["state"] == "APPROVED", reply
            made.append(reply["id"])
        api_s = time.perf_counter() - started

        drained = time.perf_counter()
        handled = 0
        while sim() - t0 < GIVE_UP:
            handled += world.pump(rounds=50)
            if sum(len(v) for v in _shown(world, douyin).values()) >= total:
                break
            sim.advance(STEP)
        drain_s = time.perf_counter() - drained
        shown = _shown(world, douyin)
        states = Counter(replies_repo.reply(rid)["state"] for rid in made)  # type: ignore[index]
    finally:
        undo()
        world.close()
        os.environ.clear()
        os.environ.update(saved)
        reset_process_caches()
        clock_module.install(None)

    per_platform: dict[str, Any] = {}
    paced_ok = True
    for platform, n in counts.items():
        times = sorted((at - t0).total_seconds() for at, _ in shown[platform])
        per_minute, burst = paces[platform]
        interval = 60 / per_minute
        # The k-th reply (0-based) may not go before (k - burst + 1) intervals after t0.
        early = [k for k, t in enumerate(times) if t + 1e-6 < max(0, k - burst + 1) * interval]
        paced_ok &= not early
        answered = Counter(target for _, target in shown[platform])
        per_platform[platform] = {
            "replies": n, "shown": len(times), "per_minute": per_minute, "burst": burst,
            "floor_s": floors[platform], "last_s": times[-1] if times else None,
            "ratio": (times[-1] / floors[platform]) if times and floors[platform] else None,
            "faster_than_pace": len(early), "people_answered_twice": sum(1 for c in answered.values() if c > 1),
        }
    delivered = [t for p in per_platform.values() if p["last_s"] is not None for t in [p["last_s"]]]
    fan_out = max(delivered) if delivered else math.inf
    floor = max(floors.values())
    slowest = max(floors, key=lambda p: floors[p])
    return {
        "replies": total, "counts": counts, "fan_out_s": fan_out, "floor_s": floor, "floor_platform": slowest,
        "ratio": fan_out / floor if floor else None, "per_platform": per_platform, "states": dict(states),
        "paced": paced_ok, "messages_handled": handled, "api_s": api_s, "drain_wall_s": drain_s,
        "shown": sum(p["shown"] for p in per_platform.values()),
    }


def render(f: dict[str, Any]) -> str:
    lines = [f"  {'platform':<10}{'replies':>8}{'pace/min':>9}{'burst':>6}{'floor s':>9}{'last s':>8}{'ratio':>7}"]
    for platform, p in f["per_platform"].items():
        ratio = f"{p['ratio']:.2f}" if p["ratio"] is not None else "-"
        last = f"{p['last_s']:.0f}" if p["last_s"] is not None else "-"
        lines.append(f"  {platform:<10}{p['replies']:>8}{p['per_minute']:>9g}{p['burst']:>6}{p['floor_s']:>9.0f}{last:>8}{ratio:>7}")
    lines += [
        f"  fan-out of {f['replies']} approved replies: {f['fan_out_s']:.0f} s simulated ({f['fan_out_s'] / 60:.1f} min), "
        f"{f['shown']} shown by the platforms; reply items {', '.join(f'{k} {v}' for k, v in sorted(f['states'].items()))}",
        f"  pacing floor: {f['floor_s']:.0f} s ({f['floor_platform']}: {f['counts'][f['floor_platform']]} replies at "
        f"{f['per_platform'][f['floor_platform']]['per_minute']:g}/min, burst {f['per_platform'][f['floor_platform']]['burst']})",
        f"  ratio {f['ratio']:.3f} x floor" if f["floor_s"] else "  no floor: every platform within its burst",
        f"  no platform faster than its pace: {'yes' if f['paced'] else 'NO'}; "
        f"nobody answered twice: {'yes' if not any(p['people_answered_twice'] for p in f['per_platform'].values()) else 'NO'}",
        f"  wall: {f['api_s']:.1f} s for the {f['replies']} reply requests, {f['drain_wall_s']:.1f} s draining "
        f"({f['messages_handled']} queue messages handled, deferred copies included)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print("Reply fan-out: approved replies across platforms, paced per platform (simulated time)")
    figures = bench_replies(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
    print(render(figures))
    sys.exit(0 if figures["shown"] == figures["replies"] and figures["paced"] else 1)
