"""Echo load generator in pure Python: the fallback for ``loadgen.c``.

Runs in its own process (``python -m geventio.bench.loadgen MODE ...``), with exactly the
command line, modes and one-line JSON result of the C client, so the runner can use
either. Prefer the C client: this one needs tens of microseconds of CPU per round trip,
about what the Python servers under test need, so with the fallback the figures partly
measure the client (the runner says which client it used).

Modes: ``pingpong``, ``bulk``, ``udp``, ``connrate`` and ``memory`` (README.md). In
``memory`` it prints a ``holding`` line once its connections are up and keeps them
open until its stdin closes, while the runner reads the server's RSS.

Verification: each TCP connection carries one byte stream taken from a fixed
pseudo-random pattern at an offset of its own, and every echoed byte is compared with
the byte sent at that offset, so lost, duplicated, reordered or foreign bytes are
caught; a mismatch drops the connection. Datagrams carry ``(socket id, sequence)``
and a pattern slice chosen by the sequence. Each TCP connection first exchanges a
64-byte hello so that the clock starts only once the server serves every connection.
"""

import argparse
import errno
import json
import random
import selectors
import socket
import sys
import time
from typing import IO, Any


__all__ = ['MODES', 'LoadGen']

MODES = ('pingpong', 'bulk', 'udp', 'connrate', 'memory')

#: Pattern length: a prime above 1 MiB, so that no message or chunk size divides it.
PATLEN = 1048573
#: Bytes of the first exchange on every TCP connection.
HELLO = 64
#: Connections in setup at once: below every server's listen backlog, so no SYN is
#: dropped and retried a second later.
CONNECT_BATCH = 64
#: Bulk send size and receive size.
CHUNK = 65536
#: Seconds allowed, after the window, for the echoes in flight: closing only once they
#: are back lets the servers see a clean EOF rather than a reset (which gevent's
#: ``StreamServer`` reports with a traceback, on the CPU the next server uses).
DRAIN = 2.0
#: Seconds of setup without one more connection completing its hello: a server that
#: stopped answering fails the case in seconds rather than after ``--timeout``.
STALL = 5.0

_FREE, _CONNECTING, _HELLO, _RUN = range(4)
_READ = selectors.EVENT_READ
_RW = selectors.EVENT_READ | selectors.EVENT_WRITE
#: From linux/in.h: bind() without reserving a port, which connect() then chooses.
_IP_BIND_ADDRESS_NO_PORT = getattr(socket, 'IP_BIND_ADDRESS_NO_PORT', 24)


class _Conn:
    __slots__ = ('sock', 'state', 'id', 'base', 'seq', 'sent', 'recvd', 'target',
                 't0', 'want_out')

    def __init__(self, ident: int) -> None:
        self.sock: Any = None       # a socket.socket, or None while free
        self.state, self.id, self.base = _FREE, ident, ident * 7919 % PATLEN
        self.seq = self.sent = self.recvd = self.target = 0
        self.t0, self.want_out = 0.0, False


class LoadGen:
    """One run of one TCP mode; ``run()`` returns the result dict.

    The driver (setup, measurement window, drain, result) is shared with
    ``loadgen_udp.UdpLoadGen``, which overrides the per-socket hooks.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.addr = (args.host, args.port)
        rng = random.Random(0x9E3779B9)
        self.pat = rng.randbytes(PATLEN) * 2
        self.patmv = memoryview(self.pat)
        self.sel = selectors.DefaultSelector()
        self.conns = [_Conn(i) for i in range(args.conns)]
        self.latencies: list[float] = []
        self.stats = dict(connected=0, count=0, bytes=0, mismatches=0, io_errors=0,
                          lost=0, late=0)
        self.first_error = ''
        self.setup_pending = 0
        self.opened_total = 0
        self.rotate_source = True
        self.t_start = self.t_end = 0.0
        self.draining = False
        self.last_progress = time.monotonic()

    # -- bookkeeping -------------------------------------------------------------
    def _in_window(self, t: float) -> bool:
        return bool(self.t_start) and self.t_start <= t < self.t_end

    def _note(self, what: str) -> None:
        if not self.first_error:
            self.first_error = what

    def _drop(self, c: _Conn) -> None:
        if c.state in (_CONNECTING, _HELLO):
            self.setup_pending -= 1
        if c.sock is not None:
            self.sel.unregister(c.sock)
            c.sock.close()
            c.sock = None
        c.state = _FREE

    def _fail(self, c: _Conn, what: str, counter: str = 'io_errors') -> None:
        self.stats[counter] += 1
        self._note(what)
        self._drop(c)

    def _expected(self, c: _Conn, offset: int, n: int) -> memoryview:
        p = (c.base + offset) % PATLEN
        return self.patmv[p:p + n]

    # -- TCP ---------------------------------------------------------------------
    def _set_out(self, c: _Conn, out: bool) -> None:
        if c.want_out != out:
            self.sel.modify(c.sock, _RW if out else _READ, c)
            c.want_out = out

    def _send_upto(self, c: _Conn, limit: int) -> bool:
        while c.sent < limit:
            try:
                n = c.sock.send(self._expected(c, c.sent, min(limit - c.sent, CHUNK)))
            except (BlockingIOError, InterruptedError):
                self._set_out(c, True)
                return False
            except OSError as exc:
                self._fail(c, 'send: %s' % exc)
                return False
            c.sent += n
        self._set_out(c, False)
        return True

    def _send_limit(self, c: _Conn) -> int:
        if self.draining:
            return c.sent
        if self.a.mode == 'bulk' and c.state == _RUN:
            return c.recvd + int(self.a.window)
        return c.target

    def _open_tcp(self, c: _Conn) -> None:
        c.state, c.sent, c.recvd, c.target = _CONNECTING, 0, 0, 0
        c.t0, c.want_out = time.monotonic(), True
        self.setup_pending += 1
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            self._fail(c, 'socket: %s' % exc)
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.a.mode == 'connrate':
            self._source_address(sock)
        c.sock = sock
        self.sel.register(sock, _RW, c)
        err = sock.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            self._fail(c, 'connect: %s' % errno.errorcode.get(err, err))

    def _source_address(self, sock: socket.socket) -> None:
        # Connection-rate runs open ~10^5 connections to one port; spreading them over
        # 200 loopback sources keeps TIME_WAIT from exhausting the ephemeral ports.
        if not self.rotate_source or self.a.host != '127.0.0.1':
            return
        self.opened_total += 1
        try:
            sock.setsockopt(socket.IPPROTO_IP, _IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind(('127.1.%d.1' % (self.opened_total % 200), 0))
        except OSError:
            self.rotate_source = False

    def _on_connected(self, c: _Conn) -> None:
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(c, 'connect: %s' % errno.errorcode.get(err, err))
            return
        c.state, c.target = _HELLO, HELLO
        self._send_upto(c, c.target)

    def _message_done(self, c: _Conn) -> None:
        t = time.monotonic()
        if c.state == _HELLO:
            self.setup_pending -= 1
            self.stats['connected'] += 1
            self.last_progress = t
            c.state = _RUN
            mode = self.a.mode
            if mode == 'connrate':
                if self._in_window(t):
                    self.stats['count'] += 1
                    self.latencies.append(t - c.t0)
                self._drop(c)
                return
            if mode in ('memory', 'bulk'):
                self._send_upto(c, self._send_limit(c))     # bulk: starts streaming
                return
        elif self._in_window(t):
            self.stats['count'] += 1
            self.stats['bytes'] += self.a.size     # lock-step bulk reads its figure here
            self.latencies.append(t - c.t0)
        if self.draining:
            return
        c.target, c.t0 = c.sent + self.a.size, t
        self._send_upto(c, c.target)

    def _on_readable(self, c: _Conn) -> None:
        try:
            data = c.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(c, 'recv: %s' % exc)
            return
        n = len(data)
        if not n:
            self._fail(c, 'recv: unexpected EOF')
        elif c.recvd + n > c.sent:
            self._fail(c, 'echo longer than what was sent', 'mismatches')
        elif self._expected(c, c.recvd, n) != data:
            self._fail(c, 'echoed bytes differ', 'mismatches')
        else:
            c.recvd += n
            if self.a.mode == 'bulk' and c.state == _RUN:
                if self._in_window(time.monotonic()):
                    self.stats['bytes'] += n
                self._send_upto(c, self._send_limit(c))
            elif c.recvd == c.target:
                self._message_done(c)

    def _tick(self, t: float) -> None:
        """Called on every turn of the loop (the UDP client checks its timeouts)."""

    def _dispatch(self, c: _Conn, events: int) -> None:
        if c.state == _CONNECTING:
            self._on_connected(c)
            return
        if events & selectors.EVENT_WRITE:
            self._send_upto(c, self._send_limit(c))
        if events & selectors.EVENT_READ and c.state != _FREE:
            self._on_readable(c)

    # -- driver ------------------------------------------------------------------
    def _open_more(self, opened: int) -> int:
        conns = self.conns
        if self.a.mode == 'connrate':
            for c in conns:
                if c.state == _FREE:
                    self._open_tcp(c)
            return len(conns)
        while opened < len(conns) and self.setup_pending < CONNECT_BATCH:
            self._open_tcp(conns[opened])
            opened += 1
        return opened

    def _all_idle(self) -> bool:
        return all(c.state == _FREE or (c.state == _RUN and c.recvd == c.sent)
                   for c in self.conns)

    def _ready_to_measure(self, opened: int, t: float, begin: float) -> bool:
        if self.a.mode in ('udp', 'connrate'):
            return True
        if opened == len(self.conns) and self.setup_pending == 0:
            return True
        if t - begin > self.a.timeout or t - self.last_progress > STALL:
            for c in self.conns:
                if c.state in (_CONNECTING, _HELLO):
                    self._fail(c, 'connection setup timed out')
            return True
        return False

    def run(self, out: IO[str]) -> dict[str, Any] | None:
        opened, begin, drain_end = 0, time.monotonic(), 0.0
        mode = self.a.mode
        while True:
            t = time.monotonic()
            self._tick(t)
            if not self.draining:
                opened = self._open_more(opened)
            elif t >= drain_end or self._all_idle():
                break
            if not self.t_start:
                if self._ready_to_measure(opened, t, begin):
                    opened = len(self.conns)
                    if mode not in ('udp', 'connrate') and not self.stats['connected']:
                        break
                    if mode == 'memory':
                        self._hold(out)
                        return None
                    self.t_start = t + self.a.warmup
                    self.t_end = self.t_start + self.a.duration
            elif not self.draining and t >= self.t_end:
                self.draining, drain_end = True, t + DRAIN
            for key, events in self.sel.select(0.01):
                if key.data.state != _FREE:         # not dropped earlier in this batch
                    self._dispatch(key.data, events)
        for c in self.conns:
            if c.sock is not None:
                c.sock.close()
        return self._result('result', self.t_end - self.t_start)

    def _hold(self, out: IO[str]) -> None:
        out.write(json.dumps(self._result('holding', 1.0)) + '\n')
        out.flush()
        sel = selectors.DefaultSelector()
        sel.register(sys.stdin, _READ)
        sel.select(self.a.timeout)
        return None

    def _result(self, key: str, measured: float) -> dict[str, Any]:
        lat = sorted(self.latencies)
        measured = max(measured, 1e-9)

        def q(frac: float) -> float:
            return round(lat[int(frac * (len(lat) - 1) + 0.5)] * 1e6, 2) if lat else -1

        s = self.stats
        return {key: True, 'loadgen': 'python', 'mode': self.a.mode,
                'conns': self.a.conns, 'size': self.a.size, 'duration': measured,
                'rate': s['count'] / measured, 'mb_per_s': s['bytes'] / measured / 1e6,
                'p50_us': q(0.5), 'p99_us': q(0.99), 'first_error': self.first_error,
                **s}
