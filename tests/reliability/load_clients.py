"""Echo clients for the scale tests and the soak, in a process of their own (so
that the server's descriptors, memory and CPU time are counted apart).

Usage: ``python load_clients.py PORT MODE ...``, printing one JSON line per
phase on standard output:

- ``concurrent N``: open N connections, echo one numbered message on each and
  check it; print ``{"phase": "holding"}`` with every connection still open;
  on a line from standard input echo a second message on each, close them all
  and print ``{"phase": "done", ...}``.
- ``cycles N WORKERS``: WORKERS greenlets make N connect/echo/close cycles in
  all; print ``{"phase": "done", ...}``.
- ``mixed SECONDS UDP_PORT``: for the soak, run well-behaved line-echo cycles
  (and datagram echoes to UDP_PORT) beside hostile peers for SECONDS; print
  ``{"phase": "done", ...}`` with a count of each.

Every echoed byte is compared with the byte sent. Sources are spread over
127.0.0.2-127.0.0.201 so that a hundred thousand short connections do not run
out of ephemeral ports while earlier ones sit in TIME_WAIT.
"""

import json
import random
import resource
import socket
import struct
import sys
import time

import gevent
import gevent.pool
import gevent.socket
from gevent.event import Event

#: Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h): bind an address now, choose
#: the port at connect(), so each source address has its own port range.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, 'IP_BIND_ADDRESS_NO_PORT', 24)

#: Connections being set up at once: below the server's accept queue.
CONNECT_BATCH = 256

#: Seconds any single network operation may take before it counts as failed.
TIMEOUT = 10


def report(**fields):
    print(json.dumps(fields), flush=True)


def connect(port, number):
    sock = gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    sock.bind((f'127.0.0.{2 + number % 200}', 0))
    sock.connect(('127.0.0.1', port))
    return sock


def echo_once(sock, message):
    sock.sendall(message)
    got = b''
    while len(got) < len(message):
        chunk = sock.recv(len(message) - len(got))
        if not chunk:
            raise EOFError('closed before the echo came back')
        got += chunk
    if got != message:
        raise ValueError(f'sent {message!r}, got back {got!r}')


def concurrent(port, count):
    pool = gevent.pool.Pool(CONNECT_BATCH)
    socks = [None] * count

    def first(number):
        socks[number] = connect(port, number)
        echo_once(socks[number], b'first %09d\n' % number)

    started = time.monotonic()
    pool.map(first, range(count))
    report(phase='holding', connections=count, seconds=round(time.monotonic() - started, 2))
    sys.stdin.readline()
    pool.map(lambda n: echo_once(socks[n], b'again %09d\n' % n), range(count))
    for sock in socks:
        sock.close()
    report(phase='done', connections=count)


def cycles(port, count, workers):
    left = [count]
    errors = []

    def work(worker):
        while left[0] > 0:
            left[0] -= 1
            number = left[0]
            try:
                with connect(port, number) as sock:
                    echo_once(sock, struct.pack('!Q', number))
            except (OSError, EOFError, ValueError) as err:
                errors.append(repr(err))

    started = time.monotonic()
    gevent.joinall([gevent.spawn(work, w) for w in range(workers)], raise_error=True)
    report(phase='done', cycles=count, errors=len(errors), first_errors=errors[:3],
           seconds=round(time.monotonic() - started, 2))


def mixed(port, seconds, udp_port):
    """Honest line echoes beside hostile peers, for ``seconds``."""
    deadline = time.monotonic() + seconds
    counts = {'cycles': 0, 'datagrams': 0, 'errors': 0, 'floods': 0, 'idlers': 0,
              'resets': 0, 'long_lines': 0, 'oversized': 0}
    stop = Event()

    def honest(worker):
        rng, number = random.Random(worker), worker
        while not stop.is_set():
            number += 1000
            try:
                with connect(port, number) as sock:
                    for line in range(rng.randint(1, 5)):
                        echo_once(sock, b'%d:%d\n' % (number, line))
                counts['cycles'] += 1
            except (OSError, EOFError, ValueError):
                counts['errors'] += 1

    def datagrams():
        with gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            number = 0
            while not stop.is_set():
                number += 1
                for _ in range(10):
                    sock.sendto(b'O' * 2048, ('127.0.0.1', udp_port))
                    counts['oversized'] += 1
                message = b'datagram %d' % number
                sock.sendto(message, ('127.0.0.1', udp_port))
                try:
                    if sock.recvfrom(100)[0] != message:
                        counts['errors'] += 1
                except OSError:
                    counts['errors'] += 1
                counts['datagrams'] += 1
                gevent.sleep(0.01)

    def hostile(kind, action):
        number = 500000
        while not stop.is_set():
            number += 1
            try:
                with connect(port, number) as sock:
                    action(sock)
            except OSError:
                pass                        # the server cut it off: expected
            counts[kind] += 1
            gevent.sleep(0.05)

    def flood(sock):
        """Lines whose echoes are never read, until the server gives up."""
        chunk = (b'f' * 1023 + b'\n') * 64
        for _ in range(2048):
            sock.sendall(chunk)

    def idle(sock):
        """Say nothing until the server's idle timeout closes the connection."""
        sock.recv(1)

    def reset(sock):
        sock.sendall(b'half a li')
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))

    def long_line(sock):
        """A line longer than the server's max_len, in small pieces."""
        for _ in range(256):
            sock.sendall(b'x' * 1024)

    greenlets = [gevent.spawn(honest, w) for w in range(8)]
    greenlets += [gevent.spawn(datagrams),
                  gevent.spawn(hostile, 'floods', flood),
                  gevent.spawn(hostile, 'idlers', idle),
                  gevent.spawn(hostile, 'resets', reset),
                  gevent.spawn(hostile, 'long_lines', long_line)]
    gevent.sleep(max(0.0, deadline - time.monotonic()))
    stop.set()
    gevent.joinall(greenlets, timeout=TIMEOUT * 2)
    gevent.killall(greenlets)
    report(phase='done', **counts)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port, mode, *args = sys.argv[1:]
    port = int(port)
    if mode == 'concurrent':
        concurrent(port, int(args[0]))
    elif mode == 'cycles':
        cycles(port, int(args[0]), int(args[1]))
    elif mode == 'mixed':
        mixed(port, float(args[0]), int(args[1]))
    else:
        raise SystemExit(f'unknown mode {mode!r}')


if __name__ == '__main__':
    main()
