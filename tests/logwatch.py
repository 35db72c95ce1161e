"""Waiting for log lines: the WARNING records geventio writes when no handler
takes a condition (an oversized datagram, a listener out of descriptors)."""

import contextlib
import logging

from conftest import Log


class _Recorder(logging.Handler):
    def __init__(self, log, level):
        super().__init__(level)
        self._log = log

    def emit(self, record):
        self._log.append(record)


@contextlib.contextmanager
def watch_log(level=logging.WARNING, name='geventio'):
    """A `Log` of the records at ``level`` or above on logger ``name`` while
    the block runs; ``wait_for(n)`` blocks until ``n`` have arrived."""
    log = Log()
    recorder = _Recorder(log, level)
    logger = logging.getLogger(name)
    logger.addHandler(recorder)
    try:
        yield log
    finally:
        logger.removeHandler(recorder)
