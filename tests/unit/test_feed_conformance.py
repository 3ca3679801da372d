"""News feeds as a mature reader sees them: feedparser's own test corpus, Chinese charsets, entities, zones.

The corpus is feedparser's `tests/` folder, kept outside the repository in
shared/external/feedparser-tests (its COMMIT file names the revision). Each file's header comment
says what feedparser extracts from it:

    Header:      Content-type: application/atom+xml; charset='gb2312'   (files named http*: the HTTP headers)
    SkipUnless:  __import__('codecs').lookup('gb2312')                  (a precondition)
    Description: ...
    Expect:      not bozo and entries[0]['title'] == '...'              (Python over feedparser's result)

Three checks per file: feedparser itself meets the expectation; our reading of the document
(`read_document`: feedparser after entity declarations are defused) meets it too; and the posts
`parse_feed` makes agree with feedparser's entries (one post or one malformed report per entry,
the same id, link, text and instant).
"""
from __future__ import annotations

import codecs
import io
import re
import socket
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest

from crisiscomms.adapters.sources import feeds
from crisiscomms.adapters.sources.feeds import (
    MAX_FEED_BYTES,
    FeedClient,
    entry_date,
    parse_feed,
    read_document,
)
from crisiscomms.errors import PermanentPlatformError
from crisiscomms.models import stable_id

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "external" / "feedparser-tests" / "tests"
if not CORPUS.is_dir():
    pytest.skip(f"feedparser's test corpus is not at {CORPUS}", allow_module_level=True)

FETCHED_AT = datetime(2030, 1, 1, tzinfo=UTC)
_DESCRIPTION = re.compile(r"Description:\s*(.*?)\s*Expect:\s*(.*)\s*-->")
_HEADER = re.compile(r"^Header:\s+([^:]+):(.*)$", re.MULTILINE)
_SKIP_UNLESS = re.compile(r"SkipUnless:\s*(.*?)\n")
# Expectations about what becomes a post: entry text, links, ids and dates.
_ABOUT_WHAT_WE_EXTRACT = re.compile(
    r"entries\[\d+\]\[['\"](?:title|summary|description|content|link|links|id|guid"
    r"|published|updated|created|issued|modified|date)"
)
# Text encodings by their first bytes (XML 1.0 appendix F), to read the header comment.
_SNIFFED = (
    (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_NEWER_FEEDPARSER = "link priority for an entry whose first link has no href changed after feedparser 6.0.14"
# Files whose expectation feedparser 6.0.14, as installed, does not meet; the test says so if one starts to.
KNOWN_DEVIATIONS = {
    **{f"wellformed/{folder}/{name}.xml": _NEWER_FEEDPARSER
       for folder in ("atom", "atom10") for name in ("entry_link_no_href_link_priority", "entry_link_rel_enclosure_no_href")},
}


@dataclass(frozen=True)
class Case:
    name: str  # path under the corpus, e.g. "wellformed/atom/entry_title.xml"
    data: bytes
    expect: str
    headers: dict[str, str] | None
    precondition: str

    @property
    def folder(self) -> str:
        return self.name.rsplit("/", 1)[0]


def _header_text(data: bytes) -> str:
    for start, codec in _SNIFFED:
        if data.startswith(start):
            return data.decode(codec, errors="ignore")
    return data.decode("utf-8", errors="ignore")


def _case(path: Path) -> Case:
    data = path.read_bytes()
    text = _header_text(data)
    description = _DESCRIPTION.search(text)
    assert description, f"{path}: no Description/Expect header"
    headers = None
    if "http" in path.name:  # served over HTTP in feedparser's own suite, text/xml unless the file says otherwise
        headers = {"content-type": "text/xml"}
        headers.update({k.strip().lower(): v.strip() for k, v in _HEADER.findall(text)})
    precondition = _SKIP_UNLESS.search(text)
    return Case(path.relative_to(CORPUS).as_posix(), data, description.group(2).strip(), headers,
                precondition.group(1).strip() if precondition else "1")


CASES = [_case(path) for path in sorted(CORPUS.rglob("*.xml"))]


def _params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DEVIATIONS[c.name])]
                         if c.name in KNOWN_DEVIATIONS else []) for c in cases]


ABOUT_ENCODINGS = ("encoding", "illformed/chardet")
EXPECTATIONS = _params([c for c in CASES if c.folder in ABOUT_ENCODINGS or _ABOUT_WHAT_WE_EXTRACT.search(c.expect)])


def _feedparser(case: Case) -> Any:
    return feedparser.parse(io.BytesIO(case.data), response_headers=case.headers)


def _holds(case: Case, result: Any) -> bool:
    try:
        eval(case.precondition)  # the corpus' own precondition
    except LookupError:
        pytest.skip(f"this Python lacks what the file needs: {case.precondition}")
    return bool(eval(case.expect, {"feedparser": feedparser}, result))


def _parse(case: Case, **options: Any) -> tuple[list[Any], list[str]]:
    return parse_feed(case.data, feed_name="corpus", audience=1, language="en",
                      response_headers=case.headers, fetched_at=FETCHED_AT, **options)


@pytest.mark.parametrize("case", EXPECTATIONS)
def test_feedparser_meets_the_files_expectation(case: Case) -> None:
    assert _holds(case, _feedparser(case)), case.expect


@pytest.mark.parametrize("case", EXPECTATIONS)
def test_our_reading_meets_the_same_expectation(case: Case) -> None:
    assert _holds(case, read_document(case.data, case.headers)), case.expect


class _VisibleText(HTMLParser):
    """What a browser would show of an HTML fragment; an independent check of `clean_text`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _visible(value: str | None, media_type: str) -> str:
    """The characters of a field, whitespace aside (where tags leave spaces is `clean_text`'s choice)."""
    if value and "html" in media_type:
        parser = _VisibleText()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    return "".join((value or "").split())


def _entry_texts(entry: Any) -> tuple[str, str]:
    title = _visible(entry.get("title"), (entry.get("title_detail") or {}).get("type", "text/plain"))
    summary_detail = entry.get("summary_detail")  # absent when the summary is feedparser's copy of the content
    body = _visible(entry.get("summary"), summary_detail["type"]) if summary_detail else ""
    for content in entry.get("content") or []:
        body = body or _visible(content.get("value"), content.get("type", "text/plain"))
    return title, body


def _feedparser_instant(entry: Any) -> datetime | None:
    """feedparser's reading of the entry's first date; FETCHED_AT when it has none, None when unreadable."""
    for name in feeds.DATE_FIELDS:
        if dict.get(entry, name):
            parsed = dict.get(entry, f"{name}_parsed")
            return datetime(*parsed[:6], tzinfo=UTC) if parsed else None
    return FETCHED_AT


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_posts_agree_with_feedparsers_entries(case: Case) -> None:
    theirs = _feedparser(case)
    if not theirs.get("version") and not theirs.entries:
        with pytest.raises(PermanentPlatformError):
            _parse(case)
        return
    posts, malformed = _parse(case)
    assert len(posts) + len(malformed) == len(theirs.entries)
    remaining = iter(posts)
    for entry in theirs.entries:
        identity = (entry.get("id") or entry.get("link") or "").strip()
        title, body = _entry_texts(entry)
        instant = _feedparser_instant(entry)
        if instant not in (None, FETCHED_AT):  # a date of its own, which feedparser could read
            # With UTC as the feed's zone a zone-less date means what feedparser takes it to mean.
            assert entry_date(entry).replace(microsecond=0) == instant
        if not (identity and (title or body) and instant):
            continue
        post = next(remaining)
        assert post.native_id == f"corpus#{stable_id(identity)}"
        assert post.url == (entry.get("link") or identity)
        assert "".join((post.title or "").split()) == title
        assert "".join(post.text.split()) == (body or title)
        assert post.published_at.replace(microsecond=0) == instant
    assert next(remaining, None) is None, "a post for an entry feedparser cannot make one of"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES if c.folder == "encoding"])
def test_every_encoding_file_decodes_as_feedparser_decodes_it(case: Case) -> None:
    theirs, ours = _feedparser(case), read_document(case.data, case.headers)
    assert ours.get("encoding") == theirs.get("encoding")
    assert ours.feed.get("title") == theirs.feed.get("title")
    assert ours.feed.get("subtitle") == theirs.feed.get("subtitle")
    assert [e.get("title") for e in ours.entries] == [e.get("title") for e in theirs.entries]
    assert [e.get("summary") for e in ours.entries] == [e.get("summary") for e in theirs.entries]


def test_corpus_totals(record_property: Any) -> None:
    """The figures over the whole corpus; every well-formed and every encoding file is read."""
    files, posts, loosely, refused = Counter(), Counter(), Counter(), Counter()
    non_ascii = 0  # encoding files with non-ASCII text, which decodes as feedparser decodes it
    for case in CASES:
        files[case.folder] += 1
        try:
            made, _ = _parse(case)
        except PermanentPlatformError:
            refused[case.folder] += 1
            continue
        posts[case.folder] += len(made)
        document = read_document(case.data, case.headers)
        loosely[case.folder] += bool(document.get("bozo"))
        if case.folder == "encoding":
            texts = [document.feed.get("title"), document.feed.get("subtitle")]
            texts += [entry.get(name) for entry in document.entries for name in ("title", "summary")]
            non_ascii += not "".join(t or "" for t in texts).isascii()
    totals = {"files": sum(files.values()), "posts": sum(posts.values()), "read_loosely": sum(loosely.values()),
              "refused": sum(refused.values()),
              "per_folder": {folder: {"files": files[folder], "posts": posts[folder], "read_loosely": loosely[folder],
                                      "refused": refused[folder]} for folder in sorted(files)}}
    record_property("feed_corpus", totals)
    print(f"\nfeedparser corpus: {totals}")
    assert totals["files"] == len(CASES) >= 700
    for folder, at_least in {"wellformed/atom": 150, "wellformed/atom10": 240, "wellformed/rss": 190,
                             "wellformed/rdf": 12, "encoding": 80}.items():
        assert files[folder] >= at_least, folder
        assert refused[folder] == 0, f"{folder}: every file is a feed and is read"
    assert set(refused) <= {"illformed"} and refused["illformed"] <= 1  # rss_empty_document.xml: no feed in it
    assert non_ascii >= 15, "the encoding files with non-ASCII text were read"
    assert totals["posts"] > 0 and totals["read_loosely"] > 0


# --- Chinese charsets: by the HTTP header, by the XML declaration, and when the two disagree ------------------------

SIMPLIFIED = "示例银行多地网点出现排队取款，储户担忧"
TRADITIONAL = "示例銀行多地網點出現排隊取款，儲戶擔憂"
SAMPLES = {"gb2312": SIMPLIFIED, "gbk": SIMPLIFIED, "gb18030": SIMPLIFIED + "〇㐀", "big5": TRADITIONAL}


def _chinese_rss(text: str, charset: str, *, declared: str | None) -> bytes:
    declaration = f' encoding="{declared}"' if declared else ""
    return (f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>News</title>'
            f"<item><guid>cn-1</guid><title>{text}</title><description>&lt;p&gt;{text}&lt;/p&gt;</description>"
            "<pubDate>Sat, 28 Nov 2026 17:31:00 +0800</pubDate></item></channel></rss>").encode(charset)


def _read(body: bytes, headers: dict[str, str] | None = None) -> Any:
    posts, malformed = parse_feed(body, feed_name="cn", audience=1, language="zh", response_headers=headers)
    assert malformed == [] and len(posts) == 1
    return posts[0]


@pytest.mark.parametrize("charset", SAMPLES)
def test_charset_given_only_by_the_http_header(charset: str) -> None:
    body = _chinese_rss(SAMPLES[charset], charset, declared=None)
    post = _read(body, {"Content-Type": f"application/rss+xml; charset={charset.upper()}"})
    assert post.title == post.text == SAMPLES[charset]


@pytest.mark.parametrize("charset", SAMPLES)
def test_charset_given_only_by_the_xml_declaration(charset: str) -> None:
    body = _chinese_rss(SAMPLES[charset], charset, declared=charset)
    assert _read(body).title == SAMPLES[charset]  # no HTTP headers at all
    assert _read(body, {"Content-Type": "application/rss+xml"}).title == SAMPLES[charset]  # a type, no charset
    assert _read(body, {"ETag": '"v1"'}).title == SAMPLES[charset]  # no type: XML's own default, not HTTP's Latin-1


def test_gb2312_is_read_as_its_superset_gb18030() -> None:
    """Publishers label GBK/GB18030 text "gb2312"; feedparser decodes every gb2312 label as GB18030."""
    beyond_gb2312 = "喆镕"  # in GBK and GB18030, not in GB2312
    body = _chinese_rss(beyond_gb2312, "gb18030", declared="gb2312")
    assert _read(body).title == beyond_gb2312
    assert read_document(body).encoding == "gb18030"


def test_conflict_the_http_charset_wins_over_the_declaration() -> None:
    """RFC 3023, which feedparser follows: for application/*+xml (and text/*) the HTTP charset
    overrides the XML declaration; the declaration only matters when there is no HTTP charset."""
    body = _chinese_rss(SIMPLIFIED, "gb2312", declared="big5")
    assert _read(body, {"Content-Type": "application/rss+xml; charset=gb2312"}).title == SIMPLIFIED
    assert read_document(body, {"Content-Type": "application/rss+xml; charset=gb2312"}).encoding == "gb18030"


def test_conflict_the_declaration_is_the_fallback_when_the_bytes_do_not_fit_the_header(mocker: Any) -> None:
    """GB bytes served as Big5 are not valid Big5: feedparser tries the declaration next and says so."""
    warning = mocker.patch.object(feeds.logger, "warning")
    body = _chinese_rss(SIMPLIFIED, "gb2312", declared="gb2312")
    assert _read(body, {"Content-Type": "application/rss+xml; charset=big5"}).title == SIMPLIFIED
    warning.assert_called_once()
    assert warning.call_args.kwargs["extra"]["feed"] == "cn"
    assert "CharacterEncodingOverride" in warning.call_args.kwargs["extra"]["problem"]


def test_conflict_a_wrong_header_that_happens_to_decode_wins() -> None:
    """Big5 bytes are mostly valid GB18030 too: served as gb2312 they decode, wrongly, and nothing
    can tell. The publisher's header is what is believed, as RFC 3023 says."""
    body = _chinese_rss(TRADITIONAL, "big5", declared="big5")
    assert _read(body).title == TRADITIONAL  # the declaration alone is right
    misread = _read(body, {"Content-Type": "application/rss+xml; charset=gb2312"})
    assert misread.title != TRADITIONAL and read_document(
        body, {"Content-Type": "application/rss+xml; charset=gb2312"}).encoding == "gb18030"


def test_text_xml_without_charset_is_ascii_then_the_declaration() -> None:
    """RFC 3023 makes text/xml without a charset US-ASCII; non-ASCII bytes then fall back to the declaration."""
    body = _chinese_rss(TRADITIONAL, "big5", declared="big5")
    assert _read(body, {"Content-Type": "text/xml"}).title == TRADITIONAL
    assert read_document(body, {"Content-Type": "text/xml"}).bozo


def test_a_text_that_is_already_decoded_ignores_its_stale_declaration() -> None:
    text = _chinese_rss(SIMPLIFIED, "gb2312", declared="gb2312").decode("gb2312")
    assert _read(text).title == SIMPLIFIED  # type: ignore[arg-type]


def test_old_parser_failures_from_the_issue() -> None:
    """The cases the hand-written parser failed on: Atom 0.3, RSS 1.0, GB2312, one &nbsp;."""
    atom03 = b"""<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><id>tag:x,2026:1</id>
        <title>Example Bank results</title><issued>2026-11-28T09:31:00Z</issued></entry></feed>"""
    rdf = b"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
        xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="https://x.example/"><title>x</title></channel>
        <item rdf:about="https://x.example/1"><title>Example Bank results</title><link>https://x.example/1</link>
        <dc:date>2026-11-28T09:31:00Z</dc:date></item></rdf:RDF>"""
    nbsp = (b'<rss version="2.0"><channel><item><guid>n-1</guid><title>Example&nbsp;Bank results</title>'
            b"<pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item></channel></rss>")
    gb2312 = _chinese_rss(SIMPLIFIED, "gb2312", declared="gb2312")
    for body, title in ((atom03, "Example Bank results"), (rdf, "Example Bank results"),
                        (nbsp, "Example Bank results"), (gb2312, SIMPLIFIED)):
        posts, malformed = parse_feed(body, feed_name="f", audience=1, language="en")
        assert malformed == [] and [p.title for p in posts] == [title]
        assert posts[0].published_at == datetime(2026, 11, 28, 9, 31, tzinfo=UTC)


# --- entities, markup, DTDs --------------------------------------------------------------------------------------------

def test_html_entities_are_read_loosely_and_logged(mocker: Any) -> None:
    """XML knows five entities; feeds use HTML's. feedparser's loose parser reads them, the feed goes on."""
    warning = mocker.patch.object(feeds.logger, "warning")
    body = (b'<rss version="2.0"><channel><title>FD</title><item><guid>e-1</guid>'
            b"<title>Example&nbsp;Bank&nbsp;&mdash; caf&eacute; &amp; &lt;b&gt;queues&lt;/b&gt; &rsquo;</title>"
            b"<description>Customers&nbsp;queue &hellip; &copy; FD</description>"
            b"<pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item></channel></rss>")
    posts, malformed = parse_feed(body, feed_name="fd", audience=1, language="en")
    assert malformed == []
    assert posts[0].title == "Example Bank \u2014 caf\u00e9 & queues \u2019"
    assert posts[0].text == "Customers queue \u2026 \u00a9 FD"
    warning.assert_called_once_with("feed read loosely", extra={"feed": "fd", "problem": mocker.ANY})
    assert "undefined entity" in warning.call_args.kwargs["extra"]["problem"]


def test_markup_becomes_clean_deterministic_text() -> None:
    atom = """<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>f</title><updated>2026-11-28T09:00:00Z</updated>
    <entry><id>urn:f:1</id><title type="html">&lt;b&gt;Example&lt;/b&gt;&amp;nbsp;Bank&lt;br/&gt;results</title>
      <summary type="html">&lt;p&gt;First&amp;nbsp;para.&lt;/p&gt;&lt;p&gt;Second &lt;a href="https://x"&gt;link&lt;/a&gt;.&lt;/p&gt;
      &lt;script&gt;alert(1)&lt;/script&gt;&lt;style&gt;p { color: red }&lt;/style&gt;&lt;!-- note --&gt;
      &lt;ul&gt;&lt;li&gt;one&lt;/li&gt;&lt;li&gt;two&lt;/li&gt;&lt;/ul&gt;</summary>
      <updated>2026-11-28T09:31:00Z</updated></entry>
    <entry><id>urn:f:2</id><title type="text">AT&amp;T &lt;rocks&gt;</title>
      <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>示例<b>银行</b>股价</p><p>下跌</p></div></content>
      <updated>2026-11-28T09:32:00Z</updated></entry></feed>""".encode()
    first, again = (parse_feed(atom, feed_name="f", audience=1, language="en")[0] for _ in range(2))
    assert [p.model_dump() for p in first] == [p.model_dump() for p in again]
    assert first[0].title == "Example Bank results"
    assert first[0].text == "First para. Second link. one two"
    assert first[1].title == "AT&T <rocks>"  # a plain-text title keeps its angle brackets
    assert first[1].text == "示例银行股价 下跌"  # inline tags leave no space inside Chinese text


# Markup a sanitiser exists for: what a post keeps of it is the text feedparser's sanitised reading shows.
HOSTILE_MARKUP = [
    "<script>alert(1)</script>Bank <b>news</b>", "<style>p { color: red }</style>text", "<applet code=x>applet</applet>after",
    "<object data=x>object text</object>", "<embed src=x>embedded", "<iframe src=x>frame text</iframe>",
    "<svg><title>svg title</title><text>svg text</text></svg> after", "<math><mi>x</mi></math>math",
    "<!-- a comment -->visible", "<![CDATA[cdata]]>text", "<p>unclosed <b>bold <i>italic", "<a href='javascript:x()'>link</a>",
    "<img alt='alt text' src=x>image", "<noscript>no script</noscript>", "<textarea>area</textarea>", "<template>tpl</template>",
    "<div onclick='x()'>clicked</div>", "&lt;not a tag&gt; &amp;amp; &nbsp;space", "<form><input value=v>form</form>",
    "<blink>blink</blink><marquee>marquee</marquee>", "<xmp><b>xmp</b></xmp>", "<title>inner title</title>body",
    "text<script>alert(1)", "<SCRIPT type=x>a</SCRIPT >b<Style>c</style>d", "<script>a</script>b<script>c</script>d",
    "<scripts>kept</scripts>", "<p>one</p><p>two</p><br>three",
]


@pytest.mark.parametrize("markup", HOSTILE_MARKUP)
def test_hostile_markup_keeps_the_text_feedparsers_sanitised_reading_shows(markup: str) -> None:
    escaped = markup.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    rss = (f'<rss version="2.0"><channel><title>f</title><item><guid>g1</guid><title>t</title>'
           f"<description>{escaped}</description><pubDate>Sat, 28 Nov 2026 09:00:00 +0000</pubDate></item>"
           "</channel></rss>").encode()
    [post], _ = parse_feed(rss, feed_name="f", audience=1, language="en")
    sanitised = feedparser.parse(io.BytesIO(rss)).entries[0]
    assert "".join(post.text.split()) == _visible(sanitised.summary, sanitised.summary_detail.type)


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every connection or URL opened while the test runs, each refused."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args[1:] or args)
        raise ConnectionRefusedError("feeds are parsed without any network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    yield attempts


def test_a_dtd_is_read_without_fetching_it(network_attempts: list[object]) -> None:
    netscape = (b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
                b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91"><channel><title>t</title>'
                b"<item><title>Example Bank&nbsp;results</title><link>https://n.example/1</link></item></channel></rss>")
    posts, malformed = parse_feed(netscape, feed_name="n", audience=1, language="en", fetched_at=FETCHED_AT)
    assert malformed == [] and posts[0].title == "Example Bank results" and posts[0].published_at == FETCHED_AT
    declared = (b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n  <!ENTITY bank "Example Bank">\n  <!ENTITY nbsp "&#160;">\n]>\n'
                b'<rss version="2.0"><channel><item><guid>d-1</guid><title>&bank;&nbsp;results</title>'
                b"<pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item></channel></rss>")
    posts, malformed = parse_feed(declared, feed_name="d", audience=1, language="en")
    assert malformed == [] and posts[0].title == "Example Bank results"
    assert network_attempts == []


EXTERNAL_ENTITY_SHAPES = ("general entity", "general entity, one declaration a line", "public entity",
                          "parameter entity", "external DTD", "network entity", "broken document", "UTF-16 document")


def _external_entity_feed(shape: str, url: str) -> bytes:
    item = ('<rss version="2.0"><channel><item><guid>x-1</guid><title>Example {ref} results</title>'
            "<link>https://x.example/{ref}</link><description>{ref}</description>"
            "<pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item></channel></rss>")
    one_line = f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{url}">]>'
    lines = f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{url}">\n]>\n'
    documents = {
        "general entity": one_line + item.format(ref="&xxe;"),
        "general entity, one declaration a line": lines + item.format(ref="&xxe;"),
        "public entity": f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe PUBLIC "-//X//Y//EN" "{url}">]>'
                         + item.format(ref="&xxe;"),
        "parameter entity": f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY % pe SYSTEM "{url}">\n%pe;\n]>\n'
                            + item.format(ref=""),
        "external DTD": f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{url}">\n' + item.format(ref="&xxe;"),
        "network entity": one_line.replace(url, "http://127.0.0.1:9/secret") + item.format(ref="&xxe;"),
        "broken document": one_line + item.format(ref="&xxe; &nbsp;")[:-2],
    }
    if shape == "UTF-16 document":
        return (lines.replace('"1.0"?>', '"1.0" encoding="utf-16"?>', 1) + item.format(ref="&xxe;")).encode("utf-16")
    return documents[shape].encode()


@pytest.mark.parametrize("shape", EXTERNAL_ENTITY_SHAPES)
def test_external_entities_are_never_resolved(shape: str, tmp_path: Path, network_attempts: list[object]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-7f3a9c", encoding="utf-8")
    body = _external_entity_feed(shape, secret.as_uri())
    posts, malformed = parse_feed(body, feed_name="x", audience=1, language="en")
    assert len(posts) == 1 and malformed == []
    assert "TOPSECRET" not in repr(posts) + repr(read_document(body))
    assert network_attempts == []


def test_entity_expansion_stays_bounded() -> None:
    """A 200 kB entity used 5,000 times would be a gigabyte in feedparser's loose parser; it is dropped."""
    entity = "x" * 200_000
    body = (f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{entity}">\n]>\n<rss><channel><item><guid>q-1</guid>'
            f"<title>{'&a;' * 5_000}</title><pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item></channel></rss").encode()
    for document in (body, body.decode().replace('"1.0"?>', '"1.0" encoding="utf-16"?>', 1).encode("utf-16")):
        posts, _ = parse_feed(document, feed_name="q", audience=1, language="en")
        assert len(posts[0].title or "") < 20_000 and "x" * 1000 not in posts[0].text


# --- dates, refusals, size -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("zone", "expected"), [
    ("Asia/Shanghai", datetime(2026, 11, 28, 9, 31, tzinfo=UTC)),
    ("Asia/Hong_Kong", datetime(2026, 11, 28, 9, 31, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 11, 28, 17, 31, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 28, 22, 31, tzinfo=UTC)),
])
def test_a_date_without_a_zone_is_read_in_the_feeds_zone(zone: str, expected: datetime) -> None:
    rss = (b'<rss version="2.0"><channel><item><guid>z-1</guid><title>t</title><pubDate>Sat, 28 Nov 2026 17:31:00</pubDate>'
           b"</item><item><guid>z-2</guid><title>t</title><pubDate>Sat, 28 Nov 2026 17:31:00 +0800</pubDate></item></channel></rss>")
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:z</id><title>z</title><updated>2026-11-28T17:31:00</updated>'
            b"<entry><id>urn:z:1</id><title>t</title><published>2026-11-28T17:31:00</published></entry>"
            b"<entry><id>urn:z:2</id><title>t</title><updated>2026-11-28 17:31</updated></entry></feed>")
    posts, malformed = parse_feed(rss, feed_name="z", audience=1, language="zh", timezone=zone)
    assert malformed == [] and [p.published_at for p in posts] == [expected, datetime(2026, 11, 28, 9, 31, tzinfo=UTC)]
    posts, malformed = parse_feed(atom, feed_name="z", audience=1, language="zh", timezone=zone)
    assert malformed == [] and [p.published_at for p in posts] == [expected, expected]


def test_fetch_passes_the_zone_and_the_charset_header() -> None:
    body = _chinese_rss(SIMPLIFIED, "gb2312", declared=None).replace(b" +0800", b"")
    response = httpx.Response(200, content=body, headers={"Content-Type": "application/rss+xml; charset=gb2312"})
    client = FeedClient(httpx.Client(transport=httpx.MockTransport(lambda r: response)), clock=lambda: FETCHED_AT)
    result = client.fetch("https://cn.example/rss", feed_name="cn", audience=1, language="zh", timezone="Asia/Shanghai")
    assert [(p.title, p.published_at) for p in result.posts] == [(SIMPLIFIED, datetime(2026, 11, 28, 9, 31, tzinfo=UTC))]


def test_relative_links_resolve_against_the_feed_url() -> None:
    body = (b'<rss version="2.0"><channel><item><title>t</title><link>/news/1.html</link>'
            b"<pubDate>Sat, 28 Nov 2026 09:31:00 GMT</pubDate></item></channel></rss>")
    response = httpx.Response(200, content=body, headers={"Content-Type": "application/rss+xml"})
    client = FeedClient(httpx.Client(transport=httpx.MockTransport(lambda r: response)), clock=lambda: FETCHED_AT)
    result = client.fetch("https://fd.example/feeds/rss.xml", feed_name="fd", audience=1, language="en")
    assert result.posts[0].url == "https://fd.example/news/1.html"


@pytest.mark.parametrize("body", [b"", b"plain text, no markup", b'{"items": [{"title": "json"}]}',
                                  b"<html><head><title>Example Bank</title></head><body><p>Not a feed</p></body></html>",
                                  b"<?xml version='1.0'?><kml><Document/></kml>"])
def test_a_document_with_no_feed_in_it_is_a_permanent_error(body: bytes) -> None:
    with pytest.raises(PermanentPlatformError, match="not an RSS or Atom document"):
        parse_feed(body, feed_name="f", audience=1, language="en")


def test_a_feed_larger_than_the_limit_is_refused_unparsed(mocker: Any) -> None:
    reader = mocker.spy(feeds, "read_document")
    body = b'<rss version="2.0"><channel>' + b" " * MAX_FEED_BYTES + b"</channel></rss>"
    with pytest.raises(PermanentPlatformError, match="larger than"):
        parse_feed(body, feed_name="big", audience=1, language="en")
    client = FeedClient(httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body))),
                        clock=lambda: FETCHED_AT)
    with pytest.raises(PermanentPlatformError, match="larger than"):
        client.fetch("https://big.example/rss", feed_name="big", audience=1, language="en")
    assert reader.call_count == 0
