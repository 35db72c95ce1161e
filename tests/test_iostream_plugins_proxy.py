"""IOStream's proxy plugins: TLS end to end through real tinyproxy (HTTP CONNECT) and
microsocks (SOCKS5), with and without credentials, and scripted proxies for the
bytes on the wire and for proxies that refuse, babble, go silent or hang up."""

import base64
import contextlib
import errno
import socket
import ssl

import gevent
import gevent.event
import gevent.socket
import pytest
import trustme

from conftest import WAIT, recv_exactly, settle
from geventio.errors import ProxyError
from geventio.iostream import (CONNECTED, ETOCONNECT, IN, OUT, RESOLVED, SENT,
                               IOStream)
from geventio.iostream.plugins import HTTPSProxy, SOCKS5Proxy, TLSClient
from iostreams import (EVERYTHING, Calls, closing, gevent_server_context,  # noqa: F401
                       microsocks, no_watcher_left, tinyproxy, tls_echo_server)
from netutil import closed_port


@pytest.fixture(scope='module')
def ca():
    return trustme.CA()


@pytest.fixture(scope='module')
def client_context(ca):
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def echo_server(ca):
    """``(host, port)`` of a TLS echo server (gevent's own SSLSocket)."""
    with tls_echo_server(gevent_server_context(ca)) as address:
        yield address


def tls_round_trip(host, port, proxy, client_context, line=b'through the tunnel\n'):
    """Send a line over TLS through ``proxy`` and return (calls, echo, stream)."""
    def then(io, events, err):
        if err is not None or b'\n' in io.in_buf:
            io.close()

    calls = Calls(then=then)
    io = IOStream(host=host, port=port, cb=calls, wait_for=EVERYTHING, out_buf=line,
                  plugin=[('ssl', TLSClient(client_context)), ('proxy', proxy)])
    with closing(io):
        calls.wait(lambda c: io._closed, 'the echo or an error')
    return calls, bytes(io.in_buf), io


# -- real proxies ------------------------------------------------------------------

def test_tls_through_tinyproxy(tmp_path, echo_server, client_context):
    host, port = echo_server
    with tinyproxy(tmp_path, connect_ports=[port]) as proxy_port:
        calls, echo, io = tls_round_trip(host, port, HTTPSProxy('127.0.0.1', proxy_port),
                                         client_context)
    assert calls.errors == [] and echo == b'through the tunnel\n'
    assert calls.events[:2] == [RESOLVED, OUT]      # the plaintext left at once
    assert CONNECTED in calls.events and calls.events[-1] == IN
    assert io.ip == '127.0.0.1'                     # the proxy's address


def test_tls_through_tinyproxy_with_basic_auth(tmp_path, echo_server, client_context):
    host, port = echo_server
    with tinyproxy(tmp_path, [port], user='alice', password='s3cret') as proxy_port:
        calls, echo, _ = tls_round_trip(
            host, port, HTTPSProxy('127.0.0.1', proxy_port, user='alice',
                                   password='s3cret'), client_context)
        assert calls.errors == [] and echo == b'through the tunnel\n'
        calls, echo, _ = tls_round_trip(
            host, port, HTTPSProxy('127.0.0.1', proxy_port, user='alice',
                                   password='wrong'), client_context)
    err, = calls.errors
    assert isinstance(err, ProxyError) and err.errno == errno.EACCES
    assert err.reply.startswith('HTTP/1.') and ' 401 ' in err.reply
    assert err.reply in str(err) and CONNECTED not in calls.events


def test_tinyproxy_refusing_a_port_is_an_error_with_the_status_line(
        tmp_path, echo_server, client_context):
    host, port = echo_server
    with tinyproxy(tmp_path, connect_ports=[port]) as proxy_port:
        other = closed_port()[1]
        calls, _, _ = tls_round_trip(host, other, HTTPSProxy('127.0.0.1', proxy_port),
                                     client_context)
    err, = calls.errors
    assert isinstance(err, ProxyError) and err.proxy == ('127.0.0.1', proxy_port)
    assert err.reply.startswith('HTTP/1.') and ' 403 ' in err.reply
    assert 'CONNECT refused: HTTP/1.' in str(err)
    assert not any(events & CONNECTED for events in calls.events)


def test_tls_through_microsocks_with_a_name_it_resolves(echo_server, client_context):
    _, port = echo_server
    with microsocks() as proxy_port:
        calls, echo, _ = tls_round_trip('localhost', port,
                                        SOCKS5Proxy('127.0.0.1', proxy_port),
                                        client_context)
    assert calls.errors == [] and echo == b'through the tunnel\n'


def test_tls_through_microsocks_with_a_password(echo_server, client_context):
    host, port = echo_server
    with microsocks(user='bob', password='pa55') as proxy_port:
        calls, echo, _ = tls_round_trip(
            host, port, SOCKS5Proxy('127.0.0.1', proxy_port, user='bob', password='pa55'),
            client_context)
        assert calls.errors == [] and echo == b'through the tunnel\n'
        calls, _, _ = tls_round_trip(
            host, port, SOCKS5Proxy('127.0.0.1', proxy_port, user='bob', password='nope'),
            client_context)
        err, = calls.errors
        assert isinstance(err, ProxyError) and err.errno == errno.EACCES
        calls, _, _ = tls_round_trip(host, port, SOCKS5Proxy('127.0.0.1', proxy_port),
                                     client_context)
        err, = calls.errors
        assert isinstance(err, ProxyError) and 'credentials needed' in str(err)


def test_microsocks_reporting_a_refused_target(client_context):
    host, port = closed_port()
    with microsocks() as proxy_port:
        calls, _, _ = tls_round_trip(host, port, SOCKS5Proxy('127.0.0.1', proxy_port),
                                     client_context)
    err, = calls.errors
    assert isinstance(err, ProxyError) and isinstance(err.reply, int) and err.reply != 0
    assert 'CONNECT refused' in str(err)


# -- scripted proxies --------------------------------------------------------------

@contextlib.contextmanager
def scripted_proxy(script):
    """``(port, greenlet)`` of a proxy that takes one connection and acts out
    ``script(sock)``; the greenlet's value is what the script returned."""
    with gevent.socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)

        def run():
            sock, _ = server.accept()
            with sock:
                return script(sock)

        acting = gevent.spawn(run)
        try:
            yield server.getsockname()[1], acting
        finally:
            acting.kill()


def read_request(sock):
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def plain_stream(port, proxy, **fields):
    """An IOStream to 'target.example':``port`` through ``proxy``, no TLS."""
    fields.setdefault('cb', Calls())
    return IOStream(host=fields.pop('host', 'target.example'), port=port,
                    wait_for=EVERYTHING, plugin=[('proxy', proxy)], **fields)


def test_the_connect_request_on_the_wire():
    def script(sock):
        request = read_request(sock)
        sock.sendall(b'HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n')
        return request

    with scripted_proxy(script) as (port, acting):
        proxy = HTTPSProxy('127.0.0.1', port, user='u', password='p\u00e4ss')
        with closing(plain_stream(443, proxy)) as io:
            io.cb.wait_events(CONNECTED)
            secret = base64.b64encode('u:p\u00e4ss'.encode()).decode()
            assert acting.get(timeout=5) == (
                b'CONNECT target.example:443 HTTP/1.0\r\nHost: target.example:443\r\n'
                b'Proxy-Authorization: Basic ' + secret.encode() + b'\r\n\r\n')
            assert io.lower is not proxy and proxy.upper is None   # it stepped out
            assert io.lower.upper is io


@pytest.mark.parametrize('cls, script', [
    (HTTPSProxy, lambda sock: (read_request(sock), sock.sendall(b'HTTP/1.0 200 OK\r\n\r\n'))),
    (SOCKS5Proxy, lambda sock: socks_script([b'\x05\x00', SOCKS_OK], [3, 21])(sock)),
])
def test_a_proxy_that_opened_its_tunnel_cannot_serve_a_second_stream(cls, script):
    """A proxy plugin steps out of its chain once the tunnel is open, which
    must not make it look free: given to a second stream it would send its
    request again and then ignore the reply (the handshake is over for it),
    holding that stream until the connect timeout. The constructor refuses it."""
    with scripted_proxy(script) as (port, acting):
        proxy = cls('127.0.0.1', port)
        with closing(plain_stream(80, proxy)) as first:
            first.cb.wait_events(CONNECTED)
            acting.get(timeout=5)
            with pytest.raises(ValueError, match='plugins of its own'):
                plain_stream(80, proxy)


def test_an_ipv6_target_is_bracketed():
    with scripted_proxy(read_request) as (port, acting):
        with closing(plain_stream(8443, HTTPSProxy('127.0.0.1', port), host='::1')):
            assert acting.get(timeout=5).startswith(b'CONNECT [::1]:8443 HTTP/1.0\r\n')


def test_data_written_early_follows_the_request_and_tunnel_bytes_come_as_in():
    def script(sock):
        request = read_request(sock)
        sock.sendall(b'HTTP/1.0 200 OK\r\n\r\nhello from the target')
        return request, recv_exactly(sock, 5)

    with scripted_proxy(script) as (port, acting):
        calls = Calls()
        with closing(plain_stream(80, HTTPSProxy('127.0.0.1', port), cb=calls,
                                  out_buf=b'early')) as io:
            assert calls.events == [RESOLVED]     # no OUT until the tunnel is open
            request, early = acting.get(timeout=5)
            assert request.startswith(b'CONNECT target.example:80 ') and early == b'early'
            calls.wait_events(SENT)
            assert calls.events[1] == CONNECTED | IN
            assert io.in_buf == b'hello from the target'
            assert io.out_bytes == 5 and io.in_bytes == 21


def watched(cls):
    """``cls`` whose instances set their ``read`` Event whenever the layer below
    hands them bytes, so that a script can answer one read at a time."""
    class Watched(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.read = gevent.event.Event()

        def event(self, events, err):
            if events & IN:
                self.read.set()
            super().event(events, err)
    return Watched


def trickle(sock, data, plugin):
    """Send ``data`` to ``plugin`` (a `watched` one) one byte per read."""
    for index in range(len(data)):
        plugin.read.clear()
        sock.sendall(data[index:index + 1])
        assert plugin.read.wait(WAIT), f'byte {index} of {data!r} was not read'


def tunnel_through(cls, answer):
    """Open a tunnel to target.example:80 through a scripted ``cls`` proxy
    (made `watched`) whose ``answer(sock, plugin)`` acts out the handshake and
    then sends ``b'tunnel'``; returns what ``answer`` returned."""
    plugins = []
    with scripted_proxy(lambda sock: answer(sock, plugins[0])) as (port, acting):
        plugins.append(watched(cls)('127.0.0.1', port))
        calls = Calls()
        with closing(plain_stream(80, plugins[0], cb=calls)) as io:
            calls.wait(lambda c: io.in_buf == b'tunnel', 'the tunnel bytes')
            assert calls.errors == [] and calls.events[:2] == [RESOLVED, CONNECTED]
            return acting.get(timeout=5)


def test_a_reply_split_at_every_byte_opens_the_tunnel():
    def answer(sock, plugin):
        read_request(sock)
        trickle(sock, b'HTTP/1.1 200 Connection established\r\nVia: 1.1 x\r\n\r\n',
                plugin)
        sock.sendall(b'tunnel')

    tunnel_through(HTTPSProxy, answer)


@pytest.mark.parametrize('reply, code, text', [
    (b'HTTP/1.0 403 Forbidden\r\n\r\n', errno.EACCES, 'HTTP/1.0 403 Forbidden'),
    (b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n', errno.ECONNREFUSED,
     'HTTP/1.1 502 Bad Gateway'),
    (b'SSH-2.0-OpenSSH\r\n\r\n', errno.EPROTO, 'SSH-2.0-OpenSSH'),
])
def test_a_proxy_that_does_not_open_the_tunnel(reply, code, text):
    def script(sock):
        read_request(sock)
        sock.sendall(reply)
        return sock.recv(1)         # the stream sends nothing more

    with scripted_proxy(script) as (port, acting):
        calls = Calls()
        with closing(plain_stream(80, HTTPSProxy('127.0.0.1', port), cb=calls,
                                  out_buf=b'never sent')) as io:
            err = calls.wait_error()
            assert isinstance(err, ProxyError) and err.errno == code
            assert err.reply == text and text in str(err)
            settle()
            assert calls.events == [RESOLVED, 0] and io.out_buf == b'never sent'
        assert acting.get(timeout=5) == b''


def test_a_proxy_that_closes_mid_handshake():
    def script(sock):
        read_request(sock)
        sock.sendall(b'HTTP/1.0 200')      # half a status line, then gone

    with scripted_proxy(script) as (port, _):
        calls = Calls()
        with closing(plain_stream(80, HTTPSProxy('127.0.0.1', port), cb=calls)):
            err = calls.wait_error()
            assert isinstance(err, ProxyError) and err.errno == errno.ECONNRESET
            assert 'closed the connection during the handshake' in str(err)


def test_an_endless_reply_header_is_refused():
    def script(sock):
        read_request(sock)
        sock.sendall(b'HTTP/1.0 200 OK\r\n' + b'X-Padding: ' + b'x' * 70000)
        return sock.recv(1)

    with scripted_proxy(script) as (port, _):
        calls = Calls()
        with closing(plain_stream(80, HTTPSProxy('127.0.0.1', port), cb=calls)):
            err = calls.wait_error()
            assert isinstance(err, ProxyError) and err.errno == errno.EPROTO
            assert 'longer than 65536' in str(err)


def test_a_proxy_that_refused_drops_what_it_goes_on_sending():
    """After a refusal the proxy plugin passes nothing more on, and the stream
    stays open until the user closes it: what the proxy goes on sending must
    not pile up inside the plugin."""
    payload = 8 * 1024 * 1024

    def script(sock):
        read_request(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.sendall(b'HTTP/1.0 403 Forbidden\r\n\r\n' + bytes(payload))

    with scripted_proxy(script) as (port, acting):
        calls = Calls()
        proxy = HTTPSProxy('127.0.0.1', port)
        with closing(plain_stream(80, proxy, cb=calls)) as io:
            # Small socket buffers both ways: the script's sendall returns
            # only once the stream has read most of the payload.
            io.fh.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            assert isinstance(calls.wait_error(), ProxyError)
            acting.get(timeout=5)
            settle()
            assert proxy.in_bytes > payload // 2 and proxy.in_buf == b''
            assert calls.events == [RESOLVED, 0]


def test_a_silent_proxy_is_bounded_by_the_connect_timeout():
    """ETOCONNECT ends the connecting: the tunnel the proxy opens too late is
    never read, so no CONNECTED follows the error."""
    timed_out = gevent.event.Event()

    def script(sock):
        read_request(sock)
        assert timed_out.wait(WAIT)
        sock.sendall(b'HTTP/1.0 200 OK\r\n\r\ntoo late')

    with scripted_proxy(script) as (port, acting):
        calls = Calls()
        with closing(plain_stream(80, HTTPSProxy('127.0.0.1', port), cb=calls,
                                  connect_timeout=0.2)) as io:
            assert calls.wait_error() is ETOCONNECT
            timed_out.set()
            acting.get(timeout=5)
            settle()
            assert calls.events == [RESOLVED, 0] and io.in_buf == b''


def socks_script(replies, reads):
    """A SOCKS5 proxy answering ``replies`` in turn, each after reading the
    number of bytes in ``reads``; returns what it read."""
    def script(sock):
        got = []
        for size, reply in zip(reads, replies):
            got.append(recv_exactly(sock, size))
            sock.sendall(reply)
        return got
    return script


SOCKS_OK = b'\x05\x00\x00\x01\x7f\x00\x00\x01\x1f\x90'


@pytest.mark.parametrize('host, request_bytes', [
    ('target.example', b'\x05\x01\x00\x03\x0etarget.example\x01\xbb'),
    ('192.0.2.7', b'\x05\x01\x00\x01\xc0\x00\x02\x07\x01\xbb'),
    ('2001:db8::1', b'\x05\x01\x00\x04' + socket.inet_pton(socket.AF_INET6, '2001:db8::1')
     + b'\x01\xbb'),
])
def test_socks5_requests_pass_names_unresolved(host, request_bytes):
    script = socks_script([b'\x05\x00', SOCKS_OK], [3, len(request_bytes)])
    with scripted_proxy(script) as (port, acting):
        calls = Calls()
        with closing(plain_stream(443, SOCKS5Proxy('127.0.0.1', port), cb=calls,
                                  host=host)):
            calls.wait_events(CONNECTED)
            assert acting.get(timeout=5) == [b'\x05\x01\x00', request_bytes]


@pytest.mark.parametrize('bound', [
    b'\x01' + socket.inet_pton(socket.AF_INET, '192.0.2.1') + b'\x1f\x90',
    b'\x03\x0bproxy.local\x1f\x90',
    b'\x04' + socket.inet_pton(socket.AF_INET6, '2001:db8::2') + b'\x1f\x90',
], ids=['ipv4', 'domain', 'ipv6'])
def test_socks5_replies_of_every_address_type_split_at_every_byte(bound):
    """The bound address in the reply may be of any type (RFC 1928 section 6);
    the tunnel opens after exactly its last byte, what follows is the target's."""
    def answer(sock, plugin):
        greeting = recv_exactly(sock, 3)
        trickle(sock, b'\x05\x00', plugin)
        request = recv_exactly(sock, 21)
        trickle(sock, b'\x05\x00\x00' + bound, plugin)
        sock.sendall(b'tunnel')
        return greeting, request

    assert tunnel_through(SOCKS5Proxy, answer) == (
        b'\x05\x01\x00', b'\x05\x01\x00\x03\x0etarget.example\x00\x50')


@pytest.mark.parametrize('replies, message', [
    ([b'\x05\x02'], 'chose method 2 that was not offered'),
    ([b'\x05\x00', b'\x05\x00\x00\x07\x00\x00'], 'unknown address type 7'),
    ([b'\x04\x00'], 'not a SOCKS5 reply (version 4)'),
])
def test_a_socks5_proxy_that_breaks_the_protocol_is_eproto(replies, message):
    with scripted_proxy(socks_script(replies, [3, 21])) as (port, _):
        calls = Calls()
        with closing(plain_stream(80, SOCKS5Proxy('127.0.0.1', port), cb=calls)):
            err = calls.wait_error()
            assert isinstance(err, ProxyError) and err.errno == errno.EPROTO
            assert message in str(err)


def test_socks5_user_and_password_on_the_wire():
    auth = b'\x01\x04user\x06secret'
    request = b'\x05\x01\x00\x03\x0etarget.example\x00\x50'
    script = socks_script([b'\x05\x02', b'\x01\x00', SOCKS_OK], [4, len(auth), len(request)])
    with scripted_proxy(script) as (port, acting):
        calls = Calls()
        with closing(plain_stream(80, SOCKS5Proxy('127.0.0.1', port, user='user',
                                                  password='secret'), cb=calls)):
            calls.wait_events(CONNECTED)
            assert acting.get(timeout=5) == [b'\x05\x02\x00\x02', auth, request]


@pytest.mark.parametrize('reply, code', [
    (b'\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00', errno.ECONNREFUSED),
    (b'\x05\x04\x00\x01\x00\x00\x00\x00\x00\x00', errno.EHOSTUNREACH),
    (b'\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00', errno.EACCES),
])
def test_socks5_failure_replies(reply, code):
    script = socks_script([b'\x05\x00', reply], [3, 21])
    with scripted_proxy(script) as (port, _):
        calls = Calls()
        with closing(plain_stream(80, SOCKS5Proxy('127.0.0.1', port), cb=calls)):
            err = calls.wait_error()
            assert isinstance(err, ProxyError) and err.errno == code
            assert err.reply == reply[1]


def test_socks5_proxy_closing_mid_handshake():
    script = socks_script([b'\x05'], [3])
    with scripted_proxy(script) as (port, _):
        calls = Calls()
        with closing(plain_stream(80, SOCKS5Proxy('127.0.0.1', port), cb=calls)):
            err = calls.wait_error()
            assert isinstance(err, ProxyError) and err.errno == errno.ECONNRESET


def test_socks5_reply_that_is_not_socks5():
    script = socks_script([b'HTTP/1.0 400 Bad Request\r\n\r\n'], [3])
    with scripted_proxy(script) as (port, _):
        calls = Calls()
        with closing(plain_stream(80, SOCKS5Proxy('127.0.0.1', port), cb=calls)):
            err = calls.wait_error()
            assert isinstance(err, ProxyError) and err.errno == errno.EPROTO


# -- parameters ----------------------------------------------------------------------

@pytest.mark.parametrize('cls', [HTTPSProxy, SOCKS5Proxy])
def test_a_proxy_needs_a_stream_made_from_host_and_port(cls, socketpair):
    a, _ = socketpair
    with pytest.raises(TypeError, match='needs the IOStream made from host= and port='):
        IOStream(fh=a, cb=lambda *args: None, plugin=[('proxy', cls('127.0.0.1', 1080))])


@pytest.mark.parametrize('cls', [HTTPSProxy, SOCKS5Proxy])
@pytest.mark.parametrize('host', ['evil.example\r\nX-Injected: 1', 'a b', 'user@host'])
def test_a_target_that_could_break_the_request_is_refused(cls, host):
    with pytest.raises(ValueError, match='cannot be sent to a proxy'):
        IOStream(host=host, port=80, cb=lambda *args: None,
                 plugin=[('proxy', cls('127.0.0.1', 1080))])


def test_a_socks5_target_longer_than_255_bytes_is_refused_at_the_call():
    proxy = SOCKS5Proxy('127.0.0.1', 1080)
    with pytest.raises(ValueError, match='longer than SOCKS5 allows'):
        IOStream(host='a.' * 128 + 'b', port=80, cb=lambda *args: None,
                 plugin=[('proxy', proxy)])
    assert proxy.target is None         # refused, it is still free for another stream


@pytest.mark.parametrize('cls, args, error, message', [
    (HTTPSProxy, ('', 8080), TypeError, 'host must be a non-empty str'),
    (HTTPSProxy, ('proxy', 0), ValueError, 'port must be 1 to 65535, not 0'),
    (HTTPSProxy, ('proxy', 8080, 'a:b', 'c'), ValueError, "may not contain ':'"),
    (HTTPSProxy, ('proxy', 8080, None, 'pw'), ValueError, 'password= needs user='),
    (SOCKS5Proxy, ('proxy', 1080, 'x' * 256, 'pw'), ValueError, '1 to 255 bytes'),
    (SOCKS5Proxy, ('proxy', 1080, 'u', 'p' * 256), ValueError, 'at most 255 bytes'),
    (SOCKS5Proxy, ('proxy', 1080, 5), TypeError, 'user must be a str or None, not 5'),
])
def test_proxy_parameters_are_checked(cls, args, error, message):
    with pytest.raises(error, match=message):
        cls(*args)
