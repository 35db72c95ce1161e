"""IOStream (IO::Stream): the callback contract, reading and writing, the in_buf_limit
rules, connecting from host and port, timeouts, file handles of every kind, and
constructor validation. Real sockets, pipes and a pty; the resolver is stubbed
only where a real lookup would leave the machine."""

import copy
import errno
import gc
import os
import pickle
import socket
import ssl
import time

import gevent
import gevent.event
import gevent.socket
import gevent.ssl
import pytest

from conftest import HAS_IPV6, WAIT, recv_exactly, settle, unix_pair
from geventio._io import resolving
from geventio._io import sockets as sockets_module
from geventio.errors import ResolveError, StreamClosedError
from geventio.iostream import (CONNECTED, EDNS, EDNSNODATA, EDNSNXDOMAIN, EINBUFLIMIT,
                               EOF, EREQINBUFLIMIT, EREQINEOF, ETOCONNECT, ETORESOLVE,
                               ETOWRITE, IN, OUT, RESOLVED, SENT, IOStream, IOStreamError)
from iostreams import EVERYTHING, Calls, closing, no_watcher_left, stream_on  # noqa: F401
from netutil import blackhole, closed_port, live_listener

#: More than any socket buffer on loopback holds (so a write must wait).
BIG = 8 * 1024 * 1024


def accept(server):
    sock, _ = server.accept()
    return sock


# -- constants -------------------------------------------------------------------

def test_events_are_io_streams_bits():
    assert (RESOLVED, CONNECTED, IN, OUT, EOF, SENT) == (1, 2, 4, 8, 16, 32)


@pytest.mark.parametrize('error, number, message', [
    (EINBUFLIMIT, -100, 'in_buf_limit reached'), (ETORESOLVE, -101, 'dns timeout'),
    (ETOCONNECT, -102, 'connect timeout'), (ETOWRITE, -103, 'write timeout'),
    (EDNS, -200, 'dns error'), (EDNSNXDOMAIN, -201, 'dns nxdomain'),
    (EDNSNODATA, -202, 'dns nodata'), (EREQINBUFLIMIT, -300, 'in_buf_limit required'),
    (EREQINEOF, -301, 'IN or EOF required in wait_for')])
def test_error_constants_carry_their_number_and_message(error, number, message):
    assert error.errno == number
    assert str(error) == message
    assert error == error and isinstance(error, (IOStreamError, OSError))
    assert copy.copy(error) is error and pickle.loads(pickle.dumps(error)) is error


def test_error_constants_differ_from_each_other():
    assert EDNS != EDNSNXDOMAIN and ETOWRITE != ETOCONNECT


# -- fh mode: reading ---------------------------------------------------------------

def test_in_appends_to_in_buf_and_counts_in_bytes(pair):
    a, b = pair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=IN)) as io:
        b.sendall(b'hello')
        calls.wait_events(IN)
        assert io.in_buf == b'hello' and io.in_bytes == 5
        assert isinstance(io.in_buf, bytearray)


def test_last_data_and_eof_come_in_separate_calls_and_eof_once(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=IN | EOF)) as io:
        b.sendall(b'last words')
        b.close()
        calls.wait_events(EOF)
        settle()
        assert calls.events == [IN, EOF]
        assert io.is_eof is True and io.in_buf == b'last words'


def test_reading_stops_after_eof(socketpair):
    """The read side stays at EOF (a half-closed socket): nothing more is read
    and EOF is not delivered again, while writing goes on."""
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=IN | EOF | SENT)) as io:
        b.shutdown(socket.SHUT_WR)
        calls.wait_events(EOF)
        settle()
        io.write(b'still writing')
        assert recv_exactly(b, 13) == b'still writing'
        settle()
        assert calls.events == [EOF, SENT]


def test_events_are_masked_by_wait_for_read_at_each_delivery(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=IN)) as io:
        io.write(b'x')                      # OUT|SENT happen, not wanted
        assert calls == []
        io.wait_for = IN | SENT
        io.write(b'y')
        assert calls == [(SENT, None)]
        assert recv_exactly(b, 2) == b'xy'


def test_a_reset_is_an_oserror_for_the_callback():
    with live_listener() as server:
        client = gevent.socket.create_connection(server.getsockname())
        peer = accept(server)
        calls = Calls()
        with closing(stream_on(client, cb=calls)):
            client.sendall(b'unread')                      # unread at the peer
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            (1).to_bytes(4, 'little') + (0).to_bytes(4, 'little'))
            peer.close()                                   # RST
            err = calls.wait_error()
            assert isinstance(err, OSError) and err.errno == errno.ECONNRESET


def test_a_write_to_a_closed_peer_is_epipe_for_the_callback_inside_write(socketpair):
    """The error arrives before write() returns; the stream stays open (errors
    never close it) and keeps every unwritten byte."""
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls)) as io:
        b.close()
        io.write(b'lost')
        err, = calls.errors
        assert isinstance(err, BrokenPipeError) and err.errno == errno.EPIPE
        assert calls == [(0, err)] and io.out_buf == b'lost' and not io._closed


# -- fh mode: writing ---------------------------------------------------------------

def test_out_buf_given_is_written_inside_the_constructor(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, out_buf=b'at once')) as io:
        assert calls == [(OUT | SENT, None)]
        assert io.out_buf == b'' and io.out_bytes == 7
        assert recv_exactly(b, 7) == b'at once'


def test_write_delivers_out_and_sent_before_returning(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls)) as io:
        io.write(b'abc')
        assert calls == [(OUT | SENT, None)]
        io.out_buf += b'def'                # IO::Stream's way: edit, then write()
        io.write()
        assert calls[-1] == (OUT | SENT, None)
        assert recv_exactly(b, 6) == b'abcdef'


def test_out_without_sent_until_everything_is_written(socketpair):
    a, b = socketpair
    calls = Calls()
    payload = os.urandom(BIG)
    with closing(stream_on(a, cb=calls, wait_for=OUT | SENT)) as io:
        io.write(payload)
        assert calls and calls[0] == (OUT, None), 'the kernel took part of it at once'
        assert 0 < io.out_bytes < BIG and len(io.out_buf) == BIG - io.out_bytes
        got = gevent.spawn(recv_exactly, b, BIG)
        calls.wait_events(SENT)
        assert got.get(timeout=5) == payload
        assert set(calls.events[:-1]) == {OUT} and calls.events[-1] & SENT
        assert io.out_bytes == BIG and io.out_buf == b''


def test_out_pos_mode_leaves_out_buf_intact(socketpair):
    a, b = socketpair
    calls = Calls()
    data = bytearray(b'0123456789')
    with closing(stream_on(a, cb=calls, out_buf=data, out_pos=4)) as io:
        assert io.out_buf is data and data == b'0123456789'
        assert io.out_pos == 10 and io.out_bytes == 6
        assert recv_exactly(b, 6) == b'456789'
        data += b'ab'
        io.write()
        assert io.out_pos == 12 and data == b'0123456789ab'
        assert recv_exactly(b, 2) == b'ab'


def test_out_pos_mode_with_a_big_buffer_keeps_every_byte(socketpair):
    a, b = socketpair
    calls = Calls()
    payload = os.urandom(BIG)
    with closing(stream_on(a, cb=calls, wait_for=SENT, out_buf=bytearray(payload),
                           out_pos=0)) as io:
        got = gevent.spawn(recv_exactly, b, BIG)
        calls.wait_events(SENT)
        assert got.get(timeout=5) == payload
        assert io.out_buf == payload and io.out_pos == BIG


@pytest.mark.parametrize('out_pos', [None, 0])
def test_a_waiting_write_whose_bytes_the_user_took_back_stops_waiting(out_pos, socketpair):
    """The kernel is full, then the user empties out_buf (or moves out_pos to its
    end): once the socket is writable again there is nothing to write, so the
    write watcher and the write timer stop, as in IO::Stream, and no event
    comes. Left running, the watcher would wake the stream on every loop turn
    and the timer would report ETOWRITE for bytes that no longer exist."""
    a, b = socketpair
    calls = Calls()
    loop = gevent.get_hub().loop
    with closing(stream_on(a, cb=calls, wait_for=OUT | SENT, write_timeout=0.5,
                           out_pos=out_pos)) as io:
        settle()
        idle = loop.activecnt                       # the read watcher
        io.write(os.urandom(BIG))
        assert loop.activecnt == idle + 2, 'waiting: the write watcher and timer'
        if out_pos is None:
            del io.out_buf[:]
        else:
            io.out_pos = len(io.out_buf)
        assert len(recv_exactly(b, io.out_bytes)) == io.out_bytes   # writable again
        settle()
        assert loop.activecnt == idle
        assert calls == [(OUT, None)]


def test_write_from_inside_the_callback_reenters_it(socketpair):
    """write() inside the callback delivers OUT|SENT at once, so the callback
    runs again inside itself (IO::Stream's warning)."""
    a, b = socketpair
    depth, seen = [0], []

    def cb(io, events, err):
        depth[0] += 1
        seen.append((events, depth[0]))
        if events & IN:
            io.write(bytes(io.in_buf).upper())
            del io.in_buf[:]
        depth[0] -= 1

    with closing(stream_on(a, cb=cb, wait_for=IN | SENT)):
        b.sendall(b'ping')
        assert recv_exactly(b, 4) == b'PING'
        assert seen == [(IN, 1), (SENT, 2)]


def test_close_inside_the_callback_ends_every_event(socketpair):
    a, b = socketpair
    calls = Calls(then=lambda io, events, err: io.close())
    stream_on(a, cb=calls, wait_for=IN | EOF)
    b.sendall(b'one')
    calls.wait_events(IN)
    b.close()
    settle()
    assert calls == [(IN, None)] and a.fileno() == -1


def test_close_is_idempotent_and_no_event_follows(socketpair):
    a, b = socketpair
    calls = Calls()
    io = stream_on(a, cb=calls)
    b.sendall(b'sent before the close')
    io.close()
    io.close()
    settle()
    assert calls == []
    with pytest.raises(StreamClosedError):
        io.write(b'more')


def test_write_takes_bytes_like_data_only(socketpair):
    a, _ = socketpair
    with closing(stream_on(a)) as io:
        with pytest.raises(TypeError, match="data must be bytes-like, not 'text'"):
            io.write('text')
        with pytest.raises(TypeError, match='not 5'):
            io.write(5)
        io.write(memoryview(b'ok'))
        assert io.out_bytes == 2


def test_buffers_reassigned_as_bytes_keep_working(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls)) as io:
        io.in_buf = b''
        io.out_buf = b'as bytes'
        io.write()
        assert recv_exactly(b, 8) == b'as bytes'
        b.sendall(b'in')
        calls.wait_events(IN)
        assert io.in_buf == b'in'


# -- the in_buf_limit rules ---------------------------------------------------------

def test_data_without_in_or_eof_wanted_is_ereqineof(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=SENT)) as io:
        b.sendall(b'unwanted')
        assert calls.wait_error() is EREQINEOF
        assert io.in_buf == b'unwanted'          # nothing discarded
        assert calls[0] == (0, EREQINEOF)


def test_eof_without_in_needs_in_buf_limit(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=EOF, in_buf_limit=None)) as io:
        b.sendall(b'data')
        assert calls.wait_error() is EREQINBUFLIMIT
        assert io.in_buf == b'data'


def test_einbuflimit_until_in_buf_is_trimmed(socketpair):
    """Past the limit each read is EINBUFLIMIT, nothing is dropped; trimming
    in_buf lets reading go on to EOF without errors."""
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=EOF, in_buf_limit=8)) as io:
        b.sendall(b'12345678')
        settle()
        assert calls == []                       # at the limit, not past it
        b.sendall(b'9')
        assert calls.wait_error() is EINBUFLIMIT
        assert io.in_buf == b'123456789'
        b.sendall(b'0')
        calls.wait(lambda c: len(c) == 2)
        assert calls[1] == (0, EINBUFLIMIT) and io.in_buf == b'1234567890'
        del io.in_buf[:6]                        # the recovery
        b.sendall(b'ab')
        b.close()
        calls.wait_events(EOF)
        assert calls[2:] == [(EOF, None)] and io.in_buf == b'7890ab'


def test_raising_the_limit_also_recovers(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=EOF, in_buf_limit=2)) as io:
        b.sendall(b'abc')
        assert calls.wait_error() is EINBUFLIMIT
        io.in_buf_limit = 100
        b.sendall(b'def')
        b.close()
        calls.wait_events(EOF)
        assert calls[1:] == [(EOF, None)] and io.in_buf == b'abcdef'


def test_the_limit_does_not_apply_while_in_is_wanted(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=IN, in_buf_limit=2)) as io:
        b.sendall(b'abcdef')
        calls.wait_events(IN)
        assert calls.errors == [] and io.in_buf == b'abcdef'


def test_in_buf_limit_zero_means_no_limit(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=EOF, in_buf_limit=0)) as io:
        payload = os.urandom(300000)
        b.sendall(payload)
        b.close()
        calls.wait_events(EOF)
        assert calls == [(EOF, None)] and io.in_buf == payload


# -- the callback ----------------------------------------------------------------------

def test_cb_may_be_an_object_with_a_method(socketpair):
    a, b = socketpair

    class Client:
        def __init__(self):
            self.calls = Calls()

        def IO(self, io, events, err):
            self.calls(io, events, err)

        def on_event(self, io, events, err):
            self.calls(io, ('on_event', events), err)

    client = Client()
    with closing(stream_on(a, cb=client, out_buf=b'x')) as io:
        assert client.calls == [(OUT | SENT, None)]
        io.method = 'on_event'
        io.write(b'y')
        assert client.calls[-1] == (('on_event', OUT | SENT), None)
    assert recv_exactly(b, 2) == b'xy'


def test_an_exception_in_the_callback_closes_that_stream_only(socketpair, sockets,
                                                                callback_errors):
    a, b = socketpair
    c, d = sockets.keep(*gevent.socket.socketpair())

    def bad(io, events, err):
        raise RuntimeError('callback bug')

    calm = Calls()
    with closing(stream_on(a, cb=bad), stream_on(c, cb=calm)) as (broken, fine):
        b.sendall(b'x')
        settle()                    # the read, the exception, the close
        assert a.fileno() == -1
        assert [r.exc_info[0] for r in callback_errors] == [RuntimeError]
        assert 'closing it' in callback_errors[0].getMessage()
        d.sendall(b'y')
        calm.wait_events(IN)
        assert fine.in_buf == b'y'


def test_user_fields_start_with_an_upper_case_letter(socketpair):
    a, _ = socketpair
    with closing(stream_on(a, MyData={'n': 1}, Counter=0)) as io:
        assert io.MyData == {'n': 1} and io.Counter == 0
        io.Counter += 1
        assert io.Counter == 1


def test_a_callback_may_block_cooperatively_while_its_stream_stays_readable(socketpair,
                                                                          sockets):
    """A callback blocked in a cooperative call (a database query, say) holds
    up its own stream only: others go on, the stream's read watcher rests
    instead of waking the hub on every turn while more data waits, and that
    data is read once the callback returns."""
    a, b = socketpair
    c, d = sockets.keep(*gevent.socket.socketpair())
    release = gevent.event.Event()
    loop = gevent.get_hub().loop

    def query(io, events, err):
        if events & IN and not release.is_set():
            assert release.wait(WAIT)

    calls, other = Calls(then=query), Calls()
    with closing(stream_on(a, cb=calls, wait_for=IN),
                 stream_on(c, cb=other, wait_for=IN)) as (io, _):
        b.sendall(b'first')
        calls.wait_events(IN)                   # the callback is blocked now
        busy = loop.activecnt
        b.sendall(b'second')                    # readable while it is busy
        d.sendall(b'other')
        other.wait_events(IN)
        settle()
        assert loop.activecnt == busy - 1, "the busy stream's read watcher rests"
        release.set()
        calls.wait(lambda c: io.in_buf == b'firstsecond', 'the data that waited')
        assert calls.events == [IN, IN]


def test_a_timer_that_fires_while_the_callback_blocks_comes_when_it_returns(socketpair):
    """The write timer fires while the stream's callback is blocked: ETOWRITE
    is kept and delivered as soon as the callback returns, not at the timer's
    next period."""
    a, b = socketpair
    release = gevent.event.Event()

    def query(io, events, err):
        if events & IN:
            assert release.wait(WAIT)

    calls = Calls(then=query)
    with closing(stream_on(a, cb=calls, wait_for=IN, write_timeout=0.3)) as io:
        io.write(os.urandom(BIG))               # stuck: the peer never reads
        b.sendall(b'x')
        calls.wait_events(IN)                   # the callback is blocked now
        gevent.sleep(0.45)                      # the timer fires at 0.3 s meanwhile
        release.set()
        settle()                                # well before its next turn at 0.6 s
        assert calls == [(IN, None), (0, ETOWRITE)] and io.out_bytes < BIG


def test_the_library_keeps_a_stream_alive_until_close(socketpair):
    a, b = socketpair
    seen = []
    calls = Calls(then=lambda io, events, err: seen.append(io))
    stream_on(a, cb=calls)                   # no reference kept
    gc.collect()
    b.sendall(b'still here')
    calls.wait_events(IN)
    seen[0].close()


def test_the_library_keeps_a_stream_alive_until_close_with_no_descriptor_left():
    """A connect that fails inside the constructor (a multicast address: the
    kernel answers ENETUNREACH without sending anything) leaves the stream no
    socket, no watcher and no greenlet that could hold it; the library still
    keeps it until close()."""
    marker = object()
    calls = Calls()
    IOStream(host='224.0.0.1', port=9, cb=calls, wait_for=EVERYTHING, Mine=marker)
    assert calls.errors[0].errno == errno.ENETUNREACH
    gc.collect()
    kept = [obj for obj in gc.get_objects()
            if isinstance(obj, IOStream) and getattr(obj, 'Mine', None) is marker]
    assert len(kept) == 1 and kept[0].fh is None
    kept[0].close()


# -- kinds of fh ------------------------------------------------------------------------

def test_a_pipe_each_way(pipe):
    rfile, wfile = pipe
    reader_calls, writer_calls = Calls(), Calls()
    with closing(stream_on(rfile, cb=reader_calls, wait_for=IN | EOF),
                 stream_on(wfile, cb=writer_calls, wait_for=SENT)) as (reader, writer):
        writer.write(b'through the pipe')
        assert writer_calls == [(SENT, None)]
        reader_calls.wait_events(IN)
        writer.close()
        reader_calls.wait_events(EOF)
        assert reader.in_buf == b'through the pipe'


def test_a_pipes_write_end_is_not_read(pipe):
    rfile, wfile = pipe
    calls = Calls()
    with closing(stream_on(wfile, cb=calls)):
        settle()
        assert calls == []


def test_a_unix_socket(tmp_path, sockets):
    a, b = sockets.keep(*unix_pair(tmp_path))
    calls = Calls(then=lambda io, events, err: events & IN and io.write(io.in_buf[:]))
    with closing(stream_on(a, cb=calls, wait_for=IN)):
        b.sendall(b'echo me')
        assert recv_exactly(b, 7) == b'echo me'


def test_a_tty():
    main_fd, tty_fd = os.openpty()
    main = os.fdopen(main_fd, 'rb', buffering=0)
    tty = os.fdopen(tty_fd, 'wb', buffering=0)
    calls = Calls()
    try:
        assert tty.isatty()
        with closing(stream_on(main, cb=calls, wait_for=IN)) as io:
            tty.write(b'typed\n')
            calls.wait(lambda c: b'\n' in io.in_buf, 'a line')
            assert io.in_buf.startswith(b'typed')
    finally:
        tty.close()
        main.close()


class SameDescriptor:
    """Another object giving the same file descriptor (as a file object made
    with os.fdopen would)."""

    def __init__(self, sock):
        self._sock = sock

    def fileno(self):
        return self._sock.fileno()


def test_one_iostream_per_file_descriptor(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls)):
        with pytest.raises(ValueError, match='one IOStream per fd'):
            stream_on(a)
        with pytest.raises(ValueError, match='one IOStream per fd'):
            stream_on(SameDescriptor(a))
        b.sendall(b'first one still works')
        calls.wait_events(IN)


# -- host and port --------------------------------------------------------------------

@pytest.mark.parametrize('family', [socket.AF_INET, socket.AF_INET6])
def test_numeric_host_is_resolved_inside_the_constructor(family):
    if family == socket.AF_INET6 and not HAS_IPV6:
        pytest.skip('no IPv6 loopback on this machine')
    with live_listener(family) as server:
        host, port = server.getsockname()[:2]
        calls = Calls()
        io = IOStream(host=host, port=port, cb=calls, wait_for=EVERYTHING)
        with closing(io):
            assert calls == [(RESOLVED, None)] and io.ip == host
            calls.wait_events(CONNECTED)
            assert calls == [(RESOLVED, None), (CONNECTED, None)]
            assert io.fh.getpeername()[:2] == (host, port)
            assert isinstance(io.fh, gevent.socket.socket)
            accept(server).close()


def test_connected_out_and_sent_come_together():
    with live_listener() as server:
        calls = Calls()
        io = IOStream(host='127.0.0.1', port=server.getsockname()[1], cb=calls,
                      wait_for=EVERYTHING, out_buf=b'GET / HTTP/1.0\r\n\r\n')
        with closing(io):
            assert calls == [(RESOLVED, None)]
            calls.wait_events(CONNECTED)
            assert calls[1] == (CONNECTED | OUT | SENT, None)
            with accept(server) as peer:
                assert recv_exactly(peer, 18) == b'GET / HTTP/1.0\r\n\r\n'


def test_a_name_resolves_then_connects_through_the_hubs_resolver():
    with live_listener() as server:
        calls = Calls()
        with closing(IOStream(host='localhost', port=server.getsockname()[1], cb=calls,
                              wait_for=RESOLVED | CONNECTED)) as io:
            assert calls == []                   # a name: resolved later
            calls.wait_events(CONNECTED)
            assert calls == [(RESOLVED, None), (CONNECTED, None)]
            assert io.ip in ('127.0.0.1', '::1')
            accept(server).close()


def test_each_address_is_tried_in_turn(monkeypatch):
    """The name resolves to a refused address first, then to a live one."""
    refused = closed_port()
    with live_listener() as server:
        live = server.getsockname()
        answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, '', refused),
                   (socket.AF_INET, socket.SOCK_STREAM, 6, '', live)]
        monkeypatch.setattr(resolving, 'getaddrinfo', lambda *args, **kw: answers)
        calls = Calls()
        with closing(IOStream(host='two.example', port=1, cb=calls,
                              wait_for=EVERYTHING)) as io:
            calls.wait_events(CONNECTED)
            assert calls.errors == [] and io.fh.getpeername() == live
            assert calls.events == [RESOLVED, CONNECTED]
            accept(server).close()


def test_an_address_that_fails_at_once_is_closed_and_the_next_one_tried(monkeypatch):
    """A connect that fails in the call itself (a multicast address: the
    kernel answers ENETUNREACH without sending anything) closes that
    attempt's socket before the next address is tried."""
    made = []
    new_socket = sockets_module.new_socket
    monkeypatch.setattr(sockets_module, 'new_socket',
                        lambda *args: made.append(new_socket(*args)) or made[-1])
    with live_listener() as server:
        live = server.getsockname()
        answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('224.0.0.1', live[1])),
                   (socket.AF_INET, socket.SOCK_STREAM, 6, '', live)]
        monkeypatch.setattr(resolving, 'getaddrinfo', lambda *args, **kw: answers)
        calls = Calls()
        with closing(IOStream(host='two.example', port=live[1], cb=calls,
                              wait_for=EVERYTHING)) as io:
            calls.wait_events(CONNECTED)
            assert calls.errors == [] and io.fh.getpeername() == live
            assert len(made) == 2 and made[0].fileno() == -1 and io.fh is made[1]
            accept(server).close()


def test_a_refused_connect_is_an_error_never_connected():
    host, port = closed_port()
    calls = Calls()
    with closing(IOStream(host=host, port=port, cb=calls, wait_for=EVERYTHING)) as io:
        err = calls.wait_error()
        settle()
        assert isinstance(err, ConnectionRefusedError) and err.errno == errno.ECONNREFUSED
        assert calls.events == [RESOLVED, 0] and not any(e & CONNECTED for e in calls.events)
        assert io.fh is None


def test_a_failed_lookup_is_edns(monkeypatch):
    def fail(*args, **kw):
        raise ResolveError(socket.EAI_NONAME, 'Name or service not known')
    monkeypatch.setattr(resolving, 'getaddrinfo', fail)
    calls = Calls()
    with closing(IOStream(host='nowhere.invalid', port=80, cb=calls, wait_for=EVERYTHING)):
        assert calls.wait_error() is EDNS
        assert calls == [(0, EDNS)]


def test_close_while_resolving_ends_the_lookup(monkeypatch):
    started = gevent.event.Event()

    def slow(*args, **kw):
        started.set()
        gevent.sleep(30)
    monkeypatch.setattr(resolving, 'getaddrinfo', slow)
    calls = Calls()
    io = IOStream(host='slow.invalid', port=80, cb=calls, wait_for=EVERYTHING)
    started.wait(5)
    io.close()
    settle()
    assert calls == []


def test_connect_timeout_against_a_full_accept_queue():
    with blackhole() as (host, port):
        calls = Calls()
        started = time.monotonic()
        with closing(IOStream(host=host, port=port, cb=calls, wait_for=EVERYTHING,
                              connect_timeout=0.2)):
            assert calls.wait_error() is ETOCONNECT
            assert time.monotonic() - started >= 0.15   # libev's clock is per loop turn
            settle()
            assert calls.events == [RESOLVED, 0]


def test_the_connect_timeout_ends_at_connected():
    """Once CONNECTED came, connect_timeout no longer counts: well past it the
    stream still reads, and no ETOCONNECT comes."""
    with live_listener() as server:
        calls = Calls()
        with closing(IOStream(host='127.0.0.1', port=server.getsockname()[1], cb=calls,
                              wait_for=EVERYTHING, connect_timeout=0.1)) as io:
            calls.wait_events(CONNECTED)
            with accept(server) as peer:
                gevent.sleep(0.3)                   # three connect timeouts pass
                peer.sendall(b'still here')
                calls.wait_events(IN)
                assert calls.errors == [] and io.in_buf == b'still here'


def test_write_timeout_with_a_peer_that_stops_reading_rearmed_by_progress(socketpair):
    """ETOWRITE comes write_timeout after the last progress, not after the write:
    the peer reads once in between, and the timer starts again from there."""
    a, b = socketpair
    timeout = 0.4
    calls = Calls()
    with closing(stream_on(a, cb=calls, wait_for=OUT | SENT, write_timeout=timeout)) as io:
        started = time.monotonic()
        io.write(os.urandom(BIG))
        gevent.sleep(timeout / 2)
        assert calls.errors == []
        written = io.out_bytes
        recv_exactly(b, 2 * 1024 * 1024)        # progress...
        calls.wait(lambda c: io.out_bytes > written, 'progress')
        progressed = time.monotonic()
        assert calls.wait_error() is ETOWRITE   # ...then nothing more
        failed = time.monotonic()
        assert failed - progressed >= timeout * 0.9
        assert failed - started >= timeout * 1.3     # not timeout after the write


def test_no_write_timeout_while_writes_complete(socketpair):
    a, b = socketpair
    calls = Calls()
    with closing(stream_on(a, cb=calls, write_timeout=0.05)) as io:
        io.write(b'quick')
        gevent.sleep(0.15)
        assert calls.errors == []
        assert recv_exactly(b, 5) == b'quick'


def test_timeouts_default_to_thirty_seconds(socketpair):
    a, _ = socketpair
    with closing(stream_on(a)) as io:
        assert io.connect_timeout == 30 and io.write_timeout == 30


# -- constructor validation -----------------------------------------------------------

def _cb(io, events, err):
    pass


@pytest.mark.parametrize('fields, message', [
    ({'host': '127.0.0.1', 'port': 1}, 'cb= is required'),
    ({'cb': _cb}, 'give fh= or host= and port='),
    ({'cb': _cb, 'host': '127.0.0.1'}, 'host= needs port='),
    ({'cb': _cb, 'host': 5, 'port': 1}, 'host must be a non-empty str, not 5'),
    ({'cb': _cb, 'host': 'h', 'port': '80'}, "port must be an int, not '80'"),
    ({'cb': 42, 'host': 'h', 'port': 1}, "cb must be callable or have a method 'IO', not 42"),
    ({'cb': _cb, 'fh': 'not a file'}, "fh must have a fileno"),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'wait_for': 'IN'}, "wait_for must be an int"),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'out_buf': 'text'}, "out_buf must be bytes-like"),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'ip': '1.2.3.4'}, 'ip is set by IOStream'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'colour': 'red'}, "unknown field 'colour'"),
    ({'cb': _cb, 'host': 'h', 'port': 1, '_secret': 1}, "unknown field '_secret'"),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'plugin': 'ssl'}, 'plugin must be a list'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'plugin': [('p', object())]}, 'is no IPlugin'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'method': 3}, 'method must be a str'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'connect_timeout': 'soon'},
     'connect_timeout must be a number'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'write_timeout': True},
     'write_timeout must be a number'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'in_buf_limit': 1.5}, 'in_buf_limit must be an int'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'out_pos': True}, 'out_pos must be an int'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'in_bytes': '0'}, 'in_bytes must be an int'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'out_bytes': None}, 'out_bytes must be an int'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'in_buf': 7}, 'in_buf must be bytes-like'),
    ({'cb': _cb, 'host': 'h', 'port': 1, 'plugin': [('p',)]}, 'must be .name, plugin. pairs'),
])
def test_bad_fields_raise_type_error_with_the_usage(fields, message):
    """Every TypeError of the constructor names the field, shows the value and
    ends in IO::Stream's usage text (the contract's constructor rule)."""
    with pytest.raises(TypeError, match=message) as raised:
        IOStream(**fields)
    assert str(raised.value).startswith('IOStream: ')
    assert str(raised.value).endswith(
        '; usage: IOStream(cb=..., wait_for=..., [fh=... | host=..., port=...], ...)')


@pytest.mark.parametrize('fields, message', [
    ({'port': 0}, 'port must be 1 to 65535, not 0'),
    ({'port': 1, 'wait_for': 64}, 'wait_for=64 has bits that are no event'),
    ({'port': 1, 'in_buf_limit': -1}, 'in_buf_limit must not be negative, not -1'),
    ({'port': 1, 'out_pos': -2}, 'out_pos must not be negative, not -2'),
    ({'port': 1, 'write_timeout': -1}, 'write_timeout must be positive, not -1'),
    ({'port': 1, 'host': 'x' * 64 + '.example'}, 'is not a valid host name'),
    ({'port': 1, 'host': 'nul\0.example'}, 'is not a valid host name'),
])
def test_impossible_values_raise_value_error(fields, message):
    fields.setdefault('host', '127.0.0.1')
    with pytest.raises(ValueError, match=message):
        IOStream(cb=_cb, **fields)


def test_fh_and_host_together_is_a_usage_error(socketpair):
    a, _ = socketpair
    with pytest.raises(TypeError, match='not both'):
        IOStream(cb=_cb, fh=a, host='h', port=1)


def test_a_closed_fh_has_no_file_descriptor(socketpair):
    a, _ = socketpair
    a.close()
    with pytest.raises(ValueError, match="can't get file descriptor"):
        IOStream(cb=_cb, fh=a)


def test_a_tls_socket_is_refused_as_fh(socketpair):
    a, _ = socketpair
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls = context.wrap_socket(a, server_hostname='x', do_handshake_on_connect=False)
    try:
        with pytest.raises(TypeError, match='speaks TLS itself'):
            IOStream(cb=_cb, fh=tls)
    finally:
        tls.close()


def test_a_failed_constructor_leaves_nothing_behind(socketpair):
    """The fd is not claimed and the caller's fh stays open."""
    a, _ = socketpair

    class Refusing:
        upper = None

        def prepare(self, fh, host, port):
            self.lower.prepare(fh, host, port)
            raise ValueError('no')

        def write(self):
            pass

        def event(self, events, err):
            pass

    with pytest.raises(ValueError, match='no'):
        IOStream(cb=_cb, fh=a, plugin=[('refusing', Refusing())])
    assert a.fileno() != -1
    with closing(IOStream(cb=_cb, fh=a)):
        pass

