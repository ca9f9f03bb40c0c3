"""The rulebook a server answers with, swapped whole when it is reloaded.

A request reads ``LiveRulebook.current`` once and uses that ``Loaded`` to the end, so it never sees a
half-loaded rulebook: a reload builds the new rulebook completely, aside, and only then replaces the
reference (one assignment). A rulebook that fails to load is reported and the old one keeps serving.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

from incentives import IncentivesError, Rulebook, load_rulebook
from incentives.shipped import command_rules


@dataclass(frozen=True)
class Loaded:
    """One rulebook as loaded: the rules, the folder they came from, and when."""

    book: Rulebook
    path: Path
    loaded_at: dt.datetime


@dataclass(frozen=True)
class ReloadFailure:
    """The last reload that failed: when, and the located error."""

    at: dt.datetime
    error: IncentivesError


class LiveRulebook:
    """Holds the current ``Loaded`` rulebook; ``reload()`` replaces it atomically or not at all."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()          # one reload at a time; readers never take it
        self.current = self._load()
        self.failure: ReloadFailure | None = None

    def _load(self) -> Loaded:   # a folder left with no rule file is refused, as at the start
        return Loaded(load_rulebook(command_rules(self.path)), self.path, dt.datetime.now(dt.timezone.utc))

    def reload(self) -> Loaded:
        """Load the rules again from disk and serve them; on ``IncentivesError`` keep the old ones and re-raise."""
        with self._lock:
            try:
                loaded = self._load()
            except IncentivesError as e:
                self.failure = ReloadFailure(dt.datetime.now(dt.timezone.utc), e)
                raise
            self.current = loaded
            self.failure = None
            return loaded
