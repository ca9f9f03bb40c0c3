"""The rulebook that ships with the package: rule files, vocabulary, facts schema and source texts.

A wheel carries them under ``incentives/_data/`` (copied from the repository's ``rules/`` and
``sources/`` when the wheel is built); an editable install of a checkout reads the repository's own
folders. Commands use the working directory's ``rules/`` when there is one (a checkout, or an
analyst's own rulebook) and the shipped one otherwise.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from incentives.errors import Location, RulebookError
from incentives.rulebook import VOCABULARY_FILE, rule_files

_PACKAGE = Path(__file__).resolve().parent
_PACKAGED = _PACKAGE / "_data"
_CHECKOUT = _PACKAGE.parent.parent      # src/incentives → the repository


def version() -> str:
    """The installed version of the package (``0+unknown`` when run from sources never installed)."""
    try:
        return metadata.version("incentives")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def shipped_rules() -> Path:
    """The folder of the shipped rule files (``vocabulary.yaml`` beside them, ``tests/`` below)."""
    return (_PACKAGED if (_PACKAGED / "rules").is_dir() else _CHECKOUT) / "rules"


def default_rules(cwd: str | Path = ".") -> Path:
    """``rules/`` of ``cwd`` when it holds a rulebook (a vocabulary), else the shipped rules."""
    local = Path(cwd) / "rules"
    return local if (local / VOCABULARY_FILE).is_file() else shipped_rules()


def command_rules(rules: str | Path | None) -> Path:
    """The rules a command reads: its ``--rules``, else ``default_rules()``. A folder that holds no rule file is
    a ``RulebookError`` naming it, for a command would otherwise assess every enterprise against nothing and
    say only "no rule file for …" (``load_rulebook`` itself loads such a folder as an empty rulebook)."""
    path = Path(rules) if rules is not None else default_rules()   # rules/ here may hold a vocabulary alone
    if path.is_dir() and not rule_files(path):
        raise RulebookError("the folder holds no rule file (a *.yaml of rules beside vocabulary.yaml): nothing "
                            "would be assessed", location=Location(str(path)), field="--rules" if rules else None)
    return path
