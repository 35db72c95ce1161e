"""A chat server: a line protocol, and every line broadcast to everyone else.

Each client first sends its name on a line of its own; after that, each line it
sends goes to every other client as ``name: line``. Joining and leaving are
announced. Every connection is a `Stream` whose ``on_read`` splits lines; the
server is a set of those streams.

    python examples/chat_server.py                # demo: three clients chat, exit
    python examples/chat_server.py --serve 7000   # serve on port 7000 until Ctrl-C

Try the second form with two terminals running ``nc 127.0.0.1 7000``.
"""

import argparse
import sys

import geventio

#: Longest line a client may send, in bytes: a client that sends more without
#: a newline is cut off rather than allowed to fill the server's memory.
MAX_LINE = 4096

#: Seconds the demo waits for each line it expects.
DEMO_TIMEOUT = 5


class ChatServer:
    """The clients of one listener, by stream; broadcasts their lines."""

    def __init__(self, loop):
        self.loop = loop
        self.names = {}             # stream -> name, once it has sent one

    def on_stream(self, stream):
        """loop.listen's on_stream: a new client, nameless until its first line."""
        stream.configure(on_read=self.on_read, on_closed=self.on_closed)
        self.loop.add(stream)

    def on_read(self, stream, buffer, eof):
        while True:
            end = buffer.find(b'\n')
            if end < 0:
                break
            line = bytes(buffer[:end]).rstrip(b'\r').decode('utf-8', 'replace')
            del buffer[:end + 1]
            self.on_line(stream, line)
        if len(buffer) > MAX_LINE:
            stream.write(b'* line too long\n')
            stream.close_when_empty()
        return 0

    def on_line(self, stream, line):
        name = self.names.get(stream)
        if name is None:
            self.names[stream] = line or 'anonymous'
            self.broadcast(f'* {self.names[stream]} joined', stream)
        elif line:
            self.broadcast(f'{name}: {line}', stream)

    def on_closed(self, stream):
        name = self.names.pop(stream, None)
        if name is not None:
            self.broadcast(f'* {name} left', stream)

    def broadcast(self, text, sender):
        data = (text + '\n').encode()
        for stream in self.names:
            if stream is not sender and not stream.is_closed:
                stream.write(data)


def start(loop, port=0, host='127.0.0.1'):
    """A listening chat server on (host, port); returns the listener."""
    chat = ChatServer(loop)
    return loop.listen(host=host, service=port, socktype='stream',
                       on_stream=chat.on_stream).get(timeout=10)


def demo(loop, address):
    """Three clients join and talk; True if each saw what the others said."""
    def client(name):
        stream = loop.connect(addr=('inet', 'stream', 0, address),
                              on_stream=lambda stream: None).get(timeout=DEMO_TIMEOUT)
        stream.configure(on_read=lambda stream, buffer, eof: 0)  # futures read
        loop.add(stream)
        stream.write(name.encode() + b'\n')
        return stream

    def heard(stream):
        line = stream.read_until(b'\n').get(timeout=DEMO_TIMEOUT).decode().rstrip()
        print(f'{who[stream]} hears: {line}')
        return line

    alice = client('alice')
    bob = client('bob')
    who = {alice: 'alice', bob: 'bob'}
    ok = heard(alice) == '* bob joined'
    carol = client('carol')
    who[carol] = 'carol'
    ok &= heard(alice) == '* carol joined' and heard(bob) == '* carol joined'
    bob.write(b'hello, both\n')
    ok &= heard(alice) == 'bob: hello, both' and heard(carol) == 'bob: hello, both'
    carol.close()
    ok &= heard(alice) == '* carol left' and heard(bob) == '* carol left'
    alice.close()
    bob.close()
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--serve', metavar='PORT', type=int,
                        help='serve on PORT until interrupted (default: run the demo)')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on')
    args = parser.parse_args(argv)
    with geventio.Loop() as loop:
        listener = start(loop, args.serve or 0, args.host)
        if args.serve is None:
            return 0 if demo(loop, listener.sockname) else 1
        print(f'chat on {args.host} port {listener.sockname[1]}', flush=True)
        try:
            loop.run()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
