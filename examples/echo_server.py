"""An echo server: ``loop.listen`` plus a Stream per connection.

IO::Async::Listener's synopsis, in geventio. Every address of the host gets its
own listening socket (IPv4 and IPv6 alike, on the same port).

    python examples/echo_server.py                  # a free port, printed
    python examples/echo_server.py 8007             # port 8007, every address
    python examples/echo_server.py 8007 127.0.0.1   # port 8007, loopback only

Try it with ``python examples/echo_client.py 8007 hello``.
"""

import sys

import geventio


def echo(stream, buffer, eof):
    """on_read: send back whatever arrived; at EOF the stream closes itself."""
    stream.write(bytes(buffer))
    del buffer[:]
    return 0


def main(port=0, host=None):
    loop = geventio.Loop()

    def on_stream(stream):
        stream.configure(on_read=echo)
        loop.add(stream)

    listener = loop.listen(host=host, service=port, socktype='stream',
                           on_stream=on_stream,
                           on_fail=lambda *args: print('could not use', args[1:-1],
                                                       args[-1], file=sys.stderr)).get()
    print('listening on', ', '.join(str(s.getsockname()) for s in listener.sockets),
          flush=True)
    loop.run()


if __name__ == '__main__':
    try:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 0, *sys.argv[2:3])
    except KeyboardInterrupt:
        pass
