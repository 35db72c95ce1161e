"""TLSClient and TLSServer: TLS as IOStream plugins, on Python's ssl over memory BIOs.

The Python forms of IO::Stream::MatrixSSL::Client and ::Server (interface
`geventio.iostream.IPlugin`), on ``ssl.SSLObject``: the plugin feeds what the
layer below read into one ``MemoryBIO`` and hands what TLS produced to the
layer below through its ``out_buf``, so TLS works over anything below it, a
socket or a proxy's tunnel.

Design: what the events mean above TLS
--------------------------------------
- CONNECTED is held back until the handshake is done, so it means "a TLS
  session is up", and the stream's ``connect_timeout`` covers the handshake.
  With ``fh=`` there is no CONNECTED, as without TLS: a client starts its
  handshake at once, a server when the ClientHello arrives.
- OUT comes when plaintext leaves the layer above for this one, at once, even
  while the handshake runs; SENT only once all of it was encrypted and the
  layer below reported the records written. So OUT comes before SENT.
- IN is decrypted data. EOF is the peer's close_notify, or the end of the
  connection without one (a truncated session, which Python's own
  ``SSLSocket`` also reads as EOF by default, ``suppress_ragged_eofs``).
  IN and EOF never come in one call.
- A failed handshake (an unverifiable certificate, a wrong host name, a
  protocol error) is delivered as its ``ssl.SSLError`` (an ``OSError``); the
  alert telling the peer why is still sent. After that the plugin passes
  nothing more on, and drops what the layer below goes on reading (the
  stream stays open until the user closes it; a peer must not fill memory).

Certificates are verified by default: ``TLSClient()`` uses geventio's default
client context (``ssl.create_default_context()``: the system's CAs, host
name checked) and the host the stream connects to as ``server_hostname`` (with
a proxy below, the target's name, not the proxy's).
"""

import ssl

from typing import Any

from zope.interface import implementer

from ..._io import tls
from ..constants import CONNECTED, EOF, IN, OUT, RESOLVED, SENT
from ..interfaces import IPlugin
from ._layer import Layer

__all__ = ['TLSClient', 'TLSServer']

#: Plaintext bytes asked of TLS per read: as much as the layer below reads per
#: system call (the ciphertext of one read never decrypts to more).
READ_SIZE = 65536


@implementer(IPlugin)
class _TLS(Layer):
    """The TLS layer; `TLSClient` and `TLSServer` choose the side."""

    _server_side = False

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None = None) -> None:
        super().__init__()
        self._context = context
        self._server_hostname = server_hostname
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl: ssl.SSLObject | None = None
        self._plain = bytearray()       # taken from above, not yet encrypted
        self._handshaking = True
        self._announce = False          # CONNECTED came from below: pass it on when done
        self._owe_sent = False          # bytes were taken from above since the last SENT
        self._read_eof = False
        self._failed = False

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The ``ssl.SSLObject`` once the stream was made (``version()``,
        ``cipher()``, ``getpeercert()``), else ``None``."""
        return self._ssl

    def prepare(self, fh: Any, host: str | None, port: int | None) -> None:
        """See `IPlugin.prepare`.

        Raises:
            ValueError: the context checks host names and there is none (a
                client on ``fh=`` needs ``server_hostname``).
        """
        hostname = None if self._server_side else (self._server_hostname or host)
        if hostname is None and not self._server_side and self._context.check_hostname:
            # ssl would verify the chain alone: any valid certificate would pass.
            raise ValueError('TLSClient needs server_hostname= on a stream made '
                             'from fh= (its context checks host names)')
        self._ssl = self._context.wrap_bio(
            self._incoming, self._outgoing, server_side=self._server_side,
            server_hostname=hostname)
        self.lower.prepare(fh, host, port)
        if fh is not None and not self._server_side:
            self._advance(0)        # connected already: send the ClientHello

    def write(self) -> None:
        """See `IPlugin.write`: OUT at once, encryption once the handshake is done."""
        if self._failed or not self.take_output(self._plain):
            return
        self._owe_sent = True
        if not self._handshaking:
            self._encrypt()
        self.upper.event(OUT, None)
        if self.out_buf:
            self.lower.write()

    def event(self, events: int, err: Any) -> None:
        """See `IPlugin.event`."""
        if self._failed:
            del self.in_buf[:]      # nothing goes up any more: keep nothing either
            return
        upper = self.upper
        up = 0
        if events & RESOLVED:
            upper.ip = self.ip
            up = RESOLVED
        if err is not None:
            upper.event(up, err)
            return
        if events & SENT and self._owe_sent and not self._plain \
                and not self._handshaking:
            self._owe_sent = False
            up |= SENT
        if events & CONNECTED:
            self._announce = True
        if events & IN:
            if not self._read_eof:
                self._incoming.write(self.in_buf)
            del self.in_buf[:]
        if events & EOF:
            self._incoming.write_eof()
        if events & (CONNECTED | IN | EOF):
            self._advance(up)
        elif up:
            upper.event(up, None)

    def _advance(self, up: int) -> None:
        """Move the handshake or the reading on, report ``up`` plus what that
        produced, and send what TLS wrote."""
        events, eof, err = self._run_tls()
        upper = self.upper
        if up | events or err is not None:
            upper.event(up | events, err)
        if eof:
            upper.is_eof = True
            upper.event(EOF, None)
        if self.out_buf:
            self.lower.write()

    def _run_tls(self) -> tuple[int, bool, ssl.SSLError | None]:
        """Returns ``(events, eof, err)``: CONNECTED and IN as they happened."""
        events, eof = 0, False
        try:
            if self._handshaking:
                try:
                    self._ssl.do_handshake()  # type: ignore[union-attr]  # (by prepare)
                except ssl.SSLWantReadError:
                    return 0, False, None
                self._handshaking = False
                if self._announce:
                    events = CONNECTED
                if self._plain:
                    self._encrypt()
            if not self._read_eof:
                got, failure = self._decrypt()
                if got:
                    events |= IN
                if failure is not None:
                    self._failed = True
                    return events, False, failure
                eof = self._read_eof
        except ssl.SSLError as err:
            self._failed = True
            return events, False, err
        finally:
            self._collect()
        return events, eof, None

    def _decrypt(self) -> tuple[int, ssl.SSLError | None]:
        """Append what can be decrypted to the layer above's ``in_buf`` and
        count it in its ``in_bytes`` (``_read_eof`` set at the end of the session).

        Returns:
            ``(count, failure)``: the bytes appended, and the ``ssl.SSLError``
            of a broken record that ended reading (``None`` if none did), so
            that the records before it still count and come up as IN.
        """
        upper = self.upper
        got, failure = 0, None
        while True:
            try:
                data = self._ssl.read(READ_SIZE)  # type: ignore[union-attr]  # (by prepare)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._read_eof = True
                break
            except ssl.SSLError as err:
                failure = err
                break
            if not data:
                self._read_eof = True
                break
            upper.in_buf += data
            got += len(data)
        upper.in_bytes += got
        return got, failure

    def _encrypt(self) -> None:
        try:
            self._ssl.write(self._plain)  # type: ignore[union-attr]  # (by prepare)
        except ssl.SSLWantReadError:
            return      # renegotiating: _run_tls tries again after the next read
        del self._plain[:]
        self._collect()

    def _collect(self) -> None:
        if self._outgoing.pending:
            self.out_buf += self._outgoing.read()


class TLSClient(_TLS):
    """The client side of TLS.

    Parameters:
        context: an ``ssl.SSLContext`` (default: geventio's client context,
            which verifies the certificate and the host name).
        server_hostname: the name to verify and send as SNI (default: the
            ``host`` the stream connects to; required with ``fh=`` when the
            context checks host names).

    Raises:
        TypeError: ``context`` is not an ``ssl.SSLContext``, or
            ``server_hostname`` not a ``str``.
    """

    def __init__(self, context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None) -> None:
        context = tls.check_context(True if context is None else context, 'context')
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError(f'server_hostname must be a str, not {server_hostname!r}')
        super().__init__(context, server_hostname)


class TLSServer(_TLS):
    """The server side of TLS, for a stream made from an accepted socket.

    Parameters:
        context: required; an ``ssl.SSLContext`` with the certificate chain
            loaded (``ssl.Purpose.CLIENT_AUTH``).

    Raises:
        TypeError: ``context`` is not an ``ssl.SSLContext``.
    """

    _server_side = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(tls.check_context(context, 'context', client=False))
