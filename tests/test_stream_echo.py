"""A Stream echoes over every kind of socket pair."""

import geventio
from conftest import recv_exactly


def echo(stream, buffer, eof):
    if buffer:
        stream.write(bytes(buffer))
        del buffer[:]
    return 0


def test_stream_echoes_over_each_pair_kind(loop, pair):
    a, b = pair
    stream = geventio.Stream(handle=a, on_read=echo)
    loop.add(stream)
    for size in (1, 100, 70000):
        payload = bytes(range(256)) * (size // 256) + b'x' * (size % 256)
        b.sendall(payload)
        assert recv_exactly(b, len(payload)) == payload
    stream.close()
    assert stream.is_closed
