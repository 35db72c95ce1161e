"""Loop: membership, run/stop, deferred calls, timers, futures and resolving."""

import socket
import time

import gevent
import pytest

import geventio


def test_add_and_remove_keep_notifiers_in_order(loop):
    first, second = geventio.Notifier(), geventio.Notifier()
    loop.add(first)
    loop.add(second)
    assert loop.notifiers == (first, second)
    assert first.loop is loop
    loop.remove(first)
    assert loop.notifiers == (second,)
    assert first.loop is None


def test_adding_twice_or_removing_a_stranger_raises(loop):
    notifier = geventio.Notifier()
    loop.add(notifier)
    with pytest.raises(ValueError):
        loop.add(notifier)
    with pytest.raises(ValueError):
        geventio.Loop().add(notifier)
    with pytest.raises(ValueError):
        loop.remove(geventio.Notifier())


def test_adding_a_child_directly_raises(loop):
    parent, child = geventio.Notifier(), geventio.Notifier()
    parent.add_child(child)
    with pytest.raises(ValueError):
        loop.add(child)


def test_run_returns_what_stop_was_given(loop):
    loop.later(loop.stop)
    assert loop.run() is None
    loop.later(loop.stop, 'one')
    assert loop.run() == 'one'
    loop.later(loop.stop, 1, 2)
    assert loop.run() == (1, 2)
    assert not loop.is_running


def test_runs_nest_and_stop_ends_the_innermost(loop):
    seen = []

    def outer():
        assert loop.is_running
        loop.later(loop.stop, 'inner')
        seen.append(loop.run())
        loop.stop('outer')

    loop.later(outer)
    assert loop.run() == 'outer'
    assert seen == ['inner']


def test_later_is_never_synchronous(loop):
    calls = []
    loop.later(calls.append, 'x')
    assert calls == []
    loop.loop_once(timeout=5)
    assert calls == ['x']


def test_timers_due_together_fire_in_creation_order(loop):
    order = []
    at = time.time() + 0.05
    for name in 'abcde':
        loop.watch_time(lambda name=name: order.append(name), at=at)
    loop.watch_time(lambda: loop.stop(), at=at + 0.01)
    loop.run()
    assert order == list('abcde')


def test_timers_fire_in_deadline_order_and_unwatch_cancels(loop):
    order = []
    loop.watch_time(lambda: order.append('late'), after=0.04)
    cancelled = loop.watch_time(lambda: order.append('cancelled'), after=0.02)
    loop.watch_time(lambda: order.append('early'), after=0.01)
    loop.watch_time(loop.stop, after=0.06)
    loop.unwatch_time(cancelled)
    loop.run()
    assert order == ['early', 'late']


def test_unwatch_time_of_a_fired_or_unknown_timer_keeps_nothing(loop):
    # unwatch_time looks the id up in a set (not a scan of every heap) and
    # remembers only ids still waiting, so stale and made-up ids cost nothing.
    fired = []
    first = loop.watch_time(lambda: fired.append(1), after=0.01)
    cancelled = [loop.watch_time(lambda: fired.append('x'), after=0.02)
                 for _ in range(100)]
    for timer_id in cancelled:
        loop.unwatch_time(timer_id)
        loop.unwatch_time(timer_id)         # twice: still nothing more
    loop.watch_time(loop.stop, after=0.03)
    loop.run()
    loop.unwatch_time(first)                # fired already
    loop.unwatch_time(10 ** 9)              # never given out
    assert fired == [1]
    assert loop._pending == set() and loop._cancelled == set()

def test_watch_time_needs_exactly_one_of_after_and_at(loop):
    with pytest.raises(TypeError):
        loop.watch_time(lambda: None)
    with pytest.raises(TypeError):
        loop.watch_time(lambda: None, after=1, at=time.time())
    with pytest.raises(TypeError):
        loop.watch_time(lambda: None, after='soon')


def test_delay_future_resolves_and_timeout_future_fails(loop):
    start = time.monotonic()
    assert loop.delay_future(after=0.02).get() is None
    assert time.monotonic() - start >= 0.015
    with pytest.raises(gevent.Timeout):
        loop.timeout_future(after=0.01).get()


def test_loop_once_returns_after_a_dispatch(loop, socketpair):
    a, b = socketpair
    got = []
    stream = geventio.Stream(handle=a, on_read=lambda s, buf, eof: got.append(bytes(buf)) or buf.clear())
    loop.add(stream)
    b.sendall(b'ping')
    while not got:
        loop.loop_once(timeout=5)
    assert got == [b'ping']


def test_loop_once_times_out_when_nothing_happens(loop):
    start = time.monotonic()
    loop.loop_once(timeout=0.02)
    assert time.monotonic() - start >= 0.015


def test_a_raising_deferred_call_is_logged_and_the_loop_goes_on(loop, callback_errors):
    def boom():
        raise RuntimeError('boom')

    loop.later(boom)
    loop.later(loop.stop, 'still running')
    assert loop.run() == 'still running'
    assert any('boom' in str(r.exc_info[1]) for r in callback_errors)


def test_resolve_gives_getaddrinfo_tuples(loop):
    result = loop.resolve('127.0.0.1', '80', socktype='stream').get()
    assert (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('127.0.0.1', 80)) in result


def test_resolve_failure_is_a_resolve_error(loop):
    with pytest.raises(geventio.ResolveError) as info:
        loop.resolve('no-such-host.invalid', '80', socktype='stream').get()
    assert isinstance(info.value, OSError)
    assert info.value.errno in (socket.EAI_NONAME, socket.EAI_AGAIN,
                                getattr(socket, 'EAI_NODATA', -5), socket.EAI_FAIL)


def test_resolve_rejects_unknown_socktype_names(loop):
    with pytest.raises(ValueError, match='socktype'):
        loop.resolve('127.0.0.1', '80', socktype='sideways')


def test_close_closes_every_handle(loop, socketpair):
    a, b = socketpair
    stream = geventio.Stream(handle=a, on_read=lambda s, buf, eof: 0)
    loop.add(stream)
    loop.close()
    assert stream.is_closed
    assert loop.notifiers == ()
    assert b.recv(1) == b''
