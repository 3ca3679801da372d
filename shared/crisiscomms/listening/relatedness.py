"""Is a post found only through a topic's ambiguous names about the bank?

Some banks are named with ordinary words or share a name with other organisations: 平安 ("safe",
平安夜, 平安保险), 光大 (发扬光大), 招商 (招商引资, 招商局), 民生 ("livelihood"), "Chase" (the verb,
Chase Center), "Discover", "Citizens", "Ally". A topic lists such names as `ambiguous`; the matcher
still finds posts through them, and a post found through them alone is judged here. A post found
through an unambiguous name, keyword, hashtag or account, written by the bank's account, or
addressing the bank never reaches this judgement: it is related.

Each occurrence of an ambiguous name is classed first:
- *bank*: a banking word follows it ("平安信用卡", "平安的APP", "Chase app", "Ally savings"), or in
  Chinese an organisation's collapse does ("星河要倒闭了");
- *organisation* (English): an institution's act on the writer follows it ("Discover raised my limit",
  "Chase logged me out": a city acts too, but not on "me" or "my"), or its staff, CEO or ads do;
- *other sense*: it sits in a collocation of another sense or organisation, from per-language lists
  (one word before or after it: 一路平安, 平安夜, 平安保险, 招商引资, 恒生指数, 国泰航空, 发扬光大,
  民生问题; "chase the", "discover new", "an ally", "citizens of", "Chase Center", "Cathay Pacific";
  a person: 陈平安; in English a grammatical word around it ("to", "a", "the") only counts when the
  name is not capitalised mid-sentence, so "Is Discover a good bank?" keeps its name);
- *bare*: anything else.
A post whose every occurrence is of another sense is unrelated. Otherwise it scores:
  +3 a *bank* occurrence, else +2 an *organisation* one;
  +2 banking words anywhere (+1 more for a second; bank, account, card, ATM, branch, deposit, loan,
  transfer, 银行, 账户, 信用卡, 网点, 存款, 贷款, 转账, 提款; Hong Kong and Taiwan usage: 碌卡, 找数,
  金融卡, 薪转; other banks' names; banks' apps and card products: 掌上生活, enJoy卡);
  +1 per service, corporate or promotion word, at most +2 (customer service, fees, refund, outage,
  shares, an amount of money, 客服, 投诉, 手续费, 倒闭, 股价, 优惠, 立减, 名额);
  +1 two of the topic's ambiguous names together;
  English only: +1 the name capitalised mid-sentence, -2 the name in lower case in a text that uses
  capitals, +1 a possessive (Chase's), -1 the name followed by another capitalised word that is no
  banking word (Chase Elliott);
  -1 per word of another sense's world, at most -3 (insurance, flights, stock indices, sport,
  government, holidays and wishes, hiking, stars, investment promotion, cafés, TV dramas, history
  lessons, fun runs: 保险, 理赔, 航班, 指数, 比赛, 政府, 圣诞, 登山, 星空, 引资, 咖啡, 电视剧, 历史).
It is related at `RELATED_AT` or more: a banking word, or two weaker signs, must speak for the bank.
Chinese is compared in Simplified characters, so one list serves both scripts (`_EXTRA_FOLD` adds the
Traditional forms of the lists' characters that the scorer's table lacks: 回饋, 聖誕, 養老).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from crisiscomms.scoring import to_simplified

RELATED_AT = 2
BANK_OCCURRENCE = 3
ORG_OCCURRENCE = 2
BANK_WORDS_FIRST, BANK_WORDS_SECOND = 2, 1
SERVICE_WORD, SERVICE_CAP = 1, 2
CO_NAMES = 1
PROPER_NOUN = 1
LOWER_CASE = -2
NAME_FOLLOWS = -1
POSSESSIVE = 1
OTHER_WORLD, OTHER_WORLD_CAP = -1, -3

# Characters the scorer's Traditional table leaves alone but these lists need folded.
_EXTRA_FOLD = str.maketrans({
    "揚": "扬", "駐": "驻", "廈": "厦", "鴿": "鸽", "饋": "馈", "誕": "诞", "養": "养", "節": "节", "禱": "祷",
    "衆": "众", "羣": "群", "峯": "峰", "滙": "汇", "潤": "润", "枱": "台", "吳": "吴", "呂": "吕", "楊": "杨",
    "湯": "汤", "盧": "卢", "蔣": "蒋", "譚": "谭", "賈": "贾", "鄒": "邹", "鄧": "邓", "閆": "闫", "韋": "韦",
    "韓": "韩", "馮": "冯", "龔": "龚", "’": "'", "‘": "'", "＇": "'",
})


def fold(text: str) -> str:
    """Width folded (NFKC), Simplified characters, straight apostrophes; case kept for the English cues."""
    return to_simplified(unicodedata.normalize("NFKC", text)).translate(_EXTRA_FOLD)


# --- banking evidence ------------------------------------------------------------------------------------------

# Words that make the name right before them the bank's ("Chase app", "Ally savings account").
EN_BANK_NEXT = frozenset("""
bank banks banking account accounts acct card cards app apps atm atms branch branches teller tellers online mobile
customer customers savings checking credit debit mortgage mortgages loan loans deposit deposits transfer transfers
overdraft statement statements rewards cashback website site login hotline rep reps representative support fees fee
freedom sapphire ink invest advisor advisors visa mastercard cd cds routing zelle wire wires heloc saver savers
financial trust federal mutual cu fcu bancorp
""".split())
# An institution's act on the writer right after the name ("Discover raised my limit", "Chase logged me out"), or
# its things after the name or its possessive ("Chase's CEO"): an organisation acting, which the verb, the common
# noun and a friend are not. A city acts too ("Meridian approves a new school"), hence an act only with the
# writer (me, my, us, our) as its object.
EN_ORG_ACTS = frozenset("""
raised raises lowered lowers cut cuts hiked hikes closed closes froze freezes locked locks charged charges
declined declines denied denies approved approves refunded refunds reversed reverses flagged flags blocked blocks
cancelled canceled cancels logged logs waived waives credited credits debited debits upgraded downgraded billed
bills reimbursed dinged increased increases decreased decreases sent sends mailed emailed
""".split())
EN_ORG_OBJECTS = frozenset("me my us our".split())
EN_ORG_THINGS = frozenset("ad ads commercial commercials ceo staff employees headquarters hq promo promos".split())
# ... and in Chinese, right after the name or after 的/家/这边 (平安的APP, 光大这边的网点).
ZH_BANK_NEXT = (
    "银行", "卡", "信用卡", "储蓄卡", "借记卡", "银行卡", "app", "手机银行", "网银", "网上银行", "客服", "网点",
    "支行", "分行", "营业厅", "营业部", "柜台", "柜员", "理财", "贷款", "存款", "账户", "帐户", "账号", "转账",
    "atm", "取款机", "提款机", "柜员机", "热线", "大堂", "客户经理", "理财经理", "行长", "储户", "房贷", "车贷",
    "信用", "额度", "还款", "账单", "帐单", "积分", "年费", "利率", "存单", "大额存单", "工资卡", "月结单",
    "电子月结单", "结单", "对账单", "提额", "缴费", "新户", "开户", "提款卡", "定存", "信贷", "卡费", "行员", "理专",
)
# ... or, in Chinese, an organisation's collapse right after the name (星河要倒了, 安信暴雷): only an
# organisation has one.
ZH_COLLAPSE_NEXT = ("倒闭", "要倒", "快倒", "倒了", "破产", "暴雷", "爆雷", "跑路", "挤兑", "被挤兑")
_ZH_LINKS = ("的那个", "这边的", "那边的", "家的", "的", "嘅", "家", "这边", "那边")
_ZH_COLLAPSE_LINKS = ("是不是要", "是不是", "真的要", "真的", "要", "快", "会")

EN_BANK_WORDS = (
    "bank", "banks", "banking", "banker", "bankers", "account", "accounts", "acct", "checking account",
    "savings account", "savings", "card", "cards", "credit card", "debit card", "debit", "app", "online banking",
    "mobile banking", "atm", "atms", "branch", "branches", "teller", "tellers", "deposit", "deposits",
    "deposited", "direct deposit", "withdraw", "withdrawal", "withdrawals", "withdrew", "loan", "loans",
    "mortgage", "mortgages", "refinance", "transfer", "transfers", "wire transfer", "zelle", "overdraft",
    "apy", "apr", "interest rate", "cashback", "cash back", "credit limit", "statement", "balance",
    "routing number", "fdic", "paycheck", "autopay", "checking", "heloc", "saver", "savers", "wire", "wires",
    "down payment", "car payment", "payment date", "my money", "money at", "money with", "e-statement",
    "chargeback", "bill pay", "nsf", "account number", "ira", "cheque", "credit score", "annual fee",
    "sign-up bonus", "balance transfer", "mobile deposit",
    # other banks and card networks: talk of banks among banks
    "hsbc", "barclays", "wells fargo", "citi", "citibank", "bofa", "bank of america", "capital one", "santander",
    "lloyds", "natwest", "monzo", "revolut", "amex", "american express", "visa", "mastercard", "jpmorgan",
    "us bank", "pnc", "td bank", "credit union",
)
ZH_BANK_WORDS = (
    "银行", "储户", "账户", "帐户", "账号", "信用卡", "储蓄卡", "借记卡", "银行卡", "网点", "支行", "分行", "柜台",
    "柜员", "柜面", "存款", "贷款", "转账", "转帐", "提款", "取款", "取钱", "存钱", "理财", "利率", "利息", "余额",
    "手机银行", "网银", "atm", "提现", "还款", "额度", "账单", "帐单", "房贷", "车贷", "按揭", "开户", "销户",
    "挂失", "扣款", "汇款", "工资卡", "年费", "存单", "定期", "活期", "挤兑", "行长", "客户经理", "理财经理",
    "大堂经理", "办卡", "刷卡", "卡里", "征信", "分期", "逾期", "催收", "跨行", "取款机", "提款机", "柜员机",
    "户口", "撳钱", "攞钱", "工行", "建行", "农行", "中行", "交行", "招行", "邮储", "汇丰", "渣打", "花旗",
    "储蓄", "信用社", "农商行", "存折", "张卡", "我的卡", "把卡", "卡被", "卡号", "开卡", "销卡", "提额", "缴费",
    "月结单", "结单", "对账单", "取现", "领钱", "限额", "新户", "回馈", "回赠", "现金回赠", "换汇", "汇率",
    "提款卡", "转数快", "入数", "过数", "月供", "楼按", "定存", "活存", "信贷", "卡费", "刷卡金", "红利", "行员",
    "理专", "临柜", "外币", "台币", "港币", "美金", "数位帐户", "社保卡", "到账", "入账", "流水", "年化",
    "收益率", "本金", "取出", "转出", "转入", "一类户", "二类户",
    # Hong Kong and Taiwan usage, and cards' talk
    "碌卡", "签账", "找数", "入钱", "绑卡", "金融卡", "薪转", "结余", "里数", "实体卡", "虚拟卡", "首刷", "批卡", "批核",
    "信用额", "海外消费", "柜位", "外汇", "保管箱", "支票", "本票", "汇票", "供楼", "税贷", "卡友",
    # banks' own apps and wealth products (not 一网通, 全民生活: 一网通办 and 全民生活 are ordinary phrases too)
    "掌上生活", "阳光惠生活", "买单吧", "朝朝宝", "金葵花", "云缴费", "动卡空间", "拍钱包",
)

EN_SERVICE_WORDS = (
    "customer service", "support", "on hold", "hold music", "complaint", "complain", "complained", "fee", "fees",
    "charged", "refund", "refunded", "fraud", "scam", "scammed", "froze", "frozen", "locked out", "representative",
    "hotline", "call center", "helpline", "outage", "bankrupt", "bankruptcy", "collapse", "insolvent", "layoffs",
    "ceo", "fined", "regulator", "regulators", "lawsuit", "settlement", "shares", "earnings", "profit",
    "quarterly results", "data breach", "customers", "declined", "declines", "suspicious activity", "verify",
    "verification", "password", "locked me out", "call you back", "activate", "member", "members",
    "underwriting", "drive-thru", "going under", "went bust",
)
ZH_SERVICE_WORDS = (
    "客服", "人工", "投诉", "热线", "手续费", "扣费", "收费", "退款", "冻结", "盗刷", "诈骗", "倒闭", "破产", "暴雷",
    "股价", "股票", "财报", "年报", "净利润", "营收", "裁员", "高管", "董事长", "监管", "罚款", "罚单", "被罚", "处罚",
    "维权", "系统", "崩了", "宕机", "闪退", "登录", "数据泄露", "信息泄露", "客户", "小编", "排队", "去排", "人龙",
    "派筹", "倒了", "要倒", "跑路",
    # a card's or an app's promotions
    "优惠", "抢券", "领券", "抢到券", "立减", "满减", "返现", "薅羊毛", "羊毛", "名额", "权益", "秒没", "抢不到", "首绑",
)

# --- counter-evidence -----------------------------------------------------------------------------------------

# Words of the worlds of the names' other senses.
EN_OTHER_WORLD = (
    "insurance", "insurer", "doctor", "flight", "flights", "airline", "airlines", "plane", "boarding", "airport",
    "index", "game", "games", "season", "playoffs", "playoff", "warriors", "nba", "nascar", "racing", "race",
    "driver", "lap", "concert", "tickets", "ticket", "tour", "album", "song", "movie", "film", "episode",
    "quarterback", "touchdown", "pitcher", "coach", "fans", "government", "vote", "voters", "election", "rights",
    "democracy", "senator", "congress", "war", "troops", "nato", "treaty", "alliance", "military", "christmas",
    "merry", "holiday", "blessings", "pray", "hike", "hiking", "summit", "trail", "sunset", "galaxy", "stars",
    "universe", "recipe", "music", "playlist", "podcast", "spotify", "dream", "dreams", "goals", "passion",
    "happiness", "adventure", "explore", "journey", "nature", "wildlife", "museum", "history", "travel",
    "vacation", "park", "police", "suspect", "lake", "street", "neighborhood", "neighbourhood", "mall",
    "county", "emergency", "officials", "residents", "mayor", "storm", "council", "councillor", "city hall",
    "suburb", "startup", "funding round", "database", "vector", "developers", "github", "software",
    "fun run", "marathon",
)
ZH_OTHER_WORLD = (
    "保险", "车险", "寿险", "理赔", "保单", "投保", "保费", "续保", "重疾险", "医疗险", "问诊", "挂号", "看病",
    "航班", "机票", "空姐", "飞机", "登机", "值机", "延误", "起飞", "降落", "里程", "指数", "大盘", "港股", "恒指",
    "点位", "成分股", "收涨", "收跌", "比赛", "球队", "球迷", "决赛", "进球", "演唱会", "门票", "游戏", "手游",
    "上分", "政府", "人民群众", "群众", "百姓", "两会", "提案", "圣诞", "快乐", "祝福", "保佑", "祈福", "新年",
    "出行", "旅途", "登山", "爬山", "日出", "攻顶", "海拔", "山顶", "星空", "夜空", "银河", "星星", "风景",
    "引资", "项目", "加盟", "园区", "开发区", "产业园", "签约", "入驻", "营商", "港口", "码头", "航运", "物流",
    "战争", "冲突", "停火", "和谈", "就业", "养老金", "医保", "住房", "小区", "街道", "居民", "12345",
    # an airline's, a café's, a TV drama's or a history lesson's world (国泰的机票, 追剧, 历史科); not 电影:
    # a card's points buy cinema tickets
    "班机", "机场", "改票", "航空", "咖啡", "奶茶", "拿铁", "电视剧", "剧集", "追剧", "纪录片", "历史",
    "音乐节", "公园",
)

# One word before or after the name that gives it another sense (English: whole words).
EN_OTHER_BEFORE = frozenset("""
to will would can could should must gonna wanna lets let's don't dont didn't never always i we they
a an car police goose paper close closest key strong staunch loyal trusted great true valuable powerful nato
military political fellow senior ordinary private concerned law-abiding foreign american chinese british
canadian european eu u.s. elderly global digital second-class first-class prime
""".split())
# ... after it, as grammar: only when the name is not capitalised mid-sentence ("Is Discover a good bank?").
EN_OTHER_AFTER = frozenset("""
the a an your my his her their our its this that these those what how why where who whatever new more down after
away off up dreams dream something anything yourself themselves ourselves himself herself myself with against of
""".split())
# ... after it, naming a place, an event or another organisation: always.
EN_OTHER_NAMED = frozenset("""
center centre field stadium arena park mall street st road rd avenue ave drive dr lane ln boulevard blvd station
square plaza hotel school high academy college university hospital clinic library church beach trail bridge
apartments magazine weekly page feed tab elliott utley claypool mcbeal advice united band assembly pacific airways
airlines dragon cargo bypass shopping market hall pool leisure gym cinema theatre theater museum zoo garden gardens
primary elementary middle junior medical surgery dental pharmacy fire council energy press media studios records
labs ventures realty homes village heights hills estates towers court crescent terrace grove
""".split())
# Chinese: what comes right after or right before the name in another sense.
ZH_OTHER_AFTER = (
    "保险", "人寿", "寿险", "产险", "财险", "养老", "健康", "好医生", "医生", "医院", "医疗", "证券", "期货", "基金",
    "信托", "资管", "资本", "集团", "控股", "金控", "航空", "航班", "机场", "指数", "电子", "科技", "地产", "置业",
    "物业", "蛇口", "局", "引资", "加盟", "大学", "学院", "中学", "小学", "学校", "夜", "无事", "喜乐", "顺遂",
    "归来", "到达", "抵达", "到家", "回家", "是福", "就好", "饭店", "酒店", "宾馆", "公园", "国家公园", "广场",
    "大厦", "大道", "路", "街", "区", "县", "湾", "战队", "影院", "影城", "鸽", "山顶", "主峰", "日出", "民安",
    "年代", "使者", "精英", "门楣", "谈判", "协议", "共处", "条约", "主义", "政策", "璀璨", "灿烂", "东路", "西路",
    "南路", "北路", "大街", "东街", "西街", "里站", "站", "纪念", "音乐节", "艺术节", "文化节", "会展", "投信", "产物",
)
ZH_OTHER_BEFORE = (
    "一路", "祝", "祝你", "祝您", "祝大家", "保佑", "祈求", "祈祷", "岁岁", "出入", "四季", "一生", "一世", "健康",
    "幸福", "世界", "维护", "热爱", "追求", "发扬", "改善", "保障", "关注", "关心", "惠及", "事关", "关乎", "国计",
    "爬", "登", "攀登", "登顶", "诚邀", "火热", "全国", "诺贝尔", "圣诞", "报个", "图个", "求个", "保个", "平",
    "漫天", "一片", "诚招",
)
# A common surname right before the name, starting a clause, makes it a person's (陈平安, 林安信你...).
ZH_SURNAMES = frozenset("王李张刘陈杨黄赵吴周徐孙朱胡郭林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜叶程苏魏吕丁任沈姚卢"
                        "姜崔钟谭陆汪范廖贾夏韦邹孟熊秦邱尹薛闫段雷侯史陶黎贺顾郝龚邵钱严覃戴莫孔汤")
# Whole collocations holding the name in another sense, where one affix would say too much; they
# are looked at before the banking words that may follow ("招商热线" is investment promotion's).
ZH_OTHER_PHRASES = (
    "报平安", "求平安", "保平安", "平安果", "平安符", "中国平安", "平安中国", "平安城市", "平安校园", "平安建设",
    "民生问题", "民生工程", "民生实事", "民生领域", "民生保障", "民生福祉", "民生发展", "民生新闻", "民生频道",
    "和平发展", "和平奖", "招商会", "招商办", "招商中", "招商部", "招商热线", "招商电话", "民生热线",
)

_LATIN = re.compile(r"[A-Za-z0-9]")
_WORD = r"[A-Za-z0-9][A-Za-z0-9'\-.]*"
_NEXT_WORDS = re.compile(rf"('s?)?(?:[ \t]+({_WORD})(?:[ \t]+({_WORD}))?)?")
_SENTENCE_STARTS = re.compile(r"(?:^|[.!?]\s+)([A-Za-z][A-Za-z']*)")
_PREV_WORD = re.compile(rf"({_WORD})[ \t]+$")
_CASE_WORDS = re.compile(r"[A-Za-z]+")
_CARD_PRODUCT = re.compile(r"[A-Za-z0-9]卡")
_MONEY = re.compile(r"[$£€¥]\s?\d|(?<![A-Za-z0-9])\d+(?:[.,]\d+)?\s?(?:k|grand|bucks|dollars|%)(?![A-Za-z0-9])"
                    r"|[0-9一二两三四五六七八九十百千]+多?[万千](?:元|块)?|[0-9一二两三四五六七八九十百千]+(?:元|块钱)")
_LATIN_WORD = re.compile(r"[a-z0-9][a-z0-9.'\-]*")
_LATIN_WORDS = re.compile(r"[a-z0-9]+(?:['.\-][a-z0-9]+)*")
_SENTENCE_END = frozenset(".!?。！？:;\n\"“(「[#@-—")


def _alternation(terms: tuple[str, ...] | frozenset[str]) -> re.Pattern[str] | None:
    """One pattern for a few names: Latin-edged terms as whole ASCII words, Chinese ones as substrings."""
    parts = []
    for term in sorted({fold(t).lower() for t in terms}, key=len, reverse=True):
        left = r"(?<![A-Za-z0-9])" if _LATIN.match(term[:1]) else ""
        right = r"(?![A-Za-z0-9])" if _LATIN.match(term[-1:]) else ""
        parts.append(f"{left}{re.escape(term)}{right}")
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


class _Words:
    """A word list looked up without a regular expression: English words in the post's set of words,
    English phrases in its words joined by spaces, Chinese terms as substrings."""

    def __init__(self, terms: tuple[str, ...]) -> None:
        folded = {fold(t).lower() for t in terms}
        self.words = frozenset(t for t in folded if _LATIN_WORD.fullmatch(t))
        self.phrases = tuple(t for t in folded if " " in t)
        self.chinese = tuple(t for t in folded if t not in self.words and " " not in t)
        if any(t.isascii() for t in self.chinese):  # `found` skips these in ASCII texts
            raise ValueError("an ASCII term that is neither an English word nor a phrase")

    def found(self, text: _Text) -> set[str]:
        hits = set(self.words.intersection(text.words))
        hits.update(p for p in self.phrases if p in text.joined)
        if not text.ascii:  # no Chinese term can be in an ASCII text
            hits.update(t for t in self.chinese if t in text.lower)
        return hits


class _Text:
    """A post's text as the lists are looked up in: lower case, its English words, those words joined."""

    __slots__ = ("lower", "ascii", "words", "joined")

    def __init__(self, cased: str) -> None:
        self.lower = cased.lower()
        self.ascii = self.lower.isascii()
        words = _LATIN_WORDS.findall(self.lower)
        self.words = frozenset(words)
        self.joined = f" {' '.join(words)} "


_BANK_WORDS = _Words(EN_BANK_WORDS + ZH_BANK_WORDS)
_SERVICE_WORDS = _Words(EN_SERVICE_WORDS + ZH_SERVICE_WORDS)
_OTHER_WORLD_WORDS = _Words(EN_OTHER_WORLD + ZH_OTHER_WORLD)
_ZH_NEXT = tuple(sorted({fold(t).lower() for t in ZH_BANK_NEXT}, key=len, reverse=True))
_ZH_AFTER = tuple(fold(t) for t in ZH_OTHER_AFTER)
_ZH_BEFORE = tuple(fold(t) for t in ZH_OTHER_BEFORE)
_ZH_PHRASES = tuple(fold(t) for t in ZH_OTHER_PHRASES)


@dataclass(frozen=True)
class Judgement:
    """The decision and the signs it rests on (shown by the evaluation, kept short for logs)."""

    related: bool
    score: int
    signs: tuple[str, ...]


class AmbiguousNames:
    """One topic's ambiguous names, compiled once; `judge` decides for one post's text."""

    def __init__(self, names: list[str]) -> None:
        folded = {fold(n).strip() for n in names if n.strip()}
        self._cased = {n.lower(): n != n.lower() for n in folded}  # written with a capital: a proper name
        self._pattern = _alternation(frozenset(folded))

    def judge(self, text: str) -> Judgement:
        """Related or not, for a text in which only these names (not the topic's others) were found."""
        if self._pattern is None:
            return Judgement(False, 0, ("no ambiguous name",))
        cased = fold(text)
        capital_tells, lower_tells = _case_tells(cased)
        signs: list[str] = []
        score = 0
        names: set[str] = set()
        counted = bank = org = 0
        for match in self._pattern.finditer(cased):
            found = match.group(0)
            if any(_is_han(c) for c in found):  # a Chinese name
                kind, why, cues = _zh_occurrence(cased, match.start(), match.end())
            else:
                proper = self._cased.get(found.lower(), False)  # configured with a capital
                kind, why, cues = _en_occurrence(cased, match.start(), match.end(), found,
                                                 capital_tells and proper, lower_tells and proper)
            if kind == "other":
                signs.append(f"other sense: {why}")
                continue
            counted += 1
            names.add(found.lower())
            if kind == "bank":
                bank += 1
                signs.append(f"bank: {why}")
            elif kind == "org":
                org += 1
                signs.append(f"organisation: {why}")
            for cue, value in cues:
                score += value
                signs.append(cue)
        if not counted:
            return Judgement(False, 0, tuple(signs) or ("name not found",))
        if bank:
            score += BANK_OCCURRENCE
        elif org:
            score += ORG_OCCURRENCE
        looked_up = _Text(cased)
        words = _BANK_WORDS.found(looked_up)
        words.update(m.group(0).lower() for m in _CARD_PRODUCT.finditer(cased))  # Ubear卡, enJoy卡
        if words:
            score += BANK_WORDS_FIRST + (BANK_WORDS_SECOND if len(words) > 1 else 0)
            signs.append("banking words: " + ", ".join(sorted(words)))
        service = _SERVICE_WORDS.found(looked_up)
        service.update(m.group(0).strip() for m in _MONEY.finditer(cased))  # an amount of money: $4, 两万, 2k
        if service:
            score += min(SERVICE_CAP, SERVICE_WORD * len(service))
            signs.append("service words: " + ", ".join(sorted(service)))
        if len(names) > 1:
            score += CO_NAMES
            signs.append("names together: " + ", ".join(sorted(names)))
        other = _OTHER_WORLD_WORDS.found(looked_up)
        if other:
            score += max(OTHER_WORLD_CAP, OTHER_WORLD * len(other))
            signs.append("other world: " + ", ".join(sorted(other)))
        return Judgement(score >= RELATED_AT, score, tuple(signs))


Occurrence = tuple[str, str, list[tuple[str, int]]]  # ("bank" | "org" | "other" | "bare", why, (sign, score) cues)


def _case_tells(text: str) -> tuple[bool, bool]:
    """(a capital mid-sentence tells a name, lower case tells an ordinary word): neither in ALL CAPS or
    Title Case; the second only from a writer who capitalises the starts of sentences."""
    words = _CASE_WORDS.findall(text)
    if not words or all(w.isupper() for w in words):
        return False, False
    long_words = [w for w in words if len(w) > 3]
    if len(long_words) >= 4 and sum(w[:1].isupper() for w in long_words) > 0.6 * len(long_words):
        return False, False
    starts = [m.group(1) for m in _SENTENCE_STARTS.finditer(text)]
    return True, bool(starts) and all(w[:1].isupper() for w in starts)


def _zh_occurrence(cased: str, start: int, end: int) -> Occurrence:
    for phrase in _ZH_PHRASES:
        at = cased.find(phrase, max(0, end - len(phrase)), start + len(phrase))
        if at != -1 and at <= start and at + len(phrase) >= end:
            return "other", phrase, []
    after = cased[end:end + 12].lower()
    for link in ("", *_ZH_LINKS):
        if after.startswith(link):
            rest = after[len(link):].lstrip()
            word = next((w for w in _ZH_NEXT if rest.startswith(w)), None)
            if word is not None:
                return "bank", cased[start:end] + link + word, []
    for link in ("", *_ZH_COLLAPSE_LINKS):
        if after.startswith(link):
            word = next((w for w in ZH_COLLAPSE_NEXT if after.startswith(w, len(link))), None)
            if word is not None:
                return "bank", cased[start:end] + link + word, []
    following = next((s for s in _ZH_AFTER if cased.startswith(s, end)), None)
    if following is not None:
        return "other", cased[start:end] + following, []
    before = next((p for p in _ZH_BEFORE if cased.endswith(p, 0, start)), None)
    if before is not None:
        return "other", before + cased[start:end], []
    if start and cased[start - 1] in ZH_SURNAMES and (start < 2 or not _is_han(cased[start - 2])):
        return "other", f"{cased[start - 1:end]} (a person)", []
    return "bare", "", []


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff"


def _en_occurrence(cased: str, start: int, end: int, found: str, capital_tells: bool,
                   lower_tells: bool) -> Occurrence:
    """English cues: what follows the name (a banking word, a place, a verb's object), what precedes it
    (to, a, fellow), its case where the writer's case tells, and a possessive ("Lakeshore's new branch")."""
    after = _NEXT_WORDS.match(cased, end)
    possessive = bool(after and after.group(1))
    following = [w for w in (after.group(2), after.group(3)) if w] if after else []
    nearby = following if possessive else following[:1]  # "X's new branch", but not "Discover the best savings"
    bank = next((w for w in nearby if w.lower().rstrip(".,") in EN_BANK_NEXT), None)
    if bank is not None:
        return "bank", f"{found} {bank}", []
    first = following[0] if following else None
    sentence_start = _sentence_start(cased, start)
    capital_mid = capital_tells and found[:1].isupper() and not sentence_start
    word = first.lower().rstrip(".,") if first is not None else ""
    if not possessive and (word in EN_OTHER_NAMED or (word in EN_OTHER_AFTER and not capital_mid)):
        return "other", f"{found} {first}", []
    if found[:1].isupper() or possessive:  # an organisation's name, or its owner's mark
        if word in EN_ORG_THINGS:
            return "org", f"{found}{after.group(1) or ''} {first}", []
        if (not possessive and word in EN_ORG_ACTS and len(following) > 1
                and following[1].lower().rstrip(".'") in EN_ORG_OBJECTS):
            return "org", f"{found} {first} {following[1]}", []
    previous = _PREV_WORD.search(cased, 0, start)
    if previous is not None and not capital_mid and previous.group(1).lower() in EN_OTHER_BEFORE:
        return "other", f"{previous.group(1)} {found}", []
    cues: list[tuple[str, int]] = []
    if capital_mid:
        cues.append((f"{found} capitalised mid-sentence", PROPER_NOUN))
    elif lower_tells and found == found.lower() and not sentence_start:
        cues.append((f"{found} in lower case", LOWER_CASE))
    if possessive:
        cues.append((f"{found}'s: an owner", POSSESSIVE))
    elif capital_tells and first is not None and first[:1].isupper():
        cues.append((f"{found} {first}: another name", NAME_FOLLOWS))
    return "bare", "", cues


def _sentence_start(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \t")
    return not before or before[-1] in _SENTENCE_END


def judge(text: str, ambiguous: list[str] | tuple[str, ...]) -> Judgement:
    """`AmbiguousNames(ambiguous).judge(text)`; the matcher keeps one AmbiguousNames per topic instead."""
    return AmbiguousNames(list(ambiguous)).judge(text)
