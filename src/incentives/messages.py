"""The sentences the library prints, in Chinese: gettext message catalogues read with babel.

Every sentence the engine, the reports and the commands build has one English form, written in the
code as a python-format template marked with ``N_`` (``N_("once per enterprise: already awarded for
record %(record)s")``). That English text is what outcomes and JSON carry, so machines read one stable
form. The template is also the msgid of ``locale/<lang>/LC_MESSAGES/incentives.po``, whose msgstr is the
Chinese form. ``translate`` turns a built English sentence into Chinese: it finds the template the
sentence was built from (each placeholder matches by its name: ``%(rule)s`` a rule id, ``%(date)s`` an
ISO date, ``%(amount)s`` an amount in yuan...), translates the pieces (facts and terms by their Chinese
names from the facts schema and the vocabulary, amounts and dates as ``report`` shows them, nested
sentences again) and fills the msgstr. A sentence no template matches is returned unchanged.

The catalogue is the ``.po`` file itself, compiled in memory when first read (no generated ``.mo``
lives in the repository). ``tests/test_messages.py`` keeps every ``N_`` template of the package in the
catalogue with a Chinese form; docs/translating.md says how to add one.

>>> translate("once per enterprise: already awarded for record r1", "zh")
'每家企业限一次：已就记录 r1 获奖'
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal, Mapping

if TYPE_CHECKING:
    from gettext import NullTranslations

    from incentives.rulebook import Rulebook

Lang = Literal["zh", "en"]
DOMAIN = "incentives"
LANGS: tuple[str, ...] = ("zh",)      # the languages with a catalogue (English is the msgids)


def N_(template: str) -> str:
    """Mark ``template`` as a sentence with a Chinese form in the catalogue; returns it unchanged."""
    return template


def catalogue_path(lang: str) -> Any:
    """The ``.po`` file of ``lang`` inside the installed package."""
    return resources.files("incentives").joinpath("locale", lang, "LC_MESSAGES", f"{DOMAIN}.po")


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The catalogue of ``lang`` as ``babel.support.Translations`` (English: the msgids themselves)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    if lang not in LANGS:
        return NullTranslations()
    with catalogue_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)    # fuzzy entries are left out: a doubtful translation is not shown
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def gettext(msgid: str, lang: Lang) -> str:
    """The ``lang`` form of the sentence ``msgid`` (``msgid`` itself where the catalogue has none)."""
    return msgid if lang == "en" else translations(lang).gettext(msgid)


# ------------------------------------------------------------------------------------ the pieces
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_FACT = r"(?:enterprise|record|rewarded|profile)\.[a-z0-9_]+(?:\.[a-z0-9_]+)*"
# What each placeholder matches, by its name; any other name matches any text.
_SHAPES = {
    "fact": _FACT, "facts": rf"{_FACT}(?:, {_FACT})*",
    "rule": r"[\w.\-]+", "record": r"[^\s,;]+", "group": r"[\w.\-]+", "year": r"\d{4}", "n": r"\d+",
    "date": r"\d{4}-\d{2}-\d{2}", "as_of": r"\d{4}-\d{2}-\d{2}",
    "amount": r"-?\d+(?:\.\d+)?", "cap": r"-?\d+(?:\.\d+)?", "remaining": r"-?\d+(?:\.\d+)?",
    "city": r"[^']*", "rate": r"[\d.]+%", "reduced": r"reduced to .+",
    "value": r"\[[^\]]*\]|\S+", "values": r"\[[^\]]*\]|\S+",   # a value: one word, number or date, or a list
    # the sides of "and"/"or": brackets balanced (to one level), so "(a or b) and c" splits at the "and"
    "left": r"(?:\([^()]*\)|[^()])+?", "right": r"(?:\([^()]*\)|[^()])+", "kind": r"[a-z_]+",
    "input": r"[^\s=;]+", "source": r"[^;]+",
    "inputs": r"[^\s=;]+ = [^;]+(?:; [^\s=;]+ = [^;]+)*",                 # name = value (source); ...
    "parts": r"[\d.]+% × \([^()]*\)(?: \+ [\d.]+% × \([^()]*\))*",        # 5% × (5000000 - 0) + ...
}
_MONEY_ARGS = ("amount", "cap", "remaining")
_VALUE_ARGS = ("value", "values", "actual")
_KEEP_ARGS = ("rule", "rules", "record", "group", "year", "n", "rate", "document", "documents", "files")


@dataclass(frozen=True)
class _Template:
    msgid: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]


@functools.cache
def _templates(lang: str) -> tuple[_Template, ...]:
    """The catalogue's templates with placeholders, the most specific (longest literal text) first."""
    from babel.messages.pofile import read_po

    with catalogue_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    found = []
    for message in catalog:
        msgid = message.id
        if not isinstance(msgid, str) or not msgid or not _PLACEHOLDER.search(msgid) or not message.string:
            continue
        parts = _PLACEHOLDER.split(msgid)
        regex, names = "", []
        for n, part in enumerate(parts):
            if n % 2 == 0:
                regex += re.escape(part)
            elif part in names:
                regex += f"(?P={part})"
            else:
                names.append(part)
                regex += f"(?P<{part}>{_SHAPES.get(part, '.+?')})"
        found.append(_Template(msgid, re.compile(f"^{regex}$", re.S), tuple(names)))
    literal = {t.msgid: len(_PLACEHOLDER.sub("", t.msgid)) for t in found}
    return tuple(sorted(found, key=lambda t: (-literal[t.msgid], t.msgid)))


@dataclass
class Names:
    """Chinese names of what sentences mention: facts (from the facts schema), terms (from the
    vocabulary) and cities (from the rule files' issuers). ``kind`` is the record kind the sentence is
    about, where known (``record.level`` of a recognition is 认定级别)."""

    schema: Any = None
    vocabulary: Any = None
    cities: Mapping[str, str] = field(default_factory=dict)
    rule_kinds: Mapping[str, str] = field(default_factory=dict)    # rule id → the record kind it rewards
    kind: str | None = None

    @classmethod
    def of(cls, rulebook: Rulebook | None) -> Names:
        """The names a rulebook gives; without one, those of the shipped vocabulary and facts schema."""
        if rulebook is not None:
            cities: dict[str, str] = {}
            for name, city in rulebook.city_names().items():
                if name != city and (city not in cities or len(name) > len(cities[city])):
                    cities[city] = name       # the longest: 廊坊市 rather than 廊坊
            kinds = {rule.id: str(rule.rule.rewards.get("kind", "")) for rule in rulebook.rules}
            return cls(rulebook.facts, rulebook.vocabulary, cities, kinds)
        return _shipped_names()

    def about(self, kind: str | None) -> Names:
        """The same names, for sentences about records of ``kind``."""
        return Names(self.schema, self.vocabulary, self.cities, self.rule_kinds, kind)

    def kind_of(self, rule_id: str) -> str | None:
        return self.rule_kinds.get(rule_id) or None

    def city(self, city: str) -> str:
        return self.cities.get(city, city)

    def _field(self, fact: str) -> tuple[str | None, str] | None:
        """(record kind or "enterprise", field) of a fact name, or None where it names none."""
        head, _, name = fact.partition(".")
        if head == "enterprise" or head == "profile":
            return "enterprise", name
        if head in ("record", "rewarded"):
            return self.kind, name
        return None

    def fact(self, fact: str) -> str:
        """``record.level`` → 认定级别, ``enterprise.clusters`` → 所属特色产业集群; unknown facts unchanged."""
        where = self._field(fact)
        if where is None or self.schema is None:
            return fact
        kind, name = where
        if kind == "enterprise":
            decl = self.schema.profile_fields.get(name) or self.schema.figures.get(name)
            return str(decl.zh) if decl is not None and decl.zh else fact
        kinds = self.schema.kinds
        kind_zh = kinds[kind].zh if kind in kinds and kinds[kind].zh else ""
        base = {"date": "日期", "kind": "记录类型", "id": "记录编号", "note": "备注"}
        if name in base:
            return (kind_zh + base[name]) if name == "date" else base[name]
        decls = [kinds[kind].fields.get(name)] if kind in kinds else [k.fields.get(name) for k in kinds.values()]
        labels = {d.zh for d in decls if d is not None and d.zh}
        if len(labels) != 1:
            return fact
        label: str = labels.pop()
        return label if label.startswith(kind_zh) else kind_zh + label

    def value(self, fact: str | None, text: str, lang: Lang) -> str:
        """A value as a condition or a check shows it (``national``, ``[a, b]``, ``true``, a date), in Chinese."""
        text = text.strip()
        if text.startswith("[") and text.endswith("]"):
            inner = [v for v in _split_list(text[1:-1]) if v]
            return "、".join(self.value(fact, v, lang) for v in inner) or "（无）"
        if text in ("true", "false"):
            return "是" if text == "true" else "否"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return _date(text)
        if fact is None or self.schema is None:
            return text
        where = self._field(fact)
        if where is None:
            return text
        kind, name = where
        if kind != "enterprise" and name == "kind":
            kinds = self.schema.kinds
            return kinds[text].zh if text in kinds and kinds[text].zh else text
        decl = None
        if kind == "enterprise":
            decl = self.schema.profile_fields.get(name) or self.schema.figures.get(name)
        elif kind in self.schema.kinds:
            decl = self.schema.kinds[kind].fields.get(name)
        if decl is not None and decl.type == "money" and _is_number(text):
            return money_zh(Decimal(text))
        if self.vocabulary is not None:
            for vocab_field in ([f"{kind}.{name}"] if kind else []) + [f for f in self.vocabulary.terms
                                                                        if f.endswith("." + name)]:
                term = self.vocabulary.terms.get(vocab_field, {}).get(text)
                if term:
                    return str(term)
        return text


@functools.cache
def _shipped_names() -> Names:
    from incentives.rulebook import load_rulebook
    from incentives.shipped import shipped_rules

    return Names.of(load_rulebook(shipped_rules()))


def _split_list(text: str) -> list[str]:
    """``a, [b, c], d`` → ``a``, ``[b, c]``, ``d``: commas inside brackets do not split."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += c == "["
        depth -= c == "]"
        if c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _date(text: str) -> str:
    from babel.dates import format_date

    return format_date(dt.date.fromisoformat(text), format="long", locale="zh_CN")


def money_zh(amount: Decimal) -> str:
    """An amount in yuan as one value shows it in Chinese (``report.money``)."""
    from incentives.report import money

    return money(amount, "zh")


# The errors a user of the commands meets whose sentence the catalogue has: ``--lang zh`` translates these
# alone (``translate_error``). An error's other words are free (a path, a library's message).
UNKNOWN_CITY = N_("unknown city %(name)s; known cities: %(known)s")
ERRORS = (UNKNOWN_CITY,)


# ------------------------------------------------------------------------------------ translating
def translate_error(message: str, lang: Lang) -> str:
    """An error's message in ``lang`` where it is one of the ``ERRORS`` sentences, else as written, whole: the
    sentences that join conditions (``%(left)s or %(right)s``) or label an amount (``%(label)s: %(basis)s``)
    would match an error's free words in pieces and leave them half translated."""
    if lang != "en" and any(t.msgid in ERRORS and t.pattern.match(message) for t in _templates(lang)):
        return translate(message, lang)
    return message


def translate(text: str, lang: Lang, names: Names | None = None) -> str:
    """``text`` (a sentence built from a catalogue template) in ``lang``; unchanged where no template
    matches or ``lang`` is English."""
    if lang == "en" or not text:
        return text
    return _translate(text, lang, names if names is not None else Names.of(None), None)


def _translate(text: str, lang: Lang, names: Names, fact: str | None) -> str:
    catalogue = translations(lang)
    plain = catalogue.gettext(text)
    if plain != text:
        return plain
    if text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        return "（" + _translate(text[1:-1], lang, names, fact) + "）"
    for template in _templates(lang):
        match = template.pattern.match(text)
        if match is None:
            continue
        args = match.groupdict()
        context = args.get("fact") or _leading_fact(args.get("input", "")) or _leading_fact(args.get("condition", "")) \
            or fact
        counted = args.get("counted", "").split()
        shown = {name: _piece(name, value, lang, names.about(counted[-1]) if counted and name == "where" else names,
                              context) for name, value in args.items()}
        return catalogue.gettext(template.msgid) % shown
    return _in_expression(text, names)


_FACT_IN_TEXT = re.compile(rf"(?<![\w.]){_FACT}(?![\w.(])")
_FIGURE_IN_TEXT = re.compile(r"(?<![\w.])([a-z_]+)(?=\[)|(?<=\[)year\b")


def _in_expression(text: str, names: Names) -> str:
    """Facts and yearly figures inside a formula by their names (``record.investment`` → 项目实际投资额,
    ``revenue[year - 1]`` → 营业收入[年度 - 1]); the formula's symbols stay."""
    text = _FACT_IN_TEXT.sub(lambda m: names.fact(m.group(0)), text)
    if names.schema is None:
        return text

    def figure(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return "年度"
        decl = names.schema.figures.get(m.group(1))
        return str(decl.zh) if decl is not None and decl.zh else m.group(1)
    return _FIGURE_IN_TEXT.sub(figure, text)


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return False
    return depth == 0


def _leading_fact(condition: str) -> str | None:
    match = re.match(_FACT, condition)
    return match.group(0) if match else None


def _piece(name: str, value: str, lang: Lang, names: Names, fact: str | None) -> str:
    if name in _KEEP_ARGS:
        return value
    if name == "fact":
        return names.fact(value)
    if name == "facts":
        return "、".join(names.fact(f) for f in value.split(", "))
    if name.startswith("city"):   # a city, or a city and its county: langfang 香河县 → 廊坊市香河县
        city, _, county = value.partition(" ")
        return names.city(city) + county
    if name in _MONEY_ARGS and _is_number(value):
        return money_zh(Decimal(value))
    if name in ("date", "as_of"):
        return _date(value)
    if name in _VALUE_ARGS:
        translated = _translate(value, lang, names, fact)
        return translated if translated != value else names.value(fact, value, lang)
    if name == "kind" and names.schema is not None and value in names.schema.kinds:
        return str(names.schema.kinds[value].zh or value)
    if name in ("conditions", "kinds", "inputs"):
        parts = _split_list(value) if name == "conditions" else value.split("/" if name == "kinds" else "; ")
        joint = {"conditions": "，", "kinds": "、", "inputs": "；"}[name]
        return joint.join(_translate(p, lang, names, fact) for p in parts)
    return _translate(value, lang, names, fact)


_ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[ ,;:'’()-]+[A-Za-z]{2,}){2,}")


def written_in_english(text: str) -> bool:
    """Whether ``text`` holds an English sentence (three English words in a row), e.g. a rule file's note."""
    return _ENGLISH.search(text) is not None


def fact_label(fact: str, lang: Lang, names: Names) -> str:
    """A fact (``record.level``) or what a check counts (``none project``) by its name in ``lang``."""
    if lang == "en":
        return fact
    label = names.fact(fact)
    return label if label != fact else _translate(fact, lang, names, None)


def requirement(fact: str, op: str, required: str, lang: Lang, names: Names) -> str:
    """The requirement of a check without its fact (``on_or_after 2025-09-12`` → 不早于2025年9月12日); a
    count's requirement is the whole sentence (符合…的项目记录数不超过0条)."""
    english = f"{op} {required}"
    if lang == "en":
        return english
    numbers, where, tree = required.partition(" where ")
    if where and len(op.split(" and ")) == len(numbers.split(" and ")):
        bounds = " and ".join(f"{o} {n}" for o, n in zip(op.split(" and "), numbers.split(" and ")))
        counted = f"{fact} where {tree}: {bounds}"
        translated = _translate(counted, lang, names.about(fact.split()[-1]), None)
        return translated if translated != counted else english
    sentence = f"{fact} {english}"
    translated = _translate(sentence, lang, names, fact)
    label = names.fact(fact)
    if translated != sentence and translated.startswith(label):
        return translated[len(label):].lstrip()
    return english
