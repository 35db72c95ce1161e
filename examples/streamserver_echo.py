"""An echo server on gevent's own ``StreamServer``, each connection a geventio `Stream`.

``geventio.server.stream_handler`` makes the ``handle(sock, address)`` that
``StreamServer`` calls on a greenlet per connection: the socket is wrapped in
a Stream, ``on_stream`` configures it, and the handler returns once the stream
has closed, so a ``Pool`` limits open streams and ``server.stop(timeout)``
waits for them. Nothing else about the gevent server changes (``ssl_args``,
``backlog``, ``serve_forever``).

    python examples/streamserver_echo.py               # demo: three clients echo, exit
    python examples/streamserver_echo.py --serve 8007  # serve on port 8007 until Ctrl-C
"""

import argparse
import sys

import gevent
import gevent.socket
from gevent.pool import Pool
from gevent.server import StreamServer

from geventio.server import stream_handler

#: Open connections the server accepts at once; more wait in the kernel's
#: backlog until one closes.
MAX_CONNECTIONS = 1000

#: Seconds ``stop`` waits for open connections before closing them.
STOP_TIMEOUT = 5

#: Seconds the demo waits for each echo.
DEMO_TIMEOUT = 5


def on_stream(stream, address):
    """Configure each connection: echo whatever arrives."""
    def echo(stream, buffer, eof):
        stream.write(bytes(buffer))
        del buffer[:]
        return 0
    stream.configure(on_read=echo)


def make_server(port=0, host='127.0.0.1'):
    return StreamServer((host, port), stream_handler(on_stream),
                        spawn=Pool(MAX_CONNECTIONS))


def demo(address):
    """Three plain gevent clients at once; True if each got its echo."""
    def client(n):
        with gevent.socket.create_connection(address, timeout=DEMO_TIMEOUT) as sock:
            message = f'client {n} says hello\n'.encode()
            sock.sendall(message)
            echoed = b''
            while len(echoed) < len(message):
                echoed += sock.recv(100)
            print(f'sent {message!r}, echoed {echoed!r}')
            return echoed == message

    clients = [gevent.spawn(client, n) for n in range(3)]
    gevent.joinall(clients, timeout=DEMO_TIMEOUT, raise_error=True)
    return all(glet.value for glet in clients)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--serve', metavar='PORT', type=int,
                        help='serve on PORT until interrupted (default: run the demo)')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on')
    args = parser.parse_args(argv)
    server = make_server(args.serve or 0, args.host)
    server.start()
    try:
        if args.serve is None:
            return 0 if demo(server.address) else 1
        print(f'echoing on {args.host} port {server.address[1]}', flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(timeout=STOP_TIMEOUT)
    return 0


if __name__ == '__main__':
    sys.exit(main())
