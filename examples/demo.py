"""Evaluate every example enterprise against the city rule files and print what each is owed.

Run with ``make demo``. The same, one enterprise at a time, from the command line:
    incentives evaluate examples/enterprises/xianghe-leader.yaml --as-of 2026-06-30
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from incentives import IncentivesError, assess, load_enterprise, load_rulebook
from incentives.report import money, render

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 6, 30)


def main() -> int:
    book = load_rulebook(ROOT / "rules")
    print(f"Rulebook {book.hash[:19]}: {', '.join(f'{c} ({len(f.rules)} rules)' for c, f in book.files.items())}\n")
    grand = []
    for path in sorted((ROOT / "examples" / "enterprises").glob("*.yaml")):
        try:
            enterprise = load_enterprise(path, book.vocabulary)
        except IncentivesError as e:
            print(f"skipped: {e}", file=sys.stderr)
            continue
        result = assess(enterprise, book, AS_OF)
        print("=" * 100)
        print(f"{path.relative_to(ROOT)}")
        print(render(result, "zh", book))
        print()
        grand.append((enterprise.profile.name, result.total))
    print("=" * 100)
    for name, total in grand:
        print(f"{name}: {money(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
