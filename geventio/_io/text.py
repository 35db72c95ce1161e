"""Text-mode reading: the incremental decoder and `TextBuffer`, the mutable string
a Stream with an ``encoding`` hands to its handlers.

Not a public module (`geventio.TextBuffer` is the public name). IO::Async::Stream
decodes with ``Encode``'s incremental decoding; here ``codecs``' incremental
decoders do the same: an incomplete multibyte tail is held back until its last
byte arrives, and invalid bytes become U+FFFD.
"""

import codecs

__all__ = ['Decoder', 'TextBuffer']


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
