"""What Listener, Connector and ``Handle.bind`` share: resolving, parameter checks,
continuations and choosing the error to report.

Not a public module. IO::Async keeps the equivalent in IO::Async::Loop and
IO::Async::OS (``extract_addrinfo``, the resolver glue); here it is one place so
that the three callers validate and report the same way.
"""

import errno
import logging
import socket

import gevent
import gevent.socket
from gevent.event import AsyncResult

from . import addresses

__all__ = []

log = logging.getLogger('geventio')

#: Seconds a name lookup may take before it fails with ``EAI_AGAIN`` (as
#: ``Loop.resolve``'s default).
RESOLVE_TIMEOUT = 10


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


def check_int(value, name):
    """``value`` if it is an int (not a bool), else ``TypeError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, not {value!r}')
    return value


def check_callables(params, names):
    """``TypeError`` for any of ``names`` in ``params`` that is set but not callable."""
    for name in names:
        value = params.get(name)
        if value is not None and not callable(value):
            raise TypeError(f'{name} must be callable, not {value!r}')


def check_seconds(value, name, zero=False):
    """A number of seconds, or ``None``; ``zero`` allows 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number of seconds or None, not {value!r}')
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f'{name} must be {"non-negative" if zero else "positive"}, '
                         f'not {value!r}')
    return float(value)


def one_of(what, options, required=True):
    """The name of the one option given (value not ``None``) among ``options``,
    ``(name, value)`` pairs; ``None`` if none and not ``required``.

    Raises:
        TypeError: several were given, or none and ``required``.
    """
    given = [name for name, value in options if value is not None]
    names = ', '.join(f'{name}=' for name, _ in options)
    if len(given) > 1:
        raise TypeError(f'{what} takes one of {names} not {" and ".join(given)}')
    if not given and required:
        raise TypeError(f'{what} needs a target: one of {names}')
    return given[0] if given else None


def first_given(*values):
    """The first value that is not ``None`` (or ``None``)."""
    return next((value for value in values if value is not None), None)


def check_unknown(params, what):
    """``TypeError`` naming the first keyword left over in ``params``."""
    if params:
        raise TypeError(f'{what}: unknown parameter {sorted(params)[0]!r}')


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


def new_socket(family, socktype, protocol):
    """A gevent socket: the kind geventio hands out (API.md section 1)."""
    return gevent.socket.socket(family, socktype, protocol)


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
        raise TypeError(f'bind takes one address, not {len(addr)}')
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
            host, service, (family, socktype, protocol, flags) = target
            target = resolve(handle.loop, host, service, (
                family, socktype, protocol, flags | socket.AI_PASSIVE))
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
