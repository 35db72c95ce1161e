"""The read side shared by Stream, DangaSocket and IOStream: filling a buffer, text
decoding, and the small reader objects behind Stream's future readers.

A read goes into one scratch buffer per Loop (``Loop._scratch``) and is appended to
the owner's ``bytearray`` before anything can switch greenlets, so connections do
not each carry a 64 KiB buffer, and reads allocate nothing but the data they keep
(allocating a fresh ``bytes`` of ``read_len`` per ``os.read`` is what the scratch
avoids).

Readers follow h11's ``_readers.py`` shape: a callable over the buffer that either
takes what it needs and resolves its future, or waits. As Stream's temporary
handlers they return ``None`` when done (IO::Async removes the handler) and ``0``
to wait for more data.
"""

import codecs
import os

from .errors import IncompleteReadError, LimitOverrunError

__all__ = ['TextBuffer']

#: Size of the per-loop scratch buffer; a larger read_len gets its own.
SCRATCH_SIZE = 65536


def read_into(fd, buffer, view, size, tls_handle=None):
    """Read up to ``size`` bytes from ``fd`` and append them to ``buffer``.

    Returns the byte count (0 at EOF). Raises the OSError of the read;
    BlockingIOError (or ``ssl.SSLWantReadError`` for TLS) when nothing is ready.
    """
    if len(view) > size:
        view = view[:size]
    elif len(view) < size:
        view = memoryview(bytearray(size))
    if tls_handle is not None:
        count = tls_handle.recv_into(view)
    else:
        count = os.readv(fd, (view,))
    if count:
        buffer += view[:count]
    return count


def read_view(scratch, size):
    """``(view,)`` for ``os.readv``: the first ``size`` bytes of the loop's
    scratch buffer, or a buffer of its own for a ``read_len`` larger than that."""
    if size > len(scratch):
        return (memoryview(bytearray(size)),)
    return (scratch[:size],)


class TextBuffer:
    """A mutable string: the read buffer of a Stream with an ``encoding``.

    Supports ``str(buf)``, ``len``, indexing and slicing (giving ``str``),
    ``find``, ``in``, ``==`` with a ``str``, and ``del buf[:n]`` to consume.
    """

    __slots__ = ('_text',)

    def __init__(self, text=''):
        self._text = text

    def __str__(self):
        return self._text

    def __repr__(self):
        return f'TextBuffer({self._text!r})'

    def __len__(self):
        return len(self._text)

    def __bool__(self):
        return bool(self._text)

    def __getitem__(self, index):
        return self._text[index]

    def __delitem__(self, index):
        if isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(len(self._text))
            self._text = self._text[:start] + self._text[max(start, stop):]
        else:
            chars = list(self._text)
            del chars[index]
            self._text = ''.join(chars)

    def __iadd__(self, text):
        self._text += str(text)
        return self

    def __contains__(self, text):
        return str(text) in self._text

    def __eq__(self, other):
        if isinstance(other, TextBuffer):
            return self._text == other._text
        return self._text == other

    __hash__ = None

    def find(self, sub, start=0, end=None):
        """Index of ``sub`` in the text, or -1 (as ``str.find``)."""
        return self._text.find(str(sub), start, len(self._text) if end is None else end)

    def clear(self):
        """Remove everything."""
        self._text = ''


class Decoder:
    """Incremental decoding of a Stream's input: an incomplete multibyte tail is held
    back until its last byte arrives, invalid bytes become U+FFFD."""

    def __init__(self, encoding):
        self._decoder = codecs.getincrementaldecoder(encoding)(errors='replace')

    def feed(self, raw, final=False):
        """Decode ``raw`` bytes; ``final`` flushes a held-back tail (at EOF)."""
        return self._decoder.decode(bytes(raw), final)


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
