"""Stream writing: the scenarios of IO::Async's t/21stream-2write.t over real sockets.

Covers ordering and the order of write callbacks, write sizes and merging,
generators and futures as data, autoflush, writeable start/stop, writes queued
before a handle, EPIPE, flush markers, and callbacks that block on their own
stream's futures.
"""

import errno
import fcntl
import os
import socket
import struct
import termios

import gevent
import gevent.socket
import pytest
from gevent.event import AsyncResult, Event

import geventio
from geventio import StreamClosedError
from conftest import Log, WAIT, keep_all, make_stream, recv_exactly, settle


#: Enough data to fill the kernel buffers of any pair kind several times over.
BIG = 2 * 1024 * 1024


def unread(fd):
    """Bytes the kernel holds for ``fd`` that nobody has read yet."""
    return struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'\0' * 4))[0]


def recv_all(sock, count):
    """Read ``count`` bytes cooperatively into one preallocated buffer."""
    data = bytearray(count)
    view = memoryview(data)
    got = 0
    while got < count:
        n = sock.recv_into(view[got:])
        assert n, f'EOF after {got} of {count} bytes'
        got += n
    return bytes(data)


def small_buffers(a, b):
    """Shrink the kernel buffers between ``a`` and ``b`` (TCP loopback would
    otherwise take megabytes before a send blocks)."""
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)


def seqpacket_pair(sockets):
    """A unix SOCK_SEQPACKET pair: each recv returns exactly one send, so the
    peer sees how the stream grouped its system calls."""
    return sockets.keep(*gevent.socket.socketpair(socket.AF_UNIX,
                                                  socket.SOCK_SEQPACKET))


# -- order -----------------------------------------------------------------------

def test_writes_arrive_in_call_order(loop, pair):
    a, b = pair
    stream = make_stream(loop, a)
    pieces = [b'%05d' % i * (1 + i * 37 % 500) for i in range(300)]
    futures = [stream.write(piece) for piece in pieces]
    expected = b''.join(pieces)
    assert recv_all(b, len(expected)) == expected
    for future in futures:
        assert future.get(timeout=WAIT) is None


def test_write_callbacks_fire_in_the_documented_order(loop, socketpair):
    """on_write, the future, on_flush, the later pieces, on_outgoing_empty,
    then on_closed."""
    a, b = socketpair
    events = Log()
    futures = {}
    stream = make_stream(loop, a,
                         on_outgoing_empty=lambda s: events.append('outgoing_empty'),
                         on_closed=lambda s: events.append('closed'))
    for name in ('first', 'second'):
        futures[name] = stream.write(
            name.encode(),
            on_write=lambda s, n, name=name: events.append(
                (name, 'on_write', n, futures[name].ready())),
            on_flush=lambda s, name=name: events.append(
                (name, 'on_flush', futures[name].ready())))
    stream.close_when_empty()
    stream.new_close_future().get(timeout=WAIT)
    assert events == [('first', 'on_write', 5, False), ('first', 'on_flush', True),
                      ('second', 'on_write', 6, False), ('second', 'on_flush', True),
                      'outgoing_empty', 'closed']
    assert recv_exactly(b, 11) == b'firstsecond'


def test_a_lone_write_fires_on_write_then_its_future_then_on_flush(loop, socketpair):
    """A write alone in the queue goes out whole in one call (the queue's short
    path); the documented order holds there too."""
    a, b = socketpair
    events = Log()
    stream = make_stream(loop, a)
    future = stream.write(
        b'alone',
        on_write=lambda s, n: events.append(('on_write', n, future.ready())),
        on_flush=lambda s: events.append(('on_flush', future.ready())))
    assert events.wait_for(2) == [('on_write', 5, False), ('on_flush', True)]
    assert recv_exactly(b, 5) == b'alone'


def test_on_write_fires_once_per_system_call_with_its_byte_count(loop, socketpair):
    a, b = socketpair
    counts = []
    stream = make_stream(loop, a)
    future = stream.write(b'x' * 100, write_len=10,
                          on_write=lambda s, n: counts.append(n))
    future.get(timeout=WAIT)
    assert counts == [10] * 10
    assert recv_exactly(b, 100) == b'x' * 100


def test_default_write_len_is_64_kib(loop, sockets):
    a, b = seqpacket_pair(sockets)
    stream = make_stream(loop, a)
    stream.write(b'y' * 150000).get(timeout=WAIT)
    assert [len(b.recv(200000)) for _ in range(3)] == [65536, 65536, 150000 - 2 * 65536]


def test_write_len_parameter_caps_each_system_call(loop, sockets):
    a, b = seqpacket_pair(sockets)
    stream = make_stream(loop, a, write_len=4)
    stream.write(b'0123456789')
    assert [b.recv(100) for _ in range(3)] == [b'0123', b'4567', b'89']


@pytest.mark.parametrize('pieces', [(b'one', b'two'), (b'one', b'two', b'three')],
                         ids=['two', 'three'])
def test_adjacent_writes_are_merged_into_one_system_call(loop, sockets, pieces):
    a, b = seqpacket_pair(sockets)
    stream = make_stream(loop, a)
    futures = [stream.write(piece) for piece in pieces]
    assert b.recv(100) == b''.join(pieces)
    for future in futures:
        future.get(timeout=WAIT)
    assert unread(b.fileno()) == 0


def test_merging_stops_at_write_len(loop, sockets):
    a, b = seqpacket_pair(sockets)
    stream = make_stream(loop, a, write_len=6)
    for piece in (b'one', b'two', b'three'):
        stream.write(piece)
    assert [b.recv(100) for _ in range(2)] == [b'onetwo', b'three']


@pytest.mark.parametrize('write_all', [False, True])
def test_each_write_readiness_makes_one_system_call_unless_write_all(
        loop, sockets, write_all):
    """Counted on a SEQPACKET pair (one record per call), each call noting the
    hub loop iteration it was made in: without write_all every call has a
    wake-up of its own; with it one wake-up sends everything."""
    a, b = seqpacket_pair(sockets)
    hub_loop = gevent.get_hub().loop
    iterations = Log()
    stream = make_stream(loop, a, write_len=4, write_all=write_all)
    stream.write(b'0123456789ab',
                 on_write=lambda s, n: iterations.append(hub_loop.iteration))
    assert [b.recv(100) for _ in range(3)] == [b'0123', b'4567', b'89ab']
    iterations.wait_for(3)
    assert len(set(iterations)) == (1 if write_all else 3)


@pytest.mark.parametrize('write_all', [False, True])
def test_write_all_writes_until_the_kernel_would_block(loop, sockets, write_all):
    """Without write_all each wake-up makes one call, so two busy streams take
    turns; with it one wake-up sends everything."""
    order = []
    streams = []
    for name in 'AB':
        a, b = sockets.keep(*gevent.socket.socketpair())
        streams.append((make_stream(loop, a, write_len=10, write_all=write_all), b))
    futures = [stream.write(b'x' * 50,
                            on_write=lambda s, n, name=name: order.append(name))
               for name, (stream, _) in zip('AB', streams)]
    for future in futures:
        future.get(timeout=WAIT)
    runs = [order[0]]
    for name in order[1:]:
        if name != runs[-1][-1]:
            runs.append('')
        runs[-1] += name
    assert sorted(order) == ['A'] * 5 + ['B'] * 5
    if write_all:
        assert len(runs) == 2
    else:
        assert max(map(len, runs)) <= 2
    for _, b in streams:
        assert recv_exactly(b, 50) == b'x' * 50


# -- generators and futures as data ------------------------------------------------

def test_generator_is_called_when_reached_until_it_returns_none(loop, socketpair):
    a, b = socketpair
    events = Log()
    chunks = [b'one', b'two', b'three']

    def generator(stream):
        events.append(('called', stream))
        return chunks.pop(0) if chunks else None

    stream = make_stream(loop, a)
    stream.write(b'first', on_flush=lambda s: events.append('first flushed'))
    future = stream.write(generator, on_flush=lambda s: events.append('flushed'))
    assert recv_exactly(b, 16) == b'firstonetwothree'
    future.get(timeout=WAIT)
    events.wait_for(6)
    assert events == ['first flushed'] + [('called', stream)] * 4 + ['flushed']


def test_generator_may_return_str_only_with_an_encoding(
        loop, socketpair, callback_errors):
    a, b = socketpair
    stream = make_stream(loop, a)
    closed = stream.new_close_future()
    stream.write(lambda s: 'text')
    closed.get(timeout=WAIT)
    assert 'generator' in str(callback_errors[0].exc_info[1])


def test_future_as_data_is_written_when_it_resolves_without_spinning(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    data = AsyncResult()
    stream.write(b'a')
    future = stream.write(data)
    stream.write(b'c')
    assert recv_exactly(b, 1) == b'a'
    hub = gevent.get_hub()
    iterations = hub.loop.iteration

    def resolve_later():
        loop.delay_future(after=0.05).get()
        data.set(b'b')

    resolver = gevent.spawn(resolve_later)
    assert recv_exactly(b, 2) == b'bc'
    # A stream polling its pending future would make thousands of iterations.
    assert hub.loop.iteration - iterations < 50
    future.get(timeout=WAIT)
    resolver.get()


def test_resolved_future_as_data_is_written_at_once(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    data = AsyncResult()
    data.set(b'ready')
    stream.write(data).get(timeout=WAIT)
    assert recv_exactly(b, 5) == b'ready'


def test_mutable_data_is_taken_at_the_call(loop, socketpair):
    """A bytearray given to write() may be reused at once: an echo that writes its
    read buffer and then clears it still sends the bytes."""
    a, b = socketpair

    def echo(stream, buffer, eof):
        stream.write(buffer)
        del buffer[:]
        return 0

    make_stream(loop, a, on_read=echo)
    b.sendall(b'echo me')
    assert recv_exactly(b, 7) == b'echo me'


# -- autoflush ---------------------------------------------------------------------

def test_autoflush_sends_inside_write_without_on_outgoing_empty(loop, socketpair):
    a, b = socketpair
    empties = Log()
    stream = make_stream(loop, a, autoflush=True,
                         on_outgoing_empty=lambda s: empties.append(s))
    future = stream.write(b'now')
    assert future.ready()
    assert unread(b.fileno()) == 3
    assert recv_exactly(b, 3) == b'now'
    settle()
    assert empties == []
    stream.configure(autoflush=False)
    future = stream.write(b'later')
    assert not future.ready()
    assert empties.wait_for(1) == [stream]
    assert recv_exactly(b, 5) == b'later'


def test_autoflush_write_that_blocks_finishes_through_readiness(loop, pair):
    a, b = pair
    small_buffers(a, b)
    events = Log()
    stream = make_stream(loop, a, autoflush=True,
                         on_writeable_stop=lambda s: events.append('stop'),
                         on_writeable_start=lambda s: events.append('start'),
                         on_outgoing_empty=lambda s: events.append('empty'))
    future = stream.write(b'x' * BIG)
    assert events == ['stop']
    assert not future.ready()
    assert recv_all(b, BIG) == b'x' * BIG
    future.get(timeout=WAIT)
    assert events.wait_for(3)[-2:] == ['start', 'empty']


def test_writeable_stop_and_start_alternate_starting_with_stop(loop, pair):
    a, b = pair
    small_buffers(a, b)
    events = Log()
    stream = make_stream(loop, a,
                         on_writeable_stop=lambda s: events.append('stop'),
                         on_writeable_start=lambda s: events.append('start'))
    future = stream.write(b'y' * BIG)
    assert events.wait_for(1) == ['stop']
    assert recv_all(b, BIG) == b'y' * BIG
    future.get(timeout=WAIT)
    assert events[-1] == 'start'
    assert events == ['stop', 'start'] * (len(events) // 2)


def test_a_partial_send_fires_on_writeable_stop_in_the_same_wake_up(loop, socketpair):
    """The kernel taking only part of a chunk means its buffer is full: the stop
    is told then, not after a further call that would block."""
    a, b = socketpair
    small_buffers(a, b)
    hub_loop = gevent.get_hub().loop
    events = Log()
    stream = make_stream(
        loop, a, write_len=BIG,
        on_writeable_stop=lambda s: events.append(('stop', hub_loop.iteration)))
    future = stream.write(
        b'x' * BIG,
        on_write=lambda s, n: events.append(('write', n, hub_loop.iteration)))
    events.wait_for(2)
    (_, sent, sent_in), (what, stopped_in) = events[:2]
    assert 0 < sent < BIG
    assert what == 'stop' and stopped_in == sent_in
    assert recv_all(b, BIG) == b'x' * BIG
    future.get(timeout=WAIT)


def test_an_autoflush_write_that_drains_the_queue_after_a_stop_fires_writeable_start(
        loop, sockets):
    """Writing stopped on a full socket; given a new handle, the stream's next
    autoflush write sends what was left and its own data at once, and tells
    that writing goes on."""
    a, b = sockets.keep(*gevent.socket.socketpair())
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    events = []
    stream = make_stream(loop, a, autoflush=True,
                         on_writeable_stop=lambda s: events.append('stop'),
                         on_writeable_start=lambda s: events.append('start'))
    payload = bytes(range(256)) * 256
    stream.write(payload)
    assert events == ['stop']
    a2, b2 = sockets.keep(*gevent.socket.socketpair())
    stream.configure(handle=a2)
    last = stream.write(b'end')
    assert events == ['stop', 'start']
    assert last.ready()
    head = recv_all(b, unread(b.fileno()))
    tail = recv_all(b2, len(payload) + 3 - len(head))
    assert head + tail == payload + b'end'


def test_an_autoflush_write_that_blocks_again_on_a_new_handle_tells_no_second_stop(
        loop, sockets):
    """Stop and start alternate across a handle change: the new socket is full
    too, so writing stays stopped, and starts once that socket drains."""
    a, b = sockets.keep(*gevent.socket.socketpair())
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    events = Log()
    stream = make_stream(loop, a, autoflush=True,
                         on_writeable_stop=lambda s: events.append('stop'),
                         on_writeable_start=lambda s: events.append('start'))
    payload = bytes(range(256)) * 256
    stream.write(payload)
    assert events == ['stop']
    a2, b2 = sockets.keep(*gevent.socket.socketpair())
    a2.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    stream.configure(handle=a2)
    last = stream.write(b'end')
    assert events == ['stop'] and not last.ready()
    head = recv_all(b, unread(b.fileno()))
    tail = recv_all(b2, len(payload) + 3 - len(head))
    assert head + tail == payload + b'end'
    last.get(timeout=WAIT)
    assert events.wait_for(2)[-1] == 'start'
    assert events == ['stop', 'start'] * (len(events) // 2)


def test_a_reply_from_on_read_that_the_kernel_takes_only_part_of_goes_out_whole(
        loop, pair):
    """Written in on_read and sent as the greenlet parks, the first call takes
    only part: nothing but write-readiness can wake the stream for the rest,
    so its watcher must be on by then."""
    a, b = pair
    small_buffers(a, b)

    def on_read(stream, buffer, eof):
        if buffer:
            del buffer[:]
            stream.write(b'r' * BIG)
        return 0

    make_stream(loop, a, on_read=on_read, write_len=BIG)
    b.sendall(b'go')
    b.settimeout(WAIT)
    assert recv_all(b, BIG) == b'r' * BIG


def test_writes_while_the_kernel_is_full_make_no_system_call(
        loop, socketpair, monkeypatch):
    """Once a send would block, further writes (autoflush ones too) only queue:
    the kernel is not asked again before it reports write-readiness. Counted by
    wrapping os.write, which the stream sends through."""
    a, b = socketpair
    small_buffers(a, b)
    calls = []
    real_write = os.write

    def counting_write(fd, data):
        if fd == a.fileno():
            calls.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, 'write', counting_write)
    stopped = []
    stream = make_stream(loop, a, autoflush=True, write_len=BIG,
                         on_writeable_stop=lambda s: stopped.append(s))
    stream.write(b'x' * BIG)
    assert stopped == [stream]
    made = len(calls)
    last = [stream.write(b'more') for _ in range(3)][-1]
    assert len(calls) == made
    assert recv_all(b, BIG + 12) == b'x' * BIG + b'more' * 3
    last.get(timeout=WAIT)


def test_writes_made_while_the_kernel_is_full_keep_their_order(loop, pair):
    a, b = pair
    small_buffers(a, b)
    stopped = Event()
    stream = make_stream(loop, a, on_writeable_stop=lambda s: stopped.set())
    pieces = [b'%d:' % i * 1000 for i in range(200)]
    stream.write(pieces[0])
    stream.write(b'x' * BIG)
    assert stopped.wait(WAIT)
    writers = [gevent.spawn(stream.write, piece) for piece in pieces[1:]]
    gevent.joinall(writers, raise_error=True)
    expected = pieces[0] + b'x' * BIG + b''.join(pieces[1:])
    assert recv_all(b, len(expected)) == expected


# -- before a handle ---------------------------------------------------------------

def test_writes_queued_before_the_stream_has_a_handle_are_sent_once_it_has_one(
        loop, socketpair):
    a, b = socketpair
    stream = geventio.Stream(on_read=keep_all)
    loop.add(stream)
    first = stream.write(b'queued ')
    second = stream.write(b'early')
    assert not first.ready()
    stream.set_handle(a)
    assert recv_exactly(b, 12) == b'queued early'
    first.get(timeout=WAIT)
    second.get(timeout=WAIT)


def test_writes_queued_before_joining_a_loop_are_sent_once_it_joins(loop, socketpair):
    a, b = socketpair
    stream = geventio.Stream(on_read=keep_all)
    future = stream.write(b'hello')
    stream.configure(handle=a)
    settle()
    assert not future.ready()
    loop.add(stream)
    assert recv_exactly(b, 5) == b'hello'
    future.get(timeout=WAIT)


def test_a_stream_taken_out_of_its_loop_between_rounds_sends_nothing_until_it_is_back(
        loop, sockets):
    """A flush that spent its one call goes on next loop round; leaving the loop
    cancels that round, and joining again resumes it."""
    a, b = seqpacket_pair(sockets)
    calls = Log()
    stream = make_stream(loop, a, write_len=4)
    stream.write(b'0123456789ab', on_write=lambda s, n: calls.append(n))
    calls.wait_for(1)
    loop.remove(stream)
    settle()
    assert calls == [4]
    assert b.recv(100) == b'0123'
    assert unread(b.fileno()) == 0
    loop.add(stream)
    assert [b.recv(100) for _ in range(2)] == [b'4567', b'89ab']


# -- EPIPE -------------------------------------------------------------------------

def test_epipe_without_on_write_error_closes_the_stream(loop, pipe):
    r, w = pipe
    events = Log()
    stream = geventio.Stream(
        write_handle=w,
        on_write_eof=lambda s: events.append('write_eof'),
        on_closed=lambda s: events.append('closed'))
    loop.add(stream)
    r.close()
    first = stream.write(b'x', on_error=lambda s, e: events.append(('x', type(e))))
    second = stream.write(b'y', on_error=lambda s, e: events.append(('y', type(e))))
    stream.new_close_future().get(timeout=WAIT)
    assert events == ['write_eof', ('x', BrokenPipeError),
                      ('y', geventio.StreamClosedError), 'closed']
    with pytest.raises(BrokenPipeError):
        first.get()
    with pytest.raises(geventio.StreamClosedError):
        second.get()
    assert stream.is_write_eof
    assert stream not in loop.notifiers


def test_epipe_fails_the_failing_piece_then_on_write_error_then_the_rest(
        loop, socketpair):
    """IO::Async's order: on_write_eof, the failing piece's on_error with EPIPE,
    on_write_error, then each piece behind it with StreamClosedError."""
    a, b = socketpair
    events = Log()
    stream = make_stream(
        loop, a,
        on_write_eof=lambda s: events.append('write_eof'),
        on_write_error=lambda s, e: events.append(('write_error', type(e))))
    b.shutdown(socket.SHUT_RD)
    first = stream.write(b'A', on_error=lambda s, e: events.append(('A', type(e))))
    second = stream.write(b'B', on_error=lambda s, e: events.append(('B', type(e))))
    events.wait_for(4)
    settle()
    assert events == ['write_eof', ('A', BrokenPipeError),
                      ('write_error', BrokenPipeError),
                      ('B', geventio.StreamClosedError)]
    with pytest.raises(BrokenPipeError):
        first.get()
    with pytest.raises(geventio.StreamClosedError):
        second.get()
    assert not stream.is_closed
    stream.close()


def test_epipe_with_on_write_error_reports_once_and_keeps_the_stream(
        loop, socketpair):
    a, b = socketpair
    events = Log()
    stream = make_stream(
        loop, a,
        on_write_eof=lambda s: events.append('write_eof'),
        on_write_error=lambda s, e: events.append(('write_error', e.errno)))
    b.shutdown(socket.SHUT_RD)
    future = stream.write(b'lost', on_error=lambda s, e: events.append('on_error'))
    with pytest.raises(BrokenPipeError):
        future.get(timeout=WAIT)
    events.wait_for(3)
    settle()
    assert events == ['write_eof', 'on_error', ('write_error', errno.EPIPE)]
    assert stream.is_write_eof and not stream.is_closed
    stream.close()


def test_is_write_eof_is_false_while_a_write_made_after_epipe_is_queued(
        loop, socketpair):
    """docs/api.md: ``is_write_eof`` is false while data is queued. A stream
    that hit EPIPE and stays open (it has on_write_error) still takes writes;
    while one waits in the queue the flag says so, until its send fails too."""
    a, b = socketpair
    errors = Log()
    stream = make_stream(loop, a, on_write_error=lambda s, e: errors.append(e.errno))
    b.shutdown(socket.SHUT_RD)
    with pytest.raises(BrokenPipeError):
        stream.write(b'lost').get(timeout=WAIT)
    errors.wait_for(1)
    assert stream.is_write_eof
    again = stream.write(b'queued')        # (from the test: sent on readiness)
    assert not stream.is_write_eof
    with pytest.raises(BrokenPipeError):
        again.get(timeout=WAIT)
    assert stream.is_write_eof
    assert errors.wait_for(2) == [errno.EPIPE, errno.EPIPE]
    stream.close()


def test_epipe_under_autoflush_is_reported_inside_write(loop, socketpair):
    a, b = socketpair
    events = []
    stream = make_stream(loop, a, autoflush=True,
                         on_write_error=lambda s, e: events.append(type(e)))
    b.shutdown(socket.SHUT_RD)
    future = stream.write(b'lost')
    assert events == [BrokenPipeError]
    with pytest.raises(BrokenPipeError):
        future.get(timeout=0)
    stream.close()


# -- flush markers and futures -----------------------------------------------------

def test_empty_write_is_a_flush_marker_in_order(loop, socketpair):
    a, b = socketpair
    order = Log()
    stream = make_stream(loop, a)
    stream.write(b'data', on_flush=lambda s: order.append('data'))
    stream.write(b'', on_flush=lambda s: order.append('marker'))
    stream.write(b'more', on_flush=lambda s: order.append('more'))
    assert order.wait_for(3) == ['data', 'marker', 'more']
    assert recv_exactly(b, 8) == b'datamore'
    marker = stream.write(b'', on_flush=lambda s: order.append('alone'))
    assert marker.get(timeout=WAIT) is None
    assert order[-1] == 'alone'


def test_write_futures_can_be_waited_on_from_other_greenlets(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    writers = [gevent.spawn(lambda i=i: stream.write(b'%d;' % i).get(timeout=WAIT))
               for i in range(10)]
    gevent.joinall(writers, raise_error=True)
    data = recv_exactly(b, sum(len(b'%d;' % i) for i in range(10)))
    assert sorted(data.split(b';')[:-1], key=int) == [b'%d' % i for i in range(10)]


def test_on_read_may_block_on_its_own_write_future(loop, socketpair):
    a, b = socketpair
    reply = b'r' * (1024 * 1024)
    done = Log()

    def on_read(stream, buffer, eof):
        if buffer:
            del buffer[:]
            stream.write(reply).get(timeout=WAIT)
            done.append(True)
        return 0

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'go')
    assert recv_all(b, len(reply)) == reply
    done.wait_for(1)


def test_a_write_waited_on_in_its_own_callback_is_sent_on_the_stream_greenlet(
        loop, socketpair):
    """Waiting on a write future from one of the stream's own callbacks first
    sends what is queued right there: the write's callbacks run on the stream's
    greenlet, where that connection's greenlet-local state lives, not on a
    short-lived one woken by write-readiness."""
    a, b = socketpair
    greenlets = Log()

    def on_read(stream, buffer, eof):
        if buffer:
            del buffer[:]
            greenlets.append(('on_read', gevent.getcurrent()))
            stream.write(b'reply', on_flush=lambda s: greenlets.append(
                ('on_flush', gevent.getcurrent()))).get(timeout=WAIT)
        return 0

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'go')
    assert recv_exactly(b, 5) == b'reply'
    (_, reader), (_, flusher) = greenlets.wait_for(2)
    assert [name for name, _ in greenlets] == ['on_read', 'on_flush']
    assert flusher is reader


@pytest.mark.parametrize('body_arrives', ['later', 'with the head'])
def test_on_read_may_block_on_its_own_read_future(loop, socketpair, body_arrives):
    a, b = socketpair
    bodies = Log()

    def on_read(stream, buffer, eof):
        if buffer[:4] == b'HEAD':
            del buffer[:4]
            bodies.append(stream.read_exactly(4).get(timeout=WAIT))
            stream.write(b'ok')
        return 0

    make_stream(loop, a, on_read=on_read)
    if body_arrives == 'later':
        b.sendall(b'HEAD')
        settle()
        b.sendall(b'BODY')
    else:
        b.sendall(b'HEADBODY')
    assert bodies.wait_for(1) == [b'BODY']
    assert recv_exactly(b, 2) == b'ok'


def test_a_callback_blocked_on_its_own_read_future_gets_a_body_that_takes_several_reads(
        loop, socketpair):
    """While on_read blocks on its own stream's reader, each readiness is
    served on a short-lived greenlet that makes one read (read_len bytes); the
    read watcher is on again after each, so a body longer than one read still
    arrives whole."""
    a, b = socketpair
    bodies = Log()

    def on_read(stream, buffer, eof):
        if buffer[:4] == b'HEAD':
            del buffer[:4]
            bodies.append(stream.read_exactly(12).get(timeout=WAIT))
        return 0

    stream = make_stream(loop, a, read_len=4, on_read=on_read)
    b.sendall(b'HEAD' + b'0123456789ab')
    assert bodies.wait_for(1) == [b'0123456789ab']
    stream.close()


# -- bad input ---------------------------------------------------------------------

@pytest.mark.parametrize('data, named', [
    (123, 'data'), (None, 'data'), ('text', 'data'), ([b'a'], 'data'),
])
def test_write_of_a_wrong_kind_of_data_raises_type_error(loop, socketpair, data, named):
    a, _ = socketpair
    stream = make_stream(loop, a)
    with pytest.raises(TypeError, match=named):
        stream.write(data)


@pytest.mark.parametrize('kwargs, exc, named', [
    ({'on_write': 5}, TypeError, 'on_write'),
    ({'on_flush': 'x'}, TypeError, 'on_flush'),
    ({'on_error': 1}, TypeError, 'on_error'),
    ({'write_len': 0}, ValueError, 'write_len'),
    ({'write_len': '10'}, TypeError, 'write_len'),
])
def test_write_arguments_are_checked_at_the_call(loop, socketpair, kwargs, exc, named):
    a, b = socketpair
    stream = make_stream(loop, a)
    with pytest.raises(exc, match=named):
        stream.write(b'x', **kwargs)
    stream.write(b'ok').get(timeout=WAIT)
    assert recv_exactly(b, 2) == b'ok'


def test_write_to_a_closed_stream_raises_stream_closed_error(loop, socketpair):
    a, _ = socketpair
    stream = make_stream(loop, a)
    stream.close()
    with pytest.raises(StreamClosedError):
        stream.write(b'x')


def test_a_write_future_answers_done_as_a_future_does(loop, socketpair):
    """``done()`` is the concurrent.futures spelling of ``ready()``: asking it
    must not flush the piece a second time."""
    a, b = socketpair
    flushed = Log()
    stream = make_stream(loop, a)
    future = stream.write(b'ping', on_flush=lambda s: flushed.append('flushed'))
    future.get(timeout=WAIT)
    assert future.done() is True
    settle()
    assert flushed == ['flushed']
    assert recv_exactly(b, 4) == b'ping'
