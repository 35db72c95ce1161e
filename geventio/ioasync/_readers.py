"""The future readers of a Stream: small callables over its buffer, and the
Stream methods that queue them.

Not a public module. ``read_atmost``, ``read_exactly``, ``read_until`` and
``read_until_eof`` are temporary read handlers of IO::Async::Stream (docs/stream.md,
"Future readers"); each is one of the objects here, and `_StreamReaders` is the
mixin `geventio.Stream` takes those methods from. The readers follow h11's
``_readers.py`` shape: a callable over the buffer that either takes what it
needs and resolves its future, or waits. As Stream's temporary handlers they
return ``None`` when done (IO::Async removes the handler) and ``0`` to wait for
more data.

Design: linear time against any peer
------------------------------------
A reader is called again after every read while it waits, so one that scans the
whole buffer each time costs the square of the line a peer sends: before this
design, an 8 MiB line without a newline cost 32 s of CPU under
``read_until(re.compile(rb"\\r?\\n"))`` (docs/reliability.md). h11's
``ReceiveBuffer`` and asyncio's ``StreamReader.readuntil`` resume a literal
separator's search where the last one stopped, less the separator's length;
neither accepts a regex. Here a regex resumes too, less the longest stretch of
text one match can depend on, which ``re``'s own parser computes
(`scan_reach`): the match itself, what its lookarounds read, and two characters
for ``\\b`` and ``$``, which look one past the match and at where the text ends.
A pattern whose matches have no bound (``[A-Z][a-z]*``, a lookaround with
``*``), or one longer than `IMPLICIT_MAX_LEN`, cannot resume: it rescans, so
without an explicit ``max_len`` it gets ``max_len=IMPLICIT_MAX_LEN`` and no
search costs more than that much. A literal separator and a bounded pattern
have no implicit limit (the stream's ``max_read_buffer`` still holds).

In text mode a regex can only search a ``str``, and joining the whole
`TextBuffer` for each reader costs the whole backlog per line when many lines
are waiting. So a bounded pattern searches it in windows (overlapping by its
reach) from where it resumes, the first of `TEXT_SEARCH_STEP` characters and
each next one twice as long, and stops at the first window that holds a match
no later text can change: finding a line costs about the line, and a search
through the whole buffer joins it about twice. (A literal separator needs no
windows: `TextBuffer.find` searches the chunks in place.) An unbounded pattern
has no window whose match later text cannot change, so it joins the whole
buffer per search: with many messages waiting, each costs the backlog
(docs/reliability.md says so; bytes mode has no such cost).

A reader given ``timeout=`` is removed when it expires, without consuming
anything, and its future fails with ``TimeoutError``: a caller that gave up
waiting leaves no reader behind to swallow the next message.
"""

import errno
import functools
import sys
import re
from collections.abc import Iterator
from re import Pattern
from typing import Any

from gevent import get_hub
from gevent.event import AsyncResult

if sys.version_info >= (3, 11):
    from re import _parser as _sre_parse
else:                                       # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

from .._io.text import TextBuffer
from .._params import check_positive, check_seconds
from ..errors import IncompleteReadError, LimitOverrunError, StreamClosedError
from ._streambase import StreamBase
from ._streamwrite import _future

__all__ = ['AtMost', 'Exactly', 'IMPLICIT_MAX_LEN', 'Reader', 'TEXT_SEARCH_STEP',
           'Until', 'UntilEOF', 'scan_reach']

#: ``max_len`` of a ``read_until`` whose regex cannot resume its search (its
#: matches have no length bound), in bytes or characters: asyncio's
#: ``StreamReader`` default limit (``streams._DEFAULT_LIMIT``, 64 KiB). Each
#: read then rescans at most this much.
IMPLICIT_MAX_LEN = 65536

#: Characters of a `TextBuffer` the first window of a regex search joins (at
#: least four times the pattern's reach; each further window is twice as
#: long): large enough that a window costs far more in searching than in
#: joining, small enough that finding a short line in a long backlog joins
#: little more than the line.
TEXT_SEARCH_STEP = 8192

#: Characters past a match that ``\\b``, ``\\B`` and ``$`` look at: the one after
#: the match, and whether the text ends right after that.
_ANCHOR_REACH = 2


@functools.lru_cache(maxsize=256)
def scan_reach(pattern: 'Pattern[Any]') -> int | None:
    """How far back a search of compiled ``pattern`` must start, before the end
    of text already searched without a match, to find every match that new text
    can complete; ``None`` when that is unbounded or above `IMPLICIT_MAX_LEN`.

    It is the longest match (``getwidth()`` of ``re``'s parser) plus the widths
    of every lookaround (what they read beyond the match) plus `_ANCHOR_REACH`.
    """
    parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
    reach = parsed.getwidth()[1] + _ANCHOR_REACH
    for width in _lookaround_widths(parsed):
        reach += width
    return reach if reach <= IMPLICIT_MAX_LEN else None


def _lookaround_widths(parsed: Any) -> Iterator[int]:
    """The longest width of each lookahead and lookbehind in a parsed pattern."""
    for op, argument in parsed:
        if op in (_sre_parse.ASSERT, _sre_parse.ASSERT_NOT):
            yield argument[1].getwidth()[1]
        for inner in _subpatterns(argument):
            yield from _lookaround_widths(inner)


def _subpatterns(argument: Any) -> Iterator[Any]:
    """The parsed subpatterns inside one opcode's argument (groups, branches,
    repeats, conditionals nest them in tuples and lists)."""
    if isinstance(argument, _sre_parse.SubPattern):
        yield argument
    elif isinstance(argument, (tuple, list)):
        for item in argument:
            yield from _subpatterns(item)


def _take(buffer: Any, count: int) -> Any:
    """Remove and return the first ``count`` units of a bytearray or TextBuffer."""
    chunk = buffer[:count]
    del buffer[:count]
    return bytes(chunk) if isinstance(chunk, bytearray) else chunk


def _empty(buffer: Any) -> bytes | str:
    return '' if isinstance(buffer, TextBuffer) else b''


class Reader:
    """A temporary read handler resolving ``future``; subclasses define ``take``.

    ``take(buffer, eof)`` returns the result, or ``None`` to wait for more data; it
    may raise to fail the future. ``deadline`` is its `_Deadline`, if it was
    given a ``timeout=``.
    """

    __slots__ = ('future', 'deadline')

    #: The Stream method that makes this reader (for messages).
    name = 'reader'

    def __init__(self, future: 'AsyncResult[Any]') -> None:
        self.future = future
        self.deadline: _Deadline | None = None

    def take(self, buffer: Any, eof: bool) -> Any:
        """The result, or ``None`` to wait for more data."""
        raise NotImplementedError

    def __call__(self, stream: StreamBase, buffer: Any, eof: bool) -> int | None:
        try:
            result = self.take(buffer, eof)
        except Exception as err:
            self.future.set_exception(err)
            return None
        if result is None:
            return 0
        self.future.set(result)
        return None


class AtMost(Reader):
    """``read_atmost(n)``: up to ``n`` units, as soon as there is any."""

    __slots__ = ('count',)
    name = 'read_atmost'

    def __init__(self, future: 'AsyncResult[Any]', count: int) -> None:
        super().__init__(future)
        self.count = count

    def take(self, buffer: Any, eof: bool) -> Any:
        if buffer:
            return _take(buffer, self.count)
        return _empty(buffer) if eof else None


class Exactly(Reader):
    """``read_exactly(n)``: ``n`` units; IncompleteReadError at an early EOF."""

    __slots__ = ('count',)
    name = 'read_exactly'

    def __init__(self, future: 'AsyncResult[Any]', count: int) -> None:
        super().__init__(future)
        self.count = count

    def take(self, buffer: Any, eof: bool) -> Any:
        if len(buffer) >= self.count:
            return _take(buffer, self.count)
        if eof:
            raise IncompleteReadError(_take(buffer, len(buffer)), self.count)
        return None


class Until(Reader):
    """``read_until(sep, max_len)``: through the first match of ``sep``.

    Each search resumes where the last one stopped, less the separator's reach
    (see the module's design comment), so a line arriving in pieces costs O(n)
    in all (h11 ``ReceiveBuffer``).
    """

    __slots__ = ('separator', 'max_len', '_reach', '_searched')
    name = 'read_until'

    def __init__(self, future: 'AsyncResult[Any]', separator: Any,
                 max_len: int | None) -> None:
        super().__init__(future)
        self.separator = separator
        self._reach: int | None
        if hasattr(separator, 'search'):
            self._reach = scan_reach(separator)
            if self._reach is None and max_len is None:
                max_len = IMPLICIT_MAX_LEN
        else:
            self._reach = len(separator)
        self.max_len = max_len
        self._searched = 0

    def take(self, buffer: Any, eof: bool) -> Any:
        end = self._match_end(buffer)
        limit = self.max_len
        if end >= 0 and (limit is None or end <= limit):
            return _take(buffer, end)
        if limit is not None and len(buffer) >= limit:
            raise LimitOverrunError(
                f'separator not found in the first {limit} units', len(buffer))
        if eof:
            return _take(buffer, len(buffer))
        return None

    def _match_end(self, buffer: Any) -> int:
        """End of the first match in ``buffer`` (-1: none), searching only what
        new text can have changed."""
        reach, size = self._reach, len(buffer)
        start = 0 if reach is None else max(0, min(self._searched, size) - reach)
        self._searched = size
        separator = self.separator
        if not hasattr(separator, 'search'):
            index: int = buffer.find(separator, start)
            return index if index < 0 else index + len(separator)
        if not isinstance(buffer, TextBuffer):
            match = separator.search(buffer, start)
            return match.end() if match else -1
        if reach is None:
            match = separator.search(str(buffer))
            return match.end() if match else -1
        return _search_text(separator, buffer, start, reach)


def _search_text(separator: 're.Pattern[str]', buffer: TextBuffer, start: int,
                 reach: int) -> int:
    """End of the first match of ``separator`` (bounded: ``reach`` is its
    `scan_reach`) in TextBuffer ``buffer`` at or after ``start`` (-1: none),
    joining one window of the text at a time.

    Each window begins ``reach`` characters before where its search starts,
    so that lookbehinds and ``\\b`` see the text they need. A match in a window
    that ends before the buffer does is the match of the whole text only if it
    starts at least ``reach`` characters before the window's end (no later
    character, nor where the text ends, can change it); otherwise the next
    window's search starts ``reach`` characters before this one's end, as a
    resumed search does after new text arrives. Windows double in length, so
    a search through the whole buffer takes a few windows, not thousands.
    """
    size = len(buffer)
    step = max(TEXT_SEARCH_STEP, 4 * reach)
    while True:
        stop = min(size, start + step)
        window = max(0, start - reach)
        match = separator.search(buffer[window:stop], start - window)
        if match and (stop == size or window + match.start() + reach <= stop):
            return window + match.end()
        if stop == size:
            return -1
        start = stop - reach
        step *= 2


class UntilEOF(Reader):
    """``read_until_eof()``: everything, once EOF arrives."""

    __slots__ = ()
    name = 'read_until_eof'

    def take(self, buffer: Any, eof: bool) -> Any:
        return _take(buffer, len(buffer)) if eof else None


class _Deadline:
    """The ``timeout=`` of one reader: a libev timer (on the monotonic clock)
    that removes the reader and fails its future with ``TimeoutError``; it is
    closed as soon as the future is resolved any other way, or the reader is
    cancelled."""

    __slots__ = ('stream', 'reader', 'timeout', 'timer')

    def __init__(self, stream: StreamBase, reader: Reader, timeout: float) -> None:
        self.stream, self.reader, self.timeout = stream, reader, timeout
        self.timer = get_hub().loop.timer(timeout)
        self.timer.start(self.expired)
        reader.deadline = self
        reader.future.rawlink(self.stop)

    def expired(self) -> None:
        # Runs in the hub.
        self.timer.close()
        future = self.reader.future
        if not future.ready():
            self.stream.cancel_read(future)
            future.set_exception(TimeoutError(
                errno.ETIMEDOUT, f'{self.reader.name} timed out after '
                                 f'{self.timeout} s'))

    def stop(self, _future: object = None) -> None:
        """Close the timer: the future was resolved, or the reader cancelled."""
        self.timer.close()


class _StreamReaders(StreamBase):
    """Stream's future-reader methods (a mixin: the state lives in Stream's slots)."""

    __slots__ = ()

    def read_atmost(self, n: int, timeout: float | None = None) -> 'AsyncResult[Any]':
        """See `IStream.read_atmost`."""
        check_positive(n, 'n')
        return self._push_reader(AtMost(_future(self), n), timeout)

    def read_exactly(self, n: int, timeout: float | None = None) -> 'AsyncResult[Any]':
        """See `IStream.read_exactly`."""
        check_positive(n, 'n', zero=True)
        check_seconds(timeout, 'timeout')
        reader = Exactly(_future(self), n)
        if not n and not self._readers and not self._closed:
            # Nothing to wait for, but push_on_read serves only a non-empty buffer.
            reader(self, self._buffer, self._read_eof)
            return reader.future
        return self._push_reader(reader, timeout)

    def read_until(self, separator: 'bytes | str | Pattern[Any]',
                   max_len: int | None = None,
                   timeout: float | None = None) -> 'AsyncResult[Any]':
        """See `IStream.read_until`. A regex whose matches have no length bound
        gets ``max_len=IMPLICIT_MAX_LEN`` unless one is given."""
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
        return self._push_reader(Until(_future(self), separator, max_len), timeout)

    def read_until_eof(self, timeout: float | None = None) -> 'AsyncResult[Any]':
        """See `IStream.read_until_eof`."""
        return self._push_reader(UntilEOF(_future(self)), timeout)

    def cancel_read(self, future: 'AsyncResult[Any]') -> None:
        """See `IStream.cancel_read`. A future that is not pending is ignored.
        The reader's ``timeout=`` goes with it: its future stays pending."""
        for reader in self._readers:
            if getattr(reader, 'future', None) is future:
                self._readers.remove(reader)
                deadline = getattr(reader, 'deadline', None)
                if deadline is not None:
                    deadline.stop()
                return

    def _push_reader(self, reader: Reader, timeout: float | None) -> 'AsyncResult[Any]':
        timeout = check_seconds(timeout, 'timeout')
        future = reader.future
        if self._closed and self._rfd is None:
            future.set_exception(StreamClosedError('stream is closed'))
            return future
        self.push_on_read(reader)
        if timeout is not None and not future.ready():
            _Deadline(self, reader, timeout)
        return future
