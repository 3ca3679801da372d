"""Replies where the person spoke: one adapter per platform, and what each platform allows.

Every adapter keeps `crisiscomms.models.delivery.ReplyAdapter` and reuses its platform's
publishing adapter (crisiscomms.adapters.channels) or listening adapter (Douyin) for HTTP and
errors: replies are sent as the bank's official accounts, with the same tokens as publishing
(Douyin, where the bank only listens, with the token of its listening secret, read-only).

`REPLY_CAPABILITIES` is the reply-capability table; the README's "Replies" section is the same
table. Its columns:

* answers - what the bank can answer there, and what it cannot;
* api - the call that sends a reply;
* length - the platform's rule for the reply text, applied before approval by the inbox
  (crisiscomms.inbox.replies.REPLY_LIMITS, counting with crisiscomms.statements.channel_rules);
* found_again - how a reply whose answer was lost is found again (`find_reply`), or why it cannot
  be, in which case the reply becomes UNKNOWN for a person to check;
* pace - the default token bucket (per minute, burst) when one approved answer goes to many
  people, below the platform's own limit (source named), so the account is not flagged as spam;
  the channels configuration may set others (`replies: {platform: {per_minute, burst}}`);
* alternatives - what the inbox offers when the platform refuses to carry the reply.
"""
from __future__ import annotations

from dataclasses import dataclass

from crisiscomms.models.delivery import REPLY_PLATFORMS, ReplyPlatform

__all__ = ["REPLY_CAPABILITIES", "ReplyCapability", "default_pace"]


@dataclass(frozen=True)
class ReplyCapability:
    platform: ReplyPlatform
    answers: str
    api: str
    length: str
    found_again: str
    findable: bool  # False: a lost answer always leaves the reply UNKNOWN for a person
    per_minute: float
    burst: int
    pace_source: str
    alternatives: tuple[str, ...] = ()
    notes: str = ""


REPLY_CAPABILITIES: dict[ReplyPlatform, ReplyCapability] = {
    "x": ReplyCapability(
        platform="x",
        answers="posts that @mention the bank or quote its posts, and replies under its own posts; since "
                "2026-02-23 X refuses API replies to anything else below the Enterprise tier (403 \"Reply to this "
                "conversation is not allowed because you have not been mentioned or otherwise engaged by the "
                "author of the post you are replying to.\"): the reply becomes FAILED with that reason",
        api="POST /2/tweets {text, reply: {in_reply_to_tweet_id}}",
        length="280 weighted characters (twitter-text v3: CJK and emoji 2, every link 23)",
        found_again="the account's own timeline (GET /2/users/:id/tweets) for a reply to the same post with this "
                    "text; X has no idempotency key, and refuses an identical second post as duplicate content",
        findable=True,
        per_minute=5, burst=5,
        pace_source="POST /2/tweets allows 100 per 15 minutes per user, shared with statements (docs.x.com, rate "
                    "limits); 5 a minute with bursts of 5 stays under 80",
        alternatives=("quote", "statement"),
        notes="alternatives when X refuses: a quote post (X restricts programmatic quotes of uninvolved accounts "
              "too, so it may be refused likewise), or a public statement; a person may still reply by hand in "
              "the X app, which the restriction does not cover. X refuses a text the account already posted "
              "(duplicate content), so the same answer to several people needs their placeholders to differ",
    ),
    "weibo": ReplyCapability(
        platform="weibo",
        answers="comments under the bank's own posts (comments/reply) and statuses that @mention it "
                "(comments/create on the status); a status or comment that no longer exists is refused "
                "(20101, 20201)",
        api="POST /2/comments/reply.json (cid, id, comment, without_mention=1) or "
            "POST /2/comments/create.json (id, comment)",
        length="140 Chinese characters (280 half-width units; error 20012 beyond)",
        found_again="the comments the account sent (GET /2/comments/by_me.json) for one on the same status "
                    "(and comment) with this text",
        findable=True,
        per_minute=0.9, burst=5,
        pace_source="发评论: 60 per hour per user and app at ordinary authorisation (open.weibo.com, 接口访问频次权限); "
                    "0.9 a minute with bursts of 5 stays under 60 in any hour",
    ),
    "wechat": ReplyCapability(
        platform="wechat",
        answers="comments (留言) under the bank's mass-sent articles only: free-published articles have no "
                "msg_data_id and no comment API (88001); one reply per comment",
        api="POST /cgi-bin/comment/reply/add (msg_data_id, index, user_comment_id, content)",
        length="not published by WeChat (errcode 88007 refuses an over-long reply); the inbox keeps replies to "
               "600 characters, the comment box's",
        found_again="the article's comment list (comment/list) shows the account's reply under the comment",
        findable=True,
        per_minute=10, burst=5,
        pace_source="WeChat publishes no per-minute limit for comment/reply/add (only the account's daily API "
                    "quota); 10 a minute is this project's choice",
    ),
    "douyin": ReplyCapability(
        platform="douyin",
        answers="comments under the bank's own videos (scope item.comment)",
        api="POST /item/comment/reply/?open_id= (item_id, comment_id, content)",
        length="not published by Douyin; the inbox keeps replies to 100 characters, the comment box's",
        found_again="the comment's replies (GET /item/comment/reply/list/) for one by the bank's account with "
                    "this text",
        findable=True,
        per_minute=10, burst=5,
        pace_source="Douyin publishes no per-minute limit for replies; 10 a minute is this project's choice",
        notes="sent with the access token of the Douyin listening secret (the Poller renews it; the Publisher "
              "only reads it)",
    ),
    "mastodon": ReplyCapability(
        platform="mastodon",
        answers="any status the bank's server can see; a status heard on another server is looked up by its URI "
                "(GET /api/v2/search?resolve=true) to get the bank server's id",
        api="POST /api/v1/statuses {status, in_reply_to_id, language} with Idempotency-Key",
        length="500 characters by default (the server's max_characters), links 23, @user@domain as @user",
        found_again="the Idempotency-Key answers a repeat with the first status for an hour; after that the "
                    "account's own statuses, by text and in_reply_to_id",
        findable=True,
        per_minute=1.5, burst=5,
        pace_source="300 statuses per 3 hours per account (docs.joinmastodon.org, rate limits); 1.5 a minute with "
                    "bursts of 5 stays under 275",
        notes="Mastodon adds no mention to a reply: the approved text should begin with the person's @handle to "
              "notify them",
    ),
    "bluesky": ReplyCapability(
        platform="bluesky",
        answers="any post (reply refs: root and parent uri/cid from listening); the PDS does not check the "
                "parent, so a reply that the author's thread gate hides is still accepted",
        api="com.atproto.repo.createRecord app.bsky.feed.post {text, reply: {root, parent}} at an rkey derived "
            "from the reply",
        length="300 graphemes and 3000 UTF-8 bytes",
        found_again="getRecord at the reply's rkey (derived from the reply id), so a retry cannot post twice",
        findable=True,
        per_minute=10, burst=5,
        pace_source="PDS writes: 5,000 points an hour, a create costs 3 (docs.bsky.app, rate limits); 10 a minute "
                    "is far below, for spam's sake",
    ),
    "reddit": ReplyCapability(
        platform="reddit",
        answers="any submission that is not locked, archived or deleted (THREAD_LOCKED, TOO_OLD, DELETED_LINK: "
                "FAILED with that reason), and a comment a comments stream heard (answered in its thread); the "
                "bank's account must be the one the listening secret authorised",
        api="POST /api/comment (api_type=json, thing_id=t3_…, text as Markdown, escaped to show as approved)",
        length="10,000 characters (TOO_LONG beyond)",
        found_again="the account's own comments (GET /user/{username}/comments) for one under the same "
                    "submission with this text; Reddit has no idempotency key",
        findable=True,
        per_minute=1, burst=3,
        pace_source="Reddit's OAuth limit is 100 queries a minute per client, shared with listening; its spam "
                    "filter answers RATELIMIT to accounts that comment fast, a new or low-karma one after a few "
                    "comments: 1 a minute with bursts of 3 is this project's choice",
        notes="sent with the access token of the Reddit listening secret, which must be the bank's account "
              "(refresh_token or password grant; scopes submit, history, and identity when the secret names "
              "no username): an application-only token can search but not comment (USER_REQUIRED). The "
              "Poller renews the token; the Publisher only reads it",
    ),
}

assert set(REPLY_CAPABILITIES) == set(REPLY_PLATFORMS)


def default_pace(platform: str) -> tuple[float, int]:
    """(per minute, burst) of the capability table for a platform."""
    capability = REPLY_CAPABILITIES[platform]  # type: ignore[index]
    return capability.per_minute, capability.burst
