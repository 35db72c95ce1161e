"""Stream: an ordered byte stream with a read buffer, temporary readers and a write queue.

The Python form of IO::Async::Stream (interface `IStream`), on a `Handle`'s
greenlet. Reading and writing go through the shared mechanisms in ``_buffer``
and ``_writequeue``; this module is the IO::Async surface over them: the
``on_read`` return-value table, EOF and watermarks, future readers and closing.
The writing half (write callbacks, flushing, write_eof) is in ``_streamwrite``.

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
import os
import sys

import gevent
from greenlet import getcurrent
from zope.interface import implementer

from . import _buffer
from ._buffer import TextBuffer
from ._params import check_positive
from ._streamwrite import _StreamWriter, _future
from ._writequeue import DRAINED, MORE, WOULD_BLOCK, WriteQueue
from .errors import StreamClosedError
from .handle import _MISSING, _READ, Handle
from .interfaces import IStream

__all__ = ['Stream']

readv = os.readv

#: The temporary handler queue of a stream that never had one (shared, empty).
_NO_READERS = ()

#: How many reads ``read_all`` makes per wake-up before letting others run.
READ_ALL_LIMIT = 16


@implementer(IStream)
class Stream(_StreamWriter, Handle):
    """See `IStream`.

    Parameters:
        read_len: bytes per read call (default 8192).
        read_all: read until the kernel is empty on each wake-up (default False:
            one read, so a busy stream cannot starve the others).
        write_len: bytes per write call (default 8192).
        write_all: write until the kernel would block (default False: one call
            per wake-up).
        autoflush: send in ``write()`` itself (default False).
        close_on_read_eof: close once EOF was read and the queue drained (True).
        encoding: a codec name; the buffer becomes a `TextBuffer` and ``str``
            may be written.
        read_high_watermark, read_low_watermark: pause reading at the first,
            resume below the second (both or neither; low <= high).

    Events:
        See `IStream`. ``on_read`` is required once the stream has a read handle
        and is in a loop.
    """

    _EVENTS = Handle._EVENTS | {
        'on_read', 'on_read_eof', 'on_write_eof', 'on_read_error',
        'on_write_error', 'on_outgoing_empty', 'on_read_high_watermark',
        'on_read_low_watermark', 'on_writeable_start', 'on_writeable_stop'}

    #: Defaults of the numeric and boolean parameters (IO::Async's values;
    #: __init__ sets them).
    _DEFAULTS = {'read_len': 8192, 'write_len': 8192, 'read_all': False,
                 'write_all': False, 'autoflush': False,
                 'close_on_read_eof': True}

    _CACHED_EVENTS = ('on_read', 'on_outgoing_empty')

    __slots__ = tuple('_' + name for name in _DEFAULTS) + (
        '_on_read', '_on_outgoing_empty', '_send', '_read_view', '_encoding',
        '_decoder', '_buffer', '_readers', '_dispatching', '_high', '_low',
        '_at_high', '_queue', '_write_state', '_round', '_writeable_stopped',
        '_flushing', '_closing', '_eof_wanted', '_read_eof', '_write_eof',
        '_eof_undelivered')

    def __init__(self, **params):
        self._on_read = None
        self._on_outgoing_empty = None
        self._send = None
        self._read_view = None
        self._encoding = None
        self._decoder = None
        self._buffer = bytearray()
        self._readers = _NO_READERS
        self._dispatching = False
        self._high = self._low = None
        self._at_high = False
        self._queue = WriteQueue()
        self._write_state = DRAINED
        self._round = None
        self._writeable_stopped = False
        self._flushing = False
        self._closing = False
        self._eof_wanted = False
        self._read_eof = False
        self._eof_undelivered = False
        self._write_eof = False
        self._read_len = self._write_len = 8192
        self._read_all = self._write_all = self._autoflush = False
        self._close_on_read_eof = True
        super().__init__(**params)

    # -- configuration ---------------------------------------------------------

    def configure(self, **params):
        """See `INotifier.configure`.

        Raises:
            TypeError: unknown keyword or wrong type.
            ValueError: a length that is not positive, only one watermark, or
                ``read_low_watermark > read_high_watermark``.
            LookupError: an unknown ``encoding``.
        """
        own = {name: params.pop(name) for name in list(params)
               if name in self._DEFAULTS}
        for name, value in own.items():
            if name.endswith('_len'):
                check_positive(value, name)
            elif not isinstance(value, (bool, int)):
                raise TypeError(f'{name} must be a bool, not {value!r}')
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
            _check_watermarks(high, low)
        super().configure(**params)
        for name, value in own.items():
            setattr(self, '_' + name, value)
        if 'read_len' in own:
            self._read_view = None
        if encoding is not _MISSING:
            self._set_encoding(encoding)
        if high is not _MISSING or low is not _MISSING:
            self._high, self._low = high, low

    def _set_encoding(self, encoding):
        if encoding is None:
            # Text still buffered goes back to the bytes it was decoded from.
            self._decoder = None
            if isinstance(self._buffer, TextBuffer):
                self._buffer = bytearray(str(self._buffer).encode(self._encoding))
        else:
            self._decoder = _buffer.Decoder(encoding)
            if not isinstance(self._buffer, TextBuffer):
                self._buffer = TextBuffer(self._decoder.feed(self._buffer))
        self._encoding = encoding

    def _event_changed(self, name, handler):
        if name == 'on_read':
            self._on_read = handler
        elif name == 'on_outgoing_empty':
            self._on_outgoing_empty = handler

    def _required_events(self):
        return ['on_read'] if self._rfd is not None else []

    def _handles_changed(self):
        self._set_sender()
        self._read_view = None
        self._read_eof = self._write_eof = False
        self._closing = self._eof_wanted = False
        self._write_state = DRAINED

    # -- flags -----------------------------------------------------------------

    @property
    def is_read_eof(self):
        """See `IStream.is_read_eof`."""
        return self._read_eof


    # -- reading ---------------------------------------------------------------

    def _read_ready(self, readers_only=False):
        if self._tls_read or self._decoder is not None or self._read_all or \
                readers_only:
            self._read_ready_general(readers_only)
            return
        # The common case, kept flat: one read of plain bytes, then dispatch.
        view = self._read_view
        if view is None:
            view = self._read_view = self._loop._read_view(self._read_len)
        try:
            count = readv(self._rfd, view)
        except WOULD_BLOCK:
            return
        except OSError as err:
            self._read_failed(err)
            return
        if not count:
            self._got_eof(False)
            return
        self._buffer += view[0][:count]
        self._dispatch(False)

    def _read_ready_general(self, readers_only):
        """Reads for TLS, text, ``read_all`` and blocked-greenlet service."""
        tls = self._read_handle if self._tls_read else None
        reads = READ_ALL_LIMIT if self._read_all else 1
        while reads:
            reads -= 1
            try:
                if self._decoder is None:
                    count = _buffer.read_into(self._rfd, self._buffer,
                                              self._loop._scratch, self._read_len, tls)
                else:
                    raw = bytearray()
                    count = _buffer.read_into(self._rfd, raw, self._loop._scratch,
                                              self._read_len, tls)
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
            if self._decoder is None or text:
                # (A read that ended inside a multibyte character adds no text.)
                self._dispatch(False, readers_only)
                if self._rfd is None or not self._want_read or self._closed:
                    return
            if tls is not None and tls.pending():
                reads += 1

    def _dispatch(self, eof, readers_only=False):
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
                if self._at_high and len(buffer) < self._low:
                    self._below_low_watermark()
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
            if self.can_event('on_read_high_watermark'):
                self.invoke_event('on_read_high_watermark', len(buffer))
            else:
                self.want_readready = False

    def _below_low_watermark(self):
        self._at_high = False
        if self.can_event('on_read_low_watermark'):
            self.invoke_event('on_read_low_watermark', len(self._buffer))
        elif self._rfd is not None and not self._read_eof:
            self.want_readready = True

    def _got_eof(self, readers_only=False):
        self._read_eof = True
        self.want_readready = False
        if self._decoder is not None:
            self._buffer += self._decoder.feed(b'', final=True)
        if readers_only:
            self._dispatch(True, readers_only=True)
            self._eof_undelivered = True
            return
        self._finish_eof()

    def _finish_eof(self):
        self._eof_undelivered = False
        self._dispatch(True)
        if self._closed:
            return
        self.maybe_invoke_event('on_read_eof')
        if self._close_on_read_eof and not self._closed:
            self.close_when_empty()

    def _read_failed(self, err):
        self.want_readready = False
        self._fail_readers(err)
        if self.can_event('on_read_error'):
            self.invoke_event('on_read_error', err)
        else:
            self.close_now()

    def _fail_readers(self, err):
        readers, self._readers = self._readers, _NO_READERS
        for reader in readers:
            future = getattr(reader, 'future', None)
            if future is not None and not future.ready():
                future.set_exception(err)

    def push_on_read(self, handler):
        """See `IStream.push_on_read`."""
        if not callable(handler):
            raise TypeError(f'handler must be callable, not {handler!r}')
        self._queue_reader(handler)
        if not self._dispatching and (self._buffer or self._read_eof):
            self._dispatch(self._read_eof)

    def _queue_reader(self, handler, first=False):
        """Add a temporary handler at the tail (or the head); the queue itself is
        made on first use, as most streams never have one."""
        if self._readers is _NO_READERS:
            self._readers = collections.deque()
        if first:
            self._readers.appendleft(handler)
        else:
            self._readers.append(handler)

    def _push_reader(self, reader):
        if self._closed and self._rfd is None:
            reader.future.set_exception(StreamClosedError('stream is closed'))
        else:
            self.push_on_read(reader)
        return reader.future

    def read_atmost(self, n):
        """See `IStream.read_atmost`."""
        check_positive(n, 'n')
        return self._push_reader(_buffer.AtMost(_future(self), n))

    def read_exactly(self, n):
        """See `IStream.read_exactly`."""
        check_positive(n, 'n', zero=True)
        reader = _buffer.Exactly(_future(self), n)
        if not n and not self._readers and not self._closed:
            # Nothing to wait for, but push_on_read serves only a non-empty buffer.
            reader(self, self._buffer, self._read_eof)
            return reader.future
        return self._push_reader(reader)

    def read_until(self, separator, max_len=None):
        """See `IStream.read_until`."""
        if not hasattr(separator, 'search'):
            wanted = str if self._encoding else (bytes, bytearray)
            if not isinstance(separator, wanted):
                kind = 'str' if self._encoding else 'bytes'
                raise TypeError(f'separator must be {kind} or a compiled regex, '
                                f'not {separator!r}')
            if not separator:
                raise ValueError('separator must not be empty')
        if max_len is not None:
            check_positive(max_len, 'max_len')
        return self._push_reader(_buffer.Until(_future(self), separator, max_len))

    def read_until_eof(self):
        """See `IStream.read_until_eof`."""
        return self._push_reader(_buffer.UntilEOF(_future(self)))

    def cancel_read(self, future):
        """See `IStream.cancel_read`. A future that is not pending is ignored."""
        for reader in self._readers:
            if getattr(reader, 'future', None) is future:
                self._readers.remove(reader)
                return

    # -- writing ---------------------------------------------------------------


    def _before_park(self):
        if self._eof_undelivered:
            self._finish_eof()
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


    def _added_to_loop(self, loop):
        self._read_view = None    # a view of this loop's scratch buffer
        super()._added_to_loop(loop)


    # -- while the stream's greenlet is blocked in a callback ------------------
    #
    # A callback may block on one of its own stream's futures (``write(...).get()``,
    # ``read_exactly(4).get()``). The greenlet that would serve the future is the
    # one blocked: the future first lets it flush and serve its readers
    # (`_serve_blocked`), and readiness seen meanwhile is handled on a short-lived
    # greenlet: writes are flushed, and temporary readers (never on_read) are
    # served.

    def _serve_blocked(self):
        if getcurrent() is not self._glet or self._closed or self._flushing:
            return
        if self._queue and self._write_state is DRAINED:
            self._flush(from_readiness=True)
        if self._readers and (self._buffer or self._read_eof) and not self._closed:
            self._dispatch(self._read_eof, readers_only=True)
        if not self._closed:
            self._update_watchers()

    def _wake_read(self):
        if self._parked:
            self._glet.switch(_READ)
            return
        self._rwatch.stop()
        if any(hasattr(reader, 'future') for reader in self._readers):
            gevent.spawn_raw(self._elsewhere, self._read_ready, True)


    def _elsewhere(self, method, arg):
        try:
            method(arg)
        except Exception:
            self._callback_failed('a callback')
        else:
            if not self._closed and self._glet is not None and not self._parked:
                self._update_watchers()


    # -- closing ---------------------------------------------------------------

    def close(self):
        """See `IStream.close_when_empty` (``close`` is the same)."""
        self.close_when_empty()

    def close_when_empty(self):
        """See `IStream.close_when_empty`."""
        if self._closed:
            return
        self._closing = True
        if self._rfd is not None:
            self.want_readready = False
        if not self._queue or self._wfd is None:
            self._close_handles()
        elif getcurrent() is not self._glet:
            self._update_watchers()

    def close_now(self):
        """See `IStream.close_now`."""
        if self._closed:
            return
        self._closing = True
        self._queue.fail_all(StreamClosedError(f'{self!r} was closed'))
        self._close_handles()


    def _closed_hook(self):
        if self._readers:
            self._fail_readers(StreamClosedError('stream closed'))
        if self._queue:
            self._queue.fail_all(StreamClosedError('stream closed'))
        self._write_state = DRAINED
        self._writeable_stopped = False
        self._at_high = False
        if isinstance(self._buffer, TextBuffer):
            self._buffer.clear()
        else:
            del self._buffer[:]
        if self._decoder is not None:
            self._decoder = _buffer.Decoder(self._encoding)

    # -- TLS -------------------------------------------------------------------

    def start_tls(self, context, server_side=False, server_hostname=None):
        """Upgrade this connected stream to TLS in place (STARTTLS).

        Bytes already read into the buffer after the plain-text part of the
        protocol are fed to the TLS layer first, so a peer that starts its
        handshake at once loses nothing. Returns a future of this stream,
        resolved once the handshake is done (failed with the ``ssl.SSLError``).
        """
        from ._tls import start_tls
        return start_tls(self, context, server_side=server_side,
                         server_hostname=server_hostname)

    # -- standard streams ------------------------------------------------------

    @classmethod
    def new_for_stdin(cls, **params):
        """A Stream reading the process's standard input."""
        return cls(read_handle=sys.stdin, **params)

    @classmethod
    def new_for_stdout(cls, **params):
        """A Stream writing the process's standard output (Python's buffer is
        flushed first, so earlier ``print`` output stays in order)."""
        sys.stdout.flush()
        return cls(write_handle=sys.stdout, **params)

    @classmethod
    def new_for_stdio(cls, **params):
        """A Stream reading standard input and writing standard output."""
        sys.stdout.flush()
        return cls(read_handle=sys.stdin, write_handle=sys.stdout, **params)


def _check_watermarks(high, low):
    if (high is None) != (low is None):
        raise ValueError('give both read_high_watermark and read_low_watermark, '
                         'or neither')
    if high is None:
        return
    check_positive(high, 'read_high_watermark')
    check_positive(low, 'read_low_watermark', zero=True)
    if low > high:
        raise ValueError(f'read_low_watermark ({low!r}) must not exceed '
                         f'read_high_watermark ({high!r})')
