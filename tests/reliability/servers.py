"""Servers the reliability tests attack: the README's echo server and variants
of it, on loopback, with what each of their streams went through recorded."""

import socket

import gevent.socket

from conftest import Log

#: Address every test server listens on: loopback, a free port.
LOCAL = {'family': 'inet', 'socktype': 'stream', 'ip': '127.0.0.1', 'port': 0}


def echo(stream, buffer, eof):
    """The README's echo: write back whatever arrives."""
    stream.write(bytes(buffer))
    del buffer[:]
    return 0


class Server:
    """A listener in ``loop`` whose streams get ``on_read`` and ``params``;
    ``accepted`` counts them, ``open`` holds those not closed yet, ``closed``
    logs each close (without keeping the stream, so that a hundred thousand
    connections leave nothing behind)."""

    def __init__(self, loop, on_read=echo, ssl=None, listener_class=None, **params):
        self.loop = loop
        self.accepted = 0
        self.open = set()
        self.closed = Log()
        self._on_read = on_read
        self._params = params
        listen = {'addr': LOCAL, 'on_stream': self._on_stream}
        if ssl is not None:
            listen['ssl'] = ssl
        if listener_class is None:
            self.listener = loop.listen(**listen).get()
        else:
            self.listener = listener_class(on_stream=lambda _l, s: self._on_stream(s))
            loop.add(self.listener)
            del listen['on_stream']
            self.listener.listen(**listen).get()
        self.address = self.listener.sockname

    def _on_stream(self, stream):
        stream.configure(on_read=self._on_read, on_closed=self._on_closed,
                         **self._params)
        self.accepted += 1
        self.open.add(stream)
        self.loop.add(stream)

    def _on_closed(self, stream):
        self.open.discard(stream)
        self.closed.append(True)

    def connect(self):
        """A gevent client socket connected to this server."""
        client = gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.connect(self.address)
        return client

    def close(self):
        self.listener.close()
        for stream in list(self.open):
            stream.close_now()
