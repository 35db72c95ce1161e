"""Stream closing: close_when_empty, close_now, write_eof, split handles, reuse,
callback errors and the standard-stream constructors (IO::Async t/21stream-1read.t,
-2write.t and -3split.t), over real sockets, pipes and a child process.
"""

import os
import socket
import sys
import textwrap

import gevent
import gevent.os
import gevent.socket
import gevent.subprocess
import pytest
from gevent.event import Event

import geventio
from geventio import StreamClosedError
from conftest import Log, WAIT, keep_all, make_stream, open_pipe, recv_exactly, settle


def recv_until_eof(sock):
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def recv_all(sock, count):
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(65536)
        assert chunk, f'EOF after {len(data)} of {count} bytes'
        data += chunk
    return bytes(data)


def split_stream(loop, sockets, **params):
    """A Stream in ``loop`` reading one pipe and writing another (``on_read``
    keeps everything); returns it with the pipes' ends ``(in_r, in_w, out_r,
    out_w)``: the test writes ``in_w`` and reads ``out_r`` (non-blocking)."""
    in_r, in_w = open_pipe(sockets)
    out_r, out_w = open_pipe(sockets)
    os.set_blocking(out_r.fileno(), False)
    stream = geventio.Stream(read_handle=in_r, write_handle=out_w, on_read=keep_all,
                             **params)
    loop.add(stream)
    return stream, (in_r, in_w, out_r, out_w)


# -- close_when_empty and close_now ----------------------------------------------

def test_close_when_empty_on_an_empty_queue_closes_inside_the_call(loop, socketpair):
    a, b = socketpair
    events = []
    stream = make_stream(loop, a, on_closed=lambda s: events.append(s.is_closed))
    stream.close_when_empty()
    assert events == [True]
    assert stream.is_closed
    assert stream.loop is None and stream not in loop.notifiers
    assert b.recv(10) == b''


def test_close_when_empty_waits_for_the_queue_to_drain(loop, pair):
    a, b = pair
    events = Log()
    stream = make_stream(loop, a, on_closed=lambda s: events.append('closed'))
    payload = b'z' * (1024 * 1024)
    stream.write(payload, on_flush=lambda s: events.append('flushed'))
    stream.close_when_empty()
    assert not stream.is_closed
    assert recv_until_eof(b) == payload
    assert events.wait_for(2) == ['flushed', 'closed']
    assert stream.is_closed


def test_close_is_close_when_empty(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    stream.write(b'last words')
    stream.close()
    assert recv_until_eof(b) == b'last words'
    stream.new_close_future().get(timeout=WAIT)


def test_close_when_empty_stops_reading_while_the_queue_drains(loop, socketpair):
    """After close() no event but the pending writes' own and on_closed fires."""
    a, b = socketpair
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    reads = []
    closed = Event()
    stream = make_stream(loop, a, on_read=lambda s, buf, eof: reads.append(eof),
                         on_closed=lambda s: closed.set())
    payload = b'q' * (1024 * 1024)
    stream.write(payload)
    stream.close_when_empty()
    b.sendall(b'ignored')
    assert recv_all(b, len(payload)) == payload
    assert closed.wait(WAIT)
    assert reads == []


def test_close_now_fails_queued_pieces_with_stream_closed_error(loop, socketpair):
    a, b = socketpair
    events = []
    stream = make_stream(loop, a, on_closed=lambda s: events.append('closed'),
                         on_outgoing_empty=lambda s: events.append('empty'))
    futures = [stream.write(data, on_error=lambda s, e, data=data: events.append(
                   (data, type(e))), on_flush=lambda s: events.append('flushed'))
               for data in (b'one', b'two')]
    stream.close_now()
    assert events == [(b'one', StreamClosedError), (b'two', StreamClosedError), 'closed']
    for future in futures:
        with pytest.raises(StreamClosedError):
            future.get(timeout=0)
    assert b.recv(10) == b''
    settle()
    assert events[-1] == 'closed' and len(events) == 3


def test_close_now_fails_pending_readers(loop, socketpair):
    a, _ = socketpair
    stream = make_stream(loop, a)
    reader = stream.read_until(b'\n')
    stream.close_now()
    with pytest.raises(StreamClosedError):
        reader.get(timeout=0)


def test_on_closed_finds_the_readers_failed_and_the_buffer_cleared(loop, socketpair):
    """By the time on_closed runs, what the stream held is released: a pending
    reader has failed and the read buffer is empty."""
    a, b = socketpair
    buffers, seen = Log(), []

    def on_read(stream, buffer, eof):
        buffers.append(buffer)
        return 0

    def on_closed(stream):
        seen.append((reader.ready(), type(reader.exception), len(buffers[0])))

    stream = make_stream(loop, a, on_read=on_read, on_closed=on_closed)
    b.sendall(b'kept')
    buffers.wait_for(1)
    reader = stream.read_exactly(100)
    assert len(buffers[0]) == 4 and not reader.ready()
    stream.close_now()
    assert seen == [(True, StreamClosedError, 0)]


def test_close_when_empty_with_nowhere_to_send_the_queue_closes_at_once(loop, pipe):
    """A read-only stream's queued writes can never drain: close_when_empty
    closes at once and fails them."""
    r, _ = pipe
    stream = geventio.Stream(read_handle=r, on_read=keep_all)
    loop.add(stream)
    queued = stream.write(b'nowhere to go')
    stream.close_when_empty()
    assert stream.is_closed and r.closed
    with pytest.raises(StreamClosedError):
        queued.get(timeout=0)


def test_write_to_a_closing_stream_raises_stream_closed_error(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    stream.write(b'pending')
    stream.close_when_empty()
    with pytest.raises(StreamClosedError):
        stream.write(b'too late')
    assert recv_until_eof(b) == b'pending'
    with pytest.raises(StreamClosedError):
        stream.write(b'later still')


def test_on_closed_fires_exactly_once(loop, socketpair):
    a, _ = socketpair
    closed = []
    stream = make_stream(loop, a, on_closed=closed.append)
    stream.close()
    stream.close()
    stream.close_now()
    stream.close_when_empty()
    loop.close()
    settle()
    assert closed == [stream]


def test_close_inside_on_read_stops_further_dispatch(loop, socketpair):
    a, b = socketpair
    calls = Log()

    def on_read(stream, buffer, eof):
        calls.append(bytes(buffer))
        stream.close()
        return 1

    stream = make_stream(loop, a, on_read=on_read,
                         on_closed=lambda s: calls.append('closed'))
    b.sendall(b'abc')
    assert calls.wait_for(2) == [b'abc', 'closed']
    settle()
    assert len(calls) == 2 and stream.is_closed


def test_closed_stream_leaves_its_loop_and_its_parent(loop, sockets):
    a1, _ = sockets.keep(*gevent.socket.socketpair())
    a2, _ = sockets.keep(*gevent.socket.socketpair())
    alone = make_stream(loop, a1)
    parent = geventio.Notifier()
    child = geventio.Stream(handle=a2, on_read=keep_all)
    parent.add_child(child)
    loop.add(parent)
    assert child.loop is loop
    alone.close()
    child.close()
    assert alone.loop is None and alone not in loop.notifiers
    assert child.loop is None and child.parent is None
    assert parent.children == () and loop.notifiers == (parent,)


def test_new_close_future_resolves_with_the_stream(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    future = stream.new_close_future()
    assert not future.ready()
    b.shutdown(socket.SHUT_WR)
    assert future.get(timeout=WAIT) is stream
    late = stream.new_close_future()
    assert late.ready() and late.get() is stream


# -- write_eof and EOF flags -------------------------------------------------------

def test_write_eof_half_closes_once_the_queue_drains(loop, pair):
    a, b = pair
    reads = Log()

    def on_read(stream, buffer, eof):
        reads.append((bytes(buffer), eof))
        del buffer[:]
        return 0

    stream = make_stream(loop, a, on_read=on_read)
    payload = b'w' * (512 * 1024)
    stream.write(payload)
    stream.write_eof()
    assert not stream.is_write_eof
    with pytest.raises(StreamClosedError):
        stream.write(b'after eof')
    assert recv_until_eof(b) == payload
    assert stream.is_write_eof and not stream.is_closed
    b.sendall(b'still reading')
    reads.wait_for(1)
    b.shutdown(socket.SHUT_WR)
    stream.new_close_future().get(timeout=WAIT)
    assert b''.join(r[0] for r in reads) == b'still reading'
    assert reads[-1] == (b'', True)


def test_write_eof_on_an_empty_queue_half_closes_at_once(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    stream.write_eof()
    assert stream.is_write_eof
    assert b.recv(10) == b''
    stream.close()


def test_writing_after_the_half_close_raises_and_sends_nothing(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    stream.write_eof()
    with pytest.raises(StreamClosedError):
        stream.write(b'too late')
    assert b.recv(10) == b''
    stream.close()


def test_close_write_fails_what_is_queued_and_refuses_more(loop, pipe):
    r, w = pipe
    stream = geventio.Stream(write_handle=w)
    queued = stream.write(b'never sent')    # no loop yet: it stays queued
    stream.close_write()
    with pytest.raises(StreamClosedError):
        queued.get(timeout=WAIT)
    with pytest.raises(StreamClosedError):
        stream.write(b'later')
    assert w.closed


def test_close_write_on_an_open_socket_stream_fails_what_is_queued(loop, socketpair):
    """The stream stays open for reading; what it had queued fails at once."""
    a, b = socketpair
    stream = geventio.Stream(handle=a, on_read=keep_all)
    queued = stream.write(b'never sent')    # no loop yet: it stays queued
    stream.close_write()
    assert not stream.is_closed
    with pytest.raises(StreamClosedError):
        queued.get(timeout=0)
    with pytest.raises(StreamClosedError):
        stream.write(b'later')
    assert b.recv(10) == b''
    stream.close()


def test_write_eof_without_a_write_handle_raises(loop, pipe):
    r, _ = pipe
    stream = geventio.Stream(read_handle=r, on_read=keep_all)
    loop.add(stream)
    with pytest.raises(StreamClosedError):
        stream.write_eof()
    stream.close()


def test_is_read_eof_and_is_write_eof_are_independent(loop, socketpair):
    a, b = socketpair
    eof = Event()
    stream = make_stream(loop, a, close_on_read_eof=False,
                         on_read_eof=lambda s: eof.set())
    assert (stream.is_read_eof, stream.is_write_eof) == (False, False)
    b.shutdown(socket.SHUT_WR)
    assert eof.wait(WAIT)
    assert (stream.is_read_eof, stream.is_write_eof) == (True, False)
    stream.write_eof()
    assert (stream.is_read_eof, stream.is_write_eof) == (True, True)
    stream.close()


# -- reuse and split handles -------------------------------------------------------

def test_a_closed_stream_can_be_reused_with_a_new_handle(loop, sockets):
    a1, b1 = sockets.keep(*gevent.socket.socketpair())
    a2, b2 = sockets.keep(*gevent.socket.socketpair())
    closed = Log()
    stream = make_stream(loop, a1, on_closed=lambda s: closed.append(s))
    b1.shutdown(socket.SHUT_WR)
    closed.wait_for(1)
    assert stream.is_read_eof and stream.is_closed

    stream.configure(handle=a2)
    assert not stream.is_closed and not stream.is_read_eof
    loop.add(stream)
    b2.sendall(b'again')
    assert stream.read_exactly(5).get(timeout=WAIT) == b'again'
    stream.write(b'reply')
    assert recv_exactly(b2, 5) == b'reply'
    stream.close()
    assert closed == [stream, stream]


def test_a_stream_reused_after_closing_at_the_high_watermark_starts_below_it(
        loop, sockets):
    """Flow-control state does not outlive a close: the reused stream tells no
    low watermark it never crossed, and tells the high one again."""
    a1, b1 = sockets.keep(*gevent.socket.socketpair())
    a2, b2 = sockets.keep(*gevent.socket.socketpair())
    events, reads = [], Log()
    stream = make_stream(
        loop, a1, read_high_watermark=8, read_low_watermark=4,
        on_read=lambda s, buffer, eof: reads.append(len(buffer)) and 0,
        on_read_high_watermark=lambda s, n: events.append(('high', n)),
        on_read_low_watermark=lambda s, n: events.append(('low', n)))
    b1.sendall(b'x' * 8)
    reads.wait_for(1)
    assert events == [('high', 8)]
    stream.close_now()
    stream.configure(handle=a2)
    loop.add(stream)
    b2.sendall(b'yy')
    assert reads.wait_for(2)[-1] == 2
    assert events == [('high', 8)]
    b2.sendall(b'y' * 6)
    assert reads.wait_for(3)[-1] == 8
    assert events == [('high', 8), ('high', 8)]
    stream.close()


def test_a_stream_reused_after_closing_while_writing_was_stopped_starts_afresh(
        loop, sockets):
    """No on_writeable_start on the new handle for a stop told on the old one."""
    a1, b1 = sockets.keep(*gevent.socket.socketpair())
    a2, b2 = sockets.keep(*gevent.socket.socketpair())
    a1.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    events = Log()
    stream = make_stream(loop, a1,
                         on_writeable_stop=lambda s: events.append('stop'),
                         on_writeable_start=lambda s: events.append('start'))
    stream.write(b'x' * (1024 * 1024))
    assert events.wait_for(1) == ['stop']
    stream.close_now()
    stream.configure(handle=a2)
    loop.add(stream)
    stream.write(b'fresh').get(timeout=WAIT)
    assert recv_exactly(b2, 5) == b'fresh'
    settle()
    assert events == ['stop']
    stream.close()


def test_split_read_and_write_handles_over_pipes(loop, sockets):
    stream, (in_r, in_w, out_r, out_w) = split_stream(loop, sockets)
    assert stream.read_handle is in_r and stream.write_handle is out_w
    assert stream.read_fileno != stream.write_fileno
    in_w.write(b'ping')
    assert stream.read_exactly(4).get(timeout=WAIT) == b'ping'
    stream.write(b'pong').get(timeout=WAIT)
    assert gevent.os.nb_read(out_r.fileno(), 10) == b'pong'


def test_close_read_then_close_write_fires_on_closed_once_both_are_gone(loop, sockets):
    closed = []
    stream, (in_r, in_w, out_r, out_w) = split_stream(loop, sockets,
                                                      on_closed=closed.append)
    stream.close_read()
    assert in_r.closed and stream.read_handle is None
    assert not stream.is_closed and closed == []
    stream.write(b'still writing').get(timeout=WAIT)
    assert gevent.os.nb_read(out_r.fileno(), 20) == b'still writing'
    stream.close_write()
    assert out_w.closed and stream.is_closed
    assert closed == [stream]
    assert gevent.os.nb_read(out_r.fileno(), 20) == b''


def test_read_eof_on_a_split_stream_closes_both_handles(loop, sockets):
    stream, (in_r, in_w, out_r, out_w) = split_stream(loop, sockets)
    stream.write(b'bye')
    in_w.close()
    stream.new_close_future().get(timeout=WAIT)
    assert in_r.closed and out_w.closed
    assert gevent.os.nb_read(out_r.fileno(), 10) == b'bye'


def test_close_write_on_a_socket_shuts_down_only_the_write_side(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a)
    stream.close_write()
    assert b.recv(10) == b''
    assert stream.write_handle is None and not stream.is_closed
    b.sendall(b'one way')
    assert stream.read_exactly(7).get(timeout=WAIT) == b'one way'
    stream.close()


# -- callback errors ---------------------------------------------------------------

def _raise(*args):
    raise ValueError('a bug in a callback')


@pytest.mark.parametrize('where', ['on_read', 'on_flush', 'generator'])
def test_callback_error_is_logged_and_closes_only_that_stream(
        loop, sockets, callback_errors, where):
    a1, b1 = sockets.keep(*gevent.socket.socketpair())
    a2, b2 = sockets.keep(*gevent.socket.socketpair())

    def echo(stream, buffer, eof):
        stream.write(bytes(buffer))
        del buffer[:]
        return 0

    broken = make_stream(loop, a1, on_read=_raise if where == 'on_read' else keep_all)
    healthy = make_stream(loop, a2, on_read=echo)
    closed = broken.new_close_future()
    if where == 'on_read':
        b1.sendall(b'boom')
    elif where == 'on_flush':
        broken.write(b'x', on_flush=_raise)
    else:
        broken.write(_raise)
    closed.get(timeout=WAIT)
    assert broken.is_closed
    assert len(callback_errors) == 1
    assert callback_errors[0].exc_info[0] is ValueError
    assert callback_errors[0].name.startswith('geventio')
    b2.sendall(b'still alive')
    assert recv_exactly(b2, 11) == b'still alive'
    assert not healthy.is_closed and healthy in loop.notifiers


def test_a_write_callback_raising_under_autoflush_closes_the_stream_not_the_caller(
        loop, socketpair, callback_errors):
    """An autoflush write from another greenlet gathers the pieces queued
    before it into one call; when one of their callbacks raises, the stream
    closes (the error is logged) instead of the exception reaching the writer
    with pieces the kernel already took still queued, to go out again."""
    a, b = socketpair
    stream = geventio.Stream(handle=a, on_read=keep_all)
    stream.write(b'A', on_flush=_raise)
    stream.write(b'B')
    stream.configure(autoflush=True)
    loop.add(stream)
    last = stream.write(b'C')                   # not raised here
    assert stream.is_closed
    assert isinstance(last.exception, geventio.StreamClosedError)
    assert len(callback_errors) == 1
    assert callback_errors[0].exc_info[0] is ValueError
    b.settimeout(WAIT)
    received = b''
    while chunk := b.recv(100):
        received += chunk
    assert received == b'ABC'                   # each byte once, then EOF


def test_an_oserror_raised_by_a_write_callback_is_no_failed_send(
        loop, socketpair, callback_errors):
    """An on_flush that raises an OSError of its own (a backend it talks to
    refused) is a callback error like any other: logged, and its stream
    closes; on_write_error, which is for the stream's own sends, is not told."""
    a, b = socketpair
    write_errors = []
    stream = geventio.Stream(handle=a, on_read=keep_all,
                             on_write_error=lambda s, err: write_errors.append(err))

    def refused(_stream):
        raise ConnectionRefusedError('the backend')

    closed = stream.new_close_future()
    stream.write(b'A', on_flush=refused)
    loop.add(stream)
    closed.get(timeout=WAIT)
    assert write_errors == []
    assert len(callback_errors) == 1
    assert callback_errors[0].exc_info[0] is ConnectionRefusedError
    b.settimeout(WAIT)
    assert b.recv(100) == b'A'


# -- standard streams --------------------------------------------------------------

def _run_child(tmp_path, source, stdin):
    script = tmp_path / 'child.py'
    script.write_text(textwrap.dedent(source))
    with gevent.Timeout(10):
        child = gevent.subprocess.run([sys.executable, str(script)], input=stdin,
                                      stdout=gevent.subprocess.PIPE,
                                      stderr=gevent.subprocess.PIPE)
    assert child.returncode == 0, child.stderr.decode()
    return child.stdout


def test_new_for_stdio_echoes_through_a_child_process(tmp_path):
    out = _run_child(tmp_path, """
        import geventio

        def on_read(stream, buffer, eof):
            stream.write(bytes(buffer).upper())
            del buffer[:]
            return 0

        loop = geventio.Loop()
        stream = geventio.Stream.new_for_stdio(on_read=on_read)
        loop.add(stream)
        stream.new_close_future().get(timeout=5)
        """, b'hello\nworld\n' * 1000)
    assert out == b'HELLO\nWORLD\n' * 1000


def test_new_for_stdin_and_new_for_stdout_keep_print_output_in_order(tmp_path):
    out = _run_child(tmp_path, """
        import geventio

        print('printed first')
        loop = geventio.Loop()
        stdout = geventio.Stream.new_for_stdout()
        assert stdout.read_handle is None

        def on_read(stream, buffer, eof):
            stdout.write(bytes(buffer))
            del buffer[:]
            return 0

        stdin = geventio.Stream.new_for_stdin(
            on_read=on_read, on_closed=lambda stream: stdout.close())
        assert stdin.write_handle is None
        loop.add(stdin)
        loop.add(stdout)
        stdout.new_close_future().get(timeout=5)
        """, b'copied\n')
    assert out == b'printed first\ncopied\n'


def test_close_when_empty_in_the_last_on_flush_fires_outgoing_empty_before_closed(
        loop, socketpair):
    """IO::Async's order when the last piece's on_flush closes: D on_flush,
    on_outgoing_empty, on_closed; nothing after on_closed."""
    a, b = socketpair
    events = Log()
    stream = make_stream(loop, a,
                         on_outgoing_empty=lambda s: events.append('outgoing_empty'),
                         on_closed=lambda s: events.append('closed'))
    for name in 'ABC':
        stream.write(name.encode(),
                     on_flush=lambda s, name=name: events.append(f'{name} on_flush'))

    def last_flushed(s):
        events.append('D on_flush')
        s.close_when_empty()
    stream.write(b'D', on_flush=last_flushed)
    events.wait_for(6)
    settle()
    assert events == ['A on_flush', 'B on_flush', 'C on_flush', 'D on_flush',
                      'outgoing_empty', 'closed']
    assert recv_exactly(b, 4) == b'ABCD'


def test_close_now_in_on_flush_fires_nothing_after_on_closed(loop, socketpair):
    a, b = socketpair
    events = Log()
    stream = make_stream(loop, a,
                         on_outgoing_empty=lambda s: events.append('outgoing_empty'),
                         on_writeable_start=lambda s: events.append('writeable_start'),
                         on_closed=lambda s: events.append('closed'))

    def flushed(s):
        events.append('on_flush')
        s.close_now()
    stream.write(b'A', on_flush=flushed)
    events.wait_for(2)
    settle()
    assert events == ['on_flush', 'closed']
