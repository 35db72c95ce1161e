"""An echo server on every core: ``prefork`` workers sharing a port with SO_REUSEPORT.

Each worker process runs its own gevent hub and `Loop` and listens on the same
port with ``listen(reuseport=True)``; the kernel spreads new connections
across them. ``geventio.server.prefork`` starts the workers, replaces one that
dies and, on SIGTERM or Ctrl-C, stops them all. Each worker watches SIGTERM
itself and shuts down gracefully (`Loop.shutdown`): replies in flight still
go out.

    python examples/prefork_echo.py                          # demo, then exit
    python examples/prefork_echo.py --serve 8007 --workers 4 # serve until Ctrl-C

The demo starts the second form as a child process on a free port, connects
a few times, shows which worker answered each time, and stops it with SIGTERM.
"""

import argparse
import os
import signal
import socket
import sys

import gevent
import gevent.socket
import gevent.subprocess

import geventio
from geventio.server import prefork

#: Seconds a worker's graceful shutdown may take before it closes what is left.
SHUTDOWN_TIMEOUT = 5

#: Seconds the demo waits for any one step.
DEMO_TIMEOUT = 10

#: Connections the demo makes: enough that the kernel's hash almost surely
#: picks each of two workers at least once.
DEMO_CONNECTIONS = 16


def serve(host, port):
    """One worker: greet each client with this process's id, then echo."""
    loop = geventio.Loop()

    def on_stream(stream):
        def echo(stream, buffer, eof):
            stream.write(bytes(buffer))
            del buffer[:]
            return 0
        stream.configure(on_read=echo)
        loop.add(stream)
        stream.write(f'worker {os.getpid()}\n'.encode())

    loop.listen(host=host, service=port, socktype='stream', reuseport=True,
                on_stream=on_stream).get(timeout=10)
    loop.watch_signal('TERM', loop.stop)
    # One write per line: the workers share the parent's standard output.
    sys.stdout.write(f'worker {os.getpid()} listening\n')
    sys.stdout.flush()
    loop.run()
    loop.shutdown(timeout=SHUTDOWN_TIMEOUT)


def reserve_port(host, port):
    """A socket bound to (host, port) with SO_REUSEPORT but not listening: it
    keeps a free port (``port`` 0) for the workers without taking connections."""
    sock = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_server(host, port, workers):
    with reserve_port(host, port) as reserved:
        port = reserved.getsockname()[1]
        print(f'echoing on {host} port {port} with {workers} workers', flush=True)
        prefork(workers, lambda: serve(host, port))
    print('all workers stopped', flush=True)


def demo():
    """Run the server as a child, talk to it, stop it; True if all went well."""
    child = gevent.subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), '--serve', '0', '--workers', '2'],
        stdout=gevent.subprocess.PIPE, text=True)
    try:
        with gevent.Timeout(DEMO_TIMEOUT):
            line = child.stdout.readline()
            print(f'server: {line.strip()}')
            port = int(line.split(' port ')[1].split()[0])
            for _ in range(2):
                print(f'server: {child.stdout.readline().strip()}')
            answered = [ask(port, n) for n in range(DEMO_CONNECTIONS)]
            child.send_signal(signal.SIGTERM)
            rest, _ = child.communicate()
        print(f'server: {rest.strip()} (exit status {child.returncode})')
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    print(f'{len(set(answered))} workers answered {len(answered)} connections')
    return None not in answered and child.returncode == 0


def ask(port, n):
    """One connection: the worker that answered, or None if the echo was wrong."""
    with gevent.socket.create_connection(('127.0.0.1', port)) as sock:
        reader = sock.makefile('rb')
        worker = reader.readline().split()[1].decode()
        message = f'message {n}\n'.encode()
        sock.sendall(message)
        return worker if reader.readline() == message else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--serve', metavar='PORT', type=int,
                        help='serve on PORT until interrupted (default: run the demo)')
    parser.add_argument('--workers', type=int, default=os.cpu_count(),
                        help='worker processes (default: one per core)')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on')
    args = parser.parse_args(argv)
    if args.serve is None:
        return 0 if demo() else 1
    run_server(args.host, args.serve, args.workers)
    return 0


if __name__ == '__main__':
    sys.exit(main())
