"""Loop.shutdown (graceful stop) and the context managers of Loop and Handle."""

import socket

import gevent
import gevent.socket
import pytest

import geventio
from conftest import WAIT, Log, make_stream, recv_exactly, settle

#: More than a socketpair's kernel buffers hold, so that a peer that does not
#: read keeps most of it queued in the stream.
BIG = 8 * 1024 * 1024


def read_to_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def test_shutdown_delivers_queued_replies_before_closing(loop, socketpair):
    ours, theirs = socketpair
    stream = make_stream(loop, ours)
    stream.write(b'x' * BIG)
    reader = gevent.spawn(read_to_eof, theirs)
    assert loop.shutdown(timeout=WAIT) == 0
    assert stream.is_closed
    assert len(reader.get(timeout=WAIT)) == BIG
    assert loop.notifiers == ()


def test_shutdown_closes_at_once_what_is_still_flushing_after_the_timeout(
        loop, socketpair, sockets):
    ours, theirs = socketpair
    stream = make_stream(loop, ours)
    pending = stream.write(b'x' * BIG)
    idle = make_stream(loop, sockets.keep(*gevent.socket.socketpair())[0])
    assert loop.shutdown(timeout=0.1) == 1
    assert stream.is_closed and idle.is_closed
    with pytest.raises(geventio.StreamClosedError):
        pending.get(timeout=WAIT)


def test_shutdown_stops_every_listener_and_closes_its_accepted_streams(loop):
    accepted = Log()

    def on_stream(stream):
        stream.configure(on_read=lambda stream, buffer, eof: 0)
        listener.add_child(stream)
        accepted.append(stream)

    listener = geventio.Listener(on_stream=lambda _listener, stream: on_stream(stream))
    loop.add(listener)
    listener.listen(addr=('inet', 'stream', 0, ('127.0.0.1', 0))).get(timeout=WAIT)
    address = listener.sockname
    with gevent.socket.create_connection(address) as client:
        accepted.wait_for(1)
        accepted[0].write(b'bye')
        assert loop.shutdown(timeout=WAIT) == 0
        assert not listener.is_listening and accepted[0].is_closed
        assert recv_exactly(client, 3) == b'bye'
        assert client.recv(10) == b''
    with pytest.raises(ConnectionRefusedError):
        gevent.socket.create_connection(address, timeout=WAIT).close()


def test_shutdown_closes_datagram_sockets_and_timers_too(loop):
    a, b = gevent.socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b.close()
    datagrams = geventio.Socket(handle=a, on_recv=lambda sock, data, addr: None)
    loop.add(datagrams)
    fired = []
    loop.watch_time(lambda: fired.append(1), after=0)
    assert loop.shutdown() == 0
    assert datagrams.is_closed and loop.notifiers == ()
    settle()                # whole hub iterations: a due timer would have fired
    assert fired == []


@pytest.mark.parametrize('bad, error', [('1', TypeError), (-1, ValueError),
                                        (True, TypeError)])
def test_a_bad_timeout_raises_naming_it(loop, bad, error):
    with pytest.raises(error, match='timeout') as raised:
        loop.shutdown(timeout=bad)
    assert repr(bad) in str(raised.value)


def test_leaving_a_with_block_closes_the_loop_and_everything_in_it(socketpair):
    ours, theirs = socketpair
    with geventio.Loop() as loop:
        stream = make_stream(loop, ours)
        assert loop.notifiers == (stream,)
    assert stream.is_closed and loop.notifiers == ()


def test_leaving_a_with_block_closes_a_stream_once_its_writes_are_out(
        loop, socketpair):
    ours, theirs = socketpair
    with make_stream(loop, ours) as stream:
        stream.write(b'last words')
    assert recv_exactly(theirs, 10) == b'last words'
    assert stream.new_close_future().get(timeout=WAIT) is stream
    assert theirs.recv(10) == b''


def test_a_listener_is_a_context_manager_too(loop):
    with geventio.Listener(on_accept=lambda listener, sock: sock.close()) as listener:
        loop.add(listener)
        listener.listen(addr=('inet', 'stream', 0, ('127.0.0.1', 0))).get(timeout=WAIT)
        assert listener.is_listening
    assert listener.is_closed and not listener.is_listening
