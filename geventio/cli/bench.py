"""``python -m geventio bench``: run the echo benchmarks of a source checkout.

The harness (servers, load generators, runner) lives in the top-level
``benchmarks/`` directory of the repository, not in the installed package: it needs
a C compiler, gevent, asyncio and optionally uvloop side by side, and is of use only
to someone measuring geventio. This module only finds that directory next to the
package, parses the command line and hands over to ``benchmarks.runner``; from an
installed wheel it explains that a checkout is needed and exits with status 2.
"""

import argparse
import importlib
import sys
from pathlib import Path

__all__ = ['main']

#: Exit status when the harness cannot run at all (argparse uses 2 for usage errors too).
EXIT_UNAVAILABLE = 2


def _benchmarks_dir():
    # geventio/cli/bench.py -> the repository root is two levels above the package,
    # i.e. Path(geventio.__file__).resolve().parent.parent; computed from this file
    # so that it holds however the package was imported.
    return Path(__file__).resolve().parents[2] / 'benchmarks'


def _load_runner():
    """Import ``benchmarks.runner`` from the checkout, or return an error message."""
    bench_dir = _benchmarks_dir()
    if not (bench_dir / 'runner.py').is_file():
        return None, ('geventio bench: no benchmarks/ directory next to the geventio '
                      'package (looked in %s).\nThe benchmarks run from a source '
                      'checkout: git clone the repository, pip install -e ".[bench]", '
                      'then run python -m geventio bench.' % bench_dir)
    root = str(bench_dir.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        runner = importlib.import_module('benchmarks.runner')
    except ImportError as exc:
        return None, 'geventio bench: cannot import the harness in %s: %s' % (bench_dir, exc)
    if Path(runner.__file__).resolve().parent != bench_dir.resolve():
        return None, ('geventio bench: another "benchmarks" package (%s) shadows %s'
                      % (Path(runner.__file__).parent, bench_dir))
    return runner, None


def main(argv=None):
    """Parse ``argv`` (the words after ``bench``), run the benchmarks; return the status.

    Returns:
        The runner's status: 0 when the reference servers produced their figures,
        1 when one did not, 2 when the harness is absent or an argument is wrong.
    """
    runner, error = _load_runner()
    if runner is None:
        sys.stderr.write(error + '\n')
        return EXIT_UNAVAILABLE
    parser = argparse.ArgumentParser(
        prog='python -m geventio bench',
        description="Measure geventio's echo servers against raw gevent, asyncio and "
                    "uvloop in one interleaved run; print a markdown table of medians "
                    "and ratios to gevent (see benchmarks/README.md).")
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
