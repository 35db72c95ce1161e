"""The command line and the examples run as their documentation says."""

import ast
import os
import subprocess
import sys

import pytest

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


def test_the_readme_stream_example_runs_as_shown():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as readme:
        text = readme.read()
    first = text.split('```python\n', 1)[1].split('```', 1)[0]
    result = run('-c', first)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'HELLO\\nWORLD\\n'\nclosed\n"
