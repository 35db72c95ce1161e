"""Fixtures for testing your own protocols on geventio, as a pytest plugin.

No Perl original (IO::Async's test suite has ``Test::Async::HTTP``-style
helpers of its own; this is geventio's). Installing geventio registers this
module with pytest (the ``pytest11`` entry point ``geventio``), so any test
may ask for:

- ``geventio_loop``: a fresh `Loop`, closed with everything in it afterwards;
- ``geventio_stream_pair``: two connected `Stream` objects in that loop, for
  driving a protocol from the other end with futures;
- ``geventio_leak_check``: fails the test if it left a file descriptor open,
  a greenlet alive or a libev watcher active.

The helpers under them (`stream_pair`, `LeakCheck`, `turn_the_hub`) work
without pytest too. docs/testing.md shows them at work. The fixture names
carry the ``geventio_`` prefix because a plugin's fixtures are seen by every
test of every project that installs the package.
"""

import gc
import os
import socket
from collections.abc import Iterator

import gevent
import gevent.socket
import pytest
from greenlet import getcurrent, greenlet
from zope.interface import implementer

from .interfaces import ILeakCheck
from .ioasync.loop import Loop
from .ioasync.stream import Stream

__all__ = ['LeakCheck', 'geventio_leak_check', 'geventio_loop',
           'geventio_stream_pair', 'live_greenlets', 'open_fds', 'stream_pair',
           'turn_the_hub']


def stream_pair(loop: Loop, first: Stream | None = None,
                second: Stream | None = None) -> tuple[Stream, Stream]:
    """Two `Stream` objects connected over a unix socketpair, added to ``loop``.

    Args:
        loop: the `Loop` they join.
        first, second: a `Stream` (or an instance of a subclass: the protocol
            under test) that has no handle yet, configured as it needs; or
            ``None`` for a plain Stream that keeps what it receives in its
            buffer, for the test to take with future readers
            (``read_until``, ``read_exactly``).

    Returns:
        ``(first, second)``, each in ``loop``.

    Raises:
        ValueError: a given stream already has a handle or a loop.
    """
    streams: list[Stream] = []
    for name, given in (('first', first), ('second', second)):
        stream = given
        if stream is None:
            stream = Stream(on_read=_keep)
        elif stream.read_handle is not None or stream.loop is not None:
            raise ValueError(f'{name} must have no handle and no loop yet, not {stream!r}')
        streams.append(stream)
    socks = gevent.socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        for stream, sock in zip(streams, socks, strict=True):
            stream.set_handle(sock)
            loop.add(stream)
    except BaseException:
        for stream, sock in zip(streams, socks, strict=True):
            stream.close_now()
            sock.close()
        raise
    return streams[0], streams[1]


def _keep(stream: Stream, buffer: bytearray, eof: bool) -> int:
    """on_read: keep everything for the future readers."""
    return 0


def turn_the_hub(times: int = 2) -> None:
    """Let the gevent hub finish ``times`` whole loop iterations.

    gevent closes a socket whose descriptor still had watchers at the end of
    the next iteration, so a check for leaks waits for that first, without a
    sleep: an idle watcher keeps the poll from blocking and a check watcher
    marks each finished iteration.
    """
    hub = gevent.get_hub()
    idle = hub.loop.idle()
    idle.start(lambda: None)
    try:
        for _ in range(times):
            waiter: gevent.hub.Waiter[None] = gevent.hub.Waiter()
            check = hub.loop.check()
            check.start(waiter.switch, None)
            try:
                waiter.get()
            finally:
                check.close()
    finally:
        idle.close()


def open_fds() -> set[int]:
    """The file descriptors this process has open, as a set of ints."""
    fds = set()
    for name in os.listdir('/proc/self/fd'):
        try:
            os.fstat(int(name))
        except OSError:
            continue        # the listing's own descriptor, closed by now
        fds.add(int(name))
    return fds


def live_greenlets() -> dict[int, greenlet]:
    """``{id: greenlet}`` of this thread's greenlets that have not finished
    (ones not started yet count)."""
    main = _root(getcurrent())
    return {id(obj): obj for obj in gc.get_objects()
            if isinstance(obj, greenlet) and not obj.dead and _root(obj) is main}


def _root(glet: greenlet) -> greenlet:
    while glet.parent is not None:
        glet = glet.parent
    return glet


def _describe_fd(fd: int) -> str:
    try:
        return f'{fd} ({os.readlink(f"/proc/self/fd/{fd}")})'
    except OSError:
        return str(fd)


@implementer(ILeakCheck)
class LeakCheck:
    """See `ILeakCheck`: open file descriptors, live greenlets and active
    libev watchers of the hub, since this object was made.

    Make one before the code under test and call `check` after it has
    cleaned up (Linux: descriptors are read from ``/proc/self/fd``).
    """

    def __init__(self) -> None:
        turn_the_hub()
        self._fds = open_fds()
        self._greenlets = live_greenlets()
        self._watchers = gevent.get_hub().loop.activecnt

    def leaks(self) -> list[str]:
        """See `ILeakCheck.leaks`."""
        turn_the_hub()
        gc.collect()
        found = []
        fds = sorted(open_fds() - self._fds)
        if fds:
            found.append('file descriptors left open: ' +
                         ', '.join(_describe_fd(fd) for fd in fds))
        greenlets = [glet for key, glet in live_greenlets().items()
                     if key not in self._greenlets]
        if greenlets:
            found.append(f'greenlets left alive: {greenlets}')
        watchers = gevent.get_hub().loop.activecnt - self._watchers
        if watchers > 0:
            found.append(f'libev watchers left active: {watchers} more than before')
        return found

    def check(self) -> None:
        """See `ILeakCheck.check`."""
        found = self.leaks()
        if found:
            raise AssertionError('; '.join(found))


@pytest.fixture
def geventio_loop() -> Iterator[Loop]:
    """A fresh `Loop`, closed (with everything in it) after the test."""
    loop = Loop()
    yield loop
    loop.close()


@pytest.fixture
def geventio_stream_pair(geventio_loop: Loop) -> tuple[Stream, Stream]:
    """Two plain connected Streams in ``geventio_loop`` (see `stream_pair`);
    for a protocol of your own, call ``stream_pair(geventio_loop, mine)``."""
    return stream_pair(geventio_loop)


@pytest.fixture
def geventio_leak_check() -> Iterator[LeakCheck]:
    """Fail the test if it leaves a file descriptor open, a greenlet alive or
    a libev watcher active. Ask for it before the fixtures it watches (or
    make it autouse) so that it is torn down after them."""
    check = LeakCheck()
    yield check
    check.check()
