"""The bottom of an IOStream's layer chain: the file handle, its watchers, its greenlet.

Not a public module. It is the Python form of IO::Stream::EV, the layer every
IO::Stream ends in: it owns the file descriptor (the ``fh`` given, or a TCP
socket made from ``host`` and ``port``: resolved, then connected address by
address), reads into the ``in_buf`` of the layer above it, writes from that
layer's ``out_buf``/``out_pos``, and tells that layer what happened by calling
its ``event(events, err)``. The layer above is the `IOStream` or its last
plugin; this module knows nothing of ``wait_for`` or of the user's callback.

Every wake-up (readiness, a timer, the start of a name lookup) runs on the
layer's own greenlet, parked on its own watchers (``_parking``), so user
callbacks may block cooperatively.

Design: one deadline for connecting
-----------------------------------
IO::Stream gives the connect 30 seconds. Here ``connect_timeout`` runs from
the first connect attempt until CONNECTED reaches the `IOStream`, so it also
bounds what plugins do before they let CONNECTED through (a proxy's
handshake, a TLS handshake): a proxy that accepts and never answers cannot
hold a stream forever. Addresses are tried one at a time in the resolver's
order (IO::Async::Connector's rule); a refused or unreachable address moves
on to the next at once, and when every address failed the most significant
error is reported (a connect error over a socket error, the last of a kind).
A name lookup has its own limit (``_io.resolving.RESOLVE_TIMEOUT``) and
fails with `EDNS`.
"""

import errno
import fcntl
import logging
import os
import socket

import gevent

from typing import Any

from .._io import resolving, sockets
from .._io.nonblocking import WOULD_BLOCK, close_quietly, set_nonblocking
from .._io.reading import read_into, read_view
from ..errors import ResolveError
from ._parking import READ, WRITE, Parked
from .constants import (CONNECTED, EDNS, EOF, ETOCONNECT, ETOWRITE, IN, OUT,
                        RESOLVED, SENT)

__all__ = ['FhLayer', 'IO_SIZE', 'claim', 'release']

log = logging.getLogger('geventio')

#: Bytes one read or write system call may move. IO::Stream moves 8 KiB; 64 KiB
#: is what the other geventio surfaces and the benchmark servers use, and one
#: call per 64 KiB keeps bulk transfers from paying a wake-up per 8 KiB.
IO_SIZE = 65536

#: Failures of the connect attempts, least to most significant.
CONNECT_RANKING = ('socket', 'connect')

# What else wakes the greenlet.
_RESOLVE = 'resolve'
_CONNECT_TIMEOUT = 'connect timeout'
_WRITE_TIMEOUT = 'write timeout'

# The states of a layer.
_NEW = 'new'                # prepare() not called yet
_RESOLVING = 'resolving'
_CONNECTING = 'connecting'
_OPEN = 'open'              # connected, or given as fh
_HALTED = 'halted'          # connecting failed or timed out: no more I/O
_CLOSED = 'closed'

#: file descriptor -> the IOStream owning it (IO::Stream: "can't create second
#: object for same fh").
_OWNERS: dict[int, Any] = {}


def claim(fd: int, owner: Any) -> None:
    """Record ``owner`` as the one stream on ``fd``.

    Raises:
        ValueError: another stream owns ``fd``.
    """
    other = _OWNERS.setdefault(fd, owner)
    if other is not owner:
        raise ValueError(f'file descriptor {fd} already has an IOStream, {other!r}: '
                         'one IOStream per fd (close() the old one first)')


def release(fd: int, owner: Any) -> None:
    """Forget ``owner``'s claim on ``fd`` (if it still has it)."""
    if _OWNERS.get(fd) is owner:
        del _OWNERS[fd]


def _readable_mode(fd: int) -> bool:
    """Whether ``fd`` was opened for reading (a pipe's write end was not)."""
    try:
        return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY
    except OSError:
        return True


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FhLayer(Parked):
    """The layer that owns the file handle (see the module docstring).

    Attributes:
        upper: the layer above: the IOStream or its last plugin.
        fh: the file handle, or ``None`` before a socket was made.
    """

    __slots__ = ('upper', 'fh', '_stream', '_fd', '_state', '_connect_timer',
                 '_write_timer', '_write_seconds', '_later', '_host', '_port',
                 '_candidates', '_failures', '_view')

    def __init__(self, stream: Any) -> None:
        hub = gevent.get_hub()
        super().__init__(hub)
        self.upper: Any = None
        self.fh: Any = None
        self._stream = stream
        self._fd: Any = None        # the descriptor (an int) once there is one
        self._state = _NEW
        self._connect_timer: Any = None
        self._write_timer: Any = None
        self._write_seconds: float | None = None
        self._later: Any = None
        self._host: str | None = None
        self._port: int | None = None
        self._candidates: list[Any] = []
        self._failures: list[tuple[str, OSError]] = []
        self._view = read_view(hub, IO_SIZE)

    def __repr__(self) -> str:
        return f'<FhLayer fd={self._fd} {self._state}>'

    # -- what the layer above calls --------------------------------------------

    def prepare(self, fh: Any, host: str | None, port: int | None) -> None:
        """Take over ``fh``, or start resolving and connecting to ``host``:``port``.

        For a numeric host RESOLVED is delivered before this returns.

        Raises:
            ValueError: ``fh``'s descriptor already has an IOStream.
        """
        if fh is not None:
            self._adopt(fh)
            self._state = _OPEN
            if _readable_mode(self._fd):
                self._start_reading()
            return
        self._host, self._port = host, port
        found = resolving.numeric(host, port)  # type: ignore[arg-type]  # (IOStream checked host)
        if found is None:
            self._state = _RESOLVING
            self._later = self._hub.loop.run_callback(self._wake, _RESOLVE)
        else:
            self._resolved(found)

    def write(self) -> None:
        """Write what the layer above has, now; OUT (and SENT) reach it before
        this returns. Nothing happens before the connection is up, nor while
        the kernel is full (the write watcher goes on then)."""
        if self._state is _OPEN and not self._want_write:
            events, err = self._send()
            if events or err is not None:
                self.upper.event(events, err)

    def connected(self) -> None:
        """CONNECTED reached the IOStream: the connect deadline is met."""
        if self._connect_timer is not None:
            self._connect_timer.close()
            self._connect_timer = None

    def close(self, close_fh: bool = True) -> None:
        """Stop every watcher and timer, give up the descriptor and close the
        handle (unless ``close_fh`` is false), end the greenlet."""
        self._state = _CLOSED
        self._reading = self._want_write = False
        self._stop_timers()
        if self._later is not None:
            self._later.stop()
            self._later = None
        self._forget_fh(close_fh)
        self._end_greenlet()

    # -- wake-ups ------------------------------------------------------------------

    def _dispatch(self, token: Any) -> None:
        if token is WRITE:
            self._writable()
        elif token is _WRITE_TIMEOUT:
            if self._state is _OPEN and self._want_write:
                self.upper.event(0, ETOWRITE)
        elif token is _CONNECT_TIMEOUT:
            self._halt()
            self.upper.event(0, ETOCONNECT)
        elif token is _RESOLVE:
            self._later = None
            self._resolve()

    def _failed(self) -> None:
        self._stream._failed('a plugin')

    # -- reading -----------------------------------------------------------------

    def _start_reading(self) -> None:
        self._reading = True
        self._rw = self._hub.loop.io(self._fd, 1)
        self._rw.start(self._wake, READ)

    def _stop_reading(self) -> None:
        self._reading = False
        self._rw.stop()

    def _read(self) -> None:
        """One read per readiness (so data and the EOF after it come apart)."""
        upper = self.upper
        buf = upper.in_buf
        if type(buf) is not bytearray:      # the user assigned bytes to in_buf
            buf = upper.in_buf = bytearray(buf)
        try:
            count = read_into(self._fd, buf, self._view)
        except WOULD_BLOCK:
            return
        except OSError as err:
            self._stop_reading()
            upper.event(0, err)
            return
        if count:
            upper.in_bytes += count
            upper.event(IN, None)
        else:
            self._stop_reading()
            upper.is_eof = True
            upper.event(EOF, None)

    # -- writing -----------------------------------------------------------------

    def _writable(self) -> None:
        if self._state is _CONNECTING:
            self._connect_done()
        elif self._state is _OPEN:
            events, err = self._send()
            if events or err is not None:
                self.upper.event(events, err)

    def _send(self) -> tuple[int, OSError | None]:
        """Write from the upper layer's ``out_buf`` (from ``out_pos`` when set)
        until all is written or the kernel is full.

        Returns:
            ``(events, err)``: OUT when bytes went, SENT when none are left,
            and the ``OSError`` of a failed write.
        """
        upper = self.upper
        buf = upper.out_buf
        if type(buf) is not bytearray:      # the user assigned bytes to out_buf
            buf = upper.out_buf = bytearray(buf)
        pos = upper.out_pos
        start = pos or 0
        left = len(buf) - start
        if left <= 0:
            # The user took back what was waiting (emptied out_buf, moved
            # out_pos): stop waiting for the kernel, quietly, as IO::Stream does.
            self._stop_waiting_to_write()
            return 0, None
        written, err, fd = 0, None, self._fd
        while True:
            offset = start + written
            try:
                if offset == 0 and left <= IO_SIZE:
                    count = os.write(fd, buf)
                else:
                    with memoryview(buf)[offset:offset + IO_SIZE] as chunk:
                        count = os.write(fd, chunk)
            except WOULD_BLOCK:
                break
            except OSError as error:
                err = error
                break
            written += count
            left -= count
            if not left or count < IO_SIZE:
                break       # done, or a short write: the kernel is full
        events = 0
        if written:
            if pos is None:
                del buf[:written]
            else:
                upper.out_pos = start + written
            upper.out_bytes += written
            events = OUT
        if err is not None or not left:
            self._stop_waiting_to_write()
            return (events | SENT if err is None else events), err
        self._wait_to_write(progress=bool(written))
        return events, None

    def _watch_writability(self) -> None:
        self._want_write = True
        if self._ww is None:
            self._ww = self._hub.loop.io(self._fd, 2)
        if not self._ww.active:
            self._ww.start(self._wake, WRITE)

    def _wait_to_write(self, progress: bool) -> None:
        self._watch_writability()
        timer = self._arm_write_timer()
        if timer is not None and (progress or not timer.active):
            timer.again(self._wake, _WRITE_TIMEOUT)

    def _arm_write_timer(self) -> Any:
        """The write timer for the stream's current ``write_timeout`` (a new
        one when the setting changed); ``None`` without a timeout."""
        seconds = self._stream.write_timeout
        timer = self._write_timer
        if timer is not None and seconds != self._write_seconds:
            timer.close()
            timer = self._write_timer = None
        if timer is None and seconds is not None:
            # An inactivity timer: it repeats while nothing moves, and every
            # write that makes progress restarts it (again()).
            timer = self._write_timer = self._hub.loop.timer(seconds, seconds)
            self._write_seconds = seconds
        return timer

    def _stop_waiting_to_write(self) -> None:
        self._want_write = False
        if self._ww is not None:
            self._ww.stop()
        if self._write_timer is not None:
            self._write_timer.stop()

    # -- resolving and connecting ----------------------------------------------

    def _resolve(self) -> None:
        self._waiting = True
        try:
            found = resolving.getaddrinfo(self._host, self._port, 0, socket.SOCK_STREAM)
        except ResolveError as err:
            self._waiting = False
            log.debug('%r: lookup of %r failed: %s', self._stream, self._host, err)
            self._halt()
            self.upper.event(0, EDNS)
            return
        self._waiting = False
        self._resolved(found)

    def _resolved(self, found: list[Any]) -> None:
        self._candidates = list(found)
        self._failures = []
        self.upper.ip = found[0][4][0]
        self.upper.event(RESOLVED, None)
        if self._state is _CLOSED:
            return
        seconds = self._stream.connect_timeout
        if seconds is not None:
            self._connect_timer = self._hub.loop.timer(seconds)
            self._connect_timer.start(self._wake, _CONNECT_TIMEOUT)
        self._connect_next()

    def _connect_next(self) -> None:
        """Start a connect to the next candidate; report the most significant
        failure when none is left."""
        while self._candidates:
            family, socktype, protocol, _, sockaddr = self._candidates.pop(0)
            try:
                sock = sockets.new_socket(family, socktype, protocol)
            except OSError as err:
                self._failures.append(('socket', err))
                continue
            try:
                self._adopt(sock)
            except ValueError:
                sock.close()
                raise
            self.upper.ip = sockaddr[0]
            code = sock.connect_ex(sockaddr)
            if code in (0, errno.EINPROGRESS):
                self._state = _CONNECTING
                self._watch_writability()
                return
            self._failures.append(('connect', _os_error(code)))
            self._drop_attempt()
        _, error = sockets.most_significant(
            self._failures, CONNECT_RANKING,
            (None, _os_error(errno.EADDRNOTAVAIL)))
        self._halt()
        self.upper.event(0, error)

    def _connect_done(self) -> None:
        code = self.fh.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._failures.append(('connect', _os_error(code)))
            self._drop_attempt()
            self._connect_next()
            return
        self._state = _OPEN
        self._candidates, self._failures = [], []
        self._stop_waiting_to_write()
        self._start_reading()
        events, err = self._send()
        self.upper.event(CONNECTED | events, err)

    # -- the file handle -------------------------------------------------------

    def _adopt(self, fh: Any) -> None:
        fd = fh.fileno()
        claim(fd, self._stream)
        try:
            set_nonblocking(fh)
        except OSError:
            release(fd, self._stream)
            raise
        self.fh = self._stream.fh = fh
        self._fd = fd

    def _forget_fh(self, close_fh: bool) -> None:
        """Close the watchers on the descriptor, release it, close the handle
        (unless ``close_fh`` is false)."""
        for watcher in (self._rw, self._ww):
            if watcher is not None:
                watcher.close()
        self._rw = self._ww = None
        self._reading = self._want_write = False
        fh, self.fh = self.fh, None
        if fh is not None:
            release(self._fd, self._stream)
            self._fd = None
            if close_fh:
                close_quietly(fh)

    def _drop_attempt(self) -> None:
        """Close the socket of a connect attempt that failed."""
        self._forget_fh(True)
        self._stream.fh = None

    def _halt(self) -> None:
        """No more I/O: connecting failed or timed out (the handle stays, for
        the user's close())."""
        self._state = _HALTED
        self._reading = self._want_write = False
        for watcher in (self._rw, self._ww):
            if watcher is not None:
                watcher.stop()
        self._stop_timers()

    def _stop_timers(self) -> None:
        for timer in (self._connect_timer, self._write_timer):
            if timer is not None:
                timer.close()
        self._connect_timer = self._write_timer = None
