"""The keyword parameters of Socket: its constructor's and ``configure``'s signature.

Not a public module. `geventio.Socket` (docs/socket.md) derives from
`SocketBase`, which names every keyword it takes with its type and default, so
that ``help()``, an IDE and a type checker see them, and hands the ones given
to the parameter machinery of `Notifier` (``_setup``, ``_configure``); the
defaults of ``__init__`` are the real ones, those of ``configure`` are
`NOT_GIVEN` (``_streambase`` says why it is written out keyword by keyword).
"""

from typing import Any

from .._params import NOT_GIVEN
from .._typing import EventHandler, FileLike
from .handle import Handle

__all__ = ['DEFAULT_RECV_LEN', 'SocketBase']

#: Default of ``recv_len`` in bytes: above the largest UDP payload (65507),
#: as IO::Async::Socket's default.
DEFAULT_RECV_LEN = 65536


class SocketBase(Handle):
    """The keywords of `geventio.Socket` (see the module docstring)."""

    __slots__ = ()

    def __init__(self, *,
                 handle: FileLike | None = NOT_GIVEN,
                 read_handle: FileLike | None = NOT_GIVEN,
                 write_handle: FileLike | None = NOT_GIVEN,
                 want_readready: bool = NOT_GIVEN,
                 want_writeready: bool = False,
                 on_recv: EventHandler | None = None,
                 on_recv_error: EventHandler | None = None,
                 on_send_error: EventHandler | None = None,
                 on_outgoing_empty: EventHandler | None = None,
                 on_closed: EventHandler | None = None,
                 on_read_ready: EventHandler | None = None,
                 on_write_ready: EventHandler | None = None,
                 autoflush: bool = False,
                 recv_len: int = DEFAULT_RECV_LEN,
                 recv_all: bool = False,
                 send_all: bool = False,
                 **events: EventHandler | None) -> None:
        """A datagram socket; every keyword is described in the class docstring."""
        params: dict[str, Any] = events
        if handle is not NOT_GIVEN:
            params['handle'] = handle
        if read_handle is not NOT_GIVEN:
            params['read_handle'] = read_handle
        if write_handle is not NOT_GIVEN:
            params['write_handle'] = write_handle
        if want_readready is not NOT_GIVEN:
            params['want_readready'] = want_readready
        if want_writeready is not False:
            params['want_writeready'] = want_writeready
        if on_recv is not None:
            params['on_recv'] = on_recv
        if on_recv_error is not None:
            params['on_recv_error'] = on_recv_error
        if on_send_error is not None:
            params['on_send_error'] = on_send_error
        if on_outgoing_empty is not None:
            params['on_outgoing_empty'] = on_outgoing_empty
        if on_closed is not None:
            params['on_closed'] = on_closed
        if on_read_ready is not None:
            params['on_read_ready'] = on_read_ready
        if on_write_ready is not None:
            params['on_write_ready'] = on_write_ready
        if autoflush is not False:
            params['autoflush'] = autoflush
        if recv_len is not DEFAULT_RECV_LEN:
            params['recv_len'] = recv_len
        if recv_all is not False:
            params['recv_all'] = recv_all
        if send_all is not False:
            params['send_all'] = send_all
        self._setup(params)

    # (Narrower than Notifier's and Handle's: it names its own keywords.)
    def configure(self, *,  # type: ignore[override]
                  handle: FileLike | None = NOT_GIVEN,
                  read_handle: FileLike | None = NOT_GIVEN,
                  write_handle: FileLike | None = NOT_GIVEN,
                  want_readready: bool = NOT_GIVEN,
                  want_writeready: bool = NOT_GIVEN,
                  on_recv: EventHandler | None = NOT_GIVEN,
                  on_recv_error: EventHandler | None = NOT_GIVEN,
                  on_send_error: EventHandler | None = NOT_GIVEN,
                  on_outgoing_empty: EventHandler | None = NOT_GIVEN,
                  on_closed: EventHandler | None = NOT_GIVEN,
                  on_read_ready: EventHandler | None = NOT_GIVEN,
                  on_write_ready: EventHandler | None = NOT_GIVEN,
                  autoflush: bool = NOT_GIVEN,
                  recv_len: int = NOT_GIVEN,
                  recv_all: bool = NOT_GIVEN,
                  send_all: bool = NOT_GIVEN,
                  **events: EventHandler | None) -> None:
        """See `INotifier.configure`; a keyword not given keeps its value.

        Raises:
            TypeError: unknown keyword, a flag that is not a bool, a
                ``recv_len`` that is not an int, or a handle that is not a
                socket (no ``recvfrom``/``sendto``).
            ValueError: ``recv_len <= 0``.
        """
        params: dict[str, Any] = events
        if handle is not NOT_GIVEN:
            params['handle'] = handle
        if read_handle is not NOT_GIVEN:
            params['read_handle'] = read_handle
        if write_handle is not NOT_GIVEN:
            params['write_handle'] = write_handle
        if want_readready is not NOT_GIVEN:
            params['want_readready'] = want_readready
        if want_writeready is not NOT_GIVEN:
            params['want_writeready'] = want_writeready
        if on_recv is not NOT_GIVEN:
            params['on_recv'] = on_recv
        if on_recv_error is not NOT_GIVEN:
            params['on_recv_error'] = on_recv_error
        if on_send_error is not NOT_GIVEN:
            params['on_send_error'] = on_send_error
        if on_outgoing_empty is not NOT_GIVEN:
            params['on_outgoing_empty'] = on_outgoing_empty
        if on_closed is not NOT_GIVEN:
            params['on_closed'] = on_closed
        if on_read_ready is not NOT_GIVEN:
            params['on_read_ready'] = on_read_ready
        if on_write_ready is not NOT_GIVEN:
            params['on_write_ready'] = on_write_ready
        if autoflush is not NOT_GIVEN:
            params['autoflush'] = autoflush
        if recv_len is not NOT_GIVEN:
            params['recv_len'] = recv_len
        if recv_all is not NOT_GIVEN:
            params['recv_all'] = recv_all
        if send_all is not NOT_GIVEN:
            params['send_all'] = send_all
        self._configure(params)
