"""IO::Stream for gevent: a byte stream whose events reach one callback.

``IOStream(fh=... | host=..., port=..., cb=..., wait_for=..., **fields)`` calls
``cb(io, events, err)`` with the events asked for in ``wait_for`` (bits:
RESOLVED, CONNECTED, IN, OUT, EOF, SENT) and with errors (an ``OSError``, or
one of IO::Stream's error constants). Plugins that sit between the stream and
its file handle (TLS, HTTPS and SOCKS5 proxies) are in
``geventio.iostream.plugins``; `IPlugin` is what they implement.

Built on geventio's byte layer only, beside IO::Async (docs/architecture.md);
docs/iostream.md maps every IO::Stream field, constant and method to Python.
"""

from .constants import (CONNECTED, EDNS, EDNSNODATA, EDNSNXDOMAIN, EINBUFLIMIT,
                        EOF, EREQINBUFLIMIT, EREQINEOF, ETOCONNECT, ETORESOLVE,
                        ETOWRITE, IN, OUT, RESOLVED, SENT, IOStreamError)
from .interfaces import IPlugin
from .stream import IOStream

__all__ = [
    'IOStream', 'IPlugin', 'IOStreamError',
    'RESOLVED', 'CONNECTED', 'IN', 'OUT', 'EOF', 'SENT',
    'EINBUFLIMIT', 'ETORESOLVE', 'ETOCONNECT', 'ETOWRITE', 'EDNS', 'EDNSNXDOMAIN',
    'EDNSNODATA', 'EREQINBUFLIMIT', 'EREQINEOF',
]
