"""IO::Async on gevent: the notifiers, their engine and the Loop.

The public names are re-exported by `geventio` itself (``geventio.Stream``,
``geventio.Loop``, ...); import them from there. Inside, each module has one
job: `notifier` (events and the tree), `handle` (a greenlet and two libev
watchers per handle: the engine), `stream` with ``_streamwrite``, ``_readers``
and ``_starttls`` (IO::Async::Stream), `datagram` (IO::Async::Socket),
`listener` with ``_listening`` and ``_acceptor``, `connector`, ``_handover``
(wrapping a new socket for the user), and `loop` at the top, the entry point
that knows them all. This layer stands on the byte layer (``geventio._io``) and
the vocabulary modules; nothing below it imports it.
"""
