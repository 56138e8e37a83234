"""Searching the service guide (办事指南): Chinese words, full pinyin and pinyin initials, ranked.

One search serves the kiosk, the phone guide and the API. A resident types 「户口」, 「hukou」,
「hu kou」 or just the initials 「hk」 (how kiosk users type on the letter keyboard) and finds
户口迁入; 「sbk」 finds 社会保障卡 through its materials or its name.

Ranking: the matter's name first (a match at the start of the name before one inside it), then
its department's name, then its materials' names; ties in catalogue order (sort_order, code).
Only active matters are found.

Speed: every process keeps, per database, an index of the active matters: for the names and
for the material names, one long string of their texts, one of their full pinyin
('hu'kou'qian'ru, an apostrophe before each syllable) and one of their initials (hkqr), in
catalogue order; a search is a few `str.find` calls over them (a pinyin query is first split
into syllables: 「hukou」 → 'hu'kou, so it only matches from the start of a syllable), stopping
as soon as `limit` matters are found. A search costs a few milliseconds over 5,000 matters
(bench/guide_search.py).

Freshness: before each search `SELECT count(*), max(updated_at), sum(updated_at) FROM matters`
tells whether the catalogue changed, in this process or another one; only then is the index
rebuilt (readings stay cached, so a rebuild is much cheaper than the first build). On SQLite a
probe of the file's data_version first skips that query while nothing was committed (see
_signature). Adding, changing or deleting a material bumps its matter's `updated_at` (the
before_flush listener at the end), so material edits are seen too. Department names are read
on every search (a few rows), so renaming a department needs no rebuild. Writes that bypass
the ORM must set `updated_at` themselves.

Abbreviations (简称): a text with a long form is also indexed with its short form
(ABBREVIATIONS: 社会保障卡 → 社保卡), so 「sbk」 finds 社会保障卡申领.

Polyphones (多音字): the reading in context comes from pypinyin's phrase dictionary, corrected
by HALL_PHRASES for words of the hall it gets wrong or that must never change (不动产, 重庆,
银行, 会计…). For characters residents often read the other way (行, 重, 长, 会, 单…,
POLYPHONES) the other reading is indexed too, one character at a time, so 「yinxing」 still
finds 银行 (ranked by where it matches, like any other hit). ü is found as v or u (lv, lu).
"""

from __future__ import annotations

import bisect
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, joinedload, selectinload

from hall.domain.errors import NotFound
from hall.models import LIMIT_UNITS, Department, Material, Matter, utcnow

# Longer queries match nothing: no name or material is this long.
MAX_QUERY = 200
# Indexes kept per process (one per database URL; tests use many databases).
MAX_INDEXES = 8
# At most this many extra readings of one text (each a copy with one character read the
# other way).
MAX_VARIANTS = 12

# Words of the hall whose reading must be right whatever pypinyin's dictionary says.
HALL_PHRASES: dict[str, tuple[str, ...]] = {
    word: tuple(reading.split())
    for word, reading in {
        "不动产": "bu dong chan",
        "重庆": "chong qing",
        "银行": "yin hang",
        "会计": "kuai ji",
        "调档": "diao dang",
        "调档函": "diao dang han",
        "调取": "diao qu",
        "调阅": "diao yue",
        "长护险": "chang hu xian",
        "长期护理": "chang qi hu li",
        "单县": "shan xian",
        "行政": "xing zheng",
        "行驶证": "xing shi zheng",
        "行业": "hang ye",
        "还款": "huan kuan",
        "还贷": "huan dai",
        "重残": "zhong can",
        "重度": "zhong du",
        "重新": "chong xin",
        "给付": "ji fu",
        "朝阳": "chao yang",
        "厦门": "xia men",
        "参保": "can bao",
        "社保卡": "she bao ka",
        "医保卡": "yi bao ka",
        "公积金": "gong ji jin",
        "户籍": "hu ji",
        "户口簿": "hu kou bu",
        "落户": "luo hu",
        "出差": "chu chai",
        "单位": "dan wei",
    }.items()
}
_PHRASE_LENGTHS = sorted({len(w) for w in HALL_PHRASES}, reverse=True)

# Characters residents often read the other way: every reading listed is indexed.
POLYPHONES: dict[str, tuple[str, ...]] = {
    "行": ("xing", "hang"),
    "会": ("hui", "kuai"),
    "重": ("zhong", "chong"),
    "长": ("chang", "zhang"),
    "给": ("gei", "ji"),
    "调": ("diao", "tiao"),
    "单": ("dan", "shan"),
    "朝": ("chao", "zhao"),
    "都": ("du", "dou"),
    "省": ("sheng", "xing"),
    "还": ("huan", "hai"),
    "种": ("zhong", "chong"),
    "差": ("cha", "chai"),
    "参": ("can", "shen"),
    "便": ("bian", "pian"),
    "卡": ("ka", "qia"),
    "乐": ("le", "yue"),
    "曾": ("ceng", "zeng"),
    "藏": ("cang", "zang"),
    "降": ("jiang", "xiang"),
    "率": ("lv", "shuai"),
    "解": ("jie", "xie"),
    "校": ("xiao", "jiao"),
    "传": ("chuan", "zhuan"),
    "落": ("luo", "la"),
    "薄": ("bao", "bo"),
    "系": ("xi", "ji"),
    "数": ("shu", "shuo"),
    "模": ("mo", "mu"),
    "强": ("qiang", "jiang"),
    "属": ("shu", "zhu"),
    "血": ("xue", "xie"),
    "识": ("shi", "zhi"),
    "称": ("cheng", "chen"),
    "厦": ("xia", "sha"),
    "大": ("da", "dai"),
    "着": ("zhe", "zhao", "zhuo"),
    "露": ("lu", "lou"),
    "宿": ("su", "xiu"),
    "似": ("si", "shi"),
    "盛": ("sheng", "cheng"),
}

# Short names residents use for what guides write out (简称): a text containing the long
# form is also found by the short one (社会保障卡申领 by 「社保卡」 and 「sbk」).
ABBREVIATIONS: dict[str, str] = {
    "社会保障卡": "社保卡",
    "社会保险": "社保",
    "医疗保险": "医保",
    "医疗保障": "医保",
    "最低生活保障": "低保",
    "个人所得税": "个税",
    "增值税普通发票": "普票",
    "增值税专用发票": "专票",
    "机动车驾驶证": "驾照",
    "居住证明": "居住证",
    "出生医学证明": "出生证",
    "不动产权证书": "房产证",
    "房屋所有权证": "房产证",
    "营业执照": "执照",
    "残疾人证": "残疾证",
}

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKENS = re.compile(f"[{_CJK}]+|[0-9a-z]+")
_IS_CJK = re.compile(f"[{_CJK}]")
_PINYIN_QUERY = re.compile(r"[0-9a-z]*[a-z][0-9a-z]*")
# whitespace, control and format characters are dropped from texts and queries alike
_DROP = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]+")


# ---------------------------------------------------------------- text and pinyin


def normalize(text: str) -> str:
    """The form texts and queries are compared in: NFKC (full-width → ASCII), case-folded,
    without whitespace or control characters."""
    return _DROP.sub("", unicodedata.normalize("NFKC", text or "").casefold())


def _contextual(run: str) -> list[str]:
    """The reading of each character of a run of Chinese characters, in context."""
    readings: list[str] = []
    start = i = 0
    while i < len(run):
        for length in _PHRASE_LENGTHS:
            word = run[i : i + length]
            if len(word) == length and word in HALL_PHRASES:
                if start < i:
                    readings.extend(_pypinyin(run[start:i]))
                readings.extend(HALL_PHRASES[word])
                i += length
                start = i
                break
        else:
            i += 1
    if start < len(run):
        readings.extend(_pypinyin(run[start:]))
    return readings


def _pypinyin(run: str) -> list[str]:
    # one reading per character; characters pypinyin does not know become "#", which no
    # query letter matches. Imported here: its dictionaries take 0.7 s to load, which every
    # process would pay at start (each `hall` command) though only guide indexing needs it.
    from pypinyin import Style, lazy_pinyin

    out = lazy_pinyin(run, style=Style.NORMAL, errors=lambda chars: ["#"] * len(chars))
    return [r if r.isascii() and r.isalpha() else "#" for r in out]


# Every syllable (and Latin or digit run) the indexed texts are read with, and their
# prefixes: a pinyin query is split into these (see _Query.full).
_SYLLABLES: set[str] = set()
_SYLLABLE_PREFIXES: set[str] = set()
_LONGEST_SYLLABLE = [6]
# at most this many ways to split one pinyin query into syllables (xian: xian, xi'an…)
MAX_SPLITS = 16
MAX_PINYIN_QUERY = 60


def _learn_syllables(forms: tuple[str, ...]) -> None:
    for form in forms:
        for syllable in form.split("'"):
            if syllable and syllable not in _SYLLABLES:
                _SYLLABLES.add(syllable)
                _SYLLABLE_PREFIXES.update(syllable[:i] for i in range(1, len(syllable) + 1))
                _LONGEST_SYLLABLE[0] = max(_LONGEST_SYLLABLE[0], len(syllable))


@lru_cache(maxsize=200_000)
def pinyin_forms(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The pinyin of a normalized text: its full forms and its initials forms.

    A full form marks the start of every syllable with an apostrophe ('hu'kou'qian'ru); an
    initials form has one letter a character (hkqr). A run of Latin letters or digits is one
    syllable, and its own initials (an abbreviation is typed whole). The first form of each
    is the reading in context; the others read one polyphone the other way.
    """
    syllables: list[tuple[str, ...]] = []
    latin: list[bool] = []
    for match in _TOKENS.finditer(text):
        token = match.group()
        if not _IS_CJK.match(token):
            syllables.append((token,))
            latin.append(True)
            continue
        for char, reading in zip(token, _contextual(token), strict=True):
            others = [r for r in POLYPHONES.get(char, ()) if r != reading]
            if "v" in reading:  # ü is typed v or u
                others.append(reading.replace("v", "u"))
            syllables.append((reading, *others))
            latin.append(False)
    if not syllables:
        return (), ()

    def initials(readings: list[str]) -> str:
        return "".join(r if whole else r[0] for r, whole in zip(readings, latin, strict=True))

    base = [s[0] for s in syllables]
    full = ["'" + "'".join(base)]
    initial_forms = [initials(base)]
    for i, readings in enumerate(syllables):
        for other in readings[1:]:
            if len(full) > MAX_VARIANTS:
                break
            variant = [*base[:i], other, *base[i + 1 :]]
            full.append("'" + "'".join(variant))
            if other[0] != base[i][0]:
                initial_forms.append(initials(variant))
    full_forms = tuple(dict.fromkeys(full))
    _learn_syllables(full_forms)
    return full_forms, tuple(dict.fromkeys(initial_forms))


@lru_cache(maxsize=200_000)
def abbreviated(text: str) -> tuple[str, ...]:
    """The text with its long forms replaced by their short names (ABBREVIATIONS), if any."""
    short = text
    for long, abbreviation in ABBREVIATIONS.items():
        short = short.replace(long, abbreviation)
    return (short,) if short != text else ()


# ---------------------------------------------------------------- the query


@dataclass
class _Query:
    """A normalized query and the strings that find it in the index."""

    text: str
    letters: str | None  # the query as pinyin (letters and digits), else None
    _full: list[str] | None = None

    @property
    def full(self) -> list[str]:
        """The query split into syllables every way it can be, as in the full pinyin forms:
        「hukou」 → 'hu'kou; 「xian」 → 'xian, 'xi'an… (the last syllable may be cut short)."""
        if self._full is None:
            self._full = _splits(self.letters) if self.letters else []
        return self._full

    def needles(self, field: _Field, *, prefix: bool) -> list[tuple[_Blob, list[str]]]:
        """What to look for in each string of an index field."""
        start = "\n" if prefix else ""
        found = [(field.text, [start + self.text])]
        if self.letters:
            found.append((field.initials, [start + self.letters]))
            found.append((field.full, [start + f for f in self.full]))
        return found

    def matches(self, text: str) -> bool:
        """Whether one short normalized text (a department's name) matches anywhere."""
        if self.text in text:
            return True
        if not self.letters:
            return False
        full, initials = pinyin_forms(text)
        return any(self.letters in i for i in initials) or any(
            f in form for form in full for f in self.full
        )


def _splits(letters: str) -> list[str]:
    found: list[str] = []
    dead: set[int] = set()  # positions from which no split reaches the end
    longest = _LONGEST_SYLLABLE[0]

    def walk(start: int, taken: list[str]) -> bool:
        if len(found) >= MAX_SPLITS:
            return True
        if start in dead:
            return False
        reached = False
        rest = letters[start:]
        if rest in _SYLLABLE_PREFIXES:
            found.append("'" + "'".join([*taken, rest]))
            reached = True
        for end in range(start + 1, min(len(letters), start + longest + 1)):
            if letters[start:end] in _SYLLABLES and walk(end, [*taken, letters[start:end]]):
                reached = True
        if not reached:
            dead.add(start)
        return reached

    walk(0, [])
    return found


def _compile(query: str | None) -> _Query | None:
    text = normalize(query or "")
    if not text or len(text) > MAX_QUERY:
        return None
    letters = text.replace("'", "")
    if len(letters) > MAX_PINYIN_QUERY or not _PINYIN_QUERY.fullmatch(letters):
        letters = None
    return _Query(text=text, letters=letters)


# ---------------------------------------------------------------- the index


class _Blob:
    """Lines of one kind (texts, full pinyin or initials) of every active matter, joined in
    catalogue order, each line starting with a newline; starts/ends give each matter's
    lines, so a position found in the string tells the matter (bisect)."""

    def __init__(self, count: int) -> None:
        self._chunks: list[list[str]] = [[] for _ in range(count)]
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.text = ""

    def add(self, rank: int, chunk: str) -> None:
        self._chunks[rank].append(chunk)

    def freeze(self) -> None:
        parts, offset = [], 0
        for chunks in self._chunks:
            self.starts.append(offset)
            chunk = "".join(chunks)
            parts.append(chunk)
            offset += len(chunk)
            self.ends.append(offset)
        self.text = "".join(parts)
        self._chunks = []

    def scan(self, needles: list[str], skip: set[int], need: int | None) -> set[int]:
        """The first `need` matters (all when None), in catalogue order, with a line
        containing a needle, leaving out those in `skip`."""
        found: set[int] = set()
        text, starts, ends = self.text, self.starts, self.ends
        for needle in needles:
            got, position = 0, 0
            while need is None or got < need:
                position = text.find(needle, position)
                if position < 0:
                    break
                rank = bisect.bisect_right(starts, position) - 1
                position = ends[rank]  # on to the next matter
                if rank not in skip:
                    found.add(rank)
                    got += 1
        return found

    def contains(self, rank: int, needles: list[str]) -> bool:
        """Whether one matter's lines contain a needle."""
        lines = self.text[self.starts[rank] : self.ends[rank]]
        return any(needle in lines for needle in needles)


@lru_cache(maxsize=200_000)
def index_lines(value: str) -> tuple[str, str, str]:
    """A field's value as index lines: its text, its full pinyin and its initials forms, for
    the value and its abbreviated form (each line begins with a newline)."""
    text = normalize(value)
    if not text:
        return "", "", ""
    texts, fulls, initials = [], [], []
    for variant in (text, *abbreviated(text)):
        full, initial = pinyin_forms(variant)
        texts.append(variant)
        fulls.extend(full)
        initials.extend(initial)
    return tuple("".join(f"\n{line}" for line in lines) for lines in (texts, fulls, initials))


class _Field:
    """One field (names, or material names) of every active matter as three blobs: the
    texts, their full pinyin ("'hu'kou'qian'ru") and their initials ("hkqr")."""

    def __init__(self, count: int) -> None:
        self.text, self.full, self.initials = _Blob(count), _Blob(count), _Blob(count)

    def add(self, rank: int, value: str) -> None:
        text, full, initials = index_lines(value)
        if text:
            self.text.add(rank, text)
            self.full.add(rank, full)
            self.initials.add(rank, initials)

    def freeze(self) -> None:
        for blob in (self.text, self.full, self.initials):
            blob.freeze()

    @property
    def size(self) -> int:
        return sum(len(b.text) for b in (self.text, self.full, self.initials))


@dataclass
class _Index:
    """The searchable catalogue of one database, valid while its signature holds."""

    signature: tuple
    ids: list[int]  # matter id by rank (catalogue order: sort_order, code)
    department_ids: list[int]  # department id by rank
    codes: dict[str, int]  # normalized code → rank
    names: _Field
    materials: _Field
    by_department: dict[int, list[int]] = field(default_factory=dict)  # ranks, in order
    build_seconds: float = 0.0

    @property
    def size(self) -> int:
        """Characters held by the index strings (a rough measure of its memory)."""
        return self.names.size + self.materials.size


_indexes: OrderedDict[str, _Index] = OrderedDict()
_indexes_lock = threading.Lock()
_build_lock = threading.Lock()


def _signature(session: Session) -> tuple:
    """What changes whenever the searchable catalogue does.

    One `SELECT count(*), max(updated_at), sum(<updated_at as a number>) FROM matters`.
    SQLite must read every row for it (updated_at has no index), so there a probe of a few
    microseconds comes first: the file's data_version (changes when another connection, of
    any process, commits) and this connection's total_changes(); while both stand still, the
    database is the one the last signature was read from on this connection, and that
    signature is reused.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return _read_signature(session)
    pooled = connection.connection
    probe = (
        id(pooled.dbapi_connection),
        *connection.exec_driver_sql(
            "SELECT (SELECT data_version FROM pragma_data_version), total_changes()"
        ).one(),
    )
    cached = pooled.info.get(_SIGNATURE_CACHE)
    if cached is not None and cached[0] == probe:
        return cached[1]
    signature = _read_signature(session)
    # a transaction that wrote may still roll back: what it reads is no state to remember
    if not session.info.get(_WROTE):
        pooled.info[_SIGNATURE_CACHE] = (probe, signature)
    return signature


def _read_signature(session: Session) -> tuple:
    # count and latest change, and a sum of every change time: an edit stamped earlier than
    # the latest one (another server's clock a little behind) still changes the sum
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        checksum = sa.func.total(sa.func.julianday(Matter.updated_at) - 2460000.0)
    elif dialect == "postgresql":
        checksum = sa.func.sum(sa.func.date_part("epoch", Matter.updated_at) - 1.7e9)
    else:
        checksum = sa.null()
    statement = sa.select(sa.func.count(Matter.id), sa.func.max(Matter.updated_at), checksum)
    return tuple(session.execute(statement).one())


_SIGNATURE_CACHE = "hall_guide_signature"
_WROTE = "hall_guide_wrote"  # session.info: this transaction flushed or ran a non-SELECT


def _key(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def current_index(session: Session) -> _Index:
    """This process's index of the session's database, rebuilt when the catalogue changed."""
    key = _key(session)
    signature = _signature(session)
    with _indexes_lock:
        index = _indexes.get(key)
        if index is not None and index.signature == signature:
            _indexes.move_to_end(key)
            return index
    with _build_lock:
        with _indexes_lock:
            index = _indexes.get(key)
        if index is None or index.signature != signature:
            index = build_index(session, signature)
        with _indexes_lock:
            _indexes[key] = index
            _indexes.move_to_end(key)
            while len(_indexes) > MAX_INDEXES:
                _indexes.popitem(last=False)
    return index


def build_index(session: Session, signature: tuple = ()) -> _Index:
    """Read the active matters and their materials and index their texts and pinyin."""
    started = time.perf_counter()
    rows = session.execute(
        sa.select(Matter.id, Matter.code, Matter.name, Matter.department_id)
        .where(Matter.active.is_(True))
        .order_by(Matter.sort_order, Matter.code)
    ).all()
    index = _Index(
        signature=signature,
        ids=[r.id for r in rows],
        department_ids=[r.department_id for r in rows],
        codes={},
        names=_Field(len(rows)),
        materials=_Field(len(rows)),
    )
    rank_of: dict[int, int] = {}
    for rank, row in enumerate(rows):
        rank_of[row.id] = rank
        index.codes.setdefault(normalize(row.code), rank)
        index.names.add(rank, row.name)
        index.by_department.setdefault(row.department_id, []).append(rank)
    materials = session.execute(
        sa.select(Material.matter_id, Material.name)
        .join(Matter, Matter.id == Material.matter_id)
        .where(Matter.active.is_(True))
        .order_by(Material.matter_id, Material.position, Material.id)
    )
    for matter_id, name in materials:
        index.materials.add(rank_of[matter_id], name)
    index.names.freeze()
    index.materials.freeze()
    index.build_seconds = time.perf_counter() - started
    return index


# ---------------------------------------------------------------- search


def search(
    session: Session,
    query: str,
    *,
    limit: int | None = 50,
    department: str | None = None,
) -> list[Matter]:
    """Active matters matching `query`, best first (names before departments and materials).

    The query may be Chinese (「户口」), full pinyin (「hukou」, 「hu kou」), pinyin initials
    (「hk」) or a matter's code; case and full-width letters do not matter. An empty query
    gives every active matter in catalogue order. `department` (a code) keeps only that
    department's matters; an unknown one gives nothing. `limit` None means no limit.
    """
    if limit is not None and limit <= 0:
        return []
    department_id = None
    if department is not None:
        department_id = session.scalar(
            sa.select(Department.id).where(Department.code == department)
        )
        if department_id is None:
            return []
    if not normalize(query or ""):
        statement = _published().order_by(Matter.sort_order, Matter.code)
        if department_id is not None:
            statement = statement.where(Matter.department_id == department_id)
        if limit is not None:
            statement = statement.limit(limit)
        return list(session.scalars(statement))
    compiled = _compile(query)
    if compiled is None:
        return []
    index = current_index(session)
    ranks = _ranked(session, index, compiled, limit, department_id)
    ids = [index.ids[rank] for rank in ranks]
    if not ids:
        return []
    found = {m.id: m for m in session.scalars(_published().where(Matter.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def _ranked(
    session: Session, index: _Index, query: _Query, limit: int | None, department_id: int | None
) -> list[int]:
    """The ranks of the matching matters, best first: name prefix, name, department,
    materials; catalogue order within each tier."""
    # department names are read each time (a few rows): renaming one needs no rebuild; their
    # readings are known before the query is split into syllables
    department_names = [
        (department, normalize(name))
        for department, name in session.execute(sa.select(Department.id, Department.name))
    ]
    for _, name in department_names:
        pinyin_forms(name)
    result: list[int] = []
    seen: set[int] = set()

    def field_tier(field: _Field, prefix: bool):
        needles = query.needles(field, prefix=prefix)
        if department_id is not None:  # a department's matters: look at each of them
            return {
                rank
                for rank in index.by_department.get(department_id, [])
                if rank not in seen
                and any(blob.contains(rank, found) for blob, found in needles if found)
            }
        need = None if limit is None else limit - len(result)
        ranks: set[int] = set()
        for blob, found in needles:
            ranks |= blob.scan(found, seen, need)
        return ranks

    def code_tier():
        rank = index.codes.get(query.text)
        if rank is None or rank in seen:
            return set()
        if department_id is not None and index.department_ids[rank] != department_id:
            return set()
        return {rank}

    def department_tier():
        matched = {d for d, name in department_names if query.matches(name)}
        if department_id is not None:
            matched &= {department_id}
        return {r for d in matched for r in index.by_department.get(d, []) if r not in seen}

    tiers = (
        code_tier,
        lambda: field_tier(index.names, prefix=True),
        lambda: field_tier(index.names, prefix=False),
        department_tier,
        lambda: field_tier(index.materials, prefix=False),
    )
    for tier in tiers:
        ranks = sorted(tier())
        seen.update(ranks)
        result.extend(ranks)
        if limit is not None and len(result) >= limit:
            return result[:limit]
    return result


def _published():
    """Active matters with their department loaded (materials load when touched; lists use
    material_counts)."""
    return sa.select(Matter).where(Matter.active.is_(True)).options(joinedload(Matter.department))


def material_counts(session: Session, matters: list[Matter]) -> dict[int, tuple[int, int]]:
    """For each matter id: how many materials, and how many of them are required."""
    ids = [m.id for m in matters]
    if not ids:
        return {}
    statement = sa.select(
        Material.matter_id,
        sa.func.count(Material.id),
        sa.func.count(Material.id).filter(Material.required.is_(True)),
    ).group_by(Material.matter_id)
    if len(ids) <= 500:  # a long list (a whole catalogue) is cheaper counted whole
        statement = statement.where(Material.matter_id.in_(ids))
    counts = {matter_id: (0, 0) for matter_id in ids}
    for matter_id, total, required in session.execute(statement):
        if matter_id in counts:
            counts[matter_id] = (total, required)
    return counts


# ---------------------------------------------------------------- guide pages and API


class Retired(NotFound):
    """The matter exists but is no longer handled (停止办理); its guide is not published."""


def get_matter(session: Session, code: str) -> Matter:
    """The published matter with this code; NotFound when unknown, Retired when inactive."""
    matter = None
    if code and len(code) <= 64:
        matter = session.scalar(
            sa.select(Matter)
            .where(Matter.code == code)
            .options(joinedload(Matter.department), selectinload(Matter.materials))
        )
    if matter is None:
        raise NotFound("matter_not_found", f"没有编码为 {code} 的事项", f"No matter {code}")
    if not matter.active:
        raise Retired(
            "matter_retired",
            f"事项「{matter.name}」已停止办理",
            f"The matter {code} is no longer handled",
            name=matter.name,
            matter=matter.code,
        )
    return matter


def find_department(session: Session, code: str) -> Department | None:
    """The department with this code, or None."""
    if not code or len(code) > 32:
        return None
    return session.scalar(sa.select(Department).where(Department.code == code))


def get_department(session: Session, code: str) -> Department:
    """The department with this code, else NotFound."""
    department = find_department(session, code)
    if department is None:
        raise NotFound("department_not_found", f"没有编码为 {code} 的部门", f"No department {code}")
    return department


def departments_with_matters(session: Session) -> list[tuple[Department, list[Matter]]]:
    """Every department that has active matters, with them, both in catalogue order."""
    matters = session.scalars(_published().order_by(Matter.sort_order, Matter.code)).all()
    per_department: dict[int, list[Matter]] = {}
    for matter in matters:
        per_department.setdefault(matter.department_id, []).append(matter)
    departments = session.scalars(
        sa.select(Department).order_by(Department.sort_order, Department.code)
    ).all()
    return [(d, per_department[d.id]) for d in departments if d.id in per_department]


def summary(matter: Matter, counts: tuple[int, int] | None = None) -> dict:
    """A matter in a list: what a resident needs to choose it (plain values); `counts` are
    its (materials, required materials) from material_counts, else they are loaded."""
    if counts is None:
        counts = (len(matter.materials), sum(1 for m in matter.materials if m.required))
    return {
        "code": matter.code,
        "name": matter.name,
        "department": {"code": matter.department.code, "name": matter.department.name},
        "kind": matter.kind,
        "kind_label": matter.kind_label,
        "promised_limit": _limit(matter.promised_days, matter.promised_unit),
        "materials": counts[0],
        "required_materials": counts[1],
        "visits": matter.visits,
        "online": matter.online,
        "appointment": matter.appointment,
    }


def full_guide(matter: Matter) -> dict:
    """The whole service guide (办事指南) of a matter as plain values."""
    department = matter.department
    return {
        **summary(matter),
        "department": {
            "code": department.code,
            "name": department.name,
            "functions": department.functions,
        },
        "legal_basis": matter.legal_basis,
        "conditions": matter.conditions,
        "materials": [
            {
                "name": m.name,
                "required": m.required,
                "form": m.form,
                "form_label": m.form_label,
                "copies": m.copies,
                "notes": m.notes,
                "blank_form": m.blank_form,
                "sample": m.sample,
            }
            for m in matter.materials
        ],
        "process": matter.process_steps,
        "statutory_limit": _limit(matter.statutory_days, matter.statutory_unit),
        "promised_limit": _limit(matter.promised_days, matter.promised_unit),
        "fee": matter.fee,
        "free": not (matter.fee or "").strip(),
        "fee_label": (matter.fee or "").strip() or "不收费",
        "fee_basis": matter.fee_basis,
        "place": matter.place,
        "hours": matter.hours,
        "phone": matter.phone,
        "complaint": matter.complaint,
        "result_document": matter.result_document,
        "visits": matter.visits,
        "online": matter.online,
        "appointment": matter.appointment,
        "faq": faq(matter),
        "updated_at": matter.updated_at.isoformat() if matter.updated_at else None,
    }


def faq(matter: Matter) -> list[dict]:
    """The FAQ (常见问题) as [{"q", "a"}], skipping malformed entries."""
    items = matter.faq if isinstance(matter.faq, list) else []
    result = []
    for item in items:
        if isinstance(item, dict):
            question = str(item.get("q") or item.get("question") or "").strip()
            answer = str(item.get("a") or item.get("answer") or "").strip()
            if question or answer:
                result.append({"q": question, "a": answer})
    return result


def _limit(days: int, unit: str) -> dict:
    return {
        "days": days,
        "unit": unit,
        "unit_label": LIMIT_UNITS.get(unit, unit),
        "label": f"{days} 个{LIMIT_UNITS.get(unit, unit)}" if days else "即办",
    }


# ---------------------------------------------------------------- keeping the index fresh


def _touch_matters_of_changed_materials(session: Session, _context, _instances) -> None:
    """Bump `updated_at` of every matter whose materials are added, changed or deleted, so
    the search index of every process sees the change (see current_index)."""
    session.info[_WROTE] = True
    touched: dict[int, Matter] = {}
    # session.dirty and .deleted build a new set on each access: read each once (an import
    # of thousands of rows would otherwise be quadratic)
    dirty, deleted = session.dirty, session.deleted
    for obj in chain(session.new, dirty, deleted):
        if isinstance(obj, Material):
            if obj in dirty and not session.is_modified(obj):
                continue
            for matter in _parents(session, obj):
                touched[id(matter)] = matter
        elif (
            isinstance(obj, Matter)
            and obj in dirty
            and sa.inspect(obj).attrs.materials.history.has_changes()
        ):
            touched[id(obj)] = obj
    if not touched:
        return
    now = utcnow()
    for matter in touched.values():
        if matter not in deleted:
            matter.updated_at = now


def _parents(session: Session, material: Material) -> list[Matter]:
    """The matters a material belongs or belonged to (two when it moved)."""
    state = sa.inspect(material)
    parents: list[Matter] = []
    ids: set[int] = set()
    relation = state.attrs.matter.history
    for matter in chain(relation.added, relation.unchanged, relation.deleted):
        if matter is not None:
            parents.append(matter)
            if matter.id is not None:
                ids.add(matter.id)
    column = state.attrs.matter_id.history
    for matter_id in chain(column.added, column.unchanged, column.deleted):
        if matter_id is not None and matter_id not in ids:
            matter = session.get(Matter, matter_id)
            if matter is not None:
                parents.append(matter)
                ids.add(matter_id)
    return parents


def _note_statement(state) -> None:
    """Remember that this transaction ran a statement that may write (see _signature)."""
    if not state.is_select:
        state.session.info[_WROTE] = True


def _forget_writes(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or not
        session.info.pop(_WROTE, None)


def register_listeners() -> None:
    """Watch every session's flushes and statements (idempotent; done at import)."""
    for name, listener in (
        ("before_flush", _touch_matters_of_changed_materials),
        ("do_orm_execute", _note_statement),
        ("after_transaction_end", _forget_writes),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


register_listeners()
