"""A property of the whole reading machinery, over real socketpairs: whatever
the split of the input into reads (read sizes and send pieces), and whatever
mix of future readers (with timeouts and cancellations), temporary handlers
and an ``on_read`` that consume it, the bytes consumed are exactly the input,
in order, none lost, none twice. In text mode the same holds for the decoded
characters.

Order is reconstructed without relying on when futures' links run: readers
are served first in, first out, and ``on_read`` or a temporary handler only
runs once every reader issued before it has finished, so each synchronous
consumer first takes the results of the readers issued before it.
"""

import re

import gevent
import gevent.socket
import pytest
from gevent.event import Event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geventio
from geventio import IncompleteReadError
from geventio._io.text import MERGE_BELOW
from conftest import WAIT, turn_the_hub

#: Bytes the property runs over; the alphabet makes separators frequent and
#: splits multibyte UTF-8 characters.
ALPHABET = st.sampled_from([b'a', b'b', b'\n', b'\r', b'\xc3\xa9', b'\xe2\x82\xac'])

READERS = st.one_of(
    st.tuples(st.just('atmost'), st.integers(1, 400)),
    st.tuples(st.just('exactly'), st.integers(0, 400)),
    st.tuples(st.just('until'), st.sampled_from(['\n', '\r\n', 'ab'])),
    st.tuples(st.just('until_re'), st.sampled_from([r'\r?\n', r'(?<=a)b', r'b+\n'])),
    st.tuples(st.just('until_max'), st.integers(1, 20)),
    st.tuples(st.just('consume'), st.integers(1, 400)),
    st.tuples(st.just('cancel')),
    st.tuples(st.just('timeout')),
)


class Recorder:
    """What was consumed, in order, whichever way it was consumed."""

    def __init__(self, text, keep_below):
        self.text = text
        self.keep_below = keep_below
        self.taken = []
        self.pending = []      # futures of readers not yet recorded, issue order

    def take_finished(self):
        while self.pending and self.pending[0].ready():
            future = self.pending.pop(0)
            err = future.exception
            if err is None:
                self.taken.append(future.value)
            elif isinstance(err, IncompleteReadError):
                self.taken.append(err.partial)
            # Any other failure (timeout, cancel, limit) consumed nothing.

    def on_read(self, stream, buffer, eof):
        """Consume all, once there are `keep_below` units or EOF (so that
        readers issued later find a full buffer)."""
        if len(buffer) < self.keep_below and not eof:
            return 0
        self.take_finished()
        self.taken.append(buffer[:])
        del buffer[:]
        return 0

    def consumer(self, count):
        def consume(stream, buffer, eof):
            if len(buffer) < count and not eof:
                return 0
            self.take_finished()
            self.taken.append(buffer[:count])
            del buffer[:count]
            return None
        return consume

    def joined(self):
        self.take_finished()
        pieces = [str(piece) if self.text else bytes(piece) for piece in self.taken]
        return ('' if self.text else b'').join(pieces)


def issue(stream, recorder, op, text):
    kind = op[0]
    sep = (lambda s: s) if text else (lambda s: s.encode())
    if kind == 'consume':
        stream.push_on_read(recorder.consumer(op[1]))
        return
    if kind == 'atmost':
        future = stream.read_atmost(op[1])
    elif kind == 'exactly':
        future = stream.read_exactly(op[1])
    elif kind == 'until':
        future = stream.read_until(sep(op[1]))
    elif kind == 'until_re':
        future = stream.read_until(re.compile(sep(op[1])))
    elif kind == 'until_max':
        future = stream.read_until(sep('\n'), max_len=op[1])
    elif kind == 'timeout':
        future = stream.read_exactly(10 ** 6, timeout=0.001)
    else:
        # Cancelled at once: it never resolves and consumes nothing.
        stream.cancel_read(stream.read_exactly(10 ** 6))
        return
    recorder.pending.append(future)


#: What the peer sends in one go: a short run of symbols, repeated up to a
#: hundred times (so that buffers grow to kilobytes, not only bytes).
PIECES = st.lists(st.tuples(st.lists(ALPHABET, min_size=1, max_size=8).map(b''.join),
                            st.integers(1, 100)).map(lambda run: run[0] * run[1]),
                  max_size=12)


@given(pieces=PIECES,
       plan=st.lists(st.lists(READERS, max_size=3), max_size=13),
       read_len=st.integers(1, 512), text=st.booleans(),
       keep_below=st.integers(0, 3000), merge_below=st.sampled_from([1, 16, MERGE_BELOW]))
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_every_byte_is_consumed_once_in_order(pieces, plan, read_len, text, keep_below,
                                              merge_below):
    with pytest.MonkeyPatch.context() as patch:
        # Small chunks left unmerged make the text buffer walk its chunks.
        patch.setattr(geventio._io.text, 'MERGE_BELOW', merge_below)
        run_property(pieces, plan, read_len, Recorder(text, keep_below))


def run_property(pieces, plan, read_len, recorder):
    text = recorder.text
    loop = geventio.Loop()
    ours, theirs = gevent.socket.socketpair()
    eof = Event()
    stream = geventio.Stream(handle=ours, on_read=recorder.on_read, read_len=read_len,
                             encoding='utf-8' if text else None,
                             on_read_eof=lambda s: eof.set(), close_on_read_eof=False)
    loop.add(stream)
    try:
        for step, piece in enumerate(pieces + [None]):
            for op in (plan[step] if step < len(plan) else ()):
                issue(stream, recorder, op, text)
            if piece is None:
                theirs.shutdown(gevent.socket.SHUT_WR)
            else:
                theirs.sendall(piece)
            turn_the_hub(2)
        # Everything was sent and EOF too: let the stream read the rest, and
        # the readers still waiting (to time out) finish.
        assert eof.wait(WAIT)
        waiting = list(recorder.pending)
        assert len(gevent.wait(waiting, timeout=WAIT)) == len(waiting)
        expected = b''.join(pieces)
        assert recorder.joined() == (expected.decode('utf-8', 'replace') if text
                                     else expected)
    finally:
        loop.close()
        theirs.close()
