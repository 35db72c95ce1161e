"""Stream.start_tls: upgrading a connected stream to TLS in place (STARTTLS).

Not a public module. IO::Async::SSL's ``SSL_upgrade``, as a mixin that
`geventio.Stream` takes ``start_tls`` from (the state lives in Stream's slots),
over the memory-BIO `Transport` of the byte layer (``_io.tls``, whose docstring
says why an ``SSLSocket`` cannot do this).

Design: ordering around the upgrade
-----------------------------------
Writes queued before the call go out in plain text: a generator piece marks
where the plain text ends, and the handshake starts when the queue reaches it.
Writes made after the call queue behind a future piece (the gate) and go out
encrypted once the handshake is done. Bytes already read past the plain-text
part of the protocol seed the transport, so a peer that starts its handshake at
once loses nothing; reading pauses for the handshake, which reads the socket
itself.
"""

import ssl
from typing import Any

import gevent
from gevent.event import AsyncResult, Event

from .. import addresses
from .._io.tls import Transport, check_context
from ..errors import StreamClosedError
from ._streambase import StreamBase

__all__: list[str] = []    # private: Stream is the public face


class _StreamTLS(StreamBase):
    """Stream's ``start_tls`` (a mixin: the state lives in Stream's slots)."""

    __slots__ = ()

    def start_tls(self, context: ssl.SSLContext, server_side: bool = False,
                  server_hostname: str | None = None) -> 'AsyncResult[Any]':
        """Upgrade this connected stream to TLS in place (STARTTLS).

        Returns:
            A future of this stream, resolved once the handshake is done; it
            fails with the ``ssl.SSLError`` (the stream is then closed).

        Raises:
            TypeError: ``context`` is not an ``ssl.SSLContext``.
            ValueError: the stream is not in a loop, has no single socket for
                both directions, is TLS already, or holds decoded text; or the
                context checks host names and ``server_hostname`` is missing.
            StreamClosedError: the stream is closing or closed.
        """
        self._check_upgrade(context, server_side, server_hostname)
        initial = bytes(self._buffer) if isinstance(self._buffer, bytearray) else b''
        del self._buffer[:]
        was_reading = self.want_readready
        self.want_readready = False
        reached = Event()
        gate: AsyncResult[bytes] = AsyncResult()
        future: AsyncResult[Any] = AsyncResult()
        self.write(lambda _stream: reached.set())
        self.write(gate)
        upgrade = gevent.spawn(self._upgrade, (context, server_side, server_hostname),
                               initial, was_reading, (reached, gate, future))
        self.new_close_future().rawlink(lambda _: upgrade.kill(block=False))
        return future

    def _check_upgrade(self, context: ssl.SSLContext, server_side: bool,
                       server_hostname: str | None) -> None:
        check_context(context, 'context', client=False)
        addresses.parse_host(server_hostname, 'server_hostname')
        if not server_side and context.check_hostname and not server_hostname:
            raise ValueError('the context checks host names: give server_hostname=')
        if self._closed or self._closing:
            raise StreamClosedError(f'{self!r} is closing or closed')
        if self._loop is None:
            raise ValueError(f'{self!r} must be in a loop to start TLS')
        if self._read_handle is None or self._read_handle is not self._write_handle:
            raise ValueError('start_tls needs one socket for both directions')
        if self._tls_read:
            raise ValueError(f'{self!r} already speaks TLS')
        if not isinstance(self._buffer, bytearray) and self._buffer:
            raise ValueError('start_tls with decoded text still buffered')

    def _upgrade(self, tls_args: tuple[ssl.SSLContext, bool, str | None], initial: bytes,
                 was_reading: bool,
                 signals: 'tuple[Event, AsyncResult[bytes], AsyncResult[Any]]') -> None:
        """The handshake, on a greenlet of its own."""
        reached, gate, future = signals
        try:
            reached.wait()
            transport = Transport(self._read_handle, *tls_args, initial)
            transport.handshake()
        except Exception as err:
            future.set_exception(err)
            self.close_now()
            return
        finally:
            if not future.ready() and self._closed:
                future.set_exception(
                    StreamClosedError('stream closed during TLS handshake'))
        self._install_transport(transport, was_reading)
        gate.set(b'')
        future.set(self)

    def _install_transport(self, transport: Transport, was_reading: bool) -> None:
        """Read and write through ``transport`` from now on.

        The file descriptor is the same, so the watchers stay as they are; the
        read and send paths use a TLS handle's ``recv_into``/``send``.
        """
        self._read_handle = self._write_handle = transport
        self._tls_read = self._tls_write = True
        self._set_sender()
        self._choose_read_path()
        if was_reading and not self._read_eof:
            self.want_readready = True
        if transport.pending() and self._glet is not None:
            # Application data already decrypted or buffered: no readiness
            # will announce it, so wake the stream's greenlet once.
            self._hub.loop.run_callback(self._wake_if_pending)

    def _wake_if_pending(self) -> None:
        if self._glet is not None and self._parked and self._want_read:
            self._wake_read()
