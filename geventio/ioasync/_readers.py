"""The future readers of a Stream: small callables over its buffer.

Not a public module. ``read_atmost``, ``read_exactly``, ``read_until`` and
``read_until_eof`` (docs/api.md section 4, "Future readers") are temporary read
handlers of IO::Async::Stream; each is one of the objects here. They follow
h11's ``_readers.py`` shape: a callable over the buffer that either takes what
it needs and resolves its future, or waits. As Stream's temporary handlers they
return ``None`` when done (IO::Async removes the handler) and ``0`` to wait for
more data.
"""

from .._io.text import TextBuffer
from ..errors import IncompleteReadError, LimitOverrunError

__all__ = ['AtMost', 'Exactly', 'Reader', 'Until', 'UntilEOF']


def _take(buffer, count):
    """Remove and return the first ``count`` units of a bytearray or TextBuffer."""
    chunk = buffer[:count]
    del buffer[:count]
    return bytes(chunk) if isinstance(chunk, bytearray) else chunk


def _empty(buffer):
    return '' if isinstance(buffer, TextBuffer) else b''


class Reader:
    """A temporary read handler resolving ``future``; subclasses define ``take``.

    ``take(buffer, eof)`` returns the result, or ``None`` to wait for more data; it
    may raise to fail the future.
    """

    __slots__ = ('future',)

    def __init__(self, future):
        self.future = future

    def __call__(self, stream, buffer, eof):
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

    def __init__(self, future, count):
        super().__init__(future)
        self.count = count

    def take(self, buffer, eof):
        if buffer:
            return _take(buffer, self.count)
        return _empty(buffer) if eof else None


class Exactly(Reader):
    """``read_exactly(n)``: ``n`` units; IncompleteReadError at an early EOF."""

    __slots__ = ('count',)

    def __init__(self, future, count):
        super().__init__(future)
        self.count = count

    def take(self, buffer, eof):
        if len(buffer) >= self.count:
            return _take(buffer, self.count)
        if eof:
            raise IncompleteReadError(_take(buffer, len(buffer)), self.count)
        return None


class Until(Reader):
    """``read_until(sep, max_len)``: through the first match of ``sep``.

    A literal separator is searched from where the last search stopped, so a line
    arriving a byte at a time costs O(n) in all (h11 ``ReceiveBuffer``).
    """

    __slots__ = ('separator', 'max_len', '_searched')

    def __init__(self, future, separator, max_len):
        super().__init__(future)
        self.separator = separator
        self.max_len = max_len
        self._searched = 0

    def take(self, buffer, eof):
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

    def _match_end(self, buffer):
        separator = self.separator
        if hasattr(separator, 'search'):
            match = separator.search(str(buffer) if isinstance(buffer, TextBuffer)
                                     else buffer)
            return match.end() if match else -1
        start = max(0, self._searched - len(separator) + 1)
        index = buffer.find(separator, start)
        if index < 0:
            self._searched = len(buffer)
            return -1
        return index + len(separator)


class UntilEOF(Reader):
    """``read_until_eof()``: everything, once EOF arrives."""

    __slots__ = ()

    def take(self, buffer, eof):
        return _take(buffer, len(buffer)) if eof else None
