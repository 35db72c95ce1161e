"""DangaSocket: Danga::Socket's base class, one object per socket, driven by the
process-wide loop.

The Python form of Perl's Danga::Socket (interface `IDangaSocket`). Subclass it,
override ``event_read`` (and ``event_write``, ``event_err``, ``event_hup``), pull
bytes with ``read(n)`` and push them with ``write(data)``; the class methods
(``event_loop``, ``add_timer``, ``descriptor_map``, ...) are the loop's
(``_loop.py``), shared by every DangaSocket of the process. docs/danga.md maps
every Perl name to its Python one.

Reading goes through the byte layer's read path (one ``readv`` into the hub's
scratch buffer, handed out as ``bytes``); the write half is ``_writing.py``.
"""

import errno
import functools
import math
import socket
import types
from collections.abc import Callable, Mapping
from typing import Any

from zope.interface import implementer

from .. import _callbacks
from .._io.nonblocking import WOULD_BLOCK, close_quietly, is_tls, set_nonblocking
from .._io.reading import read_bytes
from .._params import check_flag, check_int, check_positive, check_seconds
from ..interfaces import IDangaSocket
from ._loop import LOOP
from ._readiness import ERR, HUP, READ, WRITE, Watched
from ._timers import Timer
from ._writing import Writer

__all__ = ['DangaSocket']

#: setsockopt errors meaning "no corking on this socket" (a unix socket gives
#: EOPNOTSUPP): Perl ignores them, and so does `DangaSocket.tcp_cork`.
_CORK_UNSUPPORTED = {errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.ENOTSUP}

#: Linux's option; elsewhere there is none and `DangaSocket.tcp_cork` does nothing.
_TCP_CORK = getattr(socket, 'TCP_CORK', None)


class _ClassOrInstanceMethod:
    """A method that gets the class when called on the class and the instance when
    called on one: Perl's ``ref $class`` test in ``SetPostLoopCallback``."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.__func__ = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]  # (any object)

    def __get__(self, obj: object, cls: type | None = None) -> Callable[..., Any]:
        return types.MethodType(self.__func__, cls if obj is None else obj)


@implementer(IDangaSocket)
class DangaSocket(Writer, Watched):
    """See `IDangaSocket`.

    Parameters:
        sock: a connected (or listening, or connecting) socket: a gevent or a
            stdlib socket object, not a TLS one. It is made non-blocking and is
            owned from then on: ``close()`` closes it.

    Events (methods to override; called only inside ``event_loop()``):
        event_read(): readable while ``watch_read(True)``, or pushed-back data
            is waiting. The default raises NotImplementedError, which closes
            the object.
        event_write(): writable while write-watching is on. The default calls
            ``write(None)``, sending what is queued, and turns write-watching
            off once nothing is left.
        event_err(), event_hup(): error / hang-up, whatever is watched. The
            defaults raise NotImplementedError, which closes the object.
        on_incomplete_write(): ``write()`` left data queued; the default turns
            write-watching on (and ``write()`` off again once drained).

    Raises:
        TypeError: ``sock`` is not a socket object, or is a TLS one.
        ValueError: ``sock`` is closed, or its descriptor is already watched.
    """

    __slots__ = ('_sock', '_pushed', '_corked', '_peer', '_local')

    def __init__(self, sock: Any) -> None:
        fd = _fileno(sock)
        LOOP.check_free(fd, 'sock')
        set_nonblocking(sock)
        self._init_watched(fd)
        self._sock = sock
        self._init_writer(fd)
        self._pushed: list[bytes] | None = None     # pushed-back bytes, oldest first
        self._corked = False
        # (ip string, address string) of each end, once known
        self._peer: tuple[str | None, str | None] | None = None
        self._local: tuple[str | None, str | None] | None = None
        LOOP.register(self, fd)

    # -- the event hooks -----------------------------------------------------------

    def event_read(self) -> None:
        """Public hook (override it): see `IDangaSocket.event_read`."""
        raise NotImplementedError(f'{type(self).__name__} does not implement event_read')

    def event_write(self) -> None:
        """Public hook: see `IDangaSocket.event_write`. This one flushes the queue
        and, once nothing is left, stops watching writes, as Perl's does:
        otherwise a writable socket would call it on every round for ever."""
        if self.write(None):
            self.watch_write(False)

    def event_err(self) -> None:
        """Public hook (override it): see `IDangaSocket.event_err`."""
        raise NotImplementedError(f'{type(self).__name__} does not implement event_err')

    def event_hup(self) -> None:
        """Public hook (override it): see `IDangaSocket.event_hup`."""
        raise NotImplementedError(f'{type(self).__name__} does not implement event_hup')

    def _dispatch_events(self, revents: int) -> None:
        # Called by the loop for one readiness; see IDangaSocket for the order.
        handler: Callable[[], None] | None = None
        try:
            if revents & READ and self._watch & READ:
                handler = self.event_read
                handler()
            if revents & WRITE and self._watch & WRITE and not self._closed:
                handler = self.event_write
                handler()
            if revents & ERR and not self._closed:
                handler = self.event_err
                handler()
            if revents & HUP and not self._closed:
                handler = self.event_hup
                handler()
        except Exception:
            self._handler_failed(handler)

    def _handler_failed(self, handler: object) -> None:
        """Report the exception being handled, raised by ``handler``, and close
        this object (with the base class's close if an override raises too)."""
        _callbacks.report(handler, self)
        try:
            self.close('exception')
        except Exception:
            _callbacks.report(self.close, self)
            DangaSocket.close(self, 'exception')

    # -- reading -------------------------------------------------------------------

    def read(self, n: int) -> bytes | None:
        """See `IDangaSocket.read`. One system call; at most 64 KiB per call
        (Perl: 1 MiB).

        Raises:
            TypeError, ValueError: ``n`` is not a positive int. An OSError is
                never raised: a failed read returns None.
        """
        if type(n) is not int or n <= 0:
            check_positive(n, 'n')
        if self._closed:
            return None
        pushed = self._pushed
        if pushed:
            data = pushed[0]
            if len(data) > n:
                pushed[0] = data[n:]
                return data[:n]
            del pushed[0]
            if not pushed:
                LOOP.push_back.pop(self._fd, None)
            return data
        view = LOOP.views.get(n) or LOOP.view(n)
        try:
            data = read_bytes(self._fd, view)
        except WOULD_BLOCK:
            return b''
        except OSError:
            return None
        return data or None

    def push_back_read(self, data: Any) -> None:
        """See `IDangaSocket.push_back_read` (an empty ``data`` is ignored).

        Raises:
            TypeError: ``data`` is not bytes-like.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f'data must be bytes, not {data!r}')
        if self._closed or not data:
            return
        if self._pushed is None:
            self._pushed = []
        self._pushed.append(bytes(data))
        LOOP.push_back[self._fd] = self

    def _pushed_back_bytes(self) -> int:
        return sum(map(len, self._pushed)) if self._pushed else 0

    # -- watching ------------------------------------------------------------------

    def watch_read(self, on: bool) -> None:
        """See `IDangaSocket.watch_read`; nothing once closed."""
        on = check_flag(on, 'on')
        if not self._closed:
            self._set_watch(self._watch | READ if on else self._watch & ~READ)

    def tcp_cork(self, on: bool) -> None:
        """See `IDangaSocket.tcp_cork`; nothing once closed.

        Raises:
            OSError: setsockopt failed for a reason other than "not supported".
        """
        on = check_flag(on, 'on')
        if self._closed or on == self._corked or _TCP_CORK is None:
            return
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, int(on))
        except OSError as err:
            if err.errno in _CORK_UNSUPPORTED:
                return
            raise
        self._corked = on

    # -- closing -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """See `IDangaSocket.closed`."""
        return self._closed

    @property
    def sock(self) -> Any:
        """See `IDangaSocket.sock`."""
        return self._sock

    def close(self, reason: str | None = None) -> None:
        """See `IDangaSocket.close`. Idempotent; ``reason`` is for overrides
        (Perlbal logs it): the library passes "EPIPE", "ECONNRESET",
        "write_error" and "exception"."""
        if self._closed:
            return
        sock = self._sock
        self._cleanup()
        LOOP.release(self, self._fd, sock)

    def steal_socket(self) -> Any:
        """See `IDangaSocket.steal_socket`."""
        if self._closed:
            return None
        sock = self._sock
        self._cleanup()
        LOOP.forget(self, self._fd)
        return sock

    def _cleanup(self) -> None:
        """Closed from now on: no events, no queue, no callbacks; the socket
        uncorked (so that a new owner of a stolen one is not left corked)."""
        if self._corked:
            try:
                self.tcp_cork(False)
            except OSError:
                pass                # closing anyway; a stolen socket stays corked
        self._closed = True
        self._queue.clear()
        self._pushed = None
        self._watch = 0
        self._unwatch()
        LOOP.unregister(self, self._fd)
        self._sock = None

    def _drop(self) -> None:
        """``reset()``: close now, without calling an override of close()."""
        if not self._closed:
            sock = self._sock
            self._cleanup()
            close_quietly(sock)

    # -- addresses -----------------------------------------------------------------

    def peer_ip_string(self) -> str | None:
        """See `IDangaSocket.peer_ip_string`."""
        return self._address(True)[0]

    def peer_addr_string(self) -> str | None:
        """See `IDangaSocket.peer_addr_string`."""
        return self._address(True)[1]

    def local_ip_string(self) -> str | None:
        """See `IDangaSocket.local_ip_string`."""
        return self._address(False)[0]

    def local_addr_string(self) -> str | None:
        """See `IDangaSocket.local_addr_string`."""
        return self._address(False)[1]

    def _address(self, peer: bool) -> tuple[str | None, str | None]:
        """(ip string, address string) of one end, asked once and kept (also
        after close, for the logs of a close override)."""
        known = self._peer if peer else self._local
        if known is not None:
            return known
        if self._sock is None:
            return None, None
        try:
            addr = self._sock.getpeername() if peer else self._sock.getsockname()
        except OSError:
            return None, None       # not connected yet: ask again later
        known = _format_address(addr)
        if peer:
            self._peer = known
        else:
            self._local = known
        return known

    def as_string(self) -> str:
        """See `IDangaSocket.as_string`."""
        text = (f'{type(self).__name__}({self._watch_letters()}): '
                f'{"closed" if self._closed else "open"}')
        peer = self.peer_addr_string()
        return f'{text} to {peer}' if peer else text

    def __repr__(self) -> str:
        state = 'closed' if self._closed else 'open'
        local, peer = self.local_addr_string(), self.peer_addr_string()
        ends = f' {local or "?"} -> {peer or "?"}' if local or peer else ''
        return (f'<{type(self).__name__} fd={self._fd} ({self._watch_letters()}) '
                f'{state}{ends}>')

    def _watch_letters(self) -> str:
        return ('R' if self._watch & READ else '') + ('W' if self._watch & WRITE else '')

    # -- the loop's methods (class methods: Perl's package functions) --------------

    @_ClassOrInstanceMethod
    def set_post_loop_callback(target: Any,  # noqa: N805 (class or instance)
                               code: Callable[[dict[int, Any]], object] | None) -> None:
        """See `IDangaSocket.set_post_loop_callback`.

        Raises:
            TypeError: ``code`` is neither callable nor None.
        """
        if code is not None and not callable(code):
            raise TypeError(f'code must be callable or None, not {code!r}')
        if isinstance(target, type):
            LOOP.post_loop_callback = code
        elif not target._closed:
            if code is None:
                LOOP.post_loop.pop(target._fd, None)
            else:
                LOOP.post_loop[target._fd] = (target, code)

    @classmethod
    def event_loop(cls) -> None:
        """See `IDangaSocket.event_loop`.

        Raises:
            RuntimeError: it is running already (in this or another greenlet).
            What ends the wait (gevent.Timeout, GreenletExit) propagates; the
            sockets closed in that iteration are closed first.
        """
        LOOP.run()

    @classmethod
    def watched_sockets(cls) -> int:
        """See `IDangaSocket.watched_sockets`."""
        return len(LOOP.descriptor_map)

    @classmethod
    def descriptor_map(cls) -> 'dict[int, DangaSocket]':
        """See `IDangaSocket.descriptor_map`."""
        return LOOP.descriptor_map

    @classmethod
    def to_close(cls) -> list[Any]:
        """See `IDangaSocket.to_close`."""
        return [sock for _, sock, _ in LOOP.closing]

    @classmethod
    def add_timer(cls, seconds: float, code: Callable[[float], object]) -> Timer:
        """See `IDangaSocket.add_timer`. An exception ``code`` raises is logged;
        the loop goes on.

        Raises:
            TypeError: ``seconds`` is not a number, or ``code`` not callable.
            ValueError: ``seconds`` is negative, infinite or NaN.
        """
        checked = check_seconds(seconds, 'seconds', zero=True)
        if checked is None:
            raise TypeError('seconds must be a number, not None')
        if not math.isfinite(checked):
            raise ValueError(f'seconds must be finite, not {seconds!r}')
        if not callable(code):
            raise TypeError(f'code must be callable, not {code!r}')
        return LOOP.add_timer(checked, code)

    @classmethod
    def set_loop_timeout(cls, milliseconds: int) -> None:
        """See `IDangaSocket.set_loop_timeout`.

        Raises:
            TypeError: not an int. ValueError: below -1.
        """
        check_int(milliseconds, 'milliseconds')
        if milliseconds < -1:
            raise ValueError(f'milliseconds must be -1 (no limit) or more, '
                             f'not {milliseconds!r}')
        LOOP.set_loop_timeout(milliseconds)

    @classmethod
    def add_other_fds(cls, fds: Mapping[Any, Callable[[int], object]]
                      ) -> dict[int, Callable[[int], object]]:
        """See `IDangaSocket.add_other_fds`: ``{fd: code}`` (an int descriptor or
        an object with ``fileno()``); watched at once. Python keywords cannot be
        ints, so the mapping is passed as it is (Perl: a list of pairs).

        Raises:
            TypeError, ValueError: a key is not an open descriptor or is in the
                descriptor map, or a code is not callable; nothing is added.
        """
        LOOP.set_other_fds(_mapping(fds), replace=False)
        return cls.other_fds()

    @classmethod
    def other_fds(cls, fds: Mapping[Any, Callable[[int], object]] | None = None
                  ) -> dict[int, Callable[[int], object]]:
        """See `IDangaSocket.other_fds`; with ``fds``, Perl's setter form.

        Raises:
            As add_other_fds; nothing is changed then.
        """
        if fds is not None:
            LOOP.set_other_fds(_mapping(fds), replace=True)
        return {fd: other.code for fd, other in LOOP.other_fds.items()}

    @classmethod
    def reset(cls) -> None:
        """See `IDangaSocket.reset`. Overrides of close() are not called (Perl's
        ``Reset`` only drops the objects); other fds are not closed (they are
        not the loop's)."""
        LOOP.reset()

    @classmethod
    def have_epoll(cls) -> bool:
        """See `IDangaSocket.have_epoll`."""
        return LOOP.have_epoll

    # Perl's spellings.
    EventLoop = event_loop
    WatchedSockets = watched_sockets
    DescriptorMap = descriptor_map
    ToClose = to_close
    AddTimer = add_timer
    SetPostLoopCallback = set_post_loop_callback
    SetLoopTimeout = set_loop_timeout
    AddOtherFds = add_other_fds
    OtherFds = other_fds
    Reset = reset
    HaveEpoll = have_epoll


def _fileno(sock: Any) -> int:
    """``sock``'s descriptor, checking that it is an open, plain socket."""
    fileno = getattr(sock, 'fileno', None)
    if not callable(fileno) or not hasattr(sock, 'getsockopt'):
        raise TypeError(f'sock must be a socket, not {sock!r}')
    if is_tls(sock):
        raise TypeError(f'sock must be a plain socket, not a TLS one: {sock!r} '
                        '(DangaSocket reads and writes its descriptor itself)')
    fd: int = fileno()
    if fd < 0:
        raise ValueError(f'sock is closed: {sock!r}')
    return fd


def _mapping(fds: Any) -> Mapping[Any, Callable[[int], object]]:
    if not hasattr(fds, 'items'):
        raise TypeError(f'fds must be a dict of descriptor -> code, not {fds!r}')
    mapping: Mapping[Any, Callable[[int], object]] = fds
    return mapping


def _format_address(addr: Any) -> tuple[str | None, str | None]:
    """(ip string, address string) of a socket address: ``1.2.3.4:80``,
    ``[::1]:80``, a unix path (``@name`` for Linux's abstract namespace), or
    ``(None, None)`` for an unnamed unix socket."""
    if isinstance(addr, tuple):
        host, port = addr[0], addr[1]
        return host, (f'[{host}]:{port}' if len(addr) == 4 else f'{host}:{port}')
    if isinstance(addr, bytes):
        addr = '@' + addr[1:].decode('utf-8', 'surrogateescape') \
            if addr.startswith(b'\0') else addr.decode('utf-8', 'surrogateescape')
    if not addr:
        return None, None
    return addr, addr
