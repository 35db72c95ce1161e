"""The command line and the examples run as their documentation says."""

import ast
import contextlib
import importlib.util
import os
import resource
import socket
import subprocess
import sys
import time

import gevent.server
import pytest

from childproc import Lines
from iostreams import free_port, microsocks, running, tinyproxy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, 'examples')

#: Seconds any one command may take (each needs well under one).
RUN_TIMEOUT = 60


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, cwd=ROOT)


def test_demo_echoes_every_line_and_exits_0():
    result = run('-m', 'geventio', 'demo')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count('client: got back') == 3
    assert 'server: client half-closed' in out
    assert out.rstrip().endswith('done')


def test_an_unknown_subcommand_is_a_usage_error():
    result = run('-m', 'geventio', 'frobnicate')
    assert result.returncode == 2
    assert 'invalid choice' in result.stderr


@pytest.mark.parametrize('script', ['udp_echo.py', 'udp_client.py'])
def test_udp_examples_run_their_demo(script):
    result = run(os.path.join(EXAMPLES, script))
    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_echo_server_and_client_talk_over_loopback():
    server = subprocess.Popen(
        [sys.executable, os.path.join(EXAMPLES, 'echo_server.py'), '0', '127.0.0.1'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = server.stdout.readline()
        assert line.startswith('listening on'), server.stderr.read()
        port = ast.literal_eval(line.split('on', 1)[1].strip())[1]
        result = run(os.path.join(EXAMPLES, 'echo_client.py'), str(port),
                     'hello there', '127.0.0.1')
        assert result.returncode == 0, result.stderr
        assert result.stdout == 'hello there\n'
    finally:
        server.kill()
        server.communicate(timeout=RUN_TIMEOUT)


def readme_snippet(number):
    """The ``number``-th (from 1) Python block of README.md."""
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as readme:
        text = readme.read()
    return text.split('```python\n')[number].split('```', 1)[0]


def test_the_readme_stream_example_runs_as_shown():
    result = run('-c', readme_snippet(1))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'HELLO\\nWORLD\\n'\nclosed\n"


# -- Danga::Socket examples and the benchmark's Danga server -----------------------

def start(*args):
    """A long-running command whose first output line says where it listens."""
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def stop(process):
    process.kill()
    return process.communicate(timeout=RUN_TIMEOUT)


def listening_port(process, prefix='listening on'):
    """The port of a '<prefix> HOST port N' line (the process's first line)."""
    line = process.stdout.readline()
    assert line.startswith(prefix), (line, stop(process))
    return int(line.split()[-1])


def test_danga_echo_demo_echoes_three_lines_and_exits_0():
    result = run(os.path.join(EXAMPLES, 'danga_echo.py'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('echoed') == 3
    assert "sent b'bye\\n', echoed b'bye\\n'" in result.stdout


def test_danga_echo_serves_the_echo_client():
    server = start(os.path.join(EXAMPLES, 'danga_echo.py'), '--serve', '0')
    try:
        port = listening_port(server)
        result = run(os.path.join(EXAMPLES, 'echo_client.py'), str(port),
                     'through danga', '127.0.0.1')
        assert result.returncode == 0, result.stderr
        assert result.stdout == 'through danga\n'
    finally:
        stop(server)


def test_danga_proxy_demo_pauses_reading_and_delivers_every_byte():
    result = run(os.path.join(EXAMPLES, 'danga_proxy.py'))
    assert result.returncode == 0, result.stderr
    assert 'intact' in result.stdout
    assert int(result.stdout.split('paused ')[1].split()[0]) >= 1


def test_danga_proxy_in_front_of_redis_server():
    redis_port = free_port()
    redis = subprocess.Popen(['redis-server', '--port', str(redis_port), '--bind',
                              '127.0.0.1', '--save', '', '--appendonly', 'no'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proxy = None
    try:
        for line in redis.stdout:
            if 'Ready to accept connections' in line:
                break
        proxy = start(os.path.join(EXAMPLES, 'danga_proxy.py'), '--listen', '0',
                      '--backend', f'127.0.0.1:{redis_port}')
        port = str(listening_port(proxy))
        cli = ['redis-cli', '-h', '127.0.0.1', '-p', port]
        assert subprocess.run([*cli, 'PING'], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT).stdout == 'PONG\n'
        big = 'x' * 1_000_000
        subprocess.run([*cli, '-x', 'SET', 'big'], input=big, capture_output=True,
                       text=True, timeout=RUN_TIMEOUT, check=True)
        got = subprocess.run([*cli, 'GET', 'big'], capture_output=True, text=True,
                             timeout=RUN_TIMEOUT).stdout
        assert got == big + '\n'
    finally:
        if proxy is not None:
            stop(proxy)
        redis.kill()
        redis.communicate(timeout=RUN_TIMEOUT)


def test_danga_proxy_carries_curl_to_an_http_server(tmp_path):
    (tmp_path / 'page.txt').write_bytes(b'served through the proxy\n' * 20000)
    http = start('-u', '-m', 'http.server', '0', '--bind', '127.0.0.1',
                 '--directory', str(tmp_path))
    proxy = None
    try:
        http_port = int(http.stdout.readline().split(' port ')[1].split()[0])
        proxy = start(os.path.join(EXAMPLES, 'danga_proxy.py'), '--listen', '0',
                      '--backend', f'127.0.0.1:{http_port}')
        port = listening_port(proxy)
        result = subprocess.run(['curl', '-sS', '--max-time', '30',
                                 f'http://127.0.0.1:{port}/page.txt'],
                                capture_output=True, timeout=RUN_TIMEOUT)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (tmp_path / 'page.txt').read_bytes()
    finally:
        if proxy is not None:
            stop(proxy)
        stop(http)


def test_the_benchmarks_danga_server_echoes():
    server = start('-m', 'geventio.bench.servers', 'geventio-danga', '--port', '0')
    try:
        port = listening_port(server, prefix='READY')
        with socket.create_connection(('127.0.0.1', port), timeout=RUN_TIMEOUT) as sock:
            sock.sendall(b'ping' * 1000)
            echoed = b''
            while len(echoed) < 4000:
                echoed += sock.recv(65536)
        assert echoed == b'ping' * 1000
    finally:
        stop(server)


def test_danga_echo_pauses_accepting_while_out_of_descriptors(tmp_path):
    """EMFILE leaves the pending connection readable: without the pause the
    listener would retry (and log) on every loop round."""
    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))

    errors = tmp_path / 'stderr'
    with open(errors, 'w') as stderr:
        server = subprocess.Popen(
            [sys.executable, os.path.join(EXAMPLES, 'danga_echo.py'), '--serve', '0'],
            stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT,
            preexec_fn=few_descriptors)
    clients = []
    try:
        port = listening_port(server)
        clients = [socket.create_connection(('127.0.0.1', port), timeout=RUN_TIMEOUT)
                   for _ in range(40)]
        clients[0].sendall(b'still served')
        assert clients[0].recv(100) == b'still served'
        time.sleep(0.5)         # the window in which a spinning listener would log
        failures = errors.read_text().count('accept failed')
        assert 1 <= failures <= 20, failures
        for client in clients[1:]:
            client.close()
        clients[0].close()
        with socket.create_connection(('127.0.0.1', port), timeout=RUN_TIMEOUT) as late:
            late.sendall(b'recovered')
            assert late.recv(100) == b'recovered'
    finally:
        for client in clients:
            client.close()
        stop(server)
def test_the_readme_futures_example_runs_as_shown():
    result = run('-c', readme_snippet(2))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'GET /\\r\\n' 5 b'hello'\nb'reply'\n"


@pytest.mark.parametrize('script, expected', [
    ('chat_server.py', ['alice hears: * bob joined', 'carol hears: bob: hello, both',
                        'bob hears: * carol left']),
    ('tls_echo.py', ['connected with TLS', "certificate verified for ['localhost'",
                     "echoed b'over TLS\\n'"]),
    ('streamserver_echo.py', ["echoed b'client 2 says hello\\n'"]),
    ('prefork_echo.py', ['with 2 workers', 'all workers stopped (exit status 0)',
                         '2 workers answered 16 connections']),
    ('socket_activation.py', ["serving on [('127.0.0.1'",
                              "echoed b'hello, activated service\\n'",
                              'stopped (0 connections closed unfinished) (exit status 0)']),
    ('redis_client.py', ["GET greeting -> b'hello\\r\\nworld'", 'INCR visits -> 2']),
])
def test_each_example_runs_its_demo(script, expected):
    result = run(os.path.join(EXAMPLES, script))
    assert result.returncode == 0, result.stdout + result.stderr
    for text in expected:
        assert text in result.stdout, result.stdout


@pytest.fixture
def redis_port(tmp_path):
    """A redis-server of its own on a free port of 127.0.0.1, working in tmp_path."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ['redis-server', '--port', str(port), '--bind', '127.0.0.1',
         '--dir', str(tmp_path), '--save', '', '--appendonly', 'no', '--logfile', ''],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        Lines(server.stdout).until('Ready to accept connections')
        yield port
    finally:
        server.terminate()
        server.communicate(timeout=RUN_TIMEOUT)


def test_the_redis_client_talks_resp_to_a_real_redis_server(redis_port):
    result = run(os.path.join(EXAMPLES, 'redis_client.py'), '--port', str(redis_port))
    assert result.returncode == 0, result.stdout + result.stderr
    *replies, error = result.stdout.splitlines()
    assert replies == [
        'PING -> \'PONG\'',
        "SET greeting b'hello\\r\\nworld' -> 'OK'",
        "GET greeting -> b'hello\\r\\nworld'",
        'GET no such key -> None',
        "SET visits 0 -> 'OK'",
        'INCR visits -> 1',
        'INCR visits -> 2']
    assert error.startswith('NO-SUCH-COMMAND -> RedisError("ERR unknown command')


def test_iostream_get_demo_fetches_its_page():
    result = run(os.path.join(EXAMPLES, 'iostream_get.py'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('HTTP/1.0 200 OK\n')  # text mode: CRLF read as LF
    assert 'Hello from the geventio IOStream demo.' in result.stdout
    assert 'request sent, waiting for reply...' in result.stderr


def test_iostream_get_keeps_the_urls_credentials_out_of_the_host_header():
    """``Host`` is the URL's host and port only (RFC 9110 section 7.2): a
    ``user:password@`` in the URL must not reach the server in it. The
    example's fetch() runs in this process against a server that keeps the
    request it got."""
    spec = importlib.util.spec_from_file_location(
        'iostream_get', os.path.join(EXAMPLES, 'iostream_get.py'))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    requests = []

    def serve(sock, _address):
        with sock:
            request = b''
            while b'\r\n\r\n' not in request:
                request += sock.recv(4096)
            requests.append(request)
            sock.sendall(b'HTTP/1.0 204 No Content\r\n\r\n')

    server = gevent.server.StreamServer(('127.0.0.1', 0), serve)
    server.start()
    try:
        reply = example.fetch(f'http://alice:s3cret@127.0.0.1:{server.server_port}/p?q=1')
    finally:
        server.stop()
    assert reply.startswith(b'HTTP/1.0 204')
    assert requests[0].startswith(
        b'GET /p?q=1 HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n' % server.server_port)
    assert b's3cret' not in requests[0] and b'alice' not in requests[0]


@pytest.fixture
def web_server(tmp_path):
    """Python's own http.server on 127.0.0.1 serving a page from tmp_path; yields
    its port and the path of its log (one line per request, with the client's
    address)."""
    site = tmp_path / 'site'
    site.mkdir()
    (site / 'page.html').write_text('<p>served by http.server</p>\n')
    port, log = free_port(), tmp_path / 'http.log'
    with running([sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1',
                  '--directory', str(site)], port, log=log):
        yield port, log


#: Where each proxy's connections come from, so that the web server's log
#: shows the request went through it (all of 127/8 is loopback).
PROXY_SOURCES = {None: '127.0.0.1', 'tinyproxy': '127.0.0.2', 'microsocks': '127.0.0.3'}


@pytest.mark.parametrize('through', [None, 'tinyproxy', 'microsocks'])
def test_iostream_get_fetches_from_a_local_server(through, web_server, tmp_path):
    web_port, log = web_server
    source = PROXY_SOURCES[through]
    with contextlib.ExitStack() as stack:
        args = [os.path.join(EXAMPLES, 'iostream_get.py'),
                f'http://127.0.0.1:{web_port}/page.html']
        if through == 'tinyproxy':
            port = stack.enter_context(tinyproxy(tmp_path, [web_port], bind=source))
            args += ['--proxy', f'http://127.0.0.1:{port}']
        elif through == 'microsocks':
            port = stack.enter_context(microsocks(bind=source))
            args += ['--proxy', f'socks5://127.0.0.1:{port}']
        result = run(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('HTTP/1.0 200 OK\n')  # text mode: CRLF read as LF
    assert result.stdout.endswith('<p>served by http.server</p>\n')
    assert f'{source} - - ' in log.read_text() and 'GET /page.html' in log.read_text()


def test_iostream_get_demo_through_tinyproxy(tmp_path):
    with tinyproxy(tmp_path) as port:
        result = run(os.path.join(EXAMPLES, 'iostream_get.py'),
                     '--proxy', f'http://127.0.0.1:{port}')
    assert result.returncode == 0, result.stderr
    assert 'Hello from the geventio IOStream demo.' in result.stdout
