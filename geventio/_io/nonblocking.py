"""Non-blocking file objects: what "would block" looks like, and making, closing and
shutting them down without letting a dying descriptor raise.

Not a public module. Every surface hands the kernel a descriptor it set
non-blocking (docs/api.md section 1: "the handle is set non-blocking and used as it
is") and treats the exceptions in `WOULD_BLOCK` as "wait for readiness".
"""

import errno
import logging
import os
import ssl
from typing import Any

__all__ = ['WOULD_BLOCK', 'close_quietly', 'is_tls', 'set_nonblocking',
           'shutdown_quietly']

log = logging.getLogger('geventio')

#: Exceptions of a non-blocking call that mean "not now, wait for readiness".
WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError,
               ssl.SSLWantWriteError)

#: type -> whether its objects are TLS connections (read and written through
#: their own ``recv_into``/``send``); asked once per type, as ``hasattr``
#: misses are slow.
_TLS_TYPES: dict[type, bool] = {}


def is_tls(obj: object) -> bool:
    """Whether ``obj`` (a socket, a file object or ``None``) speaks TLS itself."""
    if obj is None:
        return False
    kind = type(obj)
    tls = _TLS_TYPES.get(kind)
    if tls is None:
        tls = _TLS_TYPES[kind] = hasattr(kind, 'pending') and hasattr(kind, 'cipher')
    return tls


def set_nonblocking(obj: Any) -> None:
    """Make ``obj`` non-blocking: a socket through ``setblocking`` (so that a
    gevent or stdlib socket object agrees), anything else on its descriptor."""
    setblocking = getattr(obj, 'setblocking', None)
    if setblocking is not None:
        setblocking(False)
    else:
        os.set_blocking(obj.fileno(), False)


def close_quietly(obj: Any) -> None:
    """``obj.close()``; an ``OSError`` (a descriptor the peer already broke) is
    logged at DEBUG, not raised."""
    try:
        obj.close()
    except OSError as err:
        log.debug('closing %r: %s', obj, err)


def shutdown_quietly(obj: Any, how: int) -> None:
    """``obj.shutdown(how)``; not connected (or not a socket at all: a pipe) is
    not an error here."""
    try:
        obj.shutdown(how)
    except (OSError, AttributeError) as err:
        if getattr(err, 'errno', None) not in (errno.ENOTCONN, None):
            log.debug('shutdown of %r: %s', obj, err)
