"""A typed program using geventio the way a user would; mypy checks it.

``.ci/run`` runs ``mypy --strict`` on this file, and ``tests/test_typing.py``
both checks it with mypy and runs it, so the annotations it relies on are the
ones that ship and the behaviour they describe is real. It touches each
public surface once: a Stream subclass served by a Listener, a client made by
``loop.connect`` reading with future readers, ``configure``, timers, a
datagram ``Socket``, an ``IOStream`` client, a ``DangaSocket`` pair, the
``StreamServer`` adapter and ``geventio.testing``'s stream pair.

    python tests/typing/user_script.py      # prints "ok" and exits 0
"""

import socket
import sys
from typing import Any

import gevent
import gevent.socket
from gevent.event import AsyncResult
from gevent.server import StreamServer

import geventio
from geventio.danga import DangaSocket
from geventio.iostream import EOF, IN, IOStream
from geventio.server import stream_handler
from geventio.testing import stream_pair

#: Seconds any one step may take.
WAIT = 5.0


class Upper(geventio.Stream):
    """A line protocol: every line comes back in capitals."""

    def on_read(self, buffer: bytearray, eof: bool) -> int:
        while (end := buffer.find(b'\n')) >= 0:
            self.write(bytes(buffer[:end + 1]).upper())
            del buffer[:end + 1]
        return 0


def echo_over_tcp(loop: geventio.Loop) -> bytes:
    """A Listener wrapping each connection in an ``Upper``; a client asks once."""
    def on_stream(stream: geventio.Stream) -> None:
        stream.configure(read_len=4096)
        loop.add(stream)

    listener = loop.listen(host='127.0.0.1', service=0, handle_class=Upper,
                           on_stream=on_stream, queuesize=16).get(timeout=WAIT)
    assert isinstance(listener, geventio.Listener)
    host, port = listener.sockname[:2]
    client = loop.connect(host=host, service=port, on_stream=lambda s: None,
                          timeout=WAIT).get(timeout=WAIT)
    assert isinstance(client, geventio.Stream)
    client.configure(on_read=lambda stream, buffer, eof: 0, autoflush=True)
    loop.add(client)
    flushed: AsyncResult[geventio.Stream] = AsyncResult()
    client.write(b'hello\n', on_flush=flushed.set)
    flushed.get(timeout=WAIT)
    line = client.read_until(b'\n', max_len=1024, timeout=WAIT).get(timeout=WAIT)
    client.close()
    listener.close()
    assert isinstance(line, bytes)
    return line


def datagram_round_trip(loop: geventio.Loop) -> bytes:
    """A ``Socket`` echoing datagrams to a plain socket."""
    udp = gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(('127.0.0.1', 0))

    def on_recv(sock: geventio.Socket, data: bytes, addr: Any) -> None:
        sock.send(data.upper(), addr=addr)

    echo = geventio.Socket(handle=udp, on_recv=on_recv, recv_len=2048)
    loop.add(echo)
    with gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.settimeout(WAIT)
        peer.sendto(b'ping', udp.getsockname())
        data: bytes = peer.recv(64)
    echo.close()
    return data


def timers(loop: geventio.Loop) -> list[str]:
    """``watch_time`` and ``delay_future`` in the order they are due."""
    fired: list[str] = []
    loop.watch_time(lambda: fired.append('second'), after=0.02)
    timer_id = loop.watch_time(lambda: fired.append('never'), after=0.01)
    loop.unwatch_time(timer_id)
    loop.watch_time(lambda: fired.append('first'), after=0.01)
    loop.delay_future(after=0.05).get(timeout=WAIT)
    return fired


def iostream_client(host: str, port: int) -> bytes:
    """An ``IOStream`` client sending a line and reading the answer to EOF."""
    done: AsyncResult[bytes] = AsyncResult()

    def cb(io: IOStream, events: int, err: object) -> None:
        if err is not None:
            done.set_exception(OSError(str(err)))
            io.close()
        elif events & EOF:
            done.set(bytes(io.in_buf))
            io.close()

    IOStream(host=host, port=port, cb=cb, wait_for=IN | EOF, out_buf=b'quit\n',
             connect_timeout=WAIT)
    result = done.get(timeout=WAIT)
    assert result is not None
    return result


def served_by_streamserver() -> bytes:
    """gevent's ``StreamServer`` hosting a Stream per connection; an
    ``IOStream`` as its client."""
    def on_stream(stream: geventio.Stream, address: Any) -> None:
        def answer(stream: geventio.Stream, buffer: bytearray, eof: bool) -> int:
            if b'\n' in buffer:
                stream.write(b'bye ' + bytes(buffer))
                del buffer[:]
                stream.close_when_empty()
            return 0
        stream.configure(on_read=answer)

    server = StreamServer(('127.0.0.1', 0), stream_handler(on_stream))
    server.start()
    try:
        return iostream_client('127.0.0.1', server.server_port or 0)
    finally:
        server.stop(timeout=WAIT)


class Counter(DangaSocket):
    """Danga::Socket style: count the bytes read, stop the loop at EOF."""

    received = 0

    def event_read(self) -> None:
        data = self.read(4096)
        if data is None:
            self.close('eof')
        else:
            self.received += len(data)

    def event_hup(self) -> None:
        self.close('hup')


def danga_pair() -> int:
    """A DangaSocket reading what a plain socket sends until it closes."""
    left, right = socket.socketpair()
    counter = Counter(left)
    counter.watch_read(True)
    right.sendall(b'x' * 100)
    right.close()

    def keep_going(descriptors: dict[int, Any]) -> bool:
        return not counter.closed

    DangaSocket.set_post_loop_callback(keep_going)
    with gevent.Timeout(WAIT):
        DangaSocket.event_loop()
    DangaSocket.set_post_loop_callback(None)
    return counter.received


def testing_pair(loop: geventio.Loop) -> bytes:
    """``geventio.testing.stream_pair`` with a protocol of one's own."""
    upper, client = stream_pair(loop, Upper())
    client.write(b'quiet\n')
    line = client.read_until(b'\n').get(timeout=WAIT)
    upper.close()
    client.close()
    assert isinstance(line, bytes)
    return line


def main() -> int:
    with geventio.Loop() as loop:
        assert echo_over_tcp(loop) == b'HELLO\n'
        assert datagram_round_trip(loop) == b'PING'
        assert timers(loop) == ['first', 'second']
        assert testing_pair(loop) == b'QUIET\n'
    assert served_by_streamserver() == b'bye quit\n'
    assert danga_pair() == 100
    print('ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
