"""Name resolution through the gevent hub's resolver, and the resolver hints that
``listen()``, ``connect()`` and ``bind()`` take.

Not a public module. IO::Async resolves through IO::Async::Resolver; geventio
asks the hub's resolver (``gevent.get_hub().resolver``), so ``GEVENT_RESOLVER``
chooses how names are looked up (thread pool, c-ares, dnspython, blocking), and
a lookup blocks only the calling greenlet.
"""

import socket
from collections.abc import MutableMapping
from typing import Any

import _socket
import gevent

from .. import addresses
from .._params import check_int
from ..errors import ResolveError

__all__ = ['RESOLVE_TIMEOUT', 'getaddrinfo', 'numeric', 'passive', 'pop_hints',
           'refuse_hints', 'resolve']

#: Seconds a name lookup may take before it fails with ``EAI_AGAIN``
#: (``Loop.resolve``'s default, docs/api.md section 2).
RESOLVE_TIMEOUT = 10

# The resolver hints listen(), connect() and bind() take.
_HINTS = frozenset({'family', 'socktype', 'protocol', 'flags'})


#: What ``getaddrinfo`` returns: ``(family, socktype, protocol, canonname, sockaddr)``.
AddrInfo = tuple[int, int, int, str, Any]

#: Resolver hints: ``(family, socktype, protocol, flags)``.
Hints = tuple[int, int, int, int]


def getaddrinfo(host: str | None, service: int | str | None, family: int = 0,
                socktype: int = 0, protocol: int = 0, flags: int = 0,
                timeout: float = RESOLVE_TIMEOUT) -> list[AddrInfo]:
    """``getaddrinfo`` through the hub's resolver, blocking the calling greenlet.

    Returns:
        The list of 5-tuples, in the resolver's order.

    Raises:
        ResolveError: the lookup failed (``errno`` the ``EAI_*`` code) or took
            longer than ``timeout`` seconds (``EAI_AGAIN``).
    """
    try:
        with gevent.Timeout(timeout):
            # (The stub wants str and int; the resolvers take None and
            # service names, as socket.getaddrinfo does.)
            result: list[AddrInfo] = gevent.get_hub().resolver.getaddrinfo(
                host, service, family, socktype, protocol, flags)  # type: ignore[arg-type]
            return result
    except gevent.Timeout:
        raise ResolveError(socket.EAI_AGAIN, f'lookup of {host!r} timed out') from None
    except socket.gaierror as err:
        raise ResolveError(err.errno, err.strerror) from None
    except OSError as err:
        raise ResolveError(socket.EAI_FAIL, str(err)) from None


def numeric(host: str, service: int | str | None,
            socktype: int = socket.SOCK_STREAM) -> list[AddrInfo] | None:
    """The 5-tuples of a numeric ``host`` (an IPv4 or IPv6 literal), made at once
    in the calling greenlet; ``None`` when ``host`` is a name to look up.

    ``AI_NUMERICHOST`` makes ``getaddrinfo`` parse the literal without any
    query, so the C function is called directly (``_socket`` is never
    monkey-patched): the hub's resolver would hand even a literal to its
    thread pool and block the caller.
    """
    try:
        result: list[AddrInfo] = _socket.getaddrinfo(host, service, 0, socktype, 0,
                                                     socket.AI_NUMERICHOST)
        return result
    except socket.gaierror:
        return None


def resolve(host: str | None, service: int | str | None, hints: Hints,
            timeout: float = RESOLVE_TIMEOUT) -> list[addresses.Address]:
    """`getaddrinfo` with ``hints`` ``(family, socktype, protocol, flags)``, as a
    list of `addresses.Address`; raises `ResolveError`."""
    return addresses.from_getaddrinfo(
        getaddrinfo(host, service, *hints, timeout=timeout))


def pop_hints(params: MutableMapping[str, Any], default_socktype: int = 0) -> Hints:
    """Pop and check the resolver hints ``family``, ``socktype``, ``protocol``
    and ``flags``; returns them as a tuple in that order."""
    family = addresses.parse_family(params.pop('family', 0), 'family')
    socktype = addresses.parse_socktype(
        params.pop('socktype', default_socktype), 'socktype')
    protocol = check_int(params.pop('protocol', 0), 'protocol')
    flags = check_int(params.pop('flags', 0), 'flags')
    return family, socktype, protocol, flags


def refuse_hints(params: MutableMapping[str, Any], needs: str) -> None:
    """``TypeError`` for a resolver hint in ``params`` when nothing is resolved;
    ``needs`` says what would make it count (``'service='``)."""
    given = sorted(_HINTS & params.keys())
    if given:
        raise TypeError(f'{given[0]}={params[given[0]]!r} is a resolver hint: '
                        f'it needs {needs}')


def passive(hints: Hints) -> Hints:
    """``hints`` with ``AI_PASSIVE``: addresses to bind to, not to connect to."""
    family, socktype, protocol, flags = hints
    return family, socktype, protocol, flags | socket.AI_PASSIVE
