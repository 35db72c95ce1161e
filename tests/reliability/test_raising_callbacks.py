"""Every event of every class raising: the exception is logged at ERROR with its
traceback on the ``geventio`` logger, the handle that raised is closed (for a
continuation or an accept event: nothing, or only the new connection), and a
hundred neighbouring echo streams in the same loop go on unharmed.

Each scenario makes one handle whose event raises `DeliberateError` and provokes that
event; it returns what must end up closed (or ``None``).
"""

import errno
import os
import socket

import gevent
import gevent.socket
import pytest

import geventio
from conftest import WAIT, Log, recv_exactly
from .servers import LOCAL, echo

#: Neighbours that must keep working.
NEIGHBOURS = 100

MIB = 1024 * 1024


class DeliberateError(RuntimeError):
    """What every callback under test raises."""


def boom(*args):
    raise DeliberateError('raised on purpose')


def noop(*args):
    return 0


@pytest.fixture
def neighbours(loop, sockets):
    """``check()`` echoes a distinct message through each of `NEIGHBOURS`
    streams in ``loop`` and asserts every byte comes back."""
    peers = []
    for _ in range(NEIGHBOURS):
        a, b = sockets.keep(*gevent.socket.socketpair())
        loop.add(geventio.Stream(handle=a, on_read=echo))
        peers.append(b)

    def check():
        for number, peer in enumerate(peers):
            peer.sendall(b'neighbour %03d' % number)
        for number, peer in enumerate(peers):
            assert recv_exactly(peer, 13) == b'neighbour %03d' % number
    check()
    return check


def stream(loop, sockets, **params):
    """A Stream on one end of a socketpair in ``loop``, and the other end."""
    a, b = sockets.keep(*gevent.socket.socketpair())
    params.setdefault('on_read', noop)
    made = geventio.Stream(handle=a, **params)
    loop.add(made)
    return made, b


# -- Stream ----------------------------------------------------------------------

def s_on_read(loop, sockets):
    made, peer = stream(loop, sockets, on_read=boom)
    peer.sendall(b'x')
    return made


def s_temporary_reader(loop, sockets):
    made, peer = stream(loop, sockets)
    made.push_on_read(boom)
    peer.sendall(b'x')
    return made


def s_on_read_eof(loop, sockets):
    made, peer = stream(loop, sockets, on_read_eof=boom)
    peer.close()
    return made


def s_on_write_eof(loop, sockets):
    made, peer = stream(loop, sockets, on_write_eof=boom)
    peer.close()
    made.write(b'into a closed peer')
    return made


def s_on_read_error(loop, sockets):
    made, peer = stream(loop, sockets, max_read_buffer=4, read_len=4, on_read_error=boom)
    peer.sendall(b'more than four')
    return made


def s_on_write_error(loop, sockets):
    made, _ = stream(loop, sockets, max_write_queue=4, on_write_error=boom)
    made.write(b'more than four')
    return made


def s_on_error_of_a_write(loop, sockets):
    made, _ = stream(loop, sockets, max_write_queue=4, on_write_error=noop)
    made.write(b'more than four', on_error=boom)
    return made


def s_on_write_of_a_write(loop, sockets):
    made, _ = stream(loop, sockets)
    made.write(b'x', on_write=boom)
    return made


def s_on_flush_of_a_write(loop, sockets):
    made, _ = stream(loop, sockets)
    made.write(b'x', on_flush=boom)
    return made


def s_write_generator(loop, sockets):
    made, _ = stream(loop, sockets)
    made.write(boom)
    return made


def s_on_outgoing_empty(loop, sockets):
    made, _ = stream(loop, sockets, on_outgoing_empty=boom)
    made.write(b'x')
    return made


def s_on_closed(loop, sockets):
    made, _ = stream(loop, sockets, on_closed=boom)
    made.close()
    return made


def s_on_read_high_watermark(loop, sockets):
    made, peer = stream(loop, sockets, read_high_watermark=4, read_low_watermark=2,
                        on_read_high_watermark=boom)
    peer.sendall(b'12345')
    return made


def s_on_read_low_watermark(loop, sockets):
    calls = Log()

    def keep_then_consume(s, buffer, eof):
        calls.append(len(buffer))
        if len(calls) > 1:
            del buffer[:]
        return 0

    made, peer = stream(loop, sockets, read_high_watermark=4, read_low_watermark=2,
                        on_read=keep_then_consume, on_read_high_watermark=noop,
                        on_read_low_watermark=boom)
    peer.sendall(b'12345')
    calls.wait_for(1)
    peer.sendall(b'6')
    return made


def s_on_writeable_stop(loop, sockets):
    made, _ = stream(loop, sockets, on_writeable_stop=boom)
    made.write(b'w' * (8 * MIB))
    return made


def s_on_writeable_start(loop, sockets):
    stopped = Log()
    made, peer = stream(loop, sockets, on_writeable_stop=lambda s: stopped.append(1),
                        on_writeable_start=boom)
    made.write(b'w' * (8 * MIB))
    stopped.wait_for(1)
    gevent.spawn(drain, peer)
    return made


def drain(peer):
    try:
        while peer.recv(MIB):
            pass
    except OSError:
        pass


def s_on_idle_timeout(loop, sockets):
    made, _ = stream(loop, sockets, idle_timeout=0.05, on_idle_timeout=boom)
    return made


def s_on_write_high_watermark(loop, sockets):
    made, _ = stream(loop, sockets, write_high_watermark=4, write_low_watermark=0,
                     on_write_high_watermark=boom)
    made.write(b'12345')
    return made


def s_on_write_low_watermark(loop, sockets):
    made, _ = stream(loop, sockets, write_high_watermark=4, write_low_watermark=0,
                     on_write_high_watermark=noop, on_write_low_watermark=boom)
    made.write(b'12345')
    return made


# -- Handle ----------------------------------------------------------------------

def h_on_read_ready(loop, sockets):
    a, b = sockets.keep(*gevent.socket.socketpair())
    made = geventio.Handle(handle=a, on_read_ready=boom)
    loop.add(made)
    b.sendall(b'x')
    return made


def h_on_write_ready(loop, sockets):
    a, _ = sockets.keep(*gevent.socket.socketpair())
    made = geventio.Handle(handle=a, want_readready=False, want_writeready=True,
                           on_write_ready=boom)
    loop.add(made)
    return made


def h_on_closed(loop, sockets):
    a, _ = sockets.keep(*gevent.socket.socketpair())
    made = geventio.Handle(handle=a, on_read_ready=noop, on_closed=boom)
    loop.add(made)
    made.close()
    return made


# -- Socket ----------------------------------------------------------------------

def datagrams(loop, sockets, **params):
    a, b = sockets.keep(*gevent.socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
    params.setdefault('on_recv', noop)
    made = geventio.Socket(handle=a, **params)
    loop.add(made)
    return made, b


def d_on_recv(loop, sockets):
    made, peer = datagrams(loop, sockets, on_recv=boom)
    peer.send(b'x')
    return made


def d_on_recv_error(loop, sockets):
    made, peer = datagrams(loop, sockets, recv_len=2, on_recv_error=boom)
    peer.send(b'too long')
    return made


def d_on_send_error(loop, sockets):
    made, peer = datagrams(loop, sockets, on_send_error=boom)
    peer.close()
    made.send(b'to nobody')
    return made


def d_on_outgoing_empty(loop, sockets):
    made, _ = datagrams(loop, sockets, on_outgoing_empty=boom)
    made.send(b'x')
    return made


def d_on_closed(loop, sockets):
    made, _ = datagrams(loop, sockets, on_closed=boom)
    made.close()
    return made


# -- Listener --------------------------------------------------------------------

def listener(loop, **params):
    made = geventio.Listener(**params)
    loop.add(made)
    made.listen(addr=LOCAL).get(timeout=WAIT)
    return made


def accepted_and_closed(made):
    """Connect; the accept event raised, so the new connection is closed and
    the listener goes on. Returns ``None``: nothing else is to close."""
    with gevent.socket.create_connection(made.sockname) as client:
        client.settimeout(WAIT)
        try:
            assert client.recv(1) == b''
        except ConnectionResetError:
            pass
    assert made.is_listening
    made.close()


def l_on_accept(loop, sockets):
    accepted_and_closed(listener(loop, on_accept=boom))


def l_on_stream(loop, sockets):
    accepted_and_closed(listener(loop, on_stream=boom))


def l_on_socket(loop, sockets):
    accepted_and_closed(listener(loop, on_socket=boom))


def l_handle_constructor(loop, sockets):
    accepted_and_closed(listener(loop, on_stream=noop, handle_constructor=boom))


class FailingAccept:
    """A listening socket whose accept() fails once with EMFILE."""

    def __init__(self, sock):
        self._sock, self._failed = sock, False

    def accept(self):
        if not self._failed:
            self._failed = True
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return self._sock.accept()

    def __getattr__(self, name):
        return getattr(self._sock, name)


def l_on_accept_error(loop, sockets):
    sock = sockets.keep(gevent.socket.socket())
    sock.bind(('127.0.0.1', 0))
    sock.listen(8)
    made = geventio.Listener(handle=FailingAccept(sock), on_stream=noop,
                             on_accept_error=boom)
    loop.add(made)
    sockets.keep(gevent.socket.create_connection(sock.getsockname()))
    return made


def l_on_closed(loop, sockets):
    made = listener(loop, on_accept=noop, on_closed=boom)
    made.close()
    return made


# -- continuations of Loop and Connector -----------------------------------------

def c_later(loop, sockets):
    done = Log()
    loop.later(boom)
    loop.later(done.append, 'after')
    done.wait_for(1)


def c_watch_time(loop, sockets):
    done = Log()
    loop.watch_time(boom, after=0.01)
    loop.watch_time(lambda: done.append('after'), after=0.02)
    done.wait_for(1)


def c_on_connected(loop, sockets):
    with gevent.socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        future = loop.connect(addr=LOCAL | {'port': server.getsockname()[1]},
                              on_connected=boom)
        with pytest.raises(DeliberateError):
            future.get(timeout=WAIT)


def c_on_connect_error(loop, sockets):
    with gevent.socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    failed = Log()
    loop.connect(addr=LOCAL | {'port': port}, on_fail=boom,
                 on_connect_error=boom).rawlink(failed.append)
    failed.wait_for(1)
    assert isinstance(failed[0].exception, geventio.ConnectError)


def c_on_listen(loop, sockets):
    listening = loop.listen(addr=LOCAL, on_accept=noop, on_listen=boom).get(timeout=WAIT)
    listening.close()


SCENARIOS = {
    'Stream.on_read': s_on_read, 'Stream temporary reader': s_temporary_reader,
    'Stream.on_read_eof': s_on_read_eof, 'Stream.on_write_eof': s_on_write_eof,
    'Stream.on_read_error': s_on_read_error, 'Stream.on_write_error': s_on_write_error,
    'write on_error': s_on_error_of_a_write, 'write on_write': s_on_write_of_a_write,
    'write on_flush': s_on_flush_of_a_write, 'write generator': s_write_generator,
    'Stream.on_outgoing_empty': s_on_outgoing_empty, 'Stream.on_closed': s_on_closed,
    'Stream.on_read_high_watermark': s_on_read_high_watermark,
    'Stream.on_read_low_watermark': s_on_read_low_watermark,
    'Stream.on_writeable_stop': s_on_writeable_stop,
    'Stream.on_writeable_start': s_on_writeable_start,
    'Stream.on_idle_timeout': s_on_idle_timeout,
    'Stream.on_write_high_watermark': s_on_write_high_watermark,
    'Stream.on_write_low_watermark': s_on_write_low_watermark,
    'Handle.on_read_ready': h_on_read_ready, 'Handle.on_write_ready': h_on_write_ready,
    'Handle.on_closed': h_on_closed,
    'Socket.on_recv': d_on_recv, 'Socket.on_recv_error': d_on_recv_error,
    'Socket.on_send_error': d_on_send_error,
    'Socket.on_outgoing_empty': d_on_outgoing_empty, 'Socket.on_closed': d_on_closed,
    'Listener.on_accept': l_on_accept, 'Listener.on_stream': l_on_stream,
    'Listener.on_socket': l_on_socket,
    'Listener.handle_constructor': l_handle_constructor,
    'Listener.on_accept_error': l_on_accept_error, 'Listener.on_closed': l_on_closed,
    'Loop.later': c_later, 'Loop.watch_time': c_watch_time,
    'connect on_connected': c_on_connected,
    'connect on_fail, on_connect_error': c_on_connect_error,
    'listen on_listen': c_on_listen,
}


@pytest.mark.parametrize('name', SCENARIOS)
def test_a_raising_callback_closes_only_its_own_handle(loop, sockets, neighbours,
                                                       callback_errors, name):
    raised = SCENARIOS[name](loop, sockets)
    if raised is not None:
        assert raised.new_close_future().get(timeout=WAIT) is raised
    assert callback_errors, 'nothing was logged'
    assert all(record.exc_info and record.exc_info[0] is DeliberateError
               for record in callback_errors), [r.getMessage() for r in callback_errors]
    neighbours()
