"""Connector: outgoing connections, trying every candidate address in order.

The Python form of IO::Async::Connector (interface `IConnector`), reached through
``loop.connect()`` and ``handle.connect()`` (docs/api.md section 7). Targets are
resolved names (the gevent hub's resolver), plain addresses or a listening
socket; the result is the gevent socket, a `Stream`, a `Socket` or the caller's
handle. Extensions: a per-attempt ``timeout``, Happy Eyeballs and TLS.

Design: how candidates are tried
--------------------------------
IO::Async tries candidates strictly one after another, reporting each failed
syscall to ``on_fail``; when all fail, connect errors outrank bind errors,
which outrank socket errors, and the last of a kind wins. A dead first address
(an IPv6 route that silently drops packets) then costs a full connect timeout.
RFC 8305 section 5 (Happy Eyeballs v2) starts the next attempt after a short
delay (recommended 250 ms) without abandoning the previous one, takes the first
success and cancels the rest; section 4 interleaves address families so that
the second attempt uses the other family. asyncio does this only when asked
(``base_events.create_connection(happy_eyeballs_delay=, interleave=)`` over
``staggered.staggered_race``); trio always does it
(``_highlevel_open_tcp_stream.py``, ``DEFAULT_DELAY = 0.250``, interleaving
families, a failure starting the next attempt at once, ``close_all`` closing
the losers); Twisted's ``HostnameEndpoint`` always does (0.3 s); gevent's
``create_connection`` is sequential.

We keep IO::Async's behaviour by default (``happy_eyeballs_delay=None``), so
``on_fail`` order and error priority are exactly the original's. With a delay,
attempts are staggered as in RFC 8305: the next starts when the delay passes
or the previous attempt fails, whichever is first; resolved addresses are
interleaved by family (addresses given explicitly keep the caller's order);
the first connected socket wins and `_Attempts` is the one guard that closes
every other socket, whatever happened. TLS (``ssl=``) is negotiated only on the
winner: a failed handshake is an answer from the right server, so no other
candidate is tried.
"""

import collections
import errno
import socket
from collections.abc import Callable, Iterable
from ssl import SSLContext
from typing import Any, NamedTuple

import gevent
from gevent import Greenlet
from gevent.event import AsyncResult, Event
from zope.interface import implementer

from .. import _callbacks, addresses
from .._io import resolving, sockets, tls
from .._params import (check_seconds, check_unknown, first_given, not_none, one_of,
                       pop_continuations)
from .._typing import AddressSpec, Continuation, FileLike, SockAddr
from ..errors import ConnectError, ResolveError
from ..interfaces import IConnector, ILoop
from . import _handover
from .handle import Handle

__all__ = ['Connector']

#: Syscalls from least to most significant failure (IO::Async::Connector).
ERROR_RANKING = ('socket', 'bind', 'connect')

_CONTINUATIONS = ('on_connected', 'on_stream', 'on_socket', 'on_connect_error',
                  'on_resolve_error', 'on_fail')

class _Candidate(NamedTuple):
    """One attempt: the socket to make, where to bind it (or None) and the peer."""

    family: int
    socktype: int
    protocol: int
    local: SockAddr | None
    peer: SockAddr


@implementer(IConnector)
class Connector:
    """See `IConnector`.

    ``connect(...)`` takes the keywords of docs/api.md section 7: a target
    (``host`` + ``service`` with hints ``family``, ``socktype`` (default
    stream), ``protocol``, ``flags``; ``addr``/``addrs``; or ``peer``), a local
    side (``local_host``/``local_service`` or ``local_addr``/``local_addrs``),
    what to hand over (``on_connected``, ``on_stream``, ``on_socket`` or
    ``handle``), ``on_connect_error``, ``on_resolve_error``, ``on_fail``,
    ``timeout``, ``happy_eyeballs_delay``, ``ssl`` and ``server_hostname``.
    Bad parameters raise ``TypeError``/``ValueError`` at the call; everything
    else is reported through the continuations and the future.
    """

    #: Makes each candidate's socket: ``socket_factory(family, socktype,
    #: protocol)``. gevent's socket (docs/api.md section 1); replace it to set
    #: options on every socket or to observe attempts.
    socket_factory = staticmethod(sockets.new_socket)

    def __init__(self, loop: 'ILoop | None' = None) -> None:
        self._loop = loop

    def __repr__(self) -> str:
        return f'<Connector loop={self._loop!r}>'

    def connect(self, *,
                host: str | None = None,
                service: int | str | None = None,
                addr: AddressSpec | None = None,
                addrs: Iterable[AddressSpec] | None = None,
                peer: FileLike | None = None,
                local_host: str | None = None,
                local_service: int | str | None = None,
                local_addr: AddressSpec | None = None,
                local_addrs: Iterable[AddressSpec] | None = None,
                family: int | str | None = None,
                socktype: int | str | None = None,
                protocol: int | None = None,
                flags: int | None = None,
                handle: Handle | None = None,
                on_connected: Continuation | None = None,
                on_stream: Continuation | None = None,
                on_socket: Continuation | None = None,
                on_connect_error: Continuation | None = None,
                on_resolve_error: Continuation | None = None,
                on_fail: Continuation | None = None,
                timeout: float | None = None,
                happy_eyeballs_delay: float | None = None,
                ssl: SSLContext | bool | None = None,
                server_hostname: str | None = None) -> 'AsyncResult[Any]':
        """See `IConnector.connect`.

        Returns:
            A future of the connected object. It fails with `ResolveError`,
            `ConnectError` or, for a failed TLS handshake, the ``ssl.SSLError``.

        Raises:
            TypeError, ValueError: bad parameters (no target, two targets, an
                unknown key, a bad address...), before anything is attempted.
        """
        params = not_none(host=host, service=service, addr=addr, addrs=addrs, peer=peer,
                          local_host=local_host, local_service=local_service,
                          local_addr=local_addr, local_addrs=local_addrs, family=family,
                          socktype=socktype, protocol=protocol, flags=flags, handle=handle,
                          on_connected=on_connected, on_stream=on_stream, on_socket=on_socket,
                          on_connect_error=on_connect_error, on_resolve_error=on_resolve_error,
                          on_fail=on_fail, timeout=timeout,
                          happy_eyeballs_delay=happy_eyeballs_delay, ssl=ssl,
                          server_hostname=server_hostname)
        return self._start(params)

    def _start(self, params: dict[str, Any]) -> 'AsyncResult[Any]':
        """`connect` with the keywords given (``loop.connect`` comes here too)."""
        request = _Request(params)
        future: AsyncResult[Any] = AsyncResult()
        gevent.spawn(self._connect, request, future)
        return future

    def _connect(self, req: '_Request', future: 'AsyncResult[Any]') -> None:
        try:
            sock = self._establish(req)
        except _ReportedError as failed:
            future.set_exception(failed.error)
            return
        try:
            obj = self._wrap(req, sock)
        except Exception as err:      # e.g. handle= was closed meanwhile
            sock.close()
            future.set_exception(err)
            return
        self._deliver(req, obj, future)

    def _deliver(self, req: '_Request', obj: Any, future: 'AsyncResult[Any]') -> None:
        callback = getattr(req, req.callback_name)
        try:
            if callback is not None:
                callback(obj)
        except Exception as err:
            # docs/api.md section 1: report it and close what the callback was given.
            _callbacks.report(req.callback_name, obj)
            _callbacks.close_at_once(obj)
            future.set_exception(err)
        else:
            future.set(obj)

    def _establish(self, req: '_Request') -> Any:
        """The connected (and, with ``ssl``, secured) socket, or `_ReportedError`."""
        try:
            peers, locals_ = req.addresses()
        except ResolveError as err:
            _callbacks.call(req.on_resolve_error, err)
            raise _ReportedError(err) from None
        if req.happy_eyeballs_delay is not None and req.resolving:
            peers = _interleave(peers)
        attempts = _Attempts(self.socket_factory, req)
        try:
            sock = attempts.run(_candidates(peers, locals_), req.happy_eyeballs_delay)
        finally:
            attempts.close_losers()
        if sock is None:
            syscall, error = attempts.most_significant()
            _callbacks.call(req.on_connect_error, syscall, error)
            raise _ReportedError(ConnectError(syscall, error, attempts.failures))
        return self._secure(req, sock) if req.ssl is not None else sock

    def _secure(self, req: '_Request', sock: Any) -> Any:
        try:
            return tls.secure(sock, req.ssl,  # type: ignore[arg-type]  # (with ssl= only)
                              server_hostname=req.server_hostname, timeout=req.timeout)
        except OSError as err:
            _callbacks.call(req.on_connect_error, 'ssl', err)
            raise _ReportedError(err) from None

    def _wrap(self, req: '_Request', sock: Any) -> Any:
        """What the caller gets: its handle, a new Stream or Socket, or the socket."""
        if req.handle is not None:
            return _handover.hand_over(req.handle, sock)
        if req.callback_name in ('on_stream', 'on_socket'):
            return _handover.wrap(sock, req.callback_name)
        return sock


class _ReportedError(Exception):
    """Internal: the connect() future fails with ``error``, which the callbacks
    were already told."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


class _Attempts:
    """The attempts of one connect() and the guard that closes every loser."""

    def __init__(self, factory: Callable[[int, int, int], Any], req: '_Request') -> None:
        self._factory = factory
        self._req = req
        self.failures: list[tuple[str, OSError]] = []
        self._sockets: list[Any] = []
        self._greenlets: list[Greenlet[Any, Any]] = []
        self._winner: Any = None
        self._won = Event()

    def run(self, candidates: Iterable[_Candidate], delay: float | None) -> Any:
        """Start the attempts in order; each next one when the previous failed
        or ``delay`` seconds passed (``None``: only when it failed).

        Returns:
            The first connected socket, or ``None`` when every attempt failed.
        """
        for candidate in candidates:
            if self._won.is_set():
                break
            attempt = gevent.spawn(self._attempt, candidate)
            self._greenlets.append(attempt)
            either: list[Any] = [attempt, self._won]
            gevent.wait(either, timeout=delay, count=1)
        while not self._won.is_set():
            running = [glet for glet in self._greenlets if not glet.dead]
            if not running:
                break
            waiting: list[Any] = [*running, self._won]
            gevent.wait(waiting, count=1)
        return self._winner

    def _attempt(self, candidate: _Candidate) -> None:
        family, socktype, protocol, local, peer = candidate
        try:
            sock = self._factory(family, socktype, protocol)
        except OSError as err:
            self._failed(None, 'socket', family, socktype, protocol, err)
            return
        self._sockets.append(sock)
        if local is not None:
            try:
                sock.bind(local)
            except OSError as err:
                self._failed(sock, 'bind', sock, local, err)
                return
        if self._connect(sock, peer) and self._winner is None:
            self._winner = sock
            self._won.set()

    def _connect(self, sock: Any, peer: SockAddr) -> bool:
        try:
            sockets.call_with_timeout(sock, self._req.timeout, 'connect',
                                      sock.connect, peer)
        except OSError as err:
            self._failed(sock, 'connect', sock, peer, err)
            return False
        return True

    def _failed(self, sock: Any, syscall: str, *args: Any) -> None:
        """Record a failure, tell on_fail, then close the attempt's socket."""
        self.failures.append((syscall, args[-1]))
        _callbacks.call(self._req.on_fail, syscall, *args)
        if sock is not None:
            self._sockets.remove(sock)
            sock.close()

    def most_significant(self) -> tuple[str, OSError]:
        """``(syscall, err)`` to report; with no candidate at all, a connect
        failure with ``EADDRNOTAVAIL``."""
        return sockets.most_significant(self.failures, ERROR_RANKING, (
            'connect', OSError(errno.EADDRNOTAVAIL,
                               'no candidate address to connect to')))

    def close_losers(self) -> None:
        """Stop every attempt still running and close every socket but the winner."""
        gevent.killall([glet for glet in self._greenlets if not glet.dead])
        for sock in self._sockets:
            if sock is not self._winner:
                sock.close()
        self._sockets = []


def _candidates(peers: list[addresses.Address],
                locals_: list[addresses.Address] | None) -> list[_Candidate]:
    """Every (local, peer) pair whose family, type and protocol agree, in
    IO::Async's order: local addresses outermost, the peers within each;
    without local addresses, one candidate per peer."""
    result = []
    sides: list[addresses.Address | None] = [*locals_] if locals_ else [None]
    for local in sides:
        for peer in peers:
            if local is not None and not addresses.agrees(local, peer):
                continue
            family, socktype, protocol = addresses.combine(local or peer, peer)
            result.append(_Candidate(family, socktype, protocol,
                                     local and local.sockaddr, peer.sockaddr))
    return result


def _interleave(peers: list[addresses.Address]) -> list[addresses.Address]:
    """RFC 8305 section 4: alternate address families, the first one first."""
    by_family: dict[int, collections.deque[addresses.Address]] = {}
    for peer in peers:
        by_family.setdefault(peer.family, collections.deque()).append(peer)
    queues = list(by_family.values())
    result: list[addresses.Address] = []
    while any(queues):
        result.extend(queue.popleft() for queue in queues if queue)
    return result


class _Request:
    """The checked parameters of one connect() call (docs/api.md section 7)."""

    on_connected: Continuation | None
    on_stream: Continuation | None
    on_socket: Continuation | None
    on_connect_error: Continuation | None
    on_resolve_error: Continuation | None
    on_fail: Continuation | None

    def __init__(self, params: dict[str, Any]) -> None:
        params = dict(params)
        pop_continuations(self, params, _CONTINUATIONS)
        self._pop_target(params)
        self._pop_local(params)
        if not (self.resolving or self._local_query is not None):
            resolving.refuse_hints(params, 'host= or local_host=/local_service=')
        self.hints = resolving.pop_hints(params, socket.SOCK_STREAM)
        self._pop_result(params)
        self._pop_options(params)
        check_unknown(params, 'connect')

    def _pop_target(self, params: dict[str, Any]) -> None:
        host, service = params.pop('host', None), params.pop('service', None)
        addr, addrs, peer = (params.pop(name, None) for name in ('addr', 'addrs', 'peer'))
        mode = one_of('connect', [
            ('host/service', first_given(host, service)), ('addr', addr),
            ('addrs', addrs), ('peer', peer)])
        self.resolving, self.host = mode == 'host/service', None
        self._query: tuple[str | None, int | str] | None = None
        self._peers: list[addresses.Address] | None = None
        if self.resolving:
            if host is None or service is None:
                given = ('host', host) if service is None else ('service', service)
                raise TypeError('connect needs both host= and service=, not only '
                                f'{given[0]}={given[1]!r}')
            self.host = addresses.parse_host(host)
            self._query = (self.host, addresses.parse_service(service))
        elif mode == 'peer':
            self._peers = [_peer_address(peer)]
        else:
            self._peers = _parse_addrs(addr, addrs, 'addr')

    def _pop_local(self, params: dict[str, Any]) -> None:
        local_host = params.pop('local_host', None)
        local_service = params.pop('local_service', None)
        local_addr = params.pop('local_addr', None)
        local_addrs = params.pop('local_addrs', None)
        mode = one_of('connect', [
            ('local_host/local_service', first_given(local_host, local_service)),
            ('local_addr', local_addr), ('local_addrs', local_addrs)], required=False)
        self._local_query: tuple[str | None, int | str] | None = None
        self._locals: list[addresses.Address] | None = None
        if mode == 'local_host/local_service':
            self._local_query = (addresses.parse_host(local_host, 'local_host'),
                                 addresses.parse_service(local_service, 'local_service'))
        elif mode is not None:
            self._locals = _parse_addrs(local_addr, local_addrs, 'local_addr')

    def _pop_result(self, params: dict[str, Any]) -> None:
        self.handle = params.pop('handle', None)
        given = [name for name in ('on_connected', 'on_stream', 'on_socket')
                 if getattr(self, name) is not None]
        if len(given) > 1:
            raise TypeError(f'give one of on_connected, on_stream and on_socket, '
                            f'not {" and ".join(given)}')
        if self.handle is not None:
            if not isinstance(self.handle, Handle):
                raise TypeError(f'handle must be a geventio Handle, not {self.handle!r}')
            if given and given[0] != 'on_connected':
                raise TypeError(f'{given[0]} cannot be combined with handle=')
        self.callback_name = given[0] if given else 'on_connected'

    def _pop_options(self, params: dict[str, Any]) -> None:
        self.timeout = check_seconds(params.pop('timeout', None), 'timeout')
        self.happy_eyeballs_delay = check_seconds(
            params.pop('happy_eyeballs_delay', None), 'happy_eyeballs_delay', zero=True)
        context = params.pop('ssl', None)
        server_hostname = params.pop('server_hostname', None)
        self.ssl = None if context in (None, False) else tls.check_context(context)
        self.server_hostname: str | None = None
        if self.ssl is None:
            if server_hostname is not None:
                raise TypeError(f'server_hostname={server_hostname!r} needs ssl=')
            return
        if self.on_socket is not None or self._socktypes() - {0, socket.SOCK_STREAM}:
            raise ValueError('ssl= works on stream sockets only')
        self.server_hostname = addresses.parse_host(
            server_hostname if server_hostname is not None else self.host,
            'server_hostname')
        if self.ssl.check_hostname and not self.server_hostname:
            raise ValueError('ssl= checks the host name: give host= or server_hostname=')

    def _socktypes(self) -> set[int]:
        """The socket types asked for: the hint's and the given addresses'."""
        given = (self._peers or []) + (self._locals or [])
        return {self.hints[1]} | {address.socktype for address in given}

    def addresses(self) -> tuple[list[addresses.Address], list[addresses.Address] | None]:
        """The peer and local `Address` lists, resolving what needs it.

        Raises:
            ResolveError: a lookup failed.
        """
        if self.resolving:
            assert self._query is not None      # (set with resolving)
            peers = resolving.resolve(*self._query, self.hints)
        else:
            assert self._peers is not None      # (set without resolving)
            peers = self._peers
        locals_ = self._locals
        if self._local_query is not None:
            locals_ = resolving.resolve(*self._local_query,
                                        resolving.passive(self.hints))
        return peers, locals_


def _parse_addrs(addr: AddressSpec | None, addrs: Iterable[AddressSpec] | None,
                 name: str) -> list[addresses.Address]:
    """The `Address` list of ``addr=`` (one) or ``addrs=`` (a list)."""
    if addrs is None:
        assert addr is not None     # (one_of made sure of one)
        return [addresses.parse_address(addr, name)]
    return addresses.parse_addresses(addrs, name + 's')


def _peer_address(peer: Any) -> addresses.Address:
    """The `Address` of ``peer=``, a listening (or bound datagram) socket."""
    if not hasattr(peer, 'getsockname'):
        raise TypeError(f'peer must be a socket, not {peer!r}')
    listening = sockets.is_listening(peer, 'peer')
    if peer.type == socket.SOCK_STREAM and not listening:
        raise ValueError(f'peer {peer!r} is not listening')
    return addresses.Address(peer.family, peer.type, peer.proto, peer.getsockname())

