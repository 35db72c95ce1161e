"""What the parts of Stream share: its keyword parameters and its state.

Not a public module. `geventio.Stream` (docs/stream.md) is assembled from a
reading half (``stream``), a writing half (``_streamwrite``), its limits
(``_streamlimits``), the future readers (``_readers``) and STARTTLS
(``_starttls``). Each part derives from `StreamBase`, which declares what they
all read and write (Stream's slots, with their types) and the methods one part
calls on another, so that each module can be read, and type-checked, on its
own. It also gives Stream its public signature: ``Stream(...)`` and
``configure(...)`` name every keyword with its type and default, and hand the
ones given to the parameter machinery of `Notifier` (``_setup`` and
``_configure``).

Design: keywords that say what they are, at no cost per stream
---------------------------------------------------------------
``help(Stream)``, an IDE and a type checker read the signature, so every
parameter is a real keyword-only parameter (not ``**params``). Construction
must stay as cheap as it was: the connection-rate benchmark builds one Stream
per accepted connection. Python fills each keyword not given from the
defaults (about 0.55 µs for these 35, measured with ``timeit``), and one
identity test per keyword against its default picks out the ones given
(about 0.3 µs); a dict comprehension over ``locals()`` would cost about
4 µs. The dict of given keywords is then handed down ``_setup``/``_configure``
by reference, where the old ``**params`` was packed again at each of four
levels, which wins the difference back: ``Stream(handle=sock)`` took
6.8-7.9 µs before and 6.8-7.3 µs after (the best of 15 rounds of 20,000,
old and new code alternating, on the shared development machine;
docs/performance.md).

In ``__init__`` the defaults are the real ones (``read_len: int = 65536``),
except where ``None`` is a value of its own (a handle, ``handle=None``) or the
default is computed (``want_readready``): there it is `NOT_GIVEN`. In
``configure`` every default is `NOT_GIVEN`, so that ``configure(x=...)``
changes ``x`` alone. Events a subclass adds to ``_EVENTS`` arrive through
``**events``; an unknown keyword still raises ``TypeError`` naming it.
"""

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._io.text import Decoder
from .._io.writequeue import WriteQueue
from .._params import NOT_GIVEN
from .._typing import EventHandler, FileLike
from .handle import Handle

if TYPE_CHECKING:
    from gevent.event import AsyncResult

__all__ = ['DEFAULT_LEN', 'DEFAULT_MAX_BUFFER', 'StreamBase']

#: Default of ``read_len`` and ``write_len`` in bytes: 64 KiB, where IO::Async
#: has 8 KiB (see Stream's docstring).
DEFAULT_LEN = 65536

#: Default of ``max_read_buffer`` and ``max_write_queue`` in bytes (characters
#: for a text buffer): 64 MiB. Large enough for whole messages of the
#: protocols people buffer (HTTP bodies, RESP bulk strings, file chunks);
#: small enough that one peer cannot take the process's memory.
DEFAULT_MAX_BUFFER = 64 * 1024 * 1024

#: A temporary read handler: ``handler(stream, buffer, eof)`` (docs/stream.md).
ReadHandler = Callable[[Any, Any, bool], Any]


class StreamBase(Handle):
    """The state and keywords every part of `geventio.Stream` shares (see the
    module docstring); the slots themselves are declared by Stream."""

    __slots__ = ()

    # -- parameters (Stream._PARAMS), each kept as '_' + its name
    _read_len: int
    _write_len: int
    _read_all: bool
    _write_all: bool
    _autoflush: bool
    _close_on_read_eof: bool
    _max_read_buffer: int | None
    _max_write_queue: int | None
    _idle_timeout: float | None

    # -- the reading half (stream.py)
    _on_read: Callable[[Any, bool], Any]
    _on_outgoing_empty: Callable[[], Any] | None
    _read_view: tuple[memoryview] | None
    _encoding: str | None
    _decoder: Decoder | None
    _buffer: Any                        # a bytearray, or a TextBuffer with an encoding
    _readers: 'deque[ReadHandler]'
    _dispatching: bool
    _high: int | None
    _low: int | None
    _at_high: bool
    _closing: bool
    _read_eof: bool
    _eof_undelivered: bool
    _plain_read: bool

    # -- the writing half (_streamwrite.py)
    _send: Any                          # send(data) -> count; None without a write handle
    _gather: Any                        # writev(buffers) -> count; None for TLS or none
    _queue: WriteQueue
    _queued: int
    _write_state: str
    _round: Any                         # a libev timer, or None
    _writeable_stopped: bool
    _flushing: bool
    _eof_wanted: bool
    _write_eof: bool

    # -- the limits (_streamlimits.py)
    _read_full: bool
    _write_high: int | None
    _write_low: int | None
    _write_at_high: bool
    _idle_timer: Any                    # a libev timer, or None
    _last_io: float
    _idle_running: bool

    if TYPE_CHECKING:
        # What one part calls on another.
        def _dispatch(self, eof: bool, readers_only: bool = False) -> None: ...
        def _read_ready(self, readers_only: bool = False) -> None: ...
        def _read_failed(self, err: OSError) -> None: ...
        def _read_room(self) -> None: ...
        def _read_overrun(self) -> None: ...
        def _choose_read_path(self) -> None: ...
        def _serve_blocked(self) -> None: ...
        def push_on_read(self, handler: ReadHandler) -> None: ...
        def close_when_empty(self) -> None: ...
        def close_now(self) -> None: ...
        def write(self, data: Any, on_write: EventHandler | None = None,
                  on_flush: EventHandler | None = None,
                  on_error: EventHandler | None = None,
                  write_len: int | None = None) -> 'AsyncResult[None]': ...
        def cancel_read(self, future: 'AsyncResult[Any]') -> None: ...
        def _encode(self, data: Any, name: str) -> bytes | None: ...
        def _set_sender(self) -> None: ...
        def _flush(self, from_readiness: bool) -> None: ...
        def _source_ready(self, _future: 'AsyncResult[Any]') -> None: ...
        def _timed_send(self, send: Callable[[Any], int]) -> Callable[[Any], int]: ...
        def _refuse_write(self, piece: Any, size: int) -> None: ...
        def _refuse_resolved(self, piece: Any, size: int) -> bool: ...
        def _write_reached_high(self, queued: int) -> None: ...
        def _write_drained(self) -> None: ...

    def __init__(self, *,
                 handle: FileLike | None = NOT_GIVEN,
                 read_handle: FileLike | None = NOT_GIVEN,
                 write_handle: FileLike | None = NOT_GIVEN,
                 want_readready: bool = NOT_GIVEN,
                 want_writeready: bool = False,
                 on_read: EventHandler | None = None,
                 on_read_eof: EventHandler | None = None,
                 on_write_eof: EventHandler | None = None,
                 on_read_error: EventHandler | None = None,
                 on_write_error: EventHandler | None = None,
                 on_outgoing_empty: EventHandler | None = None,
                 on_closed: EventHandler | None = None,
                 on_read_high_watermark: EventHandler | None = None,
                 on_read_low_watermark: EventHandler | None = None,
                 on_writeable_start: EventHandler | None = None,
                 on_writeable_stop: EventHandler | None = None,
                 on_idle_timeout: EventHandler | None = None,
                 on_write_high_watermark: EventHandler | None = None,
                 on_write_low_watermark: EventHandler | None = None,
                 on_read_ready: EventHandler | None = None,
                 on_write_ready: EventHandler | None = None,
                 read_len: int = DEFAULT_LEN,
                 read_all: bool = False,
                 write_len: int = DEFAULT_LEN,
                 write_all: bool = False,
                 autoflush: bool = False,
                 close_on_read_eof: bool = True,
                 encoding: str | None = None,
                 read_high_watermark: int | None = None,
                 read_low_watermark: int | None = None,
                 write_high_watermark: int | None = None,
                 write_low_watermark: int | None = None,
                 max_read_buffer: int | None = DEFAULT_MAX_BUFFER,
                 max_write_queue: int | None = DEFAULT_MAX_BUFFER,
                 idle_timeout: float | None = None,
                 **events: EventHandler | None) -> None:
        """A stream; every keyword is described in the class docstring."""
        params: dict[str, Any] = events
        if handle is not NOT_GIVEN:
            params['handle'] = handle
        if read_handle is not NOT_GIVEN:
            params['read_handle'] = read_handle
        if write_handle is not NOT_GIVEN:
            params['write_handle'] = write_handle
        if want_readready is not NOT_GIVEN:
            params['want_readready'] = want_readready
        if want_writeready is not False:
            params['want_writeready'] = want_writeready
        if on_read is not None:
            params['on_read'] = on_read
        if on_read_eof is not None:
            params['on_read_eof'] = on_read_eof
        if on_write_eof is not None:
            params['on_write_eof'] = on_write_eof
        if on_read_error is not None:
            params['on_read_error'] = on_read_error
        if on_write_error is not None:
            params['on_write_error'] = on_write_error
        if on_outgoing_empty is not None:
            params['on_outgoing_empty'] = on_outgoing_empty
        if on_closed is not None:
            params['on_closed'] = on_closed
        if on_read_high_watermark is not None:
            params['on_read_high_watermark'] = on_read_high_watermark
        if on_read_low_watermark is not None:
            params['on_read_low_watermark'] = on_read_low_watermark
        if on_writeable_start is not None:
            params['on_writeable_start'] = on_writeable_start
        if on_writeable_stop is not None:
            params['on_writeable_stop'] = on_writeable_stop
        if on_idle_timeout is not None:
            params['on_idle_timeout'] = on_idle_timeout
        if on_write_high_watermark is not None:
            params['on_write_high_watermark'] = on_write_high_watermark
        if on_write_low_watermark is not None:
            params['on_write_low_watermark'] = on_write_low_watermark
        if on_read_ready is not None:
            params['on_read_ready'] = on_read_ready
        if on_write_ready is not None:
            params['on_write_ready'] = on_write_ready
        if read_len is not DEFAULT_LEN:
            params['read_len'] = read_len
        if read_all is not False:
            params['read_all'] = read_all
        if write_len is not DEFAULT_LEN:
            params['write_len'] = write_len
        if write_all is not False:
            params['write_all'] = write_all
        if autoflush is not False:
            params['autoflush'] = autoflush
        if close_on_read_eof is not True:
            params['close_on_read_eof'] = close_on_read_eof
        if encoding is not None:
            params['encoding'] = encoding
        if read_high_watermark is not None:
            params['read_high_watermark'] = read_high_watermark
        if read_low_watermark is not None:
            params['read_low_watermark'] = read_low_watermark
        if write_high_watermark is not None:
            params['write_high_watermark'] = write_high_watermark
        if write_low_watermark is not None:
            params['write_low_watermark'] = write_low_watermark
        if max_read_buffer is not DEFAULT_MAX_BUFFER:
            params['max_read_buffer'] = max_read_buffer
        if max_write_queue is not DEFAULT_MAX_BUFFER:
            params['max_write_queue'] = max_write_queue
        if idle_timeout is not None:
            params['idle_timeout'] = idle_timeout
        self._setup(params)

    # (Narrower than Notifier's and Handle's: it names its own keywords.)
    def configure(self, *,  # type: ignore[override]
                  handle: FileLike | None = NOT_GIVEN,
                  read_handle: FileLike | None = NOT_GIVEN,
                  write_handle: FileLike | None = NOT_GIVEN,
                  want_readready: bool = NOT_GIVEN,
                  want_writeready: bool = NOT_GIVEN,
                  on_read: EventHandler | None = NOT_GIVEN,
                  on_read_eof: EventHandler | None = NOT_GIVEN,
                  on_write_eof: EventHandler | None = NOT_GIVEN,
                  on_read_error: EventHandler | None = NOT_GIVEN,
                  on_write_error: EventHandler | None = NOT_GIVEN,
                  on_outgoing_empty: EventHandler | None = NOT_GIVEN,
                  on_closed: EventHandler | None = NOT_GIVEN,
                  on_read_high_watermark: EventHandler | None = NOT_GIVEN,
                  on_read_low_watermark: EventHandler | None = NOT_GIVEN,
                  on_writeable_start: EventHandler | None = NOT_GIVEN,
                  on_writeable_stop: EventHandler | None = NOT_GIVEN,
                  on_idle_timeout: EventHandler | None = NOT_GIVEN,
                  on_write_high_watermark: EventHandler | None = NOT_GIVEN,
                  on_write_low_watermark: EventHandler | None = NOT_GIVEN,
                  on_read_ready: EventHandler | None = NOT_GIVEN,
                  on_write_ready: EventHandler | None = NOT_GIVEN,
                  read_len: int = NOT_GIVEN,
                  read_all: bool = NOT_GIVEN,
                  write_len: int = NOT_GIVEN,
                  write_all: bool = NOT_GIVEN,
                  autoflush: bool = NOT_GIVEN,
                  close_on_read_eof: bool = NOT_GIVEN,
                  encoding: str | None = NOT_GIVEN,
                  read_high_watermark: int | None = NOT_GIVEN,
                  read_low_watermark: int | None = NOT_GIVEN,
                  write_high_watermark: int | None = NOT_GIVEN,
                  write_low_watermark: int | None = NOT_GIVEN,
                  max_read_buffer: int | None = NOT_GIVEN,
                  max_write_queue: int | None = NOT_GIVEN,
                  idle_timeout: float | None = NOT_GIVEN,
                  **events: EventHandler | None) -> None:
        """See `INotifier.configure`; a keyword not given keeps its value.

        Raises:
            TypeError: unknown keyword or wrong type.
            ValueError: a length, limit or ``idle_timeout`` that is not
                positive, only one of a pair of watermarks, or a low watermark
                above its high one.
            LookupError: an unknown ``encoding``.
        """
        params: dict[str, Any] = events
        if handle is not NOT_GIVEN:
            params['handle'] = handle
        if read_handle is not NOT_GIVEN:
            params['read_handle'] = read_handle
        if write_handle is not NOT_GIVEN:
            params['write_handle'] = write_handle
        if want_readready is not NOT_GIVEN:
            params['want_readready'] = want_readready
        if want_writeready is not NOT_GIVEN:
            params['want_writeready'] = want_writeready
        if on_read is not NOT_GIVEN:
            params['on_read'] = on_read
        if on_read_eof is not NOT_GIVEN:
            params['on_read_eof'] = on_read_eof
        if on_write_eof is not NOT_GIVEN:
            params['on_write_eof'] = on_write_eof
        if on_read_error is not NOT_GIVEN:
            params['on_read_error'] = on_read_error
        if on_write_error is not NOT_GIVEN:
            params['on_write_error'] = on_write_error
        if on_outgoing_empty is not NOT_GIVEN:
            params['on_outgoing_empty'] = on_outgoing_empty
        if on_closed is not NOT_GIVEN:
            params['on_closed'] = on_closed
        if on_read_high_watermark is not NOT_GIVEN:
            params['on_read_high_watermark'] = on_read_high_watermark
        if on_read_low_watermark is not NOT_GIVEN:
            params['on_read_low_watermark'] = on_read_low_watermark
        if on_writeable_start is not NOT_GIVEN:
            params['on_writeable_start'] = on_writeable_start
        if on_writeable_stop is not NOT_GIVEN:
            params['on_writeable_stop'] = on_writeable_stop
        if on_idle_timeout is not NOT_GIVEN:
            params['on_idle_timeout'] = on_idle_timeout
        if on_write_high_watermark is not NOT_GIVEN:
            params['on_write_high_watermark'] = on_write_high_watermark
        if on_write_low_watermark is not NOT_GIVEN:
            params['on_write_low_watermark'] = on_write_low_watermark
        if on_read_ready is not NOT_GIVEN:
            params['on_read_ready'] = on_read_ready
        if on_write_ready is not NOT_GIVEN:
            params['on_write_ready'] = on_write_ready
        if read_len is not NOT_GIVEN:
            params['read_len'] = read_len
        if read_all is not NOT_GIVEN:
            params['read_all'] = read_all
        if write_len is not NOT_GIVEN:
            params['write_len'] = write_len
        if write_all is not NOT_GIVEN:
            params['write_all'] = write_all
        if autoflush is not NOT_GIVEN:
            params['autoflush'] = autoflush
        if close_on_read_eof is not NOT_GIVEN:
            params['close_on_read_eof'] = close_on_read_eof
        if encoding is not NOT_GIVEN:
            params['encoding'] = encoding
        if read_high_watermark is not NOT_GIVEN:
            params['read_high_watermark'] = read_high_watermark
        if read_low_watermark is not NOT_GIVEN:
            params['read_low_watermark'] = read_low_watermark
        if write_high_watermark is not NOT_GIVEN:
            params['write_high_watermark'] = write_high_watermark
        if write_low_watermark is not NOT_GIVEN:
            params['write_low_watermark'] = write_low_watermark
        if max_read_buffer is not NOT_GIVEN:
            params['max_read_buffer'] = max_read_buffer
        if max_write_queue is not NOT_GIVEN:
            params['max_write_queue'] = max_write_queue
        if idle_timeout is not NOT_GIVEN:
            params['idle_timeout'] = idle_timeout
        self._configure(params)
