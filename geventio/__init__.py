"""geventio: Perl's callback-style networking objects on gevent.

General layout: a `Loop` holds `Notifier` objects. A `Handle` watches one or two
file descriptors on a greenlet of its own; `Stream` (IO::Async::Stream) moves an
ordered byte stream over it, `Socket` (IO::Async::Socket) datagrams. `Listener`
and `Connector` make the sockets they wrap. `geventio.danga` and
`geventio.iostream` are the Danga::Socket and IO::Stream work-alikes. The
read buffer (``_buffer``) and the write queue (``_writequeue``) are shared by
every class that moves bytes. The contract is API.md; the interfaces are in
`geventio.interfaces`.
"""

from ._buffer import TextBuffer
from .connector import Connector
from .datagram import Socket
from .errors import (ConnectError, IncompleteReadError, LimitOverrunError,
                     ListenError, ResolveError, StreamClosedError)
from .handle import Handle
from .listener import Listener
from .loop import Loop
from .notifier import Notifier
from .stream import Stream

__all__ = [
    'ConnectError',
    'Connector',
    'Handle',
    'IncompleteReadError',
    'LimitOverrunError',
    'ListenError',
    'Listener',
    'Loop',
    'Notifier',
    'ResolveError',
    'Socket',
    'Stream',
    'StreamClosedError',
    'TextBuffer',
]

__version__ = '0.1.0'
