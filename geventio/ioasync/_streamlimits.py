"""Stream's limits: how much one peer can make a stream hold, and for how long.

Not a public module. `_StreamLimits` is the mixin `geventio.Stream` takes its
bounds from: ``max_read_buffer`` and ``max_write_queue``, the write-queue
watermarks and their events, ``write_queued``, and ``idle_timeout`` with
``on_idle_timeout`` (docs/stream.md, "Limits and timeouts"). The reading and
writing halves call in at the points where bytes move; the policy is here.

Design: safe by default
-----------------------
A peer decides how fast it sends, whether it reads what it is sent, and when it
goes quiet. Left alone, each decision turns into memory or a descriptor held
for ever: an ``on_read`` that waits for a delimiter that never comes buffers
whatever arrives; a peer that stops reading leaves every reply in the write
queue; a peer that sends nothing keeps its connection open until the process
ends (docs/reliability.md lists the attacks and what they cost before this).

What others do: asyncio's ``StreamReader`` refuses more than ``limit`` (64 KiB,
``streams._DEFAULT_LIMIT``) in one ``readuntil``; its transports tell the
protocol ``pause_writing()`` above a high-water mark (64 KiB,
``transports._FlowControlMixin``) but keep queueing whatever is written; there
is no idle timeout (left to ``wait_for``). Twisted's ``LineReceiver`` drops a
line longer than ``MAX_LENGTH`` (16 KiB, ``protocols/basic.py``), producers and
consumers carry write flow control, and ``TimeoutMixin``
(``protocols/policies.py``) is an idle timeout a protocol opts into. trio
buffers nothing it is not asked for. nginx defaults ``client_body_timeout`` and
``send_timeout`` to 60 s.

What we chose:
- Hard limits on by default, high enough that no protocol meets them by
  accident (`DEFAULT_MAX_BUFFER`): past ``max_read_buffer`` reading stops with
  ``ENOBUFS`` through ``on_read_error``; a write that would take the queue past
  ``max_write_queue`` is refused with ``ENOBUFS`` through its future and
  ``on_write_error``. Without a handler the stream closes at once (``close_now``),
  IO::Async's rule for an error nobody handles. With one, the stream stays
  usable: reading resumes once the buffer is consumed below the limit, and the
  refused write is simply not queued. A written future counts from the moment
  it resolves (in the hub, so its events fire on a greenlet of their own),
  not when the queue reaches it: otherwise replies written as futures behind a
  peer that reads nothing would be held uncounted.
- Write watermarks only tell (``on_write_high_watermark``/``_low_``); pausing
  the source is the application's choice, as with asyncio's ``pause_writing``.
- ``idle_timeout`` is off by default, since what "too quiet" means is the
  protocol's to say; without a handler an idle stream closes at once. Any byte
  moved either way re-arms it. One libev timer per stream is armed for the
  whole period and, when it fires, re-armed for what is left since the last
  byte moved: a stream that keeps moving bytes restarts no timer per read. A
  stream without ``idle_timeout`` notes no activity at all: its reads take the
  plain read path and its sends go through the plain send function. While
  ``on_idle_timeout`` is still running (blocked, say, flushing a goodbye to a
  peer that reads nothing), further idle periods call it no more: each call
  would be one more greenlet blocked for as long.
"""

import errno
from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any, ClassVar

from .._params import check_positive, check_seconds
from ._streambase import DEFAULT_MAX_BUFFER, StreamBase

__all__: list[str] = []    # private: Stream is the public face


def _check_bound(value: Any, name: str) -> int | None:
    """A limit: a positive int, or ``None`` for none."""
    return None if value is None else check_positive(value, name)


def check_watermarks(high: Any, low: Any, side: str) -> None:
    """Raise unless ``high``/``low`` are both ``None`` or ``0 <= low <= high``,
    ``high > 0``; ``side`` is ``'read'`` or ``'write'`` (for the names)."""
    high_name, low_name = f'{side}_high_watermark', f'{side}_low_watermark'
    if (high is None) != (low is None):
        raise ValueError(f'give both {high_name} and {low_name}, or neither')
    if high is None:
        return
    check_positive(high, high_name)
    check_positive(low, low_name, zero=True)
    if low > high:
        raise ValueError(f'{low_name} ({low!r}) must not exceed {high_name} ({high!r})')


class _StreamLimits(StreamBase):
    """Stream's bounds and idle timeout (a mixin: the state lives in Stream's slots)."""

    __slots__ = ()

    _LIMIT_EVENTS: ClassVar[frozenset[str]] = frozenset({
        'on_idle_timeout', 'on_write_high_watermark', 'on_write_low_watermark'})

    #: Plain parameters, merged into Stream's ``_PARAMS``.
    _LIMIT_PARAMS: ClassVar[dict[str, tuple[Any, Callable[[Any, str], Any]]]] = {
        'max_read_buffer': (DEFAULT_MAX_BUFFER, _check_bound),
        'max_write_queue': (DEFAULT_MAX_BUFFER, _check_bound),
        'idle_timeout': (None, check_seconds)}

    #: The slots of this state, which Stream declares (besides ``_PARAMS``'s).
    _LIMIT_STATE = ('_read_full', '_write_high', '_write_low', '_write_at_high',
                    '_idle_timer', '_last_io', '_idle_running')

    def _init_limits(self) -> None:
        self._read_full = False
        self._write_high = self._write_low = None
        self._write_at_high = False
        self._idle_timer = None
        self._last_io = 0.0
        self._idle_running = False      # on_idle_timeout has not returned yet

    # -- configuration ---------------------------------------------------------

    def _pop_limits(self, params: dict[str, Any]) -> tuple[Any, Any] | None:
        """Pop and check the write watermarks (the other limits are plain
        parameters); returns ``(high, low)`` to apply, or ``None``."""
        if 'write_high_watermark' not in params and 'write_low_watermark' not in params:
            return None
        high = params.pop('write_high_watermark', self._write_high)
        low = params.pop('write_low_watermark', self._write_low)
        check_watermarks(high, low, 'write')
        return high, low

    def _apply_limits(self, watermarks: tuple[Any, Any] | None, params: Iterable[str],
                      idle_before: float | None) -> None:
        """Apply what ``configure`` changed (``params`` are the keys it was given)."""
        if watermarks is not None:
            self._write_high, self._write_low = watermarks
            if self._write_high is None:
                self._write_at_high = False
        limit = self._max_read_buffer
        if self._read_full and (limit is None or len(self._buffer) < limit):
            self._read_room()
        if 'idle_timeout' in params:
            self._set_sender()
            if self._glet is not None:
                self._rearm_idle(idle_before)

    # -- the read buffer -------------------------------------------------------

    def _read_overrun(self) -> None:
        """The handlers left more than ``max_read_buffer`` unconsumed."""
        self._read_full = True
        self._read_failed(OSError(
            errno.ENOBUFS, f'the read buffer holds {len(self._buffer)} units, '
                           f'over max_read_buffer={self._max_read_buffer}'))

    def _read_room(self) -> None:
        """Consumed below ``max_read_buffer`` after an overrun: read again,
        unless the read high watermark holds reading paused (its default
        action; a handler of ``on_read_high_watermark`` takes that over)."""
        self._read_full = False
        held = self._at_high and not self.can_event('on_read_high_watermark')
        if self._rfd is not None and not self._read_eof and not held \
                and not self._closed:
            self.want_readready = True

    # -- the write queue -------------------------------------------------------

    @property
    def write_queued(self) -> int:
        """See `IStream.write_queued`."""
        return self._queued

    def _refuse_write(self, piece: Any, size: int) -> None:
        """Fail a write of ``size`` bytes that would take the queue past
        ``max_write_queue`` (its future fails)."""
        err = OSError(errno.ENOBUFS, f'a write of {size} bytes would queue '
                                     f'{self._queued + size}, over max_write_queue='
                                     f'{self._max_write_queue}')
        try:
            piece.failed(err)
            if not self._fire('on_write_error', err):
                self.close_now()
        except Exception:
            self._callback_failed('on_write_error')

    def _refuse_resolved(self, piece: Any, size: int) -> bool:
        """A future written earlier resolved with ``size`` bytes (in the hub):
        returns whether they are refused, past ``max_write_queue`` exactly as a
        ``write()`` of them would be; else they join the queued bytes.
        Otherwise replies written as futures behind a peer that reads nothing
        would pile up uncounted. The events fire on a greenlet of their own:
        the hub runs no user code."""
        limit = self._max_write_queue
        if limit is not None and self._queued + size > limit:
            self._run_elsewhere(self._refuse_write, piece, size)
            return True
        self._queued += size
        high = self._write_high
        if high is not None and self._queued >= high and not self._write_at_high:
            self._run_elsewhere(self._still_at_high)
        return False

    def _still_at_high(self) -> None:
        """Tell the high watermark that a future's value raised the queue to,
        unless the queue drained meanwhile (so the low one never comes first)."""
        high = self._write_high
        if high is not None and self._queued >= high and not self._write_at_high:
            self._write_reached_high(self._queued)

    def _write_reached_high(self, queued: int) -> None:
        self._write_at_high = True
        self._tell('on_write_high_watermark', queued)

    def _write_drained(self) -> None:
        """After a flush: tell the low watermark once the queue is down to it."""
        if self._queued <= self._write_low:  # type: ignore[operator]  # (set while at high)
            self._write_at_high = False
            self._tell('on_write_low_watermark', self._queued)

    def _tell(self, name: str, *args: Any) -> None:
        """Fire event ``name`` from ``write()``, which any greenlet may call (a
        proxy writes to one stream from another's callback): what the handler
        raises closes this stream, not the caller's."""
        try:
            self._fire(name, *args)
        except Exception:
            self._callback_failed(name)

    # -- the idle timeout --------------------------------------------------------

    def _start_watching(self) -> None:
        super()._start_watching()
        if self._idle_timeout is not None and self._glet is not None:
            self._last_io = monotonic()
            self._arm_idle(self._idle_timeout)

    def _stop_watching(self) -> None:
        self._stop_idle()
        super()._stop_watching()

    def _rearm_idle(self, before: float | None) -> None:
        """``idle_timeout`` changed from ``before`` while watching: a new
        timeout counts from the last byte moved, a first one from now."""
        self._stop_idle()
        if self._idle_timeout is None:
            return
        if before is None:
            self._last_io = monotonic()
        self._arm_idle(max(0.0, self._last_io + self._idle_timeout - monotonic()))

    def _arm_idle(self, delay: float) -> None:
        self._idle_timer = self._hub.loop.timer(delay)
        self._idle_timer.start(self._idle_due)

    def _stop_idle(self) -> None:
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.close()

    def _timed_send(self, send: Callable[..., int]) -> Callable[..., int]:
        """``send`` (or a gather function) noting the time of each call, with an
        ``idle_timeout``; ``send`` itself without one."""
        if self._idle_timeout is None:
            return send

        def send_noting_time(data: Any) -> int:
            count = send(data)
            self._last_io = monotonic()
            return count
        return send_noting_time

    def _idle_due(self) -> None:
        # Runs in the hub, at most once per idle period.
        self._stop_idle()
        # (The timer runs only while idle_timeout is set.)
        timeout: float = self._idle_timeout  # type: ignore[assignment]
        left = self._last_io + timeout - monotonic()
        if left > 0:
            self._arm_idle(left)
            return
        # Idle: the next period starts now, so a handler that keeps the
        # stream open hears again after another full period of silence.
        self._last_io = monotonic()
        self._arm_idle(timeout)
        if self._idle_running:
            return
        if self._parked:
            self._glet.switch(self._idle_expired)
        else:
            self._run_elsewhere(self._idle_expired)

    def _idle_expired(self) -> None:
        self._idle_running = True
        try:
            if not self._fire('on_idle_timeout'):
                self.close_now()
        finally:
            self._idle_running = False
