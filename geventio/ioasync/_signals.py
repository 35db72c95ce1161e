"""The process's signal watchers, shared by every `Loop` (and by ``prefork``).

Not a public module. IO::Async::Loop's ``watch_signal``/``unwatch_signal`` on
``gevent.signal_handler``: `watch` and `unwatch` keep, per signal, the
callables to run in the order they were added.

Design: one watcher per signal, and the previous disposition back
-----------------------------------------------------------------
A signal's disposition belongs to the process, not to a loop. The OS keeps
one handler per signal; libev (under ``gevent.signal_handler``) lets several
watchers share it but, when the last one stops, resets the signal to
``SIG_DFL`` (``ev_signal_stop`` in ``ev.c``), whatever Python had installed
before: after that a Ctrl-C kills the process without ``KeyboardInterrupt``.
asyncio (``unix_events.py``, ``remove_signal_handler``) also falls back to
the default (``default_int_handler`` for SIGINT) and keeps one handler per
signal and loop; trio (``_signals.py``, ``_signal_handler``) restores the
handler it found; IO::Async's ``attach_signal`` runs several handlers per
signal in turn.

We chose: one ``gevent.signal_handler`` per signal for the whole process, the
callables of every loop behind it in the order they were added (so two loops
watching SIGTERM both hear it, and removing one leaves the other working),
and, when the last one goes, the disposition found before the first one
(``signal.getsignal``) installed again. Like every signal handler here, this
works only in the main thread.
"""

import itertools
import signal
from collections.abc import Callable
from typing import Any

import gevent

from .. import _callbacks

__all__ = ['signal_number', 'unwatch', 'watch']

#: Signals no process can catch.
_UNCATCHABLE = frozenset({signal.SIGKILL, signal.SIGSTOP})


class _Watched:
    """What is known of one watched signal."""

    __slots__ = ('handler', 'codes', 'previous')

    def __init__(self, handler: Any, previous: Any) -> None:
        self.handler = handler      # the gevent.signal_handler
        self.codes: dict[int, Callable[[], object]] = {}    # id -> callable, in order added
        self.previous = previous    # signal.getsignal() before the first watch


#: signal number -> _Watched
_WATCHED: dict[int, _Watched] = {}

#: watcher id -> signal number
_SIGNAL_OF: dict[int, int] = {}

_ids = itertools.count(1)


def signal_number(value: object, name: str = 'signal') -> int:
    """The number of a signal given as a number or a name (``'TERM'`` or
    ``'SIGTERM'``, any case).

    Raises:
        TypeError: neither an int nor a str.
        ValueError: no such signal, or one that cannot be caught.
    """
    number: int
    if isinstance(value, str):
        upper = value.upper()
        try:
            number = signal.Signals[upper if upper.startswith('SIG') else 'SIG' + upper]
        except KeyError:
            raise ValueError(f'{name} must be a signal number or a name such as '
                             f"'TERM', not {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        if value not in signal.valid_signals():
            raise ValueError(f'{name} must be a signal number or a name such as '
                             f"'TERM', not {value!r}")
        number = value
    else:
        raise TypeError(f'{name} must be a signal number or name, not {value!r}')
    if number in _UNCATCHABLE:
        raise ValueError(f'{name} {value!r} cannot be caught')
    return int(number)


def watch(number: int, code: Callable[[], object]) -> int:
    """Call ``code()`` (from a greenlet of the hub) whenever signal ``number``
    arrives, after the callables added before it; returns an id for
    `unwatch`."""
    watched = _WATCHED.get(number)
    if watched is None:
        previous = signal.getsignal(number)
        # Python lets only the main thread set a disposition, and unwatch must
        # put this one back: refuse here rather than fail part-way there.
        signal.signal(number, signal.SIG_DFL if previous is None else previous)
        watched = _WATCHED[number] = _Watched(
            gevent.signal_handler(number, _deliver, number), previous)
    watcher_id = next(_ids)
    watched.codes[watcher_id] = code
    _SIGNAL_OF[watcher_id] = number
    return watcher_id


def unwatch(watcher_id: int) -> None:
    """Stop a watcher made by `watch` (an unknown or removed id is ignored);
    the last one of a signal restores the disposition found before the first."""
    number = _SIGNAL_OF.pop(watcher_id, None)
    if number is None:
        return
    watched = _WATCHED[number]
    del watched.codes[watcher_id]
    if watched.codes:
        return
    del _WATCHED[number]
    watched.handler.cancel()
    previous = watched.previous
    # None: installed from outside Python, which cannot be put back.
    signal.signal(number, signal.SIG_DFL if previous is None else previous)


def _deliver(number: int) -> None:
    watched = _WATCHED.get(number)
    if watched is None:
        return
    for watcher_id, code in list(watched.codes.items()):
        if watcher_id in watched.codes:     # (not removed by one before it)
            _callbacks.call(code)
