"""The ``incentives`` command: a thin layer over the public API.

Any ``IncentivesError`` prints as one ``file:line:col: message`` line per problem on stderr with exit code 2;
no traceback ever reaches a user. Exit codes: 0 done (and clean), 1 the check ran and found
problems (lint errors, failed rule tests, no rule tests found), 2 bad input or usage, 130 Ctrl-C
(SIGINT), 143 SIGTERM to a batch: one line each, and no partial results left.

Wherever a file is read, ``-`` reads standard input. Without ``--rules``, the working directory's
``rules/`` is used when it holds a rulebook, else the rulebook shipped with the package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import sys
from pathlib import Path
from typing import Sequence

# The engine's modules build some seventy models and their validators, which live as long as the process:
# let run while they are made, the cyclic collector walks them again and again (an eighth of a command's
# start). It is paused while they are imported, and what they made is set aside from its walks for good.
_collecting = gc.isenabled()
gc.disable()
from incentives._output import Terminated
from incentives.engine import assess
from incentives.errors import FactsError, IncentivesError, LintWarning, Location
from incentives.facts import load_enterprise
from incentives.readings import add_reading_argument, parse_choices
from incentives.rulebook import Rulebook, load_rulebook
from incentives.shipped import command_rules, default_rules, shipped_rules, version

gc.freeze()
if _collecting:
    gc.enable()

EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = None
    try:   # --version reads the rules and prints while the arguments are parsed
        args = parser.parse_args(argv)
        return int(args.run(args))
    except IncentivesError as e:
        option = "--reading" if e.code == "unknown-reading" else e.field if (e.field or "").startswith("--") else None
        if option is not None and e.location.path is None:  # a choice made on this command line (--reading, --rule)
            e.location, e.field = Location(option), None
        for problem in getattr(e, "problems", None) or [e]:  # every problem of the file, one line each
            print(f"incentives: {_in_language(problem, getattr(args, 'lang', None))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except Terminated:  # kill (batch): one line, the shell's code for SIGTERM, and no partial results left
        print("incentives: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's code for SIGINT, and no partial results left
        print("incentives: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _in_language(problem: BaseException, lang: str | None) -> str:
    """The problem's line, its message in Chinese where ``--lang zh`` was asked for (location and codes unchanged)."""
    text = str(problem)
    message = getattr(problem, "message", None)
    if lang != "zh" or not isinstance(message, str):
        return text
    from incentives.messages import translate_error

    return text.replace(message, translate_error(message, "zh"))


# Commands whose modules take a while to import (the ledger's store, the register formats), by the module
# that registers each: a command line that names one of them imports only its module.
_REGISTERED_BY = {"batch": "batch", "synth": "synth", "chart": "charts", "ledger": "ledger._cli"}


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incentives", description="Enterprise incentive rules, cited and exact.",
                                     epilog="Exit codes: 0 done, 1 problems found (lint, rule tests), 2 bad input.")
    parser.add_argument("--version", action=_Version, help="version, rulebook hash, cities and documents")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    ev = sub.add_parser("evaluate", help="every award an enterprise is owed")
    _facts_args(ev)
    ev.add_argument("--format", choices=["table", "json"], default="table")
    ev.add_argument("--engine", choices=["native", "durable"], default="native")
    ev.set_defaults(run=_evaluate)

    ex = sub.add_parser("explain", help="why one rule pays, does not, or cannot be decided")
    _facts_args(ex)
    ex.add_argument("--rule", required=True, help="rule id, e.g. lf.leader.provincial")
    ex.add_argument("--format", choices=["text", "json"], default="text")
    ex.set_defaults(run=_explain)

    li = sub.add_parser("lint", help="check rule files: format, references, quotes, payers")
    li.add_argument("files", nargs="*", help="rule files (default: rules/*.yaml)")
    li.add_argument("--vocabulary", default=None, help="vocabulary file (default: vocabulary.yaml beside each file)")
    li.add_argument("--rules", default=None, help="rule directory or file to lint (instead of FILES)")
    li.set_defaults(run=_lint)

    te = sub.add_parser("test", help="run YAML rule tests (default: rules/tests/*.yaml)")
    te.add_argument("files", nargs="*")
    te.add_argument("--rules", default=None, help="rule directory (default: the one each test file names)")
    add_reading_argument(te)
    te.epilog = "Finding no test fails (exit 1): a wrong path must not pass."
    te.set_defaults(run=_test)

    di = sub.add_parser("diff", help="what changed between two versions of a rule file, rule by rule")
    di.add_argument("old")
    di.add_argument("new")
    di.add_argument("--vocabulary", default=None)
    di.set_defaults(run=_diff)

    co = sub.add_parser("coverage", help="clauses of each source: encoded or not, and why")
    co.add_argument("--rules", default=None, help="rule directory (default: rules/ here, else the shipped rules)")
    co.set_defaults(run=_coverage)

    import importlib  # heavy formats are imported only when a command runs

    for name, module in _REGISTERED_BY.items():
        if command not in _REGISTERED_BY or command == name:
            importlib.import_module(f"incentives.{module}").register(sub)

    sc = sub.add_parser("schema", help="print the JSON Schema of facts, rules or assessments")
    sc.add_argument("which", choices=["facts", "rules", "assessment"])
    sc.add_argument("--rules", default=None, help="rule file or directory whose facts schema to print (default: the bundled one)")
    sc.set_defaults(run=_schema)

    info = sub.add_parser("info", help="version, the rulebook in use, its hash, cities and documents")
    info.add_argument("--rules", default=None, help="rule directory (default: rules/ here, else the shipped rules)")
    info.set_defaults(run=_info)

    from incentives import service  # only its arguments: FastAPI and uvicorn load when the server starts

    service.register(sub)
    return parser


def _facts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("facts", help="enterprise fact file (YAML or JSON; - reads standard input)")
    p.add_argument("--rules", default=None, help="rule directory or file (default: rules/ here, else the shipped rules)")
    p.add_argument("--as-of", type=_date, default=None, help="YYYY-MM-DD (default: today)")
    p.add_argument("--lang", choices=["zh", "en"], default=None,
                   help="language of the text (default zh); with --format json, the sentences for people "
                        "(reasons, conflicts, warnings) are translated only when --lang is given")
    add_reading_argument(p)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from e


def _rulebook(args: argparse.Namespace) -> Rulebook:
    return load_rulebook(command_rules(args.rules), readings=parse_choices(getattr(args, "reading", [])))


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    book = _rulebook(args)
    enterprise = load_enterprise(args.facts, book.vocabulary, facts=book.facts)
    try:  # the files covering the enterprise follow from its city and county: an unknown one would pay nothing
        city, _ = book.where(enterprise.profile.city, enterprise.profile.county)
    except FactsError as e:
        e.location = Location(str(args.facts))
        raise
    if city != enterprise.profile.city:
        enterprise = enterprise.model_copy(update={"profile": enterprise.profile.model_copy(update={"city": city})})
    return book, enterprise


def _evaluate(args: argparse.Namespace) -> int:
    from incentives.report import render

    book, enterprise = _load(args)
    result = assess(enterprise, book, args.as_of, engine=args.engine)
    if args.format == "json":
        from incentives.report import localized

        print(localized(result, args.lang or "en", book).model_dump_json(indent=2))
    else:
        print(render(result, args.lang or "zh", book))
    return 0


def _explain(args: argparse.Namespace) -> int:
    from incentives.explain import explain, explanation

    book, enterprise = _load(args)
    if args.format == "json":
        print(explanation(enterprise, book, args.rule, args.as_of, args.lang or "en").model_dump_json(indent=2))
    else:
        print(explain(enterprise, book, args.rule, args.as_of, args.lang or "zh"))
    return 0


def _lint(args: argparse.Namespace) -> int:
    from incentives.lint import lint_files
    from incentives.vocabulary import load_vocabulary

    where = command_rules(args.rules)
    files = args.files or (sorted(str(p) for p in where.glob("*.yaml") if p.name != "vocabulary.yaml")
                           if where.is_dir() else [str(where)])
    if args.vocabulary is None and "-" in files:  # standard input has no folder to find a vocabulary beside
        args.vocabulary = str(default_rules() / "vocabulary.yaml")
    vocabulary = load_vocabulary(args.vocabulary) if args.vocabulary else None
    problems = lint_files(files, vocabulary)
    errors = [p for p in problems if not isinstance(p, LintWarning)]
    for problem in problems:
        print(f"{problem} (warning)" if isinstance(problem, LintWarning) else problem)
    warnings = len(problems) - len(errors)
    if errors:
        print(f"{len(errors)} error(s), {warnings} warning(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    print(f"{len(files)} file(s) clean" + (f", {warnings} warning(s)" if warnings else ""))
    return 0


def _test(args: argparse.Namespace) -> int:
    from incentives.ruletests import run_file

    files = args.files or sorted(str(p) for p in (default_rules() / "tests").glob("*.yaml"))
    choices = parse_choices(args.reading)
    book = load_rulebook(command_rules(args.rules), readings=choices) if args.rules else None
    passed = failed = 0
    for file in files:
        for result in run_file(file, book, readings=choices):
            if result.passed:
                passed += 1
                continue
            failed += 1
            print(f"FAIL {result.location}: {result.case}")
            for failure in result.failures:
                print(f"  {failure}")
    if not passed + failed:
        print(f"no rule tests found in {', '.join(files) or default_rules() / 'tests'}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"{passed} passed, {failed} failed")
    return EXIT_PROBLEMS if failed else 0


def _diff(args: argparse.Namespace) -> int:
    from incentives.diff import diff_files
    from incentives.vocabulary import load_vocabulary

    if args.vocabulary is None and "-" in (args.old, args.new):
        args.vocabulary = str(default_rules() / "vocabulary.yaml")
    vocabulary = load_vocabulary(args.vocabulary) if args.vocabulary else None
    changes = diff_files(args.old, args.new, vocabulary)
    for change in changes:
        print(change)
    print(f"{len(changes)} change(s)")
    return 0


def _coverage(args: argparse.Namespace) -> int:
    from incentives.coverage import coverage, to_markdown

    print(to_markdown(coverage(_rulebook(args))), end="")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from incentives.schemas import schema

    facts = _rulebook(args).facts if args.rules else None
    print(json.dumps(schema(args.which, facts), ensure_ascii=False, indent=2))
    return 0


def describe(book: Rulebook, where: Path) -> str:
    """What ``info`` prints: version, where the rules come from, hash, cities and documents."""
    origin = "shipped with the package" if where.resolve() == shipped_rules().resolve() else "local"
    lines = [f"incentives {version()}", f"rules: {where} ({origin})", f"rulebook: {book.hash}",
             "places: " + ", ".join(f"{place} ({f.model.level}, {len(f.rules)} rules)" for place, f in book.files.items()),
             "documents:"]
    for loaded in book.files.values():
        for doc_id, doc in loaded.model.documents.items():
            window = f"{doc.effective.start}..{doc.effective.end or ''}"
            lines.append(f"  {doc_id}  {doc.number or '-'}  {doc.title}  ({loaded.model.city}, {window})")
    in_force = book.readings_in_force()
    if in_force:
        lines.append("readings (--reading id=option; the option in force first):")
        for loaded in book.files.values():
            for name, reading in loaded.model.readings.items():
                others = [o for o in reading.options if o != in_force[name]]
                lines.append(f"  {name}  {in_force[name]}" + (f" ({', '.join(others)})" if others else ""))
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    where = command_rules(args.rules)
    print(describe(load_rulebook(where), where))
    return 0


class _Version(argparse.Action):
    """``--version``: the package version, then the rulebook that commands would use without ``--rules``."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        where = default_rules()
        try:
            print(describe(load_rulebook(where), where))
        except IncentivesError as e:
            print(f"incentives {version()}\nrules: {where}: {e}")
        parser.exit(0)


if __name__ == "__main__":   # python -m incentives.cli: as python -m incentives
    from incentives.__main__ import main as command

    sys.exit(command())
