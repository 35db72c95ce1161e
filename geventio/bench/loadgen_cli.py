"""``python -m geventio.bench.loadgen_cli MODE ...``: the pure-Python load generator's
command line (``loadgen.py`` for TCP, ``loadgen_udp.py`` for UDP), the fallback
for ``loadgen.c``; it prints one JSON result line."""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from .loadgen import CHUNK, MODES, LoadGen
from .loadgen_udp import UdpLoadGen
from .servers import prepare_process

__all__ = ['main', 'run']


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m geventio.bench.loadgen_cli',
                                     description='Echo load generator (Python fallback).')
    parser.add_argument('mode', choices=MODES)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--conns', type=int, default=1)
    parser.add_argument('--size', type=int, default=64, help='message bytes')
    parser.add_argument('--duration', type=float, default=2.0, help='seconds measured')
    parser.add_argument('--warmup', type=float, default=0.3, help='seconds before')
    parser.add_argument('--timeout', type=float, default=10.0,
                        help='seconds allowed for connection setup (and the memory hold)')
    parser.add_argument('--window', type=int, default=4 * CHUNK,
                        help='bulk: most unechoed bytes per connection')
    parser.add_argument('--udp-timeout', type=float, default=0.2,
                        help='udp: seconds before a datagram counts as lost')
    args = parser.parse_args(argv)
    if args.conns < 1 or not 0 < args.size <= CHUNK or (args.mode == 'udp' and args.size < 8):
        parser.error('bad --conns or --size')
    return args


def run(args: argparse.Namespace, out: IO[str] = sys.stdout) -> dict[str, Any] | None:
    """Run one load and return its result dict (``None`` in memory mode)."""
    if args.mode == 'udp':
        return UdpLoadGen(args).run(out)
    return LoadGen(args).run(out)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    prepare_process(parent_pid=os.getppid())
    result = run(args)
    if result is not None:
        sys.stdout.write(json.dumps(result) + '\n')


if __name__ == '__main__':
    main()
