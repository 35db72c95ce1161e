"""Happy Eyeballs (RFC 8305) in Connector: staggered attempts over real loopback
peers, scenario by scenario, asserting the winner and when each attempt began.

Peers: ``live`` (a listener with room in its queue), ``refused`` (a closed
port) and ``blackhole`` (a listener whose accept queue is full, so the SYN gets
no answer). Only the resolver is stubbed, in the interleaving test.
"""

import contextlib
import errno
import socket
import time

import gevent
import gevent.socket
import pytest
from gevent.event import Event

import geventio
from conftest import HAS_IPV6, WAIT, Log, recv_exactly
from netutil import RecordingConnector, blackhole, closed_port, live_listener

#: How far (seconds) an attempt may start after its planned time; it may
#: never start before it.
LATE = 0.1


@contextlib.contextmanager
def peers(kinds, family=socket.AF_INET):
    """The ``(host, port)`` of each peer kind, alive for the block."""
    with contextlib.ExitStack() as stack:
        made = []
        for kind in kinds:
            if kind == 'live':
                made.append(stack.enter_context(live_listener(family)).getsockname()[:2])
            elif kind == 'blackhole':
                made.append(stack.enter_context(blackhole(family)))
            else:
                made.append(closed_port(family))
        yield made


def addr(host_port, family=socket.AF_INET):
    return (family, socket.SOCK_STREAM, 0, host_port)


SCENARIOS = [
    # peers, happy_eyeballs_delay, winner, planned start of each attempt
    (['blackhole', 'live'], 0.2, 1, [0, 0.2]),
    (['live', 'blackhole'], 0.2, 0, [0]),
    (['refused', 'live'], 0.5, 1, [0, 0]),
    (['blackhole', 'blackhole', 'live'], 0.15, 2, [0, 0.15, 0.3]),
    (['blackhole', 'refused', 'live'], 0.2, 2, [0, 0.2, 0.2]),
    (['blackhole', 'live'], 0, 1, [0, 0]),
    (['refused', 'refused', 'live'], None, 2, [0, 0, 0]),
]


@pytest.mark.parametrize('kinds, delay, winner, starts', SCENARIOS)
def test_scenario(loop, kinds, delay, winner, starts):
    with peers(kinds) as made:
        connector = RecordingConnector(loop)
        connector.t0 = time.monotonic()
        sock = connector.connect(addrs=[addr(peer) for peer in made],
                                 happy_eyeballs_delay=delay).get()
        with sock:
            assert sock.getpeername() == made[winner]
    assert len(connector.started) == len(starts)
    for actual, planned in zip(connector.started, starts):
        assert planned - 0.01 <= actual <= planned + LATE, connector.started
    losers = [s for s in connector.sockets if s is not sock]
    assert all(s.fileno() == -1 for s in losers)


def test_every_attempt_timing_out_reports_each_and_fails(loop):
    fails = []
    with peers(['blackhole', 'blackhole']) as made:
        future = loop.connect(addrs=[addr(peer) for peer in made], timeout=0.3,
                              happy_eyeballs_delay=0.1,
                              on_fail=lambda *args: fails.append(args))
        with pytest.raises(geventio.ConnectError) as info:
            future.get()
    assert info.value.errno == errno.ETIMEDOUT
    assert [(call[0], call[2]) for call in fails] == [('connect', made[0]),
                                                     ('connect', made[1])]


def test_the_winner_alone_is_handed_over_and_on_fail_hears_only_real_failures(loop):
    fails, got = [], []
    with peers(['blackhole', 'live']) as made:
        stream = loop.connect(addrs=[addr(peer) for peer in made],
                              happy_eyeballs_delay=0.05, on_stream=got.append,
                              on_fail=lambda *args: fails.append(args)).get()
        assert got == [stream]
        assert stream.read_handle.getpeername() == made[1]
        stream.close()
    assert fails == []     # the cancelled blackhole attempt is no failure


def test_explicit_addresses_keep_the_callers_order_with_a_delay(loop, tmp_path):
    """Interleaving families is for resolved addresses; given ``addrs=``, two
    unix paths are tried before the inet listener that follows them."""
    missing = [{'family': 'unix', 'socktype': 'stream', 'path': str(tmp_path / name)}
               for name in ('first.sock', 'second.sock')]
    fails = []
    with live_listener() as server:
        sock = loop.connect(addrs=missing + [addr(server.getsockname())],
                            happy_eyeballs_delay=0.5,
                            on_fail=lambda *args: fails.append(args)).get()
        sock.close()
    assert [(call[0], call[2]) for call in fails] == [
        ('connect', missing[0]['path']), ('connect', missing[1]['path'])]


class GatedSocket(gevent.socket.socket):
    """A socket whose connect() first waits at its connector's gate, then notes
    that it connected."""

    def connect(self, address):
        self.connector.waiting.append(self)
        self.connector.gate.wait(WAIT)
        super().connect(address)
        self.connector.connected.append(self)


class GatedConnector(geventio.Connector):
    """A Connector whose attempts all connect when the test opens the gate, one
    right after the other on the same loop iteration."""

    def __init__(self, loop):
        super().__init__(loop)
        self.gate = Event()
        self.waiting = Log()
        self.connected = []

    def socket_factory(self, family, socktype, protocol):
        sock = GatedSocket(family, socktype, protocol)
        sock.connector = self
        return sock


def test_the_first_attempt_to_connect_wins_and_a_later_success_is_closed(
        loop, tmp_path):
    path = str(tmp_path / 'live.sock')
    with gevent.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(4)
        target = {'family': 'unix', 'socktype': 'stream', 'path': path}
        connector = GatedConnector(loop)
        future = connector.connect(addrs=[target, target], happy_eyeballs_delay=0.01)
        connector.waiting.wait_for(2)
        connector.gate.set()
        with future.get(timeout=WAIT) as sock:
            first, second = connector.connected
            assert sock is first
            assert second.fileno() == -1
            winners_peer, losers_peer = (server.accept()[0] for _ in range(2))
            with winners_peer, losers_peer:
                losers_peer.settimeout(WAIT)
                assert losers_peer.recv(10) == b''
                sock.sendall(b'winner')
                assert recv_exactly(winners_peer, 6) == b'winner'


class StubResolver:
    """Answers every lookup with fixed getaddrinfo results."""

    def __init__(self, results):
        self.results = results

    def getaddrinfo(self, host, port, family=0, socktype=0, proto=0, flags=0):
        return self.results

    def close(self):
        pass


@pytest.mark.skipif(not HAS_IPV6, reason='no IPv6 loopback')
@pytest.mark.parametrize('delay, tried', [(0.5, 2), (None, 3)])
def test_resolved_addresses_are_interleaved_by_family(loop, monkeypatch, delay, tried):
    """RFC 8305 section 4: with a delay the second attempt uses the other
    family; without one the resolver's order is kept."""
    refused = [closed_port(socket.AF_INET6), closed_port(socket.AF_INET6)]
    with live_listener(socket.AF_INET) as server:
        results = [(socket.AF_INET6, socket.SOCK_STREAM, 6, '', refused[0] + (0, 0)),
                   (socket.AF_INET6, socket.SOCK_STREAM, 6, '', refused[1] + (0, 0)),
                   (socket.AF_INET, socket.SOCK_STREAM, 6, '', server.getsockname())]
        monkeypatch.setattr(gevent.get_hub(), 'resolver', StubResolver(results))
        connector = RecordingConnector(loop)
        sock = connector.connect(host='dual.example', service=80,
                                 happy_eyeballs_delay=delay).get()
        with sock:
            assert sock.family == socket.AF_INET
    assert len(connector.started) == tried


@pytest.mark.skipif(not HAS_IPV6, reason='no IPv6 loopback')
def test_interleaving_keeps_the_extra_addresses_of_the_larger_family(loop, monkeypatch):
    """Two IPv6 answers and one IPv4: after alternating, the second IPv6 address
    is still tried (here it is the one that answers)."""
    refused6, refused4 = closed_port(socket.AF_INET6), closed_port(socket.AF_INET)
    fails = []
    with live_listener(socket.AF_INET6) as server:
        results = [(socket.AF_INET6, socket.SOCK_STREAM, 6, '', refused6 + (0, 0)),
                   (socket.AF_INET6, socket.SOCK_STREAM, 6, '', server.getsockname()),
                   (socket.AF_INET, socket.SOCK_STREAM, 6, '', refused4)]
        monkeypatch.setattr(gevent.get_hub(), 'resolver', StubResolver(results))
        sock = loop.connect(host='dual.example', service=80, happy_eyeballs_delay=0.5,
                            on_fail=lambda *args: fails.append(args)).get()
        with sock:
            assert sock.getpeername()[:2] == server.getsockname()[:2]
    assert [call[2][:2] for call in fails] == [refused6, refused4]
