"""geventio.server in fresh processes: under monkey.patch_all() run before or
after importing geventio, and prefork with real signals and SO_REUSEPORT."""

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from childproc import PROCESS_TIMEOUT, Lines

PATCHED_SERVER = textwrap.dedent('''
    import sys
    if sys.argv[1] == 'before':
        from gevent import monkey
        monkey.patch_all()
    from geventio.server import stream_handler
    if sys.argv[1] == 'after':
        from gevent import monkey
        monkey.patch_all()

    import socket
    import ssl
    import threading
    from gevent.pool import Pool
    from gevent.server import StreamServer

    assert socket.socket is __import__('gevent.socket').socket.socket
    connection = threading.local()       # greenlet-local once patched
    handled = []

    def handle(sock, address):
        handled.append(sock)
        handler(sock, address)

    def on_stream(stream, address):
        connection.port = address[1]

        def on_read(stream, buffer, eof):
            while b'\\n' in buffer:
                line, _, rest = bytes(buffer).partition(b'\\n')
                buffer[:] = rest
                reply = f'{line.decode()} {connection.port}\\n'
                stream.write(reply.encode())
            return 0
        stream.configure(on_read=on_read)

    handler = stream_handler(on_stream)
    server = StreamServer(('127.0.0.1', 0), handle, spawn=Pool(10))
    server.start()

    def client(name, results):
        with socket.create_connection(server.address, timeout=10) as sock:
            for n in range(3):
                sock.sendall(f'{name}-{n}\\n'.encode())
                reply = b''
                while not reply.endswith(b'\\n'):
                    reply += sock.recv(100)
                results.append((reply.decode().split(), sock.getsockname()[1]))

    results = []
    threads = [threading.Thread(target=client, args=(name, results))
               for name in 'abc']
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.stop(timeout=10)
    assert len(results) == 9, results
    for (line, port), own_port in results:
        assert int(port) == own_port, (line, port, own_port)
    assert all(type(sock) is socket.socket for sock in handled)
    print('served', len(handled))
''')


@pytest.mark.parametrize('when', ['before', 'after'])
def test_stream_handler_under_patch_all_run_before_or_after_importing(when, tmp_path):
    """Stdlib sockets, threads and threading.local, patched, against a
    StreamServer whose handler is stream_handler."""
    script = tmp_path / 'patched_server.py'
    script.write_text(PATCHED_SERVER)
    result = subprocess.run([sys.executable, str(script), when], capture_output=True,
                            text=True, timeout=PROCESS_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'served 3\n'


PREFORK_SERVER = textwrap.dedent('''
    import os
    import socket
    import sys

    import geventio
    from geventio.server import prefork

    # Holds the port (bound, never listening) so the workers can share it.
    reserve = socket.socket()
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind(('127.0.0.1', 0))
    port = reserve.getsockname()[1]

    def serve():
        loop = geventio.Loop()

        def on_stream(stream):
            stream.configure(on_read=lambda stream, buffer, eof: 0)
            stream.write(f'{os.getpid()}\\n'.encode())
            stream.close_when_empty()
            loop.add(stream)

        loop.listen(host='127.0.0.1', service=port, socktype='stream',
                    reuseport=True, on_stream=on_stream).get(timeout=10)
        # One write (print would make one per piece when unbuffered).
        sys.stdout.write(f'worker {os.getpid()} port {port}\\n')
        sys.stdout.flush()
        loop.run()

    prefork(int(sys.argv[1]), serve)
    print('stopped', flush=True)
''')


def worker_line(lines):
    line = lines.next()
    assert line.startswith('worker'), line
    _, pid, _, port = line.split()
    return int(pid), int(port)


def ask_pid(port):
    with socket.create_connection(('127.0.0.1', port), timeout=PROCESS_TIMEOUT) as sock:
        sock.settimeout(PROCESS_TIMEOUT)
        data = b''
        while not data.endswith(b'\n'):
            chunk = sock.recv(100)
            assert chunk, 'closed before answering'
            data += chunk
    return int(data)


def is_gone(pid):
    """Whether ``pid`` no longer exists or is a zombie (no longer serving)."""
    try:
        with open(f'/proc/{pid}/stat') as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


@pytest.mark.parametrize('stop_signal', [signal.SIGTERM, signal.SIGINT])
def test_prefork_spreads_connections_restarts_a_dead_worker_and_stops_all(
        tmp_path, stop_signal):
    script = tmp_path / 'prefork_server.py'
    script.write_text(PREFORK_SERVER)
    process = subprocess.Popen([sys.executable, str(script), '2'],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = Lines(process.stdout)
    try:
        (first, port), (second, _) = worker_line(lines), worker_line(lines)
        workers = {first, second}
        # The kernel hashes each new connection (its source port differs) to
        # one of the two listening sockets: both answer within a few tries.
        answered = {ask_pid(port) for _ in range(64)}
        assert answered == workers
        os.kill(first, signal.SIGKILL)
        replacement, _ = worker_line(lines)
        assert replacement not in workers
        workers = {second, replacement}
        assert ({ask_pid(port) for _ in range(64)}) == workers
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    err = err.decode()
    assert process.returncode == 0, err
    assert lines.rest + out == b'stopped\n'
    assert 'worker %d exited with status -9' % first in err
    assert all(is_gone(pid) for pid in workers)


CRASHING_WORKER = textwrap.dedent('''
    import sys
    import time

    import geventio.server

    def serve():
        sys.stdout.write(f'start {time.monotonic()}\\n')
        sys.stdout.flush()
        sys.exit(3)

    geventio.server.prefork(1, serve)
    print('stopped', flush=True)
''')


def test_prefork_waits_before_restarting_a_worker_that_fails_at_start(tmp_path):
    """The guard against a fork loop: a serve() that exits at once is
    restarted only after RESTART_DELAY."""
    from geventio.server import RESTART_DELAY
    script = tmp_path / 'crashing.py'
    script.write_text(CRASHING_WORKER)
    process = subprocess.Popen([sys.executable, str(script)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = Lines(process.stdout)
    try:
        starts = [float(lines.next().split()[1]) for _ in range(2)]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert starts[1] - starts[0] >= RESTART_DELAY
    assert process.returncode == 0, err
    assert b'exited with status 3' in err


STUBBORN_WORKER = textwrap.dedent('''
    import os
    import signal
    import sys

    import gevent
    import geventio.server

    geventio.server.STOP_TIMEOUT = 0.2

    def serve():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.stdout.write(f'worker {os.getpid()} ignores SIGTERM\\n')
        sys.stdout.flush()
        gevent.sleep(3600)

    geventio.server.prefork(1, serve)
    print('stopped', flush=True)
''')


def test_prefork_kills_a_worker_that_ignores_sigterm_after_stop_timeout(tmp_path):
    script = tmp_path / 'stubborn.py'
    script.write_text(STUBBORN_WORKER)
    process = subprocess.Popen([sys.executable, str(script)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = Lines(process.stdout)
    try:
        worker = int(lines.next().split()[1])
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert lines.rest + out == b'stopped\n'
    assert is_gone(worker)
