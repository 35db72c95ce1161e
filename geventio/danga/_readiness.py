"""Readiness for Danga::Socket's loop, gathered on the gevent hub: each watched
descriptor's libev watcher, the epoll that reports error and hang-up, and the
greenlet of ``event_loop()`` parked until there is something to dispatch.

Not a public module. `Watched` is the base of everything the loop watches (a
DangaSocket, an "other fd"); `READINESS` holds what the watchers noted and wakes
the loop; `Hangups` is the error and hang-up reporter.

Design: noting in the hub, dispatching in event_loop()
------------------------------------------------------
Each watched descriptor has one libev io watcher on the hub (``hub.loop.io(fd,
events)``) for the directions it wants. The watcher's callback runs in the hub
and only notes the readiness, on the object and in the ready list; the first
note of a round asks the hub (``run_callback``) to switch back into the parked
``event_loop()``. gevent runs that callback just before its next poll, so by then
everything the last poll reported has been noted, and one switch serves the
whole round, as one ``epoll_wait`` does in Perl.

libev tells error and hang-up apart from nothing: they come as readiness of a
watched direction, and a new Danga object watches no direction (it "watches
errors and hang-up only"). So on Linux each descriptor is also registered, with
an empty event mask, in one ``select.epoll`` of ours, which reports exactly
EPOLLERR and EPOLLHUP (the kernel always reports those); that epoll's own
descriptor is one more libev watcher. Without epoll, error and hang-up show only
as readiness of a watched direction (``have_epoll()`` is false).

Watchers are level-triggered and stay started between rounds, which costs
nothing while the loop keeps up. One that fires again before its last readiness
was dispatched (``event_loop()`` is not running, or a handler is blocked on
something cooperative) is stopped until that dispatch, so the hub never spins on
readiness nobody is there to take.

Waiting parks the greenlet that called ``event_loop()`` in the hub: every other
greenlet runs meanwhile, and a ``gevent.Timeout`` or ``kill`` ends the wait with
its exception.
"""

from collections.abc import Callable
from typing import Any

import gevent
from gevent.monkey import get_original
from greenlet import getcurrent

__all__ = ['EPOLL', 'ERR', 'HUP', 'POLLIN', 'READ', 'READINESS', 'WRITE', 'Hangups',
           'Watched']

#: Readiness bits: libev's two directions (what its io watchers report) ...
READ = 1
WRITE = 2
#: ... and poll(2)'s error and hang-up bits, which epoll shares (EPOLLERR, EPOLLHUP).
ERR = 0x008
HUP = 0x010
#: What an other fd's code gets for "readable" (Perl passes epoll's EPOLLIN).
POLLIN = 0x001

EPOLL: Any
try:
    #: The kernel's epoll, or None. ``monkey.patch_all()`` removes ``select.epoll``
    #: (before or after this import); only ``poll(0)`` is called on it, which
    #: never blocks, so the original is safe to use under gevent.
    EPOLL = get_original('select', 'epoll')
except AttributeError:
    EPOLL = None


class Watched:
    """Something the loop watches: a descriptor, its libev watcher, the
    directions wanted (``_watch``) and the readiness noted but not yet
    dispatched (``_revents``). Subclasses provide ``_dispatch_events(revents)``."""

    __slots__ = ('_fd', '_closed', '_watch', '_watcher', '_revents', '_dormant')

    def _init_watched(self, fd: int) -> None:
        self._fd = fd
        self._closed = False
        self._watch = 0
        self._watcher: Any = None
        self._revents = 0
        self._dormant = False

    def _dispatch_events(self, revents: int) -> None:
        """Deliver ``revents`` (called by the loop, in ``event_loop()``)."""
        raise NotImplementedError

    def _set_watch(self, mask: int) -> None:
        """Watch the directions in ``mask`` (``READ | WRITE``) from now on."""
        if mask != self._watch:
            self._watch = mask
            if not self._dormant:
                self._arm()

    def _arm(self) -> None:
        """Make the watcher match ``_watch``: started for those directions, or stopped."""
        mask, watcher = self._watch, self._watcher
        if watcher is not None and watcher.active:
            if watcher.events == mask:
                return
            watcher.stop()
        if not mask:
            return
        if watcher is None:
            watcher = self._watcher = gevent.get_hub().loop.io(self._fd, mask)
        else:
            watcher.events = mask
        watcher.start(self._io_ready, pass_events=True)

    def _io_ready(self, events: int) -> None:
        # The watcher's callback, in the hub.
        if self._revents:
            # Seen again before the loop took it: stop until it does (see above).
            self._watcher.stop()
            self._dormant = True
        self._note(events)

    def _note(self, events: int) -> None:
        """Readiness to dispatch: from the watcher, or learnt elsewhere (error
        or hang-up)."""
        if self._revents:
            self._revents |= events
        else:
            self._revents = events
            READINESS.note(self)

    def _take_readiness(self) -> int:
        """The readiness noted, now being dispatched (the watcher restarted if it
        was stopped meanwhile)."""
        revents = self._revents
        self._revents = 0
        if self._dormant:
            self._dormant = False
            self._arm()
        return revents

    def _unwatch(self) -> None:
        """Close the watcher for good and forget any readiness not dispatched."""
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self._revents = 0
        self._dormant = False


class Hangups:
    """Error and hang-up of the descriptors added, from an epoll of our own whose
    descriptor libev watches (see the module docstring). Linux only.

    ``lookup(fd)`` returns the `Watched` registered for a descriptor, or None.
    """

    def __init__(self, lookup: Callable[[int], Watched | None]) -> None:
        self._lookup = lookup
        self._epoll = EPOLL()
        self._watcher: Any = gevent.get_hub().loop.io(self._epoll.fileno(), READ)
        self._fds: set[int] = set()
        self._noted = False         # noted on objects, not yet dispatched
        self._dormant = False

    def add(self, fd: int) -> None:
        """Report ``fd``'s errors and hang-ups. Raises the ``OSError`` of
        ``epoll_ctl`` (EPERM: a descriptor that cannot be polled)."""
        self._epoll.register(fd, 0)
        self._fds.add(fd)
        if len(self._fds) == 1 and not self._dormant:
            self._watcher.start(self._ready)

    def discard(self, fd: int) -> int:
        """Stop reporting ``fd``; returns how many descriptors are left."""
        if fd in self._fds:
            self._fds.remove(fd)
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass                # closed behind our back: the kernel dropped it
        return len(self._fds)

    def dispatched(self) -> None:
        """The loop is dispatching what was noted: look again from now on."""
        self._noted = False
        if self._dormant:
            self._dormant = False
            if self._fds:
                self._watcher.start(self._ready)

    def close(self) -> None:
        self._watcher.close()
        self._epoll.close()

    def forked(self) -> None:
        """In a forked child: the epoll is one kernel object shared with the
        parent, so adding or removing a descriptor here would change what the
        parent hears (a child's ``reset()`` would silence the parent's
        hang-ups). Close only this process's descriptor of it, untouched, and
        report the same descriptors through a new one."""
        loop, active = self._watcher.loop, self._watcher.active
        self.close()
        self._epoll = EPOLL()
        self._watcher = loop.io(self._epoll.fileno(), READ)
        for fd in list(self._fds):
            try:
                self._epoll.register(fd, 0)
            except OSError:
                self._fds.remove(fd)    # closed meanwhile: nothing to report
        if active and self._fds:
            self._watcher.start(self._ready)

    def _ready(self) -> None:
        if self._noted:
            self._watcher.stop()
            self._dormant = True
            return
        for fd, events in self._epoll.poll(0):
            watched = self._lookup(fd)
            if watched is None or watched._closed:
                self.discard(fd)        # Perl: "no mapping. removing."
                continue
            watched._note(events & (ERR | HUP))
            self._noted = True


class Readiness:
    """The objects with readiness noted, in the order noted, and the greenlet of
    ``event_loop()`` while it waits for some."""

    def __init__(self) -> None:
        self._ready: list[Watched] = []
        self._parked: Any = None        # the greenlet of a waiting event_loop()
        self._wake_cb: Any = None

    @property
    def waiting(self) -> bool:
        """Whether ``event_loop()`` is parked in `wait`."""
        return self._parked is not None

    def note(self, watched: Watched) -> None:
        self._ready.append(watched)
        if self._parked is not None and self._wake_cb is None:
            self._wake_cb = gevent.get_hub().loop.run_callback(self._wake)

    def take(self) -> list[Watched]:
        """The objects noted so far (to dispatch); noting starts a new list."""
        ready, self._ready = self._ready, []
        return ready

    def put_back(self, watched: list[Watched]) -> None:
        """Undispatched objects of an interrupted round go first next time."""
        self._ready[:0] = watched

    def clear(self) -> None:
        self._ready = []

    def wait(self, seconds: float | None) -> None:
        """Park the calling greenlet in the hub until something is noted, or
        ``seconds`` (``None``: no limit) have passed, or `wake_soon`; at once if
        something was noted already."""
        if self._ready:
            return
        hub = gevent.get_hub()
        timer = None
        if seconds is not None:
            timer = hub.loop.timer(seconds)
            timer.start(self.wake_soon, update=True)
        self._parked = getcurrent()
        try:
            hub.switch()
        finally:
            self._parked = None
            if timer is not None:
                timer.close()
            if self._wake_cb is not None:
                self._wake_cb.stop()
                self._wake_cb = None

    def wake_soon(self) -> None:
        """End the wait in progress (if any) before the hub polls again."""
        if self._parked is not None and self._wake_cb is None:
            self._wake_cb = gevent.get_hub().loop.run_callback(self._wake)

    def _wake(self) -> None:
        self._wake_cb = None
        if self._parked is not None:
            self._parked.switch()


READINESS = Readiness()
