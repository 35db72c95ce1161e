"""Socket (IO::Async::Socket): datagrams over UDP on 127.0.0.1 and ::1 and over
unix datagram sockets, with real sockets throughout."""

import errno
import os
import socket
import sys
import tempfile
import time

import gevent
import gevent.socket
import pytest
from gevent import subprocess
from gevent.event import AsyncResult, Event

import geventio
from conftest import HAS_IPV6, Log, settle
from geventio.ioasync import datagram
from logwatch import watch_log
from netutil import loopback
from geventio import StreamClosedError

#: Seconds a test waits for something that should happen at once on loopback.
WAIT = 5

KINDS = ['udp4', 'udp6', 'unix']
UDP_KINDS = ['udp4', 'udp6']


@pytest.fixture
def short_dir():
    """A directory with a short path: unix socket paths are limited to 108 bytes."""
    with tempfile.TemporaryDirectory(prefix='gio-') as path:
        yield path


class Peers:
    """Makes bound, unconnected datagram sockets of one kind, tracked for teardown."""

    def __init__(self, kind, sockets, directory):
        if kind == 'udp6' and not HAS_IPV6:
            pytest.skip('no IPv6 loopback on this machine')
        self.kind = kind
        self._sockets = sockets
        self._directory = directory
        self._count = 0

    @property
    def family(self):
        return {'udp4': socket.AF_INET, 'udp6': socket.AF_INET6,
                'unix': socket.AF_UNIX}[self.kind]

    def bound(self):
        """A new gevent datagram socket bound to a fresh loopback address."""
        sock = self._sockets.keep(gevent.socket.socket(self.family, socket.SOCK_DGRAM))
        if self.kind == 'unix':
            self._count += 1
            sock.bind(os.path.join(self._directory, f's{self._count}'))
        else:
            sock.bind((loopback(self.family), 0))
        return sock

    def pair(self):
        """(a, b): two bound sockets; ``a`` goes into a Socket, ``b`` is the peer."""
        return self.bound(), self.bound()


@pytest.fixture(params=KINDS)
def peers(request, sockets, short_dir):
    return Peers(request.param, sockets, short_dir)


@pytest.fixture(params=UDP_KINDS)
def udp_peers(request, sockets, short_dir):
    return Peers(request.param, sockets, short_dir)


@pytest.fixture
def bare_socket(peers):
    """A Socket with no events, in no loop, over a bound socket of each kind."""
    sock = geventio.Socket(handle=peers.bound())
    yield sock
    sock.close()


class Recorder:
    """Event callbacks that record what they got and signal each arrival."""

    def __init__(self, expect=1):
        self.received = []
        self.errors = []
        self.empties = 0
        self.expect = expect
        self.done = Event()
        self.error = AsyncResult()

    def on_recv(self, sock, data, addr):
        self.received.append((data, addr))
        if len(self.received) >= self.expect:
            self.done.set()

    def on_recv_error(self, sock, err):
        self.errors.append(err)
        self.error.set(err)

    def on_outgoing_empty(self, sock):
        self.empties += 1

    def wait(self):
        assert self.done.wait(WAIT), f'got {len(self.received)} of {self.expect}'
        return self.received


def recv_nowait(sock):
    """One datagram already in ``sock``'s kernel queue (BlockingIOError if none)."""
    sock.setblocking(False)
    try:
        return sock.recvfrom(65536)
    finally:
        sock.setblocking(True)


def loop_iterations():
    """A libev check watcher counting hub loop iterations: (counter, watcher)."""
    count = [0]
    watcher = gevent.get_hub().loop.check()
    watcher.start(lambda: count.__setitem__(0, count[0] + 1))
    return count, watcher


# -- the interface and receiving -------------------------------------------------

def test_socket_is_exported():
    assert 'Socket' in geventio.__all__
    assert issubclass(geventio.Socket, geventio.Handle)


def test_receives_each_datagram_with_the_sender_address(loop, peers):
    a, b = peers.pair()
    rec = Recorder(expect=3)
    loop.add(geventio.Socket(handle=a, on_recv=rec.on_recv))
    for data in (b'one', b'two', b'three'):
        b.sendto(data, a.getsockname())
    assert rec.wait() == [(d, b.getsockname()) for d in (b'one', b'two', b'three')]


def test_on_recv_as_a_subclass_method(loop, peers):
    a, b = peers.pair()
    got = AsyncResult()

    class Echo(geventio.Socket):
        def on_recv(self, data, addr):
            got.set((self, data, addr))

    sock = Echo(handle=a)
    loop.add(sock)
    b.sendto(b'hi', a.getsockname())
    assert got.get(timeout=WAIT) == (sock, b'hi', b.getsockname())


def test_adding_without_on_recv_raises_type_error(loop, bare_socket):
    with pytest.raises(TypeError, match='on_recv'):
        loop.add(bare_socket)


def test_a_send_only_socket_needs_no_on_recv(loop, peers):
    a, b = peers.pair()
    sock = geventio.Socket(write_handle=a, autoflush=True)
    loop.add(sock)
    sock.send(b'only out', addr=b.getsockname())
    assert b.recvfrom(100) == (b'only out', a.getsockname())


def test_echo_from_inside_on_recv(loop, peers):
    a, b = peers.pair()
    loop.add(geventio.Socket(handle=a, on_recv=lambda s, d, addr: s.send(d, addr=addr)))
    for data in (b'ping', b'x' * 1000, b''):
        b.sendto(data, a.getsockname())
        assert b.recvfrom(2000) == (data, a.getsockname())


def test_echo_over_a_stdlib_socket_handle(loop, sockets):
    """A plain stdlib socket works as the handle; the Socket owns and closes it."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(('127.0.0.1', 0))
    b = sockets.keep(gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock = geventio.Socket(handle=a, on_recv=lambda s, d, addr: s.send(d, addr=addr))
    loop.add(sock)
    b.sendto(b'plain', a.getsockname())
    assert b.recvfrom(100) == (b'plain', a.getsockname())
    sock.close()
    assert a.fileno() == -1


def test_a_socket_removed_from_the_loop_and_added_again_goes_on(loop, peers):
    a, b = peers.pair()
    rec = Recorder(expect=2)
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv)
    loop.add(sock)
    b.sendto(b'before', a.getsockname())
    loop.remove(sock)
    b.sendto(b'after', a.getsockname())
    loop.add(sock)
    assert [d for d, _ in rec.wait()] == [b'before', b'after']


# -- fairness: one datagram per readiness unless recv_all -----------------------

@pytest.mark.parametrize('recv_all, iterations', [(False, 3), (True, 1)])
def test_three_queued_datagrams_take_one_wakeup_each_unless_recv_all(
        loop, peers, recv_all, iterations):
    a, b = peers.pair()
    for i in range(3):
        b.sendto(b'%d' % i, a.getsockname())
    count, watcher = loop_iterations()
    seen = []
    done = Event()

    def on_recv(sock, data, addr):
        seen.append((count[0], data))
        if len(seen) == 3:
            done.set()
    try:
        loop.add(geventio.Socket(handle=a, on_recv=on_recv, recv_all=recv_all))
        assert done.wait(WAIT)
    finally:
        watcher.stop()
        watcher.close()
    assert [data for _, data in seen] == [b'0', b'1', b'2']
    assert len({it for it, _ in seen}) == iterations


def test_recv_all_stops_when_on_recv_turns_reading_off(loop, peers):
    """With recv_all, a handler that sets want_readready = False gets no further
    datagram in the same wake-up, although more are queued."""
    a, b = peers.pair()
    for i in range(3):
        b.sendto(b'%d' % i, a.getsockname())
    got = Log()

    def on_recv(sock, data, addr):
        got.append(data)
        sock.want_readready = False

    sock = geventio.Socket(handle=a, on_recv=on_recv, recv_all=True)
    loop.add(sock)
    got.wait_for(1)
    settle()
    assert got == [b'0']
    sock.want_readready = True
    got.wait_for(2)
    settle()
    assert got == [b'0', b'1']
    sock.close()


@pytest.mark.parametrize('recv_all, bound', [(False, 2), (True, 64 + 1)])
def test_a_flooded_socket_does_not_starve_another(loop, peers, recv_all, bound):
    """The quiet socket's datagram arrives after at most ``bound`` datagrams of
    the flooded one, although up to 100 were waiting there first (a unix
    socket's queue holds about 10: net.unix.max_dgram_qlen)."""
    flooded, quiet, sender = peers.bound(), peers.bound(), peers.bound()
    sender.connect(flooded.getsockname())
    sender.setblocking(False)
    try:
        for i in range(100):
            sender.send(b'%d' % i)
    except BlockingIOError:
        pass
    peers.bound().sendto(b'hello', quiet.getsockname())
    flood_count = [0]
    when = AsyncResult()

    def count(sock, data, addr):
        flood_count[0] += 1

    loop.add(geventio.Socket(handle=flooded, on_recv=count, recv_all=recv_all))
    loop.add(geventio.Socket(handle=quiet,
                             on_recv=lambda s, d, addr: when.set(flood_count[0])))
    assert when.get(timeout=WAIT) <= bound


# -- receiving: truncation, empty datagrams, errors ------------------------------

def test_a_datagram_longer_than_recv_len_is_reported_truncated(loop, peers):
    a, b = peers.pair()
    rec = Recorder()
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv, recv_len=10,
                           on_recv_error=rec.on_recv_error)
    loop.add(sock)
    b.sendto(b'0123456789ABCDEF', a.getsockname())
    err = rec.error.get(timeout=WAIT)
    assert err.errno == errno.EMSGSIZE
    assert err.data == b'0123456789'
    assert err.addr == b.getsockname()
    assert rec.received == []
    # Exactly recv_len bytes is not truncated, and receiving went on.
    b.sendto(b'abcdefghij', a.getsockname())
    assert rec.wait() == [(b'abcdefghij', b.getsockname())]
    assert not sock.is_closed


def test_truncation_without_on_recv_error_is_dropped_logged_and_the_socket_stays_open(
        loop, peers, caplog):
    """One oversized datagram from anyone must not close a server's socket; the
    warnings are limited to one line per socket per minute."""
    a, b = peers.pair()
    rec = Recorder()
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv, recv_len=4)
    loop.add(sock)
    for _ in range(3):
        b.sendto(b'too long', a.getsockname())
    b.sendto(b'fits', a.getsockname())
    assert rec.wait() == [(b'fits', b.getsockname())]
    assert not sock.is_closed
    warnings = [r for r in caplog.records if r.levelname == 'WARNING']
    assert len(warnings) == 1 and 'recv_len=4' in warnings[0].getMessage()
    assert warnings[0].name == 'geventio'


def test_empty_datagrams_are_ordinary_data_both_ways(loop, peers):
    a, b = peers.pair()
    rec = Recorder(expect=2)
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv, autoflush=True)
    loop.add(sock)
    b.sendto(b'', a.getsockname())
    b.sendto(b'after', a.getsockname())
    assert rec.wait() == [(b'', b.getsockname()), (b'after', b.getsockname())]
    sock.send(b'', addr=b.getsockname())
    sock.send(b'then', addr=b.getsockname())
    assert b.recvfrom(100) == (b'', a.getsockname())
    assert b.recvfrom(100) == (b'then', a.getsockname())
    assert not sock.is_closed


def _closed_udp_port(peers):
    """A loopback address nothing listens on (bound, then closed)."""
    probe = peers.bound()
    addr = probe.getsockname()
    probe.close()
    return addr


def test_connection_refused_on_a_connected_socket_reaches_on_recv_error(
        loop, udp_peers):
    a = udp_peers.bound()
    a.connect(_closed_udp_port(udp_peers))
    rec = Recorder()
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv,
                           on_recv_error=rec.on_recv_error)
    loop.add(sock)
    sock.send(b'anyone there?')
    err = rec.error.get(timeout=WAIT)
    assert err.errno == errno.ECONNREFUSED
    assert not sock.is_closed and sock.want_readready


def test_a_receive_error_that_is_not_transient_stops_reading_instead_of_spinning(
        loop, sockets):
    """An unconnected stream socket reports readiness (a hang-up) and every
    recvmsg fails with ENOTCONN: told once, then reading stays off."""
    stream_sock = sockets.keep(gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    rec = Recorder()
    sock = geventio.Socket(handle=stream_sock, on_recv=rec.on_recv,
                           on_recv_error=rec.on_recv_error)
    loop.add(sock)
    assert rec.error.get(timeout=WAIT).errno == errno.ENOTCONN
    settle()
    assert len(rec.errors) == 1
    assert not sock.want_readready and not sock.is_closed
    sock.close()


def test_connection_refused_without_a_handler_closes_the_socket(loop, udp_peers):
    a = udp_peers.bound()
    a.connect(_closed_udp_port(udp_peers))
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None, autoflush=True)
    loop.add(sock)
    closed = sock.new_close_future()
    sock.send(b'anyone there?')
    assert closed.get(timeout=WAIT) is sock


#: Linux's IP_RECVERR (linux/in.h): report ICMP errors on unconnected UDP sockets too.
IP_RECVERR = getattr(socket, 'IP_RECVERR', 11)


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='IP_RECVERR is Linux only')
def test_an_icmp_error_on_an_unconnected_socket_never_closes_it(loop, sockets):
    """A server socket serves many peers: one unreachable peer is no reason to
    close it, handler or not."""
    a = sockets.keep(gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    a.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    a.bind(('127.0.0.1', 0))
    b = sockets.keep(gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    b.bind(('127.0.0.1', 0))
    rec = Recorder()
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv, autoflush=True)
    loop.add(sock)
    with gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(('127.0.0.1', 0))
        nobody = gone.getsockname()
    with watch_log() as warnings:
        sock.send(b'anyone there?', addr=nobody)
        warnings.wait_for(1)
    b.sendto(b'still here', a.getsockname())
    assert rec.wait() == [(b'still here', b.getsockname())]
    assert not sock.is_closed
    [warning] = warnings
    assert warning.levelname == 'WARNING' and 'Connection refused' in warning.getMessage()


def test_an_exception_in_on_recv_is_logged_and_closes_that_socket_only(
        loop, peers, callback_errors):
    a, b = peers.pair()
    other_a, other_b = peers.pair()

    def boom(sock, data, addr):
        raise RuntimeError('boom')
    sock = geventio.Socket(handle=a, on_recv=boom)
    rec = Recorder()
    loop.add(sock)
    loop.add(geventio.Socket(handle=other_a, on_recv=rec.on_recv))
    closed = sock.new_close_future()
    b.sendto(b'x', a.getsockname())
    closed.get(timeout=WAIT)
    other_b.sendto(b'still here', other_a.getsockname())
    assert rec.wait() == [(b'still here', other_b.getsockname())]
    assert [r.exc_info[0] for r in callback_errors] == [RuntimeError]


# -- sending ---------------------------------------------------------------------

def test_send_to_an_explicit_address(loop, peers):
    a, b = peers.pair()
    c = peers.bound()
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None)
    loop.add(sock)
    sock.send(b'to b', addr=b.getsockname())
    sock.send(b'to c', addr=c.getsockname())
    assert b.recvfrom(100) == (b'to b', a.getsockname())
    assert c.recvfrom(100) == (b'to c', a.getsockname())


def test_send_without_addr_goes_to_the_connected_peer(loop, peers):
    a, b = peers.pair()
    a.connect(b.getsockname())
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None)
    loop.add(sock)
    sock.send(bytearray(b'connected'))
    assert b.recvfrom(100) == (b'connected', a.getsockname())


def test_send_accepts_the_address_forms_of_api_section_1(loop, udp_peers):
    a, b = udp_peers.pair()
    host, port = b.getsockname()[:2]
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None, autoflush=True)
    loop.add(sock)
    info = socket.getaddrinfo(host, port, a.family, socket.SOCK_DGRAM)[0]
    sock.send(b'5-tuple', addr=info)
    sock.send(b'dict', addr={'ip': host, 'port': port})
    assert b.recvfrom(100)[0] == b'5-tuple'
    assert b.recvfrom(100)[0] == b'dict'


def test_autoflush_keeps_queued_datagrams_first(loop, peers):
    """"First" is queued; "Second", sent with autoflush, goes out behind it."""
    a, b = peers.pair()
    emptied = Event()
    empties = []

    def on_outgoing_empty(sock):
        empties.append(1)
        emptied.set()
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None,
                           on_outgoing_empty=on_outgoing_empty)
    loop.add(sock)
    sock.send(b'First', addr=b.getsockname())
    sock.configure(autoflush=True)
    sock.send(b'Second', addr=b.getsockname())
    # Both were sent synchronously, before this greenlet let the hub run.
    assert recv_nowait(b) == (b'First', a.getsockname())
    assert recv_nowait(b) == (b'Second', a.getsockname())
    # That synchronous drain fired no on_outgoing_empty: only this one does.
    sock.configure(autoflush=False)
    sock.send(b'Third', addr=b.getsockname())
    assert emptied.wait(WAIT)
    assert recv_nowait(b) == (b'Third', a.getsockname())
    assert empties == [1]


def test_on_outgoing_empty_fires_once_the_queue_drains_through_readiness(
        loop, peers):
    a, b = peers.pair()
    emptied = Event()
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None,
                           on_outgoing_empty=lambda s: emptied.set())
    loop.add(sock)
    sock.send(b'one', addr=b.getsockname())
    sock.send(b'two', addr=b.getsockname())
    with pytest.raises(BlockingIOError):
        recv_nowait(b)             # nothing left before write-readiness
    assert emptied.wait(WAIT)
    assert [recv_nowait(b)[0] for _ in range(2)] == [b'one', b'two']


@pytest.mark.parametrize('send_all, iterations', [(False, 3), (True, 1)])
def test_three_queued_datagrams_take_one_write_readiness_each_unless_send_all(
        loop, peers, send_all, iterations):
    a, b = peers.pair()
    emptied = AsyncResult()
    count, watcher = loop_iterations()
    try:
        sock = geventio.Socket(handle=a, on_recv=lambda *args: None, send_all=send_all,
                               on_outgoing_empty=lambda s: emptied.set(count[0]))
        loop.add(sock)
        start = count[0]
        for data in (b'0', b'1', b'2'):
            sock.send(data, addr=b.getsockname())
        assert emptied.get(timeout=WAIT) - start == iterations
    finally:
        watcher.stop()
        watcher.close()
    assert [recv_nowait(b)[0] for _ in range(3)] == [b'0', b'1', b'2']


def test_datagrams_sent_before_joining_the_loop_go_out_once_it_joins(loop, peers):
    a, b = peers.pair()
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None)
    sock.send(b'early', addr=b.getsockname())
    loop.add(sock)
    assert b.recvfrom(100) == (b'early', a.getsockname())


@pytest.mark.parametrize('autoflush', [False, True])
def test_datagrams_that_meet_eagain_are_kept_and_sent_in_order(
        loop, sockets, autoflush):
    """The peer of a unix datagram pair is full before the Socket sends at all;
    every datagram is kept and arrives, in order, once the peer reads."""
    a, b = sockets.keep(*socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
    b = sockets.keep(gevent.socket.socket(fileno=b.detach()))
    a.setblocking(False)
    filler = 0
    try:
        while True:
            a.send(b'filler')
            filler += 1
    except BlockingIOError:
        pass
    rec = Recorder()
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None, autoflush=autoflush,
                           on_outgoing_empty=rec.on_outgoing_empty)
    loop.add(sock)
    total = 2000
    for i in range(total):
        sock.send(b'%06d' % i + b'.' * 1000)
    assert [b.recv(2000) for _ in range(filler)] == [b'filler'] * filler
    received = [b.recv(2000)[:6] for _ in range(total)]
    assert received == [b'%06d' % i for i in range(total)]
    assert rec.empties == 1         # drained through write-readiness, once


def test_unconnected_unix_send_to_a_full_peer_backs_off_instead_of_spinning(
        loop, sockets, short_dir):
    """``poll`` says "writable" while the peer's queue is full; the retry waits on
    a timer, so the process stays nearly idle until the peer reads."""
    peer = sockets.keep(gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    peer.bind(os.path.join(short_dir, 'peer'))
    a = sockets.keep(gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    sock = geventio.Socket(write_handle=a)
    loop.add(sock)
    total = 50                      # well past net.unix.max_dgram_qlen (10)
    for i in range(total):
        sock.send(b'%03d' % i, addr=peer.getsockname())
    cpu = time.process_time()
    gevent.sleep(0.3)
    assert time.process_time() - cpu < 0.15
    assert [peer.recv(10) for _ in range(total)] == [b'%03d' % i for i in range(total)]


class TimedSends:
    """A datagram socket whose ``send``/``sendto`` note the hub loop's time and
    iteration and whether the kernel took the datagram; handed to a `Socket`
    in place of the socket it wraps."""

    def __init__(self, sock):
        self._sock = sock
        self.calls = Log()      # (loop time, loop iteration, 'sent' or 'blocked')

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def _timed(self, method, *args):
        hub_loop = gevent.get_hub().loop
        now, iteration = hub_loop.now(), hub_loop.iteration
        try:
            count = method(*args)
        except BlockingIOError:
            self.calls.append((now, iteration, 'blocked'))
            raise
        self.calls.append((now, iteration, 'sent'))
        return count

    def send(self, data, flags=0):
        return self._timed(self._sock.send, data, flags)

    def sendto(self, data, flags, addr):
        return self._timed(self._sock.sendto, data, flags, addr)

    def blocked(self):
        """Loop times of the calls that would have blocked, in order."""
        return [when for when, _, outcome in self.calls if outcome == 'blocked']


def full_peer_sender(loop, sockets, short_dir, count, **params):
    """A send-only Socket (with ``params``) over an unconnected unix datagram
    socket, with ``count`` datagrams queued for a peer whose queue holds far
    fewer (poll says "writable" while the peer is full). Returns (peer, timed
    sends)."""
    peer = sockets.keep(gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    peer.bind(os.path.join(short_dir, 'peer'))
    timed = TimedSends(sockets.keep(
        gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)))
    sock = geventio.Socket(write_handle=timed, **params)
    loop.add(sock)
    for i in range(count):
        sock.send(b'%03d' % i, addr=peer.getsockname())
    return peer, timed


def wait_blocked(timed, count):
    """Wait for the ``count``-th send that would have blocked."""
    while len(timed.blocked()) < count:
        timed.calls.wait_for(len(timed.calls) + 1)


def test_the_send_retry_delay_doubles_while_the_peer_stays_full(loop, sockets, short_dir):
    """Measured in the hub loop's own time, which libev's timers run on, so the
    lower bounds hold however loaded the machine is."""
    peer, timed = full_peer_sender(loop, sockets, short_dir, 30)
    wait_blocked(timed, 8)
    blocked = timed.blocked()
    gaps = [later - earlier for earlier, later in zip(blocked, blocked[1:8])]
    for k, gap in enumerate(gaps):
        delay = datagram.SEND_RETRY_MIN_DELAY * 2 ** k
        assert gap >= 0.9 * delay, (k, gaps)
    assert [peer.recv(10) for _ in range(30)] == [b'%03d' % i for i in range(30)]


def test_a_successful_send_resets_the_send_retry_delay(
        loop, sockets, short_dir, monkeypatch):
    """The back-off climbs to 0.256 s and more; the peer reads, datagrams go out,
    the peer fills again: the retries start from the shortest delay once more."""
    monkeypatch.setattr(datagram, 'SEND_RETRY_MAX_DELAY', 1.0)
    total = 40
    peer, timed = full_peer_sender(loop, sockets, short_dir, total)
    wait_blocked(timed, 9)          # the next retry waits 0.256 s
    received = []
    with pytest.raises(BlockingIOError):
        while True:
            received.append(recv_nowait(peer)[0])
    first_round = len(timed.blocked())
    wait_blocked(timed, first_round + 2)
    after_reset = timed.blocked()[first_round:first_round + 2]
    assert after_reset[1] - after_reset[0] < 0.256
    while len(received) < total:
        received.append(peer.recv(10))
    assert received == [b'%03d' % i for i in range(total)]


def test_sends_while_the_head_datagram_waits_make_no_system_call(
        loop, sockets, short_dir):
    """Autoflush sends in send() itself until the kernel refuses one; after that,
    send() only queues until readiness or the retry timer comes. Counted
    through the wrapper, before the hub has run at all."""
    peer, timed = full_peer_sender(loop, sockets, short_dir, 30, autoflush=True)
    outcomes = [outcome for _, _, outcome in timed.calls]
    assert outcomes.count('blocked') == 1 and outcomes[-1] == 'blocked'
    assert [peer.recv(10) for _ in range(30)] == [b'%03d' % i for i in range(30)]


def test_a_send_all_batch_that_made_progress_waits_only_for_readiness(
        loop, sockets, short_dir):
    """The kernel took part of a send_all batch before refusing one, so its
    readiness report was real: the next try comes on the very next loop
    iteration, and only a try that moves nothing starts the back-off timer."""
    peer, timed = full_peer_sender(loop, sockets, short_dir, 30, send_all=True)
    wait_blocked(timed, 3)
    calls = list(timed.calls)
    first = [outcome for _, _, outcome in calls].index('blocked')
    assert first > 0 and calls[first - 1][1] == calls[first][1]    # one batch
    (_, batch, _), (_, retry, _), (_, backed_off, _) = \
        [call for call in calls if call[2] == 'blocked'][:3]
    assert retry == batch + 1
    assert backed_off >= retry + 2     # after a timer, then write-readiness
    assert [peer.recv(10) for _ in range(30)] == [b'%03d' % i for i in range(30)]


@pytest.mark.parametrize('how', ['close', 'close_write'])
def test_datagrams_dropped_at_close_are_not_sent_once_there_is_a_new_handle(
        loop, sockets, short_dir, how):
    """close() and close_write() drop what is queued; a new handle starts with
    an empty queue."""
    peer = sockets.keep(gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    peer.bind(os.path.join(short_dir, 'peer'))
    filler = sockets.keep(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    filler.setblocking(False)
    fillers = 0
    with pytest.raises(BlockingIOError):
        while True:
            filler.sendto(b'filler', peer.getsockname())
            fillers += 1
    old = sockets.keep(gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    sock = geventio.Socket(handle=old, on_recv=lambda *args: None, autoflush=True)
    loop.add(sock)
    for i in range(3):
        sock.send(b'dropped %d' % i, addr=peer.getsockname())
    getattr(sock, how)()
    new = sockets.keep(gevent.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
    sock.configure(handle=new)
    if how == 'close':
        loop.add(sock)
    assert [peer.recv(10) for _ in range(fillers)] == [b'filler'] * fillers
    sock.send(b'fresh', addr=peer.getsockname())
    assert peer.recv(20) == b'fresh'
    sock.close()


@pytest.mark.parametrize('recv_all', [False, True])
def test_ten_thousand_datagrams_arrive_without_loss_when_the_receiver_keeps_up(
        loop, peers, recv_all):
    """The sender sends windows of 50 and waits for the receiver's
    acknowledgement of each, so the kernel queue never overflows."""
    a, b = peers.pair()
    b.connect(a.getsockname())
    total, window = 10000, 50
    got = []

    def on_recv(sock, data, addr):
        got.append(int(data))
        if len(got) % window == 0:
            sock.send(b'ack', addr=addr)
    loop.add(geventio.Socket(handle=a, on_recv=on_recv, recv_all=recv_all))
    for start in range(0, total, window):
        for i in range(start, start + window):
            b.send(b'%d' % i)
        assert b.recv(10) == b'ack'
    assert got == list(range(total))


def test_a_failed_send_drops_that_datagram_only(loop, udp_peers):
    a, b = udp_peers.pair()
    failures = []
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None,
                           on_send_error=lambda s, err: failures.append(err))
    loop.add(sock)
    sock.send(b'x' * 70000, addr=b.getsockname())     # over the UDP maximum
    sock.send(b'fine', addr=b.getsockname())
    assert b.recvfrom(100) == (b'fine', a.getsockname())
    [err] = failures
    assert err.errno == errno.EMSGSIZE
    assert len(err.data) == 70000 and err.addr == b.getsockname()
    assert not sock.is_closed


def test_a_failed_send_without_on_send_error_closes_the_socket(loop, udp_peers):
    a, _ = udp_peers.pair()
    sock = geventio.Socket(handle=a, on_recv=lambda *args: None, autoflush=True)
    loop.add(sock)
    sock.send(b'nowhere')           # unconnected, no address: EDESTADDRREQ
    assert sock.is_closed


# -- closing ---------------------------------------------------------------------

def test_close_fires_on_closed_once_and_nothing_after(loop, peers):
    a, b = peers.pair()
    events = []
    sock = geventio.Socket(handle=a, on_recv=lambda s, d, addr: events.append(d),
                           on_closed=lambda s: events.append('closed'))
    loop.add(sock)
    sock.send(b'queued, dropped by close', addr=b.getsockname())
    sock.close()
    sock.close()
    assert events == ['closed']
    assert sock.is_closed and sock.loop is None
    with pytest.raises(StreamClosedError):
        sock.send(b'late')


def test_a_closed_socket_can_be_given_a_new_handle(loop, peers):
    a, b = peers.pair()
    rec = Recorder()
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv)
    sock.close()
    fresh = peers.bound()
    sock.set_handle(fresh)
    loop.add(sock)
    b.sendto(b'again', fresh.getsockname())
    assert rec.wait() == [(b'again', b.getsockname())]


def test_close_write_keeps_receiving_and_refuses_to_send(loop, peers):
    a, b = peers.pair()
    rec = Recorder()
    sock = geventio.Socket(handle=a, on_recv=rec.on_recv)
    loop.add(sock)
    sock.send(b'queued, dropped by close_write', addr=b.getsockname())
    sock.close_write()
    with pytest.raises(StreamClosedError):
        sock.send(b'x', addr=b.getsockname())
    b.sendto(b'still reading', a.getsockname())
    assert rec.wait() == [(b'still reading', b.getsockname())]
    with pytest.raises(BlockingIOError):
        recv_nowait(b)


# -- bad input -------------------------------------------------------------------

@pytest.mark.parametrize('data', ['text', 42, None, [1, 2]])
def test_send_rejects_what_is_not_bytes_like(bare_socket, data):
    with pytest.raises(TypeError, match='data'):
        bare_socket.send(data)


def test_send_rejects_flags_that_are_not_an_int(bare_socket):
    with pytest.raises(TypeError, match='flags'):
        bare_socket.send(b'x', flags='0')


def test_send_without_a_write_handle_raises(peers):
    a, _ = peers.pair()
    sock = geventio.Socket(read_handle=a)
    with pytest.raises(StreamClosedError, match='no write handle'):
        sock.send(b'x')
    sock.close()
    with pytest.raises(StreamClosedError):
        geventio.Socket().send(b'x')


@pytest.mark.parametrize('value, error', [(0, ValueError), (-1, ValueError),
                                          ('64', TypeError), (True, TypeError),
                                          (1.5, TypeError)])
def test_recv_len_must_be_a_positive_int(value, error):
    with pytest.raises(error, match='recv_len'):
        geventio.Socket(recv_len=value)


def test_configure_rejects_a_bad_value_and_changes_nothing(peers):
    a, _ = peers.pair()
    sock = geventio.Socket(handle=a, recv_len=100)
    with pytest.raises(ValueError, match='recv_len'):
        sock.configure(recv_len=0, autoflush=True)
    assert sock._recv_len == 100 and sock._autoflush is False
    with pytest.raises(TypeError, match='recv_all'):
        sock.configure(recv_all='yes')
    with pytest.raises(TypeError, match='nonsense'):
        sock.configure(nonsense=1)
    sock.close()


def test_a_handle_that_is_not_a_socket_is_rejected(pipe):
    with pytest.raises(TypeError, match='handle'):
        geventio.Socket(handle=pipe[0])


WRONG_FAMILY = {
    'udp4': [('::1', 9, 0, 0), ('::1', 9), '/tmp/sock', {'path': '/tmp/sock'}],
    'udp6': [('127.0.0.1', 9), '/tmp/sock', {'ip': '127.0.0.1', 'port': 9},
             ('unix', 'dgram', 0, '/tmp/sock')],
    'unix': [('127.0.0.1', 9), ('::1', 9, 0, 0), {'ip': '127.0.0.1', 'port': 9}],
}


def test_an_address_of_another_family_raises_value_error_naming_addr(peers, bare_socket):
    for addr in WRONG_FAMILY[peers.kind]:
        with pytest.raises(ValueError, match='addr'):
            bare_socket.send(b'x', addr=addr)


def test_a_port_that_is_not_an_int_raises_type_error(udp_peers):
    a, _ = udp_peers.pair()
    sock = geventio.Socket(handle=a)
    host = a.getsockname()[0]
    with pytest.raises(TypeError, match='addr'):
        sock.send(b'x', addr=(host, '9'))
    with pytest.raises(ValueError, match='addr'):
        sock.send(b'x', addr=(host, 70000))
    sock.close()


# -- with the connector and the listener (docs/api.md sections 6 and 7) ---------------

def test_send_first_through_loop_connect(loop, sockets):
    server = sockets.keep(gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    server.bind(('127.0.0.1', 0))
    rec = Recorder()
    sock = loop.connect(host='127.0.0.1', service=server.getsockname()[1],
                        socktype='dgram', on_socket=lambda s: None).get(timeout=WAIT)
    assert isinstance(sock, geventio.Socket)
    sock.configure(on_recv=rec.on_recv, autoflush=True)
    loop.add(sock)
    sock.send(b'hello')
    data, addr = server.recvfrom(100)
    server.sendto(data.upper(), addr)
    assert rec.wait()[0][0] == b'HELLO'


def test_receive_first_through_bind(loop, sockets):
    rec = Recorder()
    sock = geventio.Socket(on_recv=rec.on_recv)
    loop.add(sock)
    sock.bind(host='127.0.0.1', service=0, socktype='dgram').get(timeout=WAIT)
    client = sockets.keep(gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    client.sendto(b'hi', sock.read_handle.getsockname())
    assert rec.wait()[0][0] == b'hi'


# -- the examples ----------------------------------------------------------------

@pytest.mark.parametrize('name', ['udp_echo.py', 'udp_client.py'])
def test_example_runs_its_demo_and_exits_zero(name):
    path = os.path.join(os.path.dirname(__file__), os.pardir, 'examples', name)
    done = subprocess.run([sys.executable, path], capture_output=True, timeout=15)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.count(b'\n') == 3
