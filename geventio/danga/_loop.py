"""Danga::Socket's event loop: the descriptor map, readiness gathered on the gevent
hub, and the iterations of ``event_loop()``.

Not a public module. `LOOP` is the process-wide state behind DangaSocket's class
methods, Perl's package variables (``%DescriptorMap``, ``@ToClose``,
``%OtherFds``, ``%PushBackSet``, ``%PLCMap``, ``$PostLoopCallback``,
``$LoopTimeout``, ``@Timers``); `Watched` is what it watches, a DangaSocket or
one of the "other fds" that have a callback instead of an object.

Design: readiness from libev, dispatch in event_loop()
------------------------------------------------------
Each watched descriptor has one libev io watcher on the hub (``hub.loop.io(fd,
events)``) for the directions it wants. The watcher's callback runs in the hub
and only notes the readiness, on the object and in the ready list; the first
note of a round asks the hub (``run_callback``) to switch back into the greenlet
parked in ``event_loop()``. gevent runs that callback just before its next poll,
so everything the last poll reported has been noted by then, and one switch
serves the whole round, as one ``epoll_wait`` does in Perl.

libev tells error and hang-up apart from nothing: they come as readiness of a
watched direction, and a new Danga object watches no direction (it "watches
errors and hang-up only"). So on Linux each descriptor is also registered, with
an empty event mask, in one ``select.epoll`` of ours, which then reports exactly
EPOLLERR and EPOLLHUP (the kernel always reports those); that epoll's descriptor
is one more libev watcher (`_Hangups`). Without epoll, error and hang-up show
only as readiness of a watched direction (``have_epoll()`` is false).

Watchers are level-triggered and stay started between rounds, which costs
nothing while the loop keeps up. One that fires again before its last readiness
was dispatched (``event_loop()`` is not running, or a handler is blocked on
something cooperative) is stopped until that dispatch, so the hub never spins
on readiness nobody is there to take.

Waiting parks the greenlet that called ``event_loop()`` in the hub: every other
greenlet runs meanwhile, and a ``gevent.Timeout`` or ``kill`` ends the wait with
its exception. Something changed from another greenlet while the loop waits (a
timer added, the last socket closed, ``reset()``) wakes it for a new iteration,
so the wait is always bounded by what is there now.
"""

import os
import select
import time

import gevent
from greenlet import getcurrent

from .. import _callbacks
from .._io.nonblocking import close_quietly
from .._io.reading import SCRATCH_SIZE, read_view
from ._timers import Timers

__all__ = ['ERR', 'HUP', 'LOOP', 'POLLIN', 'READ', 'WRITE', 'Watched']

#: Readiness bits: libev's two directions (what its io watchers report) ...
READ = 1
WRITE = 2
#: ... and poll(2)'s error and hang-up bits, which epoll shares (EPOLLERR, EPOLLHUP).
ERR = 0x008
HUP = 0x010
#: What an other fd's code gets for "readable" (Perl passes epoll's EPOLLIN).
POLLIN = 0x001


class Watched:
    """Something the loop watches: a descriptor, its libev watcher, the
    directions wanted (``_watch``) and the readiness noted but not yet
    dispatched (``_revents``). Subclasses provide ``_dispatch_events(revents)``."""

    __slots__ = ('_fd', '_closed', '_watch', '_watcher', '_revents', '_dormant')

    def _init_watched(self, fd):
        self._fd = fd
        self._closed = False
        self._watch = 0
        self._watcher = None
        self._revents = 0
        self._dormant = False

    def _set_watch(self, mask):
        """Watch the directions in ``mask`` (``READ | WRITE``) from now on."""
        if mask != self._watch:
            self._watch = mask
            if not self._dormant:
                self._arm()

    def _arm(self):
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

    def _io_ready(self, events):
        # The watcher's callback, in the hub.
        if self._revents:
            # Seen again before the loop took it: stop until it does (see above).
            self._watcher.stop()
            self._dormant = True
            self._revents |= events
        else:
            self._revents = events
            LOOP.note_ready(self)

    def _note(self, events):
        """Readiness learnt elsewhere (error or hang-up, pushed-back TLS data)."""
        if self._revents:
            self._revents |= events
        else:
            self._revents = events
            LOOP.note_ready(self)

    def _unwatch(self):
        """Close the watcher for good and forget any readiness not dispatched."""
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self._revents = 0
        self._dormant = False


class _OtherFd(Watched):
    """A descriptor of ``add_other_fds``: readability (and error, hang-up) call
    ``code(state)`` with poll(2) bits, as Perl's ``$code->($state)``."""

    __slots__ = ('code',)

    def __init__(self, fd, code):
        self._init_watched(fd)
        self.code = code

    def _dispatch_events(self, revents):
        code = self.code
        try:
            code((POLLIN if revents & READ else 0) | (revents & (ERR | HUP)))
        except Exception:
            _callbacks.report(f'the code of other fd {self._fd} ({code!r}); the fd is '
                              'no longer watched')
            LOOP.drop_other_fd(self._fd)


class _Hangups:
    """Error and hang-up of every watched descriptor, from an epoll of our own
    whose descriptor libev watches (see the module docstring). Linux only."""

    def __init__(self):
        self._epoll = select.epoll()
        self._watcher = gevent.get_hub().loop.io(self._epoll.fileno(), READ)
        self._fds = set()
        self._noted = False         # noted on objects, not yet dispatched
        self._dormant = False

    def add(self, fd):
        """Report ``fd``'s errors and hang-ups. Raises the ``OSError`` of
        ``epoll_ctl`` (EPERM: a descriptor that cannot be polled)."""
        self._epoll.register(fd, 0)
        self._fds.add(fd)
        if len(self._fds) == 1 and not self._dormant:
            self._watcher.start(self._ready)

    def discard(self, fd):
        """Stop reporting ``fd``; returns how many descriptors are left."""
        if fd in self._fds:
            self._fds.remove(fd)
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass                # closed behind our back: the kernel dropped it
        return len(self._fds)

    def dispatched(self):
        """The loop is dispatching what was noted: look again from now on."""
        self._noted = False
        if self._dormant:
            self._dormant = False
            if self._fds:
                self._watcher.start(self._ready)

    def close(self):
        self._watcher.close()
        self._epoll.close()

    def _ready(self):
        if self._noted:
            self._watcher.stop()
            self._dormant = True
            return
        objects, others = LOOP.descriptor_map, LOOP.other_fds
        for fd, events in self._epoll.poll(0):
            watched = objects.get(fd)
            if watched is None:
                watched = others.get(fd)
            if watched is None or watched._closed:
                LOOP.unwatch_hangups(fd)    # Perl: "no mapping. removing."
                continue
            watched._note(events & (ERR | HUP))
            self._noted = True


class Loop:
    """The process-wide state and the iterations of ``event_loop()``.

    One iteration, as Perl's ``EpollEventLoop`` and ``PostEventLoop``: run the
    due timers; wait for readiness, at most until the next timer or the loop
    timeout; for each ready object call ``event_read``, ``event_write``,
    ``event_err``, ``event_hup`` (those it is ready for), skipping it once it is
    closed; call ``event_read`` again on objects with pushed-back data while they
    watch reads and take some of it; close the sockets closed meanwhile; call the
    per-object post-loop callbacks, then the global one, until one returns a
    false value, which ends ``event_loop()``.
    """

    def __init__(self):
        self.descriptor_map = {}    # fd -> DangaSocket, closed ones until the real close
        self.other_fds = {}         # fd -> _OtherFd
        self.push_back = {}         # fd -> DangaSocket with pushed-back data
        self.post_loop = {}         # fd -> (DangaSocket, code)
        self.post_loop_callback = None
        self.loop_timeout = -1      # milliseconds; -1: no limit
        self.timers = Timers()
        self.closing = []           # (fd, sock, object) to close at the end of the round
        self.views = {}             # read size -> view of the hub's scratch buffer
        self.have_epoll = hasattr(select, 'epoll')
        self._ready = []
        self._hangups = None
        self._running = False
        self._in_round = False      # running timers or handlers: closes are deferred
        self._parked = None         # the greenlet of event_loop() while it waits
        self._wake_cb = None

    # -- registering -------------------------------------------------------------

    def check_free(self, fd, name):
        if fd in self.descriptor_map:
            raise ValueError(f'{name}: descriptor {fd} is already in the descriptor '
                             f'map, as {self.descriptor_map[fd]!r}')
        if fd in self.other_fds:
            raise ValueError(f'{name}: descriptor {fd} is already watched as an '
                             'other fd')

    def register(self, obj, fd):
        """Put ``obj`` in the descriptor map (``check_free`` first)."""
        if self.have_epoll:
            self.watch_hangups(fd)
        self.descriptor_map[fd] = obj

    def watch_hangups(self, fd):
        """Report ``fd``'s errors and hang-ups (epoll only); raises OSError as
        `_Hangups.add`."""
        if self._hangups is None:
            self._hangups = _Hangups()
        try:
            self._hangups.add(fd)
        except OSError:
            self.unwatch_hangups(fd)
            raise

    def unwatch_hangups(self, fd):
        """The epoll and its watcher go with the last descriptor: an idle loop
        holds neither a descriptor nor a started watcher."""
        if self._hangups is not None and not self._hangups.discard(fd):
            self._hangups.close()
            self._hangups = None

    def unregister(self, obj, fd):
        """``obj`` closed: no more events or callbacks for it. It stays in the
        descriptor map until `release` or `forget`."""
        self.push_back.pop(fd, None)
        entry = self.post_loop.get(fd)
        if entry is not None and entry[0] is obj:
            del self.post_loop[fd]
        self.unwatch_hangups(fd)

    def release(self, obj, fd, sock):
        """Close ``sock`` at the end of this iteration (now, outside one) and take
        ``obj`` out of the descriptor map then: fd numbers are not reused while a
        round may still refer to them."""
        if self._in_round:
            self.closing.append((fd, sock, obj))
        else:
            self.forget(obj, fd)
            close_quietly(sock)

    def forget(self, obj, fd):
        """Take ``obj`` out of the descriptor map now (its socket was stolen)."""
        if self.descriptor_map.get(fd) is obj:
            del self.descriptor_map[fd]
        if self._parked is not None and self._nothing_to_wait_for():
            self._wake_soon()

    def view(self, size):
        """The read view for reads of up to ``size`` bytes (64 KiB at most)."""
        found = self.views.get(size)
        if found is None:
            found = self.views[size] = read_view(gevent.get_hub(),
                                                 min(size, SCRATCH_SIZE))
        return found

    # -- other fds -----------------------------------------------------------------

    def set_other_fds(self, fds, replace):
        """Watch ``fds`` ({fd: code}) for reading (all checked first); with
        ``replace``, stop watching every other fd not in it."""
        checked = {}
        for key, code in fds.items():
            fd = _fd_of(key)
            if not callable(code):
                raise TypeError(f'the code for other fd {fd} must be callable, '
                                f'not {code!r}')
            if fd in self.descriptor_map:
                raise ValueError(f'other fd {fd} is in the descriptor map, as '
                                 f'{self.descriptor_map[fd]!r}')
            checked[fd] = code
        if replace:
            for fd in [fd for fd in self.other_fds if fd not in checked]:
                self.drop_other_fd(fd)
        for fd, code in checked.items():
            other = self.other_fds.get(fd)
            if other is not None:
                other.code = code
                continue
            other = self.other_fds[fd] = _OtherFd(fd, code)
            if self.have_epoll:
                try:
                    self.watch_hangups(fd)
                except OSError:
                    pass            # not pollable (a regular file): readability only
            other._set_watch(READ)

    def drop_other_fd(self, fd):
        other = self.other_fds.pop(fd)
        other._closed = True
        other._unwatch()
        self.unwatch_hangups(fd)

    # -- timers and timeouts -----------------------------------------------------------

    def add_timer(self, seconds, code):
        timer = self.timers.add(seconds, code)
        if self._parked is not None:
            self._wake_soon()       # the wait in progress may end later than this
        return timer

    def set_loop_timeout(self, milliseconds):
        self.loop_timeout = milliseconds
        if self._parked is not None:
            self._wake_soon()

    # -- event_loop() --------------------------------------------------------------------

    def run(self):
        """``event_loop()``: iterate until a post-loop callback returns a false
        value or nothing is left to wait for."""
        if self._running:
            raise RuntimeError('DangaSocket.event_loop() is already running')
        self._running = True
        try:
            while self._iterate():
                pass
        finally:
            self._running = False
            self._in_round = False
            self._close_deferred()

    def _iterate(self):
        self._in_round = True
        self._run_timers()
        last = self._nothing_to_wait_for()
        if not last:
            self._in_round = False
            self._wait(self._wait_seconds())
            self._in_round = True
        self._dispatch()
        self._in_round = False
        self._close_deferred()
        return self._post_loop() and not last

    def _run_timers(self):
        due = self.timers.pop_due()
        if due:
            now = time.time()       # what Perl passes: Time::HiRes::time
            for timer in due:
                _callbacks.call(timer._take_code(), now)

    def _nothing_to_wait_for(self):
        return (len(self.descriptor_map) <= len(self.closing) and not self.other_fds
                and not self.timers and self.loop_timeout < 0)

    def _wait_seconds(self):
        seconds = None if self.loop_timeout < 0 else self.loop_timeout / 1000
        left = self.timers.seconds_left()
        if left is not None and (seconds is None or left < seconds):
            seconds = left
        return seconds

    def _wait(self, seconds):
        if self._ready:
            return                  # noted while a handler blocked, or before the loop ran
        hub = gevent.get_hub()
        timer = None
        if seconds is not None:
            timer = hub.loop.timer(seconds)
            timer.start(self._wake_soon, update=True)
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

    def note_ready(self, watched):
        self._ready.append(watched)
        if self._parked is not None and self._wake_cb is None:
            self._wake_cb = gevent.get_hub().loop.run_callback(self._wake)

    def _wake_soon(self):
        if self._parked is not None and self._wake_cb is None:
            self._wake_cb = gevent.get_hub().loop.run_callback(self._wake)

    def _wake(self):
        self._wake_cb = None
        if self._parked is not None:
            self._parked.switch()

    def _dispatch(self):
        ready, self._ready = self._ready, []
        if self._hangups is not None:
            self._hangups.dispatched()
        done = 0
        try:
            for watched in ready:
                done += 1
                revents = watched._revents
                watched._revents = 0
                if watched._closed:
                    continue
                if watched._dormant:
                    watched._dormant = False
                    watched._arm()
                watched._dispatch_events(revents)
        except BaseException:
            # A handler was interrupted (gevent.Timeout, kill): the next
            # event_loop() dispatches the rest, whose watchers wait for that.
            self._ready[:0] = ready[done:]
            raise
        if self.push_back:
            self._dispatch_push_back()

    def _dispatch_push_back(self):
        """``event_read`` again for objects with pushed-back data that watch
        reads, while one of them takes some (Perl loops while any is left; an
        ``event_read`` that takes none would make that loop endless)."""
        pending = self.push_back
        progress = True
        while pending and progress:
            progress = False
            for obj in list(pending.values()):
                if obj._closed or not obj._watch & READ:
                    continue
                before = obj._pushed_back_bytes()
                obj._dispatch_events(READ)
                if obj._pushed_back_bytes() < before:
                    progress = True

    def _close_deferred(self):
        closing, self.closing = self.closing, []
        for fd, sock, obj in closing:
            if self.descriptor_map.get(fd) is obj:
                del self.descriptor_map[fd]
            close_quietly(sock)

    def _post_loop(self):
        dmap = self.descriptor_map
        if self.post_loop:
            for obj, code in list(self.post_loop.values()):
                if obj._closed:
                    continue
                try:
                    keep = code(dmap)
                except Exception:
                    obj._handler_failed(code)
                    continue
                if not keep:
                    return False
        code = self.post_loop_callback
        if code is None:
            return True
        try:
            return bool(code(dmap))
        except Exception:
            _callbacks.report(code)     # nothing to close: the loop goes on
            return True

    # -- reset() -----------------------------------------------------------------------

    def reset(self):
        """Close every socket the loop holds and forget everything (Perl's
        ``Reset``, which drops them); a waiting ``event_loop()`` returns."""
        for obj in list(self.descriptor_map.values()):
            obj._drop()
        self._close_deferred()
        for fd in list(self.other_fds):
            self.drop_other_fd(fd)
        self.descriptor_map.clear()
        self.push_back.clear()
        self.post_loop.clear()
        self.post_loop_callback = None
        self.loop_timeout = -1
        self.timers.clear()
        self.views.clear()
        self._ready = []
        if self._parked is not None:
            self._wake_soon()


def _fd_of(key):
    """The descriptor an other-fd key names: an int, or an object's ``fileno()``."""
    fd = key.fileno() if hasattr(key, 'fileno') else key
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise TypeError(f'an other fd must be a descriptor or have fileno(), '
                        f'not {key!r}')
    try:
        os.fstat(fd)
    except OSError as err:
        raise ValueError(f'other fd {key!r} is not an open descriptor: {err}') from None
    return fd


LOOP = Loop()
