"""The byte layer: moving bytes through non-blocking descriptors, and making sockets.

Not a public package. Everything here works on file descriptors, sockets and
buffers, and knows nothing of notifiers, loops or events, so that each surface
(IO::Async's `Stream` and `Socket`, `geventio.danga`, `geventio.iostream`) stands
on the same mechanisms:

- `nonblocking`: what "would block" looks like; making, closing and shutting
  down non-blocking file objects.
- `reading`: one ``recv_into`` per wake-up into a scratch buffer owned per hub.
- `text`: the incremental decoder and the mutable string of text-mode streams.
- `writequeue`: ordered pieces, merging of small writes, partial sends.
- `resolving`: the hub's resolver, resolver hints, `geventio.ResolveError`.
- `sockets`: making, binding and checking sockets; ranking the failures of
  several attempts; timeouts on a single socket call.
- `tls`: wrapping sockets in TLS, and the memory-BIO transport used to upgrade
  a connection that is already carrying data (STARTTLS).

docs/architecture.md maps the layers and who may import whom.
"""
