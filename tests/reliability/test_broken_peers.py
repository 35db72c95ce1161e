"""Peers that break the connection: a reset (SO_LINGER 0) in the middle of a
read or of a write, a peer process killed mid-transfer, a peer that closed
before the reply (EPIPE), and a half-closing client. Each ends in the stream
closing, its pending futures failing with the error, and nothing left behind."""

import errno
import socket
import struct
import sys

import pytest
from gevent import subprocess
from gevent.event import Event

import geventio
from conftest import WAIT, Log, make_stream, recv_exactly
from .measure import MIB, Usage
from .servers import Server


def reset(sock):
    """Close ``sock`` with a TCP reset instead of a FIN (SO_LINGER, zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()


def test_a_reset_in_the_middle_of_a_read_fails_the_reader_and_closes(loop):
    errors = Log()
    readers = Log()

    def on_read(stream, buffer, eof):
        if not getattr(stream, 'reading', False):
            stream.reading = True
            stream.read_exactly(MIB).rawlink(readers.append)
        return 0

    server = Server(loop, on_read=on_read,
                    on_read_error=lambda s, err: (errors.append(err), s.close_now()))
    client = server.connect()
    client.sendall(b'half a message' * 1000)
    reset(client)
    server.closed.wait_for(1)
    assert errors[0].errno == errno.ECONNRESET
    assert readers[0].exception.errno == errno.ECONNRESET
    server.close()


def test_a_reset_in_the_middle_of_a_write_fails_the_write_and_closes(loop):
    writes = Log()

    def on_read(stream, buffer, eof):
        del buffer[:]
        # A reply far larger than the kernel's buffers: still being written.
        stream.write(b'R' * (32 * MIB)).rawlink(writes.append)
        return 0

    server = Server(loop, on_read=on_read)
    client = server.connect()
    client.sendall(b'go')
    assert len(client.recv(65536)) > 0          # the reply is under way
    reset(client)
    server.closed.wait_for(1)
    writes.wait_for(1)
    assert isinstance(writes[0].exception, (OSError, geventio.StreamClosedError))
    server.close()


#: A client in its own process that starts a long upload and is killed.
VANISHING = '''
import socket, sys
sock = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
print('connected', flush=True)
while True:
    sock.sendall(b'u' * 65536)
'''


def test_a_peer_process_killed_mid_transfer_leaves_nothing_behind(loop, figures):
    received, enough = [0], Event()

    def on_read(stream, buffer, eof):
        received[0] += len(buffer)
        del buffer[:]
        if received[0] >= 4 * MIB:
            enough.set()
        return 0

    server = Server(loop, on_read=on_read, idle_timeout=WAIT)
    before = Usage()
    peer = subprocess.Popen([sys.executable, '-c', VANISHING, str(server.address[1])],
                            stdout=subprocess.PIPE)
    try:
        assert peer.stdout.readline() == b'connected\n'
        assert enough.wait(WAIT)
        peer.kill()
    finally:
        peer.wait()
        peer.stdout.close()
    server.closed.wait_for(1)
    after = Usage()
    assert after.fds == before.fds
    figures(received_mib=received[0] // MIB, **after.since(before))
    server.close()


@pytest.mark.parametrize('handled', [True, False])
def test_writing_to_a_peer_that_closed_is_epipe_and_never_repeats(loop, socketpair, handled):
    a, b = socketpair
    events = Log()
    params = {'on_write_eof': lambda s: events.append('write eof')}
    if handled:
        params['on_write_error'] = lambda s, err: events.append(err.errno)
    stream = make_stream(loop, a, **params)
    b.close()
    first = stream.write(b'into the void')
    with pytest.raises(BrokenPipeError):
        first.get(timeout=WAIT)
    assert events[:2] == (['write eof', errno.EPIPE] if handled else ['write eof'])
    assert stream.is_write_eof
    if not handled:
        assert stream.new_close_future().get(timeout=WAIT) is stream
    else:
        stream.close_now()
    assert len(events) == (2 if handled else 1)


def test_a_half_closing_client_still_gets_its_whole_reply(loop):
    server = Server(loop)
    with server.connect() as client:
        client.sendall(b'x' * (4 * MIB))
        client.shutdown(socket.SHUT_WR)
        assert recv_exactly(client, 4 * MIB) == b'x' * (4 * MIB)
        assert client.recv(1) == b''
    server.closed.wait_for(1)
    server.close()
