"""The write half of Stream: write(), its pieces and futures, flushing and half-closing.

Not a public module. IO::Async::Stream's writing rules (docs/api.md section 4,
"Writing") over the byte layer's write queue (``_io.writequeue``): `_StreamPiece`
gives each queued write its callbacks and its future, and `_StreamWriter` is the
mixin that `geventio.Stream` takes its writing methods from, so that the reading
and the writing half each fit in a module of their own. The write state
(``_STATE``) is changed only here; the reading half asks through the methods
under "what the rest of Stream calls".

Design: when bytes move
-----------------------
A write made on the stream's own greenlet (inside a callback) is queued and
sent right after the callback returns, before the greenlet parks; one made
elsewhere starts the write watcher, and ``autoflush`` sends at once in the
caller. The kernel is asked to wait only when a send would block; a flush that
spent its one call per wake-up with more queued goes on next loop round (see
`_StreamWriter._next_round`).
"""

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from greenlet import getcurrent
from gevent.event import AsyncResult

from .._io.writequeue import (BLOCKED, DRAINED, MORE, NOT_YET, WAITING, Piece,
                              SendError, WriteQueue)
from .._params import check_callables, check_positive
from .._typing import EventHandler
from ..errors import StreamClosedError
from ._streambase import StreamBase
from .handle import _WRITE

__all__: list[str] = []    # private: Stream is the public face

#: Marks a future source whose value has been taken.
_SPENT: Any = object()

#: Marks a future source whose value was refused (past ``max_write_queue``):
#: nothing of it is sent, and its piece has failed or is about to.
_REFUSED = object()


if TYPE_CHECKING:
    _AsyncResult = AsyncResult[Any]
else:
    _AsyncResult = AsyncResult     # (not subscriptable at run time)


class _StreamFuture(_AsyncResult):
    """The future of a write or a future reader.

    Waited on from its own stream's greenlet (a callback blocking on
    ``stream.write(x).get()`` or ``stream.read_exactly(n).get()``), it first lets
    the stream send what is queued and serve its readers: the greenlet that would
    otherwise do so after the callback returns is the one about to block.
    """

    __slots__ = ('_stream',)

    _stream: StreamBase

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if block and not self.ready():
            self._stream._serve_blocked()
        return super().get(block, timeout)

    def wait(self, timeout: float | None = None) -> Any:
        if not self.ready():
            self._stream._serve_blocked()
        return super().wait(timeout)


def _future(stream: StreamBase) -> _StreamFuture:
    """A new `_StreamFuture` of ``stream`` (no ``__init__``: as cheap as an
    AsyncResult)."""
    future = _StreamFuture()
    future._stream = stream
    return future


def _piece(stream: StreamBase, data: bytes | None, limit: int, source: Any,
           on_write: EventHandler | None, on_flush: EventHandler | None,
           on_error: EventHandler | None) -> '_StreamPiece':
    """A new `_StreamPiece`. Like `_future`, it has no Python ``__init__``: the
    AsyncResult's own runs in C (one write made in 0.32 µs instead of 0.40,
    of the 9 µs a ping-pong message costs the server, docs/performance.md)."""
    piece = _StreamPiece()
    piece._stream, piece.data, piece.offset, piece.limit = stream, data, 0, limit
    piece.source, piece.on_write, piece.on_flush, piece.on_error = \
        source, on_write, on_flush, on_error
    return piece


class _StreamPiece(_StreamFuture, Piece):
    """A write of a Stream, and the future ``write()`` returns for it: one
    object per write instead of two (this runs once per message). Made by
    `_piece`."""

    __slots__ = ('data', 'offset', 'limit', 'source', 'on_write', 'on_flush',
                 'on_error')

    on_write: EventHandler | None
    on_flush: EventHandler | None
    on_error: EventHandler | None

    def pull(self) -> Any:
        source, stream = self.source, self._stream
        if source is _SPENT or source is _REFUSED:
            return None
        if isinstance(source, AsyncResult):
            # Tested first: an AsyncResult is callable too (as a link callback).
            if not source.ready():
                source.rawlink(stream._source_ready)
                return NOT_YET
            self.source = _SPENT
            data = stream._encode(source.get(), 'a write future')
        else:
            data = stream._encode(source(stream), 'a write generator')
        if data is not None:
            stream._queued += len(data)
        return data

    def resolved(self, source: 'AsyncResult[Any]') -> None:
        """The future this piece writes resolved (called from the hub): from
        now on its value is queued data, counted and bounded as such (see
        ``_streamlimits``), even while the pieces ahead of it wait."""
        if self.source is not source or self.ready() or not source.successful():
            return          # taken or failed already, or pull() reports the failure
        stream = self._stream
        try:
            data = stream._encode(source.value, 'a write future')
        except TypeError:
            return          # pull() raises it, where the stream's callbacks run
        if data is None:
            return
        if stream._refuse_resolved(self, len(data)):
            self.source = _REFUSED
        else:
            self.source, self.data, self.offset = _SPENT, data, 0

    def written(self, count: int) -> None:
        self._stream._queued -= count
        if self.on_write is not None:
            self.on_write(self._stream, count)

    def flushed(self) -> None:
        if self.source is _REFUSED:
            return                  # it failed instead (see `resolved`)
        self.data = None            # a future kept by the caller keeps no data
        self.set(None)
        if self.on_flush is not None:
            self.on_flush(self._stream)

    def sent(self, count: int) -> None:
        self._stream._queued -= count
        if self.on_write is not None:
            self.on_write(self._stream, count)
        self.data = None
        self.set(None)
        if self.on_flush is not None:
            self.on_flush(self._stream)

    def failed(self, err: BaseException) -> None:
        if self.ready():
            return                  # a refused future piece fails once
        self.data = None
        self.set_exception(err)
        if self.on_error is not None:
            self.on_error(self._stream, err)


class _StreamWriter(StreamBase):
    """Stream's writing methods (a mixin: the state lives in Stream's slots)."""

    __slots__ = ()

    #: The slots of the write state, which Stream declares.
    _STATE: ClassVar[tuple[str, ...]] = (
        '_send', '_gather', '_queue', '_queued', '_write_state', '_round',
        '_writeable_stopped', '_flushing', '_eof_wanted', '_write_eof')

    # -- what the rest of Stream calls -----------------------------------------

    def _init_writer(self) -> None:
        self._send = self._gather = None
        self._queue = WriteQueue()
        self._queued = 0            # bytes in the queue (write_queued)
        self._round = None
        self._writeable_stopped = False
        self._flushing = False
        self._write_state = DRAINED
        self._eof_wanted = self._write_eof = False

    def _reset_writer(self) -> None:
        """The handles changed: send through the new write handle."""
        self._set_sender()
        self._write_state = DRAINED
        self._eof_wanted = self._write_eof = False

    def _flush_before_park(self) -> bool:
        """Send what callbacks wrote before the greenlet parks; returns ``False``
        when the watchers certainly need no change (Handle._before_park)."""
        state = self._write_state
        if self._queue and state is DRAINED:
            self._flush(from_readiness=True)
            # The echo's steady state: everything sent, reading on, nothing
            # to change in the watchers.
            rwatch, wwatch = self._rwatch, self._wwatch
            return not (rwatch is not None and rwatch.active and
                        not self._queue and not self._want_write and
                        (wwatch is None or not wwatch.active))
        if state is MORE:
            # Its round may have come while this greenlet was busy.
            self._next_round()
        return True

    def _flush_queued(self) -> None:
        """Send what is queued now, if nothing else is under way (a callback is
        about to block on a future of this stream)."""
        if self._queue and self._write_state is DRAINED:
            self._flush(from_readiness=True)

    def _fail_writes(self, why: Callable[[], str]) -> None:
        """Fail every queued piece with a `StreamClosedError` saying ``why`` (a
        callable returning the message: a stream that closes with nothing
        queued, the common case, makes no error and no repr)."""
        if self._queue:
            self._queued = 0
            self._queue.fail_all(StreamClosedError(why()))

    def _writer_closed(self) -> None:
        """The stream closed: fail what is queued, forget the flow state."""
        self._fail_writes(lambda: 'stream closed')
        self._write_state = DRAINED
        self._writeable_stopped = False

    # -- the public methods ------------------------------------------------------

    @property
    def is_write_eof(self) -> bool:
        """See `IStream.is_write_eof`."""
        return self._write_eof and not self._queue

    def write(self, data: Any, on_write: EventHandler | None = None,
              on_flush: EventHandler | None = None, on_error: EventHandler | None = None,
              write_len: int | None = None) -> 'AsyncResult[None]':
        """See `IStream.write`.

        A write that would take the queue past ``max_write_queue`` is not
        queued: the future returned has failed with ``OSError(ENOBUFS)``, which
        is not raised (``on_write_error`` hears of it, see ``_streamlimits``).
        A future's value is counted, and refused the same way, when the future
        resolves.

        Raises:
            StreamClosedError: the stream is closing or closed, or its write side
                was shut down with write_eof().
            TypeError: ``data`` of a kind not listed, ``str`` without an
                encoding, or a callback that is not callable.
        """
        if self._closing or self._closed or self._eof_wanted or \
                (self._write_eof and self._wfd is None):
            raise StreamClosedError(f'cannot write to {self!r}: it is closing or '
                                    'closed, or its write side is shut down')
        if on_write is not None or on_flush is not None or on_error is not None:
            check_callables({'on_write': on_write, 'on_flush': on_flush,
                             'on_error': on_error}, ('on_write', 'on_flush', 'on_error'))
        if write_len is None:
            write_len = self._write_len
        else:
            check_positive(write_len, 'write_len')
        if type(data) is bytes:
            piece = _piece(self, data, write_len, None, on_write, on_flush, on_error)
        elif isinstance(data, AsyncResult):
            piece = _piece(self, None, write_len, data, on_write, on_flush, on_error)
            data.rawlink(piece.resolved)
        elif callable(data):
            piece = _piece(self, None, write_len, data, on_write, on_flush, on_error)
        elif data is None:
            raise TypeError('data must be bytes, not None')
        else:
            piece = _piece(self, self._encode(data, 'data'), write_len, None,
                           on_write, on_flush, on_error)
        if piece.data is not None:
            queued = self._queued + len(piece.data)
            limit = self._max_write_queue
            if limit is not None and queued > limit:
                self._refuse_write(piece, len(piece.data))
                return piece
            self._queued = queued
        self._queue.append(piece)
        high = self._write_high
        if high is not None and self._queued >= high and not self._write_at_high:
            self._write_reached_high(self._queued)
        if self._write_state is not DRAINED or self._wfd is None:
            return piece
        if self._autoflush:
            self._flush(from_readiness=False)
        elif getcurrent() is not self._glet:
            self._update_watchers()
        return piece

    def _encode(self, data: Any, name: str) -> bytes | None:
        if data is None or isinstance(data, bytes):
            return data
        if isinstance(data, (bytearray, memoryview)):
            # Copied: the caller may reuse it at once (an echo clears its buffer).
            return bytes(data)
        if isinstance(data, str):
            if self._encoding is None:
                raise TypeError(f'{name} is str but the stream has no encoding')
            return data.encode(self._encoding)
        raise TypeError(f'{name} must be bytes, str (with an encoding), a generator '
                        f'callable or a future, not {data!r}')

    def _set_sender(self) -> None:
        """Choose ``_send(data) -> count`` for the current write handle: the TLS
        object's ``send``, or ``os.write`` on the descriptor (a C partial: this
        runs once per write); and ``_gather(buffers) -> count``, ``os.writev``
        on the descriptor, or ``None`` for TLS (which needs one buffer)."""
        if self._wfd is None:
            self._send = self._gather = None
        elif self._tls_write:
            self._send = self._timed_send(self._write_handle.send)
            self._gather = None
        else:
            self._send = self._timed_send(functools.partial(os.write, self._wfd))
            self._gather = self._timed_send(functools.partial(os.writev, self._wfd))

    def _wants_write(self) -> bool:
        # Not while a future source is pending, nor between rounds (_next_round).
        return self._want_write or (bool(self._queue) and
                                    self._write_state is not WAITING and
                                    self._write_state is not MORE)

    def _write_ready(self) -> None:
        if self._want_write:
            self.maybe_invoke_event('on_write_ready')
        if self._queue:
            self._flush(from_readiness=True)

    def _flush(self, from_readiness: bool) -> None:
        """Send what the kernel takes; then fire the events the outcome calls for.

        Driven by readiness, one system call is made (IO::Async's default; with
        ``write_all``, as many as the kernel takes); ``autoflush`` sends all it can.
        """
        if self._flushing or self._wfd is None:
            return
        if self._writeable_stopped and from_readiness:
            # Readiness after a stop: sending can go on (IO::Async fires this
            # before it writes).
            self._writeable_stopped = False
            self._fire('on_writeable_start')
            if self._wfd is None:
                return
        self._flushing = True
        try:
            state = self._queue.flush(
                self._send, 1 if from_readiness and not self._write_all else None,
                self._gather)
        except SendError as failed:
            self._flushing = False
            self._write_failed(failed.error)
            return
        except Exception:
            # A write callback raised, maybe with pieces behind its own that
            # the same call gathered still queued: only closing keeps them from
            # going out twice. And what it raised closes this stream, not the
            # caller's (an autoflush write() from another greenlet; see _tell).
            self._flushing = False
            self._callback_failed('a write callback')
            return
        except BaseException:
            self._flushing = False      # (the greenlet is being killed)
            raise
        self._flushing = False
        self._write_state = state
        if self._closed:
            return      # a write callback closed the stream: no event after on_closed
        if self._write_at_high:
            self._write_drained()
            if self._closed:
                return
        if state is DRAINED:
            if self._writeable_stopped:
                self._writeable_stopped = False
                self._fire('on_writeable_start')
            if from_readiness and self._on_outgoing_empty is not None and \
                    not self._closed:
                self._on_outgoing_empty()
            if self._closing or self._eof_wanted:
                self._queue_drained()
            return
        if state is MORE:
            self._next_round()
        elif state is BLOCKED and not self._writeable_stopped:
            self._writeable_stopped = True
            self._fire('on_writeable_stop')
        if getcurrent() is not self._glet:
            self._update_watchers()

    def _queue_drained(self) -> None:
        if self._closed or self._queue:
            return
        if self._closing:
            self._close_handles()
        elif self._eof_wanted:
            self._eof_wanted = False
            self._write_eof = True
            self.close_write()

    def _next_round(self) -> None:
        """Go on with a flush whose one-call budget was spent, next loop round.

        The kernel took all it was offered, so write-readiness would tell
        nothing: a socket reports it only while its buffer is mostly empty (a
        quarter, for unix sockets), so a send would never be seen to block and
        on_writeable_stop would never fire. Sending again next round, a full
        kernel shows as a send that would block.
        """
        if self._glet is None:
            return
        if self._round is None:
            self._round = self._hub.loop.timer(0.0)
        if not self._round.active:
            self._round.start(self._wake_write)

    def _start_watching(self) -> None:
        super()._start_watching()
        if self._write_state is MORE:
            self._next_round()

    def _stop_watching(self) -> None:
        if self._round is not None:
            self._round.close()
            self._round = None
        super()._stop_watching()

    def _wake_write(self) -> None:
        if self._parked:
            self._glet.switch(_WRITE)
            return
        if self._wwatch is not None:
            self._wwatch.stop()
        if self._queue and not self._flushing:
            self._run_elsewhere(self._flush, True)

    def _source_ready(self, _future: 'AsyncResult[Any]') -> None:
        # A future the head piece waits on resolved (called from the hub).
        if self._write_state is WAITING and not self._closed:
            self._write_state = MORE
            self._next_round()

    def _write_failed(self, err: OSError) -> None:
        """A send failed: ``on_write_eof`` (EPIPE), the failing piece gets
        ``err``, then ``on_write_error`` (or close without a handler), then every
        piece behind it fails with `StreamClosedError` (IO::Async's order):
        nothing more can be sent, and an error never repeats forever."""
        self._write_state = DRAINED
        if isinstance(err, BrokenPipeError):
            self._write_eof = True
            self._fire('on_write_eof')
        head = self._queue[0] if self._queue else None
        if head is not None and head.data is not None:
            # Its unsent bytes leave the queue with it (``_fail_writes``
            # zeroes the count only when pieces are left behind it).
            self._queued -= len(head.data) - head.offset
        self._queue.fail_head(err)
        if not self._fire('on_write_error', err):
            self.close_now()
        self._fail_writes(lambda: f'{self!r}: an earlier write failed: {err}')
        if self._write_at_high and not self._closed:
            # The queue emptied by failing: a source paused on the high
            # watermark hears so, and the next crossing is told again.
            self._write_drained()
        if self._closing:
            self._queue_drained()

    def write_eof(self) -> None:
        """See `IStream.write_eof`."""
        if self._wfd is None:
            raise StreamClosedError(f'{self!r} has no write handle')
        self._eof_wanted = True
        if not self._queue:
            self._queue_drained()

    def close_write(self) -> None:
        """See `IHandle.close_write`; what is still queued fails with
        `StreamClosedError`, and later writes raise it."""
        if self._wfd is None:
            return
        self._write_eof = True
        super().close_write()
        self._fail_writes(lambda: f'{self!r}: write side closed')
