"""``python -m geventio {demo,bench}``: choose a subcommand and run it."""

import argparse
import sys
from collections.abc import Callable, Sequence

__all__ = ['main']


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand named in ``argv`` (default ``sys.argv[1:]``); return
    the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog='python -m geventio',
        description="Perl's callback-style networking objects on gevent.")
    parser.add_argument('command', choices=['demo', 'bench'],
                        help='demo: a loopback echo server and client; '
                             'bench: the benchmarks (see docs/benchmarks.md)')
    args = parser.parse_args(argv[:1])
    run: Callable[[Sequence[str]], int]
    if args.command == 'demo':
        from .demo import main as run
    else:
        from .bench import main as run
    return run(argv[1:])


if __name__ == '__main__':
    sys.exit(main())
