"""A TCP proxy in Perlbal's style: a client-side and a backend-side DangaSocket per
connection, each pausing the other's reading while its own writes are backed up.

Perlbal's reverse proxy pairs a ``ClientProxy`` with a ``BackendHTTP``: what
one reads, the other writes. When a write cannot go out at once (``write()``
returns False: the kernel's send buffer is full and the rest is queued) the
reading side stops reading (``watch_read(False)``), so a fast sender cannot fill
the proxy's memory on behalf of a slow receiver; the writing side's
``event_write`` resumes it once its queue has drained (``write(None)`` returns
True). When either side ends, both close once what is queued for them is out:
a queued callable (``write(lambda: ...)``) runs only after everything before it
is in the kernel.

    python examples/danga_proxy.py      # demo: 16 MiB through the proxy and back, exit 0
    python examples/danga_proxy.py --listen 8080 --backend 127.0.0.1:80

The demo's echo backend is a ``gevent.server.StreamServer`` and its client a
greenlet that sends before it reads, so that the proxy has to push back; both
run beside ``event_loop()``, which waits on the gevent hub.
"""

import argparse
import errno
import socket
import sys

import gevent
import gevent.event
import gevent.server
import gevent.socket

from geventio.danga import DangaSocket

#: Seconds to stop accepting after accept() failed (EMFILE: out of descriptors).
ACCEPT_PAUSE = 0.1
#: Bytes asked of each read (Perlbal's proxies read 64 KiB at a time too).
READ_SIZE = 65536
#: Bytes the demo sends through the proxy: more than loopback's socket buffers
#: hold, so that reading has to pause.
DEMO_BYTES = 16 << 20
#: Seconds the demo may take in all.
DEMO_TIMEOUT = 20


class Half(DangaSocket):
    """One side of a proxied connection; ``other`` is the side it feeds."""

    #: Set once a side stopped reading because the other was backed up, and
    #: how many times that happened (for the demo).
    paused = gevent.event.Event()
    pauses = 0

    def __init__(self, sock, name):
        super().__init__(sock)
        self.name = name
        self.other = None

    def event_read(self):
        data = self.read(READ_SIZE)
        if data is None:
            self.finish('eof')
        elif data and not self.other.write(data):
            # The other side's kernel buffer is full and the rest of this is
            # queued there: read no more until its queue drains.
            self.watch_read(False)
            Half.pauses += 1
            Half.paused.set()

    def event_write(self):
        if self.write(None) and not self.other.closed:
            self.other.watch_read(True)         # drained: the other may read again

    def event_err(self):
        self.finish('error')

    def event_hup(self):
        self.finish('hup')

    def finish(self, reason):
        """Stop reading; each side closes once what is queued for it is out."""
        for side in (self, self.other):
            if not side.closed:
                side.watch_read(False)
                side.write(lambda side=side: side.close(reason))


class Backend(Half):
    """The backend side: connects without blocking; write-readiness says when."""

    def __init__(self, address, client):
        sock = socket.socket(socket.AF_INET6 if ':' in address[0] else socket.AF_INET,
                             socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(err, f'connecting to {address}: {errno.errorcode.get(err)}')
        super().__init__(sock, 'backend')
        self.other, client.other = client, self
        self.connecting = True
        self.watch_write(True)

    def event_write(self):
        if not self.connecting:
            super().event_write()
            return
        self.connecting = False
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            print(f'backend connect failed: {errno.errorcode.get(err, err)}',
                  file=sys.stderr)
            self.other.close('backend failed')
            self.close('connect failed')
            return
        self.watch_write(False)
        self.watch_read(True)
        self.other.watch_read(True)


class Listener(DangaSocket):
    """Accepts clients and gives each a backend connection."""

    def __init__(self, sock, backend):
        super().__init__(sock)
        self.backend = backend
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
            client = Half(sock, 'client')
            try:
                Backend(self.backend, client)
            except OSError as err:
                print(err, file=sys.stderr)
                client.close('no backend')


def listen(host, port, backend):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return Listener(sock, backend)


def echo_handler(sock, _address):
    """The demo's backend: a gevent echo."""
    while True:
        data = sock.recv(READ_SIZE)
        if not data:
            return
        sock.sendall(data)


def demo_client(address):
    """Send DEMO_BYTES through the proxy; start reading only once the proxy had to
    pause, then check that every byte came back in order."""
    payload = bytes(range(256)) * (DEMO_BYTES // 256)
    with gevent.socket.create_connection(address, timeout=DEMO_TIMEOUT) as sock:
        sender = gevent.spawn(sock.sendall, payload)
        Half.paused.wait(DEMO_TIMEOUT)
        received = bytearray()
        while len(received) < len(payload):
            chunk = sock.recv(READ_SIZE)
            if not chunk:
                break
            received += chunk
        sender.get()
    return bytes(received) == payload


def demo(host):
    backend = gevent.server.StreamServer((host, 0), echo_handler)
    backend.start()
    try:
        listener = listen(host, 0, backend.address)
        talker = gevent.spawn(demo_client, listener.sock.getsockname())
        DangaSocket.set_post_loop_callback(
            lambda descriptor_map: not (talker.ready() and len(descriptor_map) == 1))
        deadline = DangaSocket.add_timer(DEMO_TIMEOUT, lambda now: talker.kill())
        DangaSocket.event_loop()
        deadline.cancel()
        ok = talker.successful() and talker.value is True
        print(f'proxied {DEMO_BYTES} bytes each way: '
              f'{"intact" if ok else "CORRUPTED OR CUT"}; reading paused '
              f'{Half.pauses} times', flush=True)
        return ok
    finally:
        backend.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--listen', metavar='PORT', type=int,
                        help='proxy from this port (default: run the demo)')
    parser.add_argument('--backend', metavar='HOST:PORT',
                        help='where to connect each client (with --listen)')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on')
    args = parser.parse_args(argv)
    try:
        if args.listen is None:
            return 0 if demo(args.host) else 1
        if not args.backend:
            parser.error('--listen needs --backend HOST:PORT')
        backend_host, _, backend_port = args.backend.rpartition(':')
        listener = listen(args.host, args.listen,
                          (backend_host.strip('[]'), int(backend_port)))
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
