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


def _fresh(code: str) -> str:
    """What ``code`` prints in a new interpreter (nothing of this test session imported)."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_a_public_name_imports_its_module_on_first_use() -> None:
    out = _fresh("import sys, incentives\n"
                 "before = 'incentives.engine' in sys.modules\n"
                 "assess = incentives.assess\n"
                 "print(before, 'incentives.engine' in sys.modules, assess is incentives.engine.assess)")
    assert out == "False True True"


def test_a_module_of_the_package_loads_without_the_engine() -> None:
    assert _fresh("import sys, incentives.money\nprint('incentives.engine' in sys.modules)") == "False"


def test_submodules_version_and_unknown_names() -> None:
    out = _fresh("import incentives\n"
                 "print(incentives.facts.Enterprise is incentives.Enterprise, incentives.__version__ != '',\n"
                 "      set(incentives.__all__) <= set(dir(incentives)))\n"
                 "try:\n    incentives.no_such_name\nexcept AttributeError as e:\n    print(e)")
    assert out.splitlines() == ["True True True", "module 'incentives' has no attribute 'no_such_name'"]
