"""The accepting greenlet of one listening socket (used by `Listener`).

Not a public module. IO::Async::Listener accepts from its Handle's read-ready
event; here each listening socket has an `Acceptor` running the same pattern as
`geventio.handle.Handle`, so a listener on several addresses accepts on all of
them independently, and a callback blocked on one socket stalls no other.
"""

import logging

from greenlet import getcurrent, greenlet

from ._writequeue import WOULD_BLOCK

__all__ = ['Acceptor']

log = logging.getLogger('geventio')

# What the watchers pass to a parked acceptor greenlet.
_ACCEPT, _RESUME, _STOP = 'accept', 'resume', 'stop'


class Acceptor:
    """Accepts on one listening socket, on a greenlet of its own.

    The `Handle` pattern: a libev io watcher, started while the greenlet is
    parked, switches into it from the hub; stopping switches ``_STOP`` into a
    parked greenlet, so it ends before `stop` returns and before the socket is
    closed. During a back-off a timer replaces the io watcher.
    """

    def __init__(self, listener, sock, hub):
        self.sock = sock
        self._listener = listener
        self._hub = hub
        self._io = hub.loop.io(sock.fileno(), 1)
        self._timer = None
        self._delay = 0
        self._glet = greenlet(self._run, hub)
        self._parked = True         # not started yet counts as parked
        self._io.start(self._wake, _ACCEPT)

    def _wake(self, what):
        # Runs in the hub.
        if self._parked:
            self._glet.switch(what)
        elif what is _ACCEPT:
            self._io.stop()         # busy in a callback: restarted before parking

    def _run(self, what):
        me = getcurrent()
        try:
            while what is not _STOP and self._glet is me:
                self._parked = False
                if self._timer is not None:
                    self._timer.close()
                    self._timer = None
                pause = self._accept_some(me)
                if pause is None or self._glet is not me:
                    return
                self._park(pause)
                what = self._hub.switch()
        except Exception:
            # A bug, not a user callback (the listener catches those): an
            # exception must not reach the hub, this greenlet's parent.
            if self._glet is me:
                log.error('accepting on %r failed; closing %r', self.sock,
                          self._listener, exc_info=True)
                self._listener.close()
        finally:
            self._parked = False
            if self._glet is me:
                self._glet = None

    def _accept_some(self, me):
        """Accept up to ``max_accept`` clients; returns the pause before the
        next try (0: when readable), or ``None`` when the listener closed."""
        for _ in range(self._listener.max_accept):
            try:
                client, _addr = self.sock.accept()
            except WOULD_BLOCK:
                return 0
            except OSError as err:
                self._delay = self._listener._accept_failed(self.sock, err, self._delay)
                if self._delay != 0:
                    return self._delay
                continue
            self._delay = 0
            self._listener._accepted(self.sock, client)
            if self._glet is not me:
                return None
        return 0

    def _park(self, pause):
        if pause:
            self._io.stop()
            self._timer = self._hub.loop.timer(pause)
            self._timer.start(self._wake, _RESUME)
        elif not self._io.active:
            self._io.start(self._wake, _ACCEPT)
        self._parked = True

    def stop(self):
        """Stop accepting; a parked greenlet ends before this returns."""
        glet, self._glet = self._glet, None
        parked, self._parked = self._parked, False
        for watcher in (self._io, self._timer):
            if watcher is not None:
                watcher.stop()
                watcher.close()
        current = getcurrent()
        if glet is None or glet is current or not glet or not parked:
            return      # unstarted, the caller itself, or busy: it sees _glet
        try:
            glet.parent = current
        except ValueError:
            self._hub.loop.run_callback(glet.switch, _STOP)
        else:
            glet.switch(_STOP)
