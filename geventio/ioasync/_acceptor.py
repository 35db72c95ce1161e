"""The accepting greenlet of one listening socket (used by `Listener`).

Not a public module. IO::Async::Listener accepts from its Handle's read-ready
event; here each listening socket gets an `Acceptor`, a `Handle` of its own
(its greenlet, watcher and parking are Handle's), so a listener on several
addresses accepts on all of them independently, and a callback blocked on one
socket stalls no other. An Acceptor has no events and is nobody's child: it
joins the listener's loop (so an accept wakes ``loop_once``) without being
listed in it, the `Listener` starts and stops it and applies the accept-error
policy.
"""

from greenlet import getcurrent

from .. import _callbacks
from .._io.nonblocking import WOULD_BLOCK
from .handle import Handle

__all__ = ['Acceptor']


class Acceptor(Handle):
    """Accepts on one listening socket, on a greenlet of its own.

    Readiness wakes the greenlet through Handle's read watcher. During a
    back-off the watcher is off and a timer wakes the greenlet instead.
    `stop` ends a parked greenlet before it returns, so before the listener
    closes the socket.
    """

    def __init__(self, listener, sock, loop):
        self._listener = listener
        self._timer = None
        self._delay = 0
        super().__init__(read_handle=sock)
        self._join_loop(loop)

    def stop(self):
        """Stop accepting; a parked greenlet ends before this returns."""
        self._leave_loop()

    def _stop_watching(self):
        self._end_back_off()
        super()._stop_watching()

    def _read_ready(self):
        if self._end_back_off():
            self.want_readready = True
        pause = self._accept_some()
        if pause and self._glet is getcurrent():
            self.want_readready = False
            self._timer = self._hub.loop.timer(pause)
            self._timer.start(self._wake_read)

    def _accept_some(self):
        """Accept up to ``max_accept`` clients; returns the seconds to pause
        before the next try (0: when readable), or ``None`` when the listener
        closed."""
        listener, sock, me = self._listener, self._read_handle, getcurrent()
        for _ in range(listener.max_accept):
            try:
                client, _addr = sock.accept()
            except WOULD_BLOCK:
                return 0
            except OSError as err:
                self._delay = listener._accept_failed(sock, err, self._delay)
                if self._delay != 0:
                    return self._delay
                continue
            self._delay = 0
            listener._accepted(sock, client)
            if self._glet is not me:
                return None
        return 0

    def _end_back_off(self):
        """Drop the back-off timer; returns whether there was one."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()
        return timer is not None

    def _callback_failed(self, what):
        # A bug, not a user callback (the listener catches those): the
        # listener closes rather than this socket alone.
        _callbacks.report(f'accepting on {self._read_handle!r}', self._listener)
        self._listener.close()
