"""The keyword parameters of Listener: its constructor's, ``configure``'s and
``listen``'s signatures.

Not a public module. `geventio.Listener` derives from `ListenerBase`, which
names every keyword a Listener and its ``listen()`` take, with their types and
defaults, so that ``help()``, an IDE and a type checker see them (``_streambase``
says why they are written out one by one). ``listen()`` has several modes
(plain addresses, a resolved service, a listening socket); one keyword-only
signature shows them all in ``help()``, where a ``typing.overload`` per mode
would show only the implementation's. The modes stay exclusive at run time: a
call naming two targets, or none, raises ``TypeError``.
"""

import socket
from collections.abc import Iterable
from ssl import SSLContext
from typing import TYPE_CHECKING, Any

from .._params import NOT_GIVEN, not_none
from .._typing import AddressSpec, Continuation, EventHandler, FileLike
from .handle import Handle

if TYPE_CHECKING:
    from gevent.event import AsyncResult

__all__ = ['ListenerBase']


class ListenerBase(Handle):
    """The keywords of `geventio.Listener` (see the module docstring)."""

    __slots__ = ()

    if TYPE_CHECKING:
        def _listen(self, params: dict[str, Any]) -> 'AsyncResult[Any]': ...

    def __init__(self, *,
                 handle: FileLike | None = NOT_GIVEN,
                 handle_class: type[Handle] | None = None,
                 on_accept: EventHandler | None = None,
                 on_stream: EventHandler | None = None,
                 on_socket: EventHandler | None = None,
                 on_accept_error: EventHandler | None = None,
                 handle_constructor: EventHandler | None = None,
                 on_closed: EventHandler | None = None,
                 **events: EventHandler | None) -> None:
        """A listener; every keyword is described in the class docstring."""
        params: dict[str, Any] = events
        if handle is not NOT_GIVEN:
            params['handle'] = handle
        if handle_class is not None:
            params['handle_class'] = handle_class
        if on_accept is not None:
            params['on_accept'] = on_accept
        if on_stream is not None:
            params['on_stream'] = on_stream
        if on_socket is not None:
            params['on_socket'] = on_socket
        if on_accept_error is not None:
            params['on_accept_error'] = on_accept_error
        if handle_constructor is not None:
            params['handle_constructor'] = handle_constructor
        if on_closed is not None:
            params['on_closed'] = on_closed
        self._setup(params)

    def configure(self, *,  # type: ignore[override]
                  handle: FileLike | None = NOT_GIVEN,
                  handle_class: type[Handle] | None = NOT_GIVEN,
                  on_accept: EventHandler | None = NOT_GIVEN,
                  on_stream: EventHandler | None = NOT_GIVEN,
                  on_socket: EventHandler | None = NOT_GIVEN,
                  on_accept_error: EventHandler | None = NOT_GIVEN,
                  handle_constructor: EventHandler | None = NOT_GIVEN,
                  on_closed: EventHandler | None = NOT_GIVEN,
                  **events: EventHandler | None) -> None:
        """See `INotifier.configure`; a keyword not given keeps its value.

        A Listener has no ``read_handle``, ``write_handle`` or ``want_*``
        (its sockets are watched by its acceptors): it takes ``handle``,
        ``handle_class`` and its events, so this signature is narrower than
        Handle's.
        """
        params: dict[str, Any] = events
        if handle is not NOT_GIVEN:
            params['handle'] = handle
        if handle_class is not NOT_GIVEN:
            params['handle_class'] = handle_class
        if on_accept is not NOT_GIVEN:
            params['on_accept'] = on_accept
        if on_stream is not NOT_GIVEN:
            params['on_stream'] = on_stream
        if on_socket is not NOT_GIVEN:
            params['on_socket'] = on_socket
        if on_accept_error is not NOT_GIVEN:
            params['on_accept_error'] = on_accept_error
        if handle_constructor is not NOT_GIVEN:
            params['handle_constructor'] = handle_constructor
        if on_closed is not NOT_GIVEN:
            params['on_closed'] = on_closed
        self._configure(params)

    def listen(self, *,
               addr: AddressSpec | None = None,
               addrs: Iterable[AddressSpec] | None = None,
               host: str | None = None,
               service: int | str | None = None,
               handle: FileLike | None = None,
               family: int | str | None = None,
               socktype: int | str | None = None,
               protocol: int | None = None,
               flags: int | None = None,
               queuesize: int = socket.SOMAXCONN,
               reuseaddr: bool = True,
               reuseport: bool = False,
               v6only: bool | None = None,
               ssl: SSLContext | bool | None = None,
               on_listen: Continuation | None = None,
               on_listen_error: Continuation | None = None,
               on_fail: Continuation | None = None,
               on_resolve_error: Continuation | None = None) -> 'AsyncResult[Any]':
        """See `IListener.listen`.

        Returns:
            A future of this listener; it fails with `ListenError` or
            `ResolveError`. Plain-address and ``handle=`` modes finish (and call
            ``on_listen``/``on_listen_error``) before this returns.

        Raises:
            ValueError: not in a loop, already listening, or a bad value.
            TypeError: an unknown key, a missing or doubled target, a bad type.
        """
        params = not_none(addr=addr, addrs=addrs, host=host, service=service, handle=handle,
                          family=family, socktype=socktype, protocol=protocol, flags=flags,
                          queuesize=queuesize, reuseaddr=reuseaddr, reuseport=reuseport,
                          v6only=v6only, ssl=ssl, on_listen=on_listen,
                          on_listen_error=on_listen_error, on_fail=on_fail,
                          on_resolve_error=on_resolve_error)
        return self._listen(params)
