"""The place table: every provincial-level division in both scripts, platforms' place forms, nothing guessed."""
from __future__ import annotations

import pytest

from crisiscomms.places import (
    AMBIGUOUS_LATIN,
    COUNTRIES,
    DIVISIONS,
    ISO_3166_1,
    Place,
    fold,
    normalise_place,
    place_for_code,
)

MAINLAND = {"CN-AH", "CN-BJ", "CN-CQ", "CN-FJ", "CN-GD", "CN-GS", "CN-GX", "CN-GZ", "CN-HA", "CN-HB", "CN-HE",
            "CN-HI", "CN-HL", "CN-HN", "CN-JL", "CN-JS", "CN-JX", "CN-LN", "CN-NM", "CN-NX", "CN-QH", "CN-SC",
            "CN-SD", "CN-SH", "CN-SN", "CN-SX", "CN-TJ", "CN-XJ", "CN-XZ", "CN-YN", "CN-ZJ"}


def _code(raw: str | None, country_code: str | None = None) -> str | None:
    place = normalise_place(raw, country_code=country_code)
    return place.code if place else None


def test_the_table_holds_the_34_provincial_level_divisions_once_each() -> None:
    codes = [d.iso for d in DIVISIONS]
    assert len(codes) == len(set(codes)) == 34
    assert set(codes) == MAINLAND | {"CN-HK", "CN-MO", "CN-TW"}
    assert len(ISO_3166_1) == 249 and all(len(c) == 2 and c.isupper() for c in ISO_3166_1)
    assert {iso for iso, *_ in COUNTRIES} <= ISO_3166_1


@pytest.mark.parametrize("division", DIVISIONS, ids=lambda d: d.iso)
def test_every_name_of_every_division_finds_it(division) -> None:
    expected = division.place.code
    for name in (*division.names, *division.latin, *division.cities):
        assert _code(name) == expected, name
    # what a Weibo profile shows: the division, then a city or district of it
    assert _code(f"{division.names[0]} 某区") == expected


@pytest.mark.parametrize(("raw", "code"), [
    # Simplified and Traditional, short and full forms
    ("广东", "CN-GD"), ("廣東", "CN-GD"), ("广东省", "CN-GD"), ("廣東省", "CN-GD"), ("Guangdong", "CN-GD"),
    ("深圳", "CN-GD"), ("深圳市", "CN-GD"), ("广州", "CN-GD"), ("廣州", "CN-GD"), ("廣州市", "CN-GD"),
    ("杭州", "CN-ZJ"), ("南京", "CN-JS"), ("苏州", "CN-JS"), ("蘇州", "CN-JS"), ("成都", "CN-SC"),
    ("武汉", "CN-HB"), ("武漢", "CN-HB"), ("西安", "CN-SN"), ("Xi'an", "CN-SN"), ("青岛", "CN-SD"),
    ("青島", "CN-SD"), ("厦门", "CN-FJ"), ("廈門", "CN-FJ"), ("瀋陽", "CN-LN"), ("哈爾濱", "CN-HL"),
    ("烏魯木齊", "CN-XJ"), ("新疆維吾爾自治區", "CN-XJ"), ("廣西壯族自治區", "CN-GX"), ("內蒙古", "CN-NM"),
    ("Inner Mongolia", "CN-NM"), ("Tibet", "CN-XZ"), ("寧夏回族自治區", "CN-NX"),
    # Hong Kong, Macao and Taiwan carry their own ISO 3166-1 codes
    ("香港", "HK"), ("香港特別行政區", "HK"), ("Hong Kong", "HK"), ("Kowloon", "HK"), ("澳門", "MO"), ("Macau", "MO"),
    ("臺灣", "TW"), ("台灣", "TW"), ("臺北市", "TW"), ("Taipei City, Taiwan", "TW"), ("Hong Kong, China", "HK"),
    # Weibo's profile location
    ("广东 深圳", "CN-GD"), ("北京 朝阳区", "CN-BJ"), ("上海 浦东新区", "CN-SH"), ("海外 美国", "US"),
    ("海外 美國", "US"), ("海外 日本", "JP"), ("海外 英国", "GB"), ("IP属地：浙江", "CN-ZJ"), ("IP屬地：廣東", "CN-GD"),
    # run together, or longer than the table
    ("广东深圳", "CN-GD"), ("廣東省深圳市", "CN-GD"), ("北京朝阳区", "CN-BJ"), ("中国广东", "CN-GD"),
    # X places (full_name) without a country code, and countries by English name
    ("Shenzhen, People's Republic of China", "CN-GD"), ("Beijing, China", "CN-BJ"), ("Germany", "DE"),
    ("United States", "US"), ("中国", "CN"), ("中國大陸", "CN"),
    # two provinces of one country: the country, not a pick
    ("广东 北京", "CN"),
])
def test_place_text_to_code(raw: str, code: str) -> None:
    assert _code(raw) == code


@pytest.mark.parametrize(("raw", "country_code", "code"), [
    ("Shenzhen, People's Republic of China", "CN", "CN-GD"),
    ("Hong Kong", "HK", "HK"),
    ("Manhattan, NY", "US", "US"),
    ("Taipei City, Taiwan", "TW", "TW"),
    ("Anywhere at all", "fr", "FR"),                 # X's code alone gives the country
    ("Guangdong", "US", "US"),                      # the code wins; text of another country adds nothing
    ("Suzhou, People's Republic of China", "CN", "CN"),  # 苏州 or 宿州: the province is not guessed
    ("Manhattan, NY", "ZZ", None),                  # not an ISO code: as if none were given
    (None, "JP", "JP"),
])
def test_x_places_with_their_country_codes(raw: str | None, country_code: str, code: str | None) -> None:
    assert _code(raw, country_code) == code


@pytest.mark.parametrize("raw", [
    None, "", "   ", "其他", "其它", "海外", "海外 其他", "Earth", "Worldwide", "she/her", "Manhattan, NY",
    "New South Wales", "New Mexico", "广东, United States", "Springfield", "🌏", "x" * 5000,
])
def test_unknown_or_contradictory_text_gives_none(raw: str | None) -> None:
    assert normalise_place(raw) is None


@pytest.mark.parametrize("spelling", AMBIGUOUS_LATIN)
def test_latin_spellings_two_cities_share_give_the_country_only(spelling: str) -> None:
    assert normalise_place(spelling) == place_for_code("CN")


def test_places_carry_a_label_in_both_languages_and_resolve_from_their_code() -> None:
    place = normalise_place("廣東 深圳")
    assert place == Place(country="CN", region="CN-GD", label="广东 Guangdong")
    assert place_for_code("CN-GD") == place
    assert place_for_code("HK") == Place(country="HK", region=None, label="香港 Hong Kong")
    assert place_for_code("US").label == "美国 United States"
    assert place_for_code("IS") == Place(country="IS", region=None, label="IS")  # assigned, not in the name table
    assert place_for_code("CN-HK") == place_for_code("HK")  # ISO 3166-2:CN lists it too; it counts as HK
    assert place_for_code("cn-gd") is None and place_for_code("CN-XX") is None and place_for_code(None) is None


def test_names_fold_width_and_case() -> None:
    assert fold("ＧＵＡＮＧＤＯＮＧ") == fold("guangdong") == "guangdong"
    assert _code("ＨＯＮＧ ＫＯＮＧ") == "HK"
