"""Loop.watch_signal / unwatch_signal: several watchers per signal, in order,
and the previous disposition back when the last one goes."""

import os
import signal
import threading

import gevent
import pytest
from gevent.event import Event

import geventio
from conftest import WAIT, Log, settle


@pytest.fixture
def usr1_recorder():
    """A Python-level SIGUSR1 handler (an Event it sets), installed for the
    test and replaced by the original afterwards."""
    fired = Event()
    original = signal.signal(signal.SIGUSR1, lambda signum, frame: fired.set())
    yield fired
    signal.signal(signal.SIGUSR1, original)


def send(signum):
    os.kill(os.getpid(), signum)


def test_every_watcher_of_a_signal_runs_in_the_order_added(loop, usr1_recorder):
    log = Log()
    ids = [loop.watch_signal('USR1', lambda: log.append('first')),
           loop.watch_signal(signal.SIGUSR1, lambda: log.append('second')),
           loop.watch_signal('SIGUSR1', lambda: log.append('third'))]
    send(signal.SIGUSR1)
    assert log.wait_for(3) == ['first', 'second', 'third']
    send(signal.SIGUSR1)
    assert log.wait_for(6)[3:] == ['first', 'second', 'third']
    for signal_id in ids:
        loop.unwatch_signal(signal_id)
    assert not usr1_recorder.is_set(), 'the previous handler ran while watched'


def test_the_last_unwatch_restores_the_previous_disposition(loop, usr1_recorder):
    log = Log()
    previous = signal.getsignal(signal.SIGUSR1)
    first = loop.watch_signal('USR1', lambda: log.append('first'))
    second = loop.watch_signal('USR1', lambda: log.append('second'))
    loop.unwatch_signal(first)
    send(signal.SIGUSR1)
    assert log.wait_for(1) == ['second']
    loop.unwatch_signal(second)
    assert signal.getsignal(signal.SIGUSR1) is previous
    send(signal.SIGUSR1)
    assert usr1_recorder.wait(WAIT), 'the previous handler did not get the signal'
    settle()
    assert log == ['second']


def test_two_loops_hear_one_signal_and_one_leaving_keeps_the_other(usr1_recorder):
    log = Log()
    with geventio.Loop() as one, geventio.Loop() as two:
        one.watch_signal('USR1', lambda: log.append('one'))
        two.watch_signal('USR1', lambda: log.append('two'))
        send(signal.SIGUSR1)
        assert log.wait_for(2) == ['one', 'two']
        one.close()
        send(signal.SIGUSR1)
        assert log.wait_for(3)[2:] == ['two']
    assert not usr1_recorder.is_set()


def test_closing_the_loop_removes_its_signal_watchers(usr1_recorder):
    log = Log()
    loop = geventio.Loop()
    loop.watch_signal('USR1', lambda: log.append('watched'))
    loop.close()
    send(signal.SIGUSR1)
    assert usr1_recorder.wait(WAIT)
    settle()
    assert log == []


def test_a_watcher_that_raises_is_logged_and_the_next_still_runs(
        loop, usr1_recorder, callback_errors):
    log = Log()

    def broken():
        raise RuntimeError('boom')

    ids = [loop.watch_signal('USR1', broken),
           loop.watch_signal('USR1', lambda: log.append('next'))]
    send(signal.SIGUSR1)
    log.wait_for(1)
    assert len(callback_errors) == 1
    assert 'broken' in callback_errors[0].getMessage()
    for signal_id in ids:
        loop.unwatch_signal(signal_id)


def test_unwatching_an_unknown_id_is_ignored(loop):
    loop.unwatch_signal(12345)


@pytest.mark.parametrize('bad, error', [
    ('NOSUCH', ValueError), (0, ValueError), (10_000, ValueError),
    ('KILL', ValueError), (signal.SIGSTOP, ValueError), (1.5, TypeError),
    (True, TypeError), (None, TypeError)])
def test_a_bad_signal_raises_naming_it(loop, bad, error):
    with pytest.raises(error, match='signal') as raised:
        loop.watch_signal(bad, lambda: None)
    assert repr(bad) in str(raised.value)


def test_a_code_that_is_not_callable_raises_and_watches_nothing(loop):
    before = signal.getsignal(signal.SIGUSR1)
    with pytest.raises(TypeError, match="code must be callable, not 'nope'"):
        loop.watch_signal('USR1', 'nope')
    assert signal.getsignal(signal.SIGUSR1) is before


def test_watching_a_signal_outside_the_main_thread_raises_at_the_call():
    """Python sets dispositions in the main thread only; refused at the call,
    it cannot leave a watcher that unwatch_signal could not undo."""
    errors = []

    def in_a_thread():
        loop = geventio.Loop()
        try:
            loop.watch_signal('USR2', lambda: None)
        except ValueError as err:
            errors.append(err)
        finally:
            loop.close()
            gevent.get_hub().destroy(destroy_loop=True)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert len(errors) == 1 and 'main thread' in str(errors[0])
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
