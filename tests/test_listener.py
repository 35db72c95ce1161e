"""Listener and loop.listen(): the three listening modes, one socket per address,
failures and their priority, the accept events, closing, bad input."""

import errno
import socket
import time

import gevent
import gevent.event
import gevent.socket
import pytest
from gevent.event import AsyncResult

import geventio
from conftest import HAS_IPV6, WAIT, Log, recv_exactly
from netutil import closed_port, echo, echo_into, inet, live_listener, round_trip


@pytest.fixture
def echo_stream(loop):
    """An on_stream continuation that makes each new stream echo."""
    return echo_into(loop)


def test_loop_listen_on_an_address_and_echo(loop, echo_stream):
    listener = loop.listen(addr={'ip': '127.0.0.1', 'port': 0},
                           on_stream=echo_stream).get()
    assert isinstance(listener, geventio.Listener) and listener.loop is loop
    assert listener.is_listening
    assert listener.family == socket.AF_INET
    assert listener.socktype == socket.SOCK_STREAM
    assert round_trip(listener.sockname) == b'ping'


def test_every_address_gets_its_own_listening_socket(loop, echo_stream, tmp_path):
    path = str(tmp_path / 'listen.sock')
    addrs = [inet('127.0.0.1', 0), {'family': 'unix', 'path': path}]
    if HAS_IPV6:
        addrs.append({'family': 'inet6', 'ip': '::1', 'port': 0})
    listener = loop.listen(addrs=addrs, on_stream=echo_stream).get()
    assert len(listener.sockets) == len(addrs)
    assert all(isinstance(s, gevent.socket.socket) for s in listener.sockets)
    assert listener.sockname == listener.sockets[0].getsockname()
    for sock in listener.sockets:
        assert round_trip(sock.getsockname(), sock.family) == b'ping'


def test_a_partial_bind_failure_still_listens_on_the_rest(loop, echo_stream):
    fails, listened = [], []
    with live_listener(backlog=1) as taken:
        busy = taken.getsockname()
        listener = loop.listen(addrs=[inet(*busy), inet('127.0.0.1', 0)],
                               on_stream=echo_stream, on_listen=listened.append,
                               on_fail=lambda *args: fails.append(args)).get()
    assert listened == [listener] and len(listener.sockets) == 1
    [(syscall, sock, address, err)] = fails
    assert (syscall, address, err.errno) == ('bind', busy, errno.EADDRINUSE)
    assert sock.fileno() == -1
    assert round_trip(listener.sockname) == b'ping'


def test_when_every_address_fails_the_most_significant_error_is_reported(loop):
    """bind beats socket although the socket failure came last."""
    errors, fails = [], []
    with gevent.socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        future = loop.listen(addrs=[inet(*taken.getsockname()),
                                    inet('127.0.0.1', 0, protocol=253)],
                             on_accept=lambda sock: None,
                             on_listen_error=lambda *args: errors.append(args),
                             on_fail=lambda *args: fails.append(args))
        with pytest.raises(geventio.ListenError) as info:
            future.get()
    assert info.value.syscall == 'bind' and info.value.errno == errno.EADDRINUSE
    assert errors == [('bind', info.value.error)]
    assert [call[0] for call in fails] == ['bind', 'socket']
    assert fails[1][1:4] == (socket.AF_INET, socket.SOCK_STREAM, 253)
    assert loop.notifiers == ()          # the loop-level listener was closed


def test_sockopt_failure_shape_and_priority_over_socket(loop, monkeypatch):
    """Linux sets these options on any inet socket, so the failure is injected:
    a platform without SO_REUSEPORT answers ENOPROTOOPT."""
    real = gevent.socket.socket.setsockopt

    def setsockopt(sock, level, option, value):
        if option == socket.SO_REUSEPORT:
            raise OSError(errno.ENOPROTOOPT, 'Protocol not available')
        return real(sock, level, option, value)

    monkeypatch.setattr(gevent.socket.socket, 'setsockopt', setsockopt)
    fails = []
    future = loop.listen(addrs=[inet('127.0.0.1', 0), inet('127.0.0.1', 0, protocol=253)],
                         reuseport=True, on_accept=lambda sock: None,
                         on_fail=lambda *args: fails.append(args))
    with pytest.raises(geventio.ListenError) as info:
        future.get()
    assert info.value.syscall == 'sockopt'
    (syscall, sock, option, value, err), socket_fail = fails
    assert (syscall, option, value, err.errno) == (
        'sockopt', socket.SO_REUSEPORT, 1, errno.ENOPROTOOPT)
    assert socket_fail[0] == 'socket'


def test_listen_failure_shape(loop):
    """A datagram socket cannot listen: on_fail('listen', sock, queuesize, err)."""
    fails = []
    future = loop.listen(addr={'ip': '127.0.0.1', 'socktype': 'dgram'}, queuesize=7,
                         on_accept=lambda sock: None,
                         on_fail=lambda *args: fails.append(args))
    with pytest.raises(geventio.ListenError) as info:
        future.get()
    assert info.value.syscall == 'listen'
    [(syscall, sock, queuesize, err)] = fails
    assert (syscall, queuesize, err.errno) == ('listen', 7, errno.EOPNOTSUPP)


def test_resolver_mode_with_service_0_listens_everywhere_on_one_port(loop, echo_stream):
    listener = loop.listen(service=0, on_stream=echo_stream).get()
    families = {s.family for s in listener.sockets}
    ports = {s.getsockname()[1] for s in listener.sockets}
    assert socket.AF_INET in families and len(ports) == 1
    port = ports.pop()
    assert {s.getsockname()[0] for s in listener.sockets} <= {'0.0.0.0', '::'}
    assert round_trip(('127.0.0.1', port)) == b'ping'
    if HAS_IPV6:
        assert round_trip(('::1', port), socket.AF_INET6) == b'ping'


def test_resolver_mode_with_a_host(loop, echo_stream):
    listener = loop.listen(host='127.0.0.1', service='0', socktype='stream',
                           on_stream=echo_stream).get()
    assert [s.getsockname()[0] for s in listener.sockets] == ['127.0.0.1']


def test_resolver_mode_reports_resolve_errors(loop):
    errors = []
    future = loop.listen(host='no-such-host.invalid', service=0,
                         on_accept=lambda sock: None, on_resolve_error=errors.append)
    with pytest.raises(geventio.ResolveError) as info:
        future.get()
    assert errors == [info.value]


def test_closing_while_resolving_listens_nowhere(loop, monkeypatch):
    resolving = gevent.event.Event()
    answer = AsyncResult()

    class SlowResolver:
        def getaddrinfo(self, *args):
            resolving.set()
            return answer.get()

    monkeypatch.setattr(gevent.get_hub(), 'resolver', SlowResolver())
    listener = geventio.Listener(on_accept=lambda listener, sock: None)
    loop.add(listener)
    future = listener.listen(host='somewhere.example', service=0)
    resolving.wait()
    listener.close()
    answer.set(socket.getaddrinfo('127.0.0.1', 0, socket.AF_INET, socket.SOCK_STREAM))
    with pytest.raises(geventio.ListenError) as info:
        future.get()
    assert info.value.errno == errno.ECANCELED and listener.sockets == []


def test_existing_socket_mode(loop, echo_stream):
    listened = []
    with live_listener(backlog=5) as server:
        listener = loop.listen(handle=server, on_stream=echo_stream,
                               on_listen=listened.append).get()
        assert listener.sockets == [server] and listened == [listener]
        assert round_trip(server.getsockname()) == b'ping'
        listener.close()
        assert server.fileno() == -1          # the listener owned it


def test_giving_a_listening_listener_another_handle_raises(loop, echo_stream):
    with live_listener(backlog=5) as first, live_listener(backlog=5) as second:
        listener = loop.listen(handle=first, on_stream=echo_stream).get()
        with pytest.raises(ValueError, match='already listening'):
            listener.configure(handle=second)
        assert listener.sockets == [first]
        assert round_trip(first.getsockname()) == b'ping'
        listener.close()


def test_a_stdlib_listening_socket_yields_gevent_sockets(loop):
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(5)
    accepted = AsyncResult()
    listener = geventio.Listener(handle=server, on_accept=lambda l, sock: accepted.set(sock))
    loop.add(listener)
    with gevent.socket.create_connection(server.getsockname()):
        sock = accepted.get()
        assert isinstance(sock, gevent.socket.socket)
        sock.close()


def test_listener_level_events_get_the_listener(loop):
    got = AsyncResult()
    listener = geventio.Listener(on_accept=lambda listener, sock: got.set((listener, sock)))
    loop.add(listener)
    listener.listen(addr=inet('127.0.0.1', 0)).get()
    with gevent.socket.create_connection(listener.sockname):
        who, sock = got.get()
        assert who is listener
        sock.close()


def test_loop_once_returns_after_a_connection_is_accepted(loop):
    """An accept dispatches an event of the loop, so loop_once returns at once
    rather than at its timeout."""
    accepted = []
    listener = loop.listen(addr=inet('127.0.0.1', 0), on_accept=accepted.append).get()
    with gevent.socket.create_connection(listener.sockname):
        started = time.monotonic()
        loop.loop_once(timeout=5)
        assert time.monotonic() - started < 1
        assert len(accepted) == 1
        accepted[0].close()


def test_on_socket_wraps_accepted_sockets_in_socket_objects(loop):
    got = AsyncResult()
    listener = loop.listen(addr=inet('127.0.0.1', 0), on_socket=got.set).get()
    with gevent.socket.create_connection(listener.sockname):
        wrapper = got.get()
        assert isinstance(wrapper, geventio.Socket) and wrapper.loop is None
        wrapper.close()


def test_setting_one_accept_event_clears_the_others(loop):
    class Server(geventio.Listener):
        def on_stream(self, stream):
            raise AssertionError('cleared by the keyword')

    got = AsyncResult()
    listener = Server(on_accept=lambda listener, sock: got.set(sock))
    assert not listener.can_event('on_stream') and listener.can_event('on_accept')
    listener.configure(on_socket=lambda listener, sock: None)
    assert not listener.can_event('on_accept')
    listener.configure(on_accept=lambda listener, sock: got.set(sock))
    loop.add(listener)
    listener.listen(addr=inet('127.0.0.1', 0)).get()
    with gevent.socket.create_connection(listener.sockname):
        got.get().close()


def test_a_subclass_method_is_the_accept_event(loop):
    class EchoServer(geventio.Listener):
        def on_stream(self, stream):
            stream.configure(on_read=echo)
            self.add_child(stream)

    listener = EchoServer()
    loop.add(listener)
    listener.listen(addr=inet('127.0.0.1', 0)).get()
    assert round_trip(listener.sockname) == b'ping'


def test_handle_class_and_handle_constructor_choose_the_wrapper(loop):
    class Echo(geventio.Stream):
        def on_read(self, buffer, eof):
            return echo(self, buffer, eof)

    made = []
    listener = loop.listen(addr=inet('127.0.0.1', 0), handle_class=Echo,
                           on_stream=loop.add).get()
    assert round_trip(listener.sockname) == b'ping'
    other = loop.listen(addr=inet('127.0.0.1', 0), handle_class=geventio.Stream,
                        handle_constructor=lambda listener: made.append(Echo()) or made[-1],
                        on_stream=loop.add).get()
    assert round_trip(other.sockname) == b'ping'
    assert len(made) == 1


def test_close_stops_accepting_but_keeps_accepted_children(loop):
    listener = geventio.Listener(
        on_stream=lambda listener, stream: listener.add_child(stream.configure(
            on_read=echo) or stream))
    loop.add(listener)
    listener.listen(addr=inet('127.0.0.1', 0)).get()
    address = listener.sockname
    with gevent.socket.create_connection(address) as client:
        client.sendall(b'one')
        assert recv_exactly(client, 3) == b'one'
        [child] = listener.children
        closed = []
        listener.configure(on_closed=closed.append)
        listener.close()
        assert closed == [listener] and not listener.is_listening
        assert child.parent is None and child.loop is loop and not child.is_closed
        client.sendall(b'two')
        assert recv_exactly(client, 3) == b'two'
    with pytest.raises(ConnectionRefusedError):
        round_trip(address)
    child.close()


def test_listener_added_with_handle_accepts_once_in_a_loop(loop, echo_stream):
    with live_listener(backlog=5) as server:
        listener = geventio.Listener(
            handle=server, on_stream=lambda listener, stream: echo_stream(stream))
        assert listener.is_listening and listener.loop is None
        loop.add(listener)
        assert round_trip(server.getsockname()) == b'ping'
        loop.remove(listener)
        loop.add(listener)       # removing stopped accepting; adding starts it again
        assert round_trip(server.getsockname()) == b'ping'


def test_a_raising_accept_callback_closes_that_connection_only(loop, echo_stream,
                                                                 callback_errors):
    calls = []

    def on_stream(stream):
        calls.append(stream)
        if len(calls) == 1:
            raise RuntimeError('boom')
        echo_stream(stream)

    listener = loop.listen(addr=inet('127.0.0.1', 0), on_stream=on_stream).get()
    with gevent.socket.create_connection(listener.sockname) as first:
        assert first.recv(10) == b''           # closed by the listener
    assert round_trip(listener.sockname) == b'ping'
    assert len(callback_errors) == 1 and listener.is_listening


def test_a_raising_on_stream_closes_the_stream_it_was_given_and_its_loop_drops_it(
        loop, callback_errors):
    given = Log()

    def on_stream(stream):
        given.append(stream)
        stream.configure(on_read=lambda *args: 0)
        loop.add(stream)
        raise RuntimeError('boom')

    listener = loop.listen(addr=inet('127.0.0.1', 0), on_stream=on_stream).get()
    with gevent.socket.create_connection(listener.sockname) as client:
        [stream] = given.wait_for(1)
        assert stream.is_closed
        assert stream.loop is None and stream not in loop.notifiers
        assert client.recv(10) == b''
    assert len(callback_errors) == 1 and listener.is_listening


def test_a_raising_on_stream_closes_the_connection_it_took_out_of_its_stream(
        loop, callback_errors):
    """The new connection is closed even when the callback moved it out of
    the Stream it was given before raising: closing the Stream alone would
    leave it open."""
    taken = Log()

    def on_stream(stream):
        taken.append(stream.read_handle)
        stream.set_handle(None)
        raise RuntimeError('boom')

    listener = loop.listen(addr=inet('127.0.0.1', 0), on_stream=on_stream).get()
    with gevent.socket.create_connection(listener.sockname) as client:
        [sock] = taken.wait_for(1)
        client.settimeout(WAIT)
        assert client.recv(10) == b''
        assert sock.fileno() == -1
    assert len(callback_errors) == 1 and listener.is_listening


def test_listen_needs_a_loop_and_listens_once(loop):
    listener = geventio.Listener(on_accept=lambda listener, sock: None)
    with pytest.raises(ValueError, match='loop'):
        listener.listen(addr=inet('127.0.0.1', 0))
    loop.add(listener)
    listener.listen(addr=inet('127.0.0.1', 0)).get()
    with pytest.raises(ValueError, match='already listening'):
        listener.listen(addr=inet('127.0.0.1', 0))


def test_an_accept_event_is_required(loop):
    with pytest.raises(TypeError, match='on_accept, on_stream and on_socket'):
        loop.add(geventio.Listener())
    with pytest.raises(TypeError, match='on_accept, on_stream and on_socket'):
        loop.listen(addr=inet('127.0.0.1', 0))
    assert loop.notifiers == ()


@pytest.mark.parametrize('params, error, words', [
    ({}, TypeError, 'needs a target'),
    ({'host': 'localhost'}, TypeError, 'service='),
    ({'host': 'localhost', 'service': 0, 'addr': inet('127.0.0.1', 0)}, TypeError,
     'addr and host/service'),
    ({'service': 0, 'family': 'inet7'}, ValueError, 'inet7'),
    ({'service': 0, 'socktype': 'stram'}, ValueError, 'socktype'),
    ({'service': 65536}, ValueError, 'service'),
    ({'addr': {'ip': '127.0.0.1', 'port': 0, 'prot': 6}}, ValueError, 'prot'),
    ({'addr': {'ip': '127.0.0.1', 'port': 99999}}, ValueError, '0..65535'),
    ({'addr': inet('127.0.0.1', 0), 'socktype': 'stream'}, TypeError, 'resolver hint'),
    ({'addr': inet('127.0.0.1', 0), 'queuesize': -1}, ValueError, 'queuesize'),
    ({'addr': inet('127.0.0.1', 0), 'queuesize': '5'}, TypeError, 'queuesize'),
    ({'addr': inet('127.0.0.1', 0), 'reuseaddr': 'yes'}, TypeError, 'reuseaddr'),
    ({'addr': inet('127.0.0.1', 0), 'ssl': True}, TypeError, 'ssl'),
    ({'addr': inet('127.0.0.1', 0), 'on_listen': 3}, TypeError, 'on_listen'),
    ({'addr': inet('127.0.0.1', 0), 'backlog': 5}, TypeError, 'backlog'),
    ({'addr': inet('127.0.0.1', 0), 'on_accept_error': 'x'}, TypeError,
     'on_accept_error'),
])
def test_bad_parameters_raise_at_the_call(loop, params, error, words):
    params.setdefault('on_accept', lambda sock: None)
    with pytest.raises(error, match=words):
        loop.listen(**params)
    assert loop.notifiers == ()


def test_handle_must_be_a_listening_socket(loop, pipe):
    with gevent.socket.socket() as sock:
        with pytest.raises(ValueError, match='not listening'):
            loop.listen(handle=sock, on_accept=lambda sock: None)
        with pytest.raises(ValueError, match='not listening'):
            geventio.Listener(handle=sock, on_accept=lambda listener, sock: None)
    with pytest.raises(TypeError, match='listening socket'):
        loop.listen(handle=pipe[0], on_accept=lambda sock: None)
    with pytest.raises(TypeError, match='listening socket'):
        geventio.Listener(handle=42, on_accept=lambda listener, sock: None)


def test_two_accept_events_at_once_are_refused():
    with pytest.raises(TypeError, match='on_accept and on_stream'):
        geventio.Listener(on_accept=print, on_stream=print)


def test_listener_refuses_handle_parameters_it_does_not_have():
    with pytest.raises(TypeError, match='read_handle'):
        geventio.Listener(read_handle=gevent.socket.socket, on_accept=print)


def test_closed_port_helper_is_really_closed():
    """Sanity check of the test helper the refusal tests rely on."""
    with pytest.raises(ConnectionRefusedError):
        round_trip(closed_port())


def test_loop_close_also_closes_the_children_a_closing_listener_hands_back():
    loop = geventio.Loop()
    listener = geventio.Listener(on_stream=lambda listener, stream: listener.add_child(
        stream.configure(on_read=echo) or stream))
    loop.add(listener)
    listener.listen(addr=inet('127.0.0.1', 0)).get()
    with gevent.socket.create_connection(listener.sockname) as client:
        client.sendall(b'x')
        assert recv_exactly(client, 1) == b'x'
        children = [child for child in listener.children if not child.is_closed]
        loop.close()
        assert children and all(child.is_closed for child in children)
        assert loop.notifiers == ()


@pytest.mark.parametrize('socktype', ['dgram', socket.SOCK_RAW])
def test_a_datagram_socktype_hint_is_refused_at_the_call(loop, socktype):
    """listen() has no datagram form: receive-first binds a Socket instead."""
    with pytest.raises(ValueError, match='datagram sockets do not listen'):
        loop.listen(host='127.0.0.1', service=0, socktype=socktype,
                    on_socket=lambda sock: None)
    assert loop.notifiers == ()
