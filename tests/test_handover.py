"""What Listener and Connector hand over: a Stream geventio builds around a TCP
socket it accepted or connected has Nagle's algorithm off; a socket handed over
bare, and a handle the user passed in, are left as they are."""

import os
import socket
import subprocess
import sys

import gevent.socket
import pytest
from gevent.event import AsyncResult

import geventio
from conftest import HAS_IPV6, WAIT
from netutil import live_listener, loopback

FAMILIES = [socket.AF_INET] + ([socket.AF_INET6] if HAS_IPV6 else [])


def nodelay(sock):
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def address(family, port=0):
    return {'family': family, 'socktype': 'stream', 'ip': loopback(family), 'port': port}


def accept_one(loop, family, params):
    """Listen with ``params(got)``, connect once; returns (what the accept event got,
    the client socket, the listener)."""
    got = AsyncResult()
    listener = loop.listen(addr=address(family), **params(got)).get(timeout=WAIT)
    client = gevent.socket.create_connection(listener.sockname[:2], timeout=WAIT)
    return got.get(timeout=WAIT), client, listener


@pytest.mark.parametrize('family', FAMILIES)
def test_an_accepted_stream_has_nagle_off(loop, family):
    stream, client, listener = accept_one(loop, family, lambda got: {'on_stream': got.set})
    with client, stream:
        listener.close()
        assert nodelay(stream.read_handle)


@pytest.mark.parametrize('family', FAMILIES)
def test_a_connected_stream_has_nagle_off(loop, family):
    with live_listener(family) as server:
        stream = loop.connect(addr=address(family, server.getsockname()[1]),
                              on_stream=lambda stream: None).get(timeout=WAIT)
        accepted, _ = server.accept()
        with accepted, stream:
            assert nodelay(stream.read_handle)


def test_a_stream_of_handle_class_or_connect_handle_has_nagle_off(loop):
    stream, client, listener = accept_one(
        loop, socket.AF_INET,
        lambda got: {'handle_class': geventio.Stream, 'on_stream': got.set})
    with client, stream:
        assert nodelay(stream.read_handle)
        mine = geventio.Stream()
        assert loop.connect(handle=mine, addr=address(socket.AF_INET, listener.sockname[1])
                            ).get(timeout=WAIT) is mine
        with mine:
            assert nodelay(mine.read_handle)
        listener.close()


def test_sockets_handed_over_bare_are_left_to_their_receiver(loop):
    sock, client, listener = accept_one(loop, socket.AF_INET,
                                        lambda got: {'on_accept': got.set})
    with client, sock:
        assert not nodelay(sock)
        connected = loop.connect(addr=address(socket.AF_INET, listener.sockname[1])
                                 ).get(timeout=WAIT)
        with connected:
            assert not nodelay(connected)
        listener.close()


def test_a_handle_passed_in_is_used_as_it_is(loop):
    with live_listener() as server:
        client = gevent.socket.create_connection(server.getsockname(), timeout=WAIT)
        accepted, _ = server.accept()
        with accepted, geventio.Stream(handle=client, on_read=lambda *args: 0) as stream:
            loop.add(stream)
            assert not nodelay(client)


def echo(stream, buffer, eof):
    stream.write(bytes(buffer))
    del buffer[:]
    return 0


def round_trip(sock, data=b'ping'):
    sock.sendall(data)
    got = b''
    while len(got) < len(data):
        chunk = sock.recv(64)
        assert chunk, 'closed early'
        got += chunk
    return got


def test_an_accepted_stream_watches_with_its_sockets_own_watchers(loop):
    """No second pair of libev watchers per connection (docs/performance.md)."""
    stream, client, listener = accept_one(loop, socket.AF_INET, lambda got: {'on_stream': got.set})
    with client, stream:
        listener.close()
        sock = stream.read_handle
        stream.configure(on_read=echo)
        loop.add(stream)
        assert round_trip(client) == b'ping'
        assert stream._rwatch is sock._read_event
        stream.write(b'x' * (8 << 20))          # more than the kernel takes at once
        assert stream._wwatch is sock._write_event
        got = 0
        while got < (8 << 20):
            got += len(client.recv(1 << 20))
    assert sock.fileno() == -1


def test_a_stream_on_borrowed_watchers_can_leave_its_loop_and_come_back(loop):
    stream, client, listener = accept_one(loop, socket.AF_INET, lambda got: {'on_stream': got.set})
    with client, stream:
        listener.close()
        stream.configure(on_read=echo)
        loop.add(stream)
        assert round_trip(client, b'one') == b'one'
        loop.remove(stream)
        loop.add(stream)
        assert round_trip(client, b'two') == b'two'


def test_a_wrapped_stream_given_another_handle_before_joining_watches_that_one(loop):
    with live_listener() as server:
        other_client = gevent.socket.create_connection(server.getsockname(), timeout=WAIT)
        other, _ = server.accept()
        stream, client, listener = accept_one(loop, socket.AF_INET,
                                              lambda got: {'on_stream': got.set})
        first = stream.read_handle
        with client, other_client, first:
            listener.close()
            stream.configure(handle=other, on_read=echo)
            with stream:
                loop.add(stream)
                assert round_trip(other_client) == b'ping'
                assert stream._rwatch is not first._read_event


def test_a_stream_on_borrowed_watchers_half_closes_and_closes_cleanly(loop):
    """Shutting one side down lets go of that side's borrowed watcher without
    closing it under the socket, which closes both when the stream closes."""
    got = []
    stream, client, listener = accept_one(loop, socket.AF_INET, lambda got: {'on_stream': got.set})
    with client:
        listener.close()
        sock = stream.read_handle
        stream.configure(on_read=lambda stream, buffer, eof: got.append(bytes(buffer))
                         or buffer.clear(), close_on_read_eof=False)
        loop.add(stream)
        written = stream.write(b'x' * (4 << 20))           # (more than the kernel takes:
        received = 0                                        # the write watcher is used)
        while received < (4 << 20):
            received += len(client.recv(1 << 20))
        written.get(timeout=WAIT)
        stream.close_write()
        assert client.recv(1) == b''                        # the peer sees EOF
        client.sendall(b'still reading')
        while b''.join(got) != b'still reading':
            gevent.sleep(0.01)
        stream.close()
    assert sock.fileno() == -1 and stream.is_closed


def test_a_socket_whose_stream_left_the_loop_still_works_with_gevents_own_methods(loop):
    """The borrowed watchers are only stopped: gevent's cooperative recv and
    sendall on the socket still wait on them (a protocol that takes the socket
    back from its stream). Under libev a closed watcher still starts, so the
    libuv run below is the one that tells."""
    stream, client, listener = accept_one(loop, socket.AF_INET, lambda got: {'on_stream': got.set})
    with client:
        listener.close()
        stream.configure(on_read=echo)
        loop.add(stream)
        assert round_trip(client) == b'ping'
        loop.remove(stream)
        sock = stream.read_handle
        sock.settimeout(WAIT)
        waiting = gevent.spawn(sock.recv, 64)       # waits on the socket's read watcher
        gevent.sleep(0.05)
        client.sendall(b'raw')
        assert waiting.get(timeout=WAIT) == b'raw'
        sock.sendall(b'back')
        assert client.recv(64) == b'back'
        stream.close()


def test_borrowed_watchers_stay_usable_on_gevents_libuv_loop_too():
    """libuv frees a closed watcher: run the test above on it, in a process
    of its own (GEVENT_LOOP is read when the hub is made)."""
    names = ['test_a_socket_whose_stream_left_the_loop_still_works_with_gevents_own_methods',
             'test_a_stream_on_borrowed_watchers_can_leave_its_loop_and_come_back']
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         *(f'{__file__}::{name}' for name in names)],
        env=dict(os.environ, GEVENT_LOOP='libuv'), capture_output=True, text=True,
        timeout=60, cwd=os.path.dirname(__file__))
    assert result.returncode == 0, result.stdout[-2000:]
    assert '2 passed' in result.stdout
