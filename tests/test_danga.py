"""DangaSocket: Danga::Socket's objects and one iteration of its loop, over real
sockets (docs/api.md section 8 is the contract; docs/danga.md the guide).

Timers, the loop timeout, other fds and how event_loop() returns are in
test_danga_timers.py."""

import errno
import logging
import os
import select
import socket
import struct
import subprocess
import sys
import textwrap

import gevent
import gevent.os
import gevent.socket
import pytest

from conftest import HAS_IPV6, recv_exactly, tcp_pair, turn_the_hub, unix_pair
from dangautil import Recorder, run_iterations, run_until
from geventio.danga import DangaSocket

pytestmark = pytest.mark.usefixtures('danga')

needs_epoll = pytest.mark.skipif(not DangaSocket.have_epoll(),
                                 reason='error and hang-up are reported apart '
                                        'only with epoll (Linux)')


def reset_by_peer(peer):
    """Close ``peer`` with an RST (SO_LINGER 0): the other end gets error,
    hang-up, and reads and writes that fail."""
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    peer.close()


def readable(sock):
    return bool(select.select([sock], [], [], 0)[0])


def fill_kernel(sock, chunk=b'x' * 65536):
    """Write to ``sock`` (non-blocking) until the kernel takes no more; returns
    how much it took."""
    sock.setblocking(False)
    total = 0
    try:
        while True:
            total += sock.send(chunk)
    except BlockingIOError:
        return total


class Echo(DangaSocket):
    """The Perlbal-style echo: event_read -> read(65536) -> write."""

    def event_read(self):
        data = self.read(65536)
        if data is None:
            self.close('eof')
        else:
            self.write(data)


# -- dispatch: order, closing mid-round --------------------------------------------

def test_echo_over_every_kind_of_socket(pair):
    ours, peer = pair
    echo = Echo(ours)
    echo.watch_read(True)
    peer.sendall(b'hello danga')
    run_until(lambda: readable(peer))
    assert peer.recv(100) == b'hello danga'
    peer.close()
    run_until(lambda: echo.closed)
    assert DangaSocket.watched_sockets() == 0


@needs_epoll
def test_one_readiness_dispatches_read_write_err_hup_in_that_order(sockets):
    ours, peer = sockets.keep(*tcp_pair())
    log = []
    obj = Recorder(ours, log)
    obj.watch_read(True)
    obj.watch_write(True)
    reset_by_peer(peer)
    run_iterations(1)
    assert log == [('obj', 'read'), ('obj', 'write'), ('obj', 'err'), ('obj', 'hup')]


@needs_epoll
def test_hang_up_reaches_an_object_that_watches_nothing(socketpair):
    ours, peer = socketpair
    log = []
    Recorder(ours, log, hup=lambda obj: obj.close('hup'))
    peer.close()
    run_iterations(1)
    assert log == [('obj', 'hup'), ('obj', 'close', 'hup')]


@needs_epoll
def test_closing_in_event_read_suppresses_the_rest_of_its_round(sockets):
    ours, peer = sockets.keep(*tcp_pair())
    log = []
    obj = Recorder(ours, log, read=lambda obj: obj.close('done'))
    obj.watch_read(True)
    obj.watch_write(True)
    reset_by_peer(peer)
    run_iterations(2)
    assert log == [('obj', 'read'), ('obj', 'close', 'done')]


def test_two_objects_closing_each_other_get_one_event_between_them(sockets):
    (a, a_peer), (b, b_peer) = sockets.keep(*gevent.socket.socketpair()), \
        sockets.keep(*gevent.socket.socketpair())
    log = []
    first = Recorder(a, log, 'a', read=lambda obj: second.close('by a'))
    second = Recorder(b, log, 'b', read=lambda obj: first.close('by b'))
    first.watch_read(True)
    second.watch_read(True)
    a_peer.sendall(b'x')
    b_peer.sendall(b'y')
    run_iterations(1)
    reads = [entry for entry in log if entry[1] == 'read']
    assert len(reads) == 1
    dispatched, closed = (first, second) if reads[0][0] == 'a' else (second, first)
    assert closed.closed and not dispatched.closed
    assert log == [reads[0], (closed.tag, 'close', f'by {dispatched.tag}')]


def test_a_close_is_deferred_to_the_end_of_the_iteration(socketpair):
    """The peer sees EOF only once the round is over; meanwhile the object stays
    in the descriptor map and its socket is listed by to_close()."""
    ours, peer = socketpair
    seen = {}

    def close_it(obj):
        obj.read(10)            # unread data would make the close an RST
        obj.close('bye')
        seen['sock'] = obj.sock
        seen['to_close'] = DangaSocket.to_close()
        seen['in_map'] = DangaSocket.descriptor_map().get(ours.fileno()) is obj
        seen['peer_readable'] = readable(peer)

    def after_round(descriptor_map):
        seen['peer_after'] = peer.recv(10)
        seen['map_after'] = dict(descriptor_map)
        return False

    obj = Recorder(ours, [], read=close_it)
    obj.watch_read(True)
    peer.sendall(b'x')
    DangaSocket.set_post_loop_callback(after_round)
    with gevent.Timeout(5):
        DangaSocket.event_loop()
    assert seen['sock'] is None
    assert seen['to_close'] == [ours]
    assert seen['in_map'] and not seen['peer_readable']
    assert seen['peer_after'] == b'' and seen['map_after'] == {}


def test_a_close_outside_event_loop_is_done_at_once(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    obj.close()
    assert ours.fileno() == -1 and peer.recv(10) == b''
    assert DangaSocket.descriptor_map() == {} and DangaSocket.to_close() == []


# -- an exception in a handler -----------------------------------------------------

def test_an_exception_in_event_read_closes_that_object_only(sockets, callback_errors):
    (a, a_peer), (b, b_peer) = sockets.keep(*gevent.socket.socketpair()), \
        sockets.keep(*gevent.socket.socketpair())

    class Broken(DangaSocket):
        def event_read(self):
            self.read(10)
            raise RuntimeError('handler bug')

    broken, echo = Broken(a), Echo(b)
    broken.watch_read(True)
    echo.watch_read(True)
    a_peer.sendall(b'x')
    b_peer.sendall(b'ping')
    run_until(lambda: broken.closed and readable(b_peer))
    assert b_peer.recv(10) == b'ping' and not echo.closed
    assert a_peer.recv(10) == b''
    assert len(callback_errors) == 1
    record = callback_errors[0]
    assert record.levelno == logging.ERROR and record.name == 'geventio'
    assert 'Broken.event_read' in record.getMessage()
    assert record.exc_info[0] is RuntimeError
    assert record.exc_info[2] is not None     # the traceback


def test_the_default_hooks_name_the_class_and_close_it(socketpair, callback_errors):
    ours, peer = socketpair

    class Lazy(DangaSocket):
        pass

    lazy = Lazy(ours)
    lazy.watch_read(True)
    peer.sendall(b'x')
    run_until(lambda: lazy.closed)
    assert 'Lazy does not implement event_read' in str(callback_errors[0].exc_info[1])


def test_a_close_override_that_raises_still_closes(socketpair, callback_errors):
    ours, peer = socketpair

    class Worse(DangaSocket):
        def event_read(self):
            raise ValueError('first')

        def close(self, reason=None):
            raise KeyError('second')

    worse = Worse(ours)
    worse.watch_read(True)
    peer.sendall(b'x')
    run_until(lambda: worse.closed)
    assert [r.exc_info[0] for r in callback_errors] == [ValueError, KeyError]


# -- reading and pushing back ------------------------------------------------------

def test_read_gives_empty_bytes_when_nothing_is_there_and_none_at_eof(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    assert obj.read(10) == b''
    peer.sendall(b'abc')
    assert recv_ready(obj, 2) == b'ab'
    assert obj.read(10) == b'c'
    peer.close()
    assert recv_ready(obj, 10) is None
    obj.close()
    assert obj.read(10) is None


def recv_ready(obj, n):
    """``obj.read(n)`` once the socket is readable."""
    assert select.select([obj.sock], [], [], 5)[0]
    return obj.read(n)


def test_read_on_a_reset_connection_returns_none(sockets):
    ours, peer = sockets.keep(*tcp_pair())
    obj = Echo(ours)
    reset_by_peer(peer)
    assert recv_ready(obj, 10) is None


def test_reads_of_many_sizes_keep_a_bounded_number_of_buffer_views(socketpair):
    """Perlbal reads a body's remaining length: the sizes come from the peer."""
    from geventio.danga._loop import KEPT_VIEWS, LOOP
    ours, peer = socketpair
    obj = Echo(ours)
    peer.sendall(bytes(range(256)) * 200)
    got = b''.join(recv_ready(obj, size) for size in range(1, 201))
    assert got == (bytes(range(256)) * 200)[:sum(range(1, 201))]
    assert len(LOOP.views) <= KEPT_VIEWS


def test_pushed_back_data_comes_first_oldest_piece_alone(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    peer.sendall(b'kernel')
    obj.push_back_read(b'abcdef')
    obj.push_back_read(bytearray(b'gh'))
    assert obj.read(4) == b'abcd'
    assert obj.read(100) == b'ef'
    assert obj.read(100) == b'gh'
    assert recv_ready(obj, 100) == b'kernel'


def test_push_back_delivers_ab_cd_e_within_one_iteration(socketpair):
    ours, peer = socketpair
    got = []

    def on_read(obj):
        data = obj.read(2)
        got.append(data)
        if data == b'ab':
            obj.push_back_read(b'cd')
            obj.push_back_read(b'e')

    obj = Recorder(ours, [], read=on_read)
    obj.watch_read(True)
    peer.sendall(b'ab')
    assert run_iterations(1) == 1
    assert got == [b'ab', b'cd', b'e']


def test_pushed_back_data_waits_while_reading_is_off(socketpair):
    ours, peer = socketpair
    got = []

    def on_read(obj):
        got.append(obj.read(10))
        if got == [b'abc']:
            obj.push_back_read(b'later')
            obj.watch_read(False)

    obj = Recorder(ours, [], read=on_read)
    obj.watch_read(True)
    peer.sendall(b'abc')
    run_iterations(1)
    assert got == [b'abc']
    obj.watch_read(True)
    peer.sendall(b'z')
    run_iterations(2)       # pushed-back data first: b'z' is the next round's
    assert got == [b'abc', b'later', b'z']


def test_an_event_read_that_ignores_pushed_back_data_does_not_hang_the_loop(socketpair):
    """Perl re-dispatches while any is left, for ever; here only while some is taken."""
    ours, peer = socketpair
    calls = []

    def stubborn(obj):
        calls.append('called')
        if len(calls) == 1:
            obj.read(10)
            obj.push_back_read(b'never read')

    obj = Recorder(ours, [], read=stubborn)
    obj.watch_read(True)
    peer.sendall(b'x')
    assert run_iterations(1) == 1
    assert calls == ['called', 'called']


# -- writing -----------------------------------------------------------------------

def test_write_returns_false_on_eagain_then_true_once_drained(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    payload = bytes(range(256)) * 16384              # 4 MiB: more than the kernel holds
    assert obj.write(payload) is False
    assert obj.as_string().startswith('Echo(W)')     # the library watches writes
    received = gevent.spawn(recv_exactly, peer, len(payload))
    run_until(lambda: obj.write(None))
    assert received.get(timeout=5) == payload
    assert obj.as_string().startswith('Echo()')      # ... and stopped again
    assert obj.write(b'more') is True and peer.recv(10) == b'more'


def test_callables_run_once_everything_before_them_is_in_the_kernel(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    accepted = []

    def counting_send(data):
        count = ours.send(data)
        accepted.append(count)
        return count

    obj.set_writer_func(counting_send)
    first, second = b'A' * (4 << 20), b'B' * 100000
    calls = []
    assert obj.write(first) is False
    assert obj.write(lambda: calls.append(('first', sum(accepted)))) is False
    assert obj.write(second) is False
    assert obj.write(lambda: calls.append(('second', sum(accepted)))) is False
    received = gevent.spawn(recv_exactly, peer, len(first) + len(second))
    run_until(lambda: len(calls) == 2)
    assert calls == [('first', len(first)), ('second', len(first) + len(second))]
    assert received.get(timeout=5) == first + second


def test_a_callable_runs_at_once_when_nothing_is_queued(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    calls = []
    assert obj.write(lambda: calls.append('now')) is True
    assert calls == ['now']


def test_a_queued_callable_may_close_dropping_what_was_queued_after_it(socketpair):
    """Perlbal's ``write(sub { $self->close })``: what was queued before goes
    out, then the close; what was queued after the callable is dropped."""
    ours, peer = socketpair
    log = []
    obj = Recorder(ours, log)
    payload = b'p' * (4 << 20)
    obj.write(payload)
    obj.write(lambda: obj.close('written'))
    obj.write(b'never')
    received = gevent.spawn(recv_exactly, peer, len(payload) + 10)
    run_until(lambda: obj.closed)
    assert received.get(timeout=5) == payload
    assert log[-1] == ('obj', 'close', 'written')
    assert set(log[:-1]) == {('obj', 'write')}


def test_a_bytearray_changed_after_write_is_sent_as_it_was(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    taken = fill_kernel(ours)
    buffer = bytearray(b'original')
    view = memoryview(bytearray(b'<view>'))
    assert obj.write(buffer) is False
    assert obj.write(view) is False
    buffer[:] = b'CHANGED!'
    view[:] = b'XXXXXX'
    received = gevent.spawn(recv_exactly, peer, taken + 14)
    run_until(lambda: obj.write(None))
    assert received.get(timeout=5)[taken:] == b'original<view>'


def test_writing_to_a_closed_object_returns_true_and_drops_the_data(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    obj.close()
    assert obj.write(b'lost') is True
    assert peer.recv(10) == b''


def test_close_drops_the_write_queue(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    taken = fill_kernel(ours)
    obj.write(b'queued')
    obj.close()
    assert len(recv_exactly(peer, taken + 6)) == taken


@pytest.mark.parametrize('kind, reason', [('unix', 'EPIPE'), ('tcp', 'ECONNRESET')])
def test_a_broken_connection_closes_the_object_and_write_returns_false(
        kind, reason, sockets):
    ours, peer = sockets.keep(*(gevent.socket.socketpair() if kind == 'unix'
                                else tcp_pair()))
    log = []
    obj = Recorder(ours, log)
    if kind == 'unix':
        peer.close()
    else:
        reset_by_peer(peer)
        select.select([ours], [], [], 5)
    assert obj.write(b'x' * 100000) is False
    assert obj.closed and log == [('obj', 'close', reason)]


def test_write_leaves_a_users_write_watching_alone(socketpair):
    """The user's watch_write(True) takes write-watching over, even when write()
    had turned it on first: the drain does not turn it off."""
    ours, peer = socketpair
    log = []

    class Flusher(Recorder):
        def event_write(self):
            self._event('write')
            self.write(None)    # (the default would stop watching once drained)

    obj = Flusher(ours, log)
    taken = fill_kernel(ours)
    assert obj.write(b'q') is False
    obj.watch_write(True)
    received = gevent.spawn(recv_exactly, peer, taken + 1)
    run_until(received.ready)
    assert obj.as_string().startswith('Flusher(W)')
    obj.watch_write(False)
    assert obj.as_string().startswith('Flusher()')


def test_the_default_event_write_stops_watching_once_nothing_is_queued(socketpair):
    """Perl's default: a user's watch_write(True) with nothing left to send
    must not call event_write on every round for ever (a busy loop)."""
    ours, peer = socketpair
    log = []
    obj = Recorder(ours, log)
    obj.watch_write(True)
    DangaSocket.set_loop_timeout(0)     # (rounds do not wait for readiness)
    run_iterations(3)
    assert log == [('obj', 'write')]
    assert obj.as_string().startswith('Recorder()')


def test_on_incomplete_write_is_called_when_data_stays_queued(socketpair):
    ours, peer = socketpair
    calls = []

    class Watching(Echo):
        def on_incomplete_write(self):
            calls.append('incomplete')

    obj = Watching(ours)
    fill_kernel(ours)
    assert obj.write(b'x') is False
    assert obj.write(None) is False
    assert calls == ['incomplete', 'incomplete']
    assert obj.as_string().startswith('Watching()')   # the override did not watch


def test_set_writer_func_sends_through_the_function(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    obj.set_writer_func(lambda data: ours.send(bytes(data).upper()))
    assert obj.write(b'shout') is True
    obj.set_writer_func(None)
    assert obj.write(b'calm') is True
    assert recv_exactly(peer, 9) == b'SHOUTcalm'


# -- closing, stealing, corking ----------------------------------------------------

def test_steal_socket_hands_the_open_socket_over(socketpair):
    ours, peer = socketpair
    obj = Echo(ours)
    obj.watch_read(True)
    stolen = obj.steal_socket()
    assert stolen is ours and stolen.fileno() >= 0
    assert obj.closed and obj.sock is None and obj.steal_socket() is None
    assert DangaSocket.descriptor_map() == {}
    again = Echo(stolen)
    again.watch_read(True)
    peer.sendall(b'new owner')
    run_until(lambda: readable(peer))
    assert peer.recv(100) == b'new owner'


def test_tcp_cork_sets_the_option_on_tcp_and_is_ignored_on_unix(sockets):
    ours, _ = sockets.keep(*tcp_pair())
    obj = Echo(ours)
    obj.tcp_cork(True)
    if hasattr(socket, 'TCP_CORK'):
        assert ours.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 1
    obj.tcp_cork(False)
    assert ours.getsockopt(socket.IPPROTO_TCP, getattr(socket, 'TCP_CORK', 3)) == 0
    unix, _ = sockets.keep(*gevent.socket.socketpair())
    Echo(unix).tcp_cork(True)


def test_a_stolen_socket_is_uncorked(sockets):
    ours, _ = sockets.keep(*tcp_pair())
    obj = Echo(ours)
    obj.tcp_cork(True)
    stolen = obj.steal_socket()
    assert stolen.getsockopt(socket.IPPROTO_TCP, getattr(socket, 'TCP_CORK', 3)) == 0


# -- addresses ---------------------------------------------------------------------

def test_tcp_addresses(sockets):
    ours, peer = sockets.keep(*tcp_pair())
    obj = Echo(ours)
    port, peer_port = ours.getsockname()[1], peer.getsockname()[1]
    assert obj.peer_ip_string() == '127.0.0.1'
    assert obj.peer_addr_string() == f'127.0.0.1:{peer_port}'
    assert obj.local_ip_string() == '127.0.0.1'
    assert obj.local_addr_string() == f'127.0.0.1:{port}'
    obj.watch_read(True)
    assert obj.as_string() == f'Echo(R): open to 127.0.0.1:{peer_port}'
    assert repr(obj) == f'<Echo fd={ours.fileno()} (R) open 127.0.0.1:{port} -> ' \
                        f'127.0.0.1:{peer_port}>'
    obj.close()
    assert obj.as_string() == f'Echo(): closed to 127.0.0.1:{peer_port}'


@pytest.mark.skipif(not HAS_IPV6, reason='no IPv6 loopback on this machine')
def test_ipv6_addresses_are_bracketed(sockets):
    ours, peer = sockets.keep(*tcp_pair(socket.AF_INET6))
    obj = Echo(ours)
    assert obj.peer_ip_string() == '::1'
    assert obj.peer_addr_string() == f'[::1]:{peer.getsockname()[1]}'
    assert obj.local_addr_string() == f'[::1]:{ours.getsockname()[1]}'


def test_unix_addresses_are_the_path_or_none(sockets, tmp_path):
    accepted, client = sockets.keep(*unix_pair(tmp_path))
    path = str(tmp_path / 'pair.sock')
    server_side, client_side = Echo(accepted), Echo(client)
    assert server_side.local_addr_string() == path == server_side.local_ip_string()
    assert server_side.peer_addr_string() is None
    assert client_side.peer_addr_string() == path
    assert client_side.as_string() == f'Echo(): open to {path}'
    pair = sockets.keep(*gevent.socket.socketpair())
    assert Echo(pair[0]).peer_addr_string() is None


# -- post-loop callbacks -----------------------------------------------------------

def test_a_post_loop_callback_returning_false_stops_the_loop_which_can_be_reentered(
        socketpair):
    ours, peer = socketpair
    echo = Echo(ours)
    echo.watch_read(True)
    rounds = []
    DangaSocket.set_post_loop_callback(lambda dmap: rounds.append(dict(dmap)))
    peer.sendall(b'one')
    with gevent.Timeout(5):
        DangaSocket.event_loop()
    assert rounds == [{ours.fileno(): echo}] and peer.recv(10) == b'one'
    peer.sendall(b'two')
    with gevent.Timeout(5):
        DangaSocket.event_loop()
    assert len(rounds) == 2 and peer.recv(10) == b'two'


def test_per_object_callbacks_run_first_and_a_false_one_skips_the_global(sockets):
    (a, a_peer), (b, _) = sockets.keep(*gevent.socket.socketpair()), \
        sockets.keep(*gevent.socket.socketpair())
    calls = []
    first, second = Echo(a), Echo(b)
    first.watch_read(True)
    first.set_post_loop_callback(lambda dmap: calls.append('first') or False)
    second.set_post_loop_callback(lambda dmap: calls.append('second') or True)
    DangaSocket.set_post_loop_callback(lambda dmap: calls.append('global') or True)
    a_peer.sendall(b'x')
    with gevent.Timeout(5):
        DangaSocket.event_loop()
    assert calls == ['first']


def test_a_per_object_callback_is_removed_when_the_object_closes(socketpair):
    ours, peer = socketpair
    calls = []
    obj = Echo(ours)
    obj.watch_read(True)
    obj.set_post_loop_callback(lambda dmap: calls.append('object') or True)
    DangaSocket.set_post_loop_callback(lambda dmap: calls.append('global') or False)
    peer.sendall(b'x')
    with gevent.Timeout(5):
        DangaSocket.event_loop()
    obj.close()
    DangaSocket.add_timer(0, lambda now: None)     # the one thing left to wait for
    with gevent.Timeout(5):
        DangaSocket.event_loop()
    assert calls == ['object', 'global', 'global']


def test_a_raising_per_object_callback_closes_its_object(socketpair, callback_errors):
    ours, peer = socketpair
    obj = Echo(ours)
    obj.watch_read(True)
    obj.set_post_loop_callback(lambda dmap: 1 / 0)
    peer.sendall(b'x')
    assert run_iterations(5) == 2     # then nothing is left to wait for
    assert obj.closed and callback_errors[0].exc_info[0] is ZeroDivisionError


# -- the readiness machinery -------------------------------------------------------

def test_readiness_while_the_loop_is_not_running_does_not_spin_the_hub(socketpair):
    """A level-triggered watcher nobody drains is stopped after firing twice;
    the next event_loop() still delivers the readiness, once."""
    ours, peer = socketpair
    log = []
    obj = Recorder(ours, log, read=lambda obj: obj.read(10))
    obj.watch_read(True)
    peer.sendall(b'x')
    hub = gevent.get_hub()
    rounds = []
    check = hub.loop.check()
    check.start(lambda: rounds.append(1))
    try:
        gevent.sleep(0.1)
    finally:
        check.close()
    assert len(rounds) < 20, f'the hub spun {len(rounds)} times in 0.1 s'
    run_iterations(1)
    assert log == [('obj', 'read')]


def test_other_greenlets_run_while_event_loop_waits(socketpair):
    ours, peer = socketpair
    echo = Echo(ours)
    echo.watch_read(True)

    def client():
        peer.sendall(b'from a greenlet')
        reply = peer.recv(100)
        peer.close()        # the echo closes at EOF; then event_loop() returns
        return reply

    replies = gevent.spawn(client)
    with gevent.Timeout(5):
        DangaSocket.event_loop()
    assert replies.get() == b'from a greenlet' and echo.closed


def test_event_loop_cannot_be_entered_from_inside_itself(socketpair, callback_errors):
    ours, peer = socketpair
    obj = Recorder(ours, [], read=lambda obj: DangaSocket.event_loop())
    obj.watch_read(True)
    peer.sendall(b'x')
    run_until(lambda: obj.closed)
    assert callback_errors[0].exc_info[0] is RuntimeError


PATCHED_PROGRAM = textwrap.dedent('''
    import sys
    if sys.argv[1] == 'imported-first':
        import geventio.danga
    from gevent import monkey
    monkey.patch_all()
    import socket
    import gevent
    from geventio.danga import DangaSocket

    class Echo(DangaSocket):
        def event_read(self):
            data = self.read(100)
            if data is None:
                self.close('eof')
            else:
                self.write(data)

        def event_hup(self):
            print('hup')
            self.close('hup')

    ours, peer = socket.socketpair()        # gevent sockets now
    Echo(ours).watch_read(True)

    def client():
        peer.sendall(b'patched')
        print(peer.recv(100).decode())
        peer.close()

    talker = gevent.spawn(client)
    with gevent.Timeout(10):
        DangaSocket.event_loop()            # returns once the echo closed at EOF
    talker.get()
    print('epoll', DangaSocket.have_epoll())
    quiet, gone = socket.socketpair()
    Echo(quiet)                             # watches error and hang-up only
    gone.close()
    with gevent.Timeout(10):
        DangaSocket.event_loop()
''')


@pytest.mark.parametrize('order', ['imported-first', 'patched-first'])
def test_under_monkey_patch_all_imported_before_or_after_patching(order):
    result = subprocess.run([sys.executable, '-c', PATCHED_PROGRAM, order],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = 'patched\nepoll True\nhup\n' if sys.platform.startswith('linux') \
        else 'patched\nepoll False\n'
    assert result.stdout == expected


def test_the_perl_spellings_are_the_same_methods():
    for perl, python in [
            ('EventLoop', 'event_loop'), ('WatchedSockets', 'watched_sockets'),
            ('DescriptorMap', 'descriptor_map'), ('ToClose', 'to_close'),
            ('AddTimer', 'add_timer'), ('SetLoopTimeout', 'set_loop_timeout'),
            ('SetPostLoopCallback', 'set_post_loop_callback'),
            ('AddOtherFds', 'add_other_fds'), ('OtherFds', 'other_fds'),
            ('Reset', 'reset'), ('HaveEpoll', 'have_epoll')]:
        assert DangaSocket.__dict__[perl] is DangaSocket.__dict__[python], perl


def test_reset_closes_every_socket_and_forgets_everything(sockets):
    (a, a_peer), (b, b_peer) = sockets.keep(*gevent.socket.socketpair()), \
        sockets.keep(*gevent.socket.socketpair())
    first, second = Echo(a), Echo(b)
    first.watch_read(True)
    first.set_post_loop_callback(lambda dmap: True)
    DangaSocket.set_post_loop_callback(lambda dmap: True)
    DangaSocket.set_loop_timeout(10)
    DangaSocket.add_timer(60, lambda now: None)
    DangaSocket.reset()
    assert first.closed and second.closed
    assert a_peer.recv(10) == b'' and b_peer.recv(10) == b''
    assert DangaSocket.descriptor_map() == {} and DangaSocket.watched_sockets() == 0
    assert run_iterations(5) == 1      # nothing left to wait for


@needs_epoll
def test_reset_in_a_forked_child_leaves_the_parents_hang_ups_alone(socketpair):
    """The epoll that reports hang-ups is one kernel object shared with a
    forked child: the child's reset() must not take the parent's descriptors
    out of it (a Danga server forks workers and resets the loop in each)."""
    ours, peer = socketpair
    log = []
    Recorder(ours, log, hup=lambda obj: obj.close('hup'))
    pid = gevent.os.fork_gevent()
    if pid == 0:
        status = 1
        try:
            DangaSocket.reset()
            status = 0
        finally:
            os._exit(status)
    assert os.waitpid(pid, 0)[1] == 0
    peer.close()
    run_iterations(1)
    assert log == [('obj', 'hup'), ('obj', 'close', 'hup')]


# -- bad input ---------------------------------------------------------------------

def test_a_non_socket_is_a_type_error(pipe):
    for bad in (None, 3, 'sock', pipe[0]):
        with pytest.raises(TypeError, match='sock must be a socket'):
            Echo(bad)


def test_a_closed_socket_is_a_value_error(socketpair):
    ours, _ = socketpair
    ours.close()
    with pytest.raises(ValueError, match='sock is closed'):
        Echo(ours)


def test_an_fd_already_in_the_descriptor_map_is_a_value_error(socketpair):
    ours, _ = socketpair
    first = Echo(ours)
    with pytest.raises(ValueError, match='already in the descriptor map'):
        Echo(ours)
    assert DangaSocket.descriptor_map() == {ours.fileno(): first}


def test_a_tls_socket_is_refused(socketpair):
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls = context.wrap_socket(socketpair[0], server_side=True,
                              do_handshake_on_connect=False)
    try:
        with pytest.raises(TypeError, match='not a TLS one'):
            Echo(tls)
    finally:
        tls.close()


def test_bad_arguments_raise_at_the_call(socketpair):
    ours, _ = socketpair
    obj = Echo(ours)
    cases = [
        (lambda: obj.read(0), ValueError, 'n must be positive'),
        (lambda: obj.read(-5), ValueError, 'n must be positive'),
        (lambda: obj.read('10'), TypeError, "n must be an int, not '10'"),
        (lambda: obj.read(True), TypeError, 'n must be an int'),
        (lambda: obj.write('text'), TypeError, "not 'text'"),
        (lambda: obj.write(42), TypeError, 'not 42'),
        (lambda: obj.write(memoryview(b'abcdef')[::2]), TypeError,
         'data must be a contiguous memoryview'),
        (lambda: obj.push_back_read('text'), TypeError, "not 'text'"),
        (lambda: obj.set_writer_func('send'), TypeError, "fn must be callable or None"),
        (lambda: obj.watch_read('yes'), TypeError, "on must be a bool, not 'yes'"),
        (lambda: obj.watch_write(None), TypeError, 'on must be a bool'),
        (lambda: obj.tcp_cork([]), TypeError, 'on must be a bool'),
        (lambda: obj.set_post_loop_callback(5), TypeError, 'code must be callable'),
        (lambda: DangaSocket.set_post_loop_callback('x'), TypeError,
         "code must be callable or None, not 'x'"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert obj.as_string() == 'Echo(): open'


def test_an_fd_left_in_the_map_by_a_test_is_cleaned_by_reset(socketpair):
    """What the ``danga`` fixture relies on: reset() leaves no watcher started."""
    ours, peer = socketpair
    Echo(ours).watch_read(True)
    active = gevent.get_hub().loop.activecnt
    DangaSocket.reset()
    turn_the_hub()
    assert gevent.get_hub().loop.activecnt < active
    assert peer.recv(10) == b''


def test_a_failed_write_is_not_raised_even_for_an_unusual_errno(socketpair):
    ours, _ = socketpair
    log = []
    obj = Recorder(ours, log)

    def failing(data):
        raise OSError(errno.EIO, 'I/O error')

    obj.set_writer_func(failing)
    assert obj.write(b'x') is False
    assert log == [('obj', 'close', 'write_error')]
