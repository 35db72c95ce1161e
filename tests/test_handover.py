"""What Listener and Connector hand over: a Stream geventio builds around a TCP
socket it accepted or connected has Nagle's algorithm off; a socket handed over
bare, and a handle the user passed in, are left as they are."""

import socket

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
