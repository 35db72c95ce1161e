"""Stream: an ordered byte stream with a read buffer, temporary readers and a write queue.

The Python form of IO::Async::Stream (interface `IStream`), on a `Handle`'s
greenlet. Bytes move through the byte layer (``_io.reading`` and
``_io.writequeue``); this module is the IO::Async surface over them: the
``on_read`` return-value table, EOF and watermarks, future readers and closing.
The writing half (write callbacks, flushing, write_eof) is in ``_streamwrite``,
the future readers in ``_readers``, the limits and the idle timeout in
``_streamlimits``, STARTTLS in ``_starttls``.

Design: when bytes move
-----------------------
A read happens only after the read watcher reported readiness, once per wake-up
(``read_all`` reads until the kernel is empty), and is dispatched on the same
greenlet; what the handlers wrote is sent before the greenlet parks again. So
an echo costs one ``recv`` and one ``send`` and no greenlet switch beyond the
wake-up.

Deliberate differences from IO::Async: ``close_on_read_eof`` closes once the
write queue has drained (a half-closing client still gets its reply), and a
write future fails with the ``OSError`` of the failed send.
"""

import collections
import codecs
import sys
from time import monotonic
from typing import Any, ClassVar

from greenlet import getcurrent
from zope.interface import implementer

from .._io.nonblocking import WOULD_BLOCK
from .._io.reading import read_into, read_view
from .._io.text import Decoder, TextBuffer
from .._params import check_flag, check_positive
from ..errors import StreamClosedError
from ..interfaces import IStream
from ._readers import _StreamReaders
from ._starttls import _StreamTLS
from ._streambase import DEFAULT_LEN, ReadHandler, StreamBase
from ._streamlimits import _StreamLimits, check_watermarks
from ._streamwrite import _StreamWriter
from .handle import _MISSING, _READ, Handle
from .notifier import Notifier

__all__ = ['Stream']

#: The temporary handler queue of a stream that never had one (shared, empty).
_NO_READERS: Any = ()

#: How many reads ``read_all`` makes per wake-up before letting others run.
READ_ALL_LIMIT = 16


@implementer(IStream)
class Stream(_StreamReaders, _StreamLimits, _StreamWriter, _StreamTLS, StreamBase):
    """See `IStream`.

    Parameters:
        read_len: bytes per read call (default 65536: IO::Async's 8 KiB cuts
            bulk throughput several-fold, and a read lands in the hub's shared
            scratch buffer, so a larger read costs an idle stream nothing).
        read_all: read until the kernel is empty on each wake-up (default False:
            one read, so a busy stream cannot starve the others).
        write_len: bytes per write call (default 65536).
        write_all: write until the kernel would block (default False: one call
            per wake-up).
        autoflush: send in ``write()`` itself (default False).
        close_on_read_eof: close once EOF was read and the queue drained (True).
        encoding: a codec name; the buffer becomes a `TextBuffer` and ``str``
            may be written.
        read_high_watermark, read_low_watermark: pause reading at the first,
            resume below the second (both or neither; low <= high).
        max_read_buffer: the most units (bytes; characters with an encoding)
            the handlers may leave unconsumed (default 64 MiB; ``None``: no
            limit); past it, ``ENOBUFS`` to ``on_read_error``.
        max_write_queue: the most bytes the write queue may hold (default 64
            MiB; ``None``: no limit); a write past it fails with ``ENOBUFS``.
        write_high_watermark, write_low_watermark: queue sizes in bytes at
            which ``on_write_high_watermark``/``on_write_low_watermark`` fire
            (both or neither; low <= high).
        idle_timeout: seconds without a byte moved either way before
            ``on_idle_timeout`` (default ``None``: no timeout).

    Events:
        See `IStream`. ``on_read`` is required once the stream has a read handle
        and is in a loop.
    """

    _EVENTS = Handle._EVENTS | _StreamLimits._LIMIT_EVENTS | {
        'on_read', 'on_read_eof', 'on_write_eof', 'on_read_error',
        'on_write_error', 'on_outgoing_empty', 'on_read_high_watermark',
        'on_read_low_watermark', 'on_writeable_start', 'on_writeable_stop'}

    #: The numeric and boolean parameters: IO::Async's defaults, except 64 KiB
    #: for read_len and write_len (see the class docstring), and the limits.
    _PARAMS: ClassVar[dict[str, tuple[Any, Any]]] = {
               'read_len': (DEFAULT_LEN, check_positive),
               'write_len': (DEFAULT_LEN, check_positive),
               'read_all': (False, check_flag), 'write_all': (False, check_flag),
               'autoflush': (False, check_flag),
               'close_on_read_eof': (True, check_flag),
               **_StreamLimits._LIMIT_PARAMS}

    _READ_EVENT: ClassVar[str | None] = 'on_read'

    _CACHED_EVENTS: ClassVar[tuple[str, ...]] = ('on_read', 'on_outgoing_empty')

    __slots__ = tuple('_' + name for name in _PARAMS) + (
        '_on_read', '_on_outgoing_empty', '_read_view', '_encoding',
        '_decoder', '_buffer', '_readers', '_dispatching', '_high', '_low',
        '_at_high', '_closing', '_read_eof', '_eof_undelivered', '_plain_read') + \
        _StreamWriter._STATE + _StreamLimits._LIMIT_STATE

    def _setup(self, params: dict[str, Any]) -> None:
        self._read_view = None
        self._encoding = None
        self._decoder = None
        self._buffer = bytearray()
        self._readers = _NO_READERS
        self._dispatching = False
        self._high = self._low = None
        self._at_high = False
        self._closing = False
        self._read_eof = False
        self._eof_undelivered = False
        self._plain_read = True
        self._init_writer()
        self._init_limits()
        super()._setup(params)

    # -- configuration ---------------------------------------------------------

    def _configure(self, params: dict[str, Any]) -> None:
        if params.keys() <= self._EVENTS:
            # Events alone (``configure(on_read=...)`` in on_stream, once per
            # connection): nothing to check or apply but binding them.
            Notifier._configure(self, params)
            return
        encoding = params.pop('encoding', _MISSING)
        if encoding not in (_MISSING, None):
            if not isinstance(encoding, str):
                raise TypeError(f'encoding must be a codec name, not {encoding!r}')
            codecs.lookup(encoding)
        high = params.pop('read_high_watermark', _MISSING)
        low = params.pop('read_low_watermark', _MISSING)
        if high is not _MISSING or low is not _MISSING:
            high = self._high if high is _MISSING else high
            low = self._low if low is _MISSING else low
            check_watermarks(high, low, 'read')
        write_watermarks = self._pop_limits(params)
        idle_before = self._idle_timeout
        super()._configure(params)
        if 'read_len' in params:
            self._read_view = None
        if encoding is not _MISSING:
            self._set_encoding(encoding)
        if high is not _MISSING or low is not _MISSING:
            self._high, self._low = high, low
        self._apply_limits(write_watermarks, params, idle_before)
        self._choose_read_path()

    def _set_encoding(self, encoding: str | None) -> None:
        if encoding is None:
            # Text still buffered goes back to the bytes it was decoded from.
            self._decoder = None
            if isinstance(self._buffer, TextBuffer):
                self._buffer = bytearray(str(self._buffer).encode(
                    self._encoding))  # type: ignore[arg-type]  # (a TextBuffer has one)
        else:
            self._decoder = Decoder(encoding)
            if not isinstance(self._buffer, TextBuffer):
                self._buffer = TextBuffer(self._decoder.feed(self._buffer))
        self._encoding = encoding

    def _handles_changed(self) -> None:
        self._reset_writer()
        self._read_view = None
        self._read_eof = False
        self._closing = False
        self._choose_read_path()

    def _choose_read_path(self) -> None:
        """Whether reads may take `_read_ready`'s plain path: bytes, no TLS, one
        read per wake-up, no idle timer to tell (one test per read instead of four)."""
        self._plain_read = not (self._tls_read or self._decoder is not None or
                                self._read_all or self._idle_timeout is not None)

    # -- flags -----------------------------------------------------------------

    @property
    def is_read_eof(self) -> bool:
        """See `IStream.is_read_eof`."""
        return self._read_eof

    # -- reading ---------------------------------------------------------------

    def _read_ready(self, readers_only: bool = False) -> None:
        if not self._plain_read or readers_only:
            self._read_ready_general(readers_only)
            return
        # The common case, kept flat: one read of plain bytes, then dispatch.
        view = self._read_view
        if view is None:
            view = self._read_view = read_view(self._hub, self._read_len)
        try:
            count = read_into(self._rfd, self._buffer, view)
        except WOULD_BLOCK:
            return
        except OSError as err:
            self._read_failed(err)
            return
        if not count:
            self._got_eof(False)
            return
        self._dispatch(False)

    def _read_ready_general(self, readers_only: bool) -> None:
        """Reads for TLS, text, ``read_all``, ``idle_timeout`` and
        blocked-greenlet service."""
        tls = self._read_handle if self._tls_read else None
        view = self._read_view
        if view is None:
            view = self._read_view = read_view(self._hub, self._read_len)
        reads = READ_ALL_LIMIT if self._read_all else 1
        while reads:
            reads -= 1
            try:
                if self._decoder is None:
                    count = read_into(self._rfd, self._buffer, view, tls)
                else:
                    raw = bytearray()
                    count = read_into(self._rfd, raw, view, tls)
                    text = self._decoder.feed(raw)
                    self._buffer += text
            except WOULD_BLOCK:
                return
            except OSError as err:
                self._read_failed(err)
                return
            if not count:
                self._got_eof(readers_only)
                return
            if self._idle_timeout is not None:
                self._last_io = monotonic()
            if self._decoder is None or text:
                # (A read that ended inside a multibyte character adds no text.)
                self._dispatch(False, readers_only)
                if self._rfd is None or not self._want_read or self._closed:
                    return
            if tls is not None and tls.pending():
                reads += 1

    def _dispatch(self, eof: bool, readers_only: bool = False) -> None:
        """Call the head reader (or on_read) until one asks to wait (IO::Async rules).

        ``readers_only`` serves the temporary readers but never ``on_read``: used
        when the stream's greenlet is blocked in a callback (see `_wake_read`).
        """
        buffer = self._buffer
        outer, self._dispatching = self._dispatching, True
        try:
            while not self._closed:
                readers = self._readers     # (a handler may have pushed one)
                if readers:
                    handler = readers[0]
                    result = handler(self, buffer, eof)
                elif readers_only:
                    break
                else:
                    handler = None
                    result = self._on_read(buffer, eof)
                # (_low is set while _at_high; the limit while _read_full.)
                if self._at_high and len(buffer) < self._low:  # type: ignore[operator]
                    self._below_low_watermark()
                if self._read_full and len(buffer) < self._max_read_buffer:  # type: ignore[operator]
                    self._read_room()
                if not result:
                    # (Tested first: "wait for more" is the common answer.)
                    if result is not None or handler is None:
                        break
                    if readers and readers[0] is handler:
                        readers.popleft()
                elif callable(result):
                    if readers and readers[0] is handler:
                        readers[0] = result
                    else:
                        self._queue_reader(result, first=True)
                elif not (buffer or eof):
                    break
        finally:
            self._dispatching = outer
        if self._high is not None and not self._at_high and len(buffer) >= self._high:
            self._at_high = True
            if not self._fire('on_read_high_watermark', len(buffer)):
                self.want_readready = False
        limit = self._max_read_buffer
        if limit is not None and len(buffer) > limit and self._want_read:
            self._read_overrun()

    def _below_low_watermark(self) -> None:
        self._at_high = False
        if not self._fire('on_read_low_watermark', len(self._buffer)) and \
                self._rfd is not None and not self._read_eof:
            self.want_readready = True

    def _got_eof(self, readers_only: bool = False) -> None:
        self._read_eof = True
        self.want_readready = False
        if self._decoder is not None:
            self._buffer += self._decoder.feed(b'', final=True)
        if readers_only:
            self._dispatch(True, readers_only=True)
            self._eof_undelivered = True
            return
        self._finish_eof()

    def _finish_eof(self) -> None:
        self._eof_undelivered = False
        self._dispatch(True)
        if self._closed:
            return
        self._fire('on_read_eof')
        if self._close_on_read_eof and not self._closed:
            self.close_when_empty()

    def _read_failed(self, err: OSError) -> None:
        self.want_readready = False
        self._fail_readers(err)
        if not self._fire('on_read_error', err):
            self.close_now()

    def _fail_readers(self, err: BaseException) -> None:
        readers, self._readers = self._readers, _NO_READERS
        for reader in readers:
            future = getattr(reader, 'future', None)
            if future is not None and not future.ready():
                future.set_exception(err)

    def push_on_read(self, handler: ReadHandler) -> None:
        """See `IStream.push_on_read`."""
        if not callable(handler):
            raise TypeError(f'handler must be callable, not {handler!r}')
        self._queue_reader(handler)
        if not self._dispatching and (self._buffer or self._read_eof):
            self._dispatch(self._read_eof)

    def _queue_reader(self, handler: ReadHandler, first: bool = False) -> None:
        """Add a temporary handler at the tail (or the head); the queue itself is
        made on first use, as most streams never have one."""
        if self._readers is _NO_READERS:
            self._readers = collections.deque()
        if first:
            self._readers.appendleft(handler)
        else:
            self._readers.append(handler)

    # -- between wake-ups ------------------------------------------------------

    def _before_park(self) -> bool:
        if self._eof_undelivered:
            self._finish_eof()
        return self._flush_before_park()

    def _added_to_loop(self, loop: Any) -> None:
        self._read_view = None    # a view of this hub's scratch buffer
        super()._added_to_loop(loop)

    # -- while the stream's greenlet is blocked in a callback ------------------
    #
    # A callback may block on one of its own stream's futures (``write(...).get()``,
    # ``read_exactly(4).get()``). The greenlet that would serve the future is the
    # one blocked: the future first lets it flush and serve its readers
    # (`_serve_blocked`), and readiness seen meanwhile is handled on a short-lived
    # greenlet: writes are flushed, and temporary readers (never on_read) are
    # served.

    def _serve_blocked(self) -> None:
        if getcurrent() is not self._glet or self._closed or self._flushing:
            return
        self._flush_queued()
        if self._readers and (self._buffer or self._read_eof) and not self._closed:
            self._dispatch(self._read_eof, readers_only=True)
        if not self._closed:
            self._update_watchers()

    def _wake_read(self) -> None:
        if self._parked:
            self._glet.switch(_READ)
            return
        self._rwatch.stop()
        if any(hasattr(reader, 'future') for reader in self._readers):
            self._run_elsewhere(self._read_ready, True)

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """See `IStream.close_when_empty` (``close`` is the same)."""
        self.close_when_empty()

    def close_when_empty(self) -> None:
        """See `IStream.close_when_empty`."""
        if self._closed:
            return
        self._closing = True
        if self._want_read:
            self.want_readready = False
        if self._flushing:
            return      # called by a write callback: _flush closes once it is done
        if not self._queue or self._wfd is None:
            self._close_handles()
        elif getcurrent() is not self._glet:
            self._update_watchers()

    def close_now(self) -> None:
        """See `IStream.close_now`."""
        if self._closed:
            return
        self._closing = True
        self._fail_writes(lambda: f'{self!r} was closed')
        self._close_handles()

    def _closed_hook(self) -> None:
        if self._readers:
            self._fail_readers(StreamClosedError('stream closed'))
        self._writer_closed()
        self._at_high = self._read_full = self._write_at_high = False
        if isinstance(self._buffer, TextBuffer):
            self._buffer.clear()
        else:
            del self._buffer[:]
        if self._decoder is not None:
            self._decoder = Decoder(self._encoding)  # type: ignore[arg-type]  # (set with it)

    # -- standard streams ------------------------------------------------------

    @classmethod
    def new_for_stdin(cls, **params: Any) -> 'Stream':
        """A Stream reading the process's standard input."""
        return cls(read_handle=sys.stdin, **params)

    @classmethod
    def new_for_stdout(cls, **params: Any) -> 'Stream':
        """A Stream writing the process's standard output (Python's buffer is
        flushed first, so earlier ``print`` output stays in order)."""
        sys.stdout.flush()
        return cls(write_handle=sys.stdout, **params)

    @classmethod
    def new_for_stdio(cls, **params: Any) -> 'Stream':
        """A Stream reading standard input and writing standard output."""
        sys.stdout.flush()
        return cls(read_handle=sys.stdin, write_handle=sys.stdout, **params)

