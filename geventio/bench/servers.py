"""Echo servers measured by the benchmarks, and the registry that names them.

Each server runs in its own process, started by the runner as
``python -m geventio.bench.servers NAME --port 0 --cpu 0``. It listens on 127.0.0.1,
prints ``READY <port>`` on stdout once it accepts connections, then echoes until it
is killed. One process per server keeps the frameworks apart (gevent's monkey
patching, asyncio's event-loop policy and uvloop never meet) and lets the runner read
each server's memory from ``/proc/PID/status``.

Every server echoes what it reads, as it would be written by a user of that framework
following its documentation: no tuning beyond what the documentation shows. That
includes the defaults: gevent's ``StreamServer`` leaves Nagle on and
``DatagramServer`` spawns one greenlet per datagram, while asyncio (and geventio, for
the streams it builds around accepted sockets) sets ``TCP_NODELAY``. A ping-pong
message fits in one TCP segment, so Nagle delays no echo there; a 64 KiB bulk chunk
does not (docs/performance.md).

Adding a server is one entry in ``SERVERS``: a name mapped to a ``ServerSpec`` with
its kind (``'tcp'`` or ``'udp'``), a function ``run(host, port, ready)`` that serves
forever and calls ``ready(bound_port)`` once listening, and the modules it needs
(a server whose modules cannot be imported is skipped, with a message).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:       # (imported where each server runs: the frameworks never meet)
    import asyncio

    import geventio

__all__ = ['ServerSpec', 'SERVERS', 'REFERENCE', 'prepare_process', 'main']

#: Bytes asked of each ``recv``: the size the task statement gives for every server,
#: so that no server wins by reading in larger pieces.
READ_LEN = 65536

#: What ``geventio-stream-tuned`` configures: read and write until the kernel would
#: block on each wake-up, instead of one call each (the fairness default). With
#: 256 KiB in flight per connection, one 64 KiB read per loop turn leaves the rest
#: of the window waiting in the kernel; this took windowed bulk from 1.04x to
#: 1.91x raw gevent (and ping-pong 50 x 64 B from 1.23x to 1.10x) in one run of
#: three repeats (docs/performance.md).
TUNING = {'read_all': True, 'write_all': True}

#: Listen backlog for the servers that take one. The load generator connects at most
#: 64 sockets at a time (``loadgen.CONNECT_BATCH``), so any backlog above that is
#: enough; the framework defaults (gevent 128, asyncio 100) are kept where the
#: documented usage does not pass one.
BACKLOG = 1024

#: ``prctl(PR_SET_PDEATHSIG)``: from linux/prctl.h.
_PR_SET_PDEATHSIG = 1

#: What a server calls once it listens: ``ready(bound_port)``.
Ready = Callable[[int], None]


class ServerSpec(NamedTuple):
    """One benchmarked server: its kind, its entry point and its optional imports."""

    kind: str                                   # 'tcp' or 'udp'
    run: Callable[[str, int, Callable[[int], None]], None]
    requires: tuple[str, ...] = ()              # modules that must import, else skip


def _serve_gevent(host: str, port: int, ready: Ready) -> None:
    """Raw gevent: one greenlet per connection looping ``recv``/``sendall``."""
    from gevent.server import StreamServer

    def handle(sock: Any, _address: Any) -> None:
        recv, sendall = sock.recv, sock.sendall
        while True:
            data = recv(READ_LEN)
            if not data:
                break
            sendall(data)

    server = StreamServer((host, port), handle)
    server.start()
    assert server.server_port is not None       # (listening)
    ready(server.server_port)
    server.serve_forever()


def _serve_gevent_datagram(host: str, port: int, ready: Ready) -> None:
    """Raw gevent UDP: ``DatagramServer`` with its default spawning."""
    from gevent.server import DatagramServer

    class Echo(DatagramServer):
        def handle(self, data: Any, address: Any) -> None:   # (the datagram)
            self.socket.sendto(data, address)

    server = Echo((host, port))
    server.start()
    assert server.server_port is not None       # (listening)
    ready(server.server_port)
    server.serve_forever()


def _echo_protocol_class() -> type[asyncio.Protocol]:
    """An asyncio ``Protocol`` echoing what it receives, pausing on backpressure."""
    import asyncio

    class EchoProtocol(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)

        def pause_writing(self) -> None:
            self.transport.pause_reading()

        def resume_writing(self) -> None:
            self.transport.resume_reading()

    return EchoProtocol


def _run_asyncio(main_coro_factory: Callable[[], Coroutine[Any, Any, None]],
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> None:
    # asyncio.Runner(loop_factory=...) would do, but only from Python 3.11 on.
    import asyncio
    loop = loop_factory() if loop_factory else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main_coro_factory())


def _protocol_server(host: str, port: int,
                     ready: Ready) -> Callable[[], Coroutine[Any, Any, None]]:
    async def main() -> None:
        import asyncio
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_echo_protocol_class(), host, port,
                                          backlog=BACKLOG)
        ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()
    return main


def _serve_asyncio_protocol(host: str, port: int, ready: Ready) -> None:
    """asyncio ``Protocol`` echo on the default event loop."""
    _run_asyncio(_protocol_server(host, port, ready))


def _serve_uvloop(host: str, port: int, ready: Ready) -> None:
    """The same ``Protocol`` echo on uvloop."""
    import uvloop
    _run_asyncio(_protocol_server(host, port, ready), uvloop.new_event_loop)


def _serve_asyncio_streams(host: str, port: int, ready: Ready) -> None:
    """asyncio streams: ``reader.read`` / ``writer.write`` + ``drain`` per connection."""
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(READ_LEN)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, host, port, backlog=BACKLOG)
        ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    _run_asyncio(main)


def _serve_asyncio_datagram(host: str, port: int, ready: Ready) -> None:
    """asyncio ``DatagramProtocol`` echo on the default event loop."""
    import asyncio

    class EchoDatagram(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(data, addr)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            EchoDatagram, local_addr=(host, port))
        ready(transport.get_extra_info('sockname')[1])
        await asyncio.Event().wait()

    _run_asyncio(main)


def _serve_geventio_stream(host: str, port: int, ready: Ready, **tuning: Any) -> None:
    """geventio ``Stream`` echo through ``loop.listen`` (docs/api.md sections 2, 4, 6),
    with the API's defaults, as a user writes it; ``tuning`` is what
    ``geventio-stream-tuned`` configures besides."""
    import geventio

    loop = geventio.Loop()

    def on_read(stream: geventio.Stream, buf: bytearray, eof: bool) -> int:
        if buf:
            stream.write(bytes(buf))
            del buf[:]
        return 0

    def on_stream(stream: geventio.Stream) -> None:
        stream.configure(on_read=on_read, **tuning)
        loop.add(stream)

    listener = loop.listen(addr=('inet', 'stream', 0, (host, port)),
                           on_stream=on_stream).get(timeout=10)
    assert listener is not None                 # (a listening Listener)
    ready(listener.sockname[1])
    loop.run()


def _serve_geventio_stream_tuned(host: str, port: int, ready: Ready) -> None:
    """The same echo with ``TUNING``: an extra row, never the figure for geventio."""
    _serve_geventio_stream(host, port, ready, **TUNING)


def _serve_geventio_iostream(host: str, port: int, ready: Ready) -> None:
    """geventio ``IOStream`` echo (docs/iostream.md), accepting as IO::Stream's
    documentation shows: a read watcher on the listening socket that accepts
    until EAGAIN and makes an ``IOStream(fh=sock, cb=..., wait_for=IN)`` for
    each connection (EOF too, so that a finished client is closed)."""
    import socket
    import gevent
    from gevent import socket as gsocket
    from geventio.iostream import EOF, IN, IOStream

    def echo(io: Any, events: int, err: Any) -> None:
        if err is not None or events & EOF:
            io.close()
        elif events & IN:
            io.write(io.in_buf)
            del io.in_buf[:]

    listener = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(BACKLOG)
    listener.setblocking(False)

    def accept() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:         # EAGAIN: accepted them all
                return
            IOStream(fh=sock, cb=echo, wait_for=IN | EOF)

    hub = gevent.get_hub()
    watcher = hub.loop.io(listener.fileno(), 1)
    watcher.start(accept)
    ready(listener.getsockname()[1])
    hub.join()


def _serve_geventio_socket(host: str, port: int, ready: Ready) -> None:
    """geventio ``Socket`` echo of datagrams (docs/api.md section 5)."""
    import socket
    import geventio
    from gevent import socket as gsocket

    loop = geventio.Loop()
    udp = gsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))
    echo = geventio.Socket(handle=udp,
                           on_recv=lambda s, data, addr: s.send(data, addr=addr))
    loop.add(echo)
    ready(udp.getsockname()[1])
    loop.run()


def _serve_geventio_danga(host: str, port: int, ready: Ready) -> None:
    """geventio ``DangaSocket`` echo in Perlbal's style (docs/api.md section 8): a
    listening DangaSocket accepts in ``event_read``; each connection's
    ``event_read`` does ``read(65536)`` and ``write``s it back."""
    import socket
    from geventio.danga import DangaSocket

    class Echo(DangaSocket):
        def event_read(self) -> None:
            data = self.read(READ_LEN)
            if data is None:
                self.close('eof')
            else:
                self.write(data)

    class Listener(DangaSocket):
        def event_read(self) -> None:
            while True:
                try:
                    sock, _ = self.sock.accept()
                except BlockingIOError:
                    return
                Echo(sock).watch_read(True)

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind((host, port))
    listening.listen(BACKLOG)
    Listener(listening).watch_read(True)
    ready(listening.getsockname()[1])
    DangaSocket.event_loop()


SERVERS = {
    'gevent': ServerSpec('tcp', _serve_gevent),
    'asyncio-protocol': ServerSpec('tcp', _serve_asyncio_protocol),
    'asyncio-streams': ServerSpec('tcp', _serve_asyncio_streams),
    'uvloop': ServerSpec('tcp', _serve_uvloop, ('uvloop',)),
    'geventio-stream': ServerSpec('tcp', _serve_geventio_stream),
    'geventio-stream-tuned': ServerSpec('tcp', _serve_geventio_stream_tuned),
    'geventio-danga': ServerSpec('tcp', _serve_geventio_danga),
    'geventio-iostream': ServerSpec('tcp', _serve_geventio_iostream),
    'gevent-datagram': ServerSpec('udp', _serve_gevent_datagram),
    'asyncio-datagram': ServerSpec('udp', _serve_asyncio_datagram),
    'geventio-socket': ServerSpec('udp', _serve_geventio_socket),
}

#: The server every figure of a kind is divided by (ratio 1.0).
REFERENCE = {'tcp': 'gevent', 'udp': 'gevent-datagram'}


def prepare_process(cpu: int | None = None, parent_pid: int | None = None) -> None:
    """Pin to ``cpu``, die with the parent, and allow as many descriptors as permitted.

    Dying with the parent (``PR_SET_PDEATHSIG``) is the backstop that keeps a killed
    runner from leaving servers behind; the runner also kills them in a ``finally``.
    """
    if parent_pid is not None and sys.platform.startswith('linux'):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent_pid:      # the parent died before prctl
            sys.exit(1)
    if cpu is not None and hasattr(os, 'sched_setaffinity'):
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def _ready(port: int) -> None:
    sys.stdout.write('READY %d\n' % port)
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog='python -m geventio.bench.servers',
                                     description='Run one benchmark echo server.')
    parser.add_argument('name', choices=sorted(SERVERS))
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0, help='0 picks a free port')
    parser.add_argument('--cpu', type=int, default=None, help='CPU to pin to')
    parser.add_argument('--parent-pid', type=int, default=None,
                        help='exit when this process dies')
    args = parser.parse_args(argv)
    prepare_process(args.cpu, args.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    SERVERS[args.name].run(args.host, args.port, _ready)


if __name__ == '__main__':
    main()
