"""geventio.testing: the fixtures a user's own test suite gets from the pytest
plugin that installing geventio registers."""

import textwrap

import gevent
import gevent.socket
import pytest

import geventio
from geventio.testing import LeakCheck, stream_pair
from conftest import WAIT

USER_TESTS = textwrap.dedent('''
    import gevent
    import gevent.socket
    import geventio
    from geventio.testing import stream_pair


    class Shouter(geventio.Stream):
        """The protocol under test: answers each line in capitals."""

        def on_read(self, buffer, eof):
            while b'\\n' in buffer:
                line, _, rest = bytes(buffer).partition(b'\\n')
                buffer[:] = rest
                self.write(line.upper() + b'\\n')
            return 0


    def test_plain_pair(geventio_leak_check, geventio_stream_pair):
        left, right = geventio_stream_pair
        left.write(b'hello')
        assert right.read_exactly(5).get(timeout=5) == b'hello'


    def test_own_protocol(geventio_leak_check, geventio_loop):
        shouter, client = stream_pair(geventio_loop, Shouter())
        client.write(b'quiet\\n')
        assert client.read_until(b'\\n').get(timeout=5) == b'QUIET\\n'


    def test_leaks_a_socket(geventio_leak_check):
        test_leaks_a_socket.kept = gevent.socket.socket()


    def test_leaks_a_greenlet(geventio_leak_check):
        test_leaks_a_greenlet.kept = gevent.spawn(gevent.sleep, 60)


    def test_leaks_a_watcher(geventio_leak_check):
        watcher = gevent.get_hub().loop.timer(60)
        watcher.start(lambda: None)
        test_leaks_a_watcher.kept = watcher
''')


def test_a_user_suite_gets_the_fixtures_from_the_installed_plugin(pytester):
    """No conftest: the fixtures come through the pytest11 entry point."""
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider',
                                           timeout=60)
    result.assert_outcomes(passed=5, errors=3)
    result.stdout.fnmatch_lines([
        'E * file descriptors left open: * (socket:*',
        'E * greenlets left alive: *Greenlet*sleep*',
        'E * libev watchers left active: 1 more than before'])


def test_stream_pair_refuses_a_stream_that_already_has_a_handle(loop, sockets):
    sock, _ = sockets.keep(*gevent.socket.socketpair())
    taken = geventio.Stream(handle=sock, on_read=lambda stream, buffer, eof: 0)
    with pytest.raises(ValueError, match='second must have no handle'):
        stream_pair(loop, None, taken)
    assert loop.notifiers == ()


def test_the_leak_check_sees_nothing_when_all_is_cleaned_up(loop):
    check = LeakCheck()
    left, right = stream_pair(loop)
    right.write(b'x')
    assert left.read_exactly(1).get(timeout=WAIT) == b'x'
    gevent.spawn(lambda: None).join()
    left.close()
    right.close()
    assert check.leaks() == []
