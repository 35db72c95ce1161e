"""Making listening sockets for `Listener.listen`: parameters, one socket per
address, and the failure to report when every address failed.

Not a public module; the steps and their ``on_fail`` shapes are
IO::Async::Listener's (socket, sockopt, bind, listen), see docs/api.md section 6.

Design: socket options and the wildcard addresses
-------------------------------------------------
What the OS does: on Linux an IPv6 socket bound to ``::`` also takes IPv4
(``net.ipv6.bindv6only=0``), so after ``0.0.0.0`` got a port, ``::`` on the
same port fails with EADDRINUSE; a port whose connections are still in
TIME_WAIT cannot be bound again without SO_REUSEADDR. ``getaddrinfo`` with
``AI_PASSIVE`` and no host returns both wildcards.

What others do: asyncio (``base_events.create_server``) sets SO_REUSEADDR by
default on POSIX and IPV6_V6ONLY on every IPv6 socket; trio
(``_highlevel_open_tcp_listeners.py``) does both always (SO_REUSEADDR not on
Windows); gevent (``server.py``, ``DEFAULT_REUSE_ADDR``) sets SO_REUSEADDR
outside Windows and leaves IPV6_V6ONLY alone. IO::Async sets SO_REUSEADDR
unless ``reuseaddr`` is false.

We choose: ``reuseaddr=True``, as all of them. IPV6_V6ONLY is left to the OS
unless ``v6only`` is given or an IPv4 address is in the list too: then IPv4 and
IPv6 never share a socket and both listen. In resolver mode a port picked for
the first address is reused for the rest, so that ``service=0`` is one service
on IPv4 and IPv6 alike rather than two unrelated ports.
"""

import errno
import socket
from collections.abc import Callable, Iterable
from ssl import SSLContext
from typing import Any

from .. import _callbacks, addresses
from .._io import resolving, sockets, tls
from .._params import (check_flag, check_positive, check_unknown, first_given,
                       one_of, pop_continuations)
from .._typing import Continuation

__all__ = ['Plan', 'check_listening', 'most_significant', 'open_all']

#: Syscalls from least to most significant failure (docs/api.md section 6).
ERROR_RANKING = ('socket', 'sockopt', 'bind', 'listen')

_CONTINUATIONS = ('on_listen', 'on_listen_error', 'on_fail', 'on_resolve_error')

_INET = (socket.AF_INET, socket.AF_INET6)


class Plan:
    """The checked parameters of one listen() call.

    Attributes:
        addrs: `addresses.Address` list in plain-address mode, else ``None``.
        query: ``(host, service, hints)`` for the resolver, else ``None``.
        handle: the listening socket in existing-socket mode, else ``None``.
    """

    on_listen: Continuation | None
    on_listen_error: Continuation | None
    on_fail: Continuation | None
    on_resolve_error: Continuation | None

    def __init__(self, params: dict[str, Any]) -> None:
        params = dict(params)
        pop_continuations(self, params, _CONTINUATIONS)
        self._pop_target(params)
        self.queuesize = check_positive(
            params.pop('queuesize', socket.SOMAXCONN), 'queuesize', zero=True)
        self.reuseaddr = check_flag(params.pop('reuseaddr', True), 'reuseaddr')
        self.reuseport = check_flag(params.pop('reuseport', False), 'reuseport')
        v6only = params.pop('v6only', None)
        self.v6only = None if v6only is None else check_flag(v6only, 'v6only')
        context = params.pop('ssl', None)
        self.ssl: SSLContext | None = None if context in (None, False) else \
            tls.check_context(context, client=False)
        check_unknown(params, 'listen')

    def _pop_target(self, params: dict[str, Any]) -> None:
        addr, addrs = params.pop('addr', None), params.pop('addrs', None)
        host, service = params.pop('host', None), params.pop('service', None)
        handle = params.pop('handle', None)
        mode = one_of('listen', [
            ('addr', addr), ('addrs', addrs),
            ('host/service', first_given(host, service)), ('handle', handle)])
        if mode != 'host/service':
            resolving.refuse_hints(params, 'service=')
        self.addrs: list[addresses.Address] | None = None
        self.query: tuple[str | None, int | str, resolving.Hints] | None = None
        self.handle: Any = None
        if mode == 'host/service':
            self._pop_query(params, host, service)
        elif mode == 'handle':
            self.handle = check_listening(handle)
        elif addrs is None:
            self.addrs = [addresses.parse_address(addr, 'addr')]
        else:
            self.addrs = addresses.parse_addresses(addrs, 'addrs')

    def _pop_query(self, params: dict[str, Any], host: str | None,
                   service: int | str) -> None:
        if service is None:
            raise TypeError(f'listen needs service= with host={host!r} '
                            '(0 picks a free port)')
        hints = resolving.pop_hints(params, socket.SOCK_STREAM)
        _refuse_datagrams(hints[1], 'socktype')
        self.query = (addresses.parse_host(host), addresses.parse_service(service),
                      resolving.passive(hints))


#: Socket types that have no listen()/accept(): receive-first datagrams bind a
#: `geventio.Socket` instead (``Socket(...).bind(service=..., socktype='dgram')``,
#: IO::Async::Socket's "Receive-first" pattern). Refused at the call when given
#: as the ``socktype=`` of a resolver-mode listen(); a plain address of such a
#: type is a candidate like any other, and fails with on_fail('listen', ...).
_UNLISTENABLE = (socket.SOCK_DGRAM, socket.SOCK_RAW)


def _refuse_datagrams(socktype: int, name: str) -> None:
    if socktype in _UNLISTENABLE:
        raise ValueError(
            f'{name}={socktype!r}: datagram sockets do not listen; bind a '
            "geventio.Socket instead (sock.bind(service=..., socktype='dgram'))")


def check_listening(sock: Any) -> Any:
    """``sock`` if it is a socket in listening state (``handle=``).

    Raises:
        TypeError: it has no ``fileno``/``getsockopt`` (not a socket object).
        ValueError: it is a socket that is not listening, or closed.
    """
    if not hasattr(sock, 'fileno') or not hasattr(sock, 'getsockopt'):
        raise TypeError(f'handle must be a listening socket, not {sock!r}')
    if not sockets.is_listening(sock, 'handle'):
        raise ValueError(f'handle {sock!r} is not listening (call listen() first)')
    return sock


def open_all(addrs: list[addresses.Address],
             plan: Plan) -> tuple[list[Any], list[tuple[str, OSError]]]:
    """One listening socket per address that works (docs/api.md section 6).

    In resolver mode, an address asking for port 0 after another one got a
    port gets that same port, so that "service=0" means one service on IPv4
    and IPv6 alike rather than two unrelated ports.

    Returns:
        ``(sockets, failures)``; failures are ``(syscall, err)`` in order.
    """
    v6only = plan.v6only
    if v6only is None and any(a.family == socket.AF_INET for a in addrs):
        v6only = True       # separate sockets: '::' must not take IPv4 too
    opened: list[Any] = []
    failures: list[tuple[str, OSError]] = []
    port: int | None = None
    for address in addrs:
        if plan.query is not None and port and address.family in _INET and \
                address.sockaddr[1] == 0:
            address = address._replace(sockaddr=(address.sockaddr[0], port)
                                       + tuple(address.sockaddr[2:]))
        sock = _open_one(address, plan, v6only, failures)
        if sock is not None:
            opened.append(sock)
            if port is None and sock.family in _INET:
                port = sock.getsockname()[1]
    return opened, failures


def _open_one(address: addresses.Address, plan: Plan, v6only: bool | None,
              failures: list[tuple[str, OSError]]) -> Any:
    """A listening socket for ``address``, or ``None`` when a step failed (told
    to ``on_fail`` with the socket, which is closed afterwards)."""
    family, socktype, protocol = addresses.combine(address, address)
    try:
        sock = sockets.new_socket(family, socktype, protocol)
    except OSError as err:
        _fail(plan, failures, 'socket', family, socktype, protocol, err)
        return None
    for syscall, call, args, report in _steps(sock, address, plan, v6only):
        try:
            call(*args)
        except OSError as err:
            _fail(plan, failures, syscall, sock, *report, err)
            sock.close()
            return None
    return sock


def _steps(sock: Any, address: addresses.Address, plan: Plan, v6only: bool | None
           ) -> list[tuple[str, Callable[..., Any], tuple[Any, ...], tuple[Any, ...]]]:
    """``(syscall, call, args, on_fail arguments after the socket)`` of each
    step after ``socket()``: the options in IO::Async's order, bind, listen."""
    steps: list[tuple[str, Callable[..., Any], tuple[Any, ...], tuple[Any, ...]]] = [
        ('sockopt', sock.setsockopt, (level, option, value), (option, value))
             for level, option, value in _options(sock.family, plan, v6only)]
    steps.append(('bind', sock.bind, (address.sockaddr,), (address.sockaddr,)))
    steps.append(('listen', sock.listen, (plan.queuesize,), (plan.queuesize,)))
    return steps


def _options(family: int, plan: Plan, v6only: bool | None) -> list[tuple[int, int, int]]:
    """``(level, option, value)`` to set before bind (see the module docstring)."""
    options = []
    if family in _INET and plan.reuseaddr:
        options.append((socket.SOL_SOCKET, socket.SO_REUSEADDR, 1))
    if family in _INET and plan.reuseport:
        options.append((socket.SOL_SOCKET, socket.SO_REUSEPORT, 1))
    if family == socket.AF_INET6 and v6only is not None:
        options.append((socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only)))
    return options


def _fail(plan: Plan, failures: list[tuple[str, OSError]], syscall: str,
          *args: Any) -> None:
    failures.append((syscall, args[-1]))
    _callbacks.call(plan.on_fail, syscall, *args)


def most_significant(failures: Iterable[tuple[str, OSError]]) -> tuple[str, OSError]:
    """``(syscall, err)`` for ListenError: listen over bind over sockopt over
    socket, the last of a kind; with no address at all, EADDRNOTAVAIL."""
    return sockets.most_significant(failures, ERROR_RANKING, (
        'socket', OSError(errno.EADDRNOTAVAIL, 'no address to listen on')))
