"""What a reliability test counts before and after: resident memory, CPU time,
open descriptors and live greenlets of this process."""

import ctypes
import ctypes.util
import gc
import os
import resource
import time

from greenlet import getcurrent, greenlet

MIB = 1024 * 1024

try:
    _malloc_trim = ctypes.CDLL(ctypes.util.find_library('c')).malloc_trim
except (OSError, AttributeError, TypeError):     # not glibc: RSS keeps freed heap
    _malloc_trim = None


def trim():
    """Collect garbage and hand freed heap memory back to the system (glibc's
    ``malloc_trim``), so that RSS before an attack is not the leftovers of the
    one before it."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


def rss_mib():
    """Resident set size of this process, in MiB (from /proc/self/statm)."""
    with open('/proc/self/statm') as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / MIB


def open_fds():
    return len(os.listdir('/proc/self/fd'))


def _root(glet):
    while glet.parent is not None:
        glet = glet.parent
    return glet


def live_greenlets():
    """Greenlets of this thread not finished (the resolver's worker threads
    have greenlets of their own, which come and go)."""
    main = _root(getcurrent())
    return sum(1 for obj in gc.get_objects()
               if isinstance(obj, greenlet) and not obj.dead and _root(obj) is main)


class Usage:
    """A snapshot of this process: ``rss`` (MiB), ``cpu`` (seconds), ``fds``,
    ``greenlets`` and ``objects`` (tracked by the garbage collector: a leak of
    Python objects shows here even while the allocator hides it from RSS);
    ``since(earlier)`` gives the differences, rounded."""

    def __init__(self):
        trim()
        self.rss = rss_mib()
        self.cpu = time.process_time()
        self.fds = open_fds()
        self.greenlets = live_greenlets()
        self.objects = len(gc.get_objects())

    def since(self, earlier):
        return {'rss_mib': round(self.rss - earlier.rss, 1),
                'cpu_s': round(self.cpu - earlier.cpu, 2),
                'fds': self.fds - earlier.fds,
                'greenlets': self.greenlets - earlier.greenlets,
                'objects': self.objects - earlier.objects}


def raise_fd_limit(wanted):
    """Raise the soft RLIMIT_NOFILE to the hard limit if below ``wanted``;
    returns the previous limits (to restore) or ``None`` if the hard limit is
    too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if limit < wanted:
        return None
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    return soft, hard


def restore_fd_limit(previous):
    resource.setrlimit(resource.RLIMIT_NOFILE, previous)
