"""What `Listener` and `Connector` hand over: a new socket as itself, or wrapped.

Not a public module. With ``on_stream``/``on_socket`` a connection arrives in a
new `Stream`/`Socket` that is not yet in a loop: the receiver configures it and
adds it (docs/api.md sections 6 and 7).
"""

from typing import Any

from .datagram import Socket
from .handle import Handle
from .stream import Stream

__all__ = ['WRAPPERS', 'wrap']

#: The class each accept or connect event wraps a new socket in.
WRAPPERS: dict[str, type[Handle]] = {'on_stream': Stream, 'on_socket': Socket}


def wrap(sock: Any, event: str) -> Handle:
    """``sock`` in a new instance of ``WRAPPERS[event]``, not yet in a loop."""
    return WRAPPERS[event](handle=sock)
