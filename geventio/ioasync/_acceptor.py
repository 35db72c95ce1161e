"""The accepting greenlet of one listening socket (used by `Listener`), and what
it does when accept() fails.

Not a public module. IO::Async::Listener accepts from its Handle's read-ready
event; here each listening socket gets an `Acceptor`, a `Handle` of its own
(its greenlet, watcher and parking are Handle's), so a listener on several
addresses accepts on all of them independently, and a callback blocked on one
socket stalls no other. An Acceptor has no events and is nobody's child: it
joins the listener's loop (so an accept wakes ``loop_once``) without being
listed in it; the `Listener` starts, pauses and stops it, and tells its
``on_accept_error``.

Design: accept errors
---------------------
accept(2) fails for two different reasons. *Capacity*: the process or the
system is out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM); the
connection stays queued in the kernel and the socket stays readable, so a
level-triggered loop that retries at once spins. *Per connection*: the
client's connection died before it was accepted (ECONNABORTED), and on Linux
accept(2) also returns errors that belong to the new connection (accept(2)
NOTES: ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
EOPNOTSUPP, ENETUNREACH, plus EPERM from a firewall); the next accept may well
succeed. Anything else (EBADF, EINVAL, ENOTSOCK) means the listening socket
itself is broken.

What others do: asyncio (``selector_events._accept_connection``) stops
watching for ``constants.ACCEPT_RETRY_DELAY`` (1 s) on the capacity errnos and
ignores ECONNABORTED; trio (``_highlevel_serve_listeners.py``) sleeps
``SLEEP_TIME`` (0.1 s) on ``ACCEPT_CAPACITY_ERRNOS`` and retries the Linux
per-connection errnos at once (``_highlevel_socket.py``); Twisted
(``internet/tcp.py``, ``Port.doRead``) logs ``_ACCEPT_ERRORS`` and waits for
the next readiness; gevent (``baseserver.py``, ``_do_read``) backs off from
``min_delay`` doubling to ``max_delay`` on any error and closes on
``fatal_errors``. libev's manual ("the special problem of accept()ing when you
can't") suggests keeping a spare descriptor to accept and drop the client.

We choose: capacity errors (ECONNABORTED counts as one) never close the
listener: ``on_accept_error`` is told if it exists and accepting pauses,
gevent-style, for `Listener.min_delay` seconds doubling to `Listener.max_delay`,
reset by the next success. Without a handler the first failure of each
back-off is logged at WARNING, at most one line per listener per
`CAPACITY_WARN_INTERVAL` (a process out of descriptors goes in and out of
back-off with every connection that closes). Per-connection errors are told
and accepting goes on at once. Other errors are told to ``on_accept_error`` and
back off like capacity errors; with no handler they close the listener
(IO::Async's rule for an error event without a handler). No spare descriptor
is kept: it would cost one descriptor per listener to turn a client that is
waiting into one that is reset, while the back-off already keeps the loop from
spinning and serves that client once descriptors are free.
"""

import errno
import socket
from typing import Any

import gevent.socket
from greenlet import getcurrent

from .. import _callbacks
from .._io.nonblocking import WOULD_BLOCK
from .handle import Handle

__all__ = ['ACCEPT_CAPACITY_ERRNOS', 'ACCEPT_CONNECTION_ERRNOS', 'Acceptor',
           'CAPACITY_WARN_INTERVAL']

#: accept() errnos meaning "out of descriptors or memory": back off and retry
#: (trio ACCEPT_CAPACITY_ERRNOS plus ECONNABORTED).
ACCEPT_CAPACITY_ERRNOS = frozenset({
    errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.ECONNABORTED})

#: accept() errnos that belong to one dead connection: retry at once (Linux
#: accept(2) NOTES; trio _ignorable_accept_errno_names).
ACCEPT_CONNECTION_ERRNOS = frozenset(
    getattr(errno, name) for name in (
        'EPERM', 'EPROTO', 'ENETDOWN', 'ENOPROTOOPT', 'EHOSTDOWN', 'ENONET',
        'EHOSTUNREACH', 'EOPNOTSUPP', 'ENETUNREACH', 'ECONNRESET', 'ETIMEDOUT')
    if hasattr(errno, name))

#: Seconds between two WARNING lines of one listener about backing off for
#: lack of capacity when it has no ``on_accept_error``: a line a minute says
#: the process is out of descriptors without flooding the log while it is.
CAPACITY_WARN_INTERVAL = 60.0


#: The classes of the listening sockets whose ``_accept()`` (what their
#: ``accept()`` calls) is used: these exactly, not their subclasses. An
#: ``SSLSocket`` (stdlib or gevent) is such a subclass: its ``accept()`` wraps the
#: client in TLS, which the raw ``_accept()`` would skip.
_REAL_SOCKETS = (socket.socket, gevent.socket.socket)


class Acceptor(Handle):
    """Accepts on one listening socket, on a greenlet of its own.

    Readiness wakes the greenlet through Handle's read watcher. During a
    back-off the watcher is off and a timer wakes the greenlet instead.
    `stop` ends a parked greenlet before it returns, so before the listener
    closes the socket.
    """

    def __init__(self, listener: Any, sock: Any, loop: Any) -> None:
        self._listener = listener
        self._timer: Any = None
        self._delay: float | None = 0
        self._paused = False
        # A real socket (stdlib or gevent) is accepted from the way its own
        # accept() and gevent's StreamServer do it, with _accept() and the
        # client's kind worked out once: gevent's accept() asks the listening
        # socket for its family, type and timeout on every call (in-process
        # 6.0 -> 4.8 us per accept; connection rate 69.2 -> 67.4 us of server
        # CPU per connection). Anything else with accept() (a subclass, such
        # as a listening SSLSocket) is called as it is.
        self._kind = (sock.family, sock.type, sock.proto) \
            if type(sock) in _REAL_SOCKETS else None
        super().__init__(read_handle=sock)
        self._join_loop(loop)

    def stop(self) -> None:
        """Stop accepting; a parked greenlet ends before this returns."""
        self._leave_loop()

    def pause(self) -> None:
        """Stop accepting until `resume` (clients wait in the accept queue)."""
        self._end_back_off()
        self._paused = True
        if self._rfd is not None:
            self.want_readready = False

    def resume(self) -> None:
        """Accept again after `pause`; nothing if not paused."""
        if self._paused:
            self._paused = False
            if self._rfd is not None:
                self.want_readready = True

    def _stop_watching(self) -> None:
        self._end_back_off()
        super()._stop_watching()

    def _read_ready(self) -> None:
        if self._end_back_off():
            self.want_readready = True
        pause = self._accept_some()
        if pause and self._glet is getcurrent():
            self.want_readready = False
            self._timer = self._hub.loop.timer(pause)
            self._timer.start(self._wake_read)

    def _accept_some(self) -> float | None:
        """Accept up to ``max_accept`` clients; returns the seconds to pause
        before the next try (0: when readable), or ``None`` when the listener
        closed or paused accepting."""
        listener, sock, me = self._listener, self._read_handle, getcurrent()
        kind = self._kind
        for _ in range(listener.max_accept):
            try:
                if kind is None:
                    client, _addr = sock.accept()
                else:
                    fd, _addr = sock._accept()
                    client = gevent.socket.socket(*kind, fileno=fd)
            except WOULD_BLOCK:
                return 0
            except OSError as err:
                self._delay = self._failed(err)
                if self._delay != 0:
                    return self._delay
                continue
            self._delay = 0
            listener._accepted(sock, client)
            if self._glet is not me or self._paused:
                return None
        return 0

    def _failed(self, err: OSError) -> float | None:
        """Apply the accept-error policy (module docstring) to a failure after
        a pause of ``self._delay`` seconds (0: the first of a back-off);
        returns the seconds to pause before accepting again (0: go on now), or
        ``None`` when the listener closed."""
        listener, sock, delay = self._listener, self._read_handle, self._delay
        if err.errno in ACCEPT_CONNECTION_ERRNOS:
            listener._tell_accept_error(sock, err)
            return 0
        if not listener.can_event('on_accept_error'):
            if err.errno not in ACCEPT_CAPACITY_ERRNOS:
                _callbacks.log.error('accept on %r failed: %s; closing %r',
                                     sock, err, listener)
                listener.close()
                return None
            if not delay:
                listener._capacity_warnings.warn(
                    'accept on %r failed: %s; backing off from %s s up to %s s '
                    '(no on_accept_error handler)', sock, err,
                    listener.min_delay, listener.max_delay)
        listener._tell_accept_error(sock, err)
        pause: float = min(listener.max_delay, delay * 2) if delay else listener.min_delay
        return pause

    def _end_back_off(self) -> bool:
        """Drop the back-off timer; returns whether there was one."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()
        return timer is not None

    def _callback_failed(self, what: str) -> None:
        # A bug, not a user callback (the listener catches those): the
        # listener closes rather than this socket alone.
        _callbacks.report(f'accepting on {self._read_handle!r}', self._listener)
        self._listener.close()
