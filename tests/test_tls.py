"""TLS: connect(ssl=), listen(ssl=) and Stream.start_tls(), with certificates
made by trustme; verification failures; STARTTLS with the ClientHello arriving
in the same read as the plain-text command."""

import errno
import ssl

import gevent
import gevent.socket
import gevent.ssl
import pytest
import trustme
from gevent.event import AsyncResult, Event

import geventio
from conftest import WAIT, Log, recv_exactly
from netutil import RecordingConnector, echo, echo_into, live_listener


@pytest.fixture(scope='module')
def ca():
    return trustme.CA()


@pytest.fixture(scope='module')
def server_context(ca):
    """A stdlib server context with a certificate for localhost and 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('localhost', '127.0.0.1').configure_cert(context)
    return context


@pytest.fixture(scope='module')
def client_context(ca):
    """A stdlib client context trusting the test CA (verification on)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(scope='module')
def peer_contexts(ca):
    """gevent contexts for the scripted peers: (server, client)."""
    server = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert('localhost').configure_cert(server)
    client = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client)
    return server, client


def local(port):
    return {'ip': '127.0.0.1', 'port': port}


# -- connect(ssl=) and listen(ssl=) -------------------------------------------

def test_connect_and_listen_round_trip_over_tls(loop, server_context, client_context):
    listener = loop.listen(addr=local(0), ssl=server_context,
                           on_stream=echo_into(loop)).get()
    stream = loop.connect(host='localhost', service=listener.sockname[1],
                          ssl=client_context, on_stream=lambda s: None).get()
    stream.configure(on_read=lambda *args: 0)
    loop.add(stream)
    assert isinstance(stream.read_handle, gevent.ssl.SSLSocket)
    stream.write(b'over tls')
    assert stream.read_exactly(8).get() == b'over tls'
    assert stream.read_handle.version() in ('TLSv1.2', 'TLSv1.3')
    stream.close()


def test_write_eof_over_a_tls_connection_keeps_reading_through_tls(
        loop, server_context, client_context):
    """A half-close sends close_notify; the reply still arrives decrypted."""
    def on_stream(stream):
        def on_read(stream, buffer, eof):
            if eof:
                stream.write(b'got:' + bytes(buffer))
                del buffer[:]
            return 0
        stream.configure(on_read=on_read)
        loop.add(stream)

    listener = loop.listen(addr=local(0), ssl=server_context, on_stream=on_stream).get()
    stream = loop.connect(host='localhost', service=listener.sockname[1],
                          ssl=client_context, on_stream=lambda s: None).get()
    stream.configure(on_read=lambda *args: 0)
    loop.add(stream)
    stream.write(b'hello')
    stream.write_eof()
    assert stream.read_until_eof().get() == b'got:hello'
    stream.close()


def test_connect_ssl_to_an_address_checks_the_given_server_hostname(
        loop, server_context, client_context):
    listener = loop.listen(addr=local(0), ssl=server_context,
                           on_stream=echo_into(loop)).get()
    sock = loop.connect(addr=local(listener.sockname[1]), ssl=client_context,
                        server_hostname='127.0.0.1').get()
    with sock:
        sock.sendall(b'ip san')
        assert recv_exactly(sock, 6) == b'ip san'


def test_an_untrusted_certificate_is_rejected_and_no_other_candidate_tried(
        loop, server_context):
    """ssl=True verifies against the system's CAs, which do not know trustme's."""
    told = Event()
    listener = loop.listen(addr=local(0), ssl=server_context, on_stream=echo_into(loop),
                           on_accept_error=lambda sock, err: told.set()).get()
    errors = []
    connector = RecordingConnector(loop)
    future = connector.connect(addrs=[local(listener.sockname[1])] * 2, ssl=True,
                               server_hostname='localhost',
                               on_connect_error=lambda *args: errors.append(args))
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        future.get()
    assert errors == [('ssl', info.value)]
    assert len(connector.started) == 1
    told.wait()     # the server saw the failed handshake and goes on
    assert listener.is_listening


def test_a_hostname_mismatch_is_rejected(loop, server_context, client_context):
    listener = loop.listen(addr=local(0), ssl=server_context,
                           on_stream=echo_into(loop), on_accept_error=lambda *a: None).get()
    future = loop.connect(addr=local(listener.sockname[1]), ssl=client_context,
                          server_hostname='wrong.example')
    with pytest.raises(ssl.SSLCertVerificationError, match='mismatch'):
        future.get()


def test_handle_connect_with_ssl_secures_that_stream(loop, server_context, client_context):
    listener = loop.listen(addr=local(0), ssl=server_context,
                           on_stream=echo_into(loop)).get()
    stream = geventio.Stream(on_read=lambda *args: 0)
    loop.add(stream)
    stream.connect(host='localhost', service=listener.sockname[1], ssl=client_context).get()
    stream.write(b'handle')
    assert stream.read_exactly(6).get() == b'handle'
    stream.close()


def test_listen_ssl_hands_over_secured_gevent_sockets(loop, server_context, peer_contexts):
    accepted = AsyncResult()
    listener = loop.listen(addr=local(0), ssl=server_context, on_accept=accepted.set).get()
    _, client_context = peer_contexts
    raw = gevent.socket.create_connection(listener.sockname)
    with client_context.wrap_socket(raw, server_hostname='localhost') as client:
        sock = accepted.get()
        with sock:
            assert isinstance(sock, gevent.ssl.SSLSocket)
            client.sendall(b'hello')
            assert recv_exactly(sock, 5) == b'hello'


def test_a_silent_tls_client_does_not_stall_accepting_and_is_timed_out(
        loop, server_context, peer_contexts):
    class Server(geventio.Listener):
        ssl_handshake_timeout = 0.3

    told = AsyncResult()
    listener = Server(on_stream=lambda l, s: echo_into(loop)(s),
                      on_accept_error=lambda l, sock, err: told.set(err))
    loop.add(listener)
    listener.listen(addr=local(0), ssl=server_context).get()
    _, client_context = peer_contexts
    with gevent.socket.create_connection(listener.sockname) as silent:
        raw = gevent.socket.create_connection(listener.sockname)
        with client_context.wrap_socket(raw, server_hostname='localhost') as client:
            client.sendall(b'served')
            assert recv_exactly(client, 6) == b'served'
        err = told.get()
        assert isinstance(err, TimeoutError) and err.errno == errno.ETIMEDOUT
        assert silent.recv(10) == b''        # dropped by the server


def test_at_max_handshakes_the_next_client_waits_in_the_accept_queue(
        loop, server_context, peer_contexts):
    """With max_handshakes clients silent in their handshakes, the listener
    stops accepting: a further client gets no handshake until one of them
    gives up, then it is served. All three wait in the accept queue before the
    listener accepts, so one wake-up sees them all: the pause must also end
    the batch of accepts under way."""
    class Server(geventio.Listener):
        max_handshakes = 2

    served, gave_up = Log(), Log()
    listener = Server(on_stream=lambda l, s: (served.append(s), s.close()),
                      on_accept_error=lambda l, sock, err: gave_up.append(err))
    loop.add(listener)
    listener.listen(addr=local(0), ssl=server_context).get()
    loop.remove(listener)                       # not accepting meanwhile
    _, client_context = peer_contexts
    silent = [gevent.socket.create_connection(listener.sockname) for _ in range(2)]
    raw = gevent.socket.create_connection(listener.sockname)
    loop.add(listener)
    handshake = gevent.spawn(client_context.wrap_socket, raw, server_hostname='localhost')
    try:
        # (Served at once if accepted: a handshake on loopback takes milliseconds.)
        handshake.join(timeout=0.5)
        assert not handshake.ready() and not served
        silent[0].close()                       # its handshake fails: a slot is free
        client = handshake.get(timeout=WAIT)
        client.close()
        served.wait_for(1)
        assert len(gave_up) == 1
    finally:
        handshake.kill()
        if handshake.successful():
            handshake.value.close()
        raw.close()
        for sock in silent:
            sock.close()
        listener.close()


def test_closing_a_tls_listener_drops_the_clients_still_in_their_handshake(
        loop, server_context, peer_contexts):
    listener = loop.listen(addr=local(0), ssl=server_context,
                           on_stream=echo_into(loop)).get()
    _, client_context = peer_contexts
    with gevent.socket.create_connection(listener.sockname) as silent:
        raw = gevent.socket.create_connection(listener.sockname)
        with client_context.wrap_socket(raw, server_hostname='localhost') as client:
            client.sendall(b'served')
            assert recv_exactly(client, 6) == b'served'
        # Accepted before the served client, the silent one is in its handshake.
        listener.close()
        silent.settimeout(WAIT)
        assert silent.recv(10) == b''


def test_a_client_whose_handshake_ends_after_the_listener_closed_is_not_handed_over(
        loop, ca, peer_contexts):
    """The listener closes during a client's last handshake step, so the
    handshake greenlet finishes before the kill that close() sends it can land:
    the secured client is closed, never given to on_stream. The close is made
    from the server's TLS message callback (CPython's ``_msg_callback`` debugging
    hook) on reading the client's Finished, so nothing runs in between."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('localhost').configure_cert(context)
    listener = AsyncResult()

    def close_on_client_finished(conn, direction, version, content_type, msg_type,
                                 data):
        if direction == 'read' and msg_type == ssl._TLSMessageType.FINISHED:
            listener.get().close()

    context._msg_callback = close_on_client_finished
    delivered = []

    def on_stream(stream):
        delivered.append(stream)
        stream.close()

    listener.set(loop.listen(addr=local(0), ssl=context, on_stream=on_stream).get())
    _, client_context = peer_contexts
    raw = gevent.socket.create_connection(listener.get().sockname)
    with client_context.wrap_socket(raw, server_hostname='localhost') as client:
        assert client.recv(10) == b''
    assert not listener.get().is_listening
    assert delivered == []


def test_listen_ssl_needs_a_context(loop):
    with pytest.raises(TypeError, match='ssl'):
        loop.listen(addr=local(0), ssl=True, on_accept=lambda sock: None)


# -- start_tls ----------------------------------------------------------------

class BioClient:
    """A scripted TLS client over a gevent socket, driving an SSLObject by hand,
    so that it can put its ClientHello in the same packet as a plain line."""

    def __init__(self, sock, context, server_hostname):
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing,
                                    server_hostname=server_hostname)

    def client_hello(self):
        with pytest.raises(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.outgoing.read()

    def finish_handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self.incoming.write(self.sock.recv(65536))
        self._flush()

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def send(self, data):
        self.tls.write(data)
        self._flush()

    def recv_exactly(self, count):
        data = b''
        while len(data) < count:
            try:
                data += self.tls.read(count - len(data))
            except ssl.SSLWantReadError:
                self.incoming.write(self.sock.recv(65536))
        return data


def starttls_server(loop, sock, context):
    """A Stream that answers 'STARTTLS' with '220 go', upgrades, writes 'secret'
    (queued after the upgrade) and then echoes."""
    upgraded = AsyncResult()

    def on_read(stream, buffer, eof):
        end = buffer.find(b'\r\n')
        if end < 0:
            return 0
        assert bytes(buffer[:end]) == b'STARTTLS'
        del buffer[:end + 2]
        stream.write(b'220 go\r\n')
        stream.start_tls(context, server_side=True).rawlink(upgraded.set)
        stream.write(b'secret')
        stream.configure(on_read=echo)
        return 0

    stream = geventio.Stream(handle=sock, on_read=on_read)
    loop.add(stream)
    return stream, upgraded


def test_start_tls_with_the_client_hello_right_behind_the_command(
        loop, server_context, client_context, socketpair):
    """Plain text queued before start_tls goes out in the clear, data queued
    after it goes out encrypted, and the ClientHello that arrived with the
    STARTTLS line is not lost."""
    ours, peer = socketpair
    stream, upgraded = starttls_server(loop, ours, server_context)
    client = BioClient(peer, client_context, 'localhost')
    peer.sendall(b'STARTTLS\r\n' + client.client_hello())
    assert recv_exactly(peer, 8) == b'220 go\r\n'
    client.finish_handshake()
    assert upgraded.get().get() is stream
    assert client.recv_exactly(6) == b'secret'
    client.send(b'echo me')
    assert client.recv_exactly(7) == b'echo me'
    assert stream.read_handle.version() == client.tls.version()
    stream.close()


def test_start_tls_as_the_client(loop, peer_contexts, client_context):
    server_context, _ = peer_contexts
    with live_listener(backlog=1) as server:
        stream = loop.connect(peer=server, on_stream=lambda s: None).get()
        stream.configure(on_read=lambda *args: 0)
        loop.add(stream)
        accepted, _ = server.accept()
        stream.write(b'STARTTLS\r\n')
        assert recv_exactly(accepted, 10) == b'STARTTLS\r\n'
        accepted.sendall(b'OK\r\n')
        assert stream.read_until(b'\r\n').get() == b'OK\r\n'
        upgrading = stream.start_tls(client_context, server_hostname='localhost')
        with server_context.wrap_socket(accepted, server_side=True) as tls:
            assert upgrading.get() is stream
            stream.write(b'secured')
            assert recv_exactly(tls, 7) == b'secured'
            tls.sendall(b'reply')
            assert stream.read_exactly(5).get() == b'reply'
        stream.close()


def upgraded_pair(loop, socketpair, server_context, client_context, **server_params):
    """(server, client): Streams over ``socketpair`` (the server with
    ``server_params``), both upgraded in place to TLS."""
    a, b = socketpair
    server_params.setdefault('on_read', lambda *args: 0)
    server = geventio.Stream(handle=a, **server_params)
    client = geventio.Stream(handle=b, on_read=lambda *args: 0)
    loop.add(server)
    loop.add(client)
    upgrading = server.start_tls(server_context, server_side=True)
    assert client.start_tls(client_context, server_hostname='localhost').get() is client
    assert upgrading.get() is server
    return server, client


def test_start_tls_moves_a_megabyte_each_way(loop, server_context, client_context,
                                             socketpair):
    """Both ends are Streams upgraded in place; large writes exercise records
    the kernel takes only in part."""
    payload = bytes(range(256)) * 4096
    server, client = upgraded_pair(loop, socketpair, server_context, client_context,
                                   on_read=echo)
    client.write(payload)
    assert client.read_exactly(len(payload)).get() == payload
    client.close()
    server.close()


def test_start_tls_failure_fails_the_future_and_closes_the_stream(
        loop, server_context, socketpair):
    a, b = socketpair
    server = geventio.Stream(handle=a, on_read=lambda *args: 0)
    client = geventio.Stream(handle=b, on_read=lambda *args: 0)
    loop.add(server)
    loop.add(client)
    server_future = server.start_tls(server_context, server_side=True)
    untrusting = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        client.start_tls(untrusting, server_hostname='localhost').get()
    assert client.is_closed
    with pytest.raises(ssl.SSLError, match='ALERT'):
        server_future.get()         # the client's alert reached it
    assert server.is_closed


def test_closing_during_start_tls_fails_the_future(loop, server_context, socketpair):
    a, _ = socketpair
    stream = geventio.Stream(handle=a, on_read=lambda *args: 0)
    loop.add(stream)
    future = stream.start_tls(server_context, server_side=True)
    stream.close_now()
    with pytest.raises(geventio.StreamClosedError):
        future.get()


def test_start_tls_bad_input(loop, server_context, client_context, socketpair):
    a, _ = socketpair
    stream = geventio.Stream(handle=a, on_read=lambda *args: 0)
    with pytest.raises(ValueError, match='loop'):
        stream.start_tls(server_context, server_side=True)
    loop.add(stream)
    with pytest.raises(TypeError, match='SSLContext'):
        stream.start_tls('context')
    with pytest.raises(ValueError, match='server_hostname'):
        stream.start_tls(client_context)
    stream.close()
    with pytest.raises(geventio.StreamClosedError):
        stream.start_tls(server_context, server_side=True)


def test_start_tls_twice_is_refused(loop, server_context, client_context, socketpair):
    server, client = upgraded_pair(loop, socketpair, server_context, client_context)
    with pytest.raises(ValueError, match='already'):
        server.start_tls(server_context, server_side=True)
    client.close()
    server.close()


def test_write_eof_sends_close_notify_and_the_peer_sees_eof(
        loop, server_context, client_context, socketpair):
    """A TLS half-close: the peer reads the data, then EOF, and can still reply."""
    server, client = upgraded_pair(loop, socketpair, server_context, client_context,
                                   close_on_read_eof=False)
    client.write(b'last words')
    client.write_eof()
    assert server.read_until_eof().get() == b'last words'
    assert server.is_read_eof
    closed = client.new_close_future()
    reply = client.read_until_eof()
    server.write(b'bye')
    server.close()                # once 'bye' is sent
    assert reply.get() == b'bye'
    assert closed.get() is client


def test_a_listening_gevent_ssl_socket_given_as_handle_hands_over_secured_clients(
        loop, peer_contexts):
    """An ``SSLSocket`` is a ``gevent.socket.socket`` too, but its accept()
    wraps the client: the listener must call it, not the raw ``_accept()``,
    or the client it hands over talks plain text to a peer that sent a
    ClientHello."""
    server_context, client_context = peer_contexts
    raw = gevent.socket.socket()
    raw.bind(('127.0.0.1', 0))
    raw.listen(5)
    listening = server_context.wrap_socket(raw, server_side=True)
    accepted = AsyncResult()
    listener = geventio.Listener(handle=listening,
                                 on_accept=lambda l, sock: accepted.set(sock))
    loop.add(listener)
    with gevent.socket.create_connection(listening.getsockname(), timeout=WAIT) as plain:
        handshake = gevent.spawn(client_context.wrap_socket, plain,
                                 server_hostname='localhost')
        with accepted.get(timeout=WAIT) as sock:
            assert isinstance(sock, gevent.ssl.SSLSocket)
            with handshake.get(timeout=WAIT) as client:
                client.sendall(b'secret')
                assert recv_exactly(sock, 6) == b'secret'
    listener.close()


def test_a_record_longer_than_read_len_is_read_whole_without_more_readiness(
        loop, server_context, client_context, socketpair):
    """One TLS record decrypts at once into the TLS object; a read of read_len
    takes only its start, and the socket is not readable again for the rest.
    The stream reads on while the TLS object has bytes pending."""
    server, client = upgraded_pair(loop, socketpair, server_context, client_context,
                                   read_len=4)
    payload = bytes(range(100))
    client.write(payload)           # one record
    assert server.read_exactly(len(payload)).get(timeout=WAIT) == payload
    client.close()
    server.close()
