"""The command line and the examples run as their documentation says."""

import ast
import os
import socket
import subprocess
import sys

import pytest

from childproc import Lines

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
