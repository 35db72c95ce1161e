"""Danga::Socket's event loop: the descriptor map and the iterations of ``event_loop()``.

Not a public module. `LOOP` is the process-wide state behind DangaSocket's class
methods, Perl's package variables (``%DescriptorMap``, ``@ToClose``,
``%OtherFds``, ``%PushBackSet``, ``%PLCMap``, ``$PostLoopCallback``,
``$LoopTimeout``, ``@Timers``), and `Loop.run` is ``event_loop()``. How readiness
reaches it from the gevent hub is ``_readiness.py``'s job.

Design: one iteration
---------------------
Perl's order (``EpollEventLoop`` and ``PostEventLoop`` of Danga::Socket 1.61):
run the due timers; wait for readiness, at most until the next timer or the loop
timeout; for each ready object call ``event_read``, ``event_write``,
``event_err``, ``event_hup`` (those it is ready for), skipping it once it is
closed; call ``event_read`` again on objects with pushed-back data while they
watch reads; close the sockets closed during the round and only then take them
out of the descriptor map (so that no fd number is reused while the round may
still refer to it); call the per-object post-loop callbacks, then the global
one, until one returns a false value, which ends ``event_loop()``.

Where we differ, deliberately (docs/danga.md): an exception from a handler
closes that object and is logged instead of ending the loop; with nothing left
to wait for (no socket, timer, other fd or loop timeout) ``event_loop()``
returns instead of blocking for ever; pushed-back data is re-offered only while
handlers take some of it (Perl loops for ever on one that does not); a close
made outside timers and handlers (a post-loop callback, another greenlet, no
``event_loop()`` at all) is done at once, as no round can refer to its fd then. Something
changed from another greenlet while the loop waits (a timer added, the last
socket, timer or other fd gone, ``reset()``) ends the wait, so that it is always bounded by what
is there now.
"""

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import gevent

from .. import _callbacks
from .._io.nonblocking import close_quietly
from .._io.reading import SCRATCH_SIZE, read_view
from ._readiness import EPOLL, ERR, HUP, POLLIN, READ, READINESS, Hangups, Watched
from ._timers import Timer, Timers

__all__ = ['LOOP']

#: A post-loop callback: ``code(descriptor_map)``, a false value ends event_loop().
_PostLoop = Callable[[dict[int, Any]], object]

#: How many distinct read sizes keep a view of the scratch buffer. Perlbal-style
#: code reads a body's remaining length (``read($remain)``), so the sizes come
#: from the peer; past this many, a view is sliced for each read instead.
KEPT_VIEWS = 64


class _OtherFd(Watched):
    """A descriptor of ``add_other_fds``: readability (and error, hang-up) call
    ``code(state)`` with poll(2) bits, as Perl's ``$code->($state)``."""

    __slots__ = ('code',)

    def __init__(self, fd: int, code: Callable[[int], object]) -> None:
        self._init_watched(fd)
        self.code = code

    def _dispatch_events(self, revents: int) -> None:
        code = self.code
        try:
            code((POLLIN if revents & READ else 0) | (revents & (ERR | HUP)))
        except Exception:
            _callbacks.report(f'the code of other fd {self._fd} ({code!r}); the fd is '
                              'no longer watched')
            if not self._closed:        # (the code may have dropped it already)
                LOOP.drop_other_fd(self._fd)


class Loop:
    """The process-wide state and the iterations of ``event_loop()`` (see the
    module docstring)."""

    def __init__(self) -> None:
        # fd -> DangaSocket, closed ones until the real close
        self.descriptor_map: dict[int, Any] = {}
        self.other_fds: dict[int, _OtherFd] = {}
        self.push_back: dict[int, Any] = {}     # those with pushed-back data
        self.post_loop: dict[int, tuple[Any, _PostLoop]] = {}
        self.post_loop_callback: _PostLoop | None = None
        self.loop_timeout = -1      # milliseconds; -1: no limit
        self.timers = Timers(self._wake_if_done)
        # (fd, sock, object) to close at the end of the round
        self.closing: list[tuple[int, Any, Any]] = []
        # read size -> view of the hub's scratch buffer
        self.views: dict[int, tuple[memoryview]] = {}
        self._scratch: memoryview | None = None
        self.have_epoll = EPOLL is not None
        self._hangups: Hangups | None = None
        self._running = False
        self._in_round = False      # running timers or handlers: closes are deferred

    # -- registering ---------------------------------------------------------------

    def check_free(self, fd: int, name: str) -> None:
        if fd in self.descriptor_map:
            raise ValueError(f'{name}: descriptor {fd} is already in the descriptor '
                             f'map, as {self.descriptor_map[fd]!r}')
        if fd in self.other_fds:
            raise ValueError(f'{name}: descriptor {fd} is already watched as an '
                             'other fd')

    def register(self, obj: Any, fd: int) -> None:
        """Put ``obj`` in the descriptor map (``check_free`` first)."""
        if self.have_epoll:
            self._watch_hangups(fd)
        self.descriptor_map[fd] = obj

    def unregister(self, obj: Any, fd: int) -> None:
        """``obj`` closed: no more events or callbacks for it. It stays in the
        descriptor map until `release` or `forget`."""
        self.push_back.pop(fd, None)
        entry = self.post_loop.get(fd)
        if entry is not None and entry[0] is obj:
            del self.post_loop[fd]
        self._unwatch_hangups(fd)

    def release(self, obj: Any, fd: int, sock: Any) -> None:
        """Close ``sock`` at the end of this round's dispatch (now, outside timers
        and handlers) and take ``obj`` out of the descriptor map then."""
        if self._in_round:
            self.closing.append((fd, sock, obj))
        else:
            self.forget(obj, fd)
            close_quietly(sock)

    def forget(self, obj: Any, fd: int) -> None:
        """Take ``obj`` out of the descriptor map now (its socket was stolen)."""
        if self.descriptor_map.get(fd) is obj:
            del self.descriptor_map[fd]
        self._wake_if_done()

    def _wake_if_done(self) -> None:
        """Something went away outside a round (the last socket, timer or other
        fd): a waiting ``event_loop()`` left with nothing to wait for returns."""
        if READINESS.waiting and self._nothing_to_wait_for():
            READINESS.wake_soon()

    def view(self, size: int) -> tuple[memoryview]:
        """The read view for reads of up to ``size`` bytes (64 KiB at most): a
        slice of the hub's scratch buffer, kept for the first `KEPT_VIEWS` sizes."""
        if self._scratch is None:
            self._scratch = read_view(gevent.get_hub(), SCRATCH_SIZE)[0]
        found = (self._scratch[:size],)
        if len(self.views) < KEPT_VIEWS:
            self.views[size] = found
        return found

    def _watch_hangups(self, fd: int) -> None:
        if self._hangups is None:
            self._hangups = Hangups(self._watched)
        try:
            self._hangups.add(fd)
        except OSError:
            self._unwatch_hangups(fd)
            raise

    def _forked(self) -> None:
        # os.register_at_fork: in the child, before anything else runs there.
        if self._hangups is not None:
            self._hangups.forked()

    def _unwatch_hangups(self, fd: int) -> None:
        # The epoll and its watcher go with the last descriptor: an idle loop
        # holds neither a descriptor nor a started watcher.
        if self._hangups is not None and not self._hangups.discard(fd):
            self._hangups.close()
            self._hangups = None

    def _watched(self, fd: int) -> Watched | None:
        watched: Watched | None = self.descriptor_map.get(fd)
        return self.other_fds.get(fd) if watched is None else watched

    # -- other fds, timers, the loop timeout ---------------------------------------

    def set_other_fds(self, fds: Mapping[Any, Callable[[int], object]],
                      replace: bool) -> None:
        """Watch ``fds`` ({fd: code}) for reading, all checked first; with
        ``replace``, stop watching every other fd not in it."""
        checked: dict[int, Callable[[int], object]] = {}
        for key, code in fds.items():
            fd = _fd_of(key)
            if not callable(code):
                raise TypeError(f'the code for other fd {fd} must be callable, '
                                f'not {code!r}')
            if fd in self.descriptor_map:
                raise ValueError(f'other fd {fd} is in the descriptor map, as '
                                 f'{self.descriptor_map[fd]!r}')
            checked[fd] = code
        for fd, code in checked.items():
            other = self.other_fds.get(fd)
            if other is not None:
                other.code = code
                continue
            other = self.other_fds[fd] = _OtherFd(fd, code)
            if self.have_epoll:
                try:
                    self._watch_hangups(fd)
                except OSError:
                    pass            # not pollable (a regular file): readability only
            other._set_watch(READ)
        if replace:
            # After adding: a wait never sees the set empty on its way to the new one.
            for fd in [fd for fd in self.other_fds if fd not in checked]:
                self.drop_other_fd(fd)

    def drop_other_fd(self, fd: int) -> None:
        other = self.other_fds.pop(fd)
        other._closed = True
        other._unwatch()
        self._unwatch_hangups(fd)
        self._wake_if_done()

    def add_timer(self, seconds: float, code: Callable[[float], object]) -> Timer:
        timer = self.timers.add(seconds, code)
        READINESS.wake_soon()       # a wait in progress may end after this timer
        return timer

    def set_loop_timeout(self, milliseconds: int) -> None:
        self.loop_timeout = milliseconds
        READINESS.wake_soon()

    # -- event_loop() --------------------------------------------------------------

    def run(self) -> None:
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

    def _iterate(self) -> bool:
        self._in_round = True
        self._run_timers()
        last = self._nothing_to_wait_for()
        if not last:
            self._in_round = False
            READINESS.wait(self._wait_seconds())
            self._in_round = True
        self._dispatch(READINESS.take())
        self._in_round = False
        self._close_deferred()
        # (Asked again: a post-loop callback may have started new work.)
        return self._post_loop() and not (last and self._nothing_to_wait_for())

    def _run_timers(self) -> None:
        due = self.timers.pop_due()
        if due:
            now = time.time()       # what Perl passes: Time::HiRes::time
            done = 0
            try:
                for _, _, timer in due:
                    done += 1
                    _callbacks.call(timer._take_code(), now)
            except BaseException:
                # A timer's code was interrupted (gevent.Timeout, kill): the
                # ones after it stay due for the next event_loop().
                self.timers.put_back(due[done:])
                raise

    def _nothing_to_wait_for(self) -> bool:
        return (len(self.descriptor_map) <= len(self.closing) and not self.other_fds
                and not self.timers and self.loop_timeout < 0)

    def _wait_seconds(self) -> float | None:
        seconds = None if self.loop_timeout < 0 else self.loop_timeout / 1000
        left = self.timers.seconds_left()
        if left is not None and (seconds is None or left < seconds):
            seconds = left
        return seconds

    def _dispatch(self, ready: list[Watched]) -> None:
        if self._hangups is not None:
            self._hangups.dispatched()
        done = 0
        try:
            for watched in ready:
                done += 1
                revents = watched._take_readiness()
                if not watched._closed:
                    watched._dispatch_events(revents)
        except BaseException:
            # A handler was interrupted (gevent.Timeout, kill): the next
            # event_loop() dispatches the rest, whose watchers wait for that.
            READINESS.put_back(ready[done:])
            raise
        if self.push_back:
            self._dispatch_push_back()

    def _dispatch_push_back(self) -> None:
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

    def _close_deferred(self) -> None:
        closing, self.closing = self.closing, []
        for fd, sock, obj in closing:
            if self.descriptor_map.get(fd) is obj:
                del self.descriptor_map[fd]
            close_quietly(sock)

    def _post_loop(self) -> bool:
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
        callback = self.post_loop_callback
        if callback is None:
            return True
        try:
            return bool(callback(dmap))
        except Exception:
            _callbacks.report(callback)     # nothing to close: the loop goes on
            return True

    # -- reset() -------------------------------------------------------------------

    def reset(self) -> None:
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
        self._scratch = None
        READINESS.clear()
        READINESS.wake_soon()


def _fd_of(key: Any) -> int:
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
if EPOLL is not None:
    os.register_at_fork(after_in_child=LOOP._forked)
