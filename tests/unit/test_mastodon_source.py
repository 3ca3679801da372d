"""The Mastodon listening parser and reader, against payloads and answers shaped as Mastodon documents them."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from crisiscomms.adapters.sources.mastodon import (
    BankIdentity,
    MastodonReader,
    parse_mentions,
    parse_statuses,
    snowflake_at,
    snowflake_time,
    status_text,
)
from crisiscomms.errors import (
    PermanentPlatformError,
    RateLimited,
    ReauthorisationNeeded,
    TokenExpired,
    TransientPlatformError,
)
from crisiscomms.watch.mastodon import MastodonSource

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
BANK = BankIdentity("examplebank", "109876543210987654")

# A Status entity as docs.joinmastodon.org/entities/Status shows it (trimmed to what the parser reads).
STATUS: dict[str, Any] = {
    "id": "103270115826048975",
    "created_at": "2019-12-08T03:48:33.901Z",
    "in_reply_to_id": None,
    "in_reply_to_account_id": None,
    "sensitive": False,
    "spoiler_text": "",
    "visibility": "public",
    "language": "en",
    "uri": "https://mastodon.social/users/Gargron/statuses/103270115826048975",
    "url": "https://mastodon.social/@Gargron/103270115826048975",
    "replies_count": 5,
    "reblogs_count": 6,
    "favourites_count": 11,
    "content": "<p>&quot;I lost my inheritance with one wrong digit on my sort code&quot;</p><p><a href=\"https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code\" rel=\"nofollow noopener noreferrer\" target=\"_blank\"><span class=\"invisible\">https://www.</span><span class=\"ellipsis\">theguardian.com/money/2019/dec</span><span class=\"invisible\">/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code</span></a></p>",
    "reblog": None,
    "account": {"id": "1", "username": "Gargron", "acct": "Gargron", "display_name": "Eugen",
                "followers_count": 322930, "url": "https://mastodon.social/@Gargron"},
    "media_attachments": [],
    "mentions": [],
    "tags": [],
    "emojis": [],
}


def _status(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(STATUS)), **changes}


# --- parsing -------------------------------------------------------------------------------------

def test_status_becomes_a_post_with_clean_text_author_reach_and_counts() -> None:
    posts, malformed = parse_statuses([STATUS], source_id="m-tag", bank=BANK)
    assert malformed == []
    [post] = posts
    assert post.key == "mastodon#103270115826048975"
    assert post.text == ('"I lost my inheritance with one wrong digit on my sort code" https://www.theguardian.com/money/'
                         "2019/dec/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code")
    assert (post.author, post.author_id, post.followers) == ("Gargron", "1", 322930)
    assert post.url == "https://mastodon.social/@Gargron/103270115826048975"
    assert (post.likes, post.reposts, post.replies, post.quotes) == (11, 6, 5, 0)
    assert post.published_at == datetime(2019, 12, 8, 3, 48, 33, 901000, tzinfo=timezone.utc)
    assert post.lang_hint == "en" and post.location is None and post.title is None and post.to_bank is False
    # Read without naming the server: only the URI, for the bank's server to look the status up by.
    assert post.reply_ref == {"uri": "https://mastodon.social/users/Gargron/statuses/103270115826048975"}


def test_reply_ref_names_the_server_whose_id_the_post_carries() -> None:
    [post], _ = parse_statuses([STATUS], source_id="m-tag", bank=BANK, server="https://social.example")
    assert post.native_id == "103270115826048975"  # that server's id of the status
    assert post.reply_ref == {"uri": STATUS["uri"], "server": "https://social.example"}
    [mention], _ = parse_mentions([{"id": "1", "type": "mention", "status": STATUS}], source_id="m", bank=BANK,
                                  server="https://social.example")
    assert mention.reply_ref == post.reply_ref


def test_created_at_with_an_offset_is_read_in_its_zone_and_stored_in_utc() -> None:
    [post], _ = parse_statuses([_status(created_at="2026-11-28T17:00:05+08:00")], source_id="m", bank=BANK)
    assert post.published_at == datetime(2026, 11, 28, 9, 0, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(("html", "text"), [
    ("<p>Harbor Bank&#39;s ATMs are down</p><p>again</p>", "Harbor Bank's ATMs are down again"),
    ("<p>line one<br>line two<br />three</p>", "line one line two three"),
    ('<p><span class="h-card"><a href="https://social.example/@examplebank" class="u-url mention">@<span>examplebank</span></a></span> '
     'where is my money? <a href="https://social.example/tags/bankrun" class="mention hashtag" rel="tag">#<span>bankrun</span></a></p>',
     "@examplebank where is my money? #bankrun"),
    ("<p>5 &lt; 6 &amp;&amp; &quot;quoted&quot;</p>", '5 < 6 && "quoted"'),
    ("<p>safe</p><script>alert('x')</script><style>p{}</style><img src=x onerror=alert(1)>", "safe"),
    ("<p>&lt;script&gt;alert(1)&lt;/script&gt; typed as text</p>", "<script>alert(1)</script> typed as text"),
    ("<p>  many\n\n   spaces\t</p>", "many spaces"),
    ("<p>港湾银行<br>挤兑</p>", "港湾银行 挤兑"),
    ("<p>unclosed <b>bold", "unclosed bold"),
])
def test_content_html_is_stored_as_clean_text(html: str, text: str) -> None:
    assert status_text(html) == text


def test_content_warning_is_the_title_and_a_boost_is_read_as_the_boosted_status() -> None:
    [post], _ = parse_statuses([_status(spoiler_text="Bank  outage")], source_id="m", bank=BANK)
    assert post.title == "Bank outage" and post.full_text.startswith("Bank outage\n")
    boost = _status(id="103270115826049999", content="", reblog=_status(id="103270115826040000"))
    [post], _ = parse_statuses([boost], source_id="m", bank=BANK)
    assert post.native_id == "103270115826040000"


@pytest.mark.parametrize(("change", "to_bank"), [
    ({"mentions": [{"id": "109876543210987654", "username": "examplebank", "acct": "examplebank", "url": "u"}]}, True),
    ({"mentions": [{"id": "5", "username": "examplebank", "acct": "examplebank@social.example", "url": "u"}]}, True),
    ({"mentions": [{"id": "5", "username": "examplebank", "acct": "ExampleBank", "url": "u"}]}, True),
    ({"in_reply_to_id": "1", "in_reply_to_account_id": "109876543210987654"}, True),
    ({"mentions": [{"id": "6", "username": "examplebank2", "acct": "examplebank2", "url": "u"}]}, False),
    ({"in_reply_to_id": "1", "in_reply_to_account_id": "42"}, False),
])
def test_a_mention_of_the_bank_or_a_reply_to_it_is_addressed_to_the_bank(change: dict, to_bank: bool) -> None:
    [post], _ = parse_statuses([_status(**change)], source_id="m", bank=BANK)
    assert post.to_bank is to_bank


def test_handle_with_a_server_matches_only_that_server_when_both_name_one() -> None:
    bank = BankIdentity("@examplebank@social.example", None)
    assert bank.is_bank(None, "examplebank") and bank.is_bank(None, "examplebank@social.example")
    assert not bank.is_bank(None, "examplebank@elsewhere.example")


def test_malformed_statuses_are_skipped_and_described_without_failing_the_page() -> None:
    items = [
        _status(id="1", created_at="2019-12-08T03:48:33"),  # no zone
        _status(id="2", account="nobody"),
        _status(id="3", content=None),
        {k: v for k, v in STATUS.items() if k != "created_at"} | {"id": "4"},
        "not an object",
        STATUS,
    ]
    posts, malformed = parse_statuses(items, source_id="m", bank=BANK)
    assert [p.native_id for p in posts] == [STATUS["id"]]
    assert len(malformed) == 5
    assert malformed[0].startswith("status 1: ValueError") and "timezone" in malformed[0]
    assert malformed[1].startswith("status 2: TypeError") and malformed[3].startswith("status 4: KeyError")
    assert malformed[4].startswith("status ?:")


def test_mention_notifications_carry_their_status_addressed_to_the_bank() -> None:
    notifications = [
        {"id": "34975861", "type": "mention", "created_at": "2019-11-23T07:49:02.064Z",
         "account": STATUS["account"], "status": STATUS},
        {"id": "34975862", "type": "favourite", "created_at": "2019-11-23T07:49:03.064Z",
         "account": STATUS["account"], "status": STATUS},
        {"id": "34975863", "type": "mention", "created_at": "2019-11-23T07:49:04.064Z", "account": STATUS["account"]},
    ]
    posts, malformed = parse_mentions(notifications, source_id="m-mentions", bank=BankIdentity(None, None))
    assert [(p.native_id, p.to_bank) for p in posts] == [(STATUS["id"], True)]
    assert malformed == ["notification 34975863: TypeError: notification without a status"]


def test_ids_are_milliseconds_shifted_sixteen_bits() -> None:
    when = datetime(2026, 11, 28, 8, 59, 30, 250000, tzinfo=timezone.utc)
    assert snowflake_time(str(snowflake_at(when) | 0xBEEF)) == when
    assert snowflake_time("12345") is None and snowflake_time("not-a-number") is None


# --- the reader against answers shaped as Mastodon's --------------------------------------------

class _Credentials:
    def current(self) -> dict[str, Any]:
        return {"access_token": "bank-token"}


def _reader(handler: Any, **options: Any) -> MastodonReader:
    http = httpx.Client(base_url="https://social.example", transport=httpx.MockTransport(handler))
    settings: dict[str, Any] = {"stream": "hashtag", "hashtag": "港湾银行", "limit": 2, "lookback": timedelta(minutes=15),
                                "overlap": timedelta(minutes=10), "bank": BANK}
    settings.update(options)
    return MastodonReader(http, source_id="m", credentials=_Credentials(), clock=lambda: NOW, **settings)


def _at(seconds_before_now: int, sequence: int = 1) -> str:
    return str(snowflake_at(NOW - timedelta(seconds=seconds_before_now)) | sequence)


def _params(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


def test_hashtag_first_poll_reads_forward_from_the_look_back_with_the_documented_parameters() -> None:
    seen: list[httpx.Request] = []
    newest = _at(60)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        link = (f'<https://social.example/api/v1/timelines/tag/x?max_id={_at(120)}>; rel="next", '
                f'<https://social.example/api/v1/timelines/tag/x?min_id={newest}>; rel="prev"')
        return httpx.Response(200, json=[_status(id=newest), _status(id=_at(120))], headers={"Link": link})

    page = _reader(handler, any_tags=("bankrun",), local_only=True).read({})
    [request] = seen
    assert request.url.raw_path.split(b"?")[0] == b"/api/v1/timelines/tag/%E6%B8%AF%E6%B9%BE%E9%93%B6%E8%A1%8C"
    assert request.headers["Authorization"] == "Bearer bank-token"
    assert _params(request) == {"min_id": [str(snowflake_at(NOW - timedelta(minutes=15)))], "limit": ["2"],
                                "any[]": ["bankrun"], "local": ["true"]}
    assert [p.native_id for p in page.posts] == [newest, _at(120)]
    assert page.more is True, "a full page: the next newer page may be waiting"
    assert page.cursor["min_id"] == newest and page.cursor["pass_from"] == newest
    assert set(page.cursor["seen"]) == {newest, _at(120)}


def test_a_new_pass_starts_the_overlap_below_the_newest_id_and_skips_what_it_already_stored() -> None:
    newest, late = _at(300), _at(500)  # `late` federated after `newest` was read, with an older id
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[_status(id=newest), _status(id=late)])

    page = _reader(handler).read({"min_id": newest, "seen": [newest]})
    expected_start = snowflake_at(snowflake_time(newest) - timedelta(minutes=10))
    assert _params(seen[0])["min_id"] == [str(expected_start)]
    assert [p.native_id for p in page.posts] == [late]
    assert page.cursor["min_id"] == newest, "the high-water mark never goes back"
    assert page.more is True and page.cursor["pass_from"] == newest

    page = _reader(handler).read({"min_id": newest, "pass_from": late, "seen": [newest, late]})
    assert _params(seen[1])["min_id"] == [late], "a pass under way goes on from where it is"
    assert page.posts == []


def test_short_page_ends_the_pass() -> None:
    newest = _at(30)
    page = _reader(lambda r: httpx.Response(200, json=[_status(id=newest)])).read({})
    assert page.more is False and page.cursor["pass_from"] is None and page.cursor["min_id"] == newest


def test_mentions_read_notifications_of_type_mention_without_overlap() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"id": "9001", "type": "mention", "created_at": "2026-11-28T08:59:00.000Z",
                                          "account": STATUS["account"], "status": STATUS}])

    page = _reader(handler, stream="mentions", hashtag=None, limit=80, overlap=timedelta(0)).read({"min_id": "9000"})
    assert seen[0].url.path == "/api/v1/notifications"
    assert _params(seen[0]) == {"min_id": ["9000"], "limit": ["80"], "types[]": ["mention"]}
    assert page.cursor == {"min_id": "9001", "pass_from": None, "seen": None}
    assert page.posts[0].to_bank is True


def test_search_walks_down_from_the_top_then_moves_its_floor_up() -> None:
    seen: list[httpx.Request] = []
    first = [_status(id=_at(10), created_at="2026-11-28T08:59:50.000Z"),
             _status(id=_at(40, 7), created_at="2026-11-28T08:59:20.400Z")]
    second = [_status(id=_at(40, 3), created_at="2026-11-28T08:59:20.100Z")]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"accounts": [], "hashtags": [], "statuses": first if len(seen) == 1 else second})

    reader = _reader(handler, stream="search", hashtag=None, query='"harbor bank"')
    page = reader.read({"newest_at": "2026-11-28T08:50:00+00:00"})
    floor = datetime(2026, 11, 28, 8, 40, tzinfo=timezone.utc)
    assert seen[0].url.path == "/api/v2/search"
    assert _params(seen[0]) == {"q": ['"harbor bank"'], "type": ["statuses"], "resolve": ["false"], "limit": ["2"],
                                "min_id": [str(snowflake_at(floor))]}
    assert page.more is True
    # Mastodon cuts max_id to a `before:` second: the next page ends at the second after the oldest post's
    boundary = snowflake_at(datetime(2026, 11, 28, 8, 59, 21, tzinfo=timezone.utc))
    assert page.cursor["walk_from"] == str(boundary) and page.cursor["walk_floor"] == floor.isoformat()

    cursor = {"newest_at": "2026-11-28T08:50:00+00:00", **page.cursor}
    page = reader.read(cursor)
    assert _params(seen[1])["max_id"] == [str(boundary)] and _params(seen[1])["min_id"] == [str(snowflake_at(floor))]
    assert [p.native_id for p in page.posts] == [_at(40, 3)]
    assert page.more is False
    assert page.cursor["newest_at"] == "2026-11-28T08:59:50+00:00" and page.cursor["walk_from"] is None


def test_search_walk_falls_back_to_the_oldest_id_when_a_whole_page_shares_one_second() -> None:
    same_second = [_status(id=_at(40, n), created_at="2026-11-28T08:59:20.000Z") for n in (9, 8)]
    reader = _reader(lambda r: httpx.Response(200, json={"statuses": same_second}), stream="search", hashtag=None,
                     query="bank")
    boundary = snowflake_at(datetime(2026, 11, 28, 8, 59, 21, tzinfo=timezone.utc))
    page = reader.read({"walk_from": str(boundary), "walk_floor": "2026-11-28T08:40:00+00:00"})
    assert page.cursor["walk_from"] == _at(40, 8)


def _fails_with(response: httpx.Response, error: type[Exception], **options: Any) -> Exception:
    with pytest.raises(error) as caught:
        _reader(lambda r: response, **options).read({})
    return caught.value


def test_errors_map_onto_the_domain() -> None:
    assert "invalid" in str(_fails_with(httpx.Response(401, json={"error": "The access token is invalid"}), TokenExpired))
    _fails_with(httpx.Response(403, json={"error": "This action is outside the authorized scopes"}), ReauthorisationNeeded)
    _fails_with(httpx.Response(503, text="<html>busy</html>"), TransientPlatformError)
    _fails_with(httpx.Response(422, json={"error": "Validation failed"}), PermanentPlatformError, stream="search",
                hashtag=None, query="x")
    limited = _fails_with(httpx.Response(429, json={"error": "Too many requests"}, headers={
        "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-28T09:04:30.250Z"}),
        RateLimited)
    assert limited.resume_at == datetime(2026, 11, 28, 9, 4, 30, 250000, tzinfo=timezone.utc)


def test_errors_inside_a_200_and_bodies_that_are_not_json_are_not_read_as_pages() -> None:
    assert "quota" in str(_fails_with(httpx.Response(200, json={"error": "quota"}), PermanentPlatformError))
    _fails_with(httpx.Response(200, text="<html>maintenance</html>"), TransientPlatformError)
    _fails_with(httpx.Response(200, json={"accounts": []}), TransientPlatformError, stream="search", hashtag=None, query="x")


def test_a_hashtag_nobody_used_yet_is_an_empty_page_not_a_failure() -> None:
    page = _reader(lambda r: httpx.Response(404, json={"error": "Record not found"})).read({})
    assert page.posts == [] and page.cursor == {} and page.more is False


def test_the_last_call_of_the_window_parks_the_source_until_the_iso_reset() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-11-28T09:05:00.000Z"}
    page = _reader(lambda r: httpx.Response(200, json=[], headers=headers)).read({})
    assert page.resume_at == datetime(2026, 11, 28, 9, 5, tzinfo=timezone.utc)
    headers["X-RateLimit-Remaining"] = "12"
    assert _reader(lambda r: httpx.Response(200, json=[], headers=headers)).read({}).resume_at is None


# --- the watch configuration ----------------------------------------------------------------------

def _source(**fields: Any) -> MastodonSource:
    return MastodonSource.model_validate({"id": "m", "platform": "mastodon", "base_url": "https://social.example",
                                         **fields})


@pytest.mark.parametrize(("fields", "problem"), [
    ({"hashtag": "a b"}, "hashtag"),
    ({"hashtag": "2026"}, "all digits"),
    ({}, "needs the hashtag"),
    ({"stream": "search"}, "needs its query"),
    ({"stream": "mentions", "hashtag": "bank"}, "applies only to stream hashtag"),
    ({"stream": "search", "query": "bank", "any_tags": ["x"]}, "any_tags applies only"),
    ({"hashtag": "bank", "page_size": 41}, "at most 40"),
    ({"stream": "mentions", "page_size": 81}, "page_size"),
    ({"hashtag": "bank", "any_tags": ["a", "b", "c", "d", "e"]}, "any_tags"),
    ({"hashtag": "bank", "base_url": None}, "base_url"),
])
def test_invalid_sources_are_refused_naming_the_field(fields: dict, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _source(**fields)


def test_a_leading_hash_is_dropped_and_mentions_read_80_without_overlap() -> None:
    assert _source(hashtag="#港湾银行").hashtag == "港湾银行"
    mentions = _source(stream="mentions")
    assert (mentions.limit, mentions.overlap) == (80, 0)
    assert (_source(hashtag="bank").limit, _source(hashtag="bank").overlap) == (40, 10)


# --- the emulator keeps Mastodon's documented semantics -------------------------------------------

@pytest.fixture
def server() -> Any:
    from crisiscomms.clock import SimulatedClock
    from crisiscomms_local.emulators.channels.mastodon import MastodonEmulator

    emulator = MastodonEmulator(SimulatedClock(NOW), timeout_delay=0.2)
    emulator.start()
    yield emulator
    emulator.stop()


def test_emulator_min_id_answers_the_page_immediately_newer_with_link_headers(server: Any) -> None:
    ids = [int(server.add_post(text=f"post {n}", author="a", created_at=NOW - timedelta(minutes=10 - n)))
           for n in range(5)]
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.access_token}"}) as http:
        response = http.get("/api/v1/timelines/tag/examplebank", params={"min_id": ids[0], "limit": 2})
        assert [int(s["id"]) for s in response.json()] == [ids[2], ids[1]], "oldest two above min_id, newest first"
        assert response.links["prev"]["url"].endswith(f"min_id={ids[2]}")
        assert response.links["next"]["url"].endswith(f"max_id={ids[1]}")
        assert response.headers["X-RateLimit-Remaining"] == "299" and response.headers["X-RateLimit-Reset"].endswith("Z")
        newest = http.get("/api/v1/timelines/tag/examplebank", params={"limit": 2}).json()
        assert [int(s["id"]) for s in newest] == [ids[4], ids[3]]
        assert http.get("/api/v1/timelines/tag/nobodyusesthis").status_code == 404


def test_emulator_search_reads_min_id_as_a_time_to_the_second_and_answers_newest_first(server: Any) -> None:
    base = NOW - timedelta(minutes=5)
    same_second = [server.add_post(text="bank run", author="a", created_at=base + timedelta(milliseconds=ms))
                   for ms in (100, 500, 900)]
    later = server.add_post(text="bank run later", author="b", created_at=base + timedelta(seconds=3))
    server.add_post(text="bank run hidden", author="c", created_at=base + timedelta(seconds=4), indexable=False)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.access_token}"}) as http:
        found = http.get("/api/v2/search", params={"q": "bank run", "type": "statuses", "min_id": same_second[1]})
        # `after:` the second min_id was minted in: its same-second neighbours, older ones too, come back
        assert [s["id"] for s in found.json()["statuses"]] == [later, *same_second[::-1]]
        assert "Link" not in found.headers
        everything = http.get("/api/v2/search", params={"q": '"bank run" -later', "type": "statuses"}).json()
        assert [s["id"] for s in everything["statuses"]] == same_second[::-1]


def test_emulator_implements_the_listening_protocol_the_drill_uses(server: Any) -> None:
    from crisiscomms.watch import parse_watch_config

    config = parse_watch_config({"topics": [{"id": "bank", "names": ["Example Bank"]}],
                                 "sources": server.watch_sources(server.default_account()),
                                 "accounts": {"mastodon": server.default_account()}})
    assert [s.stream for s in config.sources] == ["hashtag", "mentions"]
    assert server.platform == "mastodon" and server.credentials() == {"access_token": server.access_token}
