"""Replies in the drill: where they are delivered, what the platforms show, and the reply checks.

Where a reply goes. The drill runs two emulators of a platform the bank both listens to and
publishes on (Weibo, WeChat, Mastodon, Bluesky): the listening one, which holds the posts people
made, and the desk world's channel one, which receives the bank's statements. On the real
platform they are one host; here a reply must reach the emulator holding the post it answers, so
the drill points the Publisher's reply adapters at the listening emulators through the channels
configuration's `replies: {platform: {base_url}}` (the wiring prefers it over the channel's
base_url), leaving statements where they were. The channel tokens secret holds the bank's tokens,
which the listening emulators are started with (one account, one token, as on the platform);
Douyin's and Reddit's replies use their listening secrets, which the drill already writes. X is the exception:
its listening emulator (search) is not its publishing one (posts and replies), so every X post the
drill puts in the first is also made known to the second under the same id, as a post that
mentions the bank when it is `to_bank`.

What was delivered is read from the emulators (each keeps the replies the bank's account sent)
and set against the reply items of the InboxTable (state SENT, `platform_reply_id`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crisiscomms_local.drill.world import World

REPLY_PLATFORMS = ("x", "weibo", "wechat", "douyin", "mastodon", "bluesky", "reddit")
# What a channel fault on a platform hits on its listening emulator: its reply endpoint where the
# emulator can aim a fault at it, else every request (None: Mastodon and Douyin have no targets).
REPLY_FAULT_TARGETS: dict[str, str | None] = {"weibo": "reply", "wechat": "/cgi-bin/comment/reply/add",
                                              "bluesky": "createRecord", "mastodon": None, "douyin": None,
                                              "reddit": "/api/comment"}
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_~^\[\]|#>])")


@dataclass(frozen=True)
class Delivered:
    """One reply the bank's account sent, as the platform's emulator shows it."""

    platform: str
    post_key: str  # the post it answers
    platform_reply_id: str
    text: str
    at: datetime


def listening_tokens() -> dict[str, dict[str, str]]:
    """Constructor arguments that make a listening emulator accept the bank's channel token."""
    from crisiscomms_local.desk_world import TOKENS

    return {"weibo": {"access_token": TOKENS["weibo"]}, "wechat": {"access_token": TOKENS["wechat"]},
            "mastodon": {"access_token": TOKENS["mastodon"]}, "bluesky": {"access_jwt": TOKENS["bluesky"]}}


def configure(world: World) -> dict[str, str]:
    """Point each reply platform the drill listens to at its listening emulator; returns platform -> URL."""
    from crisiscomms_local.aws import client, reset_process_caches
    from crisiscomms_local.desk_world import channels_config

    routed = {p: em.base_url for p, em in world.listening.items() if p in REPLY_PLATFORMS}
    document = {**channels_config(world.desk_world.emulators, world.desk_world.languages), "replies": {p: {"base_url": url} for p, url in routed.items()}}
    client("ssm").put_parameter(Name=world.stack.refs["ChannelsConfigParameter"], Value=json.dumps(document),
                                Type="String", Overwrite=True)
    reset_process_caches()
    return routed


def mirror_x_post(world: World, native_id: str, *, author: str, text: str, created_at: datetime, to_bank: bool) -> None:
    """The X post the listening emulator serves, known to the publishing emulator under the same id."""
    from crisiscomms_local.emulators.channels.x_publish import XExternalPost

    publishing = world.desk_world.emulators["x"]
    mentions = to_bank or f"@{publishing.username}".lower() in text.lower()
    with publishing._lock:  # noqa: SLF001 - the emulator offers no way to choose the id
        publishing._external[native_id] = XExternalPost(native_id, author, text, created_at, mentions, False)  # noqa: SLF001


def delivered(world: World) -> list[Delivered]:
    """Every reply the emulators show the bank's accounts sent, oldest first."""
    out: list[Delivered] = []
    listening = world.listening
    if "weibo" in listening:
        for r in listening["weibo"].replies:
            answered = r.reply_to if r.reply_to is not None else r.status_id
            out.append(Delivered("weibo", f"weibo#{answered}", str(r.id), r.text, r.created_at))
    if "wechat" in listening:
        em = listening["wechat"]
        with em._lock:  # noqa: SLF001 - `replies` leaves out when each was sent
            for (msg_data_id, index), comments in em.comments.items():
                for c in comments:
                    if c.reply_at is not None:
                        native = f"{msg_data_id}_{index}_{c.user_comment_id}"
                        out.append(Delivered("wechat", f"wechat#{native}", native, c.reply or "", c.reply_at))
    if "douyin" in listening:
        for r in listening["douyin"].replies:
            out.append(Delivered("douyin", f"douyin#{r.answers}", r.comment_id, r.content, r.created_at))
    if "reddit" in listening:
        for c in listening["reddit"].comments:
            out.append(Delivered("reddit", f"reddit#{c.link.name}", c.name, shown_on_reddit(c.body), c.created_at))
    if "mastodon" in listening:
        for s in listening["mastodon"].replies:
            out.append(Delivered("mastodon", f"mastodon#{s.in_reply_to_id}", s.id, s.text, s.created_at))
    if "bluesky" in listening:
        for record in listening["bluesky"].replies:
            parent = record.value["reply"]["parent"]["uri"]
            out.append(Delivered("bluesky", f"bluesky#{parent}", record.uri, record.value.get("text", ""), record.created_at))
    if world.desk_world is not None and "x" in world.desk_world.emulators:
        account = world.desk_world.emulators["x"]
        own = {p.id for p in account.posts}
        for p in account.replies:
            if p.in_reply_to not in own:    # a correction threads under its statement: not an answer to a person
                out.append(Delivered("x", f"x#{p.in_reply_to}", p.id, p.submitted_text, p.created_at))
    return sorted(out, key=lambda d: (d.at, d.platform, d.platform_reply_id))


def reply_items(world: World) -> list[dict[str, Any]]:
    """Every reply item of the InboxTable (one pass; the drill's tables are small)."""
    from crisiscomms.aws.dynamo import from_item
    from crisiscomms_local.aws import client

    table = world.stack.refs["InboxTable"]
    request: dict[str, Any] = {"TableName": table, "FilterExpression": "begins_with(pk, :p) AND sk = :s",
                               "ExpressionAttributeValues": {":p": {"S": "reply#"}, ":s": {"S": "#"}}}
    found: list[dict[str, Any]] = []
    while True:
        page = client("dynamodb").scan(**request)
        found += [from_item(i) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(found, key=lambda r: (r.get("created_at", ""), r["id"]))


def _template_version(world: World, template_id: str, version: int) -> dict[str, Any] | None:
    from crisiscomms.aws.audit_log import AuditLog
    from crisiscomms.aws.clients import AwsClients
    from crisiscomms.aws.reply_store import ReplyRepository

    refs = world.stack.refs
    repo = ReplyRepository(refs["InboxTable"], AuditLog(refs["AuditTable"], refs["StateTable"], clients=AwsClients()))
    return repo.template_version(template_id, version)


def approval_problem(world: World, reply: dict[str, Any]) -> str | None:
    """Why a reply was not approved to be sent as it stands, or None: a template reply needs its
    template's version APPROVED, with the hashes the reply recorded, and values that fill it to exactly
    the reply's text and pass the rules (or, outside them, a second person's approval of that text); any
    other reply needs a second person's approval of exactly its text."""
    from crisiscomms.errors import CrisisCommsError
    from crisiscomms.inbox.replies import reply_text_hash
    from crisiscomms.inbox.templates import ApprovedTemplate, rules_hash, text_hash

    if reply_text_hash(str(reply.get("text", ""))) != reply.get("text_hash"):
        return "its text does not hash to the recorded hash"
    if reply.get("template_id"):
        version = _template_version(world, reply["template_id"], int(reply.get("template_version") or 0))
        if version is None:
            return f"template {reply['template_id']} v{reply.get('template_version')} does not exist"
        if version.get("state") != "APPROVED" or not version.get("approved_by"):
            return f"template {reply['template_id']} v{version['version']} is {version.get('state')}, not APPROVED"
        if version.get("approved_by") == version.get("author"):
            return f"template {reply['template_id']} v{version['version']} was approved by its own author"
        if text_hash(version["text"]) != reply.get("template_text_hash") or \
                rules_hash(version["placeholders"]) != reply.get("template_rules_hash"):
            return f"template {reply['template_id']} v{version['version']} is not the text and rules the reply recorded"
        template = ApprovedTemplate(
            id=reply["template_id"], version=int(version["version"]), kind=version["kind"], situation=version["situation"],
            title=version.get("title", ""), text=version["text"], placeholders=version["placeholders"],
            text_hash=reply["template_text_hash"], rules_hash=reply["template_rules_hash"], author=version["author"],
            approved_by=version["approved_by"], approved_at=version.get("approved_at", ""))
        outside: list[dict[str, str]] = []
        try:
            filled = template.fill(dict(reply.get("values") or {}), str(reply.get("language")), outside)
        except CrisisCommsError as exc:
            return f"its values do not pass the template's rules: {exc}"
        if filled != reply.get("text"):
            return "its text is not the template filled with its values"
        if outside and (not reply.get("approver") or reply.get("approver") == reply.get("author")):
            return ("its values do not pass the template's rules ("
                    + "; ".join(f"{p['field']}: {p['reason']}" for p in outside) + ") and no second person approved its text")
        if reply.get("approval_required") and not reply.get("approver"):
            return f"it needed a second person's approval ({reply['approval_required']}) and has none"
        return None
    if not reply.get("approver"):
        return "a free reply that nobody approved"
    if reply.get("approver") == reply.get("author"):
        return "a free reply approved by its own author"
    return None


def shown_on_reddit(markdown: str) -> str:
    """What Reddit shows of a comment's Markdown as the adapter writes it: escapes and hard breaks undone."""
    return _MARKDOWN_ESCAPE.sub(r"\1", markdown.replace("  \n", "\n"))


def comparable(text: str) -> str:
    """Text as compared between the reply item and the platform: whitespace runs as one space."""
    return " ".join(text.split())


__all__ = ["Delivered", "REPLY_FAULT_TARGETS", "approval_problem", "comparable", "configure", "delivered",
           "listening_tokens", "mirror_x_post", "reply_items", "shown_on_reddit"]
