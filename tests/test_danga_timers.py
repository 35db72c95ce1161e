"""Danga::Socket's loop over time: timers, the loop timeout, other fds, and how
event_loop() waits and returns (docs/api.md section 8)."""

import math
import os
import select
import time

import gevent
import gevent.socket
import pytest

from conftest import WAIT
from dangautil import run_iterations, run_until
from geventio.danga import DangaSocket, _timers

pytestmark = pytest.mark.usefixtures('danga')


class Echo(DangaSocket):
    def event_read(self):
        data = self.read(65536)
        if data is None:
            self.close('eof')
        else:
            self.write(data)


def run_loop(timeout=WAIT):
    with gevent.Timeout(timeout):
        DangaSocket.event_loop()


# -- timers ------------------------------------------------------------------------

def test_timers_fire_in_deadline_order_and_the_loop_returns_after_the_last():
    fired = []
    start = time.monotonic()
    DangaSocket.add_timer(0.06, lambda now: fired.append('late'))
    DangaSocket.add_timer(0.02, lambda now: fired.append('early'))
    run_loop()
    assert fired == ['early', 'late']
    assert time.monotonic() - start >= 0.06


def test_timers_due_together_fire_in_the_order_they_were_added(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(_timers, 'monotonic', lambda: clock[0])
    fired = []
    for name, delay in [('a', 1), ('b', 0.5), ('c', 1), ('d', 1), ('e', 0.5)]:
        DangaSocket.add_timer(delay, lambda now, name=name: fired.append(name))
    clock[0] += 2
    assert run_iterations(5) == 1
    assert fired == ['b', 'e', 'a', 'c', 'd']


def test_a_cancelled_timer_never_fires(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(_timers, 'monotonic', lambda: clock[0])
    fired = []
    doomed = DangaSocket.add_timer(1, lambda now: fired.append('doomed'))
    DangaSocket.add_timer(0.5, lambda now: (fired.append('canceller'), doomed.cancel()))
    gone = DangaSocket.add_timer(1, lambda now: fired.append('gone'))
    gone.cancel()
    gone.cancel()
    clock[0] += 2
    run_iterations(5)
    assert fired == ['canceller']
    doomed.cancel()     # after its time: nothing happens


def test_the_code_gets_the_wall_clock_time():
    got = []
    DangaSocket.add_timer(0, got.append)
    before = time.time()
    run_loop()
    assert before <= got[0] <= time.time()


def test_a_timer_added_by_a_timer_fires_in_a_later_iteration():
    fired = []

    def again(now):
        fired.append(len(rounds))
        if len(fired) < 3:
            DangaSocket.add_timer(0, again)

    rounds = []
    DangaSocket.set_post_loop_callback(lambda dmap: rounds.append(1) or True)
    DangaSocket.add_timer(0, again)
    run_loop()
    assert fired == [0, 1, 2]


def test_a_raising_timer_is_logged_and_the_loop_goes_on(callback_errors):
    fired = []
    DangaSocket.add_timer(0, lambda now: 1 / 0)
    DangaSocket.add_timer(0.01, lambda now: fired.append('next'))
    run_loop()
    assert fired == ['next']
    assert len(callback_errors) == 1
    assert callback_errors[0].exc_info[0] is ZeroDivisionError


def test_the_wait_ends_at_the_next_timer_while_sockets_are_idle(socketpair):
    """Timers run at the start of an iteration (Perl's order), so this one ends
    the loop by closing the last socket."""
    ours, _ = socketpair
    echo = Echo(ours)
    echo.watch_read(True)
    DangaSocket.add_timer(0.03, lambda now: echo.close())
    start = time.monotonic()
    run_loop()
    assert echo.closed and time.monotonic() - start >= 0.03


def test_a_timer_added_from_another_greenlet_ends_the_wait_in_progress(socketpair):
    ours, _ = socketpair
    echo = Echo(ours)
    echo.watch_read(True)
    adder = gevent.spawn_later(0.02, DangaSocket.add_timer, 0.01,
                               lambda now: echo.close())
    run_loop()
    adder.join()
    assert echo.closed


def test_many_cancelled_timers_do_not_pile_up():
    timers = [DangaSocket.add_timer(3600, lambda now: None) for _ in range(1000)]
    for timer in timers:
        timer.cancel()
    assert len(_loop_timers()._heap) < 500     # compacted as they were cancelled
    assert len(_loop_timers()) == 0


def _loop_timers():
    from geventio.danga._loop import LOOP
    return LOOP.timers


# -- the loop timeout --------------------------------------------------------------

def test_the_loop_timeout_bounds_each_wait(socketpair):
    ours, _ = socketpair
    Echo(ours).watch_read(True)
    DangaSocket.set_loop_timeout(20)
    start = time.monotonic()
    assert run_iterations(3) == 3
    assert time.monotonic() - start >= 0.06


def test_a_loop_timeout_of_zero_does_not_wait(socketpair):
    ours, _ = socketpair
    Echo(ours).watch_read(True)
    DangaSocket.set_loop_timeout(0)
    start = time.monotonic()
    assert run_iterations(50) == 50
    assert time.monotonic() - start < 1


def test_a_loop_timeout_alone_keeps_the_loop_iterating():
    DangaSocket.set_loop_timeout(5)
    assert run_iterations(3) == 3


# -- when event_loop() returns -----------------------------------------------------

def test_with_nothing_to_wait_for_event_loop_returns_after_the_post_loop_callbacks():
    calls = []
    DangaSocket.set_post_loop_callback(lambda dmap: calls.append(dmap) or True)
    run_loop()
    assert calls == [{}]


def test_a_post_loop_callback_that_adds_something_to_wait_for_keeps_the_loop_going():
    """Nothing to wait for is judged after the post-loop callbacks: one that
    starts new work (a timer, a connection) when all is done is not cut off."""
    fired, calls = [], []

    def start_more(dmap):
        calls.append(dmap)
        if len(calls) == 1:
            DangaSocket.add_timer(0, fired.append)
        return True

    DangaSocket.set_post_loop_callback(start_more)
    run_loop()
    assert len(fired) == 1 and len(calls) == 2


def test_event_loop_returns_once_another_greenlet_closes_the_last_socket(socketpair):
    ours, peer = socketpair
    echo = Echo(ours)
    echo.watch_read(True)
    closer = gevent.spawn_later(0.02, echo.close)
    run_loop()
    closer.join()
    assert echo.closed and peer.recv(10) == b''


def test_event_loop_returns_once_another_greenlet_cancels_the_last_timer():
    """Not at the cancelled timer's deadline, an hour away."""
    timer = DangaSocket.add_timer(3600, lambda now: None)
    canceller = gevent.spawn_later(0.02, timer.cancel)
    run_loop()
    canceller.join()


def test_event_loop_returns_once_another_greenlet_drops_the_last_other_fd(pipe):
    rfile, _ = pipe
    DangaSocket.add_other_fds({rfile: print})
    dropper = gevent.spawn_later(0.02, DangaSocket.other_fds, {})
    run_loop()
    dropper.join()
    assert DangaSocket.other_fds() == {}


def test_gevent_timeout_interrupts_event_loop_which_can_be_entered_again(socketpair):
    ours, peer = socketpair
    echo = Echo(ours)
    echo.watch_read(True)
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.05):
            DangaSocket.event_loop()
    peer.sendall(b'still here')
    run_until(lambda: select.select([peer], [], [], 0)[0])
    assert peer.recv(100) == b'still here'


def test_an_interrupted_round_closes_what_it_closed(socketpair):
    ours, peer = socketpair

    class Slow(Echo):
        def event_read(self):
            self.read(10)
            self.close('slow')
            gevent.sleep(10)        # a handler blocking cooperatively

    slow = Slow(ours)
    slow.watch_read(True)
    peer.sendall(b'x')
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.05):
            DangaSocket.event_loop()
    assert peer.recv(10) == b'' and DangaSocket.descriptor_map() == {}


def test_readiness_left_by_an_interrupted_round_is_dispatched_next_time(sockets):
    (a, a_peer), (b, b_peer) = sockets.keep(*gevent.socket.socketpair()), \
        sockets.keep(*gevent.socket.socketpair())
    reads = []

    class Blocking(Echo):
        def event_read(self):
            reads.append(self)
            self.write(self.read(10))
            if len(reads) == 1:
                gevent.sleep(10)    # the first one dispatched blocks

    first, second = Blocking(a), Blocking(b)
    first.watch_read(True)
    second.watch_read(True)
    a_peer.sendall(b'a')
    b_peer.sendall(b'b')
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.05):
            DangaSocket.event_loop()
    assert len(reads) == 1
    run_until(lambda: len(reads) == 2)
    assert set(reads) == {first, second}
    assert a_peer.recv(10) == b'a' and b_peer.recv(10) == b'b'


def test_timers_left_by_an_interrupted_round_fire_next_time(monkeypatch):
    """A timer's code blocking cooperatively is interrupted: the timers due with
    it that had not run yet stay due, in order, and a cancel still counts."""
    clock = [1000.0]
    monkeypatch.setattr(_timers, 'monotonic', lambda: clock[0])
    fired = []

    def blocking(now):
        fired.append('blocking')
        doomed.cancel()
        gevent.sleep(10)

    DangaSocket.add_timer(1, blocking)
    doomed = DangaSocket.add_timer(1, lambda now: fired.append('doomed'))
    for name in ('next', 'last'):
        DangaSocket.add_timer(1, lambda now, name=name: fired.append(name))
    clock[0] += 2
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.05):
            DangaSocket.event_loop()
    assert fired == ['blocking']
    run_loop()
    assert fired == ['blocking', 'next', 'last']


# -- other fds ---------------------------------------------------------------------

def test_an_other_fd_is_watched_at_once_and_gets_the_poll_state(pipe):
    rfile, wfile = pipe
    states = []

    def on_pipe(state):
        states.append(state)
        data = os.read(rfile.fileno(), 100)
        if not data:
            DangaSocket.other_fds({})
        return data

    assert DangaSocket.add_other_fds({rfile: on_pipe}) == {rfile.fileno(): on_pipe}
    wfile.write(b'wake')
    assert run_iterations(1) == 1
    assert states == [select.POLLIN]
    wfile.close()
    run_loop()      # returns once nothing is left: the code stopped watching at EOF
    if DangaSocket.have_epoll():
        assert states[1] == select.POLLIN | select.POLLHUP
    assert DangaSocket.other_fds() == {}


def test_an_other_fd_dropped_during_a_round_is_not_called(pipe):
    first_r, first_w = pipe
    second_r, second_w = os.pipe()
    try:
        calls = []

        def keep_only_me(fd):
            def code(state):
                calls.append(fd)
                os.read(fd, 10)
                DangaSocket.other_fds({fd: code})
            return code

        DangaSocket.add_other_fds({first_r.fileno(): keep_only_me(first_r.fileno()),
                                   second_r: keep_only_me(second_r)})
        first_w.write(b'x')
        os.write(second_w, b'y')
        run_iterations(1)
        assert len(calls) == 1 and len(DangaSocket.other_fds()) == 1
    finally:
        DangaSocket.reset()
        os.close(second_r)
        os.close(second_w)


def test_a_raising_other_fd_code_is_logged_and_no_longer_watched(pipe, callback_errors):
    rfile, wfile = pipe
    DangaSocket.add_other_fds({rfile.fileno(): lambda state: 1 / 0})
    wfile.write(b'x')
    run_loop()
    assert DangaSocket.other_fds() == {}
    assert 'no longer watched' in callback_errors[0].getMessage()


def test_a_code_that_stops_watching_its_fd_and_then_raises_is_only_logged(
        pipe, callback_errors):
    rfile, wfile = pipe

    def give_up(state):
        DangaSocket.other_fds({})
        raise RuntimeError('gave up')

    DangaSocket.add_other_fds({rfile: give_up})
    wfile.write(b'x')
    run_loop()      # returns: nothing is left to wait for
    assert DangaSocket.other_fds() == {}
    assert [r.exc_info[0] for r in callback_errors] == [RuntimeError]


def test_other_fds_with_a_mapping_replaces_the_set(pipe):
    rfile, _ = pipe
    extra_r, extra_w = os.pipe()
    try:
        first = DangaSocket.add_other_fds({rfile: print, extra_r: print})
        assert set(first) == {rfile.fileno(), extra_r}
        assert DangaSocket.other_fds({extra_r: repr}) == {extra_r: repr}
    finally:
        DangaSocket.reset()
        os.close(extra_r)
        os.close(extra_w)


def test_bad_other_fds_raise_and_add_nothing(pipe, socketpair, sockets):
    rfile, _ = pipe
    Echo(socketpair[0])
    closed_r, closed_w = os.pipe()
    os.close(closed_r)
    os.close(closed_w)
    cases = [
        ([(rfile, print)], TypeError, 'fds must be a dict'),
        ({rfile: 'print'}, TypeError, "must be callable, not 'print'"),
        ({'3': print}, TypeError, "descriptor or have fileno"),
        ({closed_r: print}, ValueError, 'not an open descriptor'),
        ({socketpair[0].fileno(): print}, ValueError, 'in the descriptor map'),
    ]
    for fds, error, message in cases:
        with pytest.raises(error, match=message):
            DangaSocket.add_other_fds({rfile.fileno(): print, **fds}
                                      if isinstance(fds, dict) else fds)
        assert DangaSocket.other_fds() == {}
    spare, _ = sockets.keep(*gevent.socket.socketpair())
    DangaSocket.add_other_fds({spare: print})
    with pytest.raises(ValueError, match='watched as an other fd'):
        Echo(spare)


# -- bad input ---------------------------------------------------------------------

def test_bad_timer_and_timeout_arguments_raise_at_the_call():
    cases = [
        (lambda: DangaSocket.add_timer(-1, print), ValueError,
         'seconds must be non-negative'),
        (lambda: DangaSocket.add_timer(math.nan, print), ValueError, 'seconds must be'),
        (lambda: DangaSocket.add_timer(math.inf, print), ValueError, 'finite'),
        (lambda: DangaSocket.add_timer('1', print), TypeError, "not '1'"),
        (lambda: DangaSocket.add_timer(True, print), TypeError, 'not True'),
        (lambda: DangaSocket.add_timer(1, None), TypeError, 'code must be callable'),
        (lambda: DangaSocket.set_loop_timeout(-2), ValueError, 'not -2'),
        (lambda: DangaSocket.set_loop_timeout(1.5), TypeError, 'not 1.5'),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    assert len(_loop_timers()) == 0
