"""Time limits: a Stream's ``idle_timeout``, the future readers' ``timeout=``, and
relative timers on the monotonic clock.

Idle periods are made by waiting on purpose (that is the scenario); every
assertion on when something fired compares monotonic times.
"""

import errno
import re
import time

import gevent
import pytest
from gevent.event import AsyncResult, Event

import geventio
from geventio import StreamClosedError
from conftest import WAIT, Log, keep_all, make_stream, recv_exactly, turn_the_hub

#: The idle timeout the tests use, in seconds: long enough for loopback to
#: move a message several times over, short enough to keep the tests quick.
IDLE = 0.2


def active_watchers():
    return gevent.get_hub().loop.activecnt


# -- idle_timeout ------------------------------------------------------------------

def test_a_silent_peer_is_closed_after_idle_timeout(loop, socketpair):
    a, b = socketpair
    closed = AsyncResult()
    started = time.monotonic()
    make_stream(loop, a, idle_timeout=IDLE,
                on_closed=lambda s: closed.set(time.monotonic()))
    assert closed.get(timeout=WAIT) - started >= IDLE
    assert b.recv(1) == b''


def test_any_byte_either_way_rearms_the_idle_timeout(loop, socketpair):
    a, b = socketpair
    fired = Log()
    stream = make_stream(loop, a, idle_timeout=IDLE,
                         on_idle_timeout=lambda s: fired.append(time.monotonic()))
    last = time.monotonic()
    for step in range(6):
        gevent.sleep(IDLE / 2)
        if step % 2:
            b.sendall(b'in')                      # a byte received
        else:
            stream.write(b'out')                  # a byte sent
            assert recv_exactly(b, 3) == b'out'
        last = time.monotonic()
    assert not fired
    fired.wait_for(1)
    assert fired[0] - last >= IDLE - 0.01


def test_a_rearmed_idle_timeout_fires_one_period_after_the_last_byte_not_later(
        loop, socketpair):
    """The idle timer armed when the stream joined finds, when it fires, that
    a byte moved a fifth of the way through its period; it then waits only
    what is left of a period counted from that byte, not a whole new period
    (which would stretch this timeout to 1.8 times)."""
    a, b = socketpair
    idle = 0.6
    read_at, fired = Log(), Log()

    def on_read(stream, buffer, eof):
        read_at.append(time.monotonic())
        del buffer[:]
        return 0

    make_stream(loop, a, idle_timeout=idle, on_read=on_read,
                on_idle_timeout=lambda s: fired.append(time.monotonic()))
    gevent.sleep(idle / 5)
    b.sendall(b'x')
    read_at.wait_for(1)
    fired.wait_for(1)
    waited = fired[0] - read_at[0]
    assert idle - 0.01 <= waited < idle * 1.4, waited


def test_a_handled_idle_timeout_fires_again_after_each_idle_period(loop, socketpair):
    a, _ = socketpair
    fired = Log()
    stream = make_stream(loop, a, idle_timeout=IDLE / 2,
                         on_idle_timeout=lambda s: fired.append(time.monotonic()))
    fired.wait_for(3)
    assert not stream.is_closed
    gaps = [later - earlier for earlier, later in zip(fired, fired[1:], strict=False)]
    assert all(gap >= IDLE / 2 - 0.01 for gap in gaps), gaps


def test_the_idle_timer_starts_when_the_stream_joins_a_loop(loop, socketpair):
    a, _ = socketpair
    fired = AsyncResult()
    stream = geventio.Stream(handle=a, on_read=keep_all, idle_timeout=IDLE / 2,
                             on_idle_timeout=lambda s: fired.set(time.monotonic()))
    gevent.sleep(IDLE)                  # longer than the timeout, outside a loop
    added = time.monotonic()
    loop.add(stream)
    assert fired.get(timeout=WAIT) - added >= IDLE / 2 - 0.01


def test_configure_changes_or_clears_the_idle_timeout_at_any_time(loop, socketpair):
    a, _ = socketpair
    fired = Log()
    stream = make_stream(loop, a, idle_timeout=60,
                         on_idle_timeout=lambda s: fired.append(time.monotonic()))
    changed = time.monotonic()
    stream.configure(idle_timeout=IDLE / 2)
    fired.wait_for(1)
    assert fired[0] - changed < 5
    before = active_watchers()
    stream.configure(idle_timeout=None)
    assert active_watchers() == before - 1            # its timer is gone
    gevent.sleep(IDLE)
    assert len(fired) == 1
    restarted = time.monotonic()
    stream.configure(idle_timeout=IDLE / 2)           # a first one counts from now
    fired.wait_for(2)
    assert fired[1] - restarted >= IDLE / 2 - 0.01


def test_an_idle_handler_may_write_and_close(loop, socketpair):
    a, b = socketpair

    def on_idle_timeout(stream):
        stream.write(b'bye\n')
        stream.close()

    make_stream(loop, a, idle_timeout=IDLE / 2, on_idle_timeout=on_idle_timeout)
    assert recv_exactly(b, 4) == b'bye\n'
    assert b.recv(1) == b''


def test_an_idle_timeout_seen_while_a_callback_blocks_still_fires(loop, socketpair):
    a, b = socketpair
    release, fired = Event(), Event()

    def on_read(stream, buffer, eof):
        del buffer[:]
        release.wait()                  # blocks the stream's own greenlet
        return 0

    make_stream(loop, a, on_read=on_read, idle_timeout=IDLE / 2,
                on_idle_timeout=lambda s: fired.set())
    b.sendall(b'x')
    assert fired.wait(WAIT)
    release.set()


def test_an_idle_handler_that_blocks_is_not_called_again_meanwhile(loop, socketpair):
    """Idle periods that pass while ``on_idle_timeout`` is still blocked (say,
    waiting to flush a goodbye to a peer that reads nothing) start no second
    call: each would be one more greenlet blocked for as long."""
    a, _ = socketpair
    release = Event()
    calls = Log()

    def on_idle_timeout(stream):
        calls.append(time.monotonic())
        release.wait()

    make_stream(loop, a, idle_timeout=IDLE / 4, on_idle_timeout=on_idle_timeout)
    calls.wait_for(1)
    gevent.sleep(IDLE)                  # four idle periods while it blocks
    assert len(calls) == 1
    release.set()
    calls.wait_for(2)                   # returned: the next period tells again


def test_without_idle_timeout_a_stream_keeps_no_timer(loop, socketpair):
    a, _ = socketpair
    before = active_watchers()
    make_stream(loop, a)
    assert active_watchers() == before + 1      # its read watcher only


def test_an_exception_in_on_idle_timeout_closes_that_stream(loop, socketpair,
                                                             callback_errors):
    a, _ = socketpair
    stream = make_stream(loop, a, idle_timeout=IDLE / 2,
                         on_idle_timeout=lambda s: 1 / 0)
    assert stream.new_close_future().get(timeout=WAIT) is stream
    assert callback_errors[0].exc_info[0] is ZeroDivisionError


# -- reader timeouts ---------------------------------------------------------------

READERS = {
    'read_atmost': lambda s, t: s.read_atmost(10, timeout=t),
    'read_exactly': lambda s, t: s.read_exactly(10, timeout=t),
    'read_until': lambda s, t: s.read_until(b'\n', timeout=t),
    'read_until regex': lambda s, t: s.read_until(re.compile(rb'\r?\n'), timeout=t),
    'read_until_eof': lambda s, t: s.read_until_eof(timeout=t),
}


@pytest.mark.parametrize('name', READERS)
def test_a_reader_that_times_out_fails_and_swallows_nothing(loop, socketpair, name):
    """An abandoned reader must not eat the next message."""
    a, b = socketpair
    stream = make_stream(loop, a)
    started = time.monotonic()
    abandoned = READERS[name](stream, IDLE / 2)
    with pytest.raises(TimeoutError) as caught:
        abandoned.get(timeout=WAIT)
    assert time.monotonic() - started >= IDLE / 2 - 0.01
    assert caught.value.errno == errno.ETIMEDOUT and name.split()[0] in str(caught.value)
    line = stream.read_until(b'\n')
    b.sendall(b'next\n')
    assert line.get(timeout=WAIT) == b'next\n'


def test_a_reader_resolved_in_time_leaves_no_timer_behind(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    before = active_watchers()
    line = stream.read_until(b'\n', timeout=60)
    assert active_watchers() == before + 1
    b.sendall(b'quick\n')
    assert line.get(timeout=WAIT) == b'quick\n'
    turn_the_hub(1)                    # the future's links run in the hub
    assert active_watchers() == before


def test_a_timed_out_reader_behind_another_frees_the_queue(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    first = stream.read_exactly(4)
    second = stream.read_until(b'\n', timeout=IDLE / 2)
    third = stream.read_exactly(2)
    with pytest.raises(TimeoutError):
        second.get(timeout=WAIT)
    b.sendall(b'abcdef')
    assert (first.get(timeout=WAIT), third.get(timeout=WAIT)) == (b'abcd', b'ef')


def test_cancelling_a_reader_stops_its_timeout(loop, socketpair):
    """A cancelled reader keeps no timer running, and its future is not failed
    with a TimeoutError later (it stays pending, as any cancelled reader's)."""
    a, _ = socketpair
    stream = make_stream(loop, a)
    before = active_watchers()
    line = stream.read_until(b'\n', timeout=IDLE / 2)
    stream.cancel_read(line)
    assert active_watchers() == before
    gevent.sleep(IDLE)                  # past the timeout it was given
    assert not line.ready()


def test_closing_fails_a_reader_before_its_timeout(loop, socketpair):
    a, _ = socketpair
    stream = make_stream(loop, a)
    line = stream.read_until(b'\n', timeout=60)
    stream.close()
    with pytest.raises(StreamClosedError):
        line.get(timeout=WAIT)


@pytest.mark.parametrize('timeout, exc', [(0, ValueError), (-1, ValueError),
                                          ('1', TypeError), (True, TypeError)])
def test_reader_timeouts_are_checked_at_the_call(loop, socketpair, timeout, exc):
    a, _ = socketpair
    stream = make_stream(loop, a)
    for make in READERS.values():
        with pytest.raises(exc, match='timeout'):
            make(stream, timeout)


# -- the monotonic clock -----------------------------------------------------------

def test_relative_timers_ignore_a_wall_clock_jump(loop, monkeypatch):
    """Setting the clock back an hour must not delay a relative timer by an hour
    (time.time is replaced for the loop; the monotonic clock is left alone)."""
    fired = Event()
    loop.watch_time(fired.set, after=0.05)
    delay = loop.delay_future(after=0.05)
    real = time.time
    monkeypatch.setattr(time, 'time', lambda: real() - 3600)
    assert fired.wait(WAIT)
    assert delay.get(timeout=WAIT) is None


def test_at_timers_follow_the_wall_clock(loop, monkeypatch):
    """An ``at=`` moment an hour ahead comes as soon as the clock is set
    forward past it: the loop looks at the wall clock at least once a second."""
    fired = AsyncResult()
    loop.watch_time(lambda: fired.set(time.monotonic()), at=time.time() + 3600)
    real = time.time
    jumped = time.monotonic()
    monkeypatch.setattr(time, 'time', lambda: real() + 3600)
    at = fired.get(timeout=WAIT)
    assert at - jumped <= geventio.ioasync.loop.WALL_CLOCK_RECHECK + 0.5


def test_relative_and_absolute_timers_due_together_fire_in_deadline_order(loop):
    order = Log()
    now = time.time()
    loop.watch_time(lambda: order.append('after 0.1'), after=0.1)
    loop.watch_time(lambda: order.append('at +0.05'), at=now + 0.05)
    loop.watch_time(lambda: order.append('after 0.01'), after=0.01)
    order.wait_for(3)
    assert order == ['after 0.01', 'at +0.05', 'after 0.1']
