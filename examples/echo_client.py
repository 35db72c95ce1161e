"""An echo client: ``loop.connect`` hands over a Stream; futures read the reply.

    python examples/echo_client.py PORT [MESSAGE] [HOST]

HOST defaults to ``localhost``, which may resolve to ::1 and 127.0.0.1: the
candidates are tried in order (``happy_eyeballs_delay`` staggers them).
"""

import sys

import geventio


def main(port, message='hello', host='localhost'):
    loop = geventio.Loop()
    stream = loop.connect(host=host, service=port, socktype='stream',
                          happy_eyeballs_delay=0.25,
                          on_stream=lambda stream: None).get(timeout=10)
    stream.configure(on_read=lambda stream, buffer, eof: 0)   # futures do the reading
    loop.add(stream)
    stream.write(message.encode() + b'\n')
    print(stream.read_until(b'\n').get(timeout=10).decode(), end='')
    stream.close()
    loop.close()


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(int(sys.argv[1]), *sys.argv[2:4])
