"""The benchmark harness measures what it says: its geventio servers echo, and the
lock-step bulk case reports throughput from verified round trips."""

import json
import subprocess
import sys

import gevent.socket
import pytest

from geventio.bench import cases

from conftest import WAIT, recv_exactly

#: Seconds a load generator run may take here: setup, a short window, the drain.
LOADGEN_TIMEOUT = 30


def start_server(name):
    server = subprocess.Popen(
        [sys.executable, '-m', 'geventio.bench.servers', name, '--port', '0'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith('READY '):
        server.kill()
        _, err = server.communicate(timeout=WAIT)
        pytest.fail(f'{name} did not start: {err}')
    return server, int(line.split()[1])


def stop_server(server):
    server.kill()
    server.communicate(timeout=WAIT)


@pytest.mark.parametrize('name', ['geventio-stream', 'geventio-stream-tuned'])
def test_the_stream_bench_servers_echo_large_writes_and_close_finished_clients(name):
    server, port = start_server(name)
    try:
        with gevent.socket.create_connection(('127.0.0.1', port), timeout=WAIT) as client:
            data = bytes(range(256)) * 2000         # more than one read_len
            client.sendall(data)
            assert recv_exactly(client, len(data)) == data
            client.shutdown(1)
            assert client.recv(1) == b''
    finally:
        stop_server(server)


def test_the_bulk_cases_are_named_by_their_shape():
    bulk = cases.select(cases.all_cases(100), ['bulk*'])
    assert [(c.name, c.mode, c.metric) for c in bulk] == [
        ('bulk-windowed-10x64k', 'bulk', 'mb_per_s'),
        ('bulk-lockstep-10x64k', 'pingpong', 'mb_per_s')]
    windowed, lockstep = bulk
    assert cases.loadgen_params(windowed, cases.QUICK)['window'] == cases.BULK_WINDOW
    assert 'window' not in cases.loadgen_params(lockstep, cases.QUICK)


def test_lock_step_bulk_counts_the_bytes_of_each_verified_round_trip():
    server, port = start_server('geventio-stream')
    try:
        result = subprocess.run(
            [sys.executable, '-m', 'geventio.bench.loadgen_cli', 'pingpong',
             '--port', str(port), '--conns', '2', '--size', '65536',
             '--duration', '0.3', '--warmup', '0.05', '--timeout', str(WAIT)],
            capture_output=True, text=True, timeout=LOADGEN_TIMEOUT, check=True)
    finally:
        stop_server(server)
    figures = json.loads(result.stdout)
    assert figures['mismatches'] == figures['io_errors'] == 0
    assert figures['count'] > 0
    assert figures['bytes'] == figures['count'] * 65536
    assert figures['mb_per_s'] == pytest.approx(
        figures['bytes'] / figures['duration'] / 1e6, rel=1e-6)
