"""A greenlet parked on its own libev watchers: what runs an IOStream's callbacks.

Not a public module. `Parked` is the base of the layer that owns an IOStream's
file handle (``_fhlayer.FhLayer``): one greenlet, a read and a write watcher
on the descriptor, and the timers that wake it. The subclass says what each
wake-up means (`Parked._dispatch`).

Design: where callbacks run
---------------------------
IO::Stream runs inside EV's watcher callbacks. gevent runs those in the hub,
where nothing may block, so a user callback making a cooperative call (a
database query under ``monkey.patch_all()``) would fail there. Each stream
therefore has a greenlet of its own, parked on its own libev watchers and
timers, the scheme ``geventio.ioasync.handle`` uses and measured in
docs/performance.md: a watcher's callback (in the hub) switches straight
into the parked greenlet, which dispatches one wake-up and parks again.
While the greenlet is busy in a callback that blocks, a firing io watcher is
stopped (level-triggered, it would spin) and restarted before the greenlet
parks; a timer that fires meanwhile is remembered and dispatched then. A
greenlet that never woke has no stack: an idle stream costs its objects and
its watchers.
"""

from typing import Any

from greenlet import getcurrent, greenlet

__all__ = ['READ', 'WRITE', 'Parked']

# What the io watchers wake the greenlet with.
READ = 'read'
WRITE = 'write'

_switch = greenlet.switch


class Parked:
    """The greenlet and its two io watchers.

    Attributes (for the subclass):
        _rw, _ww: the read and write watchers, or ``None``.
        _reading, _want_write: whether each should run; a watcher stopped
            while the greenlet was busy is restarted before it parks.
        _waiting: set around a blocking call of the subclass's own (a name
            lookup), so that `_end_greenlet` may interrupt it.
    """

    __slots__ = ('_hub', '_glet', '_parked', '_waiting', '_pending', '_rw', '_ww',
                 '_reading', '_want_write')

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        # Not started yet counts as parked: the first wake-up starts it.
        self._glet: Any = greenlet(self._run, hub)      # None once ended
        self._parked = True
        self._waiting = False
        self._pending: list[Any] = []
        self._rw: Any = None
        self._ww: Any = None
        self._reading = self._want_write = False

    def _wake(self, token: Any) -> None:
        # Runs in the hub (watchers, timers, run_callback).
        if self._parked:
            self._glet.switch(token)
        elif token is READ:
            self._rw.stop()
        elif token is WRITE:
            self._ww.stop()
        else:
            self._pending.append(token)

    def _run(self, token: Any) -> None:
        """The greenlet: dispatch one wake-up, restart watchers, park, repeat."""
        me = getcurrent()
        hub = self._hub
        self._parked = False
        try:
            while True:
                if token is READ:
                    self._read()
                else:
                    self._dispatch(token)
                while self._pending and self._glet is me:
                    self._dispatch(self._pending.pop(0))
                if self._glet is not me:
                    return
                self._restart_watchers()
                self._parked = True
                token = _switch(hub)
                self._parked = False
        except Exception:
            if self._glet is me:
                self._failed()

    def _restart_watchers(self) -> None:
        rw = self._rw
        if self._reading and not rw.active:
            rw.start(self._wake, READ)
        ww = self._ww
        if self._want_write and not ww.active:
            ww.start(self._wake, WRITE)

    def _end_greenlet(self) -> None:
        """Let the greenlet go. Suspended in our own code (parked, or in a
        `_waiting` call), it is ended now and returns here; busy in a callback,
        it ends when the callback returns; never started, it never will."""
        glet, self._glet = self._glet, None
        current = getcurrent()
        if glet and glet is not current and (self._parked or self._waiting):
            self._parked = self._waiting = False
            try:
                glet.parent = current
            except ValueError:
                self._hub.loop.run_callback(glet.throw)
            else:
                glet.throw()

    def _read(self) -> None:
        """Hook: the read watcher fired."""
        raise NotImplementedError

    def _dispatch(self, token: Any) -> None:
        """Hook: any other wake-up (``WRITE``, or a token of the subclass)."""
        raise NotImplementedError

    def _failed(self) -> None:
        """Hook: a dispatch raised (called inside the ``except`` block)."""
        raise NotImplementedError
