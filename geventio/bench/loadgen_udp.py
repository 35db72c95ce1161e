"""UDP ping-pong for the pure-Python load generator (``loadgen.py``).

Each of N connected UDP sockets keeps one datagram in flight: it sends, waits for the
echo, and sends the next. A datagram not echoed within ``--udp-timeout`` seconds is
counted as lost and the next one is sent, so a server that drops datagrams shows up
as losses and a lower rate, never as a hang. Loss is expected to be zero on loopback;
a server that drops datagrams it could not send at once (``EAGAIN``) would show it.

Each datagram carries ``(socket id, sequence number)`` and a slice of the shared
pattern chosen by the sequence number, so an echo is checked byte for byte against
the datagram that was sent. An echo of an older datagram (one already counted as
lost) is counted as ``late`` and ignored; anything else that differs is a mismatch.
Same behaviour as the ``udp`` mode of ``loadgen.c``.
"""

import socket
import struct
import time

from .loadgen import CHUNK, PATLEN, LoadGen, _Conn, _FREE, _READ, _RUN

__all__ = ['UdpLoadGen']

#: Datagram header: socket id and sequence number, native order (same host).
_HEADER = struct.Struct('=II')
#: Pattern offset step between consecutive datagrams of one socket: a prime, so
#: that consecutive datagrams differ.
_SEQ_STRIDE = 8191


class UdpLoadGen(LoadGen):
    """The ``udp`` mode: the ``LoadGen`` driver with per-datagram hooks."""

    def _datagram(self, c: _Conn, seq: int) -> bytes:
        p = (c.base + seq * _SEQ_STRIDE) % PATLEN
        return _HEADER.pack(c.id, seq) + self.pat[p:p + self.a.size - _HEADER.size]

    def _send_next(self, c: _Conn) -> None:
        c.seq += 1
        c.t0 = time.monotonic()
        try:
            c.sock.send(self._datagram(c, c.seq))
        except (BlockingIOError, ConnectionRefusedError):
            pass                    # counted as lost when its timeout expires
        except OSError as exc:
            self.stats['io_errors'] += 1
            self._note('send: %s' % exc)

    def _open_more(self, opened: int) -> int:
        for c in self.conns[opened:]:
            try:
                c.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                c.sock.setblocking(False)
                c.sock.connect(self.addr)
            except OSError as exc:
                if c.sock is not None:
                    c.sock.close()
                    c.sock = None
                self.stats['io_errors'] += 1
                self._note('udp socket: %s' % exc)
                continue
            self.sel.register(c.sock, _READ, c)
            c.state = _RUN
            self._send_next(c)
        return len(self.conns)

    def _dispatch(self, c: _Conn, _events: int) -> None:
        while c.state == _RUN:
            try:
                data = c.sock.recv(CHUNK)
            except ConnectionRefusedError as exc:
                self.stats['io_errors'] += 1
                self._note('recv: %s' % exc)
                continue
            except OSError:
                return
            self._check(c, data)

    def _check(self, c: _Conn, data: bytes) -> None:
        ident, seq = _HEADER.unpack_from(data) if len(data) >= _HEADER.size else (-1, -1)
        if ident == c.id and seq < c.seq:
            self.stats['late'] += 1
        elif seq != c.seq or data != self._datagram(c, seq):
            self.stats['mismatches'] += 1
            self._note('datagram differs from the one sent')
        else:
            t = time.monotonic()
            if self._in_window(t):
                self.stats['count'] += 1
                self.latencies.append(t - c.t0)
            self._next_or_stop(c)

    def _next_or_stop(self, c: _Conn) -> None:
        if self.draining:
            c.state = _FREE         # idle: the drain ends when every socket is
        else:
            self._send_next(c)

    def _tick(self, t: float) -> None:
        for c in self.conns:
            if c.state == _RUN and t - c.t0 > self.a.udp_timeout:
                if self._in_window(t):
                    self.stats['lost'] += 1
                self._next_or_stop(c)

    def _all_idle(self) -> bool:
        return all(c.state == _FREE for c in self.conns)
