"""The read path shared by every surface: one read per wake-up into a per-hub scratch
buffer, appended to the owner's ``bytearray`` or handed out as ``bytes``.

Not a public module. A read goes into a scratch buffer that belongs to the hub
(one per thread) and is appended to the owner's buffer before anything can
switch greenlets, so connections do not each carry a 64 KiB buffer and a read
allocates nothing but the bytes it keeps (a fresh ``bytes`` of ``read_len`` per
``os.read`` is what the scratch avoids). Reads of one hub never overlap: they
run on its thread, one at a time.
"""

import os
import weakref
from collections.abc import Sequence
from typing import Any

__all__ = ['SCRATCH_SIZE', 'read_bytes', 'read_into', 'read_view']

#: Size of each hub's scratch buffer; a larger read size gets a buffer of its own.
SCRATCH_SIZE = 65536

#: hub -> {size: (view,)}: the shared views of that hub's scratch buffer.
_VIEWS: 'weakref.WeakKeyDictionary[Any, dict[int, Any]]' = weakref.WeakKeyDictionary()

readv = os.readv


def read_view(hub: object, size: int) -> tuple[memoryview]:
    """``(view,)`` for `read_into`: ``size`` bytes of ``hub``'s scratch buffer,
    shared by every reader on that hub (a ``size`` above `SCRATCH_SIZE` gets a
    scratch buffer of that size, shared the same way). Readers look it up once
    and keep it."""
    views = _VIEWS.get(hub)
    if views is None:
        views = _VIEWS[hub] = {0: memoryview(bytearray(SCRATCH_SIZE))}
    found: tuple[memoryview] | None = views.get(size)
    if found is None:
        if size > SCRATCH_SIZE:
            # Not one per reader: a stream per connection would each hold (and
            # fault in) a buffer of its own (141 us per connection instead of
            # 77 with read_len=262144 in the connection-rate benchmark).
            found = views[size] = (memoryview(bytearray(size)),)
        else:
            found = views[size] = (views[0][:size],)
    return found


def read_into(fd: int | None, buffer: Any, view: Sequence[memoryview],
              tls: Any = None) -> int:
    """Make one read of up to ``len(view[0])`` bytes from ``fd`` (through ``tls``'s
    ``recv_into`` when it is a TLS object) and append what came to ``buffer``.

    Returns:
        The byte count; 0 at EOF.

    Raises:
        OSError: the read failed; one of ``nonblocking.WOULD_BLOCK`` when
            nothing is ready.
    """
    if tls is None:
        count = readv(fd, view)  # type: ignore[arg-type]  # (None only once closed)
    else:
        count = tls.recv_into(view[0])
    if count:
        buffer += view[0][:count]
    return count


def read_bytes(fd: int, view: Sequence[memoryview], tls: Any = None) -> bytes:
    """Make one read like `read_into` and return what came as a new ``bytes`` of
    exactly that length (``b""`` at EOF): for owners that hand each read out
    whole instead of keeping a buffer (Danga::Socket's ``read(n)``).

    Raises:
        OSError: as `read_into`.
    """
    if tls is None:
        count = readv(fd, view)
    else:
        count = tls.recv_into(view[0])
    return view[0][:count].tobytes()
