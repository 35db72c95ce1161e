"""Receive-first UDP: an echo server on a geventio `Socket`.

The pattern of IO::Async::Socket's "Receive-first on a UDP Socket": bind a
well-known port (``Handle.bind(service=..., socktype='dgram')``) and answer each
datagram to the address it came from.

    python examples/udp_echo.py                 # demo: echo three datagrams, exit
    python examples/udp_echo.py --serve 12345   # serve on port 12345 until Ctrl-C

Try the second form with ``python examples/udp_client.py 127.0.0.1 12345 hello``.
"""

import argparse
import socket
import sys

import gevent
import gevent.socket

import geventio

#: Seconds the demo waits for each echo (loopback answers in microseconds).
DEMO_TIMEOUT = 5


def echo(sock, data, addr):
    """on_recv: send the datagram back where it came from (empty ones too)."""
    sock.send(data, addr=addr)


def recv_error(sock, err):
    """on_recv_error: a UDP server keeps serving after a per-datagram error."""
    print(f'receive error: {err}', file=sys.stderr)


def start_server(loop, host, port):
    """A Socket bound to (host, port), echoing; returns it once bound."""
    server = geventio.Socket(on_recv=echo, on_recv_error=recv_error)
    loop.add(server)
    server.bind(host=host, service=port, socktype='dgram').get(timeout=10)
    return server


def demo(address):
    """Send a few datagrams to the server from a plain socket; True if all echo."""
    family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
    with gevent.socket.socket(family, socket.SOCK_DGRAM) as client:
        client.settimeout(DEMO_TIMEOUT)
        for message in (b'hello', b'', b'goodbye'):
            client.sendto(message, address)
            reply, _ = client.recvfrom(65536)
            print(f'sent {message!r}, echoed {reply!r}')
            if reply != message:
                return False
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--serve', metavar='PORT', type=int,
                        help='serve on PORT until interrupted (default: run the demo)')
    parser.add_argument('--host', default='127.0.0.1', help='address to bind')
    args = parser.parse_args(argv)
    loop = geventio.Loop()
    try:
        server = start_server(loop, args.host, args.serve or 0)
        address = server.read_handle.getsockname()
        if args.serve is None:
            return 0 if demo(address) else 1
        print(f'echoing datagrams on {address[0]} port {address[1]}')
        loop.run()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        loop.close()


if __name__ == '__main__':
    sys.exit(main())
