"""Benchmark harness comparing geventio's echo servers with gevent and asyncio.

Not part of the installed package: it lives at the top of the repository and is run
with ``python -m benchmarks.runner`` or ``python -m geventio bench`` from a checkout.

Layout, one job per module:

- ``servers.py``  the echo servers and their registry; ``python -m benchmarks.servers``
- ``loadgen.py``  the pure-Python load generator (fallback); ``python -m benchmarks.loadgen``
- ``loadgen_udp.py`` its UDP ping-pong mode
- ``loadgen.c``   the same load generator in C over epoll, compiled at run time
- ``procs.py``    starting, pinning, bounding and killing the benchmark's processes
- ``cases.py``    the cases measured, with their full and ``--quick`` parameters
- ``runner.py``   interleaves servers per case, repeats, collects raw figures
- ``report.py``   medians, ratios to the gevent reference, table, JSON and plot
"""
