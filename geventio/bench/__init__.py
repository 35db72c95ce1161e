"""Benchmark harness comparing geventio's echo servers with gevent, asyncio and uvloop.

Shipped with the package, so that ``pip install geventio[bench]`` then
``python -m geventio bench`` works anywhere (docs/benchmarks.md). The C load
generator is package data, compiled at run time where a C compiler exists; the
Python one is used otherwise. Nothing in geventio imports this package except
the command line.

Layout, one job per module:

- ``servers.py``  the echo servers and their registry; ``python -m geventio.bench.servers``
- ``loadgen.py``  the pure-Python load generator (fallback)
- ``loadgen_cli.py`` its command line; ``python -m geventio.bench.loadgen_cli``
- ``loadgen_udp.py`` its UDP ping-pong mode
- ``loadgen.c``   the same load generator in C over epoll, compiled at run time
- ``procs.py``    starting, pinning, bounding and killing the benchmark's processes
- ``cases.py``    the cases measured, with their full and ``--quick`` parameters
- ``runner.py``   interleaves servers per case, repeats, collects raw figures
- ``report.py``   medians, ratios to the gevent reference, table, JSON and plot
"""
