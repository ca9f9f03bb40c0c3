"""Readings: where a policy text allows more than one reading, each named, with its options.

A rule file encodes one reading of each sentence (its rules as written) and may name the places where
another reading is defensible, so that an analyst, a program or a command can choose it::

    readings:
      sjz.little_giant.key_little_giant:
        cite: {document: sjz-2021-69, clause: 三、（一）1}
        question: {zh: 重点“小巨人”是否按“小巨人”奖励?, en: Is a key little giant rewarded as a little giant?}
        default: not_rewarded
        options:
          not_rewarded:
            note: 重点“小巨人” is not named; only a little_giant record is paid.
          rewarded:
            note: 重点“小巨人” are little giants; a key_little_giant record is paid the 100 万元, once.
            changes:
              - rule: sjz.little_giant
                set: {rewards.title: [little_giant, key_little_giant]}

The default option makes no changes: the rules as written are the default reading. Another option's
``changes`` are those of a reform (``incentives.reform``), applied to the file before it is validated
and compiled, so a reading can never produce rules the format forbids and its problems are located
at its own lines: ``{rule, set}`` (dotted paths, as in a reform), ``{rule, add_when}`` (conditions
added to the rule's ``when``), ``{remove: rule}``, ``{add: {rule: {...}}}`` and ``{document, set}``
(e.g. ``effective.to``).

A choice is ``{reading id: option}``: ``load_rulebook(path, readings=...)``,
``Rulebook.with_readings``, ``assess(..., readings=...)`` or ``--reading id=option``. An unknown
reading or option is a located ``RulebookError``. The choices that differ from the defaults are part
of the rulebook hash, and every assessment lists the readings in force for its city.
"""

from __future__ import annotations

import argparse
import copy
import difflib
from typing import Annotated, Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from incentives import _yaml
from incentives.errors import IncentivesError, Location, RulebookError

Key = tuple[str | int, ...]


class Change(BaseModel):
    """One change to rule files, as a reform or a reading writes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str | None = None
    set: dict[str, Any] | None = None
    drop_when: list[str] | None = None      # facts whose conditions leave the rule's when
    add_when: list[Any] | None = None
    remove: str | None = None
    add: dict[str, Any] | None = None
    document: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Change:
        forms = [bool(self.rule and (self.set or self.add_when or self.drop_when)), bool(self.remove),
                 bool(self.add), bool(self.document and self.set)]
        if sum(forms) != 1 or (self.rule is not None and self.document is not None) \
                or (self.set is not None and self.rule is None and self.document is None) \
                or ((self.add_when is not None or self.drop_when is not None) and self.rule is None):
            raise ValueError("each change is one of: {rule, set / drop_when / add_when}, {remove}, "
                             "{add: {city, rule}}, {document, set}")
        return self


class Words(BaseModel):
    """The same words in Chinese and in English."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def in_lang(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Question(Words):
    pass


class ReadingCite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    document: str
    clause: str | None = None       # None: the document as a whole (e.g. its validity)


def _note_form(value: Any) -> str:
    return "words" if isinstance(value, (dict, Words)) else "text"


# a mapping is read as {zh, en} alone, so that its problems are not buried under "should be a valid string"
Note = Annotated[Annotated[str, Field(min_length=1), Tag("text")] | Annotated[Words, Tag("words")],
                 Discriminator(_note_form)]


def note_in(note: Note, lang: str) -> str:
    """``note`` in ``lang`` (``zh`` or ``en``): its half of a pair; a note of one text is that text in both."""
    return note if isinstance(note, str) else note.in_lang(lang)


class Option(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Note   # {zh, en}, or one text for both
    changes: list[Change] = Field(default_factory=list)

    def note_in(self, lang: str) -> str:
        """The note in ``lang`` (``zh`` or ``en``); a note of one text is that text in both."""
        return note_in(self.note, lang)


class Reading(BaseModel):
    """An ambiguity of a clause and the ways it can be read; ``default`` is the reading encoded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cite: ReadingCite
    question: Question
    default: str
    options: dict[str, Option] = Field(min_length=2)

    @model_validator(mode="after")
    def _default(self) -> Reading:
        if self.default not in self.options:
            raise ValueError(f"default {self.default!r} is not an option; options: {', '.join(self.options)}")
        if self.options[self.default].changes:
            raise ValueError(f"the default option {self.default!r} makes changes: the rules as written are "
                             "the default reading, so write them that way and give the changes to the other option")
        return self


ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"


def parse_choices(items: Iterable[str], where: str = "--reading") -> dict[str, str]:
    """``["id=option", ...]`` as a choice; a malformed item is a ``RulebookError`` naming ``where``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, option = item.partition("=")
        if not sep or not name.strip() or not option.strip():
            raise RulebookError(f"write a reading as id=option, not {item!r}", location=Location(where),
                                code="reading")
        out[name.strip()] = option.strip()
    return out


def add_reading_argument(parser: argparse.ArgumentParser) -> None:
    """``--reading id=option`` (repeatable) on a command: an option of a rule file's readings instead of
    its default (read with ``parse_choices``)."""
    parser.add_argument("--reading", action="append", default=[], metavar="ID=OPTION",
                        help="read an ambiguity of the rules another way, e.g. "
                        "sjz.little_giant.key_little_giant=rewarded (repeatable; the options are in each rule "
                        "file's readings:)")


def check_choices(choices: Mapping[str, str], declared: Mapping[str, tuple[Reading, Location]]) -> None:
    """Raise a located ``RulebookError`` for a choice naming no declared reading or none of its options."""
    for name, option in choices.items():
        if not isinstance(name, str) or not isinstance(option, str):
            raise RulebookError(f"a reading choice is {{id: option}} of text, not {name!r}: {option!r}",
                                field="readings", code="reading")
        found = declared.get(name)
        if found is None:
            close = difflib.get_close_matches(name, list(declared), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f"; readings: {', '.join(sorted(declared)) or 'none'}"
            raise RulebookError(f"no reading {name!r}{hint}", field="readings", code="unknown-reading")
        reading, location = found
        if option not in reading.options:
            raise RulebookError(f"reading {name!r} has no option {option!r}; options: {', '.join(reading.options)}",
                                location=location, field=f"readings.{name}", code="unknown-reading")


def declared(doc: _yaml.Document) -> tuple[dict[str, Reading], list[IncentivesError]]:
    """The ``readings:`` of a parsed rule file, and the problems of those that do not fit the format
    (reported once more, with the rest of the file, when it is validated)."""
    raw = doc.data.get("readings") if isinstance(doc.data, dict) else None
    out: dict[str, Reading] = {}
    problems: list[IncentivesError] = []
    if not isinstance(raw, dict):
        return out, problems
    for name, spec in raw.items():
        try:
            out[str(name)] = Reading.model_validate(spec)
        except ValidationError as e:
            err = e.errors()[0]
            key = ("readings", str(name), *err["loc"])
            problems.append(RulebookError(err["msg"].removeprefix("Value error, "), location=doc.locate(key),
                                          field=".".join(map(str, key)), code="reading"))
    return out, problems


def apply(doc: _yaml.Document, choices: Mapping[str, str]) -> tuple[_yaml.Document, dict[str, str],
                                                                     list[IncentivesError]]:
    """The rule file ``doc`` read with ``choices`` (its own readings among them; the others' defaults),
    the option in force for each of its readings, and the problems of the changes applied.

    The document returned is a copy: its data carries the chosen options' changes, and the lines of
    what a change wrote are those of the change in the ``readings:`` section.
    """
    readings, _ = declared(doc)
    in_force = {name: choices.get(name, r.default) for name, r in readings.items()}
    chosen = [(name, option) for name, option in in_force.items()
              if option in readings[name].options and readings[name].options[option].changes]
    if not chosen:
        return doc, in_force, []
    out = _yaml.Document(data=copy.deepcopy(doc.data), path=doc.path, positions=dict(doc.positions),
                         texts=dict(doc.texts))
    problems: list[IncentivesError] = []
    for name, option in chosen:
        for n, change in enumerate(readings[name].options[option].changes):
            at: Key = ("readings", name, "options", option, "changes", n)
            try:
                _apply_change(out, change, at, doc)
            except RulebookError as e:
                problems.append(e)
    return out, in_force, problems


def _apply_change(doc: _yaml.Document, change: Change, at: Key, original: _yaml.Document) -> None:
    data = doc.data
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        raise RulebookError("a reading changes rules, and this file has none", location=original.locate(at),
                            code="reading")
    if change.add is not None:
        rule = change.add.get("rule")
        city = change.add.get("city", data.get("city"))
        if not isinstance(rule, dict) or city != data.get("city") or set(change.add) - {"rule", "city"}:
            raise RulebookError("add needs {rule: {...}} (a rule of this file's city)", location=original.locate(at),
                                field=_dotted((*at, "add")), code="reading")
        _graft(doc, original, (*at, "add", "rule"), ("rules", len(rules)))
        rules.append(copy.deepcopy(rule))
        return
    if change.document is not None:
        documents = data.get("documents")
        if not isinstance(documents, dict) or change.document not in documents:
            raise RulebookError(f"no document {change.document!r} to change; documents: "
                                f"{', '.join(documents or ())}", location=original.locate((*at, "document")),
                                field=_dotted((*at, "document")), code="reading")
        for path, value in (change.set or {}).items():
            target = ("documents", change.document, *path.split("."))
            set_path(documents[change.document], path.split("."), copy.deepcopy(value))
            _graft(doc, original, (*at, "set", path), target)
        return
    name = change.remove or change.rule
    index = next((i for i, r in enumerate(rules) if isinstance(r, dict) and r.get("id") == name), None)
    if index is None:
        field = "remove" if change.remove else "rule"
        ids = [str(r.get("id")) for r in rules if isinstance(r, dict)]
        close = difflib.get_close_matches(str(name), ids, n=1, cutoff=0.6)
        raise RulebookError(f"no rule {name!r} in this file" + (f"; did you mean {close[0]!r}?" if close else ""),
                            location=original.locate((*at, field)), field=_dotted((*at, field)), code="reading")
    if change.remove:
        del rules[index]
        _shift(doc, ("rules",), index)
        return
    rule = rules[index]
    for path, value in (change.set or {}).items():
        set_path(rule, path.split("."), copy.deepcopy(value))
        _graft(doc, original, (*at, "set", path), ("rules", index, *path.split(".")))
    when = rule.setdefault("when", [])
    if not isinstance(when, list):
        raise RulebookError("the rule's when is not a list", location=original.locate(at), code="reading")
    for j, fact in enumerate(change.drop_when or ()):
        places = [k for k, c in enumerate(when) if isinstance(c, dict) and fact in c]
        if not places:
            raise RulebookError(f"rule {name!r} has no condition on {fact!r} to drop",
                                location=original.locate((*at, "drop_when", j)),
                                field=_dotted((*at, "drop_when", j)), code="reading")
        for k in reversed(places):
            del when[k]
            _shift(doc, ("rules", index, "when"), k)
    if change.add_when:
        for j, condition in enumerate(change.add_when):
            _graft(doc, original, (*at, "add_when", j), ("rules", index, "when", len(when)))
            when.append(copy.deepcopy(condition))


def set_path(target: dict[str, Any], path: list[str], value: Any) -> None:
    """``target[a][b]... = value`` for the dotted path ``a.b...`` (missing mappings are made)."""
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def _graft(doc: _yaml.Document, original: _yaml.Document, source: Key, target: Key) -> None:
    """The lines of what was written at ``source`` (in the readings section) become those of ``target``."""
    for table, old in ((doc.positions, original.positions), (doc.texts, original.texts)):
        for key in [k for k in table if k[:len(target)] == target]:
            del table[key]
        for key, place in old.items():
            if key[:len(source)] == source:
                table[(*target, *key[len(source):])] = place


def _shift(doc: _yaml.Document, items: Key, removed: int) -> None:
    """After item ``removed`` of the list at ``items`` is deleted, the items after it keep their own lines."""
    n = len(items)
    for table in (doc.positions, doc.texts):
        moved = {}
        for key in list(table):
            at = key[n] if len(key) > n and key[:n] == items else None
            if isinstance(at, int) and at >= removed:
                place = table.pop(key)
                if at > removed:
                    moved[(*items, at - 1, *key[n + 1:])] = place
        table.update(moved)


def _dotted(key: Key) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if n else str(k)) for n, k in enumerate(key))
