"""Attacks that cost the attacker one packet or one silent connection: TLS
clients that never finish their handshake, and datagrams longer than the
server's ``recv_len``."""

import socket
import ssl
import time

import gevent
import gevent.socket
import gevent.ssl
import pytest
import trustme

import geventio
from conftest import WAIT, Log, settle
from logwatch import watch_log
from .measure import open_fds
from .servers import Server


@pytest.fixture(scope='module')
def contexts():
    """(server, client) contexts with a trustme certificate for 127.0.0.1."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('127.0.0.1').configure_cert(server)
    client = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client)
    return server, client


def test_tls_listeners_bound_handshakes_by_default():
    assert geventio.Listener.ssl_handshake_timeout == 10.0
    assert geventio.Listener.max_handshakes == 256


class Guarded(geventio.Listener):
    """A TLS listener with small bounds, so that the test is quick."""
    ssl_handshake_timeout = 0.3
    max_handshakes = 4


#: Clients that connect and never send a ClientHello.
SILENT = 12


def test_silent_tls_clients_hold_at_most_max_handshakes_descriptors(loop, contexts,
                                                                     figures):
    """Beyond the cap, clients wait in the kernel's accept queue instead of
    each taking a descriptor, and are served in turn, not dropped."""
    server_context, client_context = contexts
    server = Server(loop, ssl=server_context, listener_class=Guarded)
    before = open_fds()
    silent = [server.connect() for _ in range(SILENT)]
    settle()
    held = open_fds() - before - SILENT          # accepted by the server
    assert held <= Guarded.max_handshakes
    start = time.monotonic()
    with server.connect() as raw:
        with client_context.wrap_socket(raw, server_hostname='127.0.0.1') as client:
            client.sendall(b'hello')
            assert client.recv(5) == b'hello'
    waited = time.monotonic() - start
    # The twelve silent ones went through four at a time, 0.3 s per batch.
    batches = SILENT // Guarded.max_handshakes
    assert waited >= batches * Guarded.ssl_handshake_timeout - 0.05
    for client in silent:
        client.close()
    figures(silent_clients=SILENT, server_fds_held=held,
            real_client_waited_s=round(waited, 2))
    server.close()


def test_a_silent_tls_client_is_dropped_after_the_handshake_timeout(loop, contexts):
    server_context, _ = contexts
    errors = Log()
    listener = Guarded(on_stream=lambda listener, stream: stream.close(),
                       on_accept_error=lambda listener, sock, err: errors.append(err))
    loop.add(listener)
    listener.listen(addr={'ip': '127.0.0.1', 'port': 0}, ssl=server_context).get()
    start = time.monotonic()
    with gevent.socket.create_connection(listener.sockname) as silent:
        assert silent.recv(1) == b''
    assert time.monotonic() - start >= Guarded.ssl_handshake_timeout - 0.05
    errors.wait_for(1)
    assert isinstance(errors[0], TimeoutError)


def test_a_tls_client_trickling_its_hello_is_dropped_at_the_handshake_timeout(
        loop, contexts, figures):
    """``ssl_handshake_timeout`` bounds the whole handshake, not each wait for
    a byte: a client sending its ClientHello one byte per third of the timeout
    must not keep a handshake slot (and, at the cap, the whole listener) for as
    long as it likes."""
    server_context, _ = contexts
    errors = Log()
    listener = Guarded(on_stream=lambda listener, stream: stream.close(),
                       on_accept_error=lambda listener, sock, err: errors.append(err))
    loop.add(listener)
    listener.listen(addr={'ip': '127.0.0.1', 'port': 0}, ssl=server_context).get()
    step = Guarded.ssl_handshake_timeout / 3
    # A handshake record announcing 512 bytes, then its body a byte at a time.
    hello = b'\x16\x03\x01\x02\x00' + b'\x01' * 512
    start = time.monotonic()
    with gevent.socket.create_connection(listener.sockname) as trickler:
        trickler.settimeout(step)
        dropped = None
        for byte in range(len(hello)):
            if time.monotonic() - start > 10 * Guarded.ssl_handshake_timeout:
                break
            try:
                trickler.sendall(hello[byte:byte + 1])
                if trickler.recv(1) == b'':
                    dropped = time.monotonic() - start
                    break
            except TimeoutError:
                continue                    # nothing from the server: go on
            except OSError:                 # reset: dropped as well
                dropped = time.monotonic() - start
                break
    assert dropped is not None, 'the trickling client was never dropped'
    assert dropped < Guarded.ssl_handshake_timeout + 2 * step + 0.3
    errors.wait_for(1)
    assert isinstance(errors[0], TimeoutError)
    figures(trickle_step_s=round(step, 2), dropped_after_s=round(dropped, 2))
    listener.close()


def test_oversized_datagrams_from_anyone_never_close_a_server_socket(loop, sockets,
                                                                     figures):
    """A UDP echo server with ``recv_len=512`` and no ``on_recv_error``: one
    line of WARNING for a thousand oversized datagrams, and the honest client
    is served throughout (before, the first one closed the socket)."""
    server = geventio.Socket(on_recv=lambda sock, data, addr: sock.send(data, addr=addr),
                             recv_len=512)
    loop.add(server)
    server.bind(host='127.0.0.1', service=0, socktype='dgram').get(timeout=WAIT)
    address = server.read_handle.getsockname()
    attacker, honest = (sockets.keep(gevent.socket.socket(socket.AF_INET,
                                                          socket.SOCK_DGRAM))
                        for _ in range(2))
    with watch_log() as warnings:
        for round_ in range(10):
            for _ in range(100):
                attacker.sendto(b'X' * 1500, address)
            honest.sendto(b'ping %d' % round_, address)
            data, _ = honest.recvfrom(100)
            assert data == b'ping %d' % round_
    assert not server.is_closed
    assert len(warnings) == 1 and 'recv_len=512' in warnings[0].getMessage()
    figures(oversized=1000, warning_lines=len(warnings))
    server.close()
