"""What every shipped plugin has: IPlugin's buffers and links, and the two moves
between a layer's buffers and those of the layer above it.

Not a public module. A plugin of one's own need not use it (docs/iostream.md
shows one written from scratch); the shipped ones do, so that the copying is
written once.
"""

from typing import Any

from ..constants import IN

__all__ = ['Layer']


class Layer:
    """A plugin's own buffers and its place in the chain (see `IPlugin`)."""

    def __init__(self) -> None:
        # The layers around this one: the stream or a plugin above, a plugin
        # or the file handle's layer below (set by the IOStream).
        self.upper: Any = None
        self.lower: Any = None
        self.out_buf = bytearray()
        self.out_pos: int | None = None
        self.out_bytes = 0
        self.in_buf = bytearray()
        self.in_bytes = 0
        self.ip: str | None = None
        self.is_eof = False

    def prepare(self, fh: Any, host: str | None, port: int | None) -> None:
        """See `IPlugin.prepare`: nothing to get ready."""
        self.lower.prepare(fh, host, port)

    def take_output(self, into: bytearray) -> int:
        """Move what ``upper`` has to write (from its ``out_pos`` when set) to
        the end of the bytearray ``into``; count it in ``upper.out_bytes``.

        Returns:
            The byte count (the caller reports OUT when it is not 0).
        """
        upper = self.upper
        buf, pos = upper.out_buf, upper.out_pos
        if pos is None:
            count = len(buf)
            if count:
                into += buf
                if type(buf) is bytearray:
                    del buf[:]
                else:
                    upper.out_buf = bytearray()
        else:
            count = max(len(buf) - pos, 0)
            if count:
                into += memoryview(buf)[pos:]
                upper.out_pos = pos + count
        upper.out_bytes += count
        return count

    def pass_input(self) -> int:
        """Move this layer's ``in_buf`` to the end of ``upper``'s.

        Returns:
            IN when there was something to move, else 0.
        """
        data = self.in_buf
        if not data:
            return 0
        upper = self.upper
        upper.in_buf += data
        upper.in_bytes += len(data)
        del data[:]
        return IN

    def __repr__(self) -> str:
        return f'<{type(self).__name__} plugin>'
