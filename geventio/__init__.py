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
from .errors import (ConnectError, IncompleteReadError, LimitOverrunError,
                     ListenError, ResolveError, StreamClosedError)
from .handle import Handle
from .loop import Loop
from .notifier import Notifier
from .stream import Stream

__all__ = [
    'ConnectError',
    'Handle',
    'IncompleteReadError',
    'LimitOverrunError',
    'ListenError',
    'Loop',
    'Notifier',
    'ResolveError',
    'Stream',
    'StreamClosedError',
    'TextBuffer',
]

__version__ = '0.1.0'
