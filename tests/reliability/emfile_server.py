"""An echo server that runs out of descriptors: run by test_fd_exhaustion.py in a
process of its own, with ``RLIMIT_NOFILE`` lowered to leave it `ROOM` spare
descriptors once it listens.

Prints its port, serves until its standard input closes, and logs WARNING and
above to standard error as ``LEVEL message`` lines.
"""

import logging
import os
import resource
import sys

import geventio

#: Descriptors left for accepted connections.
ROOM = 8


class QuickListener(geventio.Listener):
    """Backs off for milliseconds, so the test does not wait for seconds."""
    min_delay = 0.005
    max_delay = 0.05


def echo(stream, buffer, eof):
    stream.write(bytes(buffer))
    del buffer[:]
    return 0


def main():
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format='%(levelname)s %(message)s')
    loop = geventio.Loop()

    def on_stream(listener, stream):
        stream.configure(on_read=echo)
        loop.add(stream)

    listener = QuickListener(on_stream=on_stream)
    loop.add(listener)
    listener.listen(addr={'ip': '127.0.0.1', 'port': 0}).get()
    stdin = geventio.Stream.new_for_stdin(
        on_read=lambda stream, buffer, eof: 0,
        on_read_eof=lambda stream: loop.stop())
    loop.add(stdin)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir('/proc/self/fd'))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1 + ROOM, hard))
    print(listener.sockname[1], flush=True)
    loop.run()
    loop.close()


if __name__ == '__main__':
    main()
