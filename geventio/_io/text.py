"""Text-mode reading: the incremental decoder and `TextBuffer`, the mutable string
a Stream with an ``encoding`` hands to its handlers.

Not a public module (`geventio.TextBuffer` is the public name). IO::Async::Stream
decodes with ``Encode``'s incremental decoding; here ``codecs``' incremental
decoders do the same: an incomplete multibyte tail is held back until its last
byte arrives, and invalid bytes become U+FFFD.

Design: a buffer that never copies all of itself per read
---------------------------------------------------------
Python strings are immutable, so a buffer kept as one ``str`` copies everything
it holds on each append (``text += chunk``) and on each consumption
(``text = text[n:]``): a 16 MiB line arriving 64 KiB at a time costs gigabytes
of copying, quadratic in the line (docs/reliability.md has the figures).
`TextBuffer` keeps the decoded chunks as they came and an offset into the
first one instead: appending and consuming cost what they touch, and a slice
joins only the chunks it spans (walking from whichever end is nearer), so a
reader scanning the newest part of a long line costs the newest part, and
``find`` searches the chunks where they lie, so finding the next of many
waiting lines costs that line. The chunks are joined into one only when the
whole text is asked for (``str(buf)``, ``in``, ``==``), and kept joined until
the next append, so asking twice costs once. Small chunks are merged as they arrive
(`MERGE_BELOW`), so one-character reads cannot turn a buffer of a million
characters into a million string objects.
"""

import codecs
import collections
from collections.abc import Iterator
from typing import Any

__all__ = ['Decoder', 'MERGE_BELOW', 'TextBuffer']

#: A chunk appended to a last chunk shorter than this many characters is merged
#: into it. Each string object costs about 50 bytes besides its characters, so
#: chunks of at least a few KiB keep that overhead to a few per cent, while a
#: merge copies at most this much.
MERGE_BELOW = 4096


class TextBuffer:
    """A mutable string: the read buffer of a Stream with an ``encoding``.

    Supports ``str(buf)``, ``len``, indexing and slicing (giving ``str``),
    ``find``, ``in``, ``==`` with a ``str``, and ``del buf[:n]`` to consume.
    Appending, consuming from the front, slicing near either end and ``find``
    cost what they touch, not the length of the whole buffer.
    """

    __slots__ = ('_chunks', '_skip', '_len')

    def __init__(self, text: str = '') -> None:
        self._chunks: collections.deque[str] = collections.deque()   # oldest first
        self._skip = 0      # characters of _chunks[0] consumed already
        self._len = 0
        if text:
            self += text

    def __str__(self) -> str:
        chunks = self._chunks
        if not chunks:
            return ''
        if len(chunks) > 1 or self._skip:
            text = ''.join(self._pieces())
            chunks.clear()
            chunks.append(text)
            self._skip = 0
        return chunks[0]

    def __repr__(self) -> str:
        return f'TextBuffer({str(self)!r})'

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __getitem__(self, index: int | slice) -> str:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step == 1:
                return self._slice(start, max(start, stop))
            return str(self)[index]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError('TextBuffer index out of range')
        return self._slice(index, index + 1)

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(self._len)
            if start == 0:
                self._consume(stop)
                return
        text = list(str(self))
        del text[index]
        self.clear()
        self += ''.join(text)

    def __iadd__(self, text: object) -> 'TextBuffer':
        text = str(text)
        if not text:
            return self
        chunks = self._chunks
        if chunks and len(chunks[-1]) < MERGE_BELOW:
            last = chunks[-1]
            if len(chunks) == 1 and self._skip:
                last, self._skip = last[self._skip:], 0
            chunks[-1] = last + text
        else:
            chunks.append(text)
        self._len += len(text)
        return self

    def __contains__(self, text: object) -> bool:
        return str(text) in str(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextBuffer):
            other = str(other)
        return str(self) == other

    __hash__ = None     # type: ignore[assignment]  # mutable: unhashable, as list

    def find(self, sub: object, start: int = 0, end: int | None = None) -> int:
        """Index of ``sub`` in the text, or -1 (as ``str.find``).

        The chunks are searched where they lie, never joined, so finding the
        next line costs the line, however much text follows it.
        """
        text = str(sub)
        if start < 0:
            start = max(0, start + self._len)
        _, stop, _ = slice(start, end).indices(self._len)
        if start > stop:
            return -1
        return self._find(text, start, stop) if text else start

    def clear(self) -> None:
        """Remove everything."""
        self._chunks.clear()
        self._skip = self._len = 0

    # -- the chunks ------------------------------------------------------------

    def _pieces(self) -> Iterator[str]:
        """The chunks, the first one without its consumed part."""
        chunks = iter(self._chunks)
        first = next(chunks)
        yield first[self._skip:] if self._skip else first
        yield from chunks

    def _consume(self, count: int) -> None:
        """Drop the first ``count`` characters (0 <= count <= len)."""
        chunks = self._chunks
        self._len -= count
        count += self._skip
        while chunks and count >= len(chunks[0]):
            count -= len(chunks.popleft())
        self._skip = count if chunks else 0

    def _find(self, sub: str, start: int, stop: int) -> int:
        """`find` of a non-empty ``sub`` within ``[start, stop)``, chunk by chunk:
        each chunk is searched in place, and the few characters that a match
        across its boundary can span are joined with the end of the last one."""
        keep = len(sub) - 1         # characters a match can take from before a chunk
        tail, tail_at = '', 0       # the last `keep` characters searched, and where
        for begin, chunk in self._chunks_from(start):
            end = begin + len(chunk)
            low, high = max(start, begin) - begin, min(stop, end) - begin
            if tail:
                found = (tail + chunk[low:min(high, low + keep)]).find(sub)
                if 0 <= found < len(tail):
                    return tail_at + found
            found = chunk.find(sub, low, high)
            if found >= 0:
                return begin + found
            if end >= stop:
                break
            if keep:
                tail = (tail + chunk[max(low, high - keep):high])[-keep:]
                tail_at = end - len(tail)
        return -1

    def _chunks_from(self, index: int) -> Iterator[tuple[int, str]]:
        """``(where it begins in the text, chunk)`` of each chunk from the one
        holding ``index`` (0 <= index <= len) on, reached from the nearer end."""
        if index < self._len - index:
            begin = -self._skip
            for chunk in self._chunks:
                end = begin + len(chunk)
                if end > index:
                    yield begin, chunk
                begin = end
            return
        found: list[tuple[int, str]] = []
        end = self._len
        for chunk in reversed(self._chunks):
            begin = end - len(chunk)
            found.append((begin, chunk))
            if begin <= index:
                break
            end = begin
        yield from reversed(found)

    def _slice(self, start: int, stop: int) -> str:
        """The text from ``start`` to ``stop`` (0 <= start <= stop <= len),
        joined from the chunks it spans only."""
        if start == stop:
            return ''
        chunks, skip = self._chunks, self._skip
        if len(chunks) == 1:
            return chunks[0][skip + start:skip + stop]
        parts: list[str] = []
        if start >= self._len - stop:
            # Nearer the end: walk back from the last chunk.
            end = self._len
            for chunk in reversed(chunks):
                begin = end - len(chunk)
                if begin < stop:
                    parts.append(chunk[max(0, start - begin):stop - begin])
                    if begin <= start:
                        break
                end = begin
            parts.reverse()
        else:
            begin = -skip
            for chunk in chunks:
                end = begin + len(chunk)
                if end > start:
                    parts.append(chunk[max(0, start - begin):stop - begin])
                    if end >= stop:
                        break
                begin = end
        return ''.join(parts)


class Decoder:
    """Incremental decoding of a Stream's input: an incomplete multibyte tail is held
    back until its last byte arrives, invalid bytes become U+FFFD."""

    def __init__(self, encoding: str) -> None:
        self._decoder = codecs.getincrementaldecoder(encoding)(errors='replace')

    def feed(self, raw: Any, final: bool = False) -> str:
        """Decode ``raw`` bytes; ``final`` flushes a held-back tail (at EOF)."""
        return self._decoder.decode(bytes(raw), final)
