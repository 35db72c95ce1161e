"""``python -m geventio demo``: a loopback echo server and client, narrated.

It uses only the public API: ``loop.listen`` makes a Listener on a free port of
127.0.0.1 whose accepted connections become echoing Streams, and
``loop.connect`` makes a client Stream that sends a few lines, reads each echo
with a future reader, half-closes and waits for the server to close in turn.
"""

import argparse
from collections.abc import Sequence

import geventio

__all__ = ['main']

LINES = [b'hello, geventio\n', b'a second line\n', b'and a third\n']


def main(argv: Sequence[str] = ()) -> int:
    """Run the demo; return 0 when every line came back intact."""
    argparse.ArgumentParser(prog='python -m geventio demo',
                            description=__doc__.splitlines()[0]).parse_args(argv)
    loop = geventio.Loop()
    try:
        return _run(loop)
    finally:
        loop.close()


def _run(loop: geventio.Loop) -> int:
    def echo(stream: geventio.Stream, buffer: bytearray, eof: bool) -> int:
        if buffer:
            print(f'server: echoing {bytes(buffer)!r}')
            stream.write(bytes(buffer))
            del buffer[:]
        if eof:
            print('server: client half-closed; closing once the echo is out')
        return 0

    def on_stream(stream: geventio.Stream) -> None:
        print(f'server: accepted {stream.read_handle.getpeername()}')
        stream.configure(on_read=echo)
        loop.add(stream)

    listener = loop.listen(addr={'family': 'inet', 'socktype': 'stream',
                                 'ip': '127.0.0.1', 'port': 0},
                           on_stream=on_stream).get(timeout=10)
    assert listener is not None     # (the future of a listener holds one)
    host, port = listener.sockname[:2]
    print(f'server: listening on {host}:{port}')

    client = loop.connect(host=host, service=port, socktype='stream',
                          on_stream=lambda stream: None).get(timeout=10)
    assert isinstance(client, geventio.Stream)
    client.configure(on_read=lambda stream, buffer, eof: 0)
    loop.add(client)
    closed = client.new_close_future()
    ok = True
    for line in LINES:
        client.write(line)
        echoed = client.read_until(b'\n').get(timeout=10)
        print(f'client: got back {echoed!r}')
        ok = ok and echoed == line
    client.write_eof()
    closed.get(timeout=10)
    print('client: server closed the connection; done' if ok else
          'client: an echo came back wrong')
    listener.close()
    return 0 if ok else 1
