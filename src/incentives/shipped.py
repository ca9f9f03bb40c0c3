"""The rulebook that ships with the package: rule files, vocabulary, facts schema and source texts.

A wheel carries them under ``incentives/_data/`` (copied from the repository's ``rules/`` and
``sources/`` when the wheel is built); an editable install of a checkout reads the repository's own
folders. Commands use the working directory's ``rules/`` when there is one (a checkout, or an
analyst's own rulebook) and the shipped one otherwise.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from incentives.rulebook import VOCABULARY_FILE

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
