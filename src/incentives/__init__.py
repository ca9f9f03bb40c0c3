"""incentives: Chinese municipal enterprise-incentive policies (惠企政策) as tested, cited rules.

>>> from incentives import load_rulebook, load_enterprise, assess      # doctest: +SKIP
>>> book = load_rulebook("rules/")
>>> result = assess(load_enterprise("examples/enterprises/xianghe-leader.yaml"), book)
>>> result.total

Each public name is imported from its module on first use (``_HOME``), so that ``import incentives.money``
does not load the engine and the command line decides how its own imports are made (``incentives.cli``).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from incentives.engine import AwardRow, assess, award_rows
    from incentives.errors import (ArgumentError, EngineError, FactsError, IncentivesError, MoneyError, RulebookError,
                                   SourceError, VocabularyError)
    from incentives.facts import Enterprise, Profile, load_enterprise, validate_credit_code
    from incentives.money import parse_money, parse_rate, split
    from incentives.outcomes import Assessment, Award, Citation, Conflict, RuleOutcome
    from incentives.rulebook import Rulebook, load_rulebook
    from incentives.shipped import default_rules, shipped_rules
    from incentives.vocabulary import Vocabulary, load_vocabulary

__all__ = [
    "ArgumentError", "Assessment", "Award", "AwardRow", "Citation", "Conflict", "EngineError", "Enterprise", "FactsError", "IncentivesError",
    "MoneyError", "Profile", "RuleOutcome", "Rulebook", "RulebookError", "SourceError", "Vocabulary",
    "VocabularyError", "assess", "award_rows", "default_rules", "load_enterprise", "load_rulebook", "load_vocabulary", "parse_money",
    "parse_rate", "shipped_rules", "split", "validate_credit_code",
]

_HOME = {
    **dict.fromkeys(("AwardRow", "assess", "award_rows"), "engine"),
    **dict.fromkeys(("ArgumentError", "EngineError", "FactsError", "IncentivesError", "MoneyError", "RulebookError",
                     "SourceError", "VocabularyError"), "errors"),
    **dict.fromkeys(("Enterprise", "Profile", "load_enterprise", "validate_credit_code"), "facts"),
    **dict.fromkeys(("parse_money", "parse_rate", "split"), "money"),
    **dict.fromkeys(("Assessment", "Award", "Citation", "Conflict", "RuleOutcome"), "outcomes"),
    **dict.fromkeys(("Rulebook", "load_rulebook"), "rulebook"),
    **dict.fromkeys(("default_rules", "shipped_rules"), "shipped"),
    **dict.fromkeys(("Vocabulary", "load_vocabulary"), "vocabulary"),
}


def __getattr__(name: str) -> Any:
    """A public name (kept once found), ``__version__``, or a submodule not imported yet (``incentives.engine``)."""
    if name == "__version__":
        from incentives.shipped import version

        value: Any = version()
    elif name in _HOME:
        value = getattr(importlib.import_module(f"incentives.{_HOME[name]}"), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"incentives.{name}") is not None:
        return importlib.import_module(f"incentives.{name}")
    else:
        raise AttributeError(f"module 'incentives' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})
