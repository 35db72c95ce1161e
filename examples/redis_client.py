"""A Redis client in a page: the RESP protocol with ``read_until`` and ``read_exactly``.

RESP (the Redis serialization protocol) sends each command as an array of
bulk strings and answers with a typed reply whose first byte says its kind:
``+`` a simple string, ``-`` an error, ``:`` an integer, ``$`` a bulk string
(its length, CRLF, that many bytes, CRLF) and ``*`` an array of replies. A
line ends in CRLF, so ``read_until(b'\\r\\n')`` reads the header; a bulk string
may hold any bytes, CRLF included, so ``read_exactly(length + 2)`` reads it.

    python examples/redis_client.py               # demo: its own redis-server, then PING/SET/GET
    python examples/redis_client.py --port 6379   # the same against a running server

The demo needs ``redis-server`` on the PATH (Debian: ``apt-get install
redis-server``); it runs one on a free port of 127.0.0.1 in a temporary folder.
"""

import argparse
import shutil
import socket
import sys
import tempfile

import gevent
import gevent.subprocess
from gevent.lock import Semaphore

import geventio

#: Seconds to wait for any one reply, or for redis-server to start.
TIMEOUT = 10


class RedisError(Exception):
    """An error reply (``-ERR ...``) from the server."""


class ProtocolError(Exception):
    """A reply that is not RESP."""


class Redis:
    """A connection to a Redis server; `command` sends one and returns its reply."""

    def __init__(self, loop, host='127.0.0.1', port=6379):
        self.stream = loop.connect(host=host, service=port, socktype='stream',
                                   on_stream=lambda stream: None).get(timeout=TIMEOUT)
        # Every byte is read through a future; on_read only keeps the buffer.
        self.stream.configure(on_read=lambda stream, buffer, eof: 0)
        loop.add(self.stream)
        self._one_at_a_time = Semaphore()   # a reply must follow its command

    def command(self, *args):
        """Send a command (its words as str or bytes) and return the reply:
        str, int, bytes, None (a nil bulk string) or a list of those.

        Raises:
            RedisError: the server answered with an error.
        """
        words = [arg.encode() if isinstance(arg, str) else bytes(arg) for arg in args]
        request = b'*%d\r\n' % len(words) + b''.join(
            b'$%d\r\n%s\r\n' % (len(word), word) for word in words)
        with self._one_at_a_time:
            self.stream.write(request)
            return self._reply()

    def _reply(self):
        line = self.stream.read_until(b'\r\n').get(timeout=TIMEOUT)
        kind, value = line[:1], line[1:-2]
        if kind == b'+':
            return value.decode()
        if kind == b'-':
            raise RedisError(value.decode())
        if kind == b':':
            return int(value)
        if kind == b'$':
            length = int(value)
            if length < 0:
                return None
            return self.stream.read_exactly(length + 2).get(timeout=TIMEOUT)[:-2]
        if kind == b'*':
            count = int(value)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ProtocolError(f'not a RESP reply: {line!r}')

    def close(self):
        self.stream.close()


def talk(loop, port):
    """PING, SET and GET (a value with CRLF inside), INCR and an error reply;
    True if every reply is the one expected."""
    redis = Redis(loop, port=port)
    try:
        answers = [
            (('PING',), 'PONG'),
            (('SET', 'greeting', b'hello\r\nworld'), 'OK'),
            (('GET', 'greeting'), b'hello\r\nworld'),
            (('GET', 'no such key'), None),
            (('SET', 'visits', '0'), 'OK'),
            (('INCR', 'visits'), 1),
            (('INCR', 'visits'), 2),
        ]
        ok = True
        for command, expected in answers:
            reply = redis.command(*command)
            print(f'{" ".join(map(str, command))} -> {reply!r}')
            ok = ok and reply == expected
        try:
            redis.command('NO-SUCH-COMMAND')
            ok = False
        except RedisError as err:
            print(f'NO-SUCH-COMMAND -> RedisError({str(err)[:40]!r}...)')
        return ok
    finally:
        redis.close()


def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def run_redis_server(folder, port):
    """Start redis-server on 127.0.0.1:``port``, working in ``folder``; returns
    the process once it accepts connections."""
    server = gevent.subprocess.Popen(
        ['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--dir', folder,
         '--save', '', '--appendonly', 'no', '--logfile', ''],
        stdout=gevent.subprocess.PIPE, stderr=gevent.subprocess.STDOUT)
    with gevent.Timeout(TIMEOUT, RuntimeError('redis-server did not start')):
        for line in server.stdout:
            if b'Ready to accept connections' in line:
                return server
    server.kill()
    server.wait()
    raise RuntimeError('redis-server exited')


def demo(loop):
    if shutil.which('redis-server') is None:
        sys.exit('the demo needs redis-server on the PATH (apt-get install redis-server)')
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = run_redis_server(folder, port)
        try:
            print(f'redis-server running on 127.0.0.1 port {port} in {folder}')
            return talk(loop, port)
        finally:
            server.terminate()
            server.communicate(timeout=TIMEOUT)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--port', type=int,
                        help='a running server on 127.0.0.1 (default: start one)')
    args = parser.parse_args(argv)
    with geventio.Loop() as loop:
        ok = demo(loop) if args.port is None else talk(loop, args.port)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
