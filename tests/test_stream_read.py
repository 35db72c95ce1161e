"""Stream reading: the scenarios of IO::Async's t/21stream-1read.t over real sockets.

Covers read sizes, ``read_all`` fairness, the ``on_read`` return-value table,
temporary handlers, EOF, read watermarks, the future readers (each all at once,
one byte at a time and with trailing bytes that must stay buffered), read
errors, and bad arguments.
"""

import errno
import fcntl
import re
import socket
import struct
import termios

import gevent
import gevent.socket
import pytest
from gevent.event import AsyncResult, Event

import geventio
from geventio import IncompleteReadError, LimitOverrunError, StreamClosedError
from conftest import (Log, WAIT, keep_all, make_stream, recv_exactly, settle, tcp_pair,
                      turn_the_hub, wait)


def unread(fd):
    """Bytes the kernel holds for ``fd`` that nobody has read yet."""
    return struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'\0' * 4))[0]


def wait_consumed(fd):
    """Let the hub run until the stream on ``fd`` has read what the kernel held.

    No event says "the stream read these bytes and kept them", so this is the one
    place that turns the hub until a condition holds; dispatch happens on the same
    wake-up as the read, so once the kernel is empty the readers have run.
    """
    for _ in range(100):
        if not unread(fd):
            return
        turn_the_hub(1)
    raise AssertionError(f'the stream did not read fd {fd}')


# -- read sizes and fairness ----------------------------------------------------

def test_read_len_caps_each_read(loop, pair):
    a, b = pair
    seen = Log()

    def on_read(stream, buffer, eof):
        seen.append(bytes(buffer))
        del buffer[:]
        return 0

    make_stream(loop, a, read_len=3, on_read=on_read)
    b.sendall(b'0123456789')
    while sum(map(len, seen.wait_for(len(seen) + 1))) < 10:
        pass
    assert b''.join(seen) == b'0123456789'
    assert max(map(len, seen)) == 3


def test_default_read_len_is_64_kib(loop, socketpair):
    """64 KiB per read (IO::Async's 8 KiB cuts bulk throughput several-fold)."""
    a, b = socketpair
    seen = Log()

    def on_read(stream, buffer, eof):
        seen.append(len(buffer))
        del buffer[:]
        return 0

    b.sendall(b'x' * 100000)      # all in the kernel before the first read
    make_stream(loop, a, on_read=on_read)
    assert seen.wait_for(1)[0] == 65536
    while sum(seen.wait_for(len(seen) + 1)) < 100000:
        pass
    assert seen == [65536, 100000 - 65536]


def test_read_all_still_lets_another_stream_be_dispatched(loop, sockets):
    """A flooded ``read_all`` stream yields to the others between wake-ups."""
    a1, b1 = sockets.keep(*gevent.socket.socketpair())
    a2, b2 = sockets.keep(*gevent.socket.socketpair())
    flood = 20000
    total = [0]
    started = Event()
    quiet_saw_at = AsyncResult()
    all_read = Event()

    def flooded(stream, buffer, eof):
        started.set()
        total[0] += len(buffer)
        del buffer[:]
        if total[0] == flood:
            all_read.set()
        return 0

    def quiet(stream, buffer, eof):
        if buffer and not quiet_saw_at.ready():
            quiet_saw_at.set(total[0])
        del buffer[:]
        return 0

    b1.sendall(b'x' * flood)
    make_stream(loop, a1, read_all=True, read_len=1, on_read=flooded)
    make_stream(loop, a2, on_read=quiet)
    wait(started)
    b2.sendall(b'ping')
    assert quiet_saw_at.get(timeout=WAIT) < flood // 2
    wait(all_read)


def test_read_all_stops_reading_when_a_handler_turns_reading_off(loop, socketpair):
    """With read_all, a handler that sets want_readready = False gets no further
    read in the same wake-up, although the kernel holds more."""
    a, b = socketpair
    lengths = Log()

    def on_read(stream, buffer, eof):
        lengths.append(len(buffer))
        stream.want_readready = False
        return 0

    b.sendall(b'x' * 40)
    stream = make_stream(loop, a, read_all=True, read_len=4, on_read=on_read)
    lengths.wait_for(1)
    settle()
    assert lengths == [4]
    assert unread(a.fileno()) == 36
    stream.want_readready = True
    assert lengths.wait_for(2) == [4, 8]


@pytest.mark.parametrize('read_all', [True, False])
def test_read_all_reads_several_chunks_per_wakeup(loop, socketpair, read_all):
    a, b = socketpair
    done = Event()

    def on_read(stream, buffer, eof):
        if len(buffer) == 200:
            done.set()
        return 0

    b.sendall(b'x' * 200)
    iterations = gevent.get_hub().loop.iteration
    make_stream(loop, a, read_len=1, read_all=read_all, on_read=on_read)
    wait(done)
    iterations = gevent.get_hub().loop.iteration - iterations
    if read_all:
        assert iterations < 100
    else:
        assert iterations >= 200


# -- the on_read return value -----------------------------------------------------

def test_callable_from_on_read_runs_at_once_even_on_an_empty_buffer(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def temporary(stream, buffer, eof):
        calls.append(('temporary', bytes(buffer)))
        if not buffer:
            return 0
        del buffer[:]
        return None

    def on_read(stream, buffer, eof):
        calls.append(('on_read', bytes(buffer)))
        go = buffer == b'go'
        del buffer[:]
        return temporary if go else 0

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'go')
    assert calls.wait_for(2) == [('on_read', b'go'), ('temporary', b'')]
    b.sendall(b'data')
    calls.wait_for(4)
    b.sendall(b'more')
    assert calls.wait_for(5) == [('on_read', b'go'), ('temporary', b''),
                                 ('temporary', b'data'), ('on_read', b''),
                                 ('on_read', b'more')]


def test_callable_from_a_temporary_handler_replaces_it(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def second(stream, buffer, eof):
        calls.append(('second', bytes(buffer)))
        del buffer[:1]
        return None

    def first(stream, buffer, eof):
        calls.append(('first', bytes(buffer)))
        del buffer[:1]
        return second

    def on_read(stream, buffer, eof):
        calls.append(('on_read', bytes(buffer)))
        del buffer[:]
        return 0

    stream = make_stream(loop, a, on_read=on_read)
    stream.push_on_read(first)
    assert calls == []
    b.sendall(b'ab')
    calls.wait_for(3)
    b.sendall(b'c')
    assert calls.wait_for(4) == [('first', b'ab'), ('second', b'b'),
                                 ('on_read', b''), ('on_read', b'c')]


def taking_one(calls, name):
    """A temporary handler that logs the buffer, takes one byte and is done."""
    def handler(stream, buffer, eof):
        calls.append((name, bytes(buffer)))
        del buffer[:1]
        return None
    return handler


def test_none_from_a_temporary_handler_runs_the_next_at_once(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(('on_read', bytes(buffer)))
        return 0

    stream = make_stream(loop, a, on_read=on_read)
    stream.push_on_read(taking_one(calls, 'h1'))
    stream.push_on_read(taking_one(calls, 'h2'))
    b.sendall(b'xyz')
    assert calls.wait_for(3) == [('h1', b'xyz'), ('h2', b'yz'), ('on_read', b'z')]
    settle()
    assert len(calls) == 3


def test_none_from_on_read_waits_for_more_data(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(bytes(buffer))
        return None

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'a')
    calls.wait_for(1)
    settle()
    b.sendall(b'b')
    assert calls.wait_for(2) == [b'a', b'ab']


def test_truthy_return_calls_again_while_data_remains(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(bytes(buffer))
        del buffer[:1]
        return 1

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'abc')
    calls.wait_for(3)
    b.sendall(b'd')
    assert calls.wait_for(4) == [b'abc', b'bc', b'c', b'd']


def test_truthy_return_at_eof_calls_again_on_an_empty_buffer(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append((bytes(buffer), eof))
        return eof and len(calls) < 3

    stream = make_stream(loop, a, on_read=on_read,
                         on_read_eof=lambda stream: calls.append('eof'))
    closed = stream.new_close_future()
    b.shutdown(socket.SHUT_WR)
    closed.get(timeout=WAIT)
    assert calls == [(b'', True), (b'', True), (b'', True), 'eof']


def test_falsy_return_waits_for_more_data(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(bytes(buffer))
        return 0

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'a')
    calls.wait_for(1)
    settle()
    assert calls == [b'a']
    b.sendall(b'b')
    assert calls.wait_for(2) == [b'a', b'ab']


def test_handler_pushed_inside_on_read_is_served_before_on_read(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def body(stream, buffer, eof):
        calls.append(('body', bytes(buffer)))
        del buffer[:]
        return None

    def on_read(stream, buffer, eof):
        calls.append(('on_read', bytes(buffer)))
        if buffer[:1] == b'X':
            del buffer[:1]
            stream.push_on_read(body)
            return 1
        return 0

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'Xrest')
    assert calls.wait_for(3) == [('on_read', b'Xrest'), ('body', b'rest'),
                                 ('on_read', b'')]


def test_push_on_read_is_served_at_once_when_data_is_buffered(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(('on_read', bytes(buffer)))
        return 0

    def pushed(stream, buffer, eof):
        calls.append(('pushed', bytes(buffer)))
        del buffer[:2]
        return None

    stream = make_stream(loop, a, on_read=on_read)
    b.sendall(b'abc')
    calls.wait_for(1)
    stream.push_on_read(pushed)
    assert calls == [('on_read', b'abc'), ('pushed', b'abc'), ('on_read', b'c')]


def test_pushed_handlers_are_served_in_fifo_order_ahead_of_on_read(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(('on_read', bytes(buffer)))
        del buffer[:]
        return 0

    stream = make_stream(loop, a, on_read=on_read)
    for name in ('h1', 'h2', 'h3'):
        stream.push_on_read(taking_one(calls, name))
    b.sendall(b'abcd')
    assert calls.wait_for(4) == [('h1', b'abcd'), ('h2', b'bcd'), ('h3', b'cd'),
                                 ('on_read', b'd')]


def test_on_read_as_a_subclass_method_and_a_keyword_overrides_it(loop, sockets):
    calls = Log()

    class Lines(geventio.Stream):
        def on_read(self, buffer, eof):
            calls.append(('method', bytes(buffer)))
            del buffer[:]
            return 0

    a1, b1 = sockets.keep(*gevent.socket.socketpair())
    a2, b2 = sockets.keep(*gevent.socket.socketpair())
    loop.add(Lines(handle=a1))
    loop.add(Lines(handle=a2, on_read=lambda stream, buffer, eof:
                   calls.append(('keyword', type(stream).__name__))))
    b1.sendall(b'one')
    calls.wait_for(1)
    b2.sendall(b'two')
    assert calls.wait_for(2) == [('method', b'one'), ('keyword', 'Lines')]


def test_a_reader_served_while_on_read_blocks_does_not_end_its_dispatch(
        loop, socketpair):
    """on_read blocks on a future reader that its own buffer serves; a handler it
    pushes afterwards still waits for on_read to return."""
    a, b = socketpair
    calls = Log()

    def pushed(stream, buffer, eof):
        calls.append(('pushed', bytes(buffer)))
        del buffer[:]
        return None

    def on_read(stream, buffer, eof):
        if buffer[:4] == b'HEAD':
            del buffer[:4]
            calls.append(('body', stream.read_exactly(4).get(timeout=WAIT)))
            stream.push_on_read(pushed)
            calls.append('on_read returns')
            return 1
        return 0

    make_stream(loop, a, on_read=on_read)
    b.sendall(b'HEADBODYrest')
    assert calls.wait_for(3) == [('body', b'BODY'), 'on_read returns',
                                 ('pushed', b'rest')]


# -- EOF ---------------------------------------------------------------------------

def test_eof_calls_on_read_then_on_read_eof_then_closes(loop, pair):
    a, b = pair
    events = Log()

    def on_read(stream, buffer, eof):
        events.append(('read', bytes(buffer), eof))
        del buffer[:]
        return 0

    stream = make_stream(
        loop, a, on_read=on_read,
        on_read_eof=lambda stream: events.append(('read_eof', stream.is_read_eof)),
        on_closed=lambda stream: events.append('closed'))
    b.sendall(b'bye')
    b.shutdown(socket.SHUT_WR)
    stream.new_close_future().get(timeout=WAIT)
    assert b''.join(e[1] for e in events if e[0] == 'read') == b'bye'
    assert events[-3:] == [('read', b'', True), ('read_eof', True), 'closed']
    assert b.recv(10) == b''
    assert stream.is_closed


def test_without_close_on_read_eof_the_stream_stays_open_for_writing(loop, socketpair):
    a, b = socketpair
    events = Log()
    stream = make_stream(loop, a, close_on_read_eof=False,
                         on_read=lambda stream, buffer, eof: events.append(eof),
                         on_read_eof=lambda stream: events.append('read_eof'))
    b.shutdown(socket.SHUT_WR)
    events.wait_for(2)
    settle()
    assert events == [True, 'read_eof']
    assert stream.is_read_eof and not stream.is_closed
    assert not stream.want_readready
    stream.write(b'still here')
    assert recv_exactly(b, 10) == b'still here'
    stream.close()
    assert stream.is_closed
    assert b.recv(10) == b''


@pytest.mark.parametrize('reply_when', ['on data', 'at eof'])
def test_half_closing_client_still_gets_its_reply(loop, pair, reply_when):
    """The peer sends a request and shuts down its write side; the reply, too big
    to go out at once, is delivered in full before the stream closes."""
    a, b = pair
    reply = bytes(range(256)) * 4096

    def on_read(stream, buffer, eof):
        if buffer.endswith(b'\n') and (eof or reply_when == 'on data'):
            del buffer[:]
            stream.write(reply)
        return 0

    stream = make_stream(loop, a, on_read=on_read)
    closed = stream.new_close_future()
    b.sendall(b'request\n')
    b.shutdown(socket.SHUT_WR)
    received = bytearray()
    while chunk := b.recv(65536):
        received += chunk
    assert received == reply
    closed.get(timeout=WAIT)


# -- read watermarks ---------------------------------------------------------------

def test_high_watermark_pauses_reading_until_consumed_below_low(loop, socketpair):
    a, b = socketpair
    buffers = []
    reached = Event()

    def on_read(stream, buffer, eof):
        buffers.append(len(buffer))
        if len(buffer) >= 16:
            reached.set()
        return 0

    stream = make_stream(loop, a, read_len=4, read_high_watermark=16,
                         read_low_watermark=8, on_read=on_read)
    b.sendall(b'x' * 64)
    wait(reached)
    assert not stream.want_readready
    # The stream no longer reads, so the kernel fills up and the peer blocks.
    b.settimeout(0)
    sent = 64
    with pytest.raises(BlockingIOError):
        while True:
            sent += b.send(b'x' * 65536)
    b.settimeout(None)
    calls = len(buffers)
    settle()
    assert len(buffers) == calls and buffers[-1] == 16
    assert not stream.want_readready

    assert stream.read_exactly(12).get(timeout=WAIT) == b'x' * 12
    assert stream.want_readready
    total = [12]
    everything = Event()

    def consume(stream, buffer, eof):
        total[0] += len(buffer)
        del buffer[:]
        if total[0] == sent:
            everything.set()
        return 0

    stream.configure(on_read=consume, read_len=65536)
    wait(everything)


@pytest.mark.parametrize('handlers', [False, True], ids=['pausing', 'events'])
def test_reading_resumes_below_the_low_watermark_not_at_it(loop, socketpair, handlers):
    """Without watermark handlers the stream pauses and resumes reading itself;
    with them, the handlers are told instead. Either way, "below" is strict."""
    a, b = socketpair
    reads, events = Log(), []
    params = dict(on_read=lambda stream, buffer, eof: reads.append(len(buffer)) and 0)
    if handlers:
        params.update(
            on_read_high_watermark=lambda stream, n: events.append(('high', n)),
            on_read_low_watermark=lambda stream, n: events.append(('low', n)))
    stream = make_stream(loop, a, read_high_watermark=8, read_low_watermark=4, **params)
    b.sendall(b'x' * 8)
    reads.wait_for(1)
    assert stream.want_readready is handlers
    assert stream.read_exactly(4).get(timeout=WAIT) == b'xxxx'
    # 4 left: at the low mark, not below it.
    assert stream.want_readready is handlers
    assert events == ([('high', 8)] if handlers else [])
    assert stream.read_exactly(1).get(timeout=WAIT) == b'x'
    assert stream.want_readready
    assert events == ([('high', 8), ('low', 3)] if handlers else [])


def test_after_eof_consuming_below_the_low_watermark_does_not_read_again(
        loop, socketpair):
    """With only on_read_high_watermark handled, reading goes on to EOF at the
    high mark; consuming below the low mark afterwards must not start reading
    again (after EOF the stream stops watching for reads)."""
    a, b = socketpair
    events = Log()
    stream = make_stream(loop, a, read_high_watermark=4, read_low_watermark=2,
                         close_on_read_eof=False,
                         on_read_high_watermark=lambda s, n: events.append(('high', n)),
                         on_read_eof=lambda s: events.append('eof'))
    b.sendall(b'x' * 8)
    b.shutdown(socket.SHUT_WR)
    assert events.wait_for(2) == [('high', 8), 'eof']
    assert stream.read_exactly(7).get(timeout=WAIT) == b'x' * 7
    settle()
    assert events == [('high', 8), 'eof']
    assert not stream.want_readready and stream.is_read_eof
    stream.close()


def test_equal_watermarks_pause_at_the_mark_and_resume_just_below_it(loop, socketpair):
    a, b = socketpair
    lengths = Log()
    stream = make_stream(loop, a, read_high_watermark=8, read_low_watermark=8,
                         on_read=lambda stream, buffer, eof: lengths.append(len(buffer)) and 0)
    b.sendall(b'x' * 8)
    assert lengths.wait_for(1) == [8]
    assert not stream.want_readready
    assert stream.read_exactly(1).get(timeout=WAIT) == b'x'
    assert stream.want_readready
    stream.configure(read_high_watermark=4, read_low_watermark=4)
    assert stream.want_readready


def test_watermark_events_fire_once_per_crossing_and_take_over_pausing(
        loop, socketpair):
    a, b = socketpair
    events = Log()
    lengths = Log()

    stream = make_stream(
        loop, a, read_len=4, read_high_watermark=8, read_low_watermark=4,
        on_read=lambda stream, buffer, eof: lengths.append(len(buffer)) and 0,
        on_read_high_watermark=lambda stream, n: events.append(('high', n)),
        on_read_low_watermark=lambda stream, n: events.append(('low', n)))
    b.sendall(b'x' * 20)
    assert lengths.wait_for(5) == [4, 8, 12, 16, 20]
    assert events == [('high', 8)]
    assert stream.want_readready
    assert stream.read_exactly(18).get(timeout=WAIT) == b'x' * 18
    assert events == [('high', 8), ('low', 2)]
    b.sendall(b'y' * 10)
    # on_read ran at once after the reader finished (with 2), then per read.
    lengths.wait_for(9)
    assert lengths[5:] == [2, 6, 10, 12]
    assert events == [('high', 8), ('low', 2), ('high', 10)]


# -- future readers ----------------------------------------------------------------

#: (reader, message, result): each reader tested on its own message.
READERS = {
    'read_exactly': (lambda s: s.read_exactly(5), b'hello', b'hello'),
    'read_until bytes': (lambda s: s.read_until(b'\r\n'), b'line\r\n', b'line\r\n'),
    'read_until regex': (lambda s: s.read_until(re.compile(rb'\r?\n')),
                         b'line\r\n', b'line\r\n'),
    'read_until max_len': (lambda s: s.read_until(b'\n', max_len=5),
                           b'abcd\n', b'abcd\n'),
    'read_atmost': (lambda s: s.read_atmost(5), b'hello', b'hello'),
}


@pytest.mark.parametrize('name', READERS)
def test_reader_gets_a_message_sent_all_at_once(loop, socketpair, name):
    reader, message, result = READERS[name]
    a, b = socketpair
    stream = make_stream(loop, a)
    future = reader(stream)
    b.sendall(message)
    got = future.get(timeout=WAIT)
    assert got == result and type(got) is bytes


@pytest.mark.parametrize('name', [n for n in READERS if n != 'read_atmost'])
def test_reader_gets_a_message_sent_one_byte_at_a_time(loop, socketpair, name):
    reader, message, result = READERS[name]
    a, b = socketpair
    stream = make_stream(loop, a, read_len=1)
    future = reader(stream)
    for byte in message[:-1]:
        b.sendall(bytes([byte]))
        wait_consumed(a.fileno())
        assert not future.ready()
    b.sendall(message[-1:])
    assert future.get(timeout=WAIT) == result


def test_read_atmost_resolves_on_the_first_byte(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=1)
    future = stream.read_atmost(5)
    b.sendall(b'hello')
    assert future.get(timeout=WAIT) == b'h'
    assert stream.read_exactly(4).get(timeout=WAIT) == b'ello'


@pytest.mark.parametrize('name', READERS)
def test_reader_leaves_trailing_bytes_in_the_buffer(loop, socketpair, name):
    reader, message, result = READERS[name]
    a, b = socketpair
    stream = make_stream(loop, a)
    b.sendall(message + b'TRAIL\n')
    wait_consumed(a.fileno())
    future = reader(stream)
    assert future.ready()
    assert future.get() == result
    assert stream.read_until(b'\n').get(timeout=WAIT) == b'TRAIL\n'


def test_read_until_eof_gets_everything_up_to_eof(loop, pair):
    a, b = pair
    stream = make_stream(loop, a)
    future = stream.read_until_eof()
    payload = b'chunk' * 20000
    b.sendall(payload)
    assert not future.ready()
    b.shutdown(socket.SHUT_WR)
    assert future.get(timeout=WAIT) == payload


def test_read_until_eof_one_byte_at_a_time(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=1)
    future = stream.read_until_eof()
    for byte in b'abc':
        b.sendall(bytes([byte]))
        wait_consumed(a.fileno())
        assert not future.ready()
    b.shutdown(socket.SHUT_WR)
    assert future.get(timeout=WAIT) == b'abc'


def test_read_until_finds_a_separator_split_across_reads(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    future = stream.read_until(b'\r\n')
    b.sendall(b'abc\r')
    wait_consumed(a.fileno())
    assert not future.ready()
    b.sendall(b'\ndef')
    assert future.get(timeout=WAIT) == b'abc\r\n'
    assert stream.read_exactly(3).get(timeout=WAIT) == b'def'


def test_read_until_regex_returns_through_the_first_match(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    b.sendall(b'key=1;;key=2;;')
    assert stream.read_until(re.compile(rb';+')).get(timeout=WAIT) == b'key=1;;'
    assert stream.read_until(re.compile(rb';+')).get(timeout=WAIT) == b'key=2;;'


def test_read_until_max_len_keeps_data_in_buffer(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    future = stream.read_until(b'\n', max_len=5)
    b.sendall(b'abcdefg')
    with pytest.raises(LimitOverrunError):
        future.get(timeout=WAIT)
    assert stream.read_exactly(7).get(timeout=WAIT) == b'abcdefg'


def test_read_until_max_len_fails_when_the_separator_lies_beyond_it(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    b.sendall(b'abcdef\nrest')
    wait_consumed(a.fileno())
    future = stream.read_until(b'\n', max_len=5)
    with pytest.raises(LimitOverrunError):
        future.get(timeout=WAIT)
    assert stream.read_until(b'\n').get(timeout=WAIT) == b'abcdef\n'


def test_read_until_max_len_one_byte_at_a_time(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=1)
    future = stream.read_until(b'\n', max_len=4)
    for byte in b'abc':
        b.sendall(bytes([byte]))
        wait_consumed(a.fileno())
        assert not future.ready()
    b.sendall(b'd')
    with pytest.raises(LimitOverrunError):
        future.get(timeout=WAIT)
    assert stream.read_exactly(4).get(timeout=WAIT) == b'abcd'


def test_future_readers_are_served_in_call_order_before_on_read(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(bytes(buffer))
        del buffer[:]
        return 0

    stream = make_stream(loop, a, on_read=on_read)
    head = stream.read_exactly(4)
    line = stream.read_until(b'\n')
    b.sendall(b'HEADline\nrest')
    assert calls.wait_for(1) == [b'rest']
    assert head.get() == b'HEAD'
    assert line.get() == b'line\n'


def test_chained_future_readers_in_a_greenlet(loop, socketpair):
    """A length-prefixed protocol read by a greenlet, each read made after the
    previous one resolved."""
    a, b = socketpair
    stream = make_stream(loop, a)

    def messages():
        got = []
        while len(got) < 3:
            size = int(stream.read_exactly(4).get())
            got.append(stream.read_exactly(size).get())
        return got

    reader = gevent.spawn(messages)
    b.sendall(b'0005hello0003abc0000')
    assert reader.get(timeout=WAIT) == [b'hello', b'abc', b'']


def test_read_exactly_zero_resolves_at_once_in_turn(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    assert stream.read_exactly(0).get(timeout=WAIT) == b''
    first = stream.read_exactly(2)
    empty = stream.read_exactly(0)
    assert not empty.ready()
    b.sendall(b'ab')
    assert first.get(timeout=WAIT) == b'ab'
    assert empty.get(timeout=WAIT) == b''


def test_read_exactly_after_data_arrived_resolves_without_waiting(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    b.sendall(b'abcdef')
    wait_consumed(a.fileno())
    first = stream.read_exactly(4)
    second = stream.read_atmost(10)
    assert first.ready() and second.ready()
    assert (first.get(), second.get()) == (b'abcd', b'ef')


def test_cancel_read_removes_a_pending_reader_without_consuming(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    cancelled = stream.read_exactly(4)
    kept = stream.read_exactly(2)
    stream.cancel_read(cancelled)
    b.sendall(b'ab')
    assert kept.get(timeout=WAIT) == b'ab'
    assert not cancelled.successful()


def test_cancel_read_of_a_partly_served_reader_leaves_the_data(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    line = stream.read_until(b'\n')
    b.sendall(b'abc')
    wait_consumed(a.fileno())
    stream.cancel_read(line)
    rest = stream.read_exactly(3)
    assert rest.ready() and rest.get() == b'abc'
    assert not line.successful()


def test_cancel_read_of_a_finished_future_is_ignored(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    b.sendall(b'abcd')
    done = stream.read_exactly(2)
    assert done.get(timeout=WAIT) == b'ab'
    stream.cancel_read(done)
    assert stream.read_exactly(2).get(timeout=WAIT) == b'cd'


# -- future readers at EOF -------------------------------------------------------

def test_read_exactly_at_eof_fails_with_the_partial_data(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    future = stream.read_exactly(5)
    b.sendall(b'abc')
    b.shutdown(socket.SHUT_WR)
    with pytest.raises(IncompleteReadError) as info:
        future.get(timeout=WAIT)
    assert isinstance(info.value, EOFError)
    assert info.value.partial == b'abc'
    assert info.value.expected == 5


def test_read_until_at_eof_returns_the_remainder_without_separator(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    first = stream.read_until(b'\n')
    second = stream.read_until(b'\n')
    b.sendall(b'one\ntwo')
    b.shutdown(socket.SHUT_WR)
    assert first.get(timeout=WAIT) == b'one\n'
    assert second.get(timeout=WAIT) == b'two'


def test_read_atmost_at_eof_on_an_empty_buffer_gives_empty_bytes(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    future = stream.read_atmost(10)
    b.shutdown(socket.SHUT_WR)
    assert future.get(timeout=WAIT) == b''


def test_readers_made_after_eof_on_an_open_stream_resolve_at_once(loop, socketpair):
    a, b = socketpair
    eof = Event()
    stream = make_stream(loop, a, close_on_read_eof=False,
                         on_read_eof=lambda stream: eof.set())
    b.sendall(b'abc')
    b.shutdown(socket.SHUT_WR)
    wait(eof)
    two = stream.read_exactly(2)
    assert two.ready() and two.get() == b'ab'
    short = stream.read_exactly(5)
    assert short.ready()
    with pytest.raises(IncompleteReadError) as info:
        short.get()
    assert info.value.partial == b'c'
    assert stream.read_until_eof().get(timeout=WAIT) == b''
    assert stream.read_atmost(3).get(timeout=WAIT) == b''


def test_readers_on_a_closed_stream_fail_with_stream_closed_error(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    pending = stream.read_exactly(3)
    stream.close()
    with pytest.raises(StreamClosedError):
        pending.get(timeout=WAIT)
    with pytest.raises(StreamClosedError):
        stream.read_until(b'\n').get(timeout=WAIT)


# -- read errors -------------------------------------------------------------------

def _reset_by_peer(sockets, stream_params, loop):
    """A TCP stream whose peer closes with SO_LINGER {1, 0} while data is unread,
    so the stream's next read fails with ECONNRESET."""
    a, b = sockets.keep(*tcp_pair())
    stream = make_stream(loop, a, **stream_params)
    stream.write(b'never read by the peer').get(timeout=WAIT)
    pending = stream.read_exactly(10)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    b.close()
    return stream, pending


def test_connection_reset_calls_on_read_error_and_fails_pending_readers(
        loop, sockets):
    errors = AsyncResult()
    stream, pending = _reset_by_peer(
        sockets, {'on_read_error': lambda stream, err: errors.set(err)}, loop)
    err = errors.get(timeout=WAIT)
    assert isinstance(err, OSError) and err.errno == errno.ECONNRESET
    with pytest.raises(ConnectionResetError):
        pending.get(timeout=WAIT)
    assert not stream.is_closed
    assert not stream.want_readready
    stream.close()


def test_connection_reset_without_on_read_error_closes_the_stream(loop, sockets):
    closed = Event()
    stream, pending = _reset_by_peer(
        sockets, {'on_closed': lambda stream: closed.set()}, loop)
    wait(closed)
    assert stream.is_closed
    with pytest.raises(ConnectionResetError):
        pending.get(timeout=WAIT)
    assert stream not in loop.notifiers


# -- bad input ---------------------------------------------------------------------

def test_unknown_keyword_raises_type_error_naming_it(socketpair):
    a, _ = socketpair
    with pytest.raises(TypeError, match='read_size'):
        geventio.Stream(handle=a, on_read=keep_all, read_size=10)
    stream = geventio.Stream(handle=a, on_read=keep_all)
    with pytest.raises(TypeError, match='on_data'):
        stream.configure(on_data=keep_all)


@pytest.mark.parametrize('name, value', [
    ('read_len', '8192'), ('read_len', 1.5), ('read_len', True),
    ('write_len', None), ('read_all', 'yes'), ('close_on_read_eof', 'no'),
    ('autoflush', 'on'), ('on_read', 'not callable'), ('on_read_eof', 5),
    ('encoding', b'utf-8'), ('handle', 'not a file'),
])
def test_wrong_type_raises_type_error_naming_the_parameter(socketpair, name, value):
    a, _ = socketpair
    params = {'handle': a, 'on_read': keep_all, name: value}
    with pytest.raises(TypeError, match=name):
        geventio.Stream(**params)
    stream = geventio.Stream(handle=a, on_read=keep_all)
    with pytest.raises(TypeError, match=name):
        stream.configure(**{name: value})


@pytest.mark.parametrize('params, named', [
    ({'read_len': 0}, 'read_len'),
    ({'read_len': -1}, 'read_len'),
    ({'write_len': 0}, 'write_len'),
    ({'read_high_watermark': 10, 'read_low_watermark': 20}, 'read_low_watermark'),
    ({'read_high_watermark': 10}, 'read_low_watermark'),
    ({'read_low_watermark': 10}, 'read_high_watermark'),
    ({'read_high_watermark': 0, 'read_low_watermark': 0}, 'read_high_watermark'),
    ({'read_high_watermark': 10, 'read_low_watermark': -1}, 'read_low_watermark'),
])
def test_impossible_value_raises_value_error_naming_the_parameter(
        socketpair, params, named):
    a, _ = socketpair
    with pytest.raises(ValueError, match=named):
        geventio.Stream(handle=a, on_read=keep_all, **params)


def test_watermark_type_errors_name_the_parameter(socketpair):
    a, _ = socketpair
    with pytest.raises(TypeError, match='read_high_watermark'):
        geventio.Stream(handle=a, on_read=keep_all, read_high_watermark='10',
                        read_low_watermark=5)


def test_configure_with_a_bad_value_leaves_the_stream_unchanged(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=2)
    with pytest.raises(ValueError):
        stream.configure(read_len=1, read_high_watermark=4)
    with pytest.raises(TypeError):
        stream.configure(read_len=1, on_read='nope')
    future = stream.read_atmost(10)
    b.sendall(b'abc')
    assert future.get(timeout=WAIT) == b'ab'


@pytest.mark.parametrize('call, exc, named', [
    (lambda s: s.read_exactly(-1), ValueError, 'n'),
    (lambda s: s.read_exactly('4'), TypeError, 'n'),
    (lambda s: s.read_atmost(0), ValueError, 'n'),
    (lambda s: s.read_until(b''), ValueError, 'separator'),
    (lambda s: s.read_until('\n'), TypeError, 'separator'),
    (lambda s: s.read_until(b'\n', max_len=0), ValueError, 'max_len'),
    (lambda s: s.read_until(b'\n', max_len='5'), TypeError, 'max_len'),
    (lambda s: s.push_on_read('handler'), TypeError, 'handler'),
])
def test_reader_arguments_are_checked_at_the_call(loop, socketpair, call, exc, named):
    a, _ = socketpair
    stream = make_stream(loop, a)
    with pytest.raises(exc, match=named):
        call(stream)


def test_adding_a_readable_stream_without_on_read_raises_and_starts_nothing(
        loop, socketpair):
    a, b = socketpair
    stream = geventio.Stream(handle=a)
    with pytest.raises(TypeError, match='on_read'):
        loop.add(stream)
    assert stream.loop is None and loop.notifiers == ()
    b.sendall(b'unread')
    settle()
    assert unread(a.fileno()) == 6
    stream.configure(on_read=keep_all)
    loop.add(stream)
    assert stream.read_exactly(6).get(timeout=WAIT) == b'unread'


def test_a_write_only_stream_needs_no_on_read(loop, socketpair):
    a, b = socketpair
    stream = geventio.Stream(write_handle=a)
    loop.add(stream)
    stream.write(b'out')
    assert recv_exactly(b, 3) == b'out'
