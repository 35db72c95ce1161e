"""The byte layer's write queue on its own: merging, the call budget, partial sends
and the order of the piece hooks, over a real non-blocking socket whose ``send``
is wrapped to count the system calls."""

import os
import socket

import pytest

from geventio._io.writequeue import (BLOCKED, DRAINED, MORE, NOT_YET, WAITING, Piece,
                                     SendError, WriteQueue)


class Recorded(Piece):
    """A queued write that notes each hook the queue calls in a shared log."""

    __slots__ = ('data', 'offset', 'limit', 'source', 'name', 'log')

    def __init__(self, name, log, data=None, limit=65536, source=None):
        self.name, self.log = name, log
        self.data, self.offset, self.limit, self.source = data, 0, limit, source

    def pull(self):
        return self.source()

    def written(self, count):
        self.log.append((self.name, 'written', count))

    def flushed(self):
        self.log.append((self.name, 'flushed'))

    def failed(self, err):
        self.log.append((self.name, 'failed', err))


class CountingSend:
    """``send`` of a real non-blocking socket, keeping what each call was offered
    (a call that would block is kept too: it is a system call all the same)."""

    def __init__(self, sock):
        self._sock = sock
        self.calls = []

    def __call__(self, data):
        self.calls.append(bytes(data))
        return self._sock.send(data)


class CountingGather:
    """``os.writev`` on a real non-blocking socket, keeping the buffers of each
    call (``offered``: the objects themselves; ``calls``: their bytes)."""

    def __init__(self, sock):
        self._fd = sock.fileno()
        self.calls = []
        self.offered = []

    def __call__(self, buffers):
        self.offered.append(list(buffers))
        self.calls.append([bytes(buffer) for buffer in buffers])
        return os.writev(self._fd, buffers)


@pytest.fixture
def unix_pair(sockets):
    """A non-blocking stdlib unix stream pair (writer, reader)."""
    writer, reader = sockets.keep(*socket.socketpair())
    writer.setblocking(False)
    return writer, reader


def queue_of(log, *pieces, limit=65536):
    queue = WriteQueue()
    for name, data in pieces:
        queue.append(Recorded(name, log, data, limit))
    return queue


def test_two_small_pieces_go_out_in_one_send(unix_pair):
    writer, reader = unix_pair
    log = []
    queue = queue_of(log, ('one', b'one'), ('two', b'two'))
    send = CountingSend(writer)
    assert queue.flush(send) is DRAINED
    assert send.calls == [b'onetwo']
    assert log == [('one', 'written', 3), ('one', 'flushed'),
                   ('two', 'written', 3), ('two', 'flushed')]
    assert reader.recv(100) == b'onetwo'


def test_merging_stops_at_the_limit_and_shares_out_the_count_in_order(unix_pair):
    writer, reader = unix_pair
    log = []
    queue = queue_of(log, ('a', b'aaa'), ('b', b'bbb'), ('c', b'ccc'), limit=6)
    send = CountingSend(writer)
    assert queue.flush(send) is DRAINED
    assert send.calls == [b'aaabbb', b'ccc']
    assert log == [('a', 'written', 3), ('a', 'flushed'), ('b', 'written', 3),
                   ('b', 'flushed'), ('c', 'written', 3), ('c', 'flushed')]
    assert reader.recv(100) == b'aaabbbccc'


def test_a_call_budget_of_one_makes_one_send_and_says_more(unix_pair):
    """The fairness rule: one system call per write-readiness, however much the
    kernel would take."""
    writer, reader = unix_pair
    log = []
    queue = queue_of(log, ('a', b'aaaa'), ('b', b'bbbb'), ('c', b'cccc'), limit=4)
    send = CountingSend(writer)
    assert queue.flush(send, calls=1) is MORE
    assert send.calls == [b'aaaa']
    assert queue.flush(send, calls=1) is MORE
    assert queue.flush(send, calls=1) is DRAINED
    assert send.calls == [b'aaaa', b'bbbb', b'cccc']
    assert queue.flush(send, calls=1) is DRAINED
    assert len(send.calls) == 3
    assert reader.recv(100) == b'aaaabbbbcccc'


def test_a_budget_of_zero_sends_nothing(unix_pair):
    writer, _ = unix_pair
    log = []
    queue = queue_of(log, ('a', b'a'))
    send = CountingSend(writer)
    assert queue.flush(send, calls=0) is MORE
    assert send.calls == [] and log == [] and len(queue) == 1


def test_a_partial_send_means_the_kernel_is_full_without_a_second_call(unix_pair):
    """The kernel took only part of the chunk: its buffer is full, so the queue
    says BLOCKED at once rather than asking again to hear EAGAIN."""
    writer, reader = unix_pair
    writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    big = b'x' * (1024 * 1024)
    log = []
    queue = queue_of(log, ('big', big), limit=len(big))
    send = CountingSend(writer)
    assert queue.flush(send) is BLOCKED
    assert len(send.calls) == 1
    [(name, hook, count)] = log
    assert (name, hook) == ('big', 'written') and 0 < count < len(big)
    assert queue[0].offset == count


def test_a_send_that_would_block_leaves_the_piece_untouched(unix_pair):
    writer, _ = unix_pair
    writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    try:
        while True:
            writer.send(b'f' * 4096)
    except BlockingIOError:
        pass
    log = []
    queue = queue_of(log, ('a', b'abc'))
    send = CountingSend(writer)
    assert queue.flush(send) is BLOCKED
    assert send.calls == [b'abc'] and log == []
    assert queue[0].offset == 0 and len(queue) == 1


def test_a_source_is_pulled_when_reached_and_never_merged(unix_pair):
    writer, reader = unix_pair
    log = []
    chunks = [b'gen1', b'gen2']
    queue = queue_of(log, ('plain', b'p'))
    queue.append(Recorded('source', log, source=lambda: chunks.pop(0) if chunks else None))
    queue.append(Recorded('after', log, b'z'))
    send = CountingSend(writer)
    assert queue.flush(send) is DRAINED
    assert send.calls == [b'p', b'gen1', b'gen2', b'z']
    assert log == [('plain', 'written', 1), ('plain', 'flushed'),
                   ('source', 'written', 4), ('source', 'written', 4),
                   ('source', 'flushed'), ('after', 'written', 1), ('after', 'flushed')]
    assert reader.recv(100) == b'pgen1gen2z'


def test_a_source_with_nothing_yet_stops_the_flush_where_it_is(unix_pair):
    writer, _ = unix_pair
    log = []
    queue = WriteQueue()
    queue.append(Recorded('source', log, source=lambda: NOT_YET))
    queue.append(Recorded('after', log, b'z'))
    send = CountingSend(writer)
    assert queue.flush(send) is WAITING
    assert send.calls == [] and log == [] and len(queue) == 2


def test_an_empty_piece_is_flushed_without_a_system_call(unix_pair):
    writer, reader = unix_pair
    log = []
    queue = queue_of(log, ('marker', b''))
    send = CountingSend(writer)
    assert queue.flush(send) is DRAINED
    assert send.calls == [] and log == [('marker', 'flushed')]


def test_fail_all_tells_every_piece_in_order_and_empties_the_queue():
    log = []
    queue = queue_of(log, ('a', b'a'), ('b', b'b'))
    err = BrokenPipeError()
    queue.fail_all(err)
    assert log == [('a', 'failed', err), ('b', 'failed', err)]
    assert not queue


def test_a_send_error_leaves_the_head_queued_for_the_owner(unix_pair):
    writer, reader = unix_pair
    reader.close()
    log = []
    queue = queue_of(log, ('a', b'a'))
    with pytest.raises(SendError) as failed:
        queue.flush(CountingSend(writer))
    assert isinstance(failed.value.error, BrokenPipeError)
    assert log == [] and len(queue) == 1


def test_an_oserror_from_a_hook_is_not_a_send_error(unix_pair):
    # The hooks run the owner's user code: what they raise is theirs, even an
    # OSError, and must not read as the writer failing.
    writer, _reader = unix_pair

    class Raising(Piece):
        __slots__ = ('data', 'offset', 'limit', 'source')

        def flushed(self):
            raise ConnectionRefusedError('a callback of the owner')

    piece = Raising()
    piece.data, piece.offset, piece.limit, piece.source = b'x', 0, 65536, None
    queue = WriteQueue([piece])
    with pytest.raises(ConnectionRefusedError):
        queue.flush(CountingSend(writer))


def test_with_gather_small_pieces_go_out_in_one_call_without_joining(unix_pair):
    writer, reader = unix_pair
    log = []
    queue = queue_of(log, ('one', b'one'), ('two', b'two'), ('three', b'three'))
    send, gather = CountingSend(writer), CountingGather(writer)
    assert queue.flush(send, gather=gather) is DRAINED
    assert send.calls == [] and gather.calls == [[b'one', b'two', b'three']]
    assert log == [('one', 'written', 3), ('one', 'flushed'), ('two', 'written', 3),
                   ('two', 'flushed'), ('three', 'written', 5), ('three', 'flushed')]
    assert reader.recv(100) == b'onetwothree'


def test_a_partly_sent_head_goes_out_with_the_pieces_behind_it_uncopied(unix_pair):
    """The kernel was full: the rest of the head and the next pieces go out
    together in one gather call, the head as a view of its own bytes (joining
    them copied up to a whole write_len per send)."""
    writer, reader = unix_pair
    writer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    head = bytes(range(256)) * 256                  # 64 KiB
    log = []
    queue = queue_of(log, ('head', head), ('next', b'n' * 1000), ('last', b'l' * 1000),
                     limit=len(head))
    send, gather = CountingSend(writer), CountingGather(writer)
    assert queue.flush(send, gather=gather) is BLOCKED
    taken = queue[0].offset
    assert 0 < taken < len(head) and len(send.calls) == 1 and not gather.calls
    received = b''
    while len(received) < taken:
        received += reader.recv(65536)
    assert queue.flush(send, calls=1, gather=gather) is not DRAINED
    [(first, *behind)] = gather.offered
    assert isinstance(first, memoryview) and first.obj is head
    assert bytes(first) == head[taken:]
    assert behind == [b'n' * 1000, b'l' * 1000]
    assert len(send.calls) == 1
