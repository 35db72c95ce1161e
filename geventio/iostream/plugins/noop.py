"""Noop and NoopAlias: plugins that change nothing, the skeletons to start a plugin from.

The Python forms of IO::Stream::Noop and IO::Stream::NoopAlias (interface
`geventio.iostream.IPlugin`). Both pass every byte and every event through
unchanged, so a stream behaves the same with either, or with neither; they
differ in where the bytes live. `Noop` keeps buffers of its own and copies
between them and the layer above, as a plugin that transforms data must
(encryption, compression). `NoopAlias` has no buffers: its fields are the
layer above's, so the layer below reads and writes those directly, as a
plugin that only watches (logging, counting) can afford. docs/iostream.md
walks through both.
"""

from typing import Any

from zope.interface import implementer

from ..constants import CONNECTED, EOF, IN, RESOLVED
from ..interfaces import IPlugin
from ._layer import Layer

__all__ = ['Noop', 'NoopAlias']


@implementer(IPlugin)
class Noop(Layer):
    """A plugin with buffers of its own that copies everything through.

    ``write()`` moves what the layer above has to write into this plugin's
    ``out_buf`` (``out_bytes`` of the layer above grows then) and lets the
    layer below send it; the events from below go up unchanged, with what was
    read moved up first. OUT and SENT therefore come when the bytes really
    left, as without a plugin.
    """

    def write(self) -> None:
        """See `IPlugin.write`."""
        self.take_output(self.out_buf)
        self.lower.write()

    def event(self, events: int, err: Any) -> None:
        """See `IPlugin.event`."""
        upper = self.upper
        if events & IN:
            self.pass_input()
        if events & (RESOLVED | CONNECTED):
            upper.ip = self.ip
        if events & EOF:
            upper.is_eof = self.is_eof
        upper.event(events, err)


def _shared(name: str) -> Any:
    def getter(self: 'NoopAlias') -> Any:
        return getattr(self.upper, name)

    def setter(self: 'NoopAlias', value: Any) -> None:
        setattr(self.upper, name, value)

    return property(getter, setter, doc=f"The layer above's ``{name}`` (shared, not copied).")


@implementer(IPlugin)
class NoopAlias:
    """A plugin that shares the buffers of the layer above: nothing is copied.

    Its ``out_buf``, ``out_pos``, ``out_bytes``, ``in_buf``, ``in_bytes``,
    ``ip`` and ``is_eof`` are those of the layer above (properties reading and
    setting them there), so the layer below writes from and reads into the
    layer above's buffers, and the events go up as they come.
    """

    out_buf = _shared('out_buf')
    out_pos = _shared('out_pos')
    out_bytes = _shared('out_bytes')
    in_buf = _shared('in_buf')
    in_bytes = _shared('in_bytes')
    ip = _shared('ip')
    is_eof = _shared('is_eof')

    def __init__(self) -> None:
        self.upper: Any = None
        self.lower: Any = None

    def prepare(self, fh: Any, host: str | None, port: int | None) -> None:
        """See `IPlugin.prepare`."""
        self.lower.prepare(fh, host, port)

    def write(self) -> None:
        """See `IPlugin.write`: the layer below takes the data where it is."""
        self.lower.write()

    def event(self, events: int, err: Any) -> None:
        """See `IPlugin.event`: the layer below already updated the shared fields."""
        self.upper.event(events, err)

    def __repr__(self) -> str:
        return '<NoopAlias plugin>'
