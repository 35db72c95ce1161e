"""Stream limits: ``max_read_buffer`` and ``max_write_queue`` (64 MiB by default),
``write_queued`` and the write-queue watermarks, over real socketpairs.

The attacks these limits answer, at full size, are in tests/reliability/.
"""

import errno
import socket

import gevent.socket
import pytest
from gevent.event import AsyncResult, Event

import geventio
from geventio import StreamClosedError
from conftest import WAIT, Log, keep_all, make_stream, recv_exactly, settle

MIB = 1024 * 1024


def enobufs(future):
    err = future.exception
    return isinstance(err, OSError) and err.errno == errno.ENOBUFS


# -- the write queue ---------------------------------------------------------------

def test_write_queued_counts_the_bytes_not_yet_in_the_kernel(loop, socketpair):
    a, b = socketpair
    stream = geventio.Stream(handle=a, on_read=keep_all)
    stream.write(b'abc')
    stream.write(b'defgh')
    assert stream.write_queued == 8         # queued before the stream is in a loop
    chunks = iter([b'1234', None])
    stream.write(lambda s: next(chunks))    # counted once it is pulled
    loop.add(stream)
    assert stream.write(b'!').get(timeout=WAIT) is None
    assert recv_exactly(b, 13) == b'abcdefgh1234!'
    assert stream.write_queued == 0


def test_the_default_max_write_queue_is_64_mib(loop, socketpair):
    a, _ = socketpair
    errors = []
    stream = geventio.Stream(handle=a, on_read=keep_all,
                             on_write_error=lambda s, err: errors.append(err))
    first = stream.write(b'x' * (64 * MIB))        # not in a loop: nothing is sent
    assert stream.write(b'') is not None and stream.write_queued == 64 * MIB
    refused = stream.write(b'y')
    assert enobufs(refused) and not first.ready()
    assert [err.errno for err in errors] == [errno.ENOBUFS]
    stream.close_now()
    assert isinstance(first.exception, StreamClosedError)


def test_a_refused_write_fails_and_earlier_pieces_still_go_out(loop, socketpair):
    """With on_write_error the stream stays usable: the refused piece is not
    queued, its future and on_error see ENOBUFS, the event follows."""
    a, b = socketpair
    events = []
    stream = geventio.Stream(handle=a, on_read=keep_all, max_write_queue=10,
                             on_write_error=lambda s, err: events.append(('stream', err.errno)))
    first = stream.write(b'0123456')
    refused = stream.write(b'789ab', on_error=lambda s, err: events.append(('piece', err.errno)))
    assert enobufs(refused) and events == [('piece', errno.ENOBUFS), ('stream', errno.ENOBUFS)]
    assert 'max_write_queue=10' in str(refused.exception)
    last = stream.write(b'789')
    loop.add(stream)
    assert recv_exactly(b, 10) == b'0123456789'
    assert first.successful() and last.get(timeout=WAIT) is None
    assert not stream.is_closed and stream.write_queued == 0


def test_without_on_write_error_a_refused_write_closes_the_stream_at_once(loop, socketpair):
    a, _ = socketpair
    closed = Event()
    stream = make_stream(loop, a, max_write_queue=100, on_closed=lambda s: closed.set())
    queued = stream.write(b'q' * 60)
    refused = stream.write(b'r' * 60)
    assert closed.is_set() and stream.is_closed
    assert enobufs(refused)
    assert isinstance(queued.exception, StreamClosedError)
    with pytest.raises(StreamClosedError):
        stream.write(b'more')


def test_a_write_exactly_at_the_limit_is_accepted(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, max_write_queue=8)
    assert stream.write(b'12345678').get(timeout=WAIT) is None
    assert recv_exactly(b, 8) == b'12345678'


def test_none_disables_max_write_queue(loop, socketpair):
    a, _ = socketpair
    stream = geventio.Stream(handle=a, on_read=keep_all, max_write_queue=4)
    stream.configure(max_write_queue=None)
    future = stream.write(b'x' * 1000)
    assert not future.ready() and stream.write_queued == 1000
    stream.close_now()


def test_write_watermarks_fire_once_per_crossing(loop, socketpair):
    a, b = socketpair
    events = Log()
    stream = make_stream(
        loop, a, write_high_watermark=100, write_low_watermark=10,
        on_write_high_watermark=lambda s, queued: events.append(('high', queued)),
        on_write_low_watermark=lambda s, queued: events.append(('low', queued)))
    stream.write(b'a' * 60)                      # (queued: this greenlet does not yield)
    stream.write(b'b' * 60)                      # 120 >= 100
    stream.write(b'c' * 60)                      # still above: no second event
    assert events == [('high', 120)]
    assert recv_exactly(b, 180) == b'a' * 60 + b'b' * 60 + b'c' * 60
    events.wait_for(2)
    assert events == [('high', 120), ('low', 0)]
    stream.write(b'd' * 100)
    events.wait_for(3)
    assert events[2] == ('high', 100)
    recv_exactly(b, 100)
    events.wait_for(4)


def test_write_watermark_events_may_pause_a_source(loop, sockets):
    """The events are where a producer pauses: here the source stops reading
    while the sink's queue is above its high watermark."""
    src_a, src_b = sockets.keep(*gevent.socket.socketpair())
    sink_a, sink_b = sockets.keep(*gevent.socket.socketpair())

    def forward(stream, buffer, eof):
        sink.write(bytes(buffer))
        del buffer[:]
        return 0

    source = make_stream(loop, src_a, on_read=forward)
    sink = make_stream(
        loop, sink_a, write_high_watermark=1000, write_low_watermark=0,
        on_write_high_watermark=lambda s, q: setattr(source, 'want_readready', False),
        on_write_low_watermark=lambda s, q: setattr(source, 'want_readready', True))
    src_b.sendall(b'z' * 4000)
    assert recv_exactly(sink_b, 4000) == b'z' * 4000
    assert source.want_readready


def test_a_future_write_counts_against_max_write_queue_once_resolved(loop, socketpair):
    """A future's value is queued data too: once it resolves it counts in
    ``write_queued`` and against ``max_write_queue``, so replies written as
    futures behind a write that cannot go out do not pile up without bound."""
    a, b = socketpair
    errors = Log()
    stream = make_stream(loop, a, max_write_queue=1000,
                         on_write_error=lambda s, err: errors.append(err.errno))
    head = AsyncResult()
    stream.write(head)                      # the queue waits on this one
    replies = [AsyncResult() for _ in range(3)]
    pieces = [stream.write(reply) for reply in replies]
    for reply in replies:
        reply.set(b'r' * 400)
    errors.wait_for(1)
    assert errors == [errno.ENOBUFS] and stream.write_queued == 800
    assert enobufs(pieces[2]) and not pieces[0].ready() and not stream.is_closed
    head.set(b'h')
    assert recv_exactly(b, 801) == b'h' + b'r' * 800
    assert pieces[1].get(timeout=WAIT) is None and stream.write_queued == 0
    stream.close_now()
    assert enobufs(pieces[2]) and errors == [errno.ENOBUFS]     # failed once


def test_a_refused_future_write_stays_failed_once_the_queue_passes_it(loop, socketpair):
    """A future write refused when it resolved keeps its place in the queue
    until the queue reaches it; passing it sends nothing, and its write future
    stays failed with ENOBUFS: no on_flush, no success."""
    a, b = socketpair
    errors, flushed = Log(), Log()
    stream = make_stream(loop, a, max_write_queue=100,
                         on_write_error=lambda s, err: errors.append(err.errno))
    head, reply = AsyncResult(), AsyncResult()
    stream.write(head)
    refused = stream.write(reply, on_flush=lambda s: flushed.append('refused'))
    stream.write(b'after', on_flush=lambda s: flushed.append('after'))
    reply.set(b'x' * 101)
    errors.wait_for(1)
    head.set(b'head')
    assert recv_exactly(b, 9) == b'headafter'
    assert flushed.wait_for(1) == ['after']
    with pytest.raises(OSError) as info:
        refused.get(timeout=WAIT)
    assert info.value.errno == errno.ENOBUFS
    assert errors == [errno.ENOBUFS] and stream.write_queued == 0
    stream.close()


def test_without_on_write_error_a_future_past_the_limit_closes_the_stream(loop, socketpair):
    a, _ = socketpair
    stream = make_stream(loop, a, max_write_queue=100)
    head, reply = AsyncResult(), AsyncResult()
    first, refused = stream.write(head), stream.write(reply)
    reply.set(b'x' * 101)
    assert stream.new_close_future().get(timeout=WAIT) is stream
    assert enobufs(refused) and isinstance(first.exception, StreamClosedError)


def test_a_future_that_resolves_after_its_write_failed_is_not_counted(loop, socketpair):
    """A future piece failed with the rest of the queue (an earlier write met
    EPIPE, and on_write_error kept the stream open): its value, arriving
    later, is queued nowhere and counts nowhere."""
    a, b = socketpair
    errors = Log()
    stream = make_stream(loop, a, on_write_error=lambda s, err: errors.append(err))
    b.shutdown(socket.SHUT_RD)              # a's sends meet EPIPE; no EOF to read
    stream.write(b'x')
    later = AsyncResult()
    behind = stream.write(later)
    errors.wait_for(1)
    assert isinstance(behind.exception, StreamClosedError)
    later.set(b'late')
    settle()
    assert stream.write_queued == 0


def test_a_resolved_future_write_reaches_the_write_high_watermark(loop, socketpair):
    a, b = socketpair
    events = Log()
    stream = make_stream(
        loop, a, write_high_watermark=500, write_low_watermark=0,
        on_write_high_watermark=lambda s, queued: events.append(('high', queued)),
        on_write_low_watermark=lambda s, queued: events.append(('low', queued)))
    head, reply = AsyncResult(), AsyncResult()
    stream.write(head)
    stream.write(reply)
    reply.set(b'y' * 600)
    events.wait_for(1)
    assert events == [('high', 600)]
    head.set(b'')
    assert recv_exactly(b, 600) == b'y' * 600
    events.wait_for(2)
    assert events[1] == ('low', 0)


# -- the read buffer ---------------------------------------------------------------

def test_max_read_buffer_overrun_goes_to_on_read_error_and_reading_pauses(loop, socketpair):
    a, b = socketpair
    errors = AsyncResult()
    stream = make_stream(loop, a, read_len=16, max_read_buffer=40,
                         on_read_error=lambda s, err: errors.set(err))
    b.sendall(b'x' * 100)
    err = errors.get(timeout=WAIT)
    assert err.errno == errno.ENOBUFS and 'max_read_buffer=40' in str(err)
    assert not stream.want_readready and not stream.is_closed
    held = stream.read_atmost(100).get(timeout=WAIT)
    assert 40 < len(held) <= 48           # one read past the limit at most
    assert stream.want_readready          # consumed below the limit: reading again


def test_a_failed_reader_is_told_of_the_overrun(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=16, max_read_buffer=20,
                         on_read_error=lambda s, err: None)
    line = stream.read_until(b'\n')
    b.sendall(b'x' * 50)
    with pytest.raises(OSError) as caught:
        line.get(timeout=WAIT)
    assert caught.value.errno == errno.ENOBUFS


def test_without_on_read_error_an_overrun_closes_the_stream_at_once(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=8, max_read_buffer=20)
    closed = stream.new_close_future()
    b.sendall(b'x' * 50)
    assert closed.get(timeout=WAIT) is stream and stream.is_closed


def test_max_read_buffer_counts_characters_in_text_mode(loop, socketpair):
    a, b = socketpair
    errors = Log()
    make_stream(loop, a, encoding='utf-8', max_read_buffer=10,
                on_read_error=lambda s, err: errors.append(err))
    b.sendall('é'.encode() * 10)          # 20 bytes, 10 characters: at the limit
    settle()
    assert not errors
    b.sendall(b'!')
    errors.wait_for(1)


def test_lifting_max_read_buffer_resumes_reading(loop, socketpair):
    a, b = socketpair
    errors = Log()
    stream = make_stream(loop, a, read_len=8, max_read_buffer=8,
                         on_read_error=lambda s, err: errors.append(err))
    b.sendall(b'y' * 20)
    errors.wait_for(1)
    assert not stream.want_readready
    stream.configure(max_read_buffer=None)
    assert stream.want_readready
    assert stream.read_exactly(20).get(timeout=WAIT) == b'y' * 20


def test_with_a_high_watermark_handler_reading_resumes_below_the_limit_after_an_overrun(
        loop, socketpair):
    """A handler for on_read_high_watermark takes the watermark pausing over
    (docs/stream.md, "Flow control"); reading paused by an overrun then
    resumes once the buffer is below max_read_buffer, as without watermarks,
    even though it is not yet below the low watermark."""
    a, b = socketpair
    events = Log()
    stream = make_stream(loop, a, max_read_buffer=16,
                         read_high_watermark=8, read_low_watermark=2,
                         on_read_high_watermark=lambda s, n: events.append(('high', n)),
                         on_read_error=lambda s, err: events.append(err.errno))
    b.sendall(b'z' * 20)
    assert events.wait_for(2) == [('high', 20), errno.ENOBUFS]
    assert not stream.want_readready
    assert stream.read_exactly(10).get(timeout=WAIT) == b'z' * 10
    assert stream.want_readready          # 10 left: below the limit, not below low
    b.sendall(b'more')
    assert stream.read_exactly(14).get(timeout=WAIT) == b'z' * 10 + b'more'
    stream.close()


def test_lifting_max_read_buffer_leaves_a_read_watermark_pause_in_place(loop, socketpair):
    """Reading stopped by an overrun and then held by the read high watermark
    (set afterwards, no handler) stays paused when the limit is lifted: the
    watermark resumes it only below its low mark."""
    a, b = socketpair
    errors = Log()
    stream = make_stream(loop, a, max_read_buffer=16,
                         on_read_error=lambda s, err: errors.append(err.errno))
    b.sendall(b'w' * 20)
    assert errors.wait_for(1) == [errno.ENOBUFS]
    stream.configure(read_high_watermark=8, read_low_watermark=2)
    whole = stream.read_exactly(100)          # a dispatch that consumes nothing
    assert not whole.ready()
    stream.configure(max_read_buffer=None)
    assert not stream.want_readready          # 20 buffered: at the high watermark
    stream.close()
    with pytest.raises(StreamClosedError):
        whole.get(timeout=WAIT)


def test_a_read_watermark_pauses_before_the_limit_is_reached(loop, socketpair):
    a, b = socketpair
    errors = []
    stream = make_stream(loop, a, read_len=8, read_high_watermark=16, read_low_watermark=8,
                         max_read_buffer=24, on_read_error=lambda s, err: errors.append(err))
    b.sendall(b'w' * 100)
    received = b''
    while len(received) < 100:
        received += stream.read_atmost(100).get(timeout=WAIT)
    assert received == b'w' * 100 and not errors


# -- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize('name, value, exc', [
    ('max_read_buffer', 0, ValueError), ('max_read_buffer', -1, ValueError),
    ('max_read_buffer', '1', TypeError), ('max_read_buffer', 1.5, TypeError),
    ('max_write_queue', 0, ValueError), ('max_write_queue', True, TypeError),
    ('idle_timeout', 0, ValueError), ('idle_timeout', -2.5, ValueError),
    ('idle_timeout', '5', TypeError),
    ('on_idle_timeout', 5, TypeError), ('on_write_high_watermark', 'x', TypeError),
])
def test_new_parameters_are_checked_at_configure(socketpair, name, value, exc):
    a, _ = socketpair
    with pytest.raises(exc, match=name) as caught:
        geventio.Stream(handle=a, on_read=keep_all, **{name: value})
    assert repr(value) in str(caught.value)
    stream = geventio.Stream(handle=a, on_read=keep_all)
    with pytest.raises(exc, match=name):
        stream.configure(**{name: value})


@pytest.mark.parametrize('params, exc, named', [
    ({'write_high_watermark': 10}, ValueError, 'write_low_watermark'),
    ({'write_low_watermark': 10}, ValueError, 'write_high_watermark'),
    ({'write_high_watermark': 10, 'write_low_watermark': 11}, ValueError,
     'write_low_watermark'),
    ({'write_high_watermark': 0, 'write_low_watermark': 0}, ValueError,
     'write_high_watermark'),
    ({'write_high_watermark': '10', 'write_low_watermark': 1}, TypeError,
     'write_high_watermark'),
])
def test_write_watermarks_come_in_pairs_with_low_below_high(socketpair, params, exc, named):
    a, _ = socketpair
    with pytest.raises(exc, match=named):
        geventio.Stream(handle=a, on_read=keep_all, **params)


def test_a_bad_limit_leaves_the_stream_unchanged(loop, socketpair):
    a, _ = socketpair
    stream = make_stream(loop, a, max_write_queue=10, on_write_error=lambda s, err: None)
    with pytest.raises(ValueError):
        stream.configure(max_write_queue=None, write_high_watermark=5)
    assert enobufs(stream.write(b'x' * 11))


def test_a_lone_write_that_fails_leaves_nothing_counted(loop, socketpair):
    """The failing piece leaves the queue, so its bytes leave write_queued too,
    even when no piece is queued behind it; else each failed send under an
    on_write_error that keeps the stream would eat into max_write_queue."""
    a, b = socketpair
    errors = Log()
    stream = make_stream(loop, a, max_write_queue=10,
                         on_write_error=lambda s, err: errors.append(err.errno))
    b.shutdown(socket.SHUT_RD)              # a's sends meet EPIPE; no EOF to read
    failed = stream.write(b'0123456')
    errors.wait_for(1)
    assert isinstance(failed.exception, BrokenPipeError)
    assert stream.write_queued == 0
    again = stream.write(b'0123456')        # fits: nothing is queued any more
    errors.wait_for(2)
    assert errors == [errno.EPIPE, errno.EPIPE]
    assert isinstance(again.exception, BrokenPipeError)
    assert stream.write_queued == 0


def test_a_failed_write_that_empties_the_queue_ends_the_high_watermark(loop, socketpair):
    """A write that fails takes its bytes out of the queue; when that brings the
    queue down to the low watermark, on_write_low_watermark tells the source it
    paused, and the next crossing fires on_write_high_watermark again."""
    a, b = socketpair
    events = Log()
    stream = make_stream(
        loop, a, write_high_watermark=5, write_low_watermark=0,
        on_write_error=lambda s, err: events.append(('error', err.errno)),
        on_write_high_watermark=lambda s, queued: events.append(('high', queued)),
        on_write_low_watermark=lambda s, queued: events.append(('low', queued)))
    b.shutdown(socket.SHUT_RD)              # a's sends meet EPIPE; no EOF to read
    stream.write(b'0123456')
    events.wait_for(3)
    stream.write(b'0123456')
    events.wait_for(6)
    assert events == [('high', 7), ('error', errno.EPIPE), ('low', 0)] * 2
    assert not stream.is_closed
