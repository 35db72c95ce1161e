"""The write half of DangaSocket: ``write()``, its queue's pieces, flushing, and
who turns write-watching on and off.

Not a public module. Danga::Socket's writing rules (docs/danga.md, "Writing")
over the byte layer's write queue (``_io.writequeue``), so that no second send
loop exists: `_Piece` is a write of bytes with no per-write events (Danga has
none), and `_Call` a queued callable, which the queue treats as a source that
never has data, so it stops in front of it. `Writer` is the mixin DangaSocket
takes its writing methods from; the state lives in DangaSocket's slots.

Design: who watches for writability
-----------------------------------
Perl's ``write`` turns write-watching on when the kernel does not take
everything, and off again once the queue drains, but only if it was off before
(``write_set_watch``): a subclass that watches writes itself keeps its
``event_write`` calls. Here ``watch_write()`` hands the flag to the caller
outright: from then on ``write()`` leaves write-watching alone, so a user who
turned it on is never turned off behind their back (Perl would, if its own
watch had come first).
"""

import errno
import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._io.writequeue import BLOCKED, DRAINED, NOT_YET, Piece, SendError, WriteQueue
from .._params import check_flag
from ._readiness import WRITE, Watched

__all__ = ['Writer']

#: The most one system call may carry. Perl hands the whole buffer to one
#: ``syswrite`` and the kernel takes what fits; bounding the call only bounds how
#: many small queued writes are joined into one (the socket buffer is a few MiB
#: at most, so a larger call would not take more).
WRITE_LIMIT = 1 << 20

#: ``close()`` reasons of a failed write, as Perl's (any other errno: "write_error").
_WRITE_ERRORS = {errno.EPIPE: 'EPIPE', errno.ECONNRESET: 'ECONNRESET'}


class _Piece(Piece):
    """A queued write of bytes (a bytes-like the caller may change later is copied
    before it stays queued: see `Writer._flush`)."""

    __slots__ = ('data', 'offset')
    limit = WRITE_LIMIT
    source: Any = None

    def __init__(self, data: Any) -> None:
        self.data = data
        self.offset = 0

    def sent(self, count: int) -> None:
        """Nothing to report: Danga::Socket has no per-write events."""


class _Call(_Piece):
    """A queued callable. Its ``pull()`` never has data, so the queue stops in
    front of it (WAITING) once everything before it is in the kernel, and
    `Writer._flush` takes it off and calls it outside the queue's loop,
    where it may write, flush or close at will."""

    __slots__ = ('source',)

    def __init__(self, code: Callable[[], object]) -> None:
        self.data = None
        self.offset = 0
        self.source = code

    def pull(self) -> Any:
        return NOT_YET


class Writer(Watched):
    """DangaSocket's writing methods and their state."""

    __slots__ = ('_queue', '_send', '_write_set_watch')

    if TYPE_CHECKING:
        def close(self, reason: str | None = None) -> None: ...

    def _init_writer(self, fd: int) -> None:
        self._queue = WriteQueue()
        self._send: Callable[[Any], int] = functools.partial(os.write, fd)
        self._write_set_watch = False   # write-watching is on because write() set it

    def on_incomplete_write(self) -> None:
        """Public hook: ``write()`` left data queued. Turns write-watching on,
        owned by the library (``write()`` turns it off once the queue drains),
        unless it was on already."""
        if not self._watch & WRITE:
            self._write_set_watch = True
            self._set_watch(self._watch | WRITE)

    def write(self, data: Any) -> bool:
        """See `IDangaSocket.write`. Data given while something is queued is only
        queued (Perl's rule); the kernel is asked when the queue was empty, on
        ``write(None)`` and on write-readiness.

        Raises:
            TypeError: ``data`` of another kind (``str`` included). What the
                send raises is not raised: EPIPE, ECONNRESET or any other error
                closes the object (reason "EPIPE", "ECONNRESET", "write_error")
                and False is returned.
        """
        if self._closed:
            return True
        queue = self._queue
        if type(data) is bytes:
            piece = _Piece(data)
        elif data is None:
            return self._flush() if queue else True
        elif isinstance(data, (bytearray, memoryview)):
            if type(data) is memoryview:
                if not data.contiguous:
                    raise TypeError(f'data must be a contiguous memoryview, not {data!r}')
                data = data.cast('B')           # len() in bytes
            piece = _Piece(bytes(data) if queue else data)
        elif callable(data):
            if not queue:
                data()
                return not self._queue
            queue.append(_Call(data))
            return False
        else:
            raise TypeError(f'data must be bytes, a memoryview, a callable or None, '
                            f'not {data!r}')
        if queue:
            queue.append(piece)
            return False
        queue.append(piece)
        return self._flush()

    def _flush(self) -> bool:
        """Send from the head of the queue until it drains or the kernel is full."""
        queue = self._queue
        while True:
            try:
                state = queue.flush(self._send)
            except SendError as failed:
                self.close(_WRITE_ERRORS.get(failed.error.errno or 0, 'write_error'))
                return False
            if state is DRAINED:
                if self._write_set_watch:
                    self._write_set_watch = False
                    self._set_watch(self._watch & ~WRITE)
                return True
            if state is BLOCKED:
                head = queue[0]
                if type(head.data) is not bytes:
                    # The caller's bytearray may change once write() returns.
                    head.data = bytes(memoryview(head.data)[head.offset:])
                    head.offset = 0
                self.on_incomplete_write()
                return False
            queue.popleft().source()    # WAITING: a callable (see _Call)
            if self._closed:
                return True

    def set_writer_func(self, fn: Callable[[Any], int] | None) -> None:
        """See `IDangaSocket.set_writer_func`.

        Raises:
            TypeError: ``fn`` is neither callable nor None.
        """
        if fn is None:
            fn = functools.partial(os.write, self._fd)
        elif not callable(fn):
            raise TypeError(f'fn must be callable or None, not {fn!r}')
        self._send = fn

    def watch_write(self, on: bool) -> None:
        """See `IDangaSocket.watch_write`; nothing once closed. From now on the
        caller owns write-watching: ``write()`` no longer turns it off."""
        on = check_flag(on, 'on')
        if not self._closed:
            self._write_set_watch = False
            self._set_watch(self._watch | WRITE if on else self._watch & ~WRITE)
