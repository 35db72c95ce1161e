"""The benchmark's IOStream echo server runs as the harness runs it and echoes."""

import subprocess
import sys

import gevent.socket

from conftest import WAIT, recv_exactly


def test_the_iostream_bench_server_echoes_and_closes_finished_clients():
    server = subprocess.Popen(
        [sys.executable, '-m', 'geventio.bench.servers', 'geventio-iostream', '--port', '0'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith('READY '), server.stderr.read()
        port = int(line.split()[1])
        for _ in range(2):
            with gevent.socket.create_connection(('127.0.0.1', port), timeout=WAIT) as client:
                client.sendall(b'x' * 100000)
                assert recv_exactly(client, 100000) == b'x' * 100000
                client.shutdown(1)
                assert client.recv(1) == b''        # the server closed its side
    finally:
        server.kill()
        server.communicate(timeout=WAIT)
