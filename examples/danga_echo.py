"""An echo server in Danga::Socket's style: one DangaSocket accepts, one per
connection echoes.

The shape of Perlbal's ``TCPListener`` and its client objects, in geventio: the
listening socket is a DangaSocket whose ``event_read`` accepts every pending
connection, and each connection is a DangaSocket whose ``event_read`` does
``read(65536)`` and ``write``s it back (``None`` from ``read`` is EOF). An idle
connection is closed after ``IDLE_TIMEOUT`` seconds by a timer that each read
pushes back.

    python examples/danga_echo.py                 # demo: echo three lines, exit 0
    python examples/danga_echo.py --serve 8007    # serve on port 8007 until Ctrl-C

Try the second form with ``python examples/echo_client.py 8007 hello 127.0.0.1``.
The demo's client is a greenlet of the same process: ``event_loop()`` waits on
the gevent hub, so gevent code runs beside it.
"""

import argparse
import socket
import sys

import gevent
import gevent.socket

from geventio.danga import DangaSocket

#: Seconds to stop accepting after accept() failed (EMFILE: out of descriptors).
ACCEPT_PAUSE = 0.1
#: Bytes asked of each read (Perlbal reads 64 KiB at a time too).
READ_SIZE = 65536
#: Seconds a connection may stay silent before the server closes it.
IDLE_TIMEOUT = 60
#: Seconds the demo may take in all (loopback answers in microseconds).
DEMO_TIMEOUT = 10


class EchoClient(DangaSocket):
    """One connection: echo what arrives; close at EOF or after IDLE_TIMEOUT."""

    def __init__(self, sock):
        super().__init__(sock)
        self.idle = None
        self.restart_idle_timer()
        self.watch_read(True)

    def restart_idle_timer(self):
        if self.idle is not None:
            self.idle.cancel()
        self.idle = DangaSocket.add_timer(IDLE_TIMEOUT, lambda now: self.close('idle'))

    def event_read(self):
        data = self.read(READ_SIZE)
        if data is None:
            self.close('eof')
            return
        self.restart_idle_timer()
        self.write(data)

    def event_hup(self):
        self.close('hup')

    def event_err(self):
        self.close('error')

    def close(self, reason=None):
        if self.idle is not None:
            self.idle.cancel()
        super().close(reason)


class Listener(DangaSocket):
    """The listening socket: accept every connection waiting, as Perlbal does."""

    def __init__(self, sock):
        super().__init__(sock)
        self.watch_read(True)

    def event_read(self):
        while True:
            try:
                sock, _ = self.sock.accept()
            except BlockingIOError:
                return
            except OSError as err:
                # Out of descriptors (EMFILE) or similar: the pending connection
                # stays readable, so pause accepting instead of spinning on it.
                print(f'accept failed: {err}; pausing for {ACCEPT_PAUSE} s',
                      file=sys.stderr)
                self.watch_read(False)
                DangaSocket.add_timer(ACCEPT_PAUSE, lambda now: self.watch_read(True))
                return
            EchoClient(sock)


def listen(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return Listener(sock)


def client(address, lines):
    """The demo's client (gevent sockets, on a greenlet of its own): send each
    line, read its echo back; True if every echo matched."""
    with gevent.socket.create_connection(address, timeout=DEMO_TIMEOUT) as sock:
        for line in lines:
            sock.sendall(line)
            echoed = b''
            while len(echoed) < len(line):
                echoed += sock.recv(READ_SIZE)
            print(f'sent {line!r}, echoed {echoed!r}', flush=True)
            if echoed != line:
                return False
    return True


def demo(listener):
    """Serve until the client greenlet is done; True if it got every echo."""
    lines = [b'hello\n', b'danga socket\n', b'bye\n']
    talker = gevent.spawn(client, listener.sock.getsockname(), lines)
    # A post-loop callback that returns False ends event_loop(): here, once the
    # client is done and its connection has been closed.
    DangaSocket.set_post_loop_callback(
        lambda descriptor_map: not (talker.ready() and len(descriptor_map) == 1))
    deadline = DangaSocket.add_timer(DEMO_TIMEOUT, lambda now: talker.kill())
    DangaSocket.event_loop()
    deadline.cancel()
    return talker.successful() and talker.value is True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--serve', metavar='PORT', type=int,
                        help='serve on PORT until interrupted (default: run the demo)')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on')
    args = parser.parse_args(argv)
    listener = listen(args.host, args.serve or 0)
    try:
        if args.serve is None:
            return 0 if demo(listener) else 1
        host, port = listener.sock.getsockname()
        print(f'listening on {host} port {port}', flush=True)
        DangaSocket.event_loop()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        DangaSocket.reset()


if __name__ == '__main__':
    sys.exit(main())
