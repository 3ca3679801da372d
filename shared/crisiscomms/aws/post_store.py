"""Storing scored posts: once per platform id, linked to every topic, minute and hour figures updated with it.

A new post is put (conditional on its key being new) with one link item per topic, and added to
each topic's minute aggregate and hour figures, in the same TransactWriteItems. A page's new posts
share transactions (`store_many`): up to 100 actions each, one Update per aggregates item carrying
the sum of what its posts add, so the figures are those of storing the posts one by one. A duplicate
fails its condition and cancels the transaction, which is sent again without it: no aggregate counts
a post twice. A post may be about at most MAX_TOPICS_PER_POST (24) topics, what one transaction holds.

A post whose item DynamoDB refuses (a ValidationException, or a cancellation reason other than a condition,
a conflict or throttling) is set apart, REFUSED, with DynamoDB's code and reason, and the page's other posts
are stored: a post its reason names is dropped from the transaction at once; otherwise the transaction's
posts are sent again in halves until the refused one stands alone (at most 2 x log2(posts) transactions
more for one such post), so one bad post never holds back the page nor the source's cursor. The model
bounds what a post carries (crisiscomms.models.posts CUT_CHARS), so this is for what no bound foresees.

A post that would open a conversation is stored with `inbox_due` (the time it was stored) in the same Put:
the inbox step is owed. The step removes it with the `follow_up` it writes (`set_follow_up`), and `known`
returns it, so a post read again after a run stopped between its transaction and its inbox step (the cursor
had not moved) gets the step then (crisiscomms.listening.polling.Ingestor, `on_due`).

The hour figures share the aggregates table: `minute_key = "hour#<YYYY-MM-DDTHH>#<source type>"`
(UTC), counting posts, negative and crisis posts, engagement, and posts per platform (`p_<platform>`)
and per place (`r_<code>`, negative `rn_<code>`; code as in crisiscomms.places, or `unknown`). A
minute key starts with a digit and "h" sorts after every digit, so no range between two minute
keys (the Detector's reads) can reach an hour item.

Only the topics a post is about (`ScoredPost.topics`) get links and figures. A post found for a topic
through its ambiguous names alone and judged not about it is stored with `related` false (when no topic
is left) and that topic in `unrelated_topics`, and is counted nowhere.

A crisis post also adds to its narrative's counters in both its minute and its hour item:
`nv_<narrative>` posts, `nn_<narrative>` negative posts, `nr_<narrative>` followers summed and
`np_<narrative>_<platform>` posts per platform (`narrative_counters`; narratives as in
crisiscomms.scoring.narratives, a bounded set per topic); its post and link items carry `narrative`.

The same transaction adds the post to the topic's arrivals item, `minute_key =
"arrivals#<minute it was stored>"` (the minute of `ingested_at`, UTC): what arrived in that minute,
per published minute and source type, so the Detector learns every change, late posts included,
by reading the few newest arrivals items instead of re-reading minutes. Its attributes are named
`<s|n><lag><figure>`: the source type (social, news), the published minute as minutes before the
arrival minute (negative for a post dated after it), and one letter per minute figure
(`ARRIVAL_FIGURES`), e.g. `s0p` = social posts published in the arrival minute, `s12n` = negative
social posts published 12 minutes before it; a figure a post adds nothing to is not written
(it reads back as 0). A post published more than `CARRIED_LATENESS_MINUTES` from the minute it
arrived is not carried (its minute items still count it). Arrivals items expire a day after
their minute; "a" also sorts after every digit, so no minute range reaches them either.

A post stored without `early_warning` whose engagement grows later is marked afterwards
(`escalate_early_warning`, crisiscomms.listening.watchlist): its one `early_warning` is added to the
minute and arrivals items of the minute it is marked in, never to its published minute's, so the
Detector counts it in the recent window like a post stored then.

A Mastodon status federates: each server that has it gives it its own id, so the same status read
from two servers is two posts with two keys. Its ActivityPub URI (`reply_ref["uri"]`) is the same on
every server, so storing a Mastodon post also puts, in the same transaction and on the same condition,
a claim item in the posts table, `post_key = "mastodon-uri#<sha256 of the URI>"` (`claim_key`), with the
post's key and TTL: the second server's copy fails the claim's condition and is settled DUPLICATE like a
repeated post (no figures, no conversation, not watched). The post keeps its own server's key (replies
and lookups need that server's id). Posts of other platforms carry global ids and have no claim.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from crisiscomms.aws.clients import AwsClients
from crisiscomms.aws.dynamo import (CONFLICT_ATTEMPTS, DYNAMODB_CONTEXT, TRANSACT_ACTIONS, from_item, jittered, query_all,
                                    to_item, to_value)
from crisiscomms.models.posts import CARRIED_LATENESS_MINUTES, UNKNOWN_PLACE, Post, ScoredPost, hour_key, minute_key

LINK_TEXT_CHARS = 280
BATCH_GET_LIMIT = 100  # DynamoDB's limit of keys per BatchGetItem
BATCH_GET_ATTEMPTS = 3
HOUR_PREFIX = "hour#"
ARRIVALS_PREFIX = "arrivals#"
ARRIVALS_KEPT = timedelta(days=1)  # the Detector reads the newest few minutes' items; TTL after a day
ARRIVAL_FIGURES = {"posts": "p", "negative": "n", "sentiment_sum": "s", "engagement": "e", "reach": "r",
                   "crisis_posts": "c", "crisis_weight_sum": "w", "high_reach_negative": "h", "early_warning": "x"}
ARRIVAL_SOURCES = {"social": "s", "news": "n"}
_ARRIVAL_NAME = re.compile(r"([sn])(-?[0-9]+)([pnserchwx])")
_MINUTE = timedelta(minutes=1)
FOLLOW_UP = "follow_up"  # on a post item: what the inbox needs to follow the post up (see `known`)
INBOX_DUE = "inbox_due"  # on a post item: its inbox step is owed (the module docstring; cleared by `set_follow_up`)
NARRATIVE_LINKS_READ = 1000  # the most topic links one narratives answer reads for its top posts
NARRATIVE_PAGE = 200
TRANSACTION_BYTES = 2_000_000  # the Puts' JSON per transaction, well under DynamoDB's 4 MB a transaction
UPDATE_ATTRIBUTES = 200  # per Update: keeps its expression under DynamoDB's 4 KB an expression
CLAIM_PREFIX = "mastodon-uri#"  # a Mastodon status's claim item in the posts table (`claim_key`)
# the post, its claim (Mastodon), and per topic its link, minute, hour and arrivals items: 2 + 4 x 24 = 98 actions
MAX_TOPICS_PER_POST = (TRANSACT_ACTIONS - 2) // 4
CONFLICT_BASE_DELAY = 0.025  # seconds; full jitter, doubling
# Cancellation reasons that say nothing against the values sent: none, a condition, or a wait (DynamoDB's
# documented codes); any other code refuses its action (ValidationError: an item too large, a bad value).
_NOT_REFUSALS = frozenset({None, "None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError",
                           "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


class StoreOutcome(str, Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REFUSED = "refused"  # not stored: about more topics than a transaction holds, or its item refused (Refusal)


@dataclass(frozen=True)
class Refusal:
    """Why a post was not stored: DynamoDB's error code and message (or the local error that made its
    item impossible to write)."""

    code: str
    reason: str


@dataclass(frozen=True)
class PostTables:
    posts: str | None  # None where a function only reads figures (the Detector, the desk API)
    topic_posts: str | None  # None where a function reads only the hour figures (the desk API)
    aggregates: str


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def published_key(scored: ScoredPost) -> str:
    return f"{_iso(scored.post.published_at)}#{scored.post.key}"


def claim_key(post: Post) -> str | None:
    """The key a federated status claims whatever server it was read from (the module docstring): a
    Mastodon post's URI, hashed so any URI fits a key; None for other platforms and a status without one."""
    uri = (post.reply_ref or {}).get("uri") if post.platform == "mastodon" else None
    return f"{CLAIM_PREFIX}{hashlib.sha256(uri.encode()).hexdigest()}" if uri else None


class PostRepository:
    def __init__(self, tables: PostTables, *, clients: AwsClients, retention_days: int,
                 figures_retention_days: int | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        """Posts and their topic links expire (TTL `expires_at`) `retention_days` after storage, the
        minute and hour figures `figures_retention_days` after the last post they count (default: the same)."""
        self._clients = clients
        self._sleep = sleep
        self._tables = tables
        self._retention = timedelta(days=retention_days)
        self._figures_retention = timedelta(days=retention_days if figures_retention_days is None
                                            else figures_retention_days)

    def store(self, scored: ScoredPost) -> StoreOutcome:
        """Store a post once; a second call for the same platform id changes nothing."""
        return self.store_many([scored])[0]

    def store_many(self, scored: list[ScoredPost], *, settled: Callable[[int, StoreOutcome], Any] | None = None,
                   refusals: dict[int, Refusal] | None = None) -> list[StoreOutcome]:
        """Store posts once each, in as few transactions as DynamoDB's limits allow; the outcome of each.

        Posts are packed in order into transactions of at most TRANSACT_ACTIONS actions: each post's
        Put and link Puts, and one Update per aggregates item the transaction touches, carrying every
        packed post's figures for that item (DynamoDB refuses two actions on one item in a transaction).
        A post whose Put condition (or its claim's, a Mastodon status stored from another server) fails
        is stored already (DUPLICATE): the transaction is rebuilt
        without it and sent again. A conflict with another writer's transaction cancels the whole
        transaction, so it is sent again as it was, after a jittered pause, at most
        CONFLICT_ATTEMPTS times; then the error is raised (earlier transactions stay stored).
        A post about more than MAX_TOPICS_PER_POST topics cannot fit one transaction and is REFUSED, as
        is one whose item DynamoDB refuses (the module docstring): `refusals`, when given, gets why,
        by index, before `settled` hears of it.

        `settled(index, outcome)` is called as each post's outcome is known (a stored post's right
        after its transaction commits), so the caller's follow-up of a post never waits for the
        transactions after it.
        """
        found: dict[int, StoreOutcome] = {}

        def settle(index: int, outcome: StoreOutcome, why: Refusal | None = None) -> None:
            found[index] = outcome
            if why is not None and refusals is not None:
                refusals[index] = why
            if settled is not None:
                settled(index, outcome)

        seen: set[str] = set()
        batch = _Batch()
        for index, one in enumerate(scored):
            claim = claim_key(one.post)
            if one.post.key in seen or claim in seen:  # twice in the same call: the second is a duplicate of the first
                settle(index, StoreOutcome.DUPLICATE)
                continue
            seen.update((one.post.key, claim) if claim else (one.post.key,))
            if len(one.topics) > MAX_TOPICS_PER_POST:
                settle(index, StoreOutcome.REFUSED, Refusal("TooManyTopics", f"about {len(one.topics)} topics,"
                                                            f" at most {MAX_TOPICS_PER_POST} fit one transaction"))
                continue
            try:
                writes = self._writes(one, index)
            except (TypeError, ValueError, ArithmeticError) as exc:  # a value no DynamoDB number or string holds
                settle(index, StoreOutcome.REFUSED, Refusal(type(exc).__name__, str(exc)[:300]))
                continue
            if not batch.fits(writes):
                self._commit(batch.members, settle)
                batch = _Batch()
            batch.add(writes)
        if batch.members:
            self._commit(batch.members, settle)
        return [found[index] for index in range(len(scored))]

    def _commit(self, members: list[_PostWrites], settle: Callable[..., None]) -> None:
        """Write one packed transaction; drop the posts found stored already or refused, retry conflicts
        (bounded)."""
        from botocore.exceptions import ClientError

        conflicts = 0
        while members:
            actions, owners = _render(members, self._tables.aggregates)
            try:
                self._clients("dynamodb").transact_write_items(TransactItems=actions)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                if error.get("Code") == "ValidationException":  # the request refused whole: which post, unsaid
                    self._set_apart(members, settle, Refusal("ValidationException", str(error.get("Message", ""))))
                    return
                if error.get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                codes = [reason.get("Code") for reason in reasons]
                already = {owners[n] for n, code in enumerate(codes) if code == "ConditionalCheckFailed" and n in owners}
                if already:  # every retry drops at least one post
                    for position in sorted(already):
                        settle(members[position].index, StoreOutcome.DUPLICATE)
                    members = [m for position, m in enumerate(members) if position not in already]
                    continue
                refused = [n for n, code in enumerate(codes) if code not in _NOT_REFUSALS]
                if refused:
                    if any(n not in owners for n in refused):  # a figures item several posts add to
                        first = reasons[refused[0]]
                        self._set_apart(members, settle, Refusal(str(first.get("Code")), str(first.get("Message", ""))))
                        return
                    named: dict[int, Refusal] = {}
                    for n in refused:  # a post's own item or link: that post, at once
                        named.setdefault(owners[n], Refusal(str(codes[n]), str(reasons[n].get("Message", ""))))
                    for position, why in sorted(named.items()):
                        settle(members[position].index, StoreOutcome.REFUSED, why)
                    members = [m for position, m in enumerate(members) if position not in named]
                    continue
                message = str(error.get("Message", ""))
                if not codes and "ConditionalCheckFailed" in message:
                    # no reason per action to say which post: each alone, where the failure is its own
                    if len(members) == 1:
                        settle(members[0].index, StoreOutcome.DUPLICATE)
                        return
                    for member in members:
                        self._commit([member], settle)
                    return
                if not codes and "ValidationError" in message:
                    self._set_apart(members, settle, Refusal("ValidationError", message))
                    return
                if "TransactionConflict" in codes and conflicts + 1 < CONFLICT_ATTEMPTS:
                    conflicts += 1  # all or nothing: nothing of it was written, so sending it again is safe
                    self._sleep(jittered(conflicts, CONFLICT_BASE_DELAY))
                    continue
                raise
            for member in members:
                settle(member.index, StoreOutcome.STORED)
            return

    def _set_apart(self, members: list[_PostWrites], settle: Callable[..., None], why: Refusal) -> None:
        """DynamoDB refused a transaction without naming the post: one post alone is REFUSED; more are
        sent again in halves, so the refused one ends alone and the others are stored (each half is its
        own transaction: duplicates, refusals and conflicts handled as in `_commit`). Nothing of a refused
        transaction was written, so sending its posts again is safe; k posts cost at most 2k - 1
        transactions, one refused post among them about 2 x log2(k)."""
        if len(members) == 1:
            settle(members[0].index, StoreOutcome.REFUSED, why)
            return
        half = len(members) // 2
        self._commit(members[:half], settle)
        self._commit(members[half:], settle)

    def escalate_early_warning(self, post_key: str, topics: tuple[str, ...] | list[str], source_type: str,
                               at: datetime) -> bool:
        """Mark a stored post `early_warning` after the fact and count it once; False when it was marked
        already (or is no longer stored), and nothing is written.

        One transaction: the post's `early_warning` set (conditional on it not being true), and per topic
        1 added to `early_warning` of the minute item of `at`'s minute and of the arrivals item of that
        minute (lag 0), so the Detector counts it in its recent window from its next run, as any
        early-warning post; its other figures get 0 added (every minute item carries them all) and the post
        is not counted again. A repeated or concurrent call fails the condition. A conflict with another
        writer is sent again, as in `store_many`."""
        from botocore.exceptions import ClientError

        minute = minute_key(at)
        source = ARRIVAL_SOURCES[source_type]
        zero, one = to_value(0), to_value(1)
        actions: list[dict[str, Any]] = [{"Update": {
            "TableName": self._tables.posts, "Key": to_item({"post_key": post_key}),
            "UpdateExpression": "SET early_warning = :t, early_warning_at = :at",
            "ConditionExpression": "attribute_exists(post_key) AND"
                                   " (attribute_not_exists(early_warning) OR early_warning <> :t)",
            "ExpressionAttributeValues": {":t": to_value(True), ":at": to_value(_iso(at))}}}]
        figures = [name for name in ARRIVAL_FIGURES if name != "early_warning"]
        for topic in topics:
            actions.append({"Update": {
                "TableName": self._tables.aggregates,
                "Key": {"topic": {"S": topic}, "minute_key": {"S": f"{minute}#{source_type}"}},
                "UpdateExpression": "ADD early_warning :one, " + ", ".join(f"#f{n} :zero" for n in range(len(figures)))
                                    + " SET #m = :m, source_type = :st, expires_at = :e",
                "ExpressionAttributeNames": {"#m": "minute", **{f"#f{n}": name for n, name in enumerate(figures)}},
                "ExpressionAttributeValues": {":one": one, ":zero": zero, ":m": to_value(minute),
                                              ":st": to_value(source_type),
                                              ":e": to_value(int((at + self._figures_retention).timestamp()))}}})
            actions.append({"Update": {
                "TableName": self._tables.aggregates,
                "Key": {"topic": {"S": topic}, "minute_key": {"S": f"{ARRIVALS_PREFIX}{minute}"}},
                "UpdateExpression": "ADD #x :one, #p :zero SET expires_at = :e",
                "ExpressionAttributeNames": {"#x": f"{source}0{ARRIVAL_FIGURES['early_warning']}",
                                             "#p": f"{source}0{ARRIVAL_FIGURES['posts']}"},
                "ExpressionAttributeValues": {":one": one, ":zero": zero,
                                              ":e": to_value(int((at + ARRIVALS_KEPT).timestamp()))}}})
        for conflicts in range(CONFLICT_ATTEMPTS):
            try:
                self._clients("dynamodb").transact_write_items(TransactItems=actions)
                return True
            except ClientError as exc:
                error = exc.response.get("Error", {})
                if error.get("Code") != "TransactionCanceledException":
                    raise
                codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons") or []]
                if (codes[:1] == ["ConditionalCheckFailed"]
                        or not codes and "ConditionalCheckFailed" in error.get("Message", "")):
                    return False  # only the post's action has a condition
                if "TransactionConflict" not in codes or conflicts + 1 == CONFLICT_ATTEMPTS:
                    raise
                self._sleep(jittered(conflicts + 1, CONFLICT_BASE_DELAY))
        raise AssertionError("unreachable")

    def known(self, post_keys: list[str]) -> dict[str, dict[str, Any]]:
        """Which of these posts are stored already, each with its `follow_up` and `inbox_due` when it has
        them (`{"follow_up": {...}}`, else `{}`): one request per 100, keys and those attributes only.

        Sources that re-read a window (late federation, review queues, overlapping searches)
        see most posts more than once; a cancelled transaction costs the write capacity of every
        item in it, reading a key costs half a read unit. A key left unprocessed after the
        bounded retries counts as new: the transaction's condition still refuses a duplicate.
        `follow_up` is what the inbox keeps on a post that opened a conversation (`set_follow_up`),
        so a re-read can update the conversation without reading anything else; `inbox_due`, that the
        post's inbox step is still owed (the module docstring).
        """
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(post_keys))
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {self._tables.posts: {
                "Keys": [to_item({"post_key": key}) for key in unique[start:start + BATCH_GET_LIMIT]],
                "ProjectionExpression": f"post_key, {FOLLOW_UP}, {INBOX_DUE}"}}
            for _ in range(BATCH_GET_ATTEMPTS):
                answer = self._clients("dynamodb").batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self._tables.posts, []):
                    stored = from_item(item)
                    found[stored.pop("post_key")] = stored
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def set_follow_up(self, post_key: str, follow_up: dict[str, Any] | None) -> bool:
        """Keep `follow_up` on a stored post for `known` to return (None drops it), and drop `inbox_due`:
        the inbox step is done. One UpdateItem. False when the post is no longer stored (it expired)."""
        from botocore.exceptions import ClientError

        try:
            self._clients("dynamodb").update_item(**self.follow_up_update(post_key, follow_up))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def follow_up_update(self, post_key: str, follow_up: dict[str, Any] | None) -> dict[str, Any]:
        """The UpdateItem of `set_follow_up`, for a transaction of the caller's (conditional on the post being stored)."""
        update: dict[str, Any] = {"TableName": self._tables.posts, "Key": to_item({"post_key": post_key}),
                                  "ConditionExpression": "attribute_exists(post_key)",
                                  "ExpressionAttributeNames": {"#f": FOLLOW_UP, "#d": INBOX_DUE}}
        if follow_up is None:
            update["UpdateExpression"] = "REMOVE #f, #d"
        else:
            update["UpdateExpression"] = "SET #f = :f REMOVE #d"
            update["ExpressionAttributeValues"] = {":f": to_value(follow_up)}
        return update

    def _transaction(self, scored: ScoredPost) -> list[dict[str, Any]]:
        """The transaction that stores this post alone (see `store_many`)."""
        return _render([self._writes(scored, 0)], self._tables.aggregates)[0]

    def _writes(self, scored: ScoredPost, index: int) -> _PostWrites:
        """What storing one post writes: its Put and link Puts, and what it adds to each aggregates item."""
        post = scored.post
        expires_at = int((scored.ingested_at + self._retention).timestamp())
        figures_expire_at = int((scored.ingested_at + self._figures_retention).timestamp())
        pkey = published_key(scored)
        day = post.published_at.strftime("%Y-%m-%d")
        item = {
            **post.model_dump(mode="json", exclude_none=True),
            "post_key": post.key,
            "published_key": pkey,
            "platform_day": f"{post.platform}#{day}",
            "engagement": post.engagement,
            "topics": list(scored.topics),
            "language": scored.language,
            "sentiment": scored.sentiment,
            "sentiment_label": scored.sentiment_label,
            "tone": scored.tone,
            "tone_label": scored.tone_label,
            "crisis_terms": list(scored.crisis_terms),
            "crisis_categories": list(scored.crisis_categories),
            "crisis_weight": scored.crisis_weight,
            "is_crisis": scored.is_crisis,
            "risk": scored.risk,
            "ingested_at": _iso(scored.ingested_at),
            "expires_at": expires_at,
            "country": scored.country,
            "region": scored.region,
            "related": scored.related,
            **({"unrelated_topics": list(scored.unrelated_topics)} if scored.unrelated_topics else {}),
            **({"own_topics": list(scored.own_topics)} if scored.own_topics else {}),
            **({"narrative": scored.narrative} if scored.narrative else {}),
            "early_warning": scored.early_warning,
            **({INBOX_DUE: _iso(scored.ingested_at)} if scored.inbox_due else {}),
        }
        puts: list[dict[str, Any]] = [{
            "Put": {
                "TableName": self._tables.posts,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(post_key)",
            }
        }]
        claim = claim_key(post)
        if claim is not None:  # the same status from another server fails this (the module docstring)
            puts.append({"Put": {
                "TableName": self._tables.posts,
                "Item": to_item({"post_key": claim, "claimed_by": post.key, "expires_at": expires_at}),
                "ConditionExpression": "attribute_not_exists(post_key)",
            }})
        counters: list[_Counter] = []
        negative = scored.sentiment_label == "negative"
        narrative = {name: to_value(value) for name, value in narrative_counters(scored).items()}
        for topic in scored.topics:
            link = {
                "topic_day": f"{topic}#{day}",
                "published_key": pkey,
                "risk_key": f"{scored.risk:03d}#{pkey}",
                "topic": topic,
                "post_key": post.key,
                "platform": post.platform,
                "source_type": post.source_type,
                "url": post.url,
                "author": post.author,
                "followers": post.followers,
                "text": post.full_text[:LINK_TEXT_CHARS],
                "sentiment": scored.sentiment,
                "sentiment_label": scored.sentiment_label,
                "risk": scored.risk,
                "is_crisis": scored.is_crisis,
                "crisis_terms": list(scored.crisis_terms),
                "expires_at": expires_at,
                **({"narrative": scored.narrative} if scored.narrative else {}),
            }
            puts.append({"Put": {"TableName": self._tables.topic_posts, "Item": to_item(link)}})
            increments = {
                "posts": 1,
                "negative": int(negative),
                "sentiment_sum": scored.sentiment,
                "engagement": post.engagement,
                "reach": post.followers,
                "crisis_posts": int(scored.is_crisis),
                "crisis_weight_sum": scored.crisis_weight,
                "high_reach_negative": int(scored.high_reach_negative),
                "early_warning": int(scored.early_warning),
            }
            minute = minute_key(post.published_at)
            counters.append(_Counter(
                (topic, f"{minute}#{post.source_type}"),
                {**narrative, **{name: to_value(value) for name, value in increments.items()}},
                {"minute": to_value(minute), "source_type": to_value(post.source_type),
                 "expires_at": to_value(figures_expire_at)}))
            counters.append(self._hour_counter(scored, topic, figures_expire_at, narrative))
            arrival = self._arrival_counter(scored, topic, increments)
            if arrival is not None:
                counters.append(arrival)
        return _PostWrites(index, puts, counters, len(json.dumps(puts)))

    def _arrival_counter(self, scored: ScoredPost, topic: str, increments: dict[str, Any]) -> _Counter | None:
        """The post's minute figures added to the topic's arrivals item of the minute it is stored
        (see the module docstring); None when it lies too far from that minute to be carried."""
        post = scored.post
        arrived = minute_key(scored.ingested_at)
        lag = (datetime.fromisoformat(arrived) - datetime.fromisoformat(minute_key(post.published_at))) // _MINUTE
        source = ARRIVAL_SOURCES.get(post.source_type)
        if source is None or abs(lag) > CARRIED_LATENESS_MINUTES:
            return None
        # a figure the post adds nothing to is left out (read back as 0); `posts` is always there
        return _Counter((topic, f"{ARRIVALS_PREFIX}{arrived}"),
                        {f"{source}{lag}{code}": to_value(increments[name]) for name, code in ARRIVAL_FIGURES.items()
                         if name == "posts" or increments[name]},
                        {"expires_at": to_value(int((scored.ingested_at + ARRIVALS_KEPT).timestamp()))})

    def _hour_counter(self, scored: ScoredPost, topic: str, expires_at: int,
                      narrative: dict[str, dict[str, Any]]) -> _Counter:
        """The topic's hour figures: totals, and per platform and place, so a range of hours answers
        "where and when" from a few items."""
        post = scored.post
        negative = int(scored.sentiment_label == "negative")
        place = scored.region or scored.country or UNKNOWN_PLACE
        increments = {
            "posts": 1,
            "negative": negative,
            "crisis_posts": int(scored.is_crisis),
            "engagement": post.engagement,
            f"p_{post.platform}": 1,
            f"r_{place}": 1,
            f"rn_{place}": negative,
        }
        hour = hour_key(post.published_at)
        return _Counter((topic, f"{HOUR_PREFIX}{hour}#{post.source_type}"),
                        {**narrative, **{name: to_value(value) for name, value in increments.items()}},
                        {"hour": to_value(hour), "source_type": to_value(post.source_type),
                         "expires_at": to_value(expires_at)})

    # --- reads (drill summary, later the detector and the auditors' API) ----------------------

    def get(self, post_key: str) -> dict[str, Any] | None:
        item = self._clients("dynamodb").get_item(TableName=self._tables.posts, Key=to_item({"post_key": post_key}))
        return from_item(item["Item"]) if "Item" in item else None

    def topic_posts(self, topic: str, day: str, *, by_risk: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        """A topic's posts of one UTC day, newest first or riskiest first."""
        kwargs: dict[str, Any] = {
            "TableName": self._tables.topic_posts,
            "KeyConditionExpression": "topic_day = :td",
            "ExpressionAttributeValues": {":td": to_value(f"{topic}#{day}")},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if by_risk:
            kwargs["IndexName"] = "by_risk"
        return [from_item(i) for i in self._clients("dynamodb").query(**kwargs)["Items"]]

    def platform_posts(self, platform: str, day: str, *, since: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """A platform's posts of one UTC day, oldest first, optionally from a time on."""
        condition = "platform_day = :pd"
        values = {":pd": to_value(f"{platform}#{day}")}
        if since:
            condition += " AND published_key >= :since"
            values[":since"] = to_value(since)
        return [from_item(i) for i in query_all(self._clients("dynamodb"), TableName=self._tables.posts, IndexName="by_platform_time", KeyConditionExpression=condition,
            ExpressionAttributeValues=values, Limit=limit,
        )]

    def minute_aggregates(self, topic: str, start_minute: str, end_minute: str, *, exact: bool = False,
                          consistent: bool = False) -> list[dict[str, Any]]:
        """A topic's per-minute, per-source-type figures with start <= minute < end.

        `exact`: numbers as DynamoDB holds them (Decimal), so sums with `arrivals` stay exact;
        `consistent`: a strongly consistent read (the Detector's full read)."""
        convert = _exact_item if exact else from_item
        extra = {"ConsistentRead": True} if consistent else {}
        items = [convert(i) for i in query_all(self._clients("dynamodb"), TableName=self._tables.aggregates,
            KeyConditionExpression="topic = :t AND minute_key BETWEEN :a AND :b",
            ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(start_minute), ":b": to_value(end_minute)},
            **extra,
        )]
        return [item for item in items if item["minute"] < end_minute]

    def arrivals(self, topic: str, since_minute: str) -> list[dict[str, Any]]:
        """What arrived for a topic from `since_minute` on (later minutes included): one strongly
        consistent Query of its arrivals items, one record per arrival minute, published minute and
        source type, `{"arrived", "minute", "source_type", <the minute figures of ARRIVAL_FIGURES as Decimal>}`."""
        items = query_all(self._clients("dynamodb"), TableName=self._tables.aggregates, ConsistentRead=True,
                          KeyConditionExpression="topic = :t AND minute_key BETWEEN :a AND :b",
                          ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(ARRIVALS_PREFIX + since_minute),
                                                     ":b": to_value(ARRIVALS_PREFIX + "~")})
        figures = {code: name for name, code in ARRIVAL_FIGURES.items()}
        sources = {code: name for name, code in ARRIVAL_SOURCES.items()}
        records: list[dict[str, Any]] = []
        for item in items:
            arrived = item["minute_key"]["S"].removeprefix(ARRIVALS_PREFIX)
            found: dict[tuple[str, int], dict[str, Any]] = {}
            for name, value in item.items():
                match = _ARRIVAL_NAME.fullmatch(name)
                if match is None or "N" not in value:
                    continue
                source, lag, code = match.groups()
                record = found.get((source, int(lag)))
                if record is None:
                    published = datetime.fromisoformat(arrived) - int(lag) * _MINUTE
                    record = found[source, int(lag)] = {"arrived": arrived, "minute": minute_key(published),
                                                        "source_type": sources[source],
                                                        **dict.fromkeys(ARRIVAL_FIGURES, Decimal(0))}
                record[figures[code]] = Decimal(value["N"])
            records += sorted(found.values(), key=lambda r: (r["minute"], r["source_type"]))
        return records

    def topic_hours(self, topic: str, start_hour: str, end_hour: str) -> list[dict[str, Any]]:
        """A topic's hour figures, both source types, with start <= hour < end ("YYYY-MM-DDTHH", UTC):
        one Query on the key, every page of it."""
        return [from_item(i) for i in query_all(self._clients("dynamodb"), TableName=self._tables.aggregates,
            KeyConditionExpression="topic = :t AND minute_key BETWEEN :a AND :b",
            ExpressionAttributeValues={":t": to_value(topic), ":a": to_value(f"{HOUR_PREFIX}{start_hour}"),
                                       ":b": to_value(f"{HOUR_PREFIX}{end_hour}")},
        )]

    def narrative_posts(self, topic: str, start: datetime, end: datetime, narratives: set[str], *,
                        wanted: int = 3, budget: int = NARRATIVE_LINKS_READ) -> tuple[list[dict[str, Any]], int]:
        """A topic's crisis posts published in [start, end) that the riskiest `wanted` of each narrative are
        among, and the links read: the by_risk index of each UTC day of the range (newest day first),
        riskiest first, filtered to posts with a narrative in the range. A day is read page by page until
        every narrative of `narratives` holds `wanted` posts at least as risky as the day's next one, or
        `budget` links have been read in all (then the answer is the riskiest found within it)."""
        fields = ("narrative", "risk", "platform", "text", "author", "followers", "url", "published_key", "post_key")
        names = {f"#f{n}": name for n, name in enumerate(fields)}
        found: dict[str, list[int]] = {}
        posts: list[dict[str, Any]] = []
        read = 0
        day = (end - timedelta(microseconds=1)).date()
        while day >= start.date() and read < budget:
            request: dict[str, Any] = {
                "TableName": self._tables.topic_posts, "IndexName": "by_risk", "ScanIndexForward": False,
                "KeyConditionExpression": "topic_day = :td",
                "FilterExpression": "attribute_exists(#f0) AND #f7 BETWEEN :a AND :b",
                "ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":td": to_value(f"{topic}#{day.isoformat()}"), ":a": to_value(_iso(start)),
                                              ":b": to_value(_iso(end - timedelta(seconds=1)) + "~")}}
            while read < budget:
                page = self._clients("dynamodb").query(**request, Limit=min(NARRATIVE_PAGE, budget - read))
                read += page["ScannedCount"]
                for raw in page["Items"]:
                    post = from_item(raw)
                    posts.append(post)
                    found.setdefault(post["narrative"], []).append(int(post["risk"]))
                cursor = page.get("LastEvaluatedKey")
                if cursor is None:
                    break
                request["ExclusiveStartKey"] = cursor
                following = int(cursor["risk_key"]["S"][:3])  # no later post of this day is riskier
                if all(len(found.get(n, ())) >= wanted and sorted(found[n], reverse=True)[wanted - 1] >= following
                       for n in narratives):
                    break
            day -= timedelta(days=1)
        return posts, read



def narrative_counters(scored: ScoredPost) -> dict[str, int]:
    """What a crisis post adds to its narrative's counters in the minute and hour items (none for another
    post): `nv_<narrative>` 1, `nn_<narrative>` 1 when negative, `nr_<narrative>` its author's followers,
    `np_<narrative>_<platform>` 1; zeros left out (they read back as 0)."""
    group = scored.narrative
    if not group:
        return {}
    counters = {f"nv_{group}": 1, f"nn_{group}": int(scored.sentiment_label == "negative"),
                f"nr_{group}": scored.post.followers, f"np_{group}_{scored.post.platform}": 1}
    return {name: value for name, value in counters.items() if value}


@dataclass
class _Counter:
    """What posts add to one aggregates item: numbers ADDed (typed values) and labels SET."""

    key: tuple[str, str]  # (topic, minute_key)
    adds: dict[str, dict[str, Any]]
    sets: dict[str, dict[str, Any]]


@dataclass
class _PostWrites:
    index: int  # the post's place in `store_many`'s list
    puts: list[dict[str, Any]]  # the post's Put first, then its claim (Mastodon), then its links
    counters: list[_Counter]
    size: int


@dataclass
class _Batch:
    """Posts packed into one transaction, within DynamoDB's limits once their Updates are merged."""

    members: list[_PostWrites] = field(default_factory=list)
    names: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # per aggregates item, its attributes
    actions: int = 0
    size: int = 0

    def fits(self, writes: _PostWrites) -> bool:
        if not self.members:
            return True
        actions, size = self.actions + len(writes.puts), self.size + writes.size
        for counter in writes.counters:
            names = self.names.get(counter.key)
            if names is None:
                actions += 1
            elif len(names.union(counter.adds, counter.sets)) > UPDATE_ATTRIBUTES:
                return False
        return actions <= TRANSACT_ACTIONS and size <= TRANSACTION_BYTES

    def add(self, writes: _PostWrites) -> None:
        self.members.append(writes)
        self.actions += len(writes.puts)
        self.size += writes.size
        for counter in writes.counters:
            names = self.names.get(counter.key)
            if names is None:
                self.actions += 1
                self.names[counter.key] = {*counter.adds, *counter.sets}
            else:
                names.update(counter.adds, counter.sets)


def _render(members: list[_PostWrites], table: str) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """One transaction for these posts: every Put (each post's, then its links), then one Update per
    aggregates item with the posts' figures summed (labels are the same for every post of an item,
    `expires_at` the latest); and which post each Put belongs to (its position in `members`), by action
    index: the Updates after them belong to no one post."""
    actions: list[dict[str, Any]] = []
    owners: dict[int, int] = {}
    merged: dict[tuple[str, str], _Counter] = {}
    for position, member in enumerate(members):
        owners.update(dict.fromkeys(range(len(actions), len(actions) + len(member.puts)), position))
        actions += member.puts
        for counter in member.counters:
            into = merged.get(counter.key)
            if into is None:
                merged[counter.key] = _Counter(counter.key, dict(counter.adds), dict(counter.sets))
                continue
            for name, value in counter.adds.items():
                before = into.adds.get(name)
                into.adds[name] = value if before is None else \
                    {"N": str(DYNAMODB_CONTEXT.add(Decimal(before["N"]), Decimal(value["N"])))}
            for name, value in counter.sets.items():
                before = into.sets.get(name)
                if name == "expires_at" and before is not None and Decimal(before["N"]) > Decimal(value["N"]):
                    continue
                into.sets[name] = value
    for counter in merged.values():
        adds, sets = list(counter.adds.items()), list(counter.sets.items())
        # numbered placeholders: names such as r_CN-GD or a narrative's term cannot be spelled as one
        actions.append({"Update": {
            "TableName": table,
            "Key": {"topic": {"S": counter.key[0]}, "minute_key": {"S": counter.key[1]}},
            "UpdateExpression": "ADD " + ", ".join(f"#a{n} :a{n}" for n in range(len(adds)))
                                + " SET " + ", ".join(f"#s{n} = :s{n}" for n in range(len(sets))),
            "ExpressionAttributeNames": {**{f"#a{n}": name for n, (name, _) in enumerate(adds)},
                                         **{f"#s{n}": name for n, (name, _) in enumerate(sets)}},
            "ExpressionAttributeValues": {**{f":a{n}": value for n, (_, value) in enumerate(adds)},
                                          **{f":s{n}": value for n, (_, value) in enumerate(sets)}},
        }})
    return actions, owners


def _exact_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item with its numbers as DynamoDB holds them (Decimal), unlike `from_item`."""
    from crisiscomms.aws.dynamo import deserialize  # boto3's TypeDeserializer, without importing boto3

    return {k: deserialize(v) for k, v in item.items()}
