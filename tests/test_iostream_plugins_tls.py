"""IOStream's plugin chain and its TLS plugins: Noop and NoopAlias against no plugin,
TLSClient against gevent's own TLS server, TLSServer against gevent's own TLS
client, one IOStream against another, and certificate verification (trustme)."""

import os
import pathlib
import socket
import ssl

import gevent
import gevent.socket
import gevent.ssl
import pytest
import trustme

from conftest import HAS_IPV6, recv_exactly, settle
from geventio.iostream import CONNECTED, EOF, IN, OUT, RESOLVED, SENT, IOStream
from geventio.iostream.plugins import Noop, NoopAlias, TLSClient, TLSServer
from iostreams import (EVERYTHING, Calls, closing, gevent_server_context,  # noqa: F401
                       no_watcher_left, stream_on, tls_echo_server)

#: Bytes for the transfers that must cross many reads and writes.
LARGE = 3 * 1024 * 1024


@pytest.fixture(scope='module')
def ca():
    return trustme.CA()


@pytest.fixture(scope='module')
def client_context(ca):
    """A client context trusting the test CA (verification and host names on)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(scope='module')
def server_context(ca):
    """A server context for the TLSServer plugin (localhost, 127.0.0.1, ::1)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('localhost', '127.0.0.1', '::1').configure_cert(context)
    return context


@pytest.fixture
def echo_server(ca):
    with tls_echo_server(gevent_server_context(ca)) as address:
        yield address


def line_reader(io, events, err):
    """A ``then`` for Calls: close once a whole line arrived."""
    if events & IN and b'\n' in io.in_buf:
        io.close()


# -- the chain: Noop and NoopAlias ----------------------------------------------------

def _exchange(plugin, socketpair):
    """Write a large payload and read a reply over a socketpair; returns what
    the stream saw and what the peer got."""
    a, b = socketpair
    payload = os.urandom(LARGE)
    calls = Calls()
    fields = {'plugin': [('p', plugin)]} if plugin is not None else {}
    with closing(stream_on(a, cb=calls, wait_for=IN | EOF | SENT, **fields)) as io:
        io.write(payload)
        got = recv_exactly(b, LARGE)
        calls.wait_events(SENT)
        b.sendall(b'reply')
        b.shutdown(socket.SHUT_WR)
        calls.wait_events(EOF)
        return (calls.events, bytes(io.in_buf), io.in_bytes, io.out_bytes,
                bytes(io.out_buf), io.is_eof, got == payload)


@pytest.mark.parametrize('make', [Noop, NoopAlias])
def test_noop_plugins_change_nothing(make, socketpair, sockets):
    plain = _exchange(None, sockets.keep(*gevent.socket.socketpair()))
    assert _exchange(make(), socketpair) == plain
    assert plain[-1] is True and plain[0][-1] == EOF


def test_noop_and_noop_alias_give_identical_results(sockets):
    results = [_exchange(make(), sockets.keep(*gevent.socket.socketpair()))
               for make in (Noop, NoopAlias, Noop)]
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize('make', [Noop, NoopAlias])
def test_out_pos_mode_through_a_plugin_sends_each_byte_once(make, socketpair):
    """With out_pos set the plugin takes from out_pos on and moves it, leaving
    out_buf intact; a second write sends only what was added."""
    a, b = socketpair
    data = bytearray(b'0123456789')
    with closing(stream_on(a, out_buf=data, out_pos=4, plugin=[('p', make())])) as io:
        assert recv_exactly(b, 6) == b'456789'
        data += b'ab'
        io.write()
        assert recv_exactly(b, 2) == b'ab'
        assert io.out_buf is data and data == b'0123456789ab'
        assert io.out_pos == 12 and io.out_bytes == 8
        io.write()                                  # nothing new: nothing sent
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(1)


def test_noop_copies_and_noop_alias_shares(socketpair):
    a, b = socketpair
    noop, alias = Noop(), NoopAlias()
    with closing(stream_on(a, plugin=[('copy', noop), ('share', alias)])) as io:
        assert io.plugin == {'copy': noop, 'share': alias}
        assert list(io.plugin) == ['copy', 'share']
        assert alias.in_buf is noop.in_buf and noop.in_buf is not io.in_buf
        b.sendall(b'x')
        io.cb.wait_events(IN)
        assert io.in_buf == b'x' and noop.in_buf == b''


def test_a_plugin_cannot_serve_two_streams(socketpair, sockets):
    a, _ = socketpair
    c, _ = sockets.keep(*gevent.socket.socketpair())
    noop = Noop()
    with closing(stream_on(a, plugin=[('p', noop)])):
        with pytest.raises(ValueError, match='already in a chain'):
            stream_on(c, plugin=[('p', noop)])


def test_plugins_with_the_same_name_are_refused(socketpair):
    a, _ = socketpair
    with pytest.raises(ValueError, match="two plugins named 'p'"):
        stream_on(a, plugin=[('p', Noop()), ('p', Noop())])


def test_the_plugin_written_in_the_guide_works(socketpair):
    """docs/iostream.md's Rot13 plugin, run as printed there."""
    guide = (pathlib.Path(__file__).parent.parent / 'docs' / 'iostream.md').read_text()
    block = guide.split('A plugin that changes the data')[1]
    code = block.split('```python\n', 1)[1].split('```', 1)[0]
    namespace = {}
    exec(compile(code, 'docs/iostream.md', 'exec'), namespace)
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=IN | SENT,
                           plugin=[('rot13', namespace['Rot13']())])) as io:
        io.write(b'Hello, World')
        assert recv_exactly(b, 12) == b'Uryyb, Jbeyq'
        assert calls == [(SENT, None)] and io.out_bytes == 12
        b.sendall(b'Uryyb onpx')
        calls.wait_events(IN)
        assert io.in_buf == b'Hello back'


def test_an_exception_in_a_plugin_closes_the_stream(socketpair, callback_errors):
    a, b = socketpair

    class Broken(Noop):
        def event(self, events, err):
            raise RuntimeError('plugin bug')

    with closing(stream_on(a, plugin=[('broken', Broken())])):
        b.sendall(b'x')
        settle()                    # the read, the exception, the close
        assert a.fileno() == -1
        assert [r.exc_info[0] for r in callback_errors] == [RuntimeError]


# -- TLSClient ----------------------------------------------------------------------

@pytest.mark.parametrize('host', ['127.0.0.1', 'localhost'])
def test_tls_client_round_trip(host, echo_server, client_context):
    calls = Calls(then=line_reader)
    tls = TLSClient(client_context)
    io = IOStream(host=host, port=echo_server[1], cb=calls, wait_for=EVERYTHING,
                  out_buf=b'hello over TLS\n', plugin=[('ssl', tls)])
    with closing(io):
        calls.wait(lambda c: b'\n' in io.in_buf, 'the echo')
        assert io.in_buf == b'hello over TLS\n'
        assert tls.ssl_object.version().startswith('TLSv1.')
        assert calls.events[-1] == IN


def test_tls_client_over_ipv6(ca, client_context):
    if not HAS_IPV6:
        pytest.skip('no IPv6 loopback on this machine')
    with tls_echo_server(gevent_server_context(ca), socket.AF_INET6) as (host, port):
        calls = Calls(then=line_reader)
        io = IOStream(host=host, port=port, cb=calls, wait_for=IN, out_buf=b'six\n',
                      plugin=[('ssl', TLSClient(client_context))])
        with closing(io):
            calls.wait(lambda c: b'\n' in io.in_buf, 'the echo')
            assert io.in_buf == b'six\n'


def test_out_before_sent_while_the_handshake_runs(echo_server, client_context):
    """OUT comes inside the constructor (the plaintext left out_buf), CONNECTED
    once the handshake is done, SENT once the records are written."""
    calls = Calls()
    tls = TLSClient(client_context)
    io = IOStream(host='127.0.0.1', port=echo_server[1], cb=calls,
                  wait_for=RESOLVED | CONNECTED | OUT | SENT, out_buf=b'early\n',
                  plugin=[('ssl', tls)])
    with closing(io):
        assert calls.events == [RESOLVED, OUT]
        assert io.out_buf == b'' and io.out_bytes == 6
        calls.wait_events(SENT)
        assert calls.events == [RESOLVED, OUT, CONNECTED, SENT]


def test_connected_means_the_tls_session_is_up(echo_server, client_context):
    versions = []
    tls = TLSClient(client_context)

    def then(io, events, err):
        if events & CONNECTED:
            versions.append(tls.ssl_object.version())

    calls = Calls(then=then)
    with closing(IOStream(host='127.0.0.1', port=echo_server[1], cb=calls,
                          wait_for=CONNECTED, plugin=[('ssl', tls)])):
        calls.wait_events(CONNECTED)
        assert versions and versions[0] is not None


def test_certificates_are_verified_by_default(echo_server):
    calls = Calls()
    with closing(IOStream(host='127.0.0.1', port=echo_server[1], cb=calls,
                          wait_for=EVERYTHING, plugin=[('ssl', TLSClient())])):
        err = calls.wait_error()
        assert isinstance(err, ssl.SSLCertVerificationError)
        settle()
        assert not any(events & CONNECTED for events in calls.events)


def test_the_host_name_is_checked(echo_server, client_context):
    calls = Calls()
    with closing(IOStream(host='127.0.0.1', port=echo_server[1], cb=calls,
                          wait_for=EVERYTHING,
                          plugin=[('ssl', TLSClient(client_context,
                                                    server_hostname='example.org'))])):
        err = calls.wait_error()
        assert isinstance(err, ssl.SSLCertVerificationError)
        assert 'example.org' in str(err)


def test_a_client_on_fh_needs_a_server_hostname(socketpair, client_context):
    a, _ = socketpair
    with pytest.raises(ValueError, match='server_hostname'):
        IOStream(fh=a, cb=lambda *args: None, plugin=[('ssl', TLSClient(client_context))])
    assert a.fileno() != -1


def test_a_failed_tls_layer_drops_what_the_peer_goes_on_sending(socketpair, client_context):
    """After a TLS failure the layer passes nothing more on, and the stream
    stays open until the user closes it: what the peer goes on sending must
    not pile up inside the layer, where a hostile peer could fill memory."""
    a, b = socketpair
    calls = Calls()
    tls = TLSClient(client_context, server_hostname='localhost')
    with closing(IOStream(fh=a, cb=calls, wait_for=IN | EOF, plugin=[('ssl', tls)])):
        b.sendall(b'HTTP/1.0 400 Bad Request\r\n\r\n')        # no TLS at all
        assert isinstance(calls.wait_error(), ssl.SSLError)
        b.sendall(bytes(LARGE))         # returns once the stream read most of it
        settle()
        assert tls.in_bytes > LARGE // 2 and tls.in_buf == b''
        assert len(calls) == 1


@pytest.mark.parametrize('bad, message', [
    ({'context': 'yes'}, 'context must be True or an ssl.SSLContext'),
    ({'server_hostname': 5}, 'server_hostname must be a str'),
])
def test_tls_client_parameters_are_checked(bad, message):
    with pytest.raises(TypeError, match=message):
        TLSClient(**bad)


def test_tls_server_needs_a_context():
    with pytest.raises(TypeError, match='context must be an ssl.SSLContext'):
        TLSServer(None)


# -- TLSServer, and both ends ---------------------------------------------------------

def test_tls_server_answers_gevents_tls_client(ca, server_context):
    with gevent.socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        client_context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ca.configure_trust(client_context)

        def client():
            with client_context.wrap_socket(
                    gevent.socket.create_connection(listener.getsockname()),
                    server_hostname='localhost') as tls:
                tls.sendall(b'ping\n')
                return recv_exactly(tls, 5)

        talking = gevent.spawn(client)
        sock, _ = listener.accept()

        def echo(io, events, err):
            if events & IN:
                io.write(io.in_buf[:])
                del io.in_buf[:]

        with closing(IOStream(fh=sock, cb=echo, wait_for=IN,
                              plugin=[('ssl', TLSServer(server_context))])):
            assert talking.get(timeout=5) == b'ping\n'


def test_one_iostream_to_another_both_ways_with_eof(socketpair, ca, server_context,
                                                    client_context):
    a, b = socketpair
    payload = os.urandom(LARGE)
    server_calls, client_calls = Calls(), Calls()

    def server_then(io, events, err):
        if events & IN:
            io.write(io.in_buf[:])
            del io.in_buf[:]

    server_calls.then = server_then
    server = IOStream(fh=a, cb=server_calls, wait_for=IN | EOF,
                      plugin=[('ssl', TLSServer(server_context))])
    client = IOStream(fh=b, cb=client_calls, wait_for=IN | EOF | SENT,
                      plugin=[('ssl', TLSClient(client_context,
                                                server_hostname='localhost'))])
    with closing(server, client):
        client.write(payload)
        client_calls.wait(lambda c: len(client.in_buf) >= LARGE, 'the echo')
        assert client.in_buf == payload and client.in_bytes == LARGE
        assert client.out_bytes == LARGE and server.in_bytes == LARGE
        server.close()                   # no close_notify: a truncated session
        client_calls.wait_events(EOF)
        assert client.is_eof and client_calls.events.count(EOF) == 1


def test_a_peer_that_closes_before_the_handshake_is_an_error_not_eof(socketpair,
                                                                   server_context):
    """A connection that ends before TLS is up is a truncated handshake: an
    ssl.SSLError for the callback, neither EOF nor is_eof."""
    a, b = socketpair
    calls = Calls()
    with closing(IOStream(fh=a, cb=calls, wait_for=EVERYTHING,
                          plugin=[('ssl', TLSServer(server_context))])) as io:
        b.close()
        err = calls.wait_error()
        settle()
        assert isinstance(err, ssl.SSLEOFError) and calls == [(0, err)]
        assert io.is_eof is False


def test_data_decrypted_before_a_broken_record_is_in_and_counted(socketpair, ca,
                                                                client_context):
    """A good record and a broken one in the same read: the good one's bytes
    reach in_buf, count in in_bytes and are reported as IN, together with the
    error the broken record raised."""
    a, b = socketpair
    calls = Calls()
    with closing(IOStream(fh=a, cb=calls, wait_for=IN | EOF,
                          plugin=[('ssl', TLSClient(client_context,
                                                    server_hostname='localhost'))])) as io:
        with gevent_server_context(ca).wrap_socket(b, server_side=True) as peer:
            peer.sendall(b'warm')
            calls.wait_events(IN)
            # Both writes land before the stream's greenlet runs again.
            peer.sendall(b'data')
            os.write(peer.fileno(), b'\x17\x03\x03\x00\x05bogus')   # no valid record
            err = calls.wait_error()
            assert isinstance(err, ssl.SSLError)
            assert calls == [(IN, None), (IN, err)]
            assert io.in_buf == b'warmdata' and io.in_bytes == 8


def test_close_on_the_last_data_ends_every_event_with_close_notify_behind_it(
        socketpair, ca, client_context):
    """The last record and close_notify come in one read; the callback closes
    the stream on the data's IN, so the EOF found in the same read never
    reaches it."""
    a, b = socketpair

    def peer():
        with gevent_server_context(ca).wrap_socket(b, server_side=True) as tls:
            tls.sendall(b'goodbye')
            try:
                tls.unwrap()    # sends close_notify at once, then waits in vain
            except (ssl.SSLError, OSError):
                pass            # the stream closed without answering

    calls = Calls(then=lambda io, events, err: io.close())
    IOStream(fh=a, cb=calls, wait_for=IN | EOF,
             plugin=[('ssl', TLSClient(client_context, server_hostname='localhost'))])
    serving = gevent.spawn(peer)
    calls.wait_events(IN)
    serving.get(timeout=5)
    settle()
    assert calls == [(IN, None)] and a.fileno() == -1


def test_close_notify_is_eof_apart_from_the_last_data(ca, client_context):
    """The peer's last data and its close_notify arrive together; IN and EOF
    still come in two calls."""
    server_context = gevent_server_context(ca)
    with gevent.socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)

        def peer():
            sock, _ = listener.accept()
            with server_context.wrap_socket(sock, server_side=True) as tls:
                tls.sendall(b'goodbye')
                try:
                    tls.unwrap()    # sends close_notify, waits for ours in vain
                except (ssl.SSLError, OSError):
                    pass            # the stream closed without one

        serving = gevent.spawn(peer)
        calls = Calls()
        with closing(IOStream(host='127.0.0.1', port=listener.getsockname()[1],
                              cb=calls, wait_for=IN | EOF,
                              plugin=[('ssl', TLSClient(client_context))])) as io:
            calls.wait_events(EOF)
            assert calls.events == [IN, EOF] and io.in_buf == b'goodbye'
        serving.get(timeout=5)
