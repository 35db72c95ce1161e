"""Calls that type-checking must reject: tests/test_typing.py runs mypy on
this file and expects exactly the errors marked at the end of their lines
(``error:`` and the code in brackets), no more and no fewer. Never run (the
calls are wrong on purpose), only checked.
"""

import gevent.socket

import geventio
from geventio.danga import DangaSocket
from geventio.iostream import IOStream


def never_called(loop: geventio.Loop, stream: geventio.Stream) -> None:
    geventio.Stream(read_len='x')  # error: [arg-type]
    geventio.Stream(colour='blue')  # error: [arg-type]
    geventio.Socket(recv_len=None)  # error: [arg-type]
    geventio.Handle(handle=42)  # error: [arg-type]
    stream.configure(idle_timeout='soon')  # error: [arg-type]
    stream.configure(encoding=b'utf-8')  # error: [arg-type]
    stream.read_exactly('4')  # error: [arg-type]
    stream.write(b'x', write_len='big')  # error: [arg-type]
    loop.connect(hots='example.org', service=80)  # error: [call-arg]
    loop.listen(service=0, queuesize='big')  # error: [arg-type]
    loop.watch_time(print, after='soon')  # error: [arg-type]
    IOStream(host='example.org', port='80', cb=print)  # error: [arg-type]
    DangaSocket.add_timer('1', print)  # error: [arg-type]
    DangaSocket(gevent.socket.socket()).watch_read('yes')  # error: [arg-type]
