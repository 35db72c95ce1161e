"""Socket: datagrams (UDP, unix datagram, raw sockets) with an ordered send queue.

The Python form of IO::Async::Socket (interface `ISocket`), on a `Handle`'s
greenlet. Each received datagram is one ``on_recv(socket, data, addr)`` call;
``send()`` queues whole datagrams that leave in call order.

Design: fairness, truncation and errors
---------------------------------------
What the OS does: a datagram socket stays readable while its queue holds a
datagram; a ``recv`` shorter than the datagram discards the rest, saying so only
by ``MSG_TRUNC`` in ``recvmsg``'s flags. A send queues the whole datagram or
fails (``EAGAIN`` when the send buffer, or a unix peer's queue, is full). An ICMP
error for an earlier datagram of a connected UDP socket is reported once, by the
next call (``ECONNREFUSED``: port unreachable); the socket goes on working.

What others do: asyncio (``selector_events._SelectorDatagramTransport``) reads
one datagram per readiness with ``recvfrom(256 KiB)``, reports every
``OSError`` to ``error_received`` without closing and (3.11) drops empty
datagrams in ``sendto``. Twisted (``internet/udp.py`` ``Port.doRead``) reads up
to 256 KiB per readiness with ``recvfrom(8192)``, truncating silently. gevent's
``DatagramServer`` (``server.py``) reads with ``recvfrom(8192)`` and spawns a
greenlet per datagram. IO::Async reads one per readiness unless ``recv_all``
and closes the socket on an empty datagram (a bug: it is legal data).

What we chose:
- One datagram per readiness unless ``recv_all``/``send_all`` (then at most
  `RECV_ALL_LIMIT`/`SEND_ALL_LIMIT`); empty datagrams are ordinary data.
- Truncation is never silent: ``recvmsg`` + ``MSG_TRUNC``, reported to
  ``on_recv_error`` as ``OSError(EMSGSIZE)`` with ``err.data``/``err.addr``,
  never to ``on_recv``; reading goes on (one oversized datagram says nothing
  about the socket).
- Without ``on_recv_error``, an oversized datagram, or an ICMP error reported
  on a socket that is not connected, is dropped and logged at WARNING, at most
  one line per socket per `WARN_INTERVAL`, and the socket stays open: anyone
  can send one, and closing for it would let a single packet take a server's
  socket down. Other errors with no handler close the socket (IO::Async's
  rule), among them ``ECONNREFUSED`` on a connected socket: its one peer is gone.
- Receive errors in `TRANSIENT_RECV_ERRNOS` leave reading on; others stop it,
  so a broken descriptor cannot spin.
- A send error drops only its datagram (``err.data``/``err.addr``); EAGAIN
  keeps it at the head. "Writable" followed at once by EAGAIN (an unconnected
  unix socket whose peer is full: ``poll`` sees only our own buffer) retries on
  a backing-off timer instead of spinning.
"""

import _socket
import collections
import errno
import socket
from collections.abc import Callable
from typing import Any, ClassVar

from greenlet import getcurrent
from zope.interface import implementer

from .._callbacks import WarningLimit
from .._io.nonblocking import WOULD_BLOCK
from .._params import check_flag, check_int, check_positive
from ..addresses import sendto_address
from ..errors import StreamClosedError
from ..interfaces import ISocket
from ._socketbase import DEFAULT_RECV_LEN, SocketBase
from .handle import Handle

__all__ = ['Socket']

#: Datagrams ``recv_all`` takes per wake-up. The kernel queue of a busy socket
#: refills as fast as it drains; a bound keeps one socket from holding the hub
#: for ever, while 64 amortises the wake-up over a good batch. (IO::Async's
#: recv_all has no bound; Twisted stops after 256 KiB of data.)
RECV_ALL_LIMIT = 64

#: Datagrams ``send_all`` sends per write-readiness, for the same reason.
SEND_ALL_LIMIT = 64

#: recv errnos that report an ICMP error for an earlier datagram (Linux, BSD;
#: ECONNRESET is Windows' port-unreachable) or a per-datagram condition; reading
#: goes on after them. Any other errno stops reading.
TRANSIENT_RECV_ERRNOS = frozenset({
    errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH,
    errno.EHOSTDOWN, errno.ENETDOWN, errno.ENOPROTOOPT, errno.EPROTO,
    errno.EMSGSIZE, errno.ENOBUFS, errno.ENOMEM, errno.ETIMEDOUT})

#: Seconds between two WARNING lines of one socket about datagrams or errors it
#: dropped for want of an ``on_recv_error`` handler: a line a minute shows the
#: problem without letting a sender fill the log.
WARN_INTERVAL = 60.0

#: Seconds before the first retry of a send that would block right after
#: write-readiness was reported; doubled per failed retry up to
#: `SEND_RETRY_MAX_DELAY`, reset by a successful send.
SEND_RETRY_MIN_DELAY = 0.001

#: Longest pause in seconds between such retries: a full peer that reads again
#: is served within 0.1 s, while the back-off keeps the process nearly idle.
SEND_RETRY_MAX_DELAY = 0.1

# A plain int: a test on an IntFlag member costs an enum call per datagram.
# Where the platform lacks MSG_TRUNC, _recv_function's stand-in reports this bit.
_MSG_TRUNC = int(getattr(socket, 'MSG_TRUNC', 0)) or 1 << 30

# How _flush was reached: autoflush in send(), after a callback of the socket's
# own greenlet, or on write-readiness.
_AUTOFLUSH = 'autoflush'
_DEFERRED = 'deferred'
_READY = 'ready'

# What _send_batch returns when a send would block.
_BLOCKED = 'blocked'


@implementer(ISocket)
class Socket(SocketBase):
    """See `ISocket`.

    Without ``autoflush`` a datagram sent from one of this socket's callbacks
    leaves right after the callback returns; one sent from another greenlet
    leaves at the next write-readiness.

    Truncation: a datagram longer than ``recv_len`` never reaches ``on_recv``.
    It goes to ``on_recv_error`` as ``OSError(EMSGSIZE)`` with ``err.data``
    (the first ``recv_len`` bytes) and ``err.addr`` (the sender), and receiving
    goes on; without that handler it is dropped and logged at WARNING (at most
    one line per socket per `WARN_INTERVAL`) and the socket stays open. So is an
    ICMP error reported on a socket that is not connected.

    Parameters:
        autoflush: send in ``send()`` itself, as far as the kernel takes
            datagrams (default False).
        recv_len: the longest datagram received whole, in bytes (default
            65536, above the largest UDP payload; must be positive).
        recv_all: receive up to `RECV_ALL_LIMIT` datagrams per wake-up
            (default False: one, so a busy socket cannot starve the others).
        send_all: send up to `SEND_ALL_LIMIT` datagrams per write-readiness
            (default False: one).

    Events:
        on_recv(socket, data, addr): required once there is a read handle;
            ``data`` is ``bytes`` (maybe empty), ``addr`` as ``recvfrom``
            returns it.
        on_recv_error(socket, err): a receive failed (``ECONNREFUSED`` on a
            connected UDP socket) or a datagram was truncated; without a
            handler the socket closes, except for a truncated datagram or an
            ICMP error on an unconnected socket (see above).
        on_send_error(socket, err): a send failed; that datagram is dropped
            (``err.data``, ``err.addr``); else close.
        on_outgoing_empty(socket): the queue drained, not synchronously in an
            autoflush ``send()``.
        on_closed(socket): once, last.
    """

    _EVENTS: ClassVar[frozenset[str]] = Handle._EVENTS | {
        'on_recv', 'on_recv_error', 'on_send_error', 'on_outgoing_empty'}

    #: The numeric and boolean parameters: IO::Async's defaults.
    _PARAMS: ClassVar[dict[str, tuple[Any, Callable[[Any, str], Any]]]] = {
        'autoflush': (False, check_flag), 'recv_len': (DEFAULT_RECV_LEN, check_positive),
        'recv_all': (False, check_flag), 'send_all': (False, check_flag)}

    _READ_EVENT: ClassVar[str | None] = 'on_recv'

    _CACHED_EVENTS: ClassVar[tuple[str, ...]] = ('on_recv', 'on_outgoing_empty')

    # Plain parameters, each kept as '_' + its name.
    _autoflush: bool
    _recv_len: int
    _recv_all: bool
    _send_all: bool

    def _setup(self, params: dict[str, Any]) -> None:
        # The send queue holds (data, flags, addr) tuples. It must never merge
        # datagrams, so it is a deque here, not the byte-stream _writequeue.
        self._queue: collections.deque[tuple[bytes, int, Any]] = collections.deque()
        self._waiting = False          # the head waits for readiness or a timer
        self._flushing = False
        self._retry: Any = None        # libev timer of a backed-off send
        self._retry_delay = SEND_RETRY_MIN_DELAY
        self._on_recv: Any = None
        self._on_outgoing_empty: Any = None
        # The bound system calls (None without that handle).
        self._recv: Any = None
        self._sendfn: Any = None
        self._sendtofn: Any = None
        self._family: Any = None       # the write handle's family (an int), or None
        self._drop_warnings: WarningLimit | None = None    # made on first use
        super()._setup(params)

    # -- configuration ---------------------------------------------------------

    def _configure(self, params: dict[str, Any]) -> None:
        for name, needs in (('handle', ('recvfrom', 'sendto')),
                            ('read_handle', ('recvfrom',)),
                            ('write_handle', ('sendto',))):
            value = params.get(name)
            if value is not None and not all(hasattr(value, m) for m in needs):
                raise TypeError(f'{name} must be a socket with '
                                f'{"/".join(needs)}, not {value!r}')
        super()._configure(params)

    def _handles_changed(self) -> None:
        self._waiting = False
        self._cancel_retry()
        reader, writer = self._read_handle, self._write_handle
        self._recv = None if reader is None else _recv_function(_raw(reader))
        if writer is None:
            self._sendfn = self._sendtofn = self._family = None
        else:
            raw = _raw(writer)
            self._sendfn, self._sendtofn = raw.send, raw.sendto
            family = getattr(writer, 'family', None)
            self._family = None if family is None else int(family)

    # -- receiving -------------------------------------------------------------

    def _read_ready(self) -> None:
        recv, size = self._recv, self._recv_len
        count = RECV_ALL_LIMIT if self._recv_all else 1
        while count:
            count -= 1
            try:
                data, _, flags, addr = recv(size)
            except WOULD_BLOCK:
                return
            except OSError as err:
                self._recv_failed(err)
                return
            if flags & _MSG_TRUNC:
                self._recv_failed(_truncated(data, addr, size))
            else:
                self._on_recv(data, addr)
            if self._closed or not self._want_read:
                return

    def _recv_failed(self, err: OSError) -> None:
        transient = err.errno in TRANSIENT_RECV_ERRNOS
        if not transient:
            self.want_readready = False
        if self._fire('on_recv_error', err):
            return
        if transient and (err.errno == errno.EMSGSIZE or not self._is_connected()):
            self._warn_dropped(err)
        else:
            self.close()

    def _is_connected(self) -> bool:
        try:
            self._read_handle.getpeername()
        except (OSError, AttributeError):
            return False
        return True

    def _warn_dropped(self, err: OSError) -> None:
        if self._drop_warnings is None:
            self._drop_warnings = WarningLimit(WARN_INTERVAL)
        self._drop_warnings.warn('%r dropped what it could not deliver: %s '
                                 '(no on_recv_error handler; the socket stays open)',
                                 self, err)

    # -- sending ---------------------------------------------------------------

    def send(self, data: Any, flags: int = 0, addr: Any = None) -> None:
        """See `ISocket.send`.

        ``addr`` is a socket address as ``recvfrom`` returns it (host names are
        left to the kernel's resolver, so prefer numeric hosts), or any address
        form of docs/api.md section 1 (such as a ``loop.resolve()`` result).

        Raises:
            TypeError: ``data`` is ``str`` or not bytes-like, or ``flags`` or
                the port in ``addr`` is not an int.
            ValueError: ``addr`` is not an address of the socket's family.
            StreamClosedError: the socket has no write handle (closed, never
                given one, or ``close_write()`` was called).
        """
        if type(data) is not bytes:
            data = _as_bytes(data)
        if type(flags) is not int:
            check_int(flags, 'flags')
        if self._wfd is None:
            raise StreamClosedError(f'{self!r} has no write handle to send with')
        if addr is not None:
            addr = sendto_address(self._family, addr)
        self._queue.append((data, flags, addr))
        if self._waiting:
            return
        if self._autoflush:
            self._flush(_AUTOFLUSH)
        elif getcurrent() is not self._glet:
            self._update_watchers()

    def _wants_write(self) -> bool:
        return self._want_write or (bool(self._queue) and self._retry is None)

    def _write_ready(self) -> None:
        if self._want_write:
            self.maybe_invoke_event('on_write_ready')
        self._waiting = False
        if self._queue:
            self._flush(_READY)

    def _before_park(self) -> bool:
        if self._queue and not self._waiting:
            self._flush(_DEFERRED)
        return True

    def _flush(self, how: str) -> None:
        """Send from the head of the queue until it drains, would block or the
        batch is done (one datagram per readiness unless ``send_all``;
        everything the kernel takes for autoflush)."""
        queue = self._queue
        if self._flushing or self._wfd is None:
            return
        before = len(queue)
        outcome = self._send_batch(before if how is _AUTOFLUSH else
                                   SEND_ALL_LIMIT if self._send_all else 1)
        self._waiting = bool(queue)
        moved = len(queue) < before
        if moved:
            self._retry_delay = SEND_RETRY_MIN_DELAY
        if outcome is not None and outcome is not _BLOCKED:
            self._send_failed(outcome)  # type: ignore[arg-type]  # (the OSError)
        elif outcome is _BLOCKED and how is _READY and not moved:
            self._start_retry()
        elif not queue and how is not _AUTOFLUSH and \
                self._on_outgoing_empty is not None:
            self._on_outgoing_empty()
        if not self._closed and getcurrent() is not self._glet:
            self._update_watchers()

    def _send_batch(self, limit: int) -> OSError | str | None:
        """Send up to ``limit`` datagrams. Returns None, _BLOCKED, or the
        OSError of a failed send (its datagram dropped and attached)."""
        queue, send, sendto = self._queue, self._sendfn, self._sendtofn
        sent = 0
        self._flushing = True
        try:
            while queue and sent < limit:
                data, flags, addr = queue[0]
                try:
                    if addr is None:
                        send(data, flags)
                    else:
                        sendto(data, flags, addr)
                except WOULD_BLOCK:
                    return _BLOCKED
                except OSError as err:
                    queue.popleft()
                    # (OSError instances take attributes: ISocket names these.)
                    err.data, err.addr = data, addr  # type: ignore[attr-defined]
                    return err
                queue.popleft()
                sent += 1
            return None
        finally:
            self._flushing = False

    def _send_failed(self, err: OSError) -> None:
        # Reached from send() in the caller's greenlet too (autoflush), so a
        # raising handler is dealt with here rather than left to Handle._run.
        try:
            if self._fire('on_send_error', err):
                return
        except Exception:
            self._callback_failed('on_send_error')
            return
        self.close()

    # -- backing off a send the kernel's readiness report did not cover ---------

    def _start_retry(self) -> None:
        delay = self._retry_delay
        self._retry_delay = min(delay * 2, SEND_RETRY_MAX_DELAY)
        self._retry = self._hub.loop.timer(delay)
        self._retry.start(self._retry_due)

    def _retry_due(self) -> None:
        # Runs in the hub: watch for write-readiness again.
        self._cancel_retry()
        self._update_watchers()

    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry.stop()
            self._retry.close()
            self._retry = None

    # -- leaving and closing ---------------------------------------------------

    def _removed_from_loop(self) -> None:
        self._cancel_retry()
        super()._removed_from_loop()

    def close_write(self) -> None:
        """See `IHandle.close_write`; datagrams still queued are dropped."""
        super().close_write()
        if self._wfd is None:
            self._queue.clear()

    def _closed_hook(self) -> None:
        self._cancel_retry()
        self._queue.clear()
        self._waiting = False
        self._recv = self._sendfn = self._sendtofn = None

    def __repr__(self) -> str:
        where, sock = '', self._write_handle or self._read_handle
        try:
            where = f' {sock.getsockname()!r}'
            where += f' -> {sock.getpeername()!r}'
        except (OSError, AttributeError):
            pass            # no handle, not a socket, or not connected
        state = 'closed' if self._closed else 'open'
        return f'<{type(self).__name__} fd={self._rfd}{where} {state}>'


def _raw(sock: Any) -> Any:
    """The object whose methods make the system calls.

    A gevent socket's ``recvmsg``/``sendto`` are Python wrappers around its
    ``_sock`` that, on a non-blocking socket, only re-raise EAGAIN; calling
    ``_sock`` directly saves about 350 ns per call (measured on this machine's
    loopback, 64-byte datagrams). It is the same kernel object, not a second
    owner of the descriptor.
    """
    inner = getattr(sock, '_sock', None)
    if inner is not None and isinstance(inner, _socket.socket) and \
            type(sock).__module__.startswith('gevent'):
        return inner
    return sock


def _recv_function(sock: Any) -> Callable[[int], tuple[bytes, Any, int, Any]]:
    """``recvmsg`` of ``sock``, or a stand-in with its result shape where the
    platform has no ``recvmsg`` (Windows): it asks one byte more than
    ``recv_len`` and reports a longer result as truncated."""
    recvmsg: Callable[[int], tuple[bytes, Any, int, Any]] | None = getattr(
        sock, 'recvmsg', None)
    if recvmsg is not None:
        return recvmsg
    recvfrom = sock.recvfrom

    def recv(size: int) -> tuple[bytes, Any, int, Any]:
        data, addr = recvfrom(size + 1)
        if len(data) > size:
            return data[:size], None, _MSG_TRUNC, addr
        return data, None, 0, addr
    return recv


def _truncated(data: bytes, addr: Any, size: int) -> OSError:
    err = OSError(errno.EMSGSIZE, f'datagram from {addr!r} was longer than '
                                  f'recv_len={size} and was truncated')
    err.data, err.addr = data, addr  # type: ignore[attr-defined]  # (as in _send_batch)
    return err


def _as_bytes(data: Any) -> bytes:
    """``bytes`` of a bytes-like ``data`` (copied: a queued datagram must not
    change if the caller reuses its buffer)."""
    if isinstance(data, str):
        raise TypeError('data must be bytes-like, not str: a Socket sends bytes '
                        '(encode the text first)')
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f'data must be bytes-like, not {data!r}') from None
