"""Loopback peers for the Listener and Connector tests: live listeners, closed
ports and blackholes. Nothing here sends a packet off this machine."""

import contextlib
import socket

import gevent.socket

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
