"""Helpers for the Danga::Socket tests: an object that records its events, and
running ``event_loop()`` for a bounded number of iterations."""

import gevent

from conftest import WAIT
from geventio.danga import DangaSocket

EVENTS = ('read', 'write', 'err', 'hup')


class Recorder(DangaSocket):
    """Logs ``(tag, event)`` for each event hook called, then runs the action
    given for that event (``read=lambda obj: ...``), if any. Records every
    ``close(reason)`` as ``(tag, 'close', reason)``."""

    def __init__(self, sock, log, tag='obj', **actions):
        super().__init__(sock)
        self.log = log
        self.tag = tag
        self.actions = actions

    def _event(self, name):
        self.log.append((self.tag, name))
        action = self.actions.get(name)
        if action is not None:
            action(self)

    def event_read(self):
        self._event('read')

    def event_write(self):
        self._event('write')
        super().event_write()

    def event_err(self):
        self._event('err')

    def event_hup(self):
        self._event('hup')

    def close(self, reason=None):
        if not self.closed:
            self.log.append((self.tag, 'close', reason))
        super().close(reason)


def run_iterations(count=1, timeout=WAIT):
    """Run ``event_loop()`` until ``count`` iterations ended (a global post-loop
    callback counts them) or it returns by itself; returns the iterations run.
    Fails the test after ``timeout`` seconds."""
    done = []

    def count_them(descriptor_map):
        done.append(1)
        return len(done) < count

    DangaSocket.set_post_loop_callback(count_them)
    try:
        with gevent.Timeout(timeout):
            DangaSocket.event_loop()
    finally:
        DangaSocket.set_post_loop_callback(None)
    return len(done)


def run_until(predicate, timeout=WAIT):
    """Run ``event_loop()`` until ``predicate()`` is true after an iteration;
    returns the iterations run. Fails the test after ``timeout`` seconds."""
    done = []

    def check(descriptor_map):
        done.append(1)
        return not predicate()

    DangaSocket.set_post_loop_callback(check)
    try:
        with gevent.Timeout(timeout):
            DangaSocket.event_loop()
    finally:
        DangaSocket.set_post_loop_callback(None)
    assert predicate(), 'event_loop() returned before the condition held'
    return len(done)
