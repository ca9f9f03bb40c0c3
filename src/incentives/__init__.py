"""incentives: Chinese municipal enterprise-incentive policies (惠企政策) as tested, cited rules.

>>> from incentives import load_rulebook, load_enterprise, assess      # doctest: +SKIP
>>> book = load_rulebook("rules/")
>>> result = assess(load_enterprise("examples/enterprises/xianghe-leader.yaml"), book)
>>> result.total
"""

from __future__ import annotations

from incentives.engine import AwardRow, assess, award_rows
from incentives.errors import (ArgumentError, EngineError, FactsError, IncentivesError, MoneyError, RulebookError, SourceError,
                               VocabularyError)
from incentives.facts import Enterprise, Profile, load_enterprise, validate_credit_code
from incentives.money import parse_money, parse_rate, split
from incentives.outcomes import Assessment, Award, Citation, Conflict, RuleOutcome
from incentives.rulebook import Rulebook, load_rulebook
from incentives.shipped import default_rules, shipped_rules, version as _version
from incentives.vocabulary import Vocabulary, load_vocabulary

__version__ = _version()

__all__ = [
    "ArgumentError", "Assessment", "Award", "AwardRow", "Citation", "Conflict", "EngineError", "Enterprise", "FactsError", "IncentivesError",
    "MoneyError", "Profile", "RuleOutcome", "Rulebook", "RulebookError", "SourceError", "Vocabulary",
    "VocabularyError", "assess", "award_rows", "default_rules", "load_enterprise", "load_rulebook", "load_vocabulary", "parse_money",
    "parse_rate", "shipped_rules", "split", "validate_credit_code",
]
