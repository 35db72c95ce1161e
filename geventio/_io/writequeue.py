"""The write side of the byte layer: an ordered queue of pieces and the loop that
moves them to a non-blocking writer.

Not a public module. Any owner of a non-blocking descriptor can use it: it
needs a ``send(data) -> count`` function and a piece class, nothing else.

A piece is plain data, or a *source* that produces data when the queue reaches
it: a generator callable called until it returns ``None``, or a future whose
value is the data (IO::Async::Stream's two kinds of deferred write). The queue
knows nothing about events; each piece reports progress through its hooks,
``written(n)``, ``flushed()``, ``sent(n)`` (both at once, for a piece that went out
whole in one call) and ``failed(err)``, which the owner's piece class fills in
(Stream calls ``on_write``, resolves the future, calls ``on_flush``).

Adjacent plain pieces are merged into one system call up to the size limit, so a
burst of small writes costs one ``send``; the byte count the kernel took is then
shared out to the pieces in order. An owner that can send several buffers in one
call (``os.writev`` on a descriptor) passes a ``gather`` function and the pieces
go out as they are; otherwise (a TLS object's ``send``) they are joined into one
buffer first. Gathering matters most when the kernel's buffer is full: the head
piece is then partly sent, and joining its rest to the pieces behind it copied up
to 64 KiB per send.
"""

import collections
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .nonblocking import WOULD_BLOCK

__all__ = ['Piece', 'SendError', 'WriteQueue', 'DRAINED', 'BLOCKED', 'MORE',
           'NOT_YET', 'WAITING']

#: flush() results: the queue is empty / the kernel's buffer is full (a send
#: would block, or took only part of its chunk) / more is queued but the call
#: budget is spent / the head piece's source has nothing yet (a pending future).
DRAINED = 'drained'
BLOCKED = 'blocked'
MORE = 'more'
WAITING = 'waiting'

#: What a source returns when it has nothing yet (the owner is woken later).
NOT_YET: Any = object()

#: How many pieces one merged system call may carry (IOV_MAX is 1024 on Linux;
#: past a few dozen, building the call costs more than the calls it saves).
MAX_MERGE = 64


class SendError(Exception):
    """The system call of a `WriteQueue.flush` failed with ``error`` (an
    ``OSError``). A distinct type because the hooks and sources the flush
    runs are the owner's user code, and an ``OSError`` one of them raises is
    that code's failure, not the writer's."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


class Piece:
    """One queued write: the hooks the queue calls. A subclass provides the
    storage (slots) for these attributes, so that it may also derive from
    another class with a layout of its own (Stream's pieces are their futures).

    Attributes:
        data: the bytes-like being written, or ``None`` while a source piece waits
            for its next chunk.
        offset: how much of ``data`` the kernel has taken.
        limit: the most bytes one system call may carry for this piece.
        source: what pull() draws data from, or ``None`` for plain data.
    """

    __slots__ = ()

    data: Any
    offset: int
    limit: int
    source: Any

    def pull(self) -> Any:
        """Next chunk of ``source``: bytes, ``None`` when finished, or ``NOT_YET``."""
        return None

    def written(self, count: int) -> None:
        """The kernel took ``count`` bytes of this piece in one call."""

    def flushed(self) -> None:
        """Everything of this piece was handed to the kernel."""

    def sent(self, count: int) -> None:
        """All of this piece went in one call of ``count`` bytes: written, then
        flushed (one hook on the common path)."""
        self.written(count)
        self.flushed()

    def failed(self, err: BaseException) -> None:
        """The piece will never be sent (``err`` says why)."""


if TYPE_CHECKING:
    # Pieces: instances of Piece subclasses, whose slots hold the attributes
    # (Piece's own empty slots would refuse them to a type checker).
    _PieceDeque = collections.deque[Any]
else:
    _PieceDeque = collections.deque


class WriteQueue(_PieceDeque):
    """Pieces in call order and the flushing loop over them.

    A deque itself, so that the per-write ``append`` and the emptiness checks
    on the hot path are C calls.
    """

    __slots__ = ()

    def flush(self, send: Callable[[Any], int], calls: int | None = None,
              gather: Callable[[list[Any]], int] | None = None) -> str:
        """Send from the head until the queue is empty or the writer would block.

        ``send(data)`` returns the byte count the kernel took and raises one of
        ``WOULD_BLOCK`` when it took nothing; ``gather(buffers)``, when given, does
        the same for a list of buffers in one call. ``calls`` bounds the number
        of system calls (``None``: no bound).

        Returns:
            DRAINED, BLOCKED (the send would block, or the kernel took only part
            of the chunk: its buffer is full), MORE (``calls`` used up) or
            WAITING (the head is a source with nothing yet).

        Raises:
            SendError: the send failed; the head piece is still queued, so the
                owner decides what fails (see `fail_all`). What a piece's hook
                or source raises propagates as it is.
        """
        while self:
            piece = self[0]
            data = piece.data
            if data is None:
                data = piece.pull()
                if data is NOT_YET:
                    return WAITING
                if data is None:
                    self.popleft()
                    piece.flushed()
                    continue
                piece.data, piece.offset = data, 0
            if piece.offset or len(self) > 1 or len(data) > piece.limit:
                chunk, size = self._next_chunk(piece, gather is not None)
                if not size:
                    self._advance(0)
                    continue
            elif not data:
                self._advance(0)
                continue
            else:
                chunk = data
                size = len(data)
            if calls is not None:
                if calls <= 0:
                    return MORE
                calls -= 1
            try:
                count = gather(chunk) if type(chunk) is list else send(chunk)  # type: ignore[misc]  # (a list only when gather was given)
            except WOULD_BLOCK:
                return BLOCKED
            except OSError as err:
                raise SendError(err) from err
            if chunk is data and count == size and piece.source is None:
                # The whole of a lone plain piece went in one call.
                self.popleft()
                piece.offset = count
                piece.sent(count)
                continue
            self._advance(count)
            if count < size:
                return BLOCKED
        return DRAINED

    def _next_chunk(self, piece: Piece, gathering: bool) -> tuple[Any, int]:
        """``(chunk, size)``: what the next call sends from the head ``piece`` on,
        at most its ``limit`` bytes; several pieces come as a list of buffers
        when ``gathering``, else joined."""
        data, offset, limit = piece.data, piece.offset, piece.limit
        remaining = len(data) - offset
        if remaining >= limit or piece.source is not None or len(self) == 1:
            if offset == 0 and remaining <= limit:
                return data, remaining
            chunk = memoryview(data)[offset:offset + limit]
            return chunk, len(chunk)
        parts = [memoryview(data)[offset:] if offset else data]
        total = remaining
        for other in itertools.islice(self, 1, MAX_MERGE):
            if other.source is not None or other.data is None:
                break
            size = len(other.data)
            if total + size > limit:
                break
            parts.append(other.data)
            total += size
        if len(parts) == 1:
            return parts[0], total
        return (parts if gathering else b''.join(parts)), total

    def _advance(self, count: int) -> None:
        """Share ``count`` sent bytes out to the pieces at the head, in order."""
        while self:
            piece = self[0]
            remaining = len(piece.data) - piece.offset
            taken = min(count, remaining)
            if taken:
                piece.offset += taken
                count -= taken
                piece.written(taken)
            if taken < remaining:
                return
            if piece.source is not None:
                piece.data = None
            else:
                self.popleft()
                piece.flushed()
            if not count:
                return

    def fail_head(self, err: BaseException) -> None:
        """Drop the head piece, telling it that it failed with ``err`` (a send
        of it failed)."""
        if self:
            self.popleft().failed(err)

    def fail_all(self, err: BaseException) -> None:
        """Drop every piece, telling each (in order) that it failed with ``err``."""
        pieces = list(self)
        self.clear()
        for piece in pieces:
            piece.failed(err)
