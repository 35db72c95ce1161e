"""Helpers for the IOStream tests: a callback that records every call, the check
that no libev watcher outlives a test, a TLS echo peer and the rule for tools
that may be missing. Nothing here sends a packet off this machine."""

import contextlib
import os
import shutil
import socket
import ssl
import subprocess

import gevent
import gevent.socket
import gevent.ssl
import pytest
from gevent.event import Event

from conftest import WAIT, turn_the_hub
from geventio.iostream import IOStream

#: Every event bit: what the tests wait for when they want to see everything.
EVERYTHING = 63


class Calls(list):
    """A ``cb`` that records ``(events, err)`` of every call and can be waited on.

    ``then(io, events, err)``, when given, runs after the call was recorded.
    """

    def __init__(self, then=None):
        super().__init__()
        self.then = then
        self._changed = Event()

    def __call__(self, io, events, err):
        self.append((events, err))
        self._changed.set()
        if self.then is not None:
            self.then(io, events, err)

    def wait(self, predicate, what='the calls expected'):
        """Block until ``predicate(self)`` is true (WAIT seconds at most)."""
        while not predicate(self):
            self._changed.clear()
            assert self._changed.wait(WAIT), f'no {what} within {WAIT} s: {list(self)!r}'
        return self

    def wait_events(self, mask):
        """Block until one call had any of the event bits ``mask``."""
        return self.wait(lambda calls: any(e & mask for e, _ in calls), f'event {mask}')

    def wait_error(self):
        """Block until a call carried an error; returns that error."""
        self.wait(lambda calls: any(err is not None for _, err in calls), 'error')
        return next(err for _, err in self if err is not None)

    @property
    def events(self):
        """The events of every call, in order."""
        return [events for events, _ in self]

    @property
    def errors(self):
        return [err for _, err in self if err is not None]


@contextlib.contextmanager
def closing(*streams):
    """Close the IOStreams on the way out, whatever happened."""
    try:
        yield streams[0] if len(streams) == 1 else streams
    finally:
        for stream in streams:
            stream.close()


@pytest.fixture(autouse=True)
def no_watcher_left():
    """Every libev watcher and timer a test started is stopped by its end."""
    hub = gevent.get_hub()
    turn_the_hub()
    before = hub.loop.activecnt
    yield
    turn_the_hub()
    assert hub.loop.activecnt == before, 'a libev watcher or timer was left running'


def stream_on(sock, **fields):
    """An IOStream on ``sock`` wanting everything, recording its calls."""
    fields.setdefault('cb', Calls())
    fields.setdefault('wait_for', EVERYTHING)
    fields.setdefault('in_buf_limit', 0)
    return IOStream(fh=sock, **fields)


def need_tool(name):
    """The path of the program ``name``. Missing, the test is skipped on a
    developer's machine and fails in CI (``CI=true``), where .ci/run installs it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get('CI') == 'true':
            pytest.fail(f'{name} is not installed, and CI must run every test '
                        '(.ci/run installs it with apt-get)')
        pytest.skip(f'{name} is not installed (apt-get install {name})')
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with gevent.socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def wait_for_port(port, process):
    """Block until something accepts connections on 127.0.0.1:``port``."""
    with gevent.Timeout(WAIT, AssertionError(f'nothing listened on port {port}')):
        while True:
            assert process.poll() is None, f'{process.args[0]} exited: {process.returncode}'
            with gevent.socket.socket() as probe:
                if probe.connect_ex(('127.0.0.1', port)) == 0:
                    return
            gevent.sleep(0.02)


@contextlib.contextmanager
def tls_echo_server(context, family=socket.AF_INET):
    """``(host, port)`` of a TLS echo server on loopback, run by gevent's own
    ``SSLSocket`` (an implementation independent of the plugins under test).

    Yields the address; the list of errors its handshakes met is its
    ``errors`` attribute on the returned server socket.
    """
    host = '::1' if family == socket.AF_INET6 else '127.0.0.1'
    greenlets = []
    with gevent.socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, 0))
        server.listen(16)

        def echo(sock):
            with sock:
                try:
                    tls = context.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    return      # a client that refused the certificate
                with tls:
                    while True:
                        data = tls.recv(65536)
                        if not data:
                            break
                        tls.sendall(data)

        def accept():
            while True:
                sock, _ = server.accept()
                greenlets.append(gevent.spawn(echo, sock))

        acceptor = gevent.spawn(accept)
        try:
            yield server.getsockname()[:2]
        finally:
            acceptor.kill()
            gevent.killall(greenlets)


def gevent_server_context(ca, *names):
    """A gevent server context with a certificate from ``ca`` for ``names``."""
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*(names or ('localhost', '127.0.0.1', '::1'))).configure_cert(context)
    return context


@contextlib.contextmanager
def running(args, port, log=None):
    """Run ``args`` until the block ends; yields once it accepts on ``port``.
    Its output goes to the file ``log`` (default: nowhere)."""
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(open(log, 'wb')) if log else subprocess.DEVNULL
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=output)
        stack.enter_context(_stopping(process))
        wait_for_port(port, process)
        yield port


@contextlib.contextmanager
def _stopping(process):
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def tinyproxy(tmp_path, connect_ports=(), user=None, password=None, bind=None):
    """A real tinyproxy on 127.0.0.1 (config file in ``tmp_path``); yields its port.

    CONNECT goes only to ``connect_ports`` (all ports when empty: tinyproxy's
    rule when the config has no ConnectPort); with ``user``, Basic auth is
    required; with ``bind``, its outgoing connections come from that address.
    """
    program = need_tool('tinyproxy')
    port = free_port()
    lines = [f'Port {port}', 'Listen 127.0.0.1', 'Timeout 30', 'MaxClients 20',
             'Allow 127.0.0.1', 'LogLevel Info',
             f'LogFile "{tmp_path / "tinyproxy.log"}"',
             f'PidFile "{tmp_path / "tinyproxy.pid"}"']
    lines += [f'ConnectPort {allowed}' for allowed in connect_ports]
    if user is not None:
        lines.append(f'BasicAuth {user} {password}')
    if bind is not None:
        lines.append(f'Bind {bind}')
    config = tmp_path / 'tinyproxy.conf'
    config.write_text('\n'.join(lines) + '\n')
    with running([program, '-d', '-c', str(config)], port):
        yield port


@contextlib.contextmanager
def microsocks(user=None, password=None, bind=None):
    """A real microsocks (SOCKS5) on 127.0.0.1; yields its port. With ``bind``,
    its outgoing connections come from that address."""
    program = need_tool('microsocks')
    port = free_port()
    args = [program, '-i', '127.0.0.1', '-p', str(port)]
    if bind is not None:
        args += ['-b', bind]
    if user is not None:
        args += ['-u', user, '-P', password]
    with running(args, port):
        yield port
