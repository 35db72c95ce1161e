"""Loopback peers and helpers for the Listener, Connector and TLS tests: live
listeners, closed ports and blackholes, an echo service, a recording Connector.
Nothing here sends a packet off this machine."""

import contextlib
import socket
import time

import gevent.socket

import geventio
from conftest import recv_exactly

#: Seconds a connect to a full accept queue must stay unanswered before the
#: queue counts as full (the kernel drops the SYN; the first retry is after 1 s).
FULL_QUEUE_PROBE = 0.3


def loopback(family):
    return '::1' if family == socket.AF_INET6 else '127.0.0.1'


@contextlib.contextmanager
def live_listener(family=socket.AF_INET, backlog=16):
    """A listening gevent socket on loopback: connects to it succeed at once."""
    with gevent.socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((loopback(family), 0))
        server.listen(backlog)
        yield server


def closed_port(family=socket.AF_INET):
    """``(host, port)`` where nothing listens: a connect is refused at once."""
    with gevent.socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((loopback(family), 0))
        return probe.getsockname()[:2]


@contextlib.contextmanager
def blackhole(family=socket.AF_INET):
    """``(host, port)`` of a listener whose accept queue is full.

    The kernel drops further SYNs, so a connect there gets no answer at all, as
    with a route that eats packets. The queue is filled with connects until one
    goes unanswered for `FULL_QUEUE_PROBE` seconds.
    """
    fillers = []
    with gevent.socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((loopback(family), 0))
        server.listen(0)
        try:
            for _ in range(16):
                filler = gevent.socket.socket(family, socket.SOCK_STREAM)
                fillers.append(filler)
                filler.settimeout(FULL_QUEUE_PROBE)
                try:
                    filler.connect(server.getsockname())
                except socket.timeout:
                    break
            else:
                raise RuntimeError('could not fill the accept queue')
            yield server.getsockname()[:2]
        finally:
            for filler in fillers:
                filler.close()


def inet(host, port, protocol=0):
    """An docs/api.md section 1 4-tuple for a TCP address over IPv4."""
    return (socket.AF_INET, socket.SOCK_STREAM, protocol, (host, port))


def echo(stream, buffer, eof):
    """An ``on_read`` that writes back whatever arrives."""
    stream.write(bytes(buffer))
    del buffer[:]
    return 0


def echo_into(loop):
    """An ``on_stream`` continuation that makes each new stream echo in ``loop``."""
    def on_stream(stream):
        stream.configure(on_read=echo)
        loop.add(stream)
    return on_stream


def round_trip(address, family=socket.AF_INET, payload=b'ping'):
    """Connect to an echoing listener, send, and return what comes back."""
    with gevent.socket.socket(family, socket.SOCK_STREAM) as client:
        client.connect(address)
        client.sendall(payload)
        return recv_exactly(client, len(payload))


class RecordingConnector(geventio.Connector):
    """A Connector that notes when each attempt makes its socket (seconds since
    ``t0``) and keeps every socket it made."""

    def __init__(self, loop):
        super().__init__(loop)
        self.t0 = time.monotonic()
        self.started = []
        self.sockets = []

    def socket_factory(self, family, socktype, protocol):
        self.started.append(time.monotonic() - self.t0)
        sock = geventio.Connector.socket_factory(family, socktype, protocol)
        self.sockets.append(sock)
        return sock
