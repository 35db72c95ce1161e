"""What `Listener` and `Connector` hand over: a new socket as itself, or wrapped.

Not a public module. With ``on_stream``/``on_socket`` a connection arrives in a
new `Stream`/`Socket` that is not yet in a loop: the receiver configures it and
adds it (docs/api.md sections 6 and 7). With ``handle_class``,
``handle_constructor`` or ``connect(handle=...)`` it arrives in a handle the
user made.

Design: Nagle's algorithm on the streams geventio builds
--------------------------------------------------------
Nagle's algorithm (RFC 896, RFC 1122 section 4.2.3.4) holds back a TCP
segment smaller than the MSS while earlier data is unacknowledged; with the
peer's delayed ACK (RFC 1122 section 4.2.3.2, up to 40 ms on Linux) a
write-write-read exchange stalls. On loopback (MSS 65483) every 64 KiB write
leaves a 53-byte tail that waits for an ACK.

asyncio turns it off on every TCP transport (``base_events._set_nodelay``,
called by ``selector_events._SelectorSocketTransport``), as do uvloop, trio's
``SocketStream`` (``_highlevel_socket.py``) and Go's ``net`` package; gevent,
Twisted and IO::Async leave it on.

We choose: a `Stream` that geventio builds around a TCP socket it accepted or
connected itself gets ``TCP_NODELAY``. Its write queue already gathers what a
callback writes into one system call, which is what Nagle would do for it,
so Nagle adds only the wait. In the windowed bulk benchmark it cut the
server's kernel time per 64 KiB echoed from 36 to 20 µs (docs/performance.md).
A handle passed in by the user is used as it is (docs/api.md section 1), and a
socket handed over bare (``on_accept``, ``on_connected``) is its receiver's to
set up; either can turn it on with
``sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)``, and a stream built here can
turn it off the same way on ``stream.read_handle``.
"""

from typing import Any, TypeVar

from .._io.sockets import set_nodelay
from .datagram import Socket
from .handle import Handle
from .stream import Stream

__all__ = ['WRAPPERS', 'hand_over', 'wrap']

_H = TypeVar('_H', bound=Handle)

#: The class each accept or connect event wraps a new socket in.
WRAPPERS: dict[str, type[Handle]] = {'on_stream': Stream, 'on_socket': Socket}


def wrap(sock: Any, event: str) -> Handle:
    """``sock`` in a new instance of ``WRAPPERS[event]``, not yet in a loop.

    The socket is one geventio just made and the class its own, so nothing is
    validated again: the handle is set directly (``configure(handle=...)``
    checked it at about 3 µs per connection), and it watches with the
    socket's own io watchers (see ``handle.py``)."""
    handle = WRAPPERS[event]()
    if event == 'on_stream':
        set_nodelay(sock)
    handle._set_handles(sock, sock)
    handle._borrow_watchers(sock)
    return handle


def hand_over(handle: _H, sock: Any) -> _H:
    """``handle`` with ``sock`` (a socket geventio accepted or connected) as its
    handle, and Nagle off if it is a `Stream` (see the design comment); returns
    ``handle``."""
    if isinstance(handle, Stream):
        set_nodelay(sock)
    handle.set_handle(sock)
    return handle
