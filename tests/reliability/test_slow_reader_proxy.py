"""A proxy between a fast producer and a slow consumer holds no more than its
write high watermark: the downstream stream's ``on_write_high_watermark``
pauses reading upstream, ``on_write_low_watermark`` resumes it, and every byte
arrives in order. Without the pause the proxy would buffer all the producer
sends (here 32 MiB; from a peer that never reads, up to ``max_write_queue``)."""

import hashlib
import random

import gevent
import gevent.socket

import geventio
from conftest import WAIT
from .measure import MIB, Usage, rss_mib

#: What the producer sends.
TOTAL = 32 * MIB

#: The downstream write watermarks of the proxy.
HIGH, LOW = 1 * MIB, 256 * 1024

#: The consumer reads `SIP` bytes, then lets `PAUSE` seconds pass: about a
#: tenth of what loopback can carry.
SIP, PAUSE = 256 * 1024, 0.002


def produce(sock, seed):
    """Send `TOTAL` pseudo-random bytes; returns their SHA-256."""
    generator, digest = random.Random(seed), hashlib.sha256()
    with sock:
        for _ in range(TOTAL // MIB):
            chunk = generator.randbytes(MIB)
            digest.update(chunk)
            sock.sendall(chunk)
    return digest.hexdigest()


def consume(sock):
    """Read slowly until EOF; returns the SHA-256 of what came and its length."""
    digest, size = hashlib.sha256(), 0
    with sock:
        while True:
            chunk = sock.recv(SIP)
            if not chunk:
                return digest.hexdigest(), size
            digest.update(chunk)
            size += len(chunk)
            gevent.sleep(PAUSE)


def test_a_proxy_pauses_its_source_at_the_write_high_watermark(loop, sockets, figures):
    upstream_sock, producer = sockets.keep(*gevent.socket.socketpair())
    downstream_sock, consumer = sockets.keep(*gevent.socket.socketpair())
    most = [0]

    def forward(stream, buffer, eof):
        if buffer:
            downstream.write(bytes(buffer))
            del buffer[:]
            most[0] = max(most[0], downstream.write_queued)
        if eof:
            downstream.close_when_empty()
        return 0

    upstream = geventio.Stream(handle=upstream_sock, on_read=forward, read_len=65536)
    downstream = geventio.Stream(
        handle=downstream_sock, on_read=lambda s, b, e: 0, write_len=65536,
        write_high_watermark=HIGH, write_low_watermark=LOW,
        on_write_high_watermark=lambda s, q: setattr(upstream, 'want_readready', False),
        on_write_low_watermark=lambda s, q: setattr(upstream, 'want_readready', True))
    loop.add(upstream)
    loop.add(downstream)
    before = Usage()
    peak = [before.rss]

    def sample():
        while True:
            peak[0] = max(peak[0], rss_mib())
            gevent.sleep(0.01)

    sampler = gevent.spawn(sample)
    sent = gevent.spawn(produce, producer, 15)
    received = gevent.spawn(consume, consumer)
    digest, size = received.get(timeout=WAIT * 6)
    sampler.kill()
    assert size == TOTAL and digest == sent.get(timeout=WAIT)
    assert most[0] <= HIGH + 65536, f'{most[0] / MIB:.1f} MiB queued'
    figures(total_mib=TOTAL // MIB, most_queued_kib=most[0] // 1024,
            peak_rss_mib=round(peak[0] - before.rss, 1))
