"""``python -m geventio bench``: run the echo benchmarks (``geventio.bench``).

This module only parses the command line and hands over to
``geventio.bench.runner``; docs/benchmarks.md says what is measured and how.
"""

import argparse
import sys
from collections.abc import Sequence

from ..bench import runner

__all__ = ['main']


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (the words after ``bench``), run the benchmarks; return the status."""
    parser = argparse.ArgumentParser(
        prog='python -m geventio bench',
        description="Measure geventio's echo servers against raw gevent, asyncio and "
                    "uvloop in one interleaved run; print a markdown table of medians "
                    "and ratios to gevent (see docs/benchmarks.md).")
    runner.add_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return runner.run(quick=args.quick, json_path=args.json, plot_path=args.plot,
                          servers=args.servers, case_patterns=args.cases,
                          python_loadgen=args.python_loadgen)
    except KeyboardInterrupt:
        sys.stderr.write('geventio bench: interrupted; every server was stopped\n')
        return 130


if __name__ == '__main__':
    sys.exit(main())
