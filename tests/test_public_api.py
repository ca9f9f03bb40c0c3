from __future__ import annotations

import incentives


def test_every_public_name_is_importable() -> None:
    for name in incentives.__all__:
        assert getattr(incentives, name) is not None


def test_error_tree_has_one_root() -> None:
    for name in ("SourceError", "FactsError", "VocabularyError", "RulebookError", "MoneyError", "EngineError"):
        assert issubclass(getattr(incentives, name), incentives.IncentivesError)


def test_errors_keep_their_location_across_processes() -> None:
    import pickle

    from incentives.errors import Location

    error = incentives.VocabularyError("unknown term", suggestion="cluster_leader", location=Location("f.yaml", 3, 5),
                                       field="records.0.title", code="unknown-term")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is incentives.VocabularyError and str(copy) == str(error)
    assert (copy.location, copy.field, copy.code, copy.suggestion) == (error.location, error.field, error.code,
                                                                       "cluster_leader")
