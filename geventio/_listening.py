"""Making listening sockets for `Listener.listen`: parameters, one socket per
address, and the failure to report when every address failed.

Not a public module; the steps and their ``on_fail`` shapes are
IO::Async::Listener's (socket, sockopt, bind, listen), see API.md section 6.
"""

import errno
import socket

import gevent.socket

from . import _sockets, _tls, addresses

__all__ = []

#: Syscalls from least to most significant failure (API.md section 6).
ERROR_RANKING = ('socket', 'sockopt', 'bind', 'listen')

_CONTINUATIONS = ('on_listen', 'on_listen_error', 'on_fail', 'on_resolve_error')

_HINTS = frozenset({'family', 'socktype', 'protocol', 'flags'})

_INET = (socket.AF_INET, socket.AF_INET6)


class Plan:
    """The checked parameters of one listen() call.

    Attributes:
        addrs: `addresses.Address` list in plain-address mode, else ``None``.
        query: ``(host, service, hints)`` for the resolver, else ``None``.
        handle: the listening socket in existing-socket mode, else ``None``.
    """

    def __init__(self, params):
        params = dict(params)
        _sockets.check_callables(params, _CONTINUATIONS)
        for name in _CONTINUATIONS:
            setattr(self, name, params.pop(name, None))
        self._pop_target(params)
        self.queuesize = _sockets.check_int(
            params.pop('queuesize', socket.SOMAXCONN), 'queuesize')
        if self.queuesize < 0:
            raise ValueError(f'queuesize must not be negative, not {self.queuesize!r}')
        self.reuseaddr = _flag(params.pop('reuseaddr', True), 'reuseaddr')
        self.reuseport = _flag(params.pop('reuseport', False), 'reuseport')
        v6only = params.pop('v6only', None)
        self.v6only = None if v6only is None else _flag(v6only, 'v6only')
        tls = params.pop('ssl', None)
        self.ssl = None if tls in (None, False) else _tls.check_context(tls, client=False)
        _sockets.check_unknown(params, 'listen')

    def _pop_target(self, params):
        addr, addrs = params.pop('addr', None), params.pop('addrs', None)
        host, service = params.pop('host', None), params.pop('service', None)
        handle = params.pop('handle', None)
        mode = _sockets.one_of('listen', [
            ('addr', addr), ('addrs', addrs),
            ('host/service', _sockets.first_given(host, service)), ('handle', handle)])
        hints = _HINTS & params.keys()
        if hints and mode != 'host/service':
            raise TypeError(f'{sorted(hints)[0]} is a resolver hint: it needs service=')
        self.addrs = self.query = self.handle = None
        if mode == 'host/service':
            self._pop_query(params, host, service)
        elif mode == 'handle':
            self.handle = check_listening(handle)
        elif addrs is None:
            self.addrs = [addresses.parse_address(addr, 'addr')]
        else:
            self.addrs = addresses.parse_addresses(addrs, 'addrs')

    def _pop_query(self, params, host, service):
        if service is None:
            raise TypeError('listen needs service= with host= (0 picks a free port)')
        family, socktype, protocol, flags = _sockets.pop_hints(params, socket.SOCK_STREAM)
        self.query = (addresses.parse_host(host), addresses.parse_service(service),
                      (family, socktype, protocol, flags | socket.AI_PASSIVE))


def _flag(value, name):
    if not isinstance(value, (bool, int)):
        raise TypeError(f'{name} must be a bool, not {value!r}')
    return bool(value)


def check_listening(sock, name='handle'):
    """``sock`` if it is a socket in listening state.

    Raises:
        TypeError: it has no ``fileno``/``getsockopt`` (not a socket object).
        ValueError: it is a socket that is not listening, or closed.
    """
    if not hasattr(sock, 'fileno') or not hasattr(sock, 'getsockopt'):
        raise TypeError(f'{name} must be a listening socket, not {sock!r}')
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError as err:
        raise ValueError(f'{name} {sock!r} is not a usable socket: {err}') from None
    if not listening:
        raise ValueError(f'{name} {sock!r} is not listening (call listen() first)')
    return sock


def open_all(addrs, plan):
    """One listening socket per address that works (API.md section 6).

    In resolver mode, an address asking for port 0 after another one got a
    port gets that same port, so that "service=0" means one service on IPv4
    and IPv6 alike rather than two unrelated ports.

    Returns:
        ``(sockets, failures)``; failures are ``(syscall, err)`` in order.
    """
    v6only = plan.v6only
    if v6only is None and any(a.family == socket.AF_INET for a in addrs):
        v6only = True       # separate sockets: '::' must not take IPv4 too
    sockets, failures, port = [], [], None
    for address in addrs:
        if plan.query is not None and port and address.family in _INET and \
                address.sockaddr[1] == 0:
            address = address._replace(sockaddr=(address.sockaddr[0], port)
                                       + tuple(address.sockaddr[2:]))
        sock = _open_one(address, plan, v6only, failures)
        if sock is not None:
            sockets.append(sock)
            if port is None and sock.family in _INET:
                port = sock.getsockname()[1]
    return sockets, failures


def _open_one(address, plan, v6only, failures):
    family, socktype, protocol = addresses.combine(address, address)
    try:
        sock = gevent.socket.socket(family, socktype, protocol)
    except OSError as err:
        _fail(plan, failures, 'socket', family, socktype, protocol, err)
        return None
    try:
        for level, option, value in _options(family, plan, v6only):
            _step(plan, failures, 'sockopt', sock.setsockopt, (level, option, value),
                  (sock, option, value))
        _step(plan, failures, 'bind', sock.bind, (address.sockaddr,),
              (sock, address.sockaddr))
        _step(plan, failures, 'listen', sock.listen, (plan.queuesize,),
              (sock, plan.queuesize))
    except _Abandon:
        sock.close()
        return None
    return sock


def _options(family, plan, v6only):
    """``(level, option, value)`` to set before bind, in IO::Async's order."""
    options = []
    if family in _INET and plan.reuseaddr:
        options.append((socket.SOL_SOCKET, socket.SO_REUSEADDR, 1))
    if family in _INET and plan.reuseport:
        options.append((socket.SOL_SOCKET, socket.SO_REUSEPORT, 1))
    if family == socket.AF_INET6 and v6only is not None:
        options.append((socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only)))
    return options


class _Abandon(Exception):
    """Internal: a step failed; this address is given up."""


def _step(plan, failures, syscall, call, args, report):
    try:
        call(*args)
    except OSError as err:
        _fail(plan, failures, syscall, *report, err)
        raise _Abandon from None


def _fail(plan, failures, syscall, *args):
    failures.append((syscall, args[-1]))
    _sockets.call(plan.on_fail, syscall, *args)


def most_significant(failures):
    """``(syscall, err)`` for ListenError: listen over bind over sockopt over
    socket, the last of a kind; with no address at all, EADDRNOTAVAIL."""
    return _sockets.most_significant(failures, ERROR_RANKING) or (
        'socket', OSError(errno.EADDRNOTAVAIL, 'no address to listen on'))


def as_gevent_socket(sock):
    """An accepted socket as a gevent socket (API.md section 1); a stdlib one
    (from a stdlib listening socket) hands its descriptor over."""
    if isinstance(sock, gevent.socket.socket):
        return sock
    return gevent.socket.socket(sock.family, sock.type, sock.proto,
                                fileno=sock.detach())


def sockname(sock):
    """``getsockname()``, or ``'?'`` for a socket that cannot tell (closed)."""
    try:
        return sock.getsockname()
    except OSError:
        return '?'
