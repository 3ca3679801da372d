"""Text normalisation, Traditional -> Simplified folding and language detection.

Everything here is stdlib only and cheap at import time: the Traditional/Simplified
table is a single string of character pairs turned into a ``str.translate`` map.

The table is deliberately compact (a few hundred pairs).  It covers

* every character of the Chinese lexicons (``lexicon_zh``) that has a distinct
  Traditional form, so Traditional posts match the Simplified lexicon after folding
  (擠兌 -> 挤兑, 凍結 -> 冻结, 銀行 -> 银行, 倒閉 -> 倒闭, 資料外洩 -> 资料外泄 ...);
* the most frequent characters of everyday social-media Chinese that differ between the
  two scripts, which is what script detection counts.

Pairs follow the OpenCC character mappings (TSCharacters), restricted to the
characters this package needs.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Literal

Language = Literal["en", "zh-Hans", "zh-Hant", "other"]

# Traditional character immediately followed by its Simplified form.
_T2S_PAIRS = (
    # grammar, pronouns and the most frequent words
    "這这個个們们來来說说會会時时為为爲为對对過过還还沒没麼么嗎吗們们"
    "從从後后裡里裏里與与給给讓让應应該该當当邊边點点種种樣样麼么於于"
    "兒儿兩两幾几雖虽並并們们嗎吗呢呢喲哟嘛嘛啊啊吧吧囉啰嚇吓"
    "現现發发問问題题關关開开門门間间閉闭聞闻閱阅闆板長长東东車车馬马"
    "學学國国業业樂乐無无萬万專专嚴严喪丧麗丽舉举義义烏乌習习鄉乡書书"
    "買买賣卖亂乱爭争虧亏雲云亞亚產产親亲僅仅從从倉仓儀仪價价眾众優优"
    "夥伙傘伞偉伟傳传傷伤倫伦偽伪體体餘余傭佣俠侠侶侣偵侦側侧僑侨債债"
    "傾倾備备們们億亿儲储兌兑內内冊册凍冻凈净別别刪删剛刚創创劃划劇剧"
    "劉刘劑剂動动務务勞劳勢势勵励勸劝勝胜區区協协卻却厲厉厭厌參参叢丛"
    "員员唄呗喚唤單单嗚呜嘆叹嘩哗嚴严團团圍围園园圓圆圖图執执堅坚報报"
    "場场塊块壓压壞坏壯壮壽寿夠够夢梦奪夺奮奋婦妇媽妈孫孙學学寧宁審审"
    "寫写寬宽寶宝將将專专尋寻對对導导屆届層层屬属島岛峽峡師师帳帐帶带"
    "幣币幫帮幹干廣广廳厅張张強强彈弹彎弯彙汇後后徑径從从復复徵征恆恒"
    "惡恶惱恼愛爱態态慘惨慣惯慮虑慶庆憂忧憑凭憤愤憶忆懇恳應应懶懒懷怀"
    "懸悬懼惧戀恋戰战戲戏戶户拋抛捨舍掃扫掛挂採采換换揮挥損损搖摇搶抢"
    "摺折撐撑撥拨撲扑擁拥擊击擋挡擔担據据擠挤擬拟擴扩擺摆擾扰攏拢攔拦"
    "攜携攤摊敗败敘叙敵敌數数斂敛斷断於于時时晉晋暈晕暢畅暫暂曆历曉晓"
    "會会書书東东條条來来極极榮荣構构槍枪樂乐標标樣样樓楼樹树橋桥機机"
    "橫横檔档檢检櫃柜權权歡欢歲岁歷历歸归殘残殺杀毀毁氣气決决沒没況况"
    "洩泄涼凉淚泪淨净淺浅減减測测湊凑湧涌準准溝沟溫温滅灭滯滞滿满漁渔"
    "漢汉漲涨漸渐潔洁潛潜潰溃澀涩澤泽濃浓濕湿濟济濫滥瀏浏灣湾災灾為为"
    "烏乌無无煙烟煩烦熱热燈灯燒烧營营燦灿爭争爺爷爾尔牆墙狀状狹狭獎奖"
    "獨独獲获獻献現现環环產产畢毕畫画異异當当療疗癢痒發发盜盗盡尽監监"
    "盤盘眾众睏困瞞瞒確确碼码礎础禍祸禮礼稅税種种稱称穩稳窮穷竊窃筆笔"
    "範范築筑簡简簽签籌筹糧粮糾纠紀纪約约紅红級级紛纷紙纸細细終终組组"
    "結结絕绝給给統统絲丝綁绑經经綜综綠绿維维網网緊紧線线緣缘編编緩缓"
    "練练縣县縮缩總总績绩織织繞绕繳缴繼继續续纏缠罰罚罵骂罷罢羅罗義义"
    "習习聖圣聞闻聯联聰聪聲声職职聽听肅肃脅胁脫脱腦脑腳脚膽胆臉脸臨临"
    "與与興兴舉举舊旧艱艰藝艺萬万葉叶著着蓋盖藥药蘇苏處处號号蟲虫術术"
    "衛卫衝冲補补裝装製制複复見见規规視视親亲覺觉覽览觀观訂订計计訊讯"
    "討讨訓训記记訪访設设許许訴诉診诊註注証证評评詞词試试詩诗詢询詳详"
    "誇夸認认誠诚誤误說说誰谁課课調调談谈請请諒谅論论諸诸謀谋謊谎謎谜"
    "講讲謝谢謠谣證证識识議议護护讀读變变讓让讚赞豐丰豬猪貓猫貝贝負负"
    "財财責责貨货貪贪貴贵貸贷費费貼贴賀贺資资賊贼賓宾賠赔賞赏賢贤賣卖"
    "質质賬账賭赌賴赖賺赚購购賽赛贈赠贏赢趕赶趙赵跡迹踐践蹤踪躍跃車车"
    "軍军軟软較较載载輕轻輛辆輸输輪轮轉转辦办辭辞農农這这連连週周進进"
    "遊游運运過过達达違违遠远適适遲迟選选遺遗還还邊边郵邮鄉乡醫医釋释"
    "針针鈔钞鐵铁銀银銷销鋒锋錄录錢钱錯错鍵键鎖锁鏡镜長长門门閃闪閉闭"
    "開开閒闲間间閱阅闆板闊阔關关陣阵陰阴陳陈陸陆陽阳隊队階阶際际隨随"
    "險险隱隐隻只雙双雜杂雞鸡離离難难電电靈灵靜静響响頁页頂顶項项順顺"
    "須须預预頓顿領领頭头頻频題题額额顏颜願愿類类顧顾顯显風风飛飞飯饭"
    "飲饮餓饿館馆馬马驗验驚惊體体髮发鬧闹魚鱼鳥鸟麥麦黃黄點点黨党齊齐"
    "龍龙龜龟"
    # banking, money and crisis vocabulary (every Traditional form the lexicon needs)
    "擠挤兌兑銀银帳帐戶户凍凍凍冻結结閉闭據据洩泄資资個个駭骇當当機机"
    "統统系系領领提提唔唔撳揿攞攞錢钱櫃柜員员網网淨净詐诈騙骗盜盗竊窃"
    "違违規规罰罚處处監监會会證证調调查查吊吊銷销撤撤執执照照牌牌董董"
    "潛潜捲卷逃逃聯联落落擄掳綁绑裁裁員员減减薪薪虧亏損损暴暴爆爆雷雷"
    "倉仓跌跌崩崩潰溃瘓痪癱瘫當当掛挂登登錄录轉转賬账帳帐匯汇餘余額额"
    "貸贷債债償偿兌兑違违約约逾逾盤盘縮缩險险風风機机劃划撥拨謠谣闢辟"
    "實实屬属虛虚構构貸贷駭骇黑黑侵侵攻攻擊击勒勒索索癱瘫頓顿瘓痪應应"
    "擔担憂忧慮虑慌慌憤愤氣气嚇吓懼惧驚惊絕绝煩烦閃闪卡卡鎖锁凍冻決决"
    "復复穩稳靠靠譜谱貼贴讚赞滿满謝谢專专優优順顺暢畅澄澄辦办處处態态"
    "惡恶劣劣噁恶騙骗謊谎黑黑幣币錯错誤误壞坏慘惨嬲嬲衰衰呃呃攪搅搞搞"
    "濟济緊紧隊队龍龙輪轮贖赎擁拥擠挤潮潮風风導导號号條条傳传聞闻網网"
    "據据稱称託托嗎吗麼么甚甚會会還还辭辞職职總总裁裁長长實实際际負负"
    "責责層层員员級级監监儲储戶户蓄蓄櫃柜檯台臺台營营網网點点關关閉闭"
    "縮缩撤撤併并丟丢勁劲華华囂嚣庫库龐庞廢废徹彻斬斩爛烂積积純纯紓纾絡络"
    "恥耻蠻蛮話话語语諉诿謂谓謬谬賄贿鄭郑釣钓鏈链鍋锅鎮镇悶闷臥卧尷尴撫抚瘡疮"
    "窩窝誘诱諾诺販贩鐘钟鍾钟噠哒"
)

# Characters whose "Traditional" form is also ordinary Simplified usage (or whose
# Simplified form is ordinary Traditional usage): they are folded for matching but
# never counted as evidence of either script.
_SHARED = set("乾於著麼么後后里系只台才面余卷折制采征干划向板冲")

_T2S: dict[int, int] = {}
_TRAD_ONLY: set[str] = set()
_SIMP_ONLY: set[str] = set()


def _build() -> None:
    pairs = _T2S_PAIRS
    for i in range(0, len(pairs) - 1, 2):
        trad, simp = pairs[i], pairs[i + 1]
        if trad == simp:
            continue
        _T2S[ord(trad)] = ord(simp)
        if trad not in _SHARED:
            _TRAD_ONLY.add(trad)
        if simp not in _SHARED:
            _SIMP_ONLY.add(simp)
    # a character that is both a Traditional key and a Simplified value is ambiguous
    both = _TRAD_ONLY & _SIMP_ONLY
    _TRAD_ONLY.difference_update(both)
    _SIMP_ONLY.difference_update(both)


_build()

TRAD_ONLY = frozenset(_TRAD_ONLY)
SIMP_ONLY = frozenset(_SIMP_ONLY)
_T2S_KEYS = frozenset(map(chr, _T2S))

# Curly quotes and apostrophes NFKC leaves alone; folded so "can’t" == "can't".
_PUNCT_FOLD = {
    ord("\u2019"): "'", ord("\u2018"): "'", ord("\u02bc"): "'", ord("\u201c"): '"',
    ord("\u201d"): '"', ord("\u3002"): ".", ord("\uff61"): ".", ord("\u3001"): ",",
    ord("\u300c"): '"', ord("\u300d"): '"', ord("\u300e"): '"', ord("\u300f"): '"',
    ord("\u3010"): "[", ord("\u3011"): "]", ord("\u2026"): "...",
}


def normalise(text: str) -> str:
    """NFKC (full-width -> half-width), case-fold, fold quotes; Chinese script untouched."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_PUNCT_FOLD)


def to_simplified(text: str) -> str:
    """Map Traditional characters of the built-in table to their Simplified forms."""
    return text.translate(_T2S)


_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
NON_ASCII_RUN = _NON_ASCII_RUN = re.compile("[^\x00-\x7f]+")
# The characters of English words (the tokenizer's class, ``english._TOKEN``): ASCII
# letters and digits, U+00C0-024F, and the few letters beyond whose other case is in
# those ranges (what [a-z0-9\u00c0-\u024f] matches with re.IGNORECASE)
WORD_CLASS = ("0-9A-Za-z\u00c0-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0260\u0263"
              "\u0268\u0269\u026f\u0272\u0275\u0280\u0283\u0288-\u028c\u0292\u1e9e\u212a"
              "\u212b\u2c65\u2c66\u2c7e\u2c7f")
_WORD_EXTRAS = frozenset("\u0253\u0254\u0256\u0257\u0259\u025b\u0260\u0263\u0268\u0269\u026f"
                         "\u0272\u0275\u0280\u0283\u0288\u0289\u028a\u028b\u028c\u0292\u1e9e"
                         "\u212a\u212b\u2c65\u2c66\u2c7e\u2c7f")
_DIGITS = b"0123456789"
# Han characters (U+3400-4DBF, U+4E00-9FFF, U+F900-FAFF) are counted on the UTF-8 bytes:
# those led by E4-E9 are Han but for U+4DC0-4DFF (E4 B7 ..), and the Han led by E3 (E3 90-BF
# ..) and EF (EF A4-AB ..) are rare, so a post without any of these three kinds of
# sequence (_HAN_EXCEPTIONS) has as many Han characters as E4-E9 bytes.  (A class of the
# Han ranges costs 1.8 ms to compile, a regular expression of their bytes is slower.)
_HAN_LEADS = bytes(range(0xE4, 0xEA))
_HAN_EXCEPTIONS = re.compile(rb"\xe3[\x90-\xbf]|\xef[\xa4-\xab]|\xe4\xb7")


def script_counts(text: str) -> tuple[int, int, int, int, int, int]:
    """(latin letters, han, traditional-only han, simplified-only han, other-script
    letters, emoji) of already NFKC-normalised text."""
    return script_profile(text)[0]


Profile = tuple[tuple[int, int, int, int, int, int], "list[str] | None", str, bool, bool]


def script_profile(text: str, exact: bool = True) -> Profile:
    """(:func:`script_counts`; if ``text`` has Han characters the list of its characters
    (hashed once, then cheap to look up again), else None; its emoji-range characters in
    order; whether it has a character to fold to Simplified; whether it has a character
    of English words, WORD_CLASS).  ``exact`` False: the Simplified-only count is 0 when
    there is no Traditional-only character (for :func:`decide_language`, which only asks
    whether Traditional ones outnumber them)."""
    utf8 = text.encode("utf-8", "surrogatepass")
    no_letters = utf8.translate(None, _ASCII_LETTERS)
    latin = len(utf8) - len(no_letters)         # ASCII bytes are ASCII characters
    words = latin > 0 or len(no_letters.translate(None, _DIGITS)) < len(no_letters)
    if len(utf8) == len(text):
        return (latin, 0, 0, 0, 0, 0), None, "", False, words
    han = len(utf8) - len(utf8.translate(None, _HAN_LEADS))
    # (find() and a byte's value, not ``bytes in bytes``: that first tries the operand as an int and
    # clears the TypeError, which costs more than the search)
    if utf8.find(b"\xe4\xb7") >= 0 or (0xE3 in utf8 or 0xEF in utf8) and _HAN_EXCEPTIONS.search(utf8):
        han = sum(1 for ch in text if _is_han(ch))
    trad = simp = 0
    chars = None
    folds = False
    if han:     # the Traditional-only characters are folding keys, all Han like the rest
        chars = list(text)
        keys = _T2S_KEYS.intersection(chars)
        if keys:
            folds = True
            trad = sum(map(text.count, TRAD_ONLY.intersection(keys)))
        if trad or exact:
            simp = sum(map(text.count, SIMP_ONLY.intersection(chars)))
    other = 0
    emoji = []
    if len(utf8) != len(text) + 2 * han:     # a Han character is three bytes, all else differs
        for ch in "".join(_NON_ASCII_RUN.findall(text)):
            o = ord(ch)
            if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
                continue    # Han, counted above
            if 0xC0 <= o <= 0x24F:
                latin += 1
                words = True
            elif (0x370 <= o <= 0x6FF or 0x900 <= o <= 0xE7F or 0x3040 <= o <= 0x30FF
                  or 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF):
                other += 1   # greek, cyrillic, hebrew, arabic, indic, thai, kana, hangul
            elif 0x1F100 <= o <= 0x1FAFF or 0x2600 <= o <= 0x27BF or 0x2B00 <= o <= 0x2BFF:
                emoji.append(ch)
            elif ch in _WORD_EXTRAS:
                words = True
    return (latin, han, trad, simp, other, len(emoji)), chars, "".join(emoji), folds, words


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def fold_chinese(text: str, folds: bool) -> str:
    """``to_simplified(text.casefold())`` of text that has a character of the folding
    table if ``folds`` (script_profile): ``text`` itself when that changes nothing (the
    table only has Han keys, and case folding never makes a Han character)."""
    folded = text.casefold()
    if folds:
        return folded.translate(_T2S)
    return text if folded == text else folded


_EN_FUNCTION = frozenset(
    "the a an and or but is are was were be been to of in on at for with from by "
    "this that it my our your their his her we you they i me us not no can cant "
    "dont do does did have has had will would should just what why how when who "
    "there here about all so if as up out any".split()
)
# Frequent function words of other Latin-script languages (es, fr, de, pt, it, nl, id).
_OTHER_FUNCTION = frozenset(
    "el la los las de del que y en es un una por para con se su al lo como mas pero "
    "le les des du et est une pour dans qui sur pas ce cette sont avec je nous vous "
    "der die das und ist nicht ein eine ich mit auf fur sie den dem zu auch "
    "o os da do em um uma nao para com muito "
    "il di che non per sono della "
    "het een en niet van ik je dat "
    "yang dan di ini itu tidak dengan untuk saya ada".split()
) - _EN_FUNCTION


# A post none of whose words, with the characters decide_language strips (and apostrophes)
# deleted everywhere, is another language's function word has none among its stripped
# words either: the function words are lowercase ASCII letters, so deleting those
# characters inside a word as well can only add candidates.  bytes.split() splits on ASCII
# whitespace only: str.split() also splits ASCII on \x1c-\x1f, and other text on Unicode
# spaces, which joining its words with " " first takes care of.
_STRIPPED = b"'.,!?;:\"()[]"
# \x1c-\x1f to spaces, and ASCII upper case to lower case (bytes.lower()), in one pass
_ASCII_LOWER_SPACES = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ\x1c\x1d\x1e\x1f",
                                      b"abcdefghijklmnopqrstuvwxyz    ")
_OTHER_FUNCTION_BYTES = frozenset(w.encode() for w in _OTHER_FUNCTION)
if not all(w.isascii() and w.isalpha() and w.islower() for w in _EN_FUNCTION | _OTHER_FUNCTION):
    raise ValueError("function words must be lowercase ASCII letters (see decide_language)")


def detect_language(text: str) -> Language:
    """Dominant script decides; Han text is split into Simplified/Traditional.

    Han characters carry roughly two Latin letters' worth of content, so each counts
    twice against Latin letters.  Kana mixed with kanji is Japanese ("other").  Han text
    is zh-Hant when Traditional-only characters outnumber Simplified-only ones (ties,
    including text of shared characters only, are zh-Hans).  Latin text is English
    unless function words of another Latin-script language outnumber English ones.
    """
    if not text:
        return "other"
    t = unicodedata.normalize("NFKC", text)
    return decide_language(t, script_counts(t))


def decide_language(t: str, counts: tuple[int, int, int, int, int, int]) -> Language:
    """:func:`detect_language` for NFKC text whose script counts the caller already has."""
    latin, han, trad, simp, other, _emoji = counts
    n_han = han * 2
    if n_han == 0 and latin == 0:
        return "other"
    if other > n_han and other > latin:
        return "other"
    if n_han >= latin and n_han > 0:
        if other and other * 2 >= han:
            return "other"
        return "zh-Hant" if trad > simp else "zh-Hans"
    if t.isascii():
        words = t.encode().translate(_ASCII_LOWER_SPACES, _STRIPPED).split()
    else:   # the words of str.split(), rejoined by one ASCII space
        words = " ".join(t.casefold().split()).encode("utf-8", "surrogatepass").translate(
            None, _STRIPPED).split()
    if _OTHER_FUNCTION_BYTES.isdisjoint(words):
        return "en"      # no other-language function word (see _STRIPPED)
    en = oth = 0
    for w in t.casefold().replace("'", "").split():
        w = w.strip(".,!?;:\"()[]")
        if w in _EN_FUNCTION:
            en += 1
        elif w in _OTHER_FUNCTION:
            oth += 1
    return "other" if oth > en else "en"


_S2T: dict[int, int] = {}
for _trad, _simp in _T2S.items():
    _S2T.setdefault(_simp, _trad)


def to_traditional(text: str) -> str:
    """The Traditional spelling of a Simplified term, as far as the built-in table knows.

    Platform search does not fold scripts, so a query must name both spellings.
    """
    return text.translate(_S2T)
