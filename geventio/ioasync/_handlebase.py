"""The keyword parameters of Handle: its constructor's and ``configure``'s signature.

Not a public module. `geventio.Handle` derives from `HandleBase`, which names
every keyword a Handle takes with its type and default, so that ``help()``, an
IDE and a type checker see them, and hands the ones given to the parameter
machinery (``_setup``, ``_configure``, which Handle and `Notifier` define).
``_streambase`` says why the keywords are written out one by one and what
that costs; `Stream`, `Socket` and `Listener` have bases of the same kind.
"""

from typing import Any

from .._params import NOT_GIVEN
from .._typing import EventHandler, FileLike
from .notifier import Notifier

__all__ = ['HandleBase']


class HandleBase(Notifier):
    """The keywords of `geventio.Handle` (see the module docstring)."""

    __slots__ = ()

    def __init__(self, *, handle: FileLike | None = NOT_GIVEN,
                 read_handle: FileLike | None = NOT_GIVEN,
                 write_handle: FileLike | None = NOT_GIVEN,
                 want_readready: bool = NOT_GIVEN, want_writeready: bool = False,
                 on_read_ready: EventHandler | None = None,
                 on_write_ready: EventHandler | None = None,
                 on_closed: EventHandler | None = None,
                 **events: EventHandler | None) -> None:
        """A handle; `Handle`'s docstring describes every keyword.
        ``want_readready`` not given: true once there is a read handle."""
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
        if on_read_ready is not None:
            params['on_read_ready'] = on_read_ready
        if on_write_ready is not None:
            params['on_write_ready'] = on_write_ready
        if on_closed is not None:
            params['on_closed'] = on_closed
        self._setup(params)

    # (Narrower than Notifier's, which takes only events: a subclass names its
    # own keywords with their types.)
    def configure(self, *,  # type: ignore[override]
                  handle: FileLike | None = NOT_GIVEN,
                  read_handle: FileLike | None = NOT_GIVEN,
                  write_handle: FileLike | None = NOT_GIVEN,
                  want_readready: bool = NOT_GIVEN, want_writeready: bool = NOT_GIVEN,
                  on_read_ready: EventHandler | None = NOT_GIVEN,
                  on_write_ready: EventHandler | None = NOT_GIVEN,
                  on_closed: EventHandler | None = NOT_GIVEN,
                  **events: EventHandler | None) -> None:
        """See `INotifier.configure`; a keyword not given keeps its value."""
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
        if on_read_ready is not NOT_GIVEN:
            params['on_read_ready'] = on_read_ready
        if on_write_ready is not NOT_GIVEN:
            params['on_write_ready'] = on_write_ready
        if on_closed is not NOT_GIVEN:
            params['on_closed'] = on_closed
        self._configure(params)

