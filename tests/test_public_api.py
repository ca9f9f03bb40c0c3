from __future__ import annotations

import incentives


def test_every_public_name_is_importable() -> None:
    for name in incentives.__all__:
        assert getattr(incentives, name) is not None


def test_error_tree_has_one_root() -> None:
    for name in ("SourceError", "FactsError", "VocabularyError", "RulebookError", "MoneyError", "EngineError"):
        assert issubclass(getattr(incentives, name), incentives.IncentivesError)
