"""systemd socket activation: serve on a listening socket handed over by the supervisor.

systemd (``ListenStream=`` in a ``.socket`` unit) opens and listens on the
socket itself, then starts the service with the socket as file descriptor 3,
``LISTEN_FDS=1`` and ``LISTEN_PID`` set to the service's process id
(sd_listen_fds(3)). ``socket.socket(fileno=3)`` takes it over and
``loop.listen(handle=...)`` accepts on it: the port is open before the
service starts, and stays open across restarts. SIGTERM (what systemd sends
to stop a service) shuts the loop down gracefully. docs/gevent.md has the
unit files.

    python examples/socket_activation.py   # demo: plays systemd's part, then exits

Run under systemd (or ``systemd-socket-activate -l 127.0.0.1:8007 python
examples/socket_activation.py``), it serves an echo until stopped.
"""

import os
import signal
import socket
import sys

import gevent
import gevent.socket
import gevent.subprocess

import geventio

#: The first inherited descriptor (SD_LISTEN_FDS_START in sd-daemon.h).
LISTEN_FDS_START = 3

#: Seconds the graceful shutdown may take before it closes what is left.
SHUTDOWN_TIMEOUT = 5

#: Seconds the demo waits for any one step.
DEMO_TIMEOUT = 10


def inherited_sockets():
    """The listening sockets systemd passed to this process (none when it was
    not socket-activated). The variables are removed so that a child process
    does not take them as meant for itself."""
    if os.environ.get('LISTEN_PID') != str(os.getpid()):
        return []
    count = int(os.environ.get('LISTEN_FDS', '0'))
    for name in ('LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'):
        os.environ.pop(name, None)
    return [socket.socket(fileno=fd)
            for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + count)]


def serve(sockets):
    """Echo on every inherited socket until SIGTERM, then shut down gracefully."""
    loop = geventio.Loop()

    def on_stream(stream):
        def echo(stream, buffer, eof):
            stream.write(bytes(buffer))
            del buffer[:]
            return 0
        stream.configure(on_read=echo)
        loop.add(stream)

    for sock in sockets:
        loop.listen(handle=sock, on_stream=on_stream).get(timeout=10)
    loop.watch_signal('TERM', loop.stop)
    print(f'serving on {[sock.getsockname() for sock in sockets]}', flush=True)
    loop.run()
    left = loop.shutdown(timeout=SHUTDOWN_TIMEOUT)
    print(f'stopped ({left} connections closed unfinished)', flush=True)


def demo():
    """Do what systemd does: listen, start this script with the socket as
    descriptor 3, talk to it, stop it; True if it echoed and exited 0."""
    with gevent.socket.socket() as listening:
        listening.bind(('127.0.0.1', 0))
        listening.listen()
        address = listening.getsockname()

        def hand_over():
            # In the child, before it runs Python: descriptor 3 and the variables.
            os.dup2(listening.fileno(), LISTEN_FDS_START)
            os.environ['LISTEN_FDS'] = '1'
            os.environ['LISTEN_PID'] = str(os.getpid())

        child = gevent.subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                                        preexec_fn=hand_over, pass_fds=[LISTEN_FDS_START],
                                        stdout=gevent.subprocess.PIPE, text=True)
    # The child holds the only listening socket now; connecting needs no wait
    # for it to start: the kernel queues the connection meanwhile.
    try:
        with gevent.Timeout(DEMO_TIMEOUT):
            with gevent.socket.create_connection(address) as client:
                client.sendall(b'hello, activated service\n')
                echoed = client.makefile('rb').readline()
            print(f'service: {child.stdout.readline().strip()}')
            print(f'echoed {echoed!r}')
            child.send_signal(signal.SIGTERM)
            rest, _ = child.communicate()
        print(f'service: {rest.strip()} (exit status {child.returncode})')
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return echoed == b'hello, activated service\n' and child.returncode == 0


def main():
    sockets = inherited_sockets()
    if not sockets:
        return 0 if demo() else 1
    serve(sockets)
    return 0


if __name__ == '__main__':
    sys.exit(main())
