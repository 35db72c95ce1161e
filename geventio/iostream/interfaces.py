"""The zope.interface declaration of an IOStream plugin.

IO::Stream plugins are objects with ``PREPARE``, ``WRITE`` and ``EVENT``
methods and their own copies of the stream's buffer fields; `IPlugin` is that
contract in Python (exported as ``geventio.iostream.IPlugin``). The stream's
own interface is `geventio.interfaces.IIOStream`. docs/iostream.md has the
guide to writing a plugin.
"""

from typing import Any

from zope.interface import Attribute, Interface

__all__ = ['IPlugin']


class IPlugin(Interface):
    """One layer of an IOStream's chain, between the stream and its file handle.

    The chain runs from the `IOStream` through its plugins, in the order
    given, to the layer that owns the file handle. Each plugin has buffers of
    its own: the layer below writes from this plugin's ``out_buf`` (from
    ``out_pos`` when that is set) and appends what it reads to this plugin's
    ``in_buf``, exactly as it would for the stream; this plugin moves data
    between its own buffers and those of ``upper``.

    Guarantees a plugin gives: ``prepare`` calls ``lower.prepare`` once (a
    proxy passes its own host and port instead of the target's); every event
    and error from below reaches ``upper.event`` unless the plugin consumes it
    for a protocol of its own (a handshake); errors are passed up, never
    raised; what ``upper`` wrote is written in order, and SENT goes up only
    when nothing of it is left anywhere in this layer.
    """

    upper = Attribute('The layer above: the IOStream or another plugin (set by '
                      'the IOStream).')
    lower = Attribute('The layer below: another plugin or the file handle layer '
                      '(set by the IOStream).')
    out_buf = Attribute('bytearray the layer below writes from.')
    out_pos = Attribute('None, or the offset in out_buf the layer below has '
                        'written up to.')
    out_bytes = Attribute('Bytes the layer below has written from out_buf.')
    in_buf = Attribute('bytearray the layer below appends what it reads to.')
    in_bytes = Attribute('Bytes the layer below has appended to in_buf.')
    ip = Attribute('The address the layer below resolved, or None.')
    is_eof = Attribute('True once the layer below read EOF.')

    def prepare(fh: Any, host: str | None, port: int | None) -> None:
        """Called once, from the constructor, top down: get ready, then call
        ``lower.prepare`` (events may reach ``event`` before it returns).
        Raises TypeError or ValueError when the plugin cannot work with
        these arguments."""

    def write() -> None:
        """``upper`` has new data in its ``out_buf``: take it (move or copy,
        telling ``upper`` with OUT when bytes left its buffer) and pass it on
        down with ``lower.write()``."""

    def event(events: int, err: Any) -> None:
        """The layer below reports ``events`` (bits) and ``err`` (None or an
        error): move what it read into ``upper``'s buffers and report on up
        with ``upper.event``."""
