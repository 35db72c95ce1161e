"""The types geventio's annotations share: what a handle, an address and a
callback are.

Not a public module. docs/api.md section 1 describes these shapes in words
("anything with ``fileno()``", the address forms, events called with the
notifier first, continuations without it); here they get the names the
signatures use, so that every module spells them the same way. Like
``_params`` it imports nothing from geventio, so every layer may use it.
"""

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeAlias

__all__ = ['AddressSpec', 'Continuation', 'EventHandler', 'FileLike', 'SockAddr']


class FileLike(Protocol):
    """Anything with ``fileno()``: a gevent or stdlib socket, a pipe or tty file
    object (docs/api.md section 1, "Handles accepted")."""

    def fileno(self) -> int:
        """The file descriptor."""
        ...


#: An event handler given as a keyword: called with the notifier first, then
#: the event's own arguments (docs/api.md section 1). Only ``on_read``'s return
#: value means something (docs/stream.md); the others' is ignored.
EventHandler: TypeAlias = Callable[..., object]

#: A callable passed to a single call (``loop.connect(on_fail=...)``): called
#: without a notifier argument; its return value is ignored.
Continuation: TypeAlias = Callable[..., object]

#: A socket address as the ``socket`` module takes and gives it: ``(host,
#: port)``, ``(host, port, flowinfo, scope_id)`` or a unix path.
SockAddr: TypeAlias = tuple[Any, ...] | str | bytes

#: An address in one of the forms of docs/api.md section 1: a 4-tuple
#: ``(family, socktype, protocol, sockaddr)`` (an `addresses.Address` is one),
#: a ``getaddrinfo`` 5-tuple, or a dict of ``family``, ``socktype``,
#: ``protocol``, ``ip``, ``port``, ``path``.
AddressSpec: TypeAlias = tuple[Any, ...] | Mapping[str, Any]
