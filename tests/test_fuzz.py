"""Structural fuzzing: rule files, fact files and register rows bent in random ways only ever raise
the library's own error. The same targets run coverage-guided under atheris with ``make fuzz``."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives import IncentivesError, load_enterprise
from incentives import _yaml

from conftest import ROOT

sys.path.insert(0, str(ROOT / "fuzz"))
import targets  # noqa: E402

targets.setup()

# Values that once broke a loader or could: huge and odd numbers, dates that do not exist, control
# characters, deep nesting, money in octal, hex or with bad grouping.
ODD_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**25, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["0777", "0x100", "1_000", "3,5万元", "9" * 29, "2025-02-30", "\x07", "1:0", "-5万元", "1e999",
                     "30万元", "10%", "", " ", "\ufeff", "𝟘", "NaN", "*a", "&a", "!!python/object:os.system"]),
    st.dates())
ODD_VALUES = st.recursive(ODD_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            found += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += paths(v, (*prefix, i))
    return found


def bend(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    head, rest = path[0], path[1:]
    if delete and not rest:
        del copy[head]
    else:
        copy[head] = bend(copy[head], rest, value, delete)
    return copy


RULE_FILE = yaml.safe_load((ROOT / "rules" / "langfang.yaml").read_text("utf-8"))
FACT_FILES = [yaml.safe_load(p.read_text("utf-8")) for p in sorted((ROOT / "examples" / "enterprises").glob("*.yaml"))]


@settings(max_examples=120)
@given(data=st.data(), value=ODD_VALUES, delete=st.booleans())
def test_a_bent_rule_file_is_refused_with_a_located_error_or_loads(data: st.DataObject, value: Any,
                                                                    delete: bool) -> None:
    path = data.draw(st.sampled_from(paths(RULE_FILE)))
    text = yaml.safe_dump(bend(RULE_FILE, path, value, delete and bool(path)), allow_unicode=True)
    targets.rules(text.encode("utf-8"))


@settings(max_examples=120)
@given(data=st.data(), value=ODD_VALUES, delete=st.booleans())
def test_a_bent_fact_file_or_dict_is_refused_with_a_located_error_or_loads(data: st.DataObject, value: Any,
                                                                          delete: bool) -> None:
    facts = data.draw(st.sampled_from(FACT_FILES))
    path = data.draw(st.sampled_from(paths(facts)))
    bent = bend(facts, path, value, delete and bool(path))
    targets.facts(yaml.safe_dump(bent, allow_unicode=True).encode("utf-8"))
    try:
        load_enterprise(bent) if isinstance(bent, dict) else None
    except IncentivesError as e:
        assert "<dict>:1:1" not in str(e)


CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["", '"', '""', '"a,b"', "a\"b", "9" * 29, "2025-02-30",
                                                         "0x100", "\xff", "91131024MA0CTX8K46", "recognition",
                                                         "project", "cluster_leader", "provincial", "langfang"]))


@settings(max_examples=200)
@given(enterprise=st.lists(CELLS, min_size=1, max_size=9), records=st.lists(st.lists(CELLS, max_size=26), max_size=3),
       raw=st.binary(max_size=40))
def test_random_register_rows_become_awards_or_error_rows(enterprise: list[str], records: list[list[str]],
                                                          raw: bytes) -> None:
    lines = [",".join(enterprise).encode("utf-8", "surrogatepass"), *(",".join(r).encode() for r in records), raw]
    targets.register(b"\n".join(lines))


@settings(max_examples=300)
@given(data=st.binary(max_size=300))
@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_random_bytes_never_escape_the_error_root(target: str, data: bytes) -> None:
    targets.TARGETS[target](data)


@settings(max_examples=100)
@given(text=st.text(alphabet=st.sampled_from(list("[]{}&*ab:-, \n!'\"#|>0123456789.eE+x_")), max_size=200))
def test_yaml_punctuation_never_escapes_the_error_root(text: str) -> None:
    try:
        _yaml.parse(text)
    except IncentivesError:
        pass
