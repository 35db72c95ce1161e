"""Loop: a set of notifiers running on the current thread's gevent hub.

The Python form of IO::Async::Loop (interface `ILoop`). It owns no event loop of
its own: every handle runs on the gevent hub, so a Loop is the registry of its
notifiers plus timers, signal watchers, deferred calls, ``run()``/``stop()``,
the graceful ``shutdown()`` and entry points for resolving, listening and
connecting.

Design: two clocks
------------------
A relative time (``after=``, and so every delay and timeout) is measured on the
monotonic clock, so that setting the system clock, or NTP stepping it, moves no
timer; an absolute ``at=`` is a wall-clock (``time.time()``) moment and follows
the wall clock wherever it jumps. asyncio keeps only the monotonic
``loop.time()`` and has no wall-clock timers; Twisted's ``callLater`` counts on
``time.time()`` (``twisted.python.runtime.seconds``), so stepping the clock
moves every timer; libev's own timers are monotonic, and its periodic watchers
(wall clock) are not exposed by gevent. So each clock has a heap of its own,
one libev timer is armed for the earliest deadline of either, and while an
``at=`` timer is pending the loop looks at the wall clock at least every
`WALL_CLOCK_RECHECK` seconds, so that a forward jump fires it that soon.
"""

import heapq
import itertools
import socket
import time
from collections.abc import Callable, Iterable
from ssl import SSLContext
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from zope.interface import implementer

from .. import _callbacks, addresses
from .._io import resolving
from .._params import check_seconds, not_none
from .._typing import AddressSpec, Continuation, FileLike
from ..interfaces import ILoop
from . import _signals
from .connector import Connector
from .handle import Handle
from .listener import Listener, listen_from_loop
from .notifier import Notifier
from .stream import Stream

__all__ = ['Loop']

#: Longest libev timer, in seconds, armed while an ``at=`` timer is pending: a
#: wall-clock jump forward past its moment fires it within this long. Checking
#: the clock once a second costs nothing measurable.
WALL_CLOCK_RECHECK = 1.0

#: One timer of a heap: ``(deadline, id, code)``.
_Timer = tuple[float, int, Callable[[], object]]

# Indexes of the two heaps in Loop._timers.
_RELATIVE, _ABSOLUTE = 0, 1


@implementer(ILoop)
class Loop:
    """See `ILoop`.

    Timers live in two heaps per loop (relative and absolute, see the module's
    design comment), each ordered by (deadline, creation number), so timers due
    together fire in the order they were made; libev alone does not promise
    that. One libev timer is armed for the earliest deadline, and due
    callbacks run on a greenlet of their own so that they may block.
    """

    def __init__(self) -> None:
        self._hub = gevent.get_hub()
        # A dict as an ordered set: removal is O(1) with thousands of streams.
        self._notifiers: dict[Notifier, None] = {}
        self._runs: list[AsyncResult[tuple[Any, ...]]] = []
        # heaps: _RELATIVE, _ABSOLUTE
        self._timers: tuple[list[_Timer], list[_Timer]] = ([], [])
        # Ids of the timers in the heaps not yet cancelled, and of those
        # cancelled but still in a heap (dropped when they come to its top).
        self._pending: set[int] = set()
        self._cancelled: set[int] = set()
        self._timer_ids = itertools.count(1)
        self._timer_watcher: Any = None
        self._dispatched: Event | None = None
        self._signal_ids: dict[int, None] = {}

    def __repr__(self) -> str:
        return f'<Loop notifiers={len(self._notifiers)} running={self.is_running}>'

    def __enter__(self) -> 'Loop':
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaving a ``with`` block closes the loop (`close`)."""
        self.close()

    # -- notifiers -------------------------------------------------------------

    @property
    def notifiers(self) -> tuple[Notifier, ...]:
        """See `ILoop.notifiers`."""
        return tuple(self._notifiers)

    def add(self, notifier: Notifier) -> None:
        """See `ILoop.add`."""
        if notifier.parent is not None:
            raise ValueError(f'{notifier!r} has a parent; add the parent instead')
        if notifier.loop is not None:
            raise ValueError(f'{notifier!r} is already in a loop')
        notifier._check_addable()
        self._notifiers[notifier] = None
        notifier._join_loop(self)

    def remove(self, notifier: Notifier) -> None:
        """See `ILoop.remove`."""
        if notifier not in self._notifiers:
            raise ValueError(f'{notifier!r} is not in this loop')
        del self._notifiers[notifier]
        notifier._leave_loop()

    def close(self) -> None:
        """See `ILoop.close`."""
        while self._notifiers:
            # Not a snapshot: a closing Listener hands its children to the loop.
            notifier = next(iter(self._notifiers))
            # At once: a stream still flushing would stay open after leaving
            # the loop, with nothing left to flush it.
            _callbacks.close_at_once(notifier)
            if notifier in self._notifiers:
                self.remove(notifier)
        if self._timer_watcher is not None:
            self._timer_watcher.close()
            self._timer_watcher = None
        for heap in self._timers:
            heap.clear()
        self._pending.clear()
        self._cancelled.clear()
        for signal_id in list(self._signal_ids):
            self.unwatch_signal(signal_id)

    def shutdown(self, timeout: float | None = None) -> int:
        """See `ILoop.shutdown`.

        It blocks the calling greenlet, so call it from outside this loop's
        callbacks (after ``run()`` returns, or from a signal watcher): a
        stream whose own greenlet is the one waiting here cannot flush.

        Raises:
            TypeError, ValueError: ``timeout`` is not a number of seconds >= 0.
        """
        timeout = check_seconds(timeout, 'timeout', zero=True)
        for notifier in self._tree():
            if isinstance(notifier, Listener):
                notifier.close()        # (its accepted children join the loop)
        streams = [notifier for notifier in self._tree()
                   if isinstance(notifier, Stream) and not notifier.is_closed]
        closed = [stream.new_close_future() for stream in streams]
        for stream in streams:
            stream.close_when_empty()
        gevent.wait(closed, timeout=timeout)
        left = [stream for stream in streams if not stream.is_closed]
        for stream in left:
            stream.close_now()
        self.close()
        return len(left)

    def _tree(self) -> list[Notifier]:
        """Every notifier in this loop, children included."""
        found: list[Notifier] = []
        pending = list(self._notifiers)
        while pending:
            notifier = pending.pop()
            found.append(notifier)
            pending.extend(notifier.children)
        return found

    # -- running ---------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """See `ILoop.is_running`."""
        return bool(self._runs)

    def run(self) -> Any:
        """See `ILoop.run`."""
        done: AsyncResult[tuple[Any, ...]] = AsyncResult()
        self._runs.append(done)
        try:
            result = done.get()
        finally:
            self._runs.remove(done)
        if not result:
            return None
        return result[0] if len(result) == 1 else result

    def stop(self, *result: Any) -> None:
        """See `ILoop.stop`. Without a running run() this does nothing."""
        if self._runs:
            self._runs[-1].set(result)

    def loop_once(self, timeout: float | None = None) -> None:
        """See `ILoop.loop_once`."""
        if self._dispatched is None:
            self._dispatched = Event()
        dispatched = self._dispatched
        dispatched.clear()
        dispatched.wait(timeout)

    def _note_dispatch(self) -> None:
        """Called after an event of this loop was dispatched (wakes loop_once)."""
        if self._dispatched is not None:
            self._dispatched.set()

    # -- deferred calls and timers ---------------------------------------------

    def later(self, code: Callable[..., object], *args: Any) -> None:
        """See `ILoop.later`."""
        gevent.spawn(self._call, code, *args)

    def _call(self, code: Callable[..., object], *args: Any) -> None:
        _callbacks.call(code, *args)
        self._note_dispatch()

    def watch_time(self, code: Callable[[], object], after: float | None = None,
                   at: float | None = None) -> int:
        """See `ILoop.watch_time`.

        Raises:
            TypeError: if neither or both of ``after`` and ``at`` are given.
        """
        clock, deadline = _deadline(after, at)
        timer_id = next(self._timer_ids)
        heapq.heappush(self._timers[clock], (deadline, timer_id, code))
        self._pending.add(timer_id)
        self._arm_timer()
        return timer_id

    def unwatch_time(self, timer_id: int) -> None:
        """See `ILoop.unwatch_time`."""
        if timer_id in self._pending:
            self._pending.discard(timer_id)
            self._cancelled.add(timer_id)

    def _arm_timer(self) -> None:
        if self._timer_watcher is not None:
            self._timer_watcher.close()
            self._timer_watcher = None
        delays = []
        for heap, now in zip(self._timers, _clocks(), strict=True):
            while heap and heap[0][1] in self._cancelled:
                self._cancelled.discard(heapq.heappop(heap)[1])
            if heap:
                delays.append(heap[0][0] - now)
        if not delays:
            return
        if self._timers[_ABSOLUTE]:
            delays.append(WALL_CLOCK_RECHECK)
        self._timer_watcher = self._hub.loop.timer(max(0.0, min(delays)))
        self._timer_watcher.start(self._fire_timers)

    def _fire_timers(self) -> None:
        monotonic_now, wall_now = clocks = _clocks()
        due: list[_Timer] = []
        for clock, (heap, now) in enumerate(zip(self._timers, clocks, strict=True)):
            # Absolute deadlines are put on the monotonic scale, so that timers
            # of both clocks due together fire in deadline order.
            shift = monotonic_now - wall_now if clock == _ABSOLUTE else 0.0
            while heap and heap[0][0] <= now:
                deadline, timer_id, code = heapq.heappop(heap)
                if timer_id in self._cancelled:
                    self._cancelled.discard(timer_id)
                else:
                    self._pending.discard(timer_id)
                    due.append((deadline + shift, timer_id, code))
        self._arm_timer()
        if due:
            due.sort(key=lambda entry: entry[:2])
            gevent.spawn(self._call_all, [code for _, _, code in due])

    def _call_all(self, codes: list[Callable[[], object]]) -> None:
        for code in codes:
            self._call(code)

    def delay_future(self, after: float | None = None,
                     at: float | None = None) -> 'AsyncResult[None]':
        """See `ILoop.delay_future`."""
        future: AsyncResult[None] = AsyncResult()
        self.watch_time(lambda: future.set(None), after=after, at=at)
        return future

    def timeout_future(self, after: float | None = None,
                       at: float | None = None) -> 'AsyncResult[None]':
        """See `ILoop.timeout_future`."""
        future: AsyncResult[None] = AsyncResult()
        self.watch_time(lambda: future.set_exception(gevent.Timeout()),
                        after=after, at=at)
        return future

    # -- signals ---------------------------------------------------------------

    def watch_signal(self, signal: int | str, code: Callable[[], object]) -> int:
        """See `ILoop.watch_signal`.

        Raises:
            TypeError, ValueError: ``signal`` is no signal that can be caught,
                or ``code`` is not callable.
            ValueError: called from a thread other than the main thread
                (Python handles signals there only).
        """
        number = _signals.signal_number(signal)
        if not callable(code):
            raise TypeError(f'code must be callable, not {code!r}')
        signal_id = _signals.watch(number, lambda: self._call(code))
        self._signal_ids[signal_id] = None
        return signal_id

    def unwatch_signal(self, signal_id: int) -> None:
        """See `ILoop.unwatch_signal`."""
        if signal_id in self._signal_ids:
            del self._signal_ids[signal_id]
            _signals.unwatch(signal_id)

    # -- names, listening and connecting ---------------------------------------

    def resolve(self, host: str | None, service: int | str | None,
                family: int | str = 0, socktype: int | str = 0, protocol: int = 0,
                flags: int = 0, timeout: float = resolving.RESOLVE_TIMEOUT
                ) -> 'AsyncResult[list[tuple[int, int, int, str, Any]]]':
        """See `ILoop.resolve`."""
        family = addresses.parse_family(family, 'family')
        socktype = addresses.parse_socktype(socktype, 'socktype')
        future: AsyncResult[list[tuple[int, int, int, str, Any]]] = AsyncResult()
        gevent.spawn(_settle, future, resolving.getaddrinfo, host, service, family,
                     socktype, protocol, flags, timeout)
        return future

    def listen(self, *,
               addr: AddressSpec | None = None,
               addrs: Iterable[AddressSpec] | None = None,
               host: str | None = None,
               service: int | str | None = None,
               handle: FileLike | None = None,
               family: int | str | None = None,
               socktype: int | str | None = None,
               protocol: int | None = None,
               flags: int | None = None,
               queuesize: int = socket.SOMAXCONN,
               reuseaddr: bool = True,
               reuseport: bool = False,
               v6only: bool | None = None,
               ssl: SSLContext | bool | None = None,
               on_listen: Continuation | None = None,
               on_listen_error: Continuation | None = None,
               on_fail: Continuation | None = None,
               on_resolve_error: Continuation | None = None,
               on_accept: Continuation | None = None,
               on_stream: Continuation | None = None,
               on_socket: Continuation | None = None,
               on_accept_error: Continuation | None = None,
               handle_class: type[Handle] | None = None,
               handle_constructor: Continuation | None = None) -> 'AsyncResult[Listener]':
        """See `ILoop.listen`: a new Listener, added to this loop, listening.

        The keywords are `Listener.listen`'s, plus the Listener's own
        (``on_accept``/``on_stream``/``on_socket``, ``on_accept_error``,
        ``handle_class``, ``handle_constructor``), whose callbacks get no
        listener argument here (docs/api.md section 6).
        """
        params = not_none(addr=addr, addrs=addrs, host=host, service=service, handle=handle,
                          family=family, socktype=socktype, protocol=protocol, flags=flags,
                          queuesize=queuesize, reuseaddr=reuseaddr, reuseport=reuseport,
                          v6only=v6only, ssl=ssl, on_listen=on_listen,
                          on_listen_error=on_listen_error, on_fail=on_fail,
                          on_resolve_error=on_resolve_error, on_accept=on_accept,
                          on_stream=on_stream, on_socket=on_socket,
                          on_accept_error=on_accept_error, handle_class=handle_class,
                          handle_constructor=handle_constructor)
        return listen_from_loop(self, params)

    def connect(self, *,
                host: str | None = None,
                service: int | str | None = None,
                addr: AddressSpec | None = None,
                addrs: Iterable[AddressSpec] | None = None,
                peer: FileLike | None = None,
                local_host: str | None = None,
                local_service: int | str | None = None,
                local_addr: AddressSpec | None = None,
                local_addrs: Iterable[AddressSpec] | None = None,
                family: int | str | None = None,
                socktype: int | str | None = None,
                protocol: int | None = None,
                flags: int | None = None,
                handle: Handle | None = None,
                on_connected: Continuation | None = None,
                on_stream: Continuation | None = None,
                on_socket: Continuation | None = None,
                on_connect_error: Continuation | None = None,
                on_resolve_error: Continuation | None = None,
                on_fail: Continuation | None = None,
                timeout: float | None = None,
                happy_eyeballs_delay: float | None = None,
                ssl: SSLContext | bool | None = None,
                server_hostname: str | None = None) -> 'AsyncResult[Any]':
        """See `ILoop.connect` (the keywords are `Connector.connect`'s)."""
        params = not_none(host=host, service=service, addr=addr, addrs=addrs, peer=peer,
                          local_host=local_host, local_service=local_service,
                          local_addr=local_addr, local_addrs=local_addrs, family=family,
                          socktype=socktype, protocol=protocol, flags=flags, handle=handle,
                          on_connected=on_connected, on_stream=on_stream, on_socket=on_socket,
                          on_connect_error=on_connect_error, on_resolve_error=on_resolve_error,
                          on_fail=on_fail, timeout=timeout,
                          happy_eyeballs_delay=happy_eyeballs_delay, ssl=ssl,
                          server_hostname=server_hostname)
        return Connector(loop=self)._start(params)


def _clocks() -> tuple[float, float]:
    """The current time on each clock, in the order of Loop._timers."""
    return time.monotonic(), time.time()


def _deadline(after: float | None, at: float | None) -> tuple[int, float]:
    """``(clock, deadline)``: relative ``after`` on the monotonic clock, or
    absolute ``at`` on the wall clock (so that timers given the same ``at``
    compare equal and fire in creation order)."""
    if (after is None) == (at is None):
        raise TypeError('give exactly one of after= and at=')
    if after is not None:
        return _RELATIVE, time.monotonic() + _seconds(after, 'after')
    return _ABSOLUTE, _seconds(at, 'at')


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number of seconds, not {value!r}')
    return float(value)


def _settle(future: 'AsyncResult[Any]', function: Callable[..., Any], *args: Any) -> None:
    """Resolve ``future`` with ``function(*args)``, or fail it with what it raised."""
    try:
        future.set(function(*args))
    except Exception as err:
        future.set_exception(err)
