"""Handle: one or two file handles watched for readiness on a greenlet of their own.

The Python form of IO::Async::Handle (interface `IHandle`), and the engine under
every geventio object that moves bytes.

Design: how a handle waits
--------------------------
Each handle in a loop owns one greenlet (per-handle greenlets keep
``threading.local`` per connection under ``monkey.patch_all()``) and two libev io
watchers made with ``hub.loop.io(fd, events)``. gevent lets only one greenlet wait
on a socket's own watcher per direction, and its cooperative ``recv`` first makes a
call that fails with EAGAIN; neither fits a handle that reads only after readiness.
So the watchers here are the handle's own, started once and left running while
the handle wants readiness; their callbacks run in the hub and switch straight
into the parked handle greenlet with ``READ`` or ``WRITE``. When the greenlet is
busy elsewhere (a callback blocked on something cooperative), the callback stops
its watcher instead, and the greenlet restarts it before it parks again, so a
level-triggered watcher never spins. The greenlet parks with a bare
``hub.switch()``. Measured on the echo benchmark (docs/performance.md) against
``hub.wait(watcher)`` per read, ``gevent.socket.wait_read`` and gevent's own
``sock.recv``, this costs the fewest switches and calls per message.

A greenlet that never woke has no stack: an idle connection costs the watchers
and the objects, nothing more.

A socket that geventio accepted or connected itself and wraps for the user
(``on_stream``/``on_socket``) is a ``gevent.socket.socket``, which made two io
watchers of its own that only its cooperative ``recv``/``send`` use. Nobody
calls those on a socket the handle alone drives, so the handle *borrows* them
(`_lender`) instead of making its own: an allocation and about 130 bytes less
per connection, two once a send has blocked. A borrowed watcher is stopped,
never closed, when the handle lets go of it; the socket closes it when it
closes. A handle passed in by the user keeps watchers of its own, as the user
may still call gevent's methods on that socket.

Design: running on a greenlet the caller already has
----------------------------------------------------
A gevent ``StreamServer`` spawns one greenlet per connection and closes the
socket when that greenlet's handler returns (``geventio.server``). A handle
wrapping that socket must keep the handler greenlet busy until it closes, and
a second greenlet of its own would double the switches and the memory per
connection. So the handler greenlet can *host* the handle: `_serve_here`
makes the calling greenlet the handle's (``_glet``) while adding it to a loop
and then runs the very loop a handle's own greenlet runs (`_run`), parked the
same bare way; it returns once the handle closes or leaves the loop. The
only other difference is the ending: a parked own greenlet is ended at once
by re-parenting it to whoever closes the handle, which is safe because it has
nothing left to do; a host greenlet goes on to run its caller's code after
``_run`` returns, so it is switched to from the hub instead (``_STOP`` through
``loop.run_callback``) and finishes there, as a greenlet woken by any gevent
event does. Handles added to a loop the usual way are untouched by this.
"""

import socket
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
import gevent.socket
from greenlet import getcurrent, greenlet
from gevent.event import AsyncResult
from zope.interface import implementer

from .. import _callbacks, addresses
from .._io import resolving, sockets
from .._io.nonblocking import (close_quietly, is_tls, set_nonblocking,
                               shutdown_quietly)
from .._params import check_flag, check_unknown
from .._typing import AddressSpec, FileLike
from ..interfaces import IHandle
from ._handlebase import HandleBase
from .notifier import Notifier

__all__ = ['Handle']

_switch = greenlet.switch

# What a watcher callback passes to the parked greenlet.
_READ = 'read'
_WRITE = 'write'
_STOP = 'stop'

_MISSING: Any = object()


@implementer(IHandle)
class Handle(HandleBase):
    """See `IHandle`.

    Parameters:
        handle: anything with ``fileno()`` (socket, pipe, tty), both directions.
        read_handle, write_handle: one direction each.
        want_readready: watch for reading (default: true once a read handle is set).
        want_writeready: watch for writing (default false).

    Events:
        on_read_ready(handle), on_write_ready(handle): required while the
            matching want flag is set and the handle is in a loop.
        on_closed(handle): once, when closed.
    """

    _EVENTS: ClassVar[frozenset[str]] = Notifier._EVENTS | {
        'on_read_ready', 'on_write_ready', 'on_closed'}

    #: The event a subclass delivers what it reads to (Stream's ``on_read``),
    #: required once there is a read handle; ``None``: readiness itself.
    _READ_EVENT: ClassVar[str | None] = None

    __slots__ = ('_read_handle', '_write_handle', '_rfd', '_wfd', '_tls_read',
                 '_tls_write', '_want_read', '_want_write', '_closed', '_hub',
                 '_glet', '_host', '_parked', '_rwatch', '_wwatch', '_lender',
                 '_close_futures')

    def _setup(self, params: dict[str, Any]) -> None:
        self._read_handle: Any = None
        self._write_handle: Any = None
        self._rfd: int | None = None
        self._wfd: int | None = None
        self._tls_read = self._tls_write = False
        self._want_read = False
        self._want_write = False
        self._closed = False
        # The loop's hub and the greenlet running this handle's callbacks:
        # None until it is in a loop (Any: the paths that use them run only then).
        self._hub: Any = None
        self._glet: Any = None
        self._host: greenlet | None = None
        self._parked = False
        self._rwatch: Any = None
        self._wwatch: Any = None
        self._lender: Any = None
        self._close_futures: list[AsyncResult[Handle]] = []
        super()._setup(params)

    def _configure(self, params: dict[str, Any]) -> None:
        if params.keys() <= self._EVENTS:
            super()._configure(params)      # events alone: nothing else to apply
            return
        handle = params.pop('handle', _MISSING)
        read_handle = params.pop('read_handle', _MISSING)
        write_handle = params.pop('write_handle', _MISSING)
        want_read = params.pop('want_readready', _MISSING)
        want_write = params.pop('want_writeready', _MISSING)
        if handle is not _MISSING and (read_handle is not _MISSING or
                                       write_handle is not _MISSING):
            raise TypeError('give handle= or read_handle=/write_handle=, not both')
        _check_file('handle', handle)
        _check_file('read_handle', read_handle)
        _check_file('write_handle', write_handle)
        for name, value in (('want_readready', want_read),
                            ('want_writeready', want_write)):
            if value is not _MISSING:
                check_flag(value, name)
        super()._configure(params)
        if handle is not _MISSING:
            read_handle = write_handle = handle
        if read_handle is not _MISSING or write_handle is not _MISSING:
            self._set_handles(
                self._read_handle if read_handle is _MISSING else read_handle,
                self._write_handle if write_handle is _MISSING else write_handle,
                want_read)
        elif want_read is not _MISSING:
            self.want_readready = want_read
        if want_write is not _MISSING:
            self.want_writeready = want_write

    def set_handle(self, handle: FileLike | None) -> None:
        """See `IHandle.set_handle`."""
        self.configure(handle=handle)

    def _set_handles(self, read_handle: Any, write_handle: Any,
                     want_read: Any = _MISSING) -> None:
        in_loop = self._loop is not None
        if in_loop:
            self._stop_watching()
        self._lender = None
        self._read_handle, self._rfd = read_handle, _fileno(read_handle)
        self._write_handle, self._wfd = write_handle, _fileno(write_handle)
        if read_handle is not None:
            set_nonblocking(read_handle)
        if write_handle is not None and write_handle is not read_handle:
            set_nonblocking(write_handle)
        self._tls_read = is_tls(read_handle)
        self._tls_write = is_tls(write_handle)
        self._closed = False
        self._want_read = (self._rfd is not None) if want_read is _MISSING \
            else bool(want_read)
        self._handles_changed()
        if in_loop:
            self._start_watching()

    def _handles_changed(self) -> None:
        """Hook: the read or write handle was replaced."""

    def _borrow_watchers(self, sock: Any) -> None:
        """Watch with the io watchers of ``sock``, the gevent socket that is
        both handles, which geventio itself made and nobody else drives (see
        the module's design comment); before the handle joins a loop."""
        if type(sock) is gevent.socket.socket and \
                sock is self._read_handle and sock is self._write_handle:
            self._lender = sock

    def _new_watcher(self, fd: int, events: int) -> Any:
        """A watcher for ``events`` on ``fd``: the lender's if there is one on
        this handle's hub, else a new one of the handle's own."""
        lender = self._lender
        if lender is not None:
            if lender.hub is self._hub:
                return lender._read_event if events == 1 else lender._write_event
            self._lender = None         # (a loop of another thread's hub)
        return self._hub.loop.io(fd, events)

    def _discard(self, watcher: Any) -> None:
        """Stop ``watcher`` for good: closed if it is the handle's own, only
        stopped if it is borrowed (its socket closes it)."""
        watcher.stop()
        if self._lender is None:
            watcher.close()

    # -- properties ------------------------------------------------------------

    @property
    def read_handle(self) -> Any:
        """See `IHandle.read_handle`."""
        return self._read_handle

    @property
    def write_handle(self) -> Any:
        """See `IHandle.write_handle`."""
        return self._write_handle

    @property
    def read_fileno(self) -> int | None:
        """See `IHandle.read_fileno`."""
        return self._rfd

    @property
    def write_fileno(self) -> int | None:
        """See `IHandle.write_fileno`."""
        return self._wfd

    @property
    def is_closed(self) -> bool:
        """See `IHandle.is_closed`."""
        return self._closed

    @property
    def want_readready(self) -> bool:
        """See `IHandle.want_readready`."""
        return self._want_read

    @want_readready.setter
    def want_readready(self, value: bool) -> None:
        if value and self._rfd is None:
            raise ValueError('want_readready needs a read handle')
        self._want_read = bool(value)
        self._update_watchers()

    @property
    def want_writeready(self) -> bool:
        """See `IHandle.want_writeready`."""
        return self._want_write

    @want_writeready.setter
    def want_writeready(self, value: bool) -> None:
        if value and self._wfd is None:
            raise ValueError('want_writeready needs a write handle')
        self._want_write = bool(value)
        self._update_watchers()

    def _required_events(self) -> list[str]:
        required = []
        if self._READ_EVENT is not None and self._rfd is not None:
            required.append(self._READ_EVENT)
        if self._want_read and self._rfd is not None and self._READ_EVENT is None:
            required.append('on_read_ready')
        if self._want_write and self._wfd is not None:
            required.append('on_write_ready')
        return required

    # -- the greenlet and its watchers -----------------------------------------

    def _added_to_loop(self, loop: Any) -> None:
        self._hub = loop._hub
        self._start_watching()

    def _removed_from_loop(self) -> None:
        if not self._closed:        # (closing stopped them already)
            self._stop_watching()

    def _start_watching(self) -> None:
        if self._closed or (self._rfd is None and self._wfd is None):
            return
        if self._host is getcurrent():
            # Busy until it parks in _run (see _serve_here); a wake-up before
            # then stops its watcher, which _run restarts.
            self._glet, self._parked = self._host, False
        else:
            # Not started yet counts as parked: the first wake-up starts it.
            self._glet = greenlet(self._run, self._hub)
            self._parked = True
        self._update_watchers()

    def _wants_write(self) -> bool:
        """Whether the write watcher should run; a Stream adds its queue."""
        return self._want_write

    def _update_watchers(self) -> None:
        """Start or stop the watchers to match what is wanted right now."""
        if self._glet is None:
            return
        rwatch = self._rwatch
        if self._want_read and self._rfd is not None:
            if rwatch is None:
                rwatch = self._rwatch = self._new_watcher(self._rfd, 1)
            if not rwatch.active:
                rwatch.start(self._wake_read)
        elif rwatch is not None:
            rwatch.stop()
        wwatch = self._wwatch
        if self._wfd is not None and self._wants_write():
            if wwatch is None:
                wwatch = self._wwatch = self._new_watcher(self._wfd, 2)
            if not wwatch.active:
                wwatch.start(self._wake_write)
        elif wwatch is not None:
            wwatch.stop()

    def _wake_read(self) -> None:
        # Runs in the hub.
        if self._parked:
            self._glet.switch(_READ)
        else:
            self._rwatch.stop()

    def _wake_write(self) -> None:
        # Runs in the hub.
        if self._parked:
            self._glet.switch(_WRITE)
        else:
            self._wwatch.stop()

    def _serve_here(self, loop: Any) -> None:
        """Add this handle to ``loop`` with the calling greenlet as its own, and
        run its callbacks there until it closes or leaves the loop (see the
        module's design comment). What ``loop.add`` raises propagates."""
        self._host = getcurrent()
        try:
            loop.add(self)
            if self._glet is self._host:
                self._run(None)
        finally:
            self._host = None

    def _run(self, what: Any) -> None:
        """The handle's greenlet: dispatch one readiness, flush, park, repeat.

        ``what`` is the first wake-up's (``None`` for a host greenlet, which
        flushes and parks first)."""
        me = getcurrent()
        hub = self._hub
        # Started by its first wake-up, which found it "parked" (not started).
        self._parked = False
        try:
            while what is not _STOP:
                if what is _READ:
                    self._read_ready()
                elif what is _WRITE:
                    self._write_ready()
                elif what is not None:      # (None: a host greenlet's start)
                    # Work a timer of this handle brought to its greenlet
                    # (a Stream's idle timeout), so that the callbacks it
                    # calls run here like every other event.
                    what()
                if self._glet is not me:
                    return
                changed = self._before_park()
                if self._glet is not me:
                    return
                # (The greenlet runs only while the handle is in a loop.)
                if self._loop._dispatched is not None:
                    self._loop._note_dispatch()
                if changed is not False:
                    self._update_watchers()
                self._parked = True
                # Straight to the hub: Hub.switch only adds a switch_out hook
                # that raw greenlets do not have.
                what = _switch(hub)
                self._parked = False
        except Exception:
            if self._glet is me:
                self._callback_failed('a callback')
        finally:
            if self._glet is me:
                self._glet = None
                self._parked = False

    def _run_elsewhere(self, method: Callable[..., Any], *args: Any) -> None:
        """``method(*args)`` on a short-lived greenlet, for readiness (or a
        timer) seen while this handle's own greenlet is blocked in a callback
        (see Stream)."""
        gevent.spawn_raw(self._elsewhere, method, *args)

    def _elsewhere(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            method(*args)
        except Exception:
            self._callback_failed('a callback')
        else:
            if not self._closed and self._glet is not None and not self._parked:
                self._update_watchers()

    def _stop_watching(self) -> None:
        """Stop the watchers and end the greenlet (synchronously when parked)."""
        for watcher in (self._rwatch, self._wwatch):
            if watcher is not None:
                self._discard(watcher)
        self._rwatch = self._wwatch = None
        glet, self._glet = self._glet, None
        parked, self._parked = self._parked, False
        current = getcurrent()
        if glet is None or glet is current or not glet or not parked:
            # Current: it returns after the callback. Unstarted: nothing to end.
            # Busy in a callback elsewhere: it returns when the callback does.
            return
        if glet is self._host:
            self._hub.loop.run_callback(_end_host, glet)
            return
        try:
            glet.parent = current
        except ValueError:
            self._hub.loop.run_callback(glet.switch, _STOP)
        else:
            glet.switch(_STOP)

    def _before_park(self) -> bool:
        """Hook run on the handle greenlet after each dispatch (a Stream flushes).

        Returns ``False`` when the watchers certainly need no change, which
        lets the greenlet park without checking them."""
        return True

    def _fire(self, name: str, *args: Any) -> bool:
        """Deliver event ``name`` from inside the library: the one place that
        keeps "after ``close()`` no event fires except ``on_closed``".

        Returns:
            ``False`` when the event has no handler, so that the caller takes
            the default action (close, pause reading); ``True`` when the
            handler ran, or when the handle is closed: then nothing is
            delivered and no default action is needed either.
        """
        if self._closed:
            return True
        handler = self._handler(name)
        if handler is None:
            return False
        handler(*args)
        return True

    def _read_ready(self) -> None:
        self.invoke_event('on_read_ready')

    def _write_ready(self) -> None:
        self.invoke_event('on_write_ready')

    # -- closing ---------------------------------------------------------------

    def close(self) -> None:
        """See `IHandle.close`."""
        self._close_handles()

    def _close_handles(self) -> None:
        """Stop watching, close the file handles, fire on_closed, leave the loop."""
        if self._closed:
            return
        self._closed = True
        self._stop_watching()
        read_handle, write_handle = self._read_handle, self._write_handle
        self._read_handle = self._write_handle = None
        self._rfd = self._wfd = None
        self._want_read = self._want_write = False
        if read_handle is not None:
            close_quietly(read_handle)
        if write_handle is not None and write_handle is not read_handle:
            close_quietly(write_handle)
        self._closed_hook()
        try:
            self.maybe_invoke_event('on_closed')
        except Exception:
            _callbacks.report('on_closed', self)
        futures, self._close_futures = self._close_futures, []
        for future in futures:
            future.set(self)
        if self._parent is not None or self._loop is not None:
            self._leave()

    def _closed_hook(self) -> None:
        """Hook: release what the subclass holds (before on_closed fires)."""

    def _close_after_error(self) -> None:
        self._close_handles()

    def close_read(self) -> None:
        """See `IHandle.close_read`."""
        if self._read_handle is None:
            return
        if self._write_handle is None:
            self._close_handles()
            return
        obj = self._read_handle
        self.want_readready = False
        if self._rwatch is not None:
            self._discard(self._rwatch)
            self._rwatch = None
        self._read_handle, self._rfd = None, None
        if obj is self._write_handle:
            shutdown_quietly(obj, socket.SHUT_RD)
        else:
            close_quietly(obj)

    def close_write(self) -> None:
        """See `IHandle.close_write`."""
        if self._write_handle is None:
            return
        if self._read_handle is None:
            self._close_handles()
            return
        obj = self._write_handle
        self._want_write = False
        if self._wwatch is not None:
            self._discard(self._wwatch)
            self._wwatch = None
        self._write_handle, self._wfd = None, None
        if obj is self._read_handle:
            shutdown_quietly(obj, socket.SHUT_WR)
        else:
            close_quietly(obj)

    def new_close_future(self) -> 'AsyncResult[Handle]':
        """See `IHandle.new_close_future`."""
        future: AsyncResult[Handle] = AsyncResult()
        if self._closed:
            future.set(self)
        else:
            self._close_futures.append(future)
        return future

    # -- connecting and binding --------------------------------------------------

    def connect(self, **params: Any) -> 'AsyncResult[Any]':
        """See `IHandle.connect`; needs the handle to be in a loop. The
        keywords are `Loop.connect`'s, without ``handle``."""
        if self._loop is None:
            raise ValueError(f'{self!r} must be in a loop to connect')
        future: AsyncResult[Any] = self._loop.connect(handle=self, **params)
        return future

    def bind(self, *addr: AddressSpec, **hints: Any) -> 'AsyncResult[Handle]':
        """See `IHandle.bind`.

        Returns:
            A future of this handle. It fails with the ``OSError`` of the most
            significant failure (bind over socket) or with `ResolveError`.

        Raises:
            TypeError, ValueError: bad arguments, at the call.
        """
        if addr and hints:
            raise TypeError('bind takes an address or resolver keywords, not both')
        if len(addr) > 1:
            raise TypeError(f'bind takes one address, not {len(addr)}: {addr!r}')
        if addr:
            query, targets = None, [addresses.parse_address(addr[0], 'addr')]
        else:
            query, targets = _bind_query(dict(hints)), None
        future: AsyncResult[Handle] = AsyncResult()
        gevent.spawn(self._bind_into, query, targets, future)
        return future

    def _bind_into(self, query: tuple[Any, ...] | None,
                   targets: list[addresses.Address] | None,
                   future: 'AsyncResult[Handle]') -> None:
        try:
            if query is not None:
                targets = resolving.resolve(*query)
            sock = sockets.bind_first(targets or [])
            try:
                self.set_handle(sock)
            except Exception:
                sock.close()
                raise
        except Exception as err:   # ResolveError, OSError, set_handle refusing it
            future.set_exception(err)
        else:
            future.set(self)

    def __enter__(self) -> 'Handle':
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaving a ``with`` block closes the handle (`close`)."""
        self.close()

    def __repr__(self) -> str:
        state = 'closed' if self._closed else 'open'
        fds = self._rfd if self._rfd == self._wfd else (self._rfd, self._wfd)
        return f'<{type(self).__name__} fd={fds} {state}>'


def _end_host(glet: greenlet) -> None:
    """Send ``_STOP`` to a parked host greenlet, from the hub (unless it was
    killed meanwhile)."""
    if glet:
        glet.switch(_STOP)


def _fileno(obj: FileLike | None) -> int | None:
    if obj is None:
        return None
    return obj.fileno()


def _check_file(name: str, value: object) -> None:
    if value is not _MISSING and value is not None and not hasattr(value, 'fileno'):
        raise TypeError(f'{name} must have a fileno() method, not {value!r}')


def _bind_query(hints: dict[str, Any]) -> tuple[Any, ...]:
    """``(host, service, hints)`` of ``bind(service=..., host=..., ...)``."""
    host = addresses.parse_host(hints.pop('host', None))
    if 'service' not in hints:
        raise TypeError('bind needs an address or service=')
    service = addresses.parse_service(hints.pop('service'))
    query = (host, service, resolving.passive(resolving.pop_hints(hints)))
    check_unknown(hints, 'bind')
    return query
