"""Making, binding and checking sockets, and choosing which failure to report when
several attempts failed.

Not a public module. IO::Async keeps the equivalent in IO::Async::OS and the
connector and listener modules; here it is shared by ``Listener``, ``Connector``,
``Handle.bind`` and the other surfaces, so that they make sockets, rank failures
and time out the same way.
"""

import errno
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import gevent
import gevent.socket

from .. import addresses

__all__ = ['as_gevent_socket', 'bind_first', 'call_with_timeout', 'is_listening',
           'most_significant', 'new_socket', 'set_nodelay', 'sockname']

#: Syscalls of ``bind_first`` from least to most significant failure.
BIND_RANKING = ('socket', 'bind')

_T = TypeVar('_T')


def new_socket(family: int, socktype: int, protocol: int) -> gevent.socket.socket:
    """A gevent socket: the kind geventio hands out (docs/api.md section 1)."""
    return gevent.socket.socket(family, socktype, protocol)


def as_gevent_socket(sock: Any) -> gevent.socket.socket:
    """``sock`` as a gevent socket (docs/api.md section 1); a stdlib one (accepted from
    a stdlib listening socket) hands its descriptor over."""
    if isinstance(sock, gevent.socket.socket):
        return sock
    return gevent.socket.socket(sock.family, sock.type, sock.proto,
                                fileno=sock.detach())


def set_nodelay(sock: Any) -> None:
    """Turn Nagle's algorithm off on ``sock`` if it is a TCP socket. On anything
    else (a unix socket) the kernel refuses the option and nothing changes; a
    socket the peer already broke is left to its first read or write to report.
    (Asking the kernel beats asking gevent's socket for its family and type,
    which cost more than the system call, once per connection.)"""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def is_listening(sock: Any, name: str) -> bool:
    """Whether ``sock`` (a socket object) is in listening state.

    Raises:
        ValueError: ``sock`` is closed or not a socket underneath.
    """
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError as err:
        raise ValueError(f'{name} {sock!r} is not a usable socket: {err}') from None


def sockname(sock: Any) -> Any:
    """``getsockname()``, or ``'?'`` for a socket that cannot tell (closed)."""
    try:
        return sock.getsockname()
    except OSError:
        return '?'


def call_with_timeout(sock: Any, timeout: float | None, what: str,
                      function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)`` finished within ``timeout`` seconds in all (``None``:
    no limit), ``sock`` waiting cooperatively meanwhile.

    A deadline, not a socket timeout: gevent applies a socket's timeout to each
    wait for readiness, so a TLS peer sending its handshake a byte at a time,
    each within the timeout, would keep a handshake going for as long as it
    liked.

    Raises:
        TimeoutError: with ``errno.ETIMEDOUT`` when ``timeout`` passed (gevent's
            own timeout carries no errno; ``what`` names the operation).
        OSError: whatever else ``function`` raised.
    """
    sock.settimeout(None)
    if timeout is None:
        return function(*args)
    deadline = gevent.Timeout(timeout)
    deadline.start()
    try:
        return function(*args)
    except gevent.Timeout as err:
        if err is not deadline:
            raise
        raise TimeoutError(errno.ETIMEDOUT,
                           f'{what} timed out after {timeout} s') from None
    finally:
        deadline.close()


def most_significant(failures: Iterable[tuple[str, OSError]], ranking: Sequence[str | None],
                     default: tuple[Any, OSError]) -> tuple[Any, OSError]:
    """The ``(syscall, err)`` to report after every attempt failed.

    ``failures`` are ``(syscall, err)`` pairs in the order they happened;
    ``ranking`` lists syscalls from least to most significant. The most
    significant kind wins and, within a kind, the last failure (IO::Async).
    With no failures at all (nothing was tried), ``default``.
    """
    best: tuple[str, OSError] | None = None
    for syscall, err in failures:
        if best is None or ranking.index(syscall) >= ranking.index(best[0]):
            best = (syscall, err)
    return best or default


def bind_first(targets: Iterable[addresses.Address]) -> gevent.socket.socket:
    """A new socket bound to the first of ``targets`` (`addresses.Address` list)
    that works.

    Raises:
        OSError: of the most significant failure (bind over socket, the last
            of a kind); ``EADDRNOTAVAIL`` for an empty list.
    """
    failures: list[tuple[str, OSError]] = []
    for address in targets:
        family, socktype, protocol = addresses.combine(address, address)
        try:
            sock = new_socket(family, socktype, protocol)
        except OSError as err:
            failures.append(('socket', err))
            continue
        try:
            sock.bind(address.sockaddr)
        except OSError as err:
            sock.close()
            failures.append(('bind', err))
            continue
        return sock
    _, error = most_significant(failures, BIND_RANKING, (
        None, OSError(errno.EADDRNOTAVAIL, 'no address to bind to')))
    raise error
