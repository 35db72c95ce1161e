"""Connector and loop.connect(): candidates in order, on_fail, the most
significant error, resolving, local binds, what is handed over, bad input."""

import errno
import os
import socket
import subprocess
import sys
import textwrap

import gevent
import gevent.socket
import pytest

import geventio
from conftest import HAS_IPV6, WAIT, recv_exactly
from netutil import RecordingConnector, blackhole, closed_port, inet, live_listener


def test_connect_fails_over_to_a_live_listener_reporting_each_failure(loop, tmp_path):
    """A missing unix path, a closed port and an invalid protocol fail in turn,
    each reported to on_fail with its arguments, before the listener answers."""
    missing = str(tmp_path / 'missing.sock')
    refused = closed_port()
    fails = []
    with live_listener() as server:
        future = loop.connect(
            addrs=[{'family': 'unix', 'socktype': 'stream', 'path': missing},
                   inet(*refused),
                   inet(*server.getsockname(), protocol=253),
                   {'family': 'inet', 'ip': '127.0.0.1', 'port': server.getsockname()[1]}],
            on_fail=lambda *args: fails.append(args))
        sock = future.get()
        try:
            assert isinstance(sock, gevent.socket.socket)
            assert sock.getpeername() == server.getsockname()
        finally:
            sock.close()
    assert [call[0] for call in fails] == ['connect', 'connect', 'socket']
    (_, sock1, addr1, err1), (_, sock2, addr2, err2), socket_fail = fails
    assert (addr1, err1.errno) == (missing, errno.ENOENT)
    assert (addr2, err2.errno) == (refused, errno.ECONNREFUSED)
    assert socket_fail[1:4] == (socket.AF_INET, socket.SOCK_STREAM, 253)
    assert socket_fail[4].errno == errno.EPROTONOSUPPORT
    assert sock1.fileno() == -1 and sock2.fileno() == -1   # closed after on_fail


@pytest.mark.parametrize('order, syscall', [
    (['connect', 'socket'], 'connect'),
    (['socket', 'connect'], 'connect'),
    (['bind', 'socket'], 'bind'),
    (['socket', 'bind'], 'bind'),
    (['connect', 'bind'], 'connect'),
    (['bind', 'connect', 'socket'], 'connect'),
])
def test_most_significant_error_wins_when_everything_fails(loop, tmp_path, order, syscall):
    """connect over bind over socket, whatever order they happened in. Each
    peer pairs with the one local address of its family: inet peers bind to
    127.0.0.1 (fine), the unix peer to a path in a missing directory. Local
    addresses are the outer loop, so the inet peers are tried first."""
    peers = {'connect': inet(*closed_port()),
             'socket': inet('127.0.0.1', 9, protocol=253),
             'bind': {'family': 'unix', 'path': str(tmp_path / 'peer.sock')}}
    local_addrs = [inet('127.0.0.1', 0),
                   {'family': 'unix', 'path': str(tmp_path / 'missing' / 'local.sock')}]
    errors = []
    future = loop.connect(addrs=[peers[kind] for kind in order], local_addrs=local_addrs,
                          on_connect_error=lambda *args: errors.append(args))
    with pytest.raises(geventio.ConnectError) as info:
        future.get()
    assert info.value.syscall == syscall
    assert errors == [(syscall, info.value.error)]
    tried = [kind for kind in order if kind != 'bind'] + \
        [kind for kind in order if kind == 'bind']
    assert [kind for kind, _ in info.value.errors] == tried
    assert info.value.__cause__ is info.value.error


def test_candidates_take_local_addresses_outermost(loop):
    """IO::Async's order with local addresses [busy, free] and peers [closed
    port, open port]: bind EADDRINUSE twice (the busy local address with each
    peer), then connect ECONNREFUSED (the free one with the closed port), then
    connected to the open port."""
    fails = []
    with live_listener() as busy, live_listener() as server:
        sock = loop.connect(
            addrs=[inet(*closed_port()), inet(*server.getsockname())],
            local_addrs=[inet(*busy.getsockname()), inet('127.0.0.1', 0)],
            on_fail=lambda *args: fails.append(args)).get()
        with sock:
            assert sock.getpeername() == server.getsockname()
    assert [(call[0], call[-1].errno) for call in fails] == [
        ('bind', errno.EADDRINUSE), ('bind', errno.EADDRINUSE),
        ('connect', errno.ECONNREFUSED)]


def test_the_last_error_of_the_most_significant_kind_is_reported(loop):
    first, second = closed_port(), closed_port()
    future = loop.connect(addrs=[inet(*first), inet(*second)])
    with pytest.raises(geventio.ConnectError) as info:
        future.get()
    assert info.value.errno == errno.ECONNREFUSED
    assert len(info.value.errors) == 2
    assert info.value.error is info.value.errors[-1][1]


def test_a_failed_local_bind_moves_on_to_the_next_local_address(loop):
    fails = []
    with live_listener() as server:
        sock = loop.connect(
            addr=inet(*server.getsockname()),
            local_addrs=[inet('192.0.2.1', 0), inet('127.0.0.1', 0)],
            on_fail=lambda *args: fails.append(args)).get()
        with sock:
            assert sock.getsockname()[0] == '127.0.0.1'
    assert len(fails) == 1
    syscall, failed_sock, local, err = fails[0]
    assert (syscall, local, err.errno) == ('bind', ('192.0.2.1', 0), errno.EADDRNOTAVAIL)


def test_local_addresses_of_another_family_are_not_candidates(loop):
    """An inet6 local address never pairs with an inet peer: no candidate is
    left, and connect fails cleanly."""
    errors = []
    with live_listener() as server:
        future = loop.connect(addr=inet(*server.getsockname()),
                              local_addr={'family': 'inet6', 'ip': '::1'},
                              on_connect_error=lambda *args: errors.append(args))
        with pytest.raises(geventio.ConnectError) as info:
            future.get()
    assert info.value.syscall == 'connect'
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert info.value.errors == []
    assert errors == [('connect', info.value.error)]


def test_an_empty_address_list_fails_cleanly(loop):
    with pytest.raises(geventio.ConnectError, match='no candidate'):
        loop.connect(addrs=[]).get()


def test_local_host_and_service_are_resolved_and_bound(loop):
    port = closed_port()[1]
    with live_listener() as server:
        sock = loop.connect(host='127.0.0.1', service=server.getsockname()[1],
                            local_host='127.0.0.1', local_service=port).get()
        with sock:
            assert sock.getsockname() == ('127.0.0.1', port)


def test_resolver_mode_connects_to_a_name(loop):
    with live_listener() as server:
        sock = loop.connect(host='localhost', service=str(server.getsockname()[1]),
                            socktype='stream').get()
        with sock:
            assert sock.getpeername() == server.getsockname()


@pytest.mark.skipif(not HAS_IPV6, reason='no IPv6 loopback')
def test_resolver_hints_choose_the_family(loop):
    with live_listener(socket.AF_INET6) as server:
        port = server.getsockname()[1]
        sock = loop.connect(host='::1', service=port, family='inet6').get()
        with sock:
            assert sock.family == socket.AF_INET6


def test_unresolvable_name_fails_with_resolve_error(loop):
    errors = []
    future = loop.connect(host='no-such-host.invalid', service=80,
                          on_resolve_error=errors.append)
    with pytest.raises(geventio.ResolveError) as info:
        future.get()
    assert errors == [info.value]
    assert info.value.errno < 0      # an EAI_* code


RESOLVER_SCRIPT = textwrap.dedent('''
    import gevent, geventio
    errors = []
    future = geventio.Loop().connect(host='no-such-host.invalid', service=80,
                                     on_resolve_error=errors.append)
    try:
        future.get(timeout=30)
    except geventio.ResolveError as err:
        resolver = type(gevent.get_hub().resolver).__module__
        print(resolver, err.errno, errors == [err])
''')


@pytest.mark.parametrize('resolver, module', [('block', 'gevent.resolver.blocking'),
                                              ('thread', 'gevent.resolver.thread')])
def test_gevent_resolver_setting_is_used_and_failures_are_resolve_errors(resolver, module):
    env = dict(os.environ, GEVENT_RESOLVER=resolver)
    done = subprocess.run([sys.executable, '-c', RESOLVER_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    name, code, told = done.stdout.split()
    assert name == module
    assert int(code) < 0 and told == 'True'


def test_peer_is_a_listening_socket(loop):
    with live_listener() as server:
        sock = loop.connect(peer=server).get()
        accepted, _ = server.accept()
        with sock, accepted:
            sock.sendall(b'ping')
            assert recv_exactly(accepted, 4) == b'ping'


def test_unix_stream_sockets_connect_by_path(loop, tmp_path):
    path = str(tmp_path / 'server.sock')
    with gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        sock = loop.connect(addr={'family': 'unix', 'socktype': 'stream',
                                  'path': path}).get()
        with sock:
            assert sock.family == socket.AF_UNIX
            assert sock.getpeername() == path


def test_timeout_is_a_connect_failure_with_etimedout(loop):
    fails = []
    with blackhole() as hole:
        future = loop.connect(addr=inet(*hole), timeout=0.2,
                              on_fail=lambda *args: fails.append(args))
        with pytest.raises(geventio.ConnectError) as info:
            future.get()
    assert info.value.syscall == 'connect'
    assert info.value.errno == errno.ETIMEDOUT
    assert fails[0][0] == 'connect' and fails[0][3] is info.value.error


def test_on_connected_gets_the_socket_and_the_future_holds_it(loop):
    got = []
    with live_listener() as server:
        sock = loop.connect(addr=inet(*server.getsockname()),
                            on_connected=got.append).get()
        with sock:
            assert got == [sock]
            assert sock.gettimeout() is None      # an ordinary gevent socket


def test_on_stream_hands_over_a_stream_not_yet_in_a_loop(loop):
    got = []
    with live_listener() as server:
        stream = loop.connect(addr=inet(*server.getsockname()),
                              on_stream=got.append).get()
        accepted, _ = server.accept()
        with accepted:
            assert got == [stream] and isinstance(stream, geventio.Stream)
            assert stream.loop is None
            stream.configure(on_read=lambda *args: 0)
            loop.add(stream)
            stream.write(b'hello')
            assert recv_exactly(accepted, 5) == b'hello'
            stream.close()


def test_on_socket_hands_over_a_datagram_socket(loop):
    with gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(('127.0.0.1', 0))
        sock = loop.connect(addr={'ip': '127.0.0.1', 'port': server.getsockname()[1],
                                  'socktype': 'dgram'},
                            on_socket=lambda s: None).get()
        assert isinstance(sock, geventio.Socket) and sock.loop is None
        sock.configure(on_recv=lambda *args: None, autoflush=True)
        loop.add(sock)
        sock.send(b'datagram')
        assert server.recv(100) == b'datagram'
        sock.close()


def test_handle_connect_connects_that_handle(loop):
    """Writes queued before the stream had a socket go out once it has one."""
    with live_listener() as server:
        stream = geventio.Stream(on_read=lambda *args: 0)
        loop.add(stream)
        stream.write(b'queued before connecting')
        result = stream.connect(addr=inet(*server.getsockname())).get()
        accepted, _ = server.accept()
        with accepted:
            assert result is stream and stream.loop is loop
            assert recv_exactly(accepted, 24) == b'queued before connecting'
            accepted.sendall(b'back')
            assert stream.read_exactly(4).get() == b'back'
        stream.close()


def test_handle_bind_makes_a_receive_first_datagram_socket(loop):
    got = gevent.event.AsyncResult()
    sock = geventio.Socket(on_recv=lambda s, data, addr: got.set(data))
    loop.add(sock)
    assert sock.bind(host='127.0.0.1', service=0, socktype='dgram').get() is sock
    with gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.sendto(b'first', sock.read_handle.getsockname())
        assert got.get() == b'first'
    sock.close()


def test_handle_bind_to_an_address_in_use_fails_with_the_bind_error(loop):
    with gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(('127.0.0.1', 0))
        sock = geventio.Socket(on_recv=lambda *args: None)
        future = sock.bind({'family': 'inet', 'socktype': 'dgram',
                            'ip': '127.0.0.1', 'port': taken.getsockname()[1]})
        with pytest.raises(OSError) as info:
            future.get()
    assert info.value.errno == errno.EADDRINUSE
    assert sock.read_handle is None


def test_a_raising_on_connected_is_logged_and_closes_the_socket(loop, callback_errors):
    got = []

    def on_connected(sock):
        got.append(sock)
        raise RuntimeError('boom')

    with live_listener() as server:
        future = loop.connect(addr=inet(*server.getsockname()), on_connected=on_connected)
        with pytest.raises(RuntimeError):
            future.get()
    assert got[0].fileno() == -1
    assert [r.getMessage() for r in callback_errors][0].startswith('on_connected raised')


def test_a_socket_the_handle_refuses_is_closed_and_the_future_fails(loop):
    """``handle=`` a Listener takes only listening sockets, so handing it the
    connected one fails: that socket is closed, not leaked."""
    with live_listener() as server:
        connector = RecordingConnector(loop)
        listener = geventio.Listener(on_accept=lambda listener, sock: None)
        future = connector.connect(addr=inet(*server.getsockname()), handle=listener)
        with pytest.raises(ValueError, match='not listening'):
            future.get(timeout=WAIT)
        [sock] = connector.sockets
        assert sock.fileno() == -1
        accepted, _ = server.accept()
        with accepted:
            accepted.settimeout(WAIT)
            assert accepted.recv(10) == b''
    assert not listener.is_listening


def test_ssl_false_connects_without_tls(loop):
    with live_listener() as server:
        sock = loop.connect(addr=inet(*server.getsockname()), ssl=False).get()
        accepted, _ = server.accept()
        with sock, accepted:
            assert type(sock) is gevent.socket.socket
            sock.sendall(b'plain')
            assert recv_exactly(accepted, 5) == b'plain'


def test_a_raising_on_fail_does_not_stop_the_attempts(loop, callback_errors):
    with live_listener() as server:
        sock = loop.connect(addrs=[inet(*closed_port()), inet(*server.getsockname())],
                            on_fail=lambda *args: 1 / 0).get()
        sock.close()
    assert len(callback_errors) == 1


@pytest.mark.parametrize('params, error, words', [
    ({}, TypeError, 'needs a target'),
    ({'on_connected': print}, TypeError, 'needs a target'),
    ({'host': 'localhost'}, TypeError, 'service'),
    ({'service': 80}, TypeError, 'host'),
    ({'host': 'localhost', 'service': 80, 'addr': inet('127.0.0.1', 1)},
     TypeError, 'host/service and addr'),
    ({'addr': inet('127.0.0.1', 1), 'addrs': []}, TypeError, 'addr and addrs'),
    ({'host': 'localhost', 'service': 80, 'family': 'inet7'}, ValueError, 'inet7'),
    ({'host': 'localhost', 'service': 80, 'socktype': 'stram'}, ValueError, 'socktype'),
    ({'host': 'localhost', 'service': 70000}, ValueError, 'service'),
    ({'addr': {'ip': '127.0.0.1', 'port': 1, 'bogus': 1}}, ValueError, 'bogus'),
    ({'addr': {'ip': '127.0.0.1', 'port': 65536}}, ValueError, '0..65535'),
    ({'addr': inet('127.0.0.1', 1), 'family': 'inet'}, TypeError, 'resolver hint'),
    ({'addr': inet('127.0.0.1', 1), 'local_addr': inet('127.0.0.1', 0),
      'local_host': 'localhost'}, TypeError, 'local_'),
    ({'addr': inet('127.0.0.1', 1), 'on_stream': print, 'on_connected': print},
     TypeError, 'on_connected and on_stream'),
    ({'addr': inet('127.0.0.1', 1), 'on_fail': 'print'}, TypeError, 'on_fail'),
    ({'addr': inet('127.0.0.1', 1), 'timeout': 0}, ValueError, 'timeout'),
    ({'addr': inet('127.0.0.1', 1), 'happy_eyeballs_delay': -1}, ValueError,
     'happy_eyeballs_delay'),
    ({'addr': inet('127.0.0.1', 1), 'ssl': 'yes'}, TypeError, 'ssl'),
    ({'addr': {'ip': '127.0.0.1', 'port': 1, 'socktype': 'dgram'}, 'ssl': True,
      'server_hostname': 'x'}, ValueError, 'stream sockets only'),
    ({'addr': inet('127.0.0.1', 1), 'ssl': True}, ValueError, 'server_hostname'),
    ({'addr': inet('127.0.0.1', 1), 'server_hostname': 'x'}, TypeError, 'ssl'),
    ({'addr': inet('127.0.0.1', 1), 'handle': object()}, TypeError, 'handle'),
    ({'addr': inet('127.0.0.1', 1), 'colour': 'blue'}, TypeError, 'colour'),
])
def test_bad_parameters_raise_at_the_call(loop, params, error, words):
    with pytest.raises(error, match=words):
        loop.connect(**params)


def test_peer_must_be_listening(loop):
    with gevent.socket.socket() as sock:
        with pytest.raises(ValueError, match='not listening'):
            loop.connect(peer=sock)
