"""Send-first UDP: a client on a geventio `Socket`.

The pattern of IO::Async::Socket's "Send-first on a UDP Socket":
``loop.connect(host=..., service=..., socktype='dgram', on_socket=...)`` gives a
connected `Socket`; the client configures it, adds it to the loop, sends, and
prints each reply.

    python examples/udp_client.py                          # demo against its own echo peer
    python examples/udp_client.py 127.0.0.1 12345 hi there # one datagram per word

A connected UDP socket learns that nobody listens from the ICMP "port
unreachable" reply: it arrives at ``on_recv_error`` as ECONNREFUSED.
"""

import argparse
import socket
import sys

import gevent
import gevent.socket

import geventio

#: Seconds to wait for all replies before giving up (UDP may lose datagrams).
REPLY_TIMEOUT = 5


def talk(host, port, messages):
    """Send ``messages`` to (host, port); return the replies, or raise OSError."""
    loop = geventio.Loop()
    replies = []

    def on_recv(sock, data, addr):
        print(f'reply from {addr[0]} port {addr[1]}: {data!r}')
        replies.append(data)
        if len(replies) == len(messages):
            loop.stop(None)

    def on_socket(sock):
        sock.configure(on_recv=on_recv,
                       on_recv_error=lambda sock, err: loop.stop(err))
        loop.add(sock)
        for message in messages:
            sock.send(message)

    def on_connect_error(syscall, err):
        loop.stop(err)

    try:
        loop.connect(host=host, service=port, socktype='dgram',
                     on_socket=on_socket, on_connect_error=on_connect_error)
        loop.watch_time(lambda: loop.stop(TimeoutError('no reply in time')),
                        after=REPLY_TIMEOUT)
        error = loop.run()
    finally:
        loop.close()
    if error is not None:
        raise error
    return replies


def _echo_peer():
    """A plain gevent UDP socket echoing on 127.0.0.1, for the demo."""
    peer = gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(('127.0.0.1', 0))

    def serve():
        while True:
            data, addr = peer.recvfrom(65536)
            peer.sendto(data.upper(), addr)
    return peer, gevent.spawn(serve)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('host', nargs='?', help='server host (default: demo)')
    parser.add_argument('port', nargs='?', type=int, help='server port')
    parser.add_argument('words', nargs='*', help='one datagram per word')
    args = parser.parse_args(argv)
    if args.host is not None and args.port is None:
        parser.error('give both host and port, or neither for the demo')
    if args.host is None:
        peer, server = _echo_peer()
        host, port = peer.getsockname()
        messages = [b'one', b'two', b'three']
    else:
        peer = server = None
        host, port = args.host, args.port
        messages = [w.encode() for w in args.words] or [b'hello']
    try:
        replies = talk(host, port, messages)
    except OSError as err:
        print(f'udp_client: {err}', file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.kill()
            peer.close()
    return 0 if len(replies) == len(messages) else 1


if __name__ == '__main__':
    sys.exit(main())
