"""The ``incentives`` command (and ``python -m incentives``): ``cli.main``, after a batch of a CSV register
has begun reading its first blocks, while the engine loads (``readahead``)."""

from __future__ import annotations

import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    # A command does no linear algebra: the BLAS threads numpy starts, one per core, would only spin beside
    # the batch's own threads (3% of a 1M batch's CPU). Set before numpy is imported; a value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if argv[:1] == ["batch"]:
        try:
            from incentives import readahead
        except ImportError:   # no polars (the batch extra): the per-enterprise path reads as it goes
            pass
        else:
            readahead.begin(argv)
    from incentives.cli import main as command

    return command(argv)


if __name__ == "__main__":
    sys.exit(main())
