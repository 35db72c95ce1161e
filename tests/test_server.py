"""geventio.server.stream_handler: a Stream per StreamServer connection, run on
the handler's own greenlet, with gevent's pool limit and stop(timeout)."""

import ssl
import time

import gevent
import gevent.socket
import gevent.ssl
import pytest
import trustme
from gevent.pool import Pool
from gevent.server import StreamServer
from greenlet import getcurrent

import geventio
from geventio.server import default_loop, prefork, stream_handler
from conftest import WAIT, Log, recv_exactly


def echo(stream, buffer, eof):
    stream.write(bytes(buffer))
    del buffer[:]
    return 0


class Served:
    """A StreamServer on 127.0.0.1 whose handler is ``stream_handler(on_stream)``,
    recording each handler call's socket and greenlet."""

    def __init__(self, on_stream, loop=None, spawn=None):
        self.handler = stream_handler(on_stream, loop)
        self.calls = Log()
        self.server = StreamServer(('127.0.0.1', 0), self._handle,
                                   spawn=Pool(10) if spawn is None else spawn)
        self.server.start()
        self.clients = []

    def _handle(self, sock, address):
        self.calls.append((sock, getcurrent()))
        self.handler(sock, address)

    def connect(self):
        client = gevent.socket.create_connection(self.server.address, timeout=WAIT)
        self.clients.append(client)
        return client

    def close(self):
        for client in self.clients:
            client.close()
        self.server.stop(timeout=WAIT)


@pytest.fixture
def served(loop):
    made = []

    def serve(on_stream, **kwargs):
        kwargs.setdefault('loop', loop)
        made.append(Served(on_stream, **kwargs))
        return made[-1]

    yield serve
    for one in made:
        one.close()


def test_the_stream_wraps_the_very_socket_and_its_callbacks_run_on_the_handler(served):
    seen = Log()

    def on_stream(stream, address):
        seen.append(('on_stream', stream, getcurrent(), address))

        def on_read(stream, buffer, eof):
            seen.append(('on_read', stream, getcurrent(), bytes(buffer)))
            return echo(stream, buffer, eof)
        stream.configure(on_read=on_read)

    server = served(on_stream)
    client = server.connect()
    client.sendall(b'ping')
    assert recv_exactly(client, 4) == b'ping'
    sock, handler_greenlet = server.calls[0]
    (_, stream, first, address), (_, same_stream, second, data) = seen.wait_for(2)
    assert stream.read_handle is sock and same_stream is stream
    assert first is second is handler_greenlet
    assert address == client.getsockname() and data == b'ping'


def test_the_handler_returns_only_once_the_stream_has_closed(served):
    closed = Log()
    server = served(lambda stream, address: stream.configure(
        on_read=echo, on_closed=lambda stream: closed.append(stream)))
    client = server.connect()
    client.sendall(b'x')
    assert recv_exactly(client, 1) == b'x'
    _, handler_greenlet = server.calls[0]
    assert not handler_greenlet.dead
    client.close()
    handler_greenlet.join(WAIT)
    assert handler_greenlet.dead and closed
    assert closed[0].is_closed and closed[0].loop is None


def test_a_callback_may_block_on_its_own_streams_future(served):
    """A length-prefixed protocol read with a future inside on_read."""
    def on_read(stream, buffer, eof):
        if eof:
            return 0
        size = int(stream.read_exactly(1).get(timeout=WAIT))
        stream.write(stream.read_exactly(size).get(timeout=WAIT).upper())
        return 1

    server = served(lambda stream, address: stream.configure(on_read=on_read))
    client = server.connect()
    client.sendall(b'3abc')
    assert recv_exactly(client, 3) == b'ABC'
    client.sendall(b'5')
    client.sendall(b'hello')
    assert recv_exactly(client, 5) == b'HELLO'


def test_a_pool_counts_open_streams(served):
    accepted = Log()

    def on_stream(stream, address):
        accepted.append(stream)
        stream.configure(on_read=echo)

    server = served(on_stream, spawn=Pool(1))
    first = server.connect()
    first.sendall(b'1')
    assert recv_exactly(first, 1) == b'1'
    second = server.connect()       # queued in the kernel's backlog
    second.sendall(b'2')
    with pytest.raises(TimeoutError):
        second.settimeout(0.1)
        second.recv(1)
    assert len(accepted) == 1
    first.close()
    second.settimeout(WAIT)
    assert recv_exactly(second, 1) == b'2'
    assert len(accepted.wait_for(2)) == 2


def test_stop_waits_for_open_streams_to_close(served):
    server = served(lambda stream, address: stream.configure(on_read=echo))
    client = server.connect()
    client.sendall(b'x')
    assert recv_exactly(client, 1) == b'x'
    started = time.monotonic()
    stopper = gevent.spawn(server.server.stop, WAIT)
    gevent.sleep(0)                 # (stop() now waits on the pool)
    assert not stopper.dead
    client.sendall(b'still served')
    assert recv_exactly(client, 12) == b'still served'
    client.close()
    stopper.join(WAIT)
    assert stopper.dead and time.monotonic() - started < WAIT / 2


def test_stop_closes_the_streams_still_open_after_its_timeout(served):
    closed = Log()
    server = served(lambda stream, address: stream.configure(
        on_read=echo, on_closed=lambda stream: closed.append(stream)))
    client = server.connect()
    client.sendall(b'x')
    assert recv_exactly(client, 1) == b'x'
    server.server.stop(timeout=0.05)
    assert closed and closed[0].is_closed
    assert client.recv(1) == b''
    _, handler_greenlet = server.calls[0]
    assert handler_greenlet.dead


def test_closing_the_stream_from_elsewhere_ends_its_handler(served, loop):
    streams = Log()

    def on_stream(stream, address):
        stream.configure(on_read=echo)
        streams.append(stream)

    server = served(on_stream)
    client = server.connect()
    (stream,) = streams.wait_for(1)
    _, handler_greenlet = server.calls[0]
    stream.write(b'bye')
    stream.close()                  # from the test's greenlet, not the handler's
    assert recv_exactly(client, 3) == b'bye'
    assert client.recv(1) == b''
    handler_greenlet.join(WAIT)
    assert handler_greenlet.dead and stream.is_closed


def test_a_stream_removed_from_its_loop_keeps_its_handler_until_it_closes(
        served, loop):
    streams = Log()

    def on_stream(stream, address):
        stream.configure(on_read=echo)
        streams.append(stream)

    server = served(on_stream)
    client = server.connect()
    (stream,) = streams.wait_for(1)
    _, handler_greenlet = server.calls[0]
    loop.remove(stream)
    gevent.sleep(0)
    assert not handler_greenlet.dead and not stream.is_closed
    other = geventio.Loop()
    other.add(stream)               # now on a greenlet of its own
    client.sendall(b'on')
    assert recv_exactly(client, 2) == b'on'
    other.close()
    handler_greenlet.join(WAIT)
    assert handler_greenlet.dead


@pytest.mark.parametrize('mistake', ['raises', 'no on_read', 'adds it itself'])
def test_a_broken_on_stream_is_logged_and_closes_that_connection(
        served, loop, callback_errors, mistake):
    def on_stream(stream, address):
        if mistake == 'raises':
            raise RuntimeError('broken on_stream')
        if mistake == 'adds it itself':
            stream.configure(on_read=echo)
            loop.add(stream)

    server = served(on_stream)
    client = server.connect()
    assert client.recv(1) == b''
    _, handler_greenlet = server.calls[0]
    handler_greenlet.join(WAIT)
    assert handler_greenlet.dead and handler_greenlet.successful()
    assert len(callback_errors) == 1
    assert 'on_stream' in callback_errors[0].getMessage()
    assert loop.notifiers == ()


def test_without_a_loop_streams_join_the_default_loop(served):
    streams = Log()

    def on_stream(stream, address):
        stream.configure(on_read=echo)
        streams.append(stream)

    server = served(on_stream, loop=None)
    client = server.connect()
    (stream,) = streams.wait_for(1)
    assert stream.loop is default_loop() is default_loop()
    client.close()
    server.calls[0][1].join(WAIT)
    assert stream not in default_loop().notifiers


def test_the_handler_refuses_to_run_on_the_hub(sockets):
    handler = stream_handler(lambda stream, address: None)
    sock, _ = sockets.keep(*gevent.socket.socketpair())
    outcome = gevent.event.AsyncResult()

    def on_hub():
        try:
            handler(sock, None)
        except RuntimeError as err:
            outcome.set(err)

    gevent.get_hub().loop.run_callback(on_hub)
    assert 'spawn=None' in str(outcome.get(timeout=WAIT))


@pytest.mark.parametrize('args, message', [
    (('not callable',), "on_stream must be callable, not 'not callable'"),
    ((print, 'loop'), "loop must be a geventio.Loop, not 'loop'")])
def test_bad_arguments_raise_at_the_call(args, message):
    with pytest.raises(TypeError, match=message):
        stream_handler(*args)


@pytest.mark.parametrize('args, error, message', [
    ((0, print), ValueError, 'workers must be positive'),
    (('2', print), TypeError, "workers must be an int, not '2'"),
    ((True, print), TypeError, 'workers must be an int, not True'),
    ((2, 'serve'), TypeError, "serve must be callable, not 'serve'")])
def test_prefork_refuses_bad_arguments_before_forking(args, error, message):
    with pytest.raises(error, match=message):
        prefork(*args)


def test_a_tls_server_hands_its_secured_socket_to_the_stream(loop):
    """StreamServer(ssl_context=...) wraps each socket before the handler runs."""
    authority = trustme.CA()
    # gevent's contexts: the server's handshake runs in its handler greenlet.
    server_context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert('localhost').configure_cert(server_context)
    client_context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    authority.configure_trust(client_context)
    handles = Log()

    def on_stream(stream, address):
        handles.append(stream.read_handle)
        stream.configure(on_read=echo)

    server = StreamServer(('127.0.0.1', 0), stream_handler(on_stream, loop),
                          spawn=Pool(2), ssl_context=server_context)
    server.start()
    try:
        raw = gevent.socket.create_connection(server.address, timeout=WAIT)
        with client_context.wrap_socket(raw, server_hostname='localhost') as client:
            client.sendall(b'secret')
            assert recv_exactly(client, 6) == b'secret'
        assert hasattr(handles[0], 'getpeercert')     # the SSLSocket itself
    finally:
        server.stop(timeout=WAIT)


def test_a_stream_closed_by_on_stream_is_not_added_to_the_loop(served, loop):
    """on_stream refusing a peer by closing its stream: the loop must not keep
    the closed stream, or it grows by one per refused connection."""
    def refuse(stream, address):
        stream.configure(on_read=echo)
        stream.close()

    server = served(refuse)
    for _ in range(3):
        client = server.connect()
        assert client.recv(1) == b''
    for _, handler_greenlet in server.calls.wait_for(3):
        handler_greenlet.join(WAIT)
        assert handler_greenlet.dead
    assert loop.notifiers == ()
