"""geventio: Perl's callback-style networking objects on gevent.

The public names of IO::Async (`Loop`, `Notifier`, `Handle`, `Stream`, `Socket`,
`Listener`, `Connector`) are importable from here; Danga::Socket and IO::Stream
live in `geventio.danga` and `geventio.iostream`, the gevent server adapter and
``prefork`` in `geventio.server`, the pytest fixtures in `geventio.testing`, the
interfaces in `geventio.interfaces`. docs/api.md states what each promises.

The layers, each importing only those above it in this list (docs/architecture.md;
``tests/test_layers.py`` keeps it so):

1. vocabulary: `errors`, `interfaces`, `addresses`, ``_params``, ``_callbacks``;
2. ``_io``: the byte layer (reading, writing, resolving, sockets, TLS);
3. ``ioasync``: IO::Async's notifiers, their engine and the `Loop`;
4. the surfaces beside it, and the tools: ``cli``, ``bench``.
"""

from ._io.text import TextBuffer
from .errors import (ConnectError, IncompleteReadError, LimitOverrunError,
                     ListenError, ResolveError, StreamClosedError)
from .ioasync.connector import Connector
from .ioasync.datagram import Socket
from .ioasync.handle import Handle
from .ioasync.listener import Listener
from .ioasync.loop import Loop
from .ioasync.notifier import Notifier
from .ioasync.stream import Stream

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
