"""The byte layer's read path: one scratch buffer per hub and read size, shared
by every reader, so that no connection carries a read buffer of its own."""

import gevent

from geventio._io import reading


def test_every_reader_of_a_hub_shares_the_scratch_buffer():
    hub = gevent.get_hub()
    [small] = reading.read_view(hub, 8192)
    [default] = reading.read_view(hub, reading.SCRATCH_SIZE)
    assert len(small) == 8192 and len(default) == reading.SCRATCH_SIZE
    assert small.obj is default.obj
    assert reading.read_view(hub, 8192)[0] is small


def test_a_read_size_above_the_scratch_size_gets_one_buffer_per_hub_not_per_reader():
    """A stream per connection with read_len=256 KiB would otherwise hold and
    fault in 256 KiB each."""
    hub = gevent.get_hub()
    [first] = reading.read_view(hub, 262144)
    [second] = reading.read_view(hub, 262144)
    assert len(first) == 262144
    assert second is first
