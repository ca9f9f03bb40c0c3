"""``python -m incentives``: the same command line as ``incentives``."""

from __future__ import annotations

import sys

from incentives.cli import main

sys.exit(main())
