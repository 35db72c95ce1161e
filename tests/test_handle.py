"""Handle: readiness events on its own greenlet, want flags, closing and reuse."""

import os
import subprocess
import sys
import textwrap

import gevent
import pytest
from gevent.event import Event
from greenlet import getcurrent

import geventio
from conftest import Log, settle, wait


def test_read_ready_fires_on_the_handles_own_greenlet(loop, socketpair):
    a, b = socketpair
    seen = []
    ready = Event()

    def on_read_ready(handle):
        seen.append((handle.read_handle.recv(10), getcurrent()))
        ready.set()

    handle = geventio.Handle(handle=a, on_read_ready=on_read_ready)
    loop.add(handle)
    b.sendall(b'hi')
    ready.wait()
    assert seen[0][0] == b'hi'
    assert seen[0][1] is not getcurrent()
    handle.close()


def test_write_ready_fires_only_while_wanted(loop, socketpair):
    a, _ = socketpair
    calls = []

    def on_write_ready(handle):
        calls.append(1)
        handle.want_writeready = False

    handle = geventio.Handle(handle=a, on_read_ready=lambda h: None,
                             want_readready=False, on_write_ready=on_write_ready)
    loop.add(handle)
    handle.want_writeready = True
    while not calls:
        loop.loop_once(timeout=5)
    loop.later(loop.stop)
    loop.run()
    assert calls == [1]
    handle.close()


def test_wanting_readiness_without_that_handle_raises(pipe):
    rfile, wfile = pipe
    reader = geventio.Handle(read_handle=rfile, on_read_ready=lambda h: None)
    with pytest.raises(ValueError, match='want_writeready'):
        reader.want_writeready = True
    writer = geventio.Handle(write_handle=wfile)
    with pytest.raises(ValueError, match='want_readready'):
        writer.want_readready = True


def test_a_handle_wanting_reads_needs_on_read_ready_to_join(loop, socketpair):
    with pytest.raises(TypeError, match='on_read_ready'):
        loop.add(geventio.Handle(handle=socketpair[0]))


def test_a_handle_that_does_not_want_reads_needs_no_on_read_ready(loop, socketpair):
    a, _ = socketpair
    ready = Event()

    def on_write_ready(handle):
        handle.want_writeready = False
        ready.set()

    handle = geventio.Handle(handle=a, want_readready=False, want_writeready=True,
                             on_write_ready=on_write_ready)
    loop.add(handle)
    wait(ready)
    handle.close()


def test_bad_handle_and_flag_types_are_rejected():
    with pytest.raises(TypeError, match='handle'):
        geventio.Handle(handle='not a file')
    with pytest.raises(TypeError, match='want_readready'):
        geventio.Handle(want_readready='yes')
    with pytest.raises(TypeError, match='either|not both'):
        geventio.Handle(handle=None, read_handle=None)


def test_close_is_idempotent_fires_on_closed_once_and_leaves_the_loop(loop, socketpair):
    a, b = socketpair
    closed = []
    handle = geventio.Handle(handle=a, on_read_ready=lambda h: None,
                             on_closed=lambda h: closed.append(h.loop))
    loop.add(handle)
    future = handle.new_close_future()
    handle.close()
    handle.close()
    assert closed == [loop]
    assert future.get() is handle
    assert handle.is_closed and handle.loop is None
    assert loop.notifiers == ()
    assert b.recv(1) == b''
    assert handle.new_close_future().ready()


def test_closing_a_child_handle_leaves_its_parent_in_a_loop_or_not(loop, socketpair):
    """close() leaves whatever holds the handle: its parent, whether or not
    the parent is in a loop yet."""
    a, b = socketpair
    parent = geventio.Notifier()
    outside = geventio.Handle(handle=a, want_readready=False)
    parent.add_child(outside)
    outside.close()
    assert parent.children == () and outside.parent is None
    inside = geventio.Handle(handle=b, want_readready=False)
    parent.add_child(inside)
    loop.add(parent)
    inside.close()
    assert parent.children == () and inside.parent is None and inside.loop is None
    loop.remove(parent)


def test_split_handles_close_each_side_and_then_fire_on_closed(loop):
    rfd, wfd = os.pipe()
    rfd2, wfd2 = os.pipe()
    reader, writer = os.fdopen(rfd, 'rb', 0), os.fdopen(wfd2, 'wb', 0)
    closed = []
    handle = geventio.Handle(read_handle=reader, write_handle=writer,
                             on_read_ready=lambda h: None,
                             on_closed=lambda h: closed.append(True))
    loop.add(handle)
    handle.close_read()
    assert reader.closed and not writer.closed and closed == []
    handle.close_write()
    assert writer.closed and closed == [True]
    os.close(wfd)
    os.close(rfd2)


def test_closing_one_side_stops_wanting_readiness_on_it(loop, socketpair):
    """After close_read() a handle no longer says it wants to read (it has
    nothing to read from), and after close_write() likewise for writing; the
    other side stays as it was."""
    handles = [geventio.Handle(handle=sock, want_writeready=True,
                               on_read_ready=lambda h: None, on_write_ready=lambda h: None)
               for sock in socketpair]
    for handle in handles:
        loop.add(handle)
    reader_gone, writer_gone = handles
    reader_gone.close_read()
    assert not reader_gone.want_readready and reader_gone.want_writeready
    writer_gone.close_write()
    assert not writer_gone.want_writeready and writer_gone.want_readready
    assert not any(handle.is_closed for handle in handles)
    for handle in handles:
        handle.close()


def test_a_closed_handle_can_be_reused_with_a_new_handle(loop, sockets):
    first = sockets.keep(*gevent.socket.socketpair())
    second = sockets.keep(*gevent.socket.socketpair())
    got = []
    ready = Event()

    def on_read_ready(handle):
        got.append(handle.read_handle.recv(10))
        ready.set()

    handle = geventio.Handle(handle=first[0], on_read_ready=on_read_ready)
    loop.add(handle)
    handle.close()
    handle.set_handle(second[0])
    assert not handle.is_closed
    loop.add(handle)
    second[1].sendall(b'again')
    ready.wait()
    assert got == [b'again']
    handle.close()


def test_a_raising_callback_closes_only_its_handle(loop, sockets, callback_errors):
    bad_pair = sockets.keep(*gevent.socket.socketpair())
    good_pair = sockets.keep(*gevent.socket.socketpair())
    good = Event()

    def explode(handle):
        raise RuntimeError('callback bug')

    bad = geventio.Handle(handle=bad_pair[0], on_read_ready=explode)
    fine = geventio.Handle(handle=good_pair[0],
                           on_read_ready=lambda h: (h.read_handle.recv(10), good.set()))
    loop.add(bad)
    loop.add(fine)
    bad_pair[1].sendall(b'x')
    closed = bad.new_close_future()
    closed.get()
    assert bad.is_closed and not fine.is_closed
    good_pair[1].sendall(b'y')
    good.wait()
    assert any('callback bug' in str(r.exc_info[1]) for r in callback_errors)
    fine.close()


def test_a_callback_may_block_while_its_handle_stays_readable(loop, socketpair):
    """While the greenlet waits inside on_read_ready, readiness stops the watcher
    instead of switching into the busy greenlet (or spinning); reading goes on
    once the callback returns."""
    a, b = socketpair
    go = Event()
    got = Log()

    def on_read_ready(handle):
        got.append(handle.read_handle.recv(1))
        if len(got) == 1:
            wait(go)

    handle = geventio.Handle(handle=a, on_read_ready=on_read_ready)
    loop.add(handle)
    b.sendall(b'abc')
    got.wait_for(1)
    settle()
    assert got == [b'a']
    go.set()
    assert got.wait_for(3) == [b'a', b'b', b'c']
    handle.close()


def test_closing_a_handle_whose_callback_is_blocked_lets_the_callback_finish(
        loop, socketpair):
    """close() from elsewhere does not switch into the busy greenlet: the
    callback finishes after its wait, and the greenlet then ends."""
    a, b = socketpair
    go = Event()
    entered, finished, closed = Event(), Log(), []

    def on_read_ready(handle):
        handle.read_handle.recv(1)
        entered.set()
        wait(go)
        finished.append(handle.is_closed)

    handle = geventio.Handle(handle=a, on_read_ready=on_read_ready,
                             on_closed=closed.append)
    loop.add(handle)
    b.sendall(b'x')
    wait(entered)
    handle.close()
    assert closed == [handle] and handle.loop is None
    go.set()
    assert finished.wait_for(1) == [True]


def test_removing_from_the_loop_ends_the_greenlet_without_closing(loop, socketpair):
    a, b = socketpair
    ready = Event()
    handle = geventio.Handle(handle=a, on_read_ready=lambda h: (h.read_handle.recv(1), ready.set()))
    loop.add(handle)
    b.sendall(b'1')
    ready.wait()
    loop.remove(handle)
    assert not handle.is_closed
    assert handle._glet is None
    handle.close()


def test_a_tty_works_as_a_handle(loop):
    master, slave = os.openpty()
    slave_file = os.fdopen(slave, 'rb', 0)
    got = []
    ready = Event()

    def on_read(stream, buffer, eof):
        got.append(bytes(buffer))
        del buffer[:]
        ready.set()
        return 0

    stream = geventio.Stream(read_handle=slave_file, on_read=on_read)
    loop.add(stream)
    os.write(master, b'typed\n')
    ready.wait()
    assert b''.join(got).startswith(b'typed')
    stream.close()
    os.close(master)


MONKEY_SCRIPT = textwrap.dedent('''
    from gevent import monkey
    monkey.patch_all()
    import socket, threading
    import geventio

    local = threading.local()
    loop = geventio.Loop()
    seen = {}

    def on_read(stream, buffer, eof):
        # threading.local is greenlet-local once patched: per-connection state.
        local.name = getattr(local, 'name', None) or bytes(buffer[:1])
        seen[bytes(buffer[:1])] = local.name
        stream.write(bytes(buffer))
        del buffer[:]
        return 0

    pairs = [socket.socketpair() for _ in range(2)]
    streams = [geventio.Stream(handle=a, on_read=on_read) for a, b in pairs]
    for stream in streams:
        loop.add(stream)
    for tag, (a, b) in zip((b'A', b'B'), pairs):
        b.sendall(tag * 3)
    for tag, (a, b) in zip((b'A', b'B'), pairs):
        assert b.recv(10) == tag * 3
    assert seen == {b'A': b'A', b'B': b'B'}, seen
    loop.close()
    print('ok')
''')


def test_plain_socket_code_works_under_monkey_patch_all():
    result = subprocess.run([sys.executable, '-c', MONKEY_SCRIPT],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'ok'
