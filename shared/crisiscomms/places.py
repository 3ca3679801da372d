"""Where a post comes from: the place text a platform gives, as a country and, in China, a province.

Platforms describe places in their own words: Weibo's profile location ("广东 深圳", "北京 朝阳区",
"海外 美国", "其他"), X's place `full_name` ("Shenzhen, People's Republic of China", "Manhattan, NY")
with its ISO `country_code`, a profile's free text. `normalise_place` turns that into a `Place`:
an ISO 3166-1 alpha-2 country and, for mainland China, the ISO 3166-2 code of the province,
municipality or autonomous region ("CN-GD"). Hong Kong, Macao and Taiwan carry their own ISO 3166-1
codes (HK, MO, TW), as the standard assigns them.

The table (`DIVISIONS`) holds all 34 provincial-level divisions with their Simplified and
Traditional names, short and full forms, Latin names, and the provincial capitals and big cities of
each (both scripts). Names are the divisions' official Chinese names and their ISO 3166-2:CN
English names; the city lists are the prefecture-level cities' official names. A few Latin
spellings are left out on purpose because two cities share them (Suzhou 苏州/宿州, Fuzhou 福州/抚州,
Taizhou 泰州/台州): the Chinese names are kept, the ambiguous spelling gives the country only.
`COUNTRIES` adds common countries by English and Chinese name, for Weibo's "海外 <country>".

Text that names nothing in the table gives None: a place is never guessed. Two names that
disagree (two countries) give None too; two provinces of one country give the country.
Pure and table-driven: the lookup dictionary is built once at import.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """A normalised place: a country, the province for mainland China, and a label for people."""

    country: str  # ISO 3166-1 alpha-2
    region: str | None  # ISO 3166-2 ("CN-GD") for a mainland province-level division, else None
    label: str

    @property
    def code(self) -> str:
        """The most precise code: the region where known, else the country (the aggregate bucket)."""
        return self.region or self.country


@dataclass(frozen=True)
class Division:
    """One provincial-level division of China."""

    iso: str  # ISO 3166-2:CN
    zh: str  # Simplified short name, used in labels
    en: str  # ISO 3166-2 English name
    names: tuple[str, ...]  # Chinese names in both scripts, short and full forms
    latin: tuple[str, ...]  # Latin names: pinyin, conventional English
    cities: tuple[str, ...]  # capitals and big cities: Chinese (both scripts) and unambiguous Latin names

    @property
    def place(self) -> Place:
        if self.iso in SEPARATE_CODES:
            code = self.iso.removeprefix("CN-")
            return Place(country=code, region=None, label=f"{self.zh} {self.en}")
        return Place(country="CN", region=self.iso, label=f"{self.zh} {self.en}")


# ISO 3166-1 gives these their own alpha-2 codes; ISO 3166-2:CN also lists them as CN-HK, CN-MO, CN-TW.
SEPARATE_CODES = frozenset({"CN-HK", "CN-MO", "CN-TW"})

DIVISIONS: tuple[Division, ...] = (
    # --- municipalities (4) ---
    Division("CN-BJ", "北京", "Beijing", ("北京", "北京市"), ("Beijing", "Peking"), ()),
    Division("CN-TJ", "天津", "Tianjin", ("天津", "天津市"), ("Tianjin", "Tientsin"), ()),
    Division("CN-SH", "上海", "Shanghai", ("上海", "上海市"), ("Shanghai",), ()),
    Division("CN-CQ", "重庆", "Chongqing", ("重庆", "重慶", "重庆市", "重慶市"), ("Chongqing", "Chungking"), ()),
    # --- provinces (22 on the mainland) ---
    Division("CN-HE", "河北", "Hebei", ("河北", "河北省"), ("Hebei",),
             ("石家庄", "石家莊", "Shijiazhuang", "唐山", "Tangshan", "保定", "Baoding", "邯郸", "邯鄲", "Handan",
              "廊坊", "Langfang", "秦皇岛", "秦皇島", "Qinhuangdao")),
    Division("CN-SX", "山西", "Shanxi", ("山西", "山西省"), ("Shanxi",), ("太原", "Taiyuan")),
    Division("CN-LN", "辽宁", "Liaoning", ("辽宁", "遼寧", "辽宁省", "遼寧省"), ("Liaoning",),
             ("沈阳", "瀋陽", "沈陽", "Shenyang", "大连", "大連", "Dalian", "鞍山", "Anshan")),
    Division("CN-JL", "吉林", "Jilin", ("吉林", "吉林省"), ("Jilin",), ("长春", "長春", "Changchun")),
    Division("CN-HL", "黑龙江", "Heilongjiang", ("黑龙江", "黑龍江", "黑龙江省", "黑龍江省"), ("Heilongjiang",),
             ("哈尔滨", "哈爾濱", "Harbin", "大庆", "大慶", "Daqing", "齐齐哈尔", "齊齊哈爾", "Qiqihar")),
    Division("CN-JS", "江苏", "Jiangsu", ("江苏", "江蘇", "江苏省", "江蘇省"), ("Jiangsu",),
             ("南京", "Nanjing", "Nanking", "苏州", "蘇州", "无锡", "無錫", "Wuxi", "常州", "Changzhou",
              "南通", "Nantong", "徐州", "Xuzhou", "扬州", "揚州", "Yangzhou")),
    Division("CN-ZJ", "浙江", "Zhejiang", ("浙江", "浙江省"), ("Zhejiang",),
             ("杭州", "Hangzhou", "宁波", "寧波", "Ningbo", "温州", "溫州", "Wenzhou", "绍兴", "紹興", "Shaoxing",
              "嘉兴", "嘉興", "Jiaxing", "金华", "金華", "Jinhua", "义乌", "義烏", "Yiwu")),
    Division("CN-AH", "安徽", "Anhui", ("安徽", "安徽省"), ("Anhui",), ("合肥", "Hefei", "芜湖", "蕪湖", "Wuhu")),
    Division("CN-FJ", "福建", "Fujian", ("福建", "福建省"), ("Fujian", "Fukien"),
             ("福州", "厦门", "廈門", "Xiamen", "Amoy", "泉州", "Quanzhou")),
    Division("CN-JX", "江西", "Jiangxi", ("江西", "江西省"), ("Jiangxi",),
             ("南昌", "Nanchang", "赣州", "贛州", "Ganzhou", "九江", "Jiujiang")),
    Division("CN-SD", "山东", "Shandong", ("山东", "山東", "山东省", "山東省"), ("Shandong",),
             ("济南", "濟南", "Jinan", "青岛", "青島", "Qingdao", "Tsingtao", "烟台", "煙台", "Yantai",
              "潍坊", "濰坊", "Weifang", "淄博", "Zibo")),
    Division("CN-HA", "河南", "Henan", ("河南", "河南省"), ("Henan",),
             ("郑州", "鄭州", "Zhengzhou", "洛阳", "洛陽", "Luoyang")),
    Division("CN-HB", "湖北", "Hubei", ("湖北", "湖北省"), ("Hubei",),
             ("武汉", "武漢", "Wuhan", "宜昌", "Yichang", "襄阳", "襄陽", "Xiangyang")),
    Division("CN-HN", "湖南", "Hunan", ("湖南", "湖南省"), ("Hunan",), ("长沙", "長沙", "Changsha", "株洲", "Zhuzhou")),
    Division("CN-GD", "广东", "Guangdong", ("广东", "廣東", "广东省", "廣東省"), ("Guangdong", "Kwangtung"),
             ("广州", "廣州", "Guangzhou", "深圳", "Shenzhen", "东莞", "東莞", "Dongguan", "佛山", "Foshan",
              "珠海", "Zhuhai", "汕头", "汕頭", "Shantou", "惠州", "江门", "江門", "Jiangmen")),
    Division("CN-HI", "海南", "Hainan", ("海南", "海南省"), ("Hainan",), ("海口", "Haikou", "三亚", "三亞", "Sanya")),
    Division("CN-SC", "四川", "Sichuan", ("四川", "四川省"), ("Sichuan", "Szechuan", "Szechwan"),
             ("成都", "Chengdu", "绵阳", "綿陽", "Mianyang")),
    Division("CN-GZ", "贵州", "Guizhou", ("贵州", "貴州", "贵州省", "貴州省"), ("Guizhou",),
             ("贵阳", "貴陽", "Guiyang", "遵义", "遵義", "Zunyi")),
    Division("CN-YN", "云南", "Yunnan", ("云南", "雲南", "云南省", "雲南省"), ("Yunnan",), ("昆明", "Kunming", "大理")),
    Division("CN-SN", "陕西", "Shaanxi", ("陕西", "陝西", "陕西省", "陝西省"), ("Shaanxi",),
             ("西安", "Xi'an", "咸阳", "咸陽", "Xianyang", "宝鸡", "寶雞", "Baoji")),
    Division("CN-GS", "甘肃", "Gansu", ("甘肃", "甘肅", "甘肃省", "甘肅省"), ("Gansu",), ("兰州", "蘭州", "Lanzhou")),
    Division("CN-QH", "青海", "Qinghai", ("青海", "青海省"), ("Qinghai",), ("西宁", "西寧", "Xining")),
    # --- autonomous regions (5) ---
    Division("CN-NM", "内蒙古", "Nei Mongol", ("内蒙古", "內蒙古", "内蒙古自治区", "內蒙古自治區"),
             ("Nei Mongol", "Inner Mongolia", "Neimenggu"),
             ("呼和浩特", "Hohhot", "包头", "包頭", "Baotou", "鄂尔多斯", "鄂爾多斯", "Ordos")),
    Division("CN-GX", "广西", "Guangxi", ("广西", "廣西", "广西壮族自治区", "廣西壯族自治區"), ("Guangxi",),
             ("南宁", "南寧", "Nanning", "桂林", "Guilin", "柳州", "Liuzhou")),
    Division("CN-XZ", "西藏", "Xizang", ("西藏", "西藏自治区", "西藏自治區"), ("Xizang", "Tibet"), ("拉萨", "拉薩", "Lhasa")),
    Division("CN-NX", "宁夏", "Ningxia", ("宁夏", "寧夏", "宁夏回族自治区", "寧夏回族自治區"), ("Ningxia",),
             ("银川", "銀川", "Yinchuan")),
    Division("CN-XJ", "新疆", "Xinjiang", ("新疆", "新疆维吾尔自治区", "新疆維吾爾自治區"), ("Xinjiang",),
             ("乌鲁木齐", "烏魯木齊", "Urumqi", "Ürümqi", "喀什", "Kashgar")),
    # --- special administrative regions (2) and Taiwan: their own ISO 3166-1 codes ---
    Division("CN-HK", "香港", "Hong Kong", ("香港", "香港特别行政区", "香港特別行政區"), ("Hong Kong", "HKSAR"),
             ("九龙", "九龍", "Kowloon")),
    Division("CN-MO", "澳门", "Macao", ("澳门", "澳門", "澳门特别行政区", "澳門特別行政區"), ("Macao", "Macau"), ()),
    Division("CN-TW", "台湾", "Taiwan", ("台湾", "臺灣", "台灣", "台湾省", "臺灣省", "台灣省"), ("Taiwan",),
             ("台北", "臺北", "Taipei", "新北", "New Taipei", "高雄", "Kaohsiung", "台中", "臺中", "Taichung",
              "台南", "臺南", "Tainan")),
)

# Country-level names: (ISO 3166-1 alpha-2, English label, Chinese label, other names in both scripts and Latin).
COUNTRIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("CN", "China", "中国", ("中國", "中国大陆", "中國大陸", "中华人民共和国", "中華人民共和國", "China", "PRC",
                            "People's Republic of China", "Mainland China")),
    ("US", "United States", "美国", ("美國", "USA", "United States of America")),
    ("GB", "United Kingdom", "英国", ("英國", "UK", "Great Britain", "Britain", "England", "Scotland", "Wales")),
    ("CA", "Canada", "加拿大", ()),
    ("AU", "Australia", "澳大利亚", ("澳大利亞", "澳洲")),
    ("NZ", "New Zealand", "新西兰", ("新西蘭", "紐西蘭")),
    ("JP", "Japan", "日本", ()),
    ("KR", "South Korea", "韩国", ("韓國", "南韩", "南韓", "Republic of Korea")),
    ("KP", "North Korea", "朝鲜", ("朝鮮", "北韩", "北韓")),
    ("SG", "Singapore", "新加坡", ("星加坡",)),
    ("MY", "Malaysia", "马来西亚", ("馬來西亞",)),
    ("TH", "Thailand", "泰国", ("泰國",)),
    ("VN", "Vietnam", "越南", ("Viet Nam",)),
    ("PH", "Philippines", "菲律宾", ("菲律賓",)),
    ("ID", "Indonesia", "印度尼西亚", ("印度尼西亞", "印尼")),
    ("IN", "India", "印度", ()),
    ("DE", "Germany", "德国", ("德國", "Deutschland")),
    ("FR", "France", "法国", ("法國",)),
    ("IT", "Italy", "意大利", ("義大利", "Italia")),
    ("ES", "Spain", "西班牙", ("España",)),
    ("NL", "Netherlands", "荷兰", ("荷蘭", "Holland")),
    ("CH", "Switzerland", "瑞士", ()),
    ("RU", "Russia", "俄罗斯", ("俄羅斯", "Russian Federation")),
    ("BR", "Brazil", "巴西", ("Brasil",)),
    ("MX", "Mexico", "墨西哥", ("México",)),
    ("AE", "United Arab Emirates", "阿联酋", ("阿聯酋", "阿拉伯联合酋长国", "阿拉伯聯合大公國", "UAE")),
    ("SA", "Saudi Arabia", "沙特阿拉伯", ("沙特", "沙烏地阿拉伯")),
    ("IE", "Ireland", "爱尔兰", ("愛爾蘭",)),
    ("SE", "Sweden", "瑞典", ()),
    ("NO", "Norway", "挪威", ()),
    ("DK", "Denmark", "丹麦", ("丹麥",)),
    ("FI", "Finland", "芬兰", ("芬蘭",)),
    ("BE", "Belgium", "比利时", ("比利時",)),
    ("AT", "Austria", "奥地利", ("奧地利",)),
    ("PT", "Portugal", "葡萄牙", ()),
    ("PL", "Poland", "波兰", ("波蘭",)),
    ("GR", "Greece", "希腊", ("希臘",)),
    ("CZ", "Czechia", "捷克", ("Czech Republic",)),
    ("HU", "Hungary", "匈牙利", ()),
    ("UA", "Ukraine", "乌克兰", ("烏克蘭",)),
    ("TR", "Türkiye", "土耳其", ("Turkey",)),
    ("IL", "Israel", "以色列", ()),
    ("QA", "Qatar", "卡塔尔", ("卡達",)),
    ("EG", "Egypt", "埃及", ()),
    ("ZA", "South Africa", "南非", ()),
    ("NG", "Nigeria", "尼日利亚", ("奈及利亞",)),
    ("KE", "Kenya", "肯尼亚", ("肯亞",)),
    ("AR", "Argentina", "阿根廷", ()),
    ("CL", "Chile", "智利", ()),
    ("KH", "Cambodia", "柬埔寨", ()),
    ("MM", "Myanmar", "缅甸", ("緬甸", "Burma")),
    ("LA", "Laos", "老挝", ("老撾", "寮國")),
    ("MN", "Mongolia", "蒙古", ("蒙古国", "蒙古國")),
    ("KZ", "Kazakhstan", "哈萨克斯坦", ("哈薩克斯坦", "哈薩克")),
    ("PK", "Pakistan", "巴基斯坦", ()),
    ("BD", "Bangladesh", "孟加拉国", ("孟加拉國", "孟加拉")),
    ("NP", "Nepal", "尼泊尔", ("尼泊爾",)),
    ("LK", "Sri Lanka", "斯里兰卡", ("斯里蘭卡",)),
)

# Every officially assigned ISO 3166-1 alpha-2 code: a platform's country code is taken only if it is one.
ISO_3166_1 = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())

# Latin spellings two cities share: they name the country only (see the module docstring).
AMBIGUOUS_LATIN = ("Suzhou", "Fuzhou", "Taizhou", "Yichun", "Huizhou")

# Words that say nothing about which place: Weibo's "海外" (abroad) and "其他" (other), the
# administrative suffixes, the IP-location prefix some pages show.
_CJK_FILLERS = frozenset({"海外", "其他", "其它", "国外", "國外", "省", "市", "区", "區", "县", "縣", "地区", "地區"})
_LATIN_FILLERS = frozenset({"city", "province", "sar", "district", "prefecture", "municipality", "autonomous",
                            "region", "special", "administrative", "zhuang", "hui", "uyghur", "uygur", "uighur",
                            "the", "of"})
_IP_PREFIX = re.compile(r"^\s*IP\s*(?:属地|屬地)\s*[:：]?\s*", re.IGNORECASE)
_PARTS = re.compile(r"[,，、;；/|·•\n]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_MAX_LATIN_WORDS = 4  # the longest Latin name in the tables, in words
_MAX_RAW_CHARS = 200  # a place, not an essay: longer text is cut before it is read


def fold(text: str) -> str:
    """The lookup form of a name: width and case folded, only letters and digits kept."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).casefold() if ch.isalnum())


def _country_place(code: str) -> Place:
    for iso, en, zh, _ in COUNTRIES:
        if iso == code:
            return Place(country=iso, region=None, label=f"{zh} {en}")
    for division in DIVISIONS:
        if division.iso in SEPARATE_CODES and division.iso.endswith(code):
            return division.place
    return Place(country=code, region=None, label=code)


def _build_names() -> tuple[dict[str, Place], dict[str, Place], dict[str, Place]]:
    """Every name, folded, to its place; the division names again for the prefix rule; codes to places."""
    names: dict[str, Place] = {}
    divisions: dict[str, Place] = {}
    codes: dict[str, Place] = {code: _country_place(code) for code in ISO_3166_1}

    def add(name: str, place: Place) -> None:
        key = fold(name)
        if not key or key in _LATIN_FILLERS or key in _CJK_FILLERS:
            raise ValueError(f"place name {name!r} folds to nothing usable")
        if names.get(key, place) != place:
            raise ValueError(f"place name {name!r} is claimed by {names[key].code} and {place.code}")
        names[key] = place

    for iso, en, zh, others in COUNTRIES:
        for name in (en, zh, *others):
            add(name, codes[iso])
    for division in DIVISIONS:
        place = division.place
        codes[division.iso] = place
        for name in (*division.names, *division.latin):
            add(name, place)
            if _CJK.search(name):
                divisions[fold(name)] = place
        for city in division.cities:
            add(city, place)
            if _CJK.search(city) and not city.endswith("市"):
                add(city + "市", place)
    for spelling in AMBIGUOUS_LATIN:
        add(spelling, codes["CN"])
    return names, divisions, codes


_NAMES, _DIVISION_NAMES, _CODES = _build_names()
_LONGEST_DIVISION = max(len(k) for k in _DIVISION_NAMES)


def place_for_code(code: str | None) -> Place | None:
    """The place of an ISO code this module uses ("CN-GD", "HK", "US"); None for anything else."""
    return _CODES.get(code) if isinstance(code, str) else None


def _segment(text: str, known: dict[str, Place], fillers: frozenset[str], max_len: int) -> list[Place] | None:
    """`text` cut wholly into known names and fillers (the fewest pieces), or None when it cannot be."""
    best: list[list[Place] | None] = [None] * (len(text) + 1)
    best[0] = []
    for end in range(1, len(text) + 1):
        for start in range(max(0, end - max_len), end):
            before = best[start]
            if before is None:
                continue
            piece = text[start:end]
            hit = known.get(piece)
            if hit is not None or piece in fillers:
                candidate = before + ([hit] if hit is not None else [])
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[-1]


def _latin_run(words: list[str]) -> list[Place]:
    """A run of Latin words names places only if it is wholly made of known names and fillers
    ("Taipei City" yes; "New South Wales" no, though "Wales" alone is a name)."""
    best: list[list[Place] | None] = [None] * (len(words) + 1)
    best[0] = []
    for end in range(1, len(words) + 1):
        for start in range(max(0, end - _MAX_LATIN_WORDS), end):
            before = best[start]
            if before is None:
                continue
            piece = "".join(words[start:end])
            hit = _NAMES.get(piece)
            if hit is not None or (end - start == 1 and piece in _LATIN_FILLERS):
                candidate = before + ([hit] if hit is not None else [])
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[-1] or []


def _cjk_word(word: str) -> list[Place]:
    """A Chinese word: a name; else names and suffixes run together ("广东深圳", "广东省深圳市");
    else a province-level name at its start ("北京朝阳区": addresses go from the largest unit down)."""
    hit = _NAMES.get(word)
    if hit is not None:
        return [hit]
    if word in _CJK_FILLERS:
        return []
    pieces = _segment(word, _NAMES, _CJK_FILLERS, 12)
    if pieces is not None:
        return pieces
    for length in range(min(len(word) - 1, _LONGEST_DIVISION), 1, -1):
        hit = _DIVISION_NAMES.get(word[:length])
        if hit is not None:
            return [hit]
    return []


def _names_in(text: str) -> list[Place]:
    found: list[Place] = []
    for part in _PARTS.split(text):
        latin: list[str] = []
        for raw_word in part.split():
            word = fold(raw_word)
            if not word:
                continue
            if _CJK.search(word):
                found += _latin_run(latin)
                latin = []
                found += _cjk_word(word)
            else:
                latin.append(word)
        found += _latin_run(latin)
    return found


def _reconcile(found: list[Place], country: str | None) -> Place | None:
    """One place from every name found: the most precise one they agree on; None when countries clash."""
    if country is not None:
        found = [p for p in found if p.country == country]
        regions = {p for p in found if p.region}
        return regions.pop() if len(regions) == 1 else _CODES[country]
    if not found:
        return None
    # Hong Kong, Macao and Taiwan are named with "China" often enough ("Hong Kong, China") to agree with it.
    precise = {p for p in found if p.region or p.country in ("HK", "MO", "TW")}
    countries = {"CN" if p.country in ("HK", "MO", "TW") else p.country for p in found}
    if len(countries) > 1:
        return None
    if len(precise) == 1:
        return precise.pop()
    if len({p.country for p in precise}) > 1:
        return None
    return _CODES[countries.pop()] if not precise else _CODES[precise.pop().country]


def normalise_place(raw: str | None, *, country_code: str | None = None) -> Place | None:
    """The place `raw` names, refined by the platform's ISO country code where it gave one.

    A valid `country_code` is trusted for the country; the text then only adds the province.
    Without one, the text alone decides, and text naming nothing known gives None.
    """
    code = country_code.strip().upper() if isinstance(country_code, str) else None
    country = code if code in ISO_3166_1 else None
    text = _IP_PREFIX.sub("", raw[:_MAX_RAW_CHARS]) if isinstance(raw, str) else ""
    found = _names_in(text) if text.strip() else []
    return _reconcile(found, country)


__all__ = ["COUNTRIES", "DIVISIONS", "ISO_3166_1", "Place", "normalise_place", "place_for_code"]
