"""Listener: accepts connections on one or more listening sockets.

The Python form of IO::Async::Listener (interface `IListener`), reached
through ``loop.listen()`` or used directly (docs/listener-connector.md). Each
accepted socket is handed over as the gevent socket (``on_accept``) or wrapped
in a `Stream` or `Socket` (``on_stream``/``on_socket``); with ``ssl=`` each is
secured first on a greenlet of its own. Making the listening sockets is `_listening`'s job
and the keyword signatures (``Listener(...)``, ``configure``, ``listen``) are
`_listenerbase`'s;
each listening socket accepts on an `_acceptor.Acceptor` greenlet of its own,
which also applies the policy for accept errors.

Design: TLS handshakes
----------------------
With ``ssl=`` each accepted client is held, on a greenlet of its own, until its
handshake is done: a client that connects and sends nothing pins a descriptor
for as long as the handshake may take. asyncio allows 60 s
(``constants.SSL_HANDSHAKE_TIMEOUT``) and no limit on how many are in progress;
nginx's stream module allows 60 s too (``ssl_handshake_timeout``). We
allow `Listener.ssl_handshake_timeout` (10 s: a handshake on loopback or across
a continent takes milliseconds to a second) and at most
`Listener.max_handshakes` at once; at the cap the listener stops accepting until
a handshake finishes, so further clients wait in the kernel's accept queue
(and are served in turn) instead of each taking a descriptor.
"""

import errno
from collections.abc import Callable, Iterable
from ssl import SSLContext
from typing import Any, ClassVar

import gevent
from gevent import Greenlet
from gevent.event import AsyncResult
from zope.interface import implementer

from .. import _callbacks
from .._io import resolving, sockets, tls
from .._params import check_callables, one_of
from .._typing import Continuation, EventHandler
from ..errors import ListenError, ResolveError
from ..interfaces import IListener
from . import _handover, _listening
from ._acceptor import CAPACITY_WARN_INTERVAL, Acceptor
from ._listenerbase import ListenerBase
from .handle import _MISSING, Handle

__all__ = ['Listener', 'listen_from_loop']

_ACCEPT_EVENTS = ('on_accept', 'on_stream', 'on_socket')

# Keys loop.listen() gives to the new Listener rather than to listen(); the
# continuations among them get no listener argument there.
_LOOP_CONTINUATIONS = _ACCEPT_EVENTS + ('on_accept_error',)
_LOOP_EVENTS = _LOOP_CONTINUATIONS + ('handle_constructor',)
_LOOP_KEYS = _LOOP_EVENTS + ('handle_class',)


@implementer(IListener)
class Listener(ListenerBase):
    """See `IListener`.

    Parameters:
        handle: a socket that is already listening (the same as
            ``listen(handle=...)``, allowed before the listener is in a loop).
        handle_class: the class made for ``on_stream``/``on_socket`` (default
            `Stream` / `Socket`), called with no arguments.

    Events:
        on_accept(listener, sock), on_stream(listener, stream),
        on_socket(listener, socket): exactly one; setting one clears the
            others. A Stream/Socket is not yet in a loop: the callback adds it
            (to the loop or as a child of the listener). A callback that
            raises is logged and the new connection is closed; the listener
            goes on.
        on_accept_error(listener, sock, err): ``sock`` is the listening socket.
            See the module's design comment; also told of a failed TLS
            handshake (an ``ssl.SSLError``, ``OSError`` or ``TimeoutError``),
            which never closes the listener. Without a handler, a back-off for
            lack of capacity is logged at WARNING (one line per back-off, at
            most one per `CAPACITY_WARN_INTERVAL`).
        handle_constructor(listener): returns the handle to wrap each new
            connection in (overrides ``handle_class``).
        on_closed(listener): once, when closed.
    """

    _EVENTS: ClassVar[frozenset[str]] = Handle._EVENTS | set(_ACCEPT_EVENTS) | {
        'on_accept_error', 'handle_constructor'}

    #: Seconds accepting pauses after the first capacity error; doubles on each
    #: further one (gevent BaseServer.min_delay).
    min_delay = 0.01

    #: Longest pause in seconds between accept attempts while errors go on
    #: (gevent BaseServer.max_delay).
    max_delay = 1.0

    #: Connections accepted per wake-up before other greenlets get a turn
    #: (gevent BaseServer.max_accept).
    max_accept = 100

    #: Seconds an accepted client has to finish its TLS handshake with ``ssl=``;
    #: a silent client is dropped. 10 s: real handshakes take milliseconds to
    #: a second, and each one waiting holds a descriptor (asyncio allows 60 s).
    #: Set it on a subclass or an instance.
    ssl_handshake_timeout = 10.0

    #: TLS handshakes in progress at once with ``ssl=``; at the cap, accepting
    #: pauses until one finishes and new clients wait in the kernel's accept
    #: queue. 256: at about a millisecond of CPU per handshake that is a
    #: quarter of a second of work queued, while clients that connect and stay
    #: silent can pin no more than 256 descriptors per listener.
    max_handshakes = 256

    def _setup(self, params: dict[str, Any]) -> None:
        self._accept_mode: str | None = None
        self._handle_class: type[Handle] | None = None
        self._sockets: list[Any] = []
        self._acceptors: list[Acceptor] = []
        self._ssl: SSLContext | None = None
        self._handshakes: set[Greenlet[Any, Any]] = set()
        self._capacity_warnings = _callbacks.WarningLimit(CAPACITY_WARN_INTERVAL)
        super()._setup(params)

    def __repr__(self) -> str:
        fds = [sock.fileno() for sock in self._sockets]
        names = ', '.join(str(sockets.sockname(sock)) for sock in self._sockets)
        state = 'closed' if self._closed else 'listening' if self._sockets else 'idle'
        return f'<{type(self).__name__} fd={fds} [{names}] {state}>'

    # -- configuration ---------------------------------------------------------

    def _configure(self, params: dict[str, Any]) -> None:
        handle, handle_class = self._pop_own(params)
        mode = one_of('Listener', [(name, params.get(name)) for name in _ACCEPT_EVENTS],
                      required=False)
        super()._configure(params)
        if mode is not None:
            self._choose_accept_event(mode)
        if handle_class is not _MISSING:
            self._handle_class = handle_class
        if handle is not _MISSING:
            self._adopt([handle])

    def _pop_own(self, params: dict[str, Any]) -> tuple[Any, Any]:
        """Pop and check ``handle`` and ``handle_class``; refuse the Handle
        parameters a Listener does not have."""
        for name in ('read_handle', 'write_handle', 'want_readready', 'want_writeready'):
            if name in params:
                raise TypeError(f'Listener: unknown parameter {name!r}')
        handle = params.pop('handle', _MISSING)
        if handle is not _MISSING:
            if self.is_listening:
                raise ValueError(f'{self!r} is already listening; close it first')
            _listening.check_listening(handle)
        handle_class = params.pop('handle_class', _MISSING)
        if handle_class not in (_MISSING, None) and not isinstance(handle_class, type):
            raise TypeError(f'handle_class must be a class, not {handle_class!r}')
        return handle, handle_class

    def _choose_accept_event(self, name: str) -> None:
        self._accept_mode = name
        for other in _ACCEPT_EVENTS:
            if other != name:
                self._event_keywords.pop(other, None)
            self._bind_event(other)

    def _bind_event(self, name: str) -> Callable[..., Any] | None:
        handler = super()._bind_event(name)
        if name in _ACCEPT_EVENTS and self._accept_mode not in (None, name):
            handler = self._handlers[name] = None    # cleared, even if a method exists
        return handler

    def _accept_event(self) -> str | None:
        """The one accept event in use, or ``None`` if none or several."""
        if self._accept_mode is not None:
            return self._accept_mode
        found = [name for name in _ACCEPT_EVENTS if self.can_event(name)]
        return found[0] if len(found) == 1 else None

    def _check_addable(self) -> None:
        super()._check_addable()
        if self._accept_event() is None:
            raise TypeError('Listener needs exactly one of on_accept, on_stream '
                            'and on_socket before it can be added to a loop')

    # -- properties ------------------------------------------------------------

    @property
    def sockets(self) -> list[Any]:
        """See `IListener.sockets`."""
        return list(self._sockets)

    @property
    def sockname(self) -> Any:
        """See `IListener.sockname`; ``None`` when not listening."""
        return self._sockets[0].getsockname() if self._sockets else None

    @property
    def family(self) -> int | None:
        """See `IListener.family`; ``None`` when not listening."""
        return self._sockets[0].family if self._sockets else None

    @property
    def socktype(self) -> int | None:
        """See `IListener.socktype`; ``None`` when not listening."""
        return self._sockets[0].type if self._sockets else None

    @property
    def is_listening(self) -> bool:
        """See `IListener.is_listening`."""
        return bool(self._sockets) and not self._closed

    @property
    def read_handle(self) -> Any:
        """The first listening socket, or ``None``."""
        return self._sockets[0] if self._sockets else None

    @property
    def read_fileno(self) -> int | None:
        """File descriptor of the first listening socket, or ``None``."""
        return self._sockets[0].fileno() if self._sockets else None

    # -- listening -------------------------------------------------------------

    def _listen(self, params: dict[str, Any]) -> 'AsyncResult[Any]':
        """`listen` with the keywords given (their values not ``None``)."""
        if self._loop is None:
            raise ValueError(f'{self!r} must be in a loop to listen')
        if self._sockets:
            raise ValueError(f'{self!r} is already listening')
        plan = _listening.Plan(params)
        future: AsyncResult[Listener] = AsyncResult()
        if plan.query is None:
            self._open(plan, plan.addrs, future)
        else:
            gevent.spawn(self._resolve_and_open, plan, future)
        return future

    def _resolve_and_open(self, plan: _listening.Plan,
                          future: 'AsyncResult[Listener]') -> None:
        try:
            assert plan.query is not None   # (resolver mode)
            addrs = resolving.resolve(*plan.query)
        except ResolveError as err:
            _callbacks.call(plan.on_resolve_error, err)
            future.set_exception(err)
            return
        self._open(plan, addrs, future)

    def _open(self, plan: _listening.Plan, addrs: Any,
              future: 'AsyncResult[Listener]') -> None:
        if self._loop is None:        # closed or removed while resolving
            future.set_exception(ListenError('listen', OSError(
                errno.ECANCELED, f'{self!r} left its loop before listening')))
            return
        opened: list[Any]
        failures: list[tuple[str, OSError]]
        if plan.handle is not None:
            opened, failures = [plan.handle], []
        else:
            opened, failures = _listening.open_all(addrs, plan)
        if not opened:
            syscall, err = _listening.most_significant(failures)
            _callbacks.call(plan.on_listen_error, syscall, err)
            future.set_exception(ListenError(syscall, err))
            return
        self._ssl = plan.ssl
        self._adopt(opened)
        _callbacks.call(plan.on_listen, self)
        future.set(self)

    def _adopt(self, listening: Iterable[Any]) -> None:
        # (Each socket's Acceptor, a Handle, makes it non-blocking before any accept.)
        self._sockets = list(listening)
        self._closed = False
        if self._loop is not None:
            self._start_accepting()

    # -- accepting ---------------------------------------------------------------

    def _start_watching(self) -> None:
        super()._start_watching()
        self._start_accepting()

    def _stop_watching(self) -> None:
        self._stop_accepting()
        super()._stop_watching()

    def _start_accepting(self) -> None:
        if self._closed or self._acceptors or self._loop is None:
            return
        self._acceptors = [Acceptor(self, sock, self._loop) for sock in self._sockets]

    def _stop_accepting(self) -> None:
        acceptors, self._acceptors = self._acceptors, []
        for acceptor in acceptors:
            acceptor.stop()

    def _tell_accept_error(self, sock: Any, err: BaseException) -> None:
        try:
            self.maybe_invoke_event('on_accept_error', sock, err)
        except Exception:
            self._callback_failed('on_accept_error')

    def _close_after_error(self) -> None:
        # A raising on_accept_error closes the listener as close() does:
        # accepted children stay open.
        self.close()

    def _accepted(self, sock: Any, client: Any) -> None:
        client = sockets.as_gevent_socket(client)
        if self._ssl is None:
            self._deliver(client)
            return
        handshake = gevent.spawn(self._secure, sock, client)
        self._handshakes.add(handshake)
        handshake.rawlink(self._handshake_done)
        if len(self._handshakes) >= self.max_handshakes:
            for acceptor in self._acceptors:
                acceptor.pause()

    def _handshake_done(self, handshake: 'Greenlet[Any, Any]') -> None:
        # Runs in the hub.
        self._handshakes.discard(handshake)
        if len(self._handshakes) < self.max_handshakes and not self._closed:
            for acceptor in self._acceptors:
                acceptor.resume()

    def _secure(self, sock: Any, client: Any) -> None:
        """Wrap and handshake one client on its own greenlet, then deliver it."""
        assert self._ssl is not None    # (only with ssl=)
        try:
            tls_sock = tls.secure(client, self._ssl, server_side=True,
                                  timeout=self.ssl_handshake_timeout)
        except OSError as err:
            _callbacks.log.debug('TLS handshake on %r failed: %s', self, err)
            self._tell_accept_error(sock, err)
            return
        if self._closed:
            tls_sock.close()
        else:
            self._deliver(tls_sock)

    def _deliver(self, client: Any) -> None:
        # (Never None here: _check_addable made sure of one accept event.)
        event: str = self._accept_event()  # type: ignore[assignment]
        obj = client
        try:
            if event != 'on_accept':
                obj = self._new_handle(event, client)
            self.invoke_event(event, obj)
        except Exception:
            _callbacks.report(f'{event} of {self!r}', obj)
            _callbacks.close_at_once(obj)
            if obj is not client:
                client.close()

    def _new_handle(self, event: str, client: Any) -> Any:
        """``client`` in the handle ``handle_constructor``, ``handle_class`` or
        ``event`` calls for."""
        if self.can_event('handle_constructor'):
            obj = self.invoke_event('handle_constructor')
        elif self._handle_class is not None:
            obj = self._handle_class()
        else:
            return _handover.wrap(client, event)
        return _handover.hand_over(obj, client)

    # -- closing -----------------------------------------------------------------

    def close(self) -> None:
        """See `IHandle.close`: stop accepting, then close the listening sockets.

        Accepted children are detached first and stay open in the loop;
        clients still in their TLS handshake are dropped.
        """
        if self._closed:
            return
        self._stop_accepting()
        loop = self._loop
        for child in list(self._children):
            self.remove_child(child)
            if loop is not None:
                loop.add(child)
        super().close()

    def _closed_hook(self) -> None:
        for handshake in list(self._handshakes):
            handshake.kill(block=False)
        listening, self._sockets = self._sockets, []
        for sock in listening:
            sock.close()
        self._ssl = None


def listen_from_loop(loop: Any, params: dict[str, Any]) -> 'AsyncResult[Listener]':
    """``Loop.listen``: a new Listener in ``loop``, listening; a future of it.

    The accept callbacks and ``on_accept_error`` are continuations here and
    get no listener argument (docs/api.md section 6). A listener whose listen()
    fails is closed again.
    """
    params = dict(params)
    own = {name: params.pop(name) for name in _LOOP_KEYS if name in params}
    check_callables(own, _LOOP_EVENTS)
    for name in _LOOP_CONTINUATIONS:
        if own.get(name) is not None:
            own[name] = _dropping_listener(own[name])
    listener = Listener(**own)
    loop.add(listener)
    try:
        future = listener.listen(**params)
    except Exception:
        listener.close()
        raise
    if future.ready():
        _close_unless_listening(listener, future)
    else:
        future.rawlink(lambda done: _close_unless_listening(listener, done))
    return future


def _close_unless_listening(listener: Listener, future: 'AsyncResult[Listener]') -> None:
    if not future.successful():
        listener.close()


def _dropping_listener(callback: Continuation) -> EventHandler:
    """``callback`` called without the listener argument (a continuation)."""
    def event(_listener: Listener, *args: Any) -> object:
        return callback(*args)
    return event
