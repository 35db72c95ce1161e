"""Danga::Socket on gevent: an event loop and the base class of the objects it drives.

The Python form of Perl's Danga::Socket, the engine of Perlbal, MogileFS and
DJabberd: ``class MySock(DangaSocket)`` overriding ``event_read`` and friends,
``read(n)``/``write(data)`` inside them, and one ``DangaSocket.event_loop()`` per
process that calls them (interface `geventio.interfaces.IDangaSocket`;
docs/danga.md has the porting table and the differences from Perl).

Why one loop dispatching every object, not a greenlet per object as IO::Async's
handles have: Danga code is written for one loop. Its handlers call each other's
objects synchronously, close one another mid-round and rely on an iteration
having an order and an end (deferred closes, pushed-back data, post-loop
callbacks); greenlets switching at every readiness would give none of that, and
would cost a greenlet per connection. So readiness is gathered by libev watchers
on the gevent hub and dispatched only inside ``event_loop()``, which waits on the
hub: other greenlets (a gevent server, a client, anything under
``monkey.patch_all()``) run while it waits, and ``gevent.Timeout`` interrupts it.

Layers: this package stands on the byte layer (``geventio._io``) and the
vocabulary modules only, never on ``geventio.ioasync`` (docs/architecture.md).

Modules: ``dangasocket`` (the base class), ``_loop`` (the descriptor map, the
waiting and one iteration), ``_timers`` (the timer heap).
"""

from .dangasocket import DangaSocket

__all__ = ['DangaSocket']
