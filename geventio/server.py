"""geventio in gevent servers, and one server across the cores.

No Perl original: this is the bridge to gevent's own servers (docs/gevent.md).
`stream_handler` turns a callback that configures a `Stream` into the
``handle(sock, address)`` that ``gevent.server.StreamServer`` calls on a
greenlet per connection; `default_loop` is the `Loop` such handlers join;
`prefork` runs a server in several processes, one per core, supervising them.

Design: the handler greenlet is the stream's
--------------------------------------------
gevent closes an accepted socket as soon as its handler returns
(``baseserver._handle_and_close_when_done``), so a handler that only wraps the
socket in a Stream and returns leaves the stream watching a closed descriptor
that the next accept reuses. The handler must return only when the stream has
closed, and it is a greenlet that would otherwise sit idle meanwhile. So the
stream runs on it (``Handle._serve_here``): the handler greenlet parks where
the stream's own greenlet would, and every callback of that connection runs
there. One greenlet per connection, as with a plain gevent handler; a gevent
``Pool`` counts open streams, and ``server.stop(timeout)`` waits for them and
then kills the handlers, which closes the streams still open (at once: a
killed greenlet has nobody left to flush for it).

Design: supervising workers
---------------------------
``SO_REUSEPORT`` lets N processes each listen on the same port and the kernel
spread new connections across them, so one gevent hub per core serves in
parallel (``listen(reuseport=True)``); a socket listening before the fork is
shared by the workers just as well. gunicorn's arbiter (``arbiter.py``)
restarts a worker that dies and stops them all on SIGTERM (at once on
SIGINT), waiting ``graceful_timeout`` (30 s) before SIGKILL; uWSGI and
nginx's master do the same. `prefork` follows them in a few lines: it forks
with gevent's ``fork_and_watch`` (the child gets a fresh hub; the parent
learns of each exit from a libev child watcher, never by polling), restarts
a worker that exits, waiting `RESTART_DELAY` first when it lived less than
`MIN_UPTIME` so that a worker failing at start cannot fork in a tight loop,
and on SIGTERM or SIGINT sends SIGTERM to every worker, waiting up to
`STOP_TIMEOUT` seconds before SIGKILL.
"""

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.os
from gevent.event import Event
from gevent.monkey import get_original
from greenlet import getcurrent

from . import _callbacks
from ._params import check_positive
from .ioasync import _signals
from .ioasync.loop import Loop
from .ioasync.stream import Stream

__all__ = ['default_loop', 'prefork', 'stream_handler']

#: Seconds a worker must have run for its exit to count as a crash at start
#: rather than the end of a long life: below it, the restart waits.
MIN_UPTIME = 1.0

#: Seconds to wait before restarting a worker that exited within
#: `MIN_UPTIME`: a serve() that fails at once costs one fork a second.
RESTART_DELAY = 1.0

#: Seconds stopping workers get after SIGTERM before SIGKILL (gunicorn's
#: graceful_timeout): enough for a `Loop.shutdown` to deliver its replies.
STOP_TIMEOUT = 30.0

# The loop of each thread (each thread has its own hub). The native
# thread-local class: under monkey.patch_all() ``threading.local`` is local to
# a greenlet, which would give every handler a loop of its own.
_per_thread = get_original('_thread', '_local')()


def default_loop() -> Loop:
    """The `Loop` of the current thread's gevent hub, made on first use: the
    loop `stream_handler` adds streams to when it is given none."""
    loop: Loop | None = getattr(_per_thread, 'loop', None)
    if loop is None or loop._hub is not gevent.get_hub():
        loop = _per_thread.loop = Loop()
    return loop


def stream_handler(on_stream: Callable[[Stream, Any], object],
                   loop: Loop | None = None) -> Callable[[Any, Any], None]:
    """A ``handle(sock, address)`` callable for ``gevent.server.StreamServer``.

    Each call wraps the very socket object it is given in a new `Stream`,
    calls ``on_stream(stream, address)`` to configure it (its ``on_read`` at
    least), adds it to ``loop`` and returns only once the stream has closed.
    The stream's callbacks run on the calling greenlet (see the module's
    design comment). ``on_stream`` must not add the stream to a loop itself.

    Args:
        on_stream: called as ``on_stream(stream, address)``; if it raises, or
            leaves the stream without an ``on_read``, the error is logged on
            the ``geventio`` logger and the connection is closed. Closing the
            stream there refuses the connection (it never joins ``loop``).
        loop: the `Loop` the streams join (default: `default_loop()`, looked
            up by each call, so on the hub of the thread that serves).

    Raises:
        TypeError: ``on_stream`` is not callable or ``loop`` is not a `Loop`,
            at this call. The handler itself raises ``RuntimeError`` when
            called on the hub (``StreamServer(spawn=None)``): a stream cannot
            park the greenlet that runs everything else.
    """
    if not callable(on_stream):
        raise TypeError(f'on_stream must be callable, not {on_stream!r}')
    if loop is not None and not isinstance(loop, Loop):
        raise TypeError(f'loop must be a geventio.Loop, not {loop!r}')

    def handle(sock: Any, address: Any) -> None:
        if getcurrent() is gevent.get_hub():
            raise RuntimeError('stream_handler needs a greenlet per connection, '
                               'not the hub (StreamServer spawn=None)')
        stream = Stream(handle=sock)
        try:
            try:
                on_stream(stream, address)
                if not stream.is_closed:        # (closed: on_stream refused it)
                    stream._serve_here(loop or default_loop())
            except Exception:
                _callbacks.report(f'on_stream {_describe(on_stream)}', stream)
                return
            if not stream.is_closed:
                # It left the loop without closing: it is still the socket's.
                stream.new_close_future().get()
        finally:
            if not stream.is_closed:
                # Killed (server.stop's timeout) or failed: nobody is left to
                # flush, and the server closes the socket next.
                stream.close_now()

    handle.__qualname__ = handle.__name__ = f'stream_handler({_describe(on_stream)})'
    return handle


def _describe(code: object) -> str:
    name: str | None = getattr(code, '__qualname__', None)
    return name or repr(code)


def prefork(workers: int, serve: Callable[[], object]) -> None:
    """Run ``serve()`` in ``workers`` forked processes until SIGTERM or SIGINT.

    Each worker calls ``serve()`` with gevent ready in it and exits when it
    returns (status 0) or raises (logged, status 1). A worker that exits is
    replaced. SIGTERM or SIGINT to this process sends SIGTERM to every
    worker, waits for them (see `STOP_TIMEOUT`) and returns. Workers start
    with SIGTERM and SIGINT as they were before ``prefork``; a worker that
    wants to finish gracefully watches SIGTERM itself
    (``loop.watch_signal('TERM', ...)`` and `Loop.shutdown`). Call it from
    the main thread.

    Raises:
        TypeError, ValueError: ``workers`` is not a positive int or ``serve``
            is not callable, at the call.
    """
    check_positive(workers, 'workers')
    if not callable(serve):
        raise TypeError(f'serve must be callable, not {serve!r}')
    _Supervisor(workers, serve).run()


class _Supervisor:
    """The parent side of `prefork`: its workers, their exits, the stop."""

    def __init__(self, workers: int, serve: Callable[[], object]) -> None:
        self._count = workers
        self._serve = serve
        self._started: dict[int, float] = {}    # pid -> time.monotonic() at fork
        self._exits: list[tuple[int, int]] = []     # (pid, raw status) not handled yet
        self._exited_event = Event()
        self._stopping = Event()    # SIGTERM or SIGINT arrived
        self._signal_ids: list[int] = []

    def run(self) -> None:
        self._signal_ids = [
            _signals.watch(_signals.signal_number(name), self._stop)
            for name in ('TERM', 'INT')]
        try:
            for _ in range(self._count):
                self._fork()
            while not self._stopping.is_set():
                # (Exits are noted only while this greenlet waits, so nothing
                # arrives between the wait and the clear.)
                self._exited_event.wait()
                self._exited_event.clear()
                self._replace_exited()
        finally:
            self._unwatch()
            self._stop_workers()

    def _stop(self) -> None:
        self._stopping.set()
        self._exited_event.set()

    def _unwatch(self) -> None:
        for signal_id in self._signal_ids:
            _signals.unwatch(signal_id)
        self._signal_ids = []

    def _fork(self) -> None:
        # (ref=True: a live worker keeps the hub from deciding it has nothing to do)
        pid = gevent.os.fork_and_watch(self._exited, ref=True)
        if pid == 0:
            self._become_worker()
        self._started[pid] = time.monotonic()

    def _become_worker(self) -> None:
        """In the child: put the signals back, serve, and never return."""
        self._unwatch()
        status = 1
        try:
            self._serve()
            status = 0
        except SystemExit as exiting:
            code = exiting.code
            status = code if isinstance(code, int) else int(code is not None)
        except KeyboardInterrupt:
            status = 128 + signal.SIGINT
        except BaseException:
            _callbacks.report(f'serve() of worker {os.getpid()}')
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)

    def _exited(self, watcher: Any) -> None:
        # From the hub's child watcher: note it, and let run() act.
        self._exits.append((watcher.pid, watcher.rstatus))
        self._exited_event.set()

    def _replace_exited(self) -> None:
        exits, self._exits = self._exits, []
        lives = []
        for pid, status in exits:
            lives.append(time.monotonic() - self._started.pop(pid))
            _callbacks.log.warning('worker %d exited with status %d', pid,
                                   os.waitstatus_to_exitcode(status))
        for life in lives:
            if life < MIN_UPTIME:
                self._stopping.wait(RESTART_DELAY)
            if self._stopping.is_set():
                return
            self._fork()

    def _stop_workers(self) -> None:
        for sig, timeout in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, None)):
            for pid in self._started:
                _kill(pid, sig)
            if self._wait_for_workers(timeout):
                return

    def _wait_for_workers(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: no limit) until every worker
        has exited; returns whether they all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            exits, self._exits = self._exits, []
            for pid, _status in exits:
                self._started.pop(pid, None)
            if not self._started:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._exited_event.clear()
            self._exited_event.wait(left)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass    # it exited; its child watcher will tell
