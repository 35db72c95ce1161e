"""The one place that reports an exception raised by user code, and what no
handler was there to be told.

Not a public module. The rule (docs/api.md section 1, "Errors"; docs/architecture.md):
an exception raised by a callback is logged at ERROR level with its traceback on
the ``geventio`` logger, and only the object that raised is closed; the loop and
every other handle go on. Continuations (the callables passed to one call such
as ``loop.connect(on_fail=...)``) belong to no handle, so nothing is closed for
them: the operation goes on as if they had returned.

Every layer calls user code through `call` or reports through `report`, so the
log lines read the same everywhere and a test can count them. The per-message
path of a handle does not pay for a wrapper per call: its greenlet runs all of
its callbacks inside one ``try`` and hands a failure to `report` once.

Some conditions are told to an error event when it has a handler and would
otherwise close the handle, except where closing would hand a peer an easy
attack (a Socket's oversized datagram, a Listener out of descriptors). Those go
to the log instead, through a `WarningLimit`: a peer can repeat them at will,
and a line per occurrence would let it fill the disk.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ['WarningLimit', 'call', 'close_at_once', 'log', 'report']

#: The logger every geventio module writes to (children of it propagate here).
log = logging.getLogger('geventio')


def report(what: object, owner: object = None) -> None:
    """Log the exception being handled, raised by ``what`` (a description or the
    callable itself), with its traceback; ``owner`` is the object being closed
    because of it (``None`` for a continuation: nothing is closed).

    Call it from an ``except`` block only.
    """
    if owner is None:
        log.error('%s raised', _describe(what), exc_info=True)
    else:
        log.error('%s raised in %r; closing it', _describe(what), owner,
                  exc_info=True)


def call(callback: Callable[..., Any] | None, *args: Any) -> Any:
    """Call a continuation (``None``: nothing to call) and return its result;
    an exception it raises is reported and ``None`` returned."""
    if callback is None:
        return None
    try:
        return callback(*args)
    except Exception:
        report(callback)
        return None


def close_at_once(obj: object) -> None:
    """Close ``obj`` without flushing: a Stream with ``close_now()``, anything
    else (a handle, a socket) with ``close()``; an object with neither (a plain
    notifier) is left alone."""
    close = getattr(obj, 'close_now', None) or getattr(obj, 'close', None)
    if close is not None:
        close()


def _describe(what: object) -> str:
    if isinstance(what, str):
        return what
    return getattr(what, '__qualname__', None) or repr(what)


class WarningLimit:
    """WARNING lines about one object on the ``geventio`` logger, at most one per
    ``interval`` seconds; the lines held back in between are counted, and the
    next line says how many."""

    __slots__ = ('interval', '_quiet_until', '_held')

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._quiet_until: float | None = None
        self._held = 0

    def warn(self, message: str, *args: object) -> bool:
        """Log ``message % args`` unless a line went out less than ``interval``
        seconds ago; returns whether it was logged."""
        now = time.monotonic()
        if self._quiet_until is not None and now < self._quiet_until:
            self._held += 1
            return False
        if self._held:
            message += ' (%d more like it since the last such line)'
            args += (self._held,)
        self._held = 0
        self._quiet_until = now + self.interval
        log.warning(message, *args)
        return True
