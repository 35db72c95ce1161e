"""The Listener's accept-error policy: capacity errors back off and never close
it, per-connection errors retry at once, a broken listening socket closes it
unless on_accept_error handles it. EMFILE is provoked for real."""

import errno
import os
import resource
import socket
import time

import gevent
import gevent.socket
import pytest
from gevent.event import Event

import geventio
from conftest import recv_exactly
from netutil import echo_into, round_trip


class ScriptedSocket:
    """A real listening socket whose accept() first raises scripted errors; it
    notes the time of every accept() call."""

    def __init__(self, errnos):
        self._sock = gevent.socket.socket()
        self._sock.bind(('127.0.0.1', 0))
        self._sock.listen(8)
        self.errors = [OSError(code, os.strerror(code)) for code in errnos]
        self.calls = []

    def accept(self):
        self.calls.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return self._sock.accept()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class QuickListener(geventio.Listener):
    min_delay = 0.02
    max_delay = 0.05


def serve(loop, sock, listener_class=QuickListener, **params):
    listener = listener_class(handle=sock, on_stream=lambda l, s: echo_into(loop)(s),
                              **params)
    loop.add(listener)
    return listener


def gaps(calls):
    return [later - earlier for earlier, later in zip(calls, calls[1:])]


def test_emfile_backs_off_and_the_client_is_served_once_fds_are_free(loop):
    """Descriptors are really exhausted under a lowered RLIMIT_NOFILE."""
    errors, told = [], Event()
    listener = loop.listen(addr={'ip': '127.0.0.1', 'port': 0},
                           on_stream=echo_into(loop),
                           on_accept_error=lambda sock, err: (errors.append((sock, err)),
                                                              told.set())).get()
    client = gevent.socket.socket()          # made while descriptors remain
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers = []
    try:
        highest = max(int(fd) for fd in os.listdir('/proc/self/fd'))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 16, hard))
        with pytest.raises(OSError) as exhausted:
            while True:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
        assert exhausted.value.errno == errno.EMFILE
        client.connect(listener.sockname)    # needs no new descriptor
        told.wait()
        assert listener.is_listening
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with client:
        client.sendall(b'ping')
        assert recv_exactly(client, 4) == b'ping'
    sock, err = errors[0]
    assert err.errno == errno.EMFILE and sock is listener.sockets[0]


@pytest.mark.parametrize('code', sorted(geventio.ioasync._acceptor.ACCEPT_CAPACITY_ERRNOS))
def test_capacity_errors_back_off_doubling_and_never_close(loop, code):
    sock = ScriptedSocket([code] * 4)
    told = []
    listener = serve(loop, sock, on_accept_error=lambda l, s, err: told.append(err))
    assert round_trip(sock.getsockname()) == b'ping'
    assert [err.errno for err in told] == [code] * 4
    planned = [0.02, 0.04, 0.05, 0.05]          # min_delay doubling to max_delay
    for gap, pause in zip(gaps(sock.calls), planned):
        assert gap >= pause - 0.005, gaps(sock.calls)
    assert listener.is_listening


def test_capacity_errors_without_a_handler_do_not_close_the_listener(loop):
    sock = ScriptedSocket([errno.ENFILE, errno.ENOMEM])
    listener = serve(loop, sock)
    assert round_trip(sock.getsockname()) == b'ping'
    assert listener.is_listening and len(sock.calls) >= 3


def test_the_back_off_resets_after_a_success(loop):
    sock = ScriptedSocket([errno.ENOBUFS] * 3)
    listener = serve(loop, sock)
    assert round_trip(sock.getsockname()) == b'ping'
    first = len(sock.calls)
    sock.errors = [OSError(errno.ENOBUFS, 'again')]
    assert round_trip(sock.getsockname()) == b'ping'
    assert gaps(sock.calls[first:])[0] < 0.04     # min_delay again, not doubled
    assert listener.is_listening


def test_per_connection_errors_are_told_and_accepting_goes_on_at_once(loop):
    class SlowBackOff(geventio.Listener):
        min_delay = max_delay = 5.0     # a back-off would show as a 5 s gap

    sock = ScriptedSocket([errno.EPROTO, errno.ECONNRESET])
    told = []
    serve(loop, sock, SlowBackOff, on_accept_error=lambda l, s, err: told.append(err.errno))
    assert round_trip(sock.getsockname()) == b'ping'
    assert told == [errno.EPROTO, errno.ECONNRESET]
    assert max(gaps(sock.calls)) < 1.0


def test_a_broken_listening_socket_closes_a_listener_without_handler(loop, callback_errors):
    sock = ScriptedSocket([errno.EBADF])
    closed = Event()
    listener = serve(loop, sock, on_closed=lambda l: closed.set())
    with gevent.socket.create_connection(sock.getsockname()):
        closed.wait()
    assert not listener.is_listening and listener.loop is None
    assert 'closing' in callback_errors[0].getMessage()


def test_a_broken_listening_socket_is_told_to_the_handler_and_backs_off(loop):
    sock = ScriptedSocket([errno.EINVAL])
    told = []
    listener = serve(loop, sock, on_accept_error=lambda l, s, err: told.append(err.errno))
    assert round_trip(sock.getsockname()) == b'ping'
    assert told == [errno.EINVAL] and listener.is_listening
    assert gaps(sock.calls)[0] >= 0.015


def test_closing_during_a_back_off_stops_the_retry(loop):
    sock = ScriptedSocket([errno.EMFILE] * 100)
    told = Event()
    listener = serve(loop, sock, on_accept_error=lambda l, s, err: told.set())
    with gevent.socket.create_connection(sock.getsockname()):
        told.wait()
        listener.close()
        calls = len(sock.calls)
        gevent.sleep(0.1)      # longer than max_delay: a live timer would fire
    assert len(sock.calls) == calls
    assert sock.fileno() == -1


def test_accepting_is_fair_between_listening_sockets(loop):
    """Each listening socket has its own greenlet: a callback blocked on one
    does not stop the other."""
    release = Event()
    blocked = []

    def on_accept(sock):
        if sock.getsockname()[1] == first_port:
            blocked.append(sock)
            release.wait()
        sock.sendall(b'hi')
        sock.close()

    listener = loop.listen(addrs=[{'ip': '127.0.0.1', 'port': 0}] * 2,
                           on_accept=on_accept).get()
    first_port, second_port = (s.getsockname()[1] for s in listener.sockets)
    with gevent.socket.create_connection(('127.0.0.1', first_port)) as first:
        with gevent.socket.create_connection(('127.0.0.1', second_port)) as second:
            assert recv_exactly(second, 2) == b'hi'
        release.set()
        assert recv_exactly(first, 2) == b'hi'
    assert socket.AF_INET == listener.family
