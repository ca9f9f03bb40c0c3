"""Administrative divisions: province → city → county (district), read from ``rules/divisions.yaml``.

A rule file declares the place it covers (``jurisdiction: {level: county, place: xianghe}``); an
enterprise names its city and county. Both are resolved here, by id (``langfang``), full Chinese
name (``廊坊市``) or short name (``廊坊``), so that the rulebook can pick every file whose place is on
the enterprise's path: the province's, the city's and the county's.

>>> table = load_divisions(BUNDLED)
>>> [d.id for d in table.path_of("廊坊市", "香河县")]
['hebei', 'langfang', 'xianghe']
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incentives import _yaml
from incentives.errors import FactsError, IncentivesError, Location, RulebookError

UNKNOWN_COUNTY = "(unknown)"   # the county part of a "city/county" key where the facts name no county

DIVISIONS_FILE = "divisions.yaml"
BUNDLED = Path(__file__).resolve().parent / DIVISIONS_FILE   # rules/divisions.yaml, shipped with the package
LEVELS = ("province", "city", "county")
Level = Literal["province", "city", "county"]
_ID = r"^[a-z][a-z_]*$"
_PLURAL = {"province": "provinces", "city": "cities", "county": "counties"}
_SUFFIXES = ("回族自治县", "自治县", "省", "市", "县", "区")   # dropped for the short name, longest first


class _Decl(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _County(_Decl):
    zh: str = Field(min_length=2)
    code: str = Field(pattern=r"^\d{6}$")


class _City(_County):
    counties: dict[str, _County] = Field(default_factory=dict)


class _Province(_County):
    cities: dict[str, _City] = Field(default_factory=dict)


class _File(_Decl):
    version: Literal[1]
    provinces: dict[str, _Province]


@dataclass(frozen=True)
class Division:
    """One place: its id, level, Chinese name, GB/T 2260 code and the id of the place above it."""

    id: str
    level: Level
    zh: str
    code: str
    parent: str | None

    @property
    def short(self) -> str:
        """The name without its last character(s) (廊坊市 → 廊坊), kept only when two or more remain."""
        for suffix in _SUFFIXES:
            if self.zh.endswith(suffix) and len(self.zh) - len(suffix) >= 2:
                return self.zh[: -len(suffix)]
        return self.zh


@dataclass(frozen=True)
class Divisions:
    """The divisions table: every place by id, and what its names resolve to."""

    by_id: dict[str, Division]
    path: str = "<divisions>"
    hash: str = ""
    _names: dict[tuple[Level, str | None, str], str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for d in self.by_id.values():
            for name in (d.id, d.zh, d.short):
                self._names.setdefault((d.level, d.parent, name), d.id)
                self._names.setdefault((d.level, None, name), d.id)

    def find(self, name: str, level: Level, within: str | None = None) -> Division | None:
        """The place of ``level`` called ``name`` (id, full or short name), under ``within`` if given."""
        found = self._names.get((level, within, name.strip()))
        return self.by_id[found] if found else None

    def known(self, level: Level, within: str | None = None) -> str:
        """The places of ``level`` (under ``within``) as ``id (全称)``, for error messages."""
        return ", ".join(f"{d.id} ({d.zh}/{d.short})" if d.short != d.zh else f"{d.id} ({d.zh})"
                         for d in sorted(self.by_id.values(), key=lambda d: d.id)
                         if d.level == level and (within is None or d.parent == within))

    def resolve(self, name: str, level: Level, within: str | None = None, field: str | None = None) -> Division:
        """As ``find``, else a ``FactsError`` naming ``field`` and listing the known places."""
        found = self.find(name, level, within)
        if found is None:
            where = f" in {self.by_id[within].zh}" if within in self.by_id else ""
            raise FactsError(f"unknown {level} {name!r}{where}; known {_PLURAL[level]}: {self.known(level, within)}",
                             field=field or f"enterprise.{level}")
        return found

    def ancestors(self, place: str) -> tuple[Division, ...]:
        """``place`` and the places above it, from the province down."""
        out: list[Division] = []
        d: Division | None = self.by_id.get(place)
        while d is not None:
            out.append(d)
            d = self.by_id.get(d.parent) if d.parent else None
        return tuple(reversed(out))

    def path_of(self, city: str, county: str | None = None) -> tuple[Division, ...]:
        """The places an enterprise in ``city`` (and ``county``) is in, from the province down; empty
        when the city is not in the table, without the county when that is absent or unknown."""
        home = self.find(city, "city")
        if home is None:
            return ()
        place = self.find(county, "county", home.id) if county else None
        return self.ancestors((place or home).id)


def load_divisions(path: str | Path) -> Divisions:
    """Read and check a divisions table; a ``RulebookError`` names every problem ``file:line:col``."""
    if not Path(path).is_file():
        raise RulebookError("no such divisions table", location=Location(str(path)), code="divisions")
    return _load(str(Path(path).resolve()), Path(path).stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load(path: str, _mtime: int) -> Divisions:
    text = _yaml.read_text(path)
    doc = _yaml.parse(text, _yaml.label(path))
    try:
        table = _File.model_validate(doc.data)
    except ValidationError as e:
        problems: list[IncentivesError] = []
        for err in e.errors():
            key = tuple(err["loc"])
            message = ("unknown key " + repr(key[-1]) if err["type"] == "extra_forbidden"
                       else err["msg"].removeprefix("Value error, "))
            problems.append(RulebookError(message, location=doc.locate(key), field=".".join(map(str, key)),
                                          code="divisions"))
        raise RulebookError(problems[0].message, problems=problems, location=problems[0].location,
                            field=problems[0].field, code="divisions") from e
    by_id: dict[str, Division] = {}
    problems = []

    def add(key: tuple[str | int, ...], d: Division, parent_code: str | None, digits: int) -> None:
        if not re.match(_ID, d.id):
            problems.append(RulebookError(f"place id {d.id!r} must be lower-case letters and _",
                                          location=doc.locate(key), field=".".join(map(str, key)), code="divisions"))
        if d.id in by_id:
            problems.append(RulebookError(f"place id {d.id!r} is already used by {by_id[d.id].zh}",
                                          location=doc.locate(key), field=".".join(map(str, key)), code="divisions"))
        if parent_code is not None and d.code[:digits] != parent_code[:digits]:
            problems.append(RulebookError(f"code {d.code} of {d.zh} does not start with {parent_code[:digits]}, "
                                          f"the code of the place above it", location=doc.locate((*key, "code")),
                                          field=".".join(map(str, (*key, "code"))), code="divisions"))
        by_id.setdefault(d.id, d)

    for pid, p in table.provinces.items():
        add(("provinces", pid), Division(pid, "province", p.zh, p.code, None), None, 0)
        for cid, c in p.cities.items():
            add(("provinces", pid, "cities", cid), Division(cid, "city", c.zh, c.code, pid), p.code, 2)
            for kid, k in c.counties.items():
                add(("provinces", pid, "cities", cid, "counties", kid), Division(kid, "county", k.zh, k.code, cid),
                    c.code, 4)
    if problems:
        raise RulebookError(problems[0].message, problems=list(problems), location=problems[0].location,
                            field=problems[0].field, code="divisions")
    return Divisions(by_id=by_id, path=doc.path, hash=hashlib.sha256(text.encode()).hexdigest())


def divisions_beside(directory: Path) -> Divisions:
    """``divisions.yaml`` in ``directory`` (the vocabulary's), or the bundled table where there is none."""
    own = directory / DIVISIONS_FILE
    return load_divisions(own if own.is_file() else BUNDLED)
