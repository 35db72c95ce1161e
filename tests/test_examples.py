"""The command line and the examples run as their documentation says."""

import ast
import contextlib
import os
import subprocess
import sys

import pytest

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


def test_the_readme_stream_example_runs_as_shown():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as readme:
        text = readme.read()
    first = text.split('```python\n', 1)[1].split('```', 1)[0]
    result = run('-c', first)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "b'HELLO\\nWORLD\\n'\nclosed\n"


def test_iostream_get_demo_fetches_its_page():
    result = run(os.path.join(EXAMPLES, 'iostream_get.py'))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('HTTP/1.0 200 OK\n')  # text mode: CRLF read as LF
    assert 'Hello from the geventio IOStream demo.' in result.stdout
    assert 'request sent, waiting for reply...' in result.stderr


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
