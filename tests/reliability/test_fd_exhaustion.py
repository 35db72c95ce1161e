"""Descriptors really exhausted at accept, under a lowered ``RLIMIT_NOFILE`` in a
server process of its own: the listener backs off, serves every client once
descriptors free up, and without ``on_accept_error`` says so in one WARNING
line for the whole flapping episode (before: not one line; one per failed
accept would flood the log)."""

import sys
from pathlib import Path

import gevent.socket
from gevent import subprocess

from conftest import WAIT, recv_exactly
from .emfile_server import ROOM

SERVER = Path(__file__).with_name('emfile_server.py')

#: Clients: several times what the server has descriptors for.
CLIENTS = 5 * ROOM


def test_running_out_of_descriptors_backs_off_serves_everyone_and_warns_once(
        sockets, figures):
    server = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(server.stdout.readline())
        clients = []
        for number in range(CLIENTS):
            client = sockets.keep(gevent.socket.create_connection(('127.0.0.1', port)))
            client.sendall(b'ping %03d' % number)
            clients.append(client)
        for number, client in enumerate(clients):
            client.settimeout(WAIT)
            assert recv_exactly(client, 8) == b'ping %03d' % number
            client.close()
        server.stdin.close()
        assert server.wait(timeout=WAIT) == 0
        log = server.stderr.read().decode().splitlines()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pipe in (server.stdin, server.stdout, server.stderr):
            pipe.close()
    warnings = [line for line in log if line.startswith('WARNING')]
    assert len(warnings) == 1, log
    assert 'Too many open files' in warnings[0] and 'backing off' in warnings[0]
    assert not [line for line in log if line.startswith(('ERROR', 'CRITICAL'))], log
    figures(clients=CLIENTS, spare_fds=ROOM, warning_lines=len(warnings))
