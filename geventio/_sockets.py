"""What Listener, Connector and ``Handle.bind`` share: resolving, continuations,
making and checking sockets, and choosing the error to report.

Not a public module. IO::Async keeps the equivalent in IO::Async::Loop and
IO::Async::OS (``extract_addrinfo``, the resolver glue); here it is one place so
that the three callers resolve, report and hand over the same way.
"""

import errno
import logging
import socket

import gevent
import gevent.socket
from gevent.event import AsyncResult

from . import addresses
from ._params import check_callables, check_int, check_unknown
from .datagram import Socket
from .stream import Stream

__all__ = ['bind_handle', 'call', 'call_with_timeout', 'close_at_once',
           'is_listening', 'most_significant', 'new_socket', 'passive',
           'pop_continuations', 'pop_hints', 'refuse_hints', 'resolve', 'wrap']

log = logging.getLogger('geventio')

#: Seconds a name lookup may take before it fails with ``EAI_AGAIN`` (as
#: ``Loop.resolve``'s default).
RESOLVE_TIMEOUT = 10

# The resolver hints ``listen()``, ``connect()`` and ``bind()`` take.
_HINTS = frozenset({'family', 'socktype', 'protocol', 'flags'})


# -- resolving -----------------------------------------------------------------

def resolve(loop, host, service, hints):
    """Resolve through the hub's resolver (``GEVENT_RESOLVER`` chooses it).

    Blocks the calling greenlet. ``hints`` is ``(family, socktype, protocol,
    flags)``. Without a loop, a private one is used only for the lookup.

    Returns:
        A list of `addresses.Address`, in the resolver's order.

    Raises:
        ResolveError: the lookup failed or timed out.
    """
    if loop is not None:
        future = loop.resolve(host, service, *hints, timeout=RESOLVE_TIMEOUT)
    else:
        from .loop import _resolve_into
        future = AsyncResult()
        _resolve_into(future, gevent.get_hub().resolver, RESOLVE_TIMEOUT,
                      (host, service) + tuple(hints))
    return addresses.from_getaddrinfo(future.get())


def pop_hints(params, default_socktype=0):
    """Pop and check the resolver hints ``family``, ``socktype``, ``protocol``
    and ``flags``; returns them as a tuple in that order."""
    family = addresses.parse_family(params.pop('family', 0), 'family')
    socktype = addresses.parse_socktype(
        params.pop('socktype', default_socktype), 'socktype')
    protocol = check_int(params.pop('protocol', 0), 'protocol')
    flags = check_int(params.pop('flags', 0), 'flags')
    return family, socktype, protocol, flags


def refuse_hints(params, needs):
    """``TypeError`` for a resolver hint in ``params`` when nothing is resolved;
    ``needs`` says what would make it count (``'service='``)."""
    given = sorted(_HINTS & params.keys())
    if given:
        raise TypeError(f'{given[0]}={params[given[0]]!r} is a resolver hint: '
                        f'it needs {needs}')


def passive(hints):
    """``hints`` with ``AI_PASSIVE``: addresses to bind to, not to connect to."""
    family, socktype, protocol, flags = hints
    return family, socktype, protocol, flags | socket.AI_PASSIVE


# -- continuations and errors ----------------------------------------------------

def pop_continuations(target, params, names):
    """Pop each of ``names`` from ``params`` onto ``target`` as an attribute
    (``None`` when not given).

    Raises:
        TypeError: one is given but not callable.
    """
    check_callables(params, names)
    for name in names:
        setattr(target, name, params.pop(name, None))


def call(callback, *args):
    """Call a continuation; an exception it raises is logged, not propagated.

    Continuations belong to no handle, so there is nothing to close (API.md
    section 1); the operation goes on as if the callback had returned.
    """
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        log.error('continuation %r raised', callback, exc_info=True)


def most_significant(failures, ranking):
    """The ``(syscall, err)`` to report after every attempt failed.

    ``failures`` are ``(syscall, err)`` pairs in the order they happened;
    ``ranking`` lists syscalls from least to most significant. The most
    significant kind wins and, within a kind, the last failure (IO::Async).
    Returns ``None`` for no failures.
    """
    best = None
    for syscall, err in failures:
        if best is None or ranking.index(syscall) >= ranking.index(best[0]):
            best = (syscall, err)
    return best


# -- sockets -----------------------------------------------------------------------

def new_socket(family, socktype, protocol):
    """A gevent socket: the kind geventio hands out (API.md section 1)."""
    return gevent.socket.socket(family, socktype, protocol)


def is_listening(sock, name):
    """Whether ``sock`` (a socket object) is in listening state.

    Raises:
        ValueError: ``sock`` is closed or not a socket underneath.
    """
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError as err:
        raise ValueError(f'{name} {sock!r} is not a usable socket: {err}') from None


def call_with_timeout(sock, timeout, what, function, *args):
    """``function(*args)`` with ``sock``'s timeout set to ``timeout`` seconds
    (``None``: no limit), cleared again on success.

    Raises:
        TimeoutError: with ``errno.ETIMEDOUT`` when ``timeout`` passed (gevent's
            own timeout error carries no errno; ``what`` names the operation).
        OSError: whatever else ``function`` raised.
    """
    sock.settimeout(timeout)
    try:
        result = function(*args)
    except socket.timeout as err:
        if err.errno is not None:
            raise
        raise TimeoutError(errno.ETIMEDOUT,
                           f'{what} timed out after {timeout} s') from None
    sock.settimeout(None)
    return result


def wrap(sock, event):
    """``sock`` in a new `Stream` (``event`` is ``'on_stream'``) or `Socket`
    (``'on_socket'``), not yet in a loop: the receiver adds it (API.md
    sections 6 and 7)."""
    return (Stream if event == 'on_stream' else Socket)(handle=sock)


def close_at_once(obj):
    """Close what a raising callback was handed: a Stream without flushing its
    queue (``close_now``), anything else with ``close()``."""
    (getattr(obj, 'close_now', None) or obj.close)()


# -- Handle.bind ---------------------------------------------------------------------

def bind_handle(handle, addr, hints):
    """``Handle.bind``: a socket bound to ``addr`` (or resolved, passive, from
    ``hints``) becomes the handle's handle.

    Returns:
        A future of the handle. It fails with the ``OSError`` of the most
        significant failure (bind over socket) or with `ResolveError`.

    Raises:
        TypeError, ValueError: bad arguments, at the call.
    """
    if addr and hints:
        raise TypeError('bind takes an address or resolver keywords, not both')
    if len(addr) > 1:
        raise TypeError(f'bind takes one address, not {len(addr)}: {addr!r}')
    if addr:
        target = [addresses.parse_address(addr[0], 'addr')]
    else:
        target = _bind_hints(dict(hints))
    future = AsyncResult()
    gevent.spawn(_bind_into, handle, target, future)
    return future


def _bind_hints(hints):
    host = addresses.parse_host(hints.pop('host', None))
    if 'service' not in hints:
        raise TypeError('bind needs an address or service=')
    service = addresses.parse_service(hints.pop('service'))
    resolve_hints = pop_hints(hints)
    check_unknown(hints, 'bind')
    return host, service, resolve_hints


def _bind_into(handle, target, future):
    try:
        if isinstance(target, tuple):
            host, service, hints = target
            target = resolve(handle.loop, host, service, passive(hints))
        failures = []
        for address in target:
            sock = _bound_socket(address, failures)
            if sock is not None:
                handle.set_handle(sock)
                future.set(handle)
                return
        _, err = most_significant(failures, ('socket', 'bind')) or (
            None, OSError(errno.EADDRNOTAVAIL, 'no address to bind to'))
        future.set_exception(err)
    except Exception as err:   # ResolveError, or set_handle refusing the socket
        future.set_exception(err)


def _bound_socket(address, failures):
    family, socktype, protocol = addresses.combine(address, address)
    try:
        sock = new_socket(family, socktype, protocol)
    except OSError as err:
        failures.append(('socket', err))
        return None
    try:
        sock.bind(address.sockaddr)
    except OSError as err:
        sock.close()
        failures.append(('bind', err))
        return None
    return sock
