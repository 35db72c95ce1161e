"""Danga::Socket's timers: deadlines on the monotonic clock, due ones in order.

Not a public module. ``DangaSocket.add_timer(seconds, code)`` (Perl's
``AddTimer``) returns a `Timer`; the event loop takes the due timers at the start
of each iteration (`Timers.pop_due`) and bounds its wait by the next deadline
(`Timers.seconds_left`).

Design: ordering and cancelling
-------------------------------
Perl keeps ``@Timers`` sorted by a binary-search insert after any equal deadline,
so timers due together fire in the order they were added, and ``cancel`` splices
the timer out. Here a heap of ``(deadline, sequence, timer)`` gives the same order
(the sequence number breaks ties) in O(log n) per timer. Cancelling only marks the
timer, as asyncio and trio do, since finding it in the heap would cost O(n); an
idle timeout re-armed on every request would otherwise leave a dead entry per
request until its deadline, so the heap is rebuilt without them once they are
more than half of it (asyncio's ``_MIN_CANCELLED_TIMER_HANDLES_FRACTION``).

Deadlines use ``time.monotonic``: a wall-clock step (NTP, a VM resumed) neither
fires every timer at once nor holds them back. Perl passes ``Time::HiRes::time``
to the timer's code; the loop does the same with ``time.time()``.
"""

import heapq
import itertools
from collections.abc import Callable
from time import monotonic

__all__ = ['Timer', 'Timers']

#: Rebuild the heap when cancelled timers are more than this share of it ...
CANCELLED_SHARE = 0.5
#: ... and it holds at least this many (asyncio's ``_MIN_SCHEDULED_TIMER_HANDLES``):
#: compacting a small heap saves nothing.
COMPACT_MIN = 100


class Timer:
    """A timer made by ``DangaSocket.add_timer``; `cancel` stops it from firing."""

    __slots__ = ('_code', '_timers')

    def __init__(self, code: Callable[[float], object], timers: 'Timers | None') -> None:
        self._code: Callable[[float], object] | None = code
        self._timers = timers       # None once taken out of the heap

    def cancel(self) -> None:
        """Do not fire. Cancelling a timer that fired or was cancelled does nothing."""
        if self._code is None:
            return
        self._code = None
        if self._timers is not None:
            self._timers._cancelled_one()

    def _take_code(self) -> Callable[[float], object] | None:
        """The code of a due timer (``None`` if it was cancelled meanwhile); the
        timer counts as fired from then on."""
        code, self._code = self._code, None
        return code

    def __repr__(self) -> str:
        state = 'pending' if self._code is not None else 'done'
        return f'<danga Timer {state} {self._code!r}>'


#: One timer of the heap: ``(deadline, sequence, timer)``.
Entry = tuple[float, int, Timer]


class Timers:
    """The pending timers, soonest first; ``len()`` counts the live ones.
    ``on_cancel()`` is called after each cancel (the loop checks whether it
    has anything left to wait for)."""

    def __init__(self, on_cancel: Callable[[], object]) -> None:
        self._on_cancel = on_cancel
        self._heap: list[Entry] = []
        self._sequence = itertools.count()
        self._cancelled = 0

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def add(self, seconds: float, code: Callable[[float], object]) -> Timer:
        """A `Timer` calling ``code`` ``seconds`` from now (checked by the caller)."""
        timer = Timer(code, self)
        heapq.heappush(self._heap, (monotonic() + seconds, next(self._sequence), timer))
        return timer

    def pop_due(self) -> list['Entry']:
        """The entries ``(deadline, sequence, timer)`` due now, in deadline then
        insertion order, taken out of the heap. A timer taken here may still be
        cancelled by an earlier one's code: the caller asks each for its code
        (``_take_code``) just before calling it."""
        heap = self._heap
        now = monotonic()
        due: list[Entry] = []
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            timer = entry[2]
            timer._timers = None
            if timer._code is None:
                self._cancelled -= 1
            else:
                due.append(entry)
        return due

    def put_back(self, entries: list['Entry']) -> None:
        """Entries of `pop_due` whose code never ran (the round was
        interrupted): due again, in their order, unless cancelled meanwhile."""
        for entry in entries:
            timer = entry[2]
            if timer._code is not None:
                timer._timers = self
                heapq.heappush(self._heap, entry)

    def seconds_left(self) -> float | None:
        """Seconds until the next live deadline (0 if one is due), or ``None``."""
        heap = self._heap
        while heap and heap[0][2]._code is None:
            heapq.heappop(heap)[2]._timers = None
            self._cancelled -= 1
        if not heap:
            return None
        return max(0.0, heap[0][0] - monotonic())

    def clear(self) -> None:
        """Forget every timer (``DangaSocket.reset``)."""
        for _, _, timer in self._heap:
            timer._timers = None
        self._heap = []
        self._cancelled = 0

    def _cancelled_one(self) -> None:
        self._cancelled += 1
        if self._cancelled > COMPACT_MIN and \
                self._cancelled > CANCELLED_SHARE * len(self._heap):
            live = [entry for entry in self._heap if entry[2]._code is not None]
            for _, _, timer in self._heap:
                if timer._code is None:
                    timer._timers = None
            heapq.heapify(live)
            self._heap = live
            self._cancelled = 0
        self._on_cancel()
