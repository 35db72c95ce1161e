"""TLS for geventio: wrapping new sockets, and a transport that upgrades a connection
already carrying data (STARTTLS).

Not a public module. IO::Async does this in IO::Async::SSL (``SSL_connect``,
``SSL_listen``, ``SSL_upgrade``); here ``Connector``/``Listener`` with ``ssl=``
use `secure`, and ``Stream.start_tls`` installs a `Transport`.

Design: two mechanisms, on purpose
----------------------------------
A socket geventio has just made (connected or accepted) becomes a gevent
``SSLSocket``: the user gets a real cooperative socket (``recv``, ``sendall``,
``getpeercert``), and its handshake waits on the hub. gevent's own
``SSLContext.wrap_socket`` constructs its ``SSLSocket`` with the context passed
as ``_context``; `_wrap_socket` does the same directly, so a stdlib
``ssl.SSLContext`` (whose ``wrap_socket`` would make a blocking stdlib socket)
works too.

``start_tls`` cannot take that road: when the peer sends its ClientHello right
after the plain-text "STARTTLS" line, both may arrive in one read, and those TLS
bytes are already in the stream's buffer, where an ``SSLSocket`` cannot take
them back. So the upgrade uses ``ssl.SSLObject`` over two ``MemoryBIO``\\ s
(`Transport`), seeded with the buffered bytes. During the handshake it reads
the socket one TLS record at a time (RFC 8446 section 5.1: a 5-byte header
carrying the body length), so the first application data stays in the kernel
and the stream's ordinary read watcher sees it.
"""

import errno
import logging
import os
import socket
import ssl
from typing import Any

import gevent
import gevent.socket
import gevent.ssl

from .sockets import call_with_timeout

__all__ = ['Transport', 'check_context', 'secure']

log = logging.getLogger('geventio')

#: Bytes asked of the kernel per read once the TLS session is established
#: (room for about four full records of 16 KiB, RFC 8446 section 5.1).
READ_SIZE = 65536

#: Length of a TLS record header (RFC 8446 section 5.1, RFC 5246 section 6.2).
RECORD_HEADER = 5

_default_context: ssl.SSLContext | None = None


def _default_client_context() -> ssl.SSLContext:
    """The context for ``ssl=True``: verification and hostname checks on.

    Made once and shared: loading the system's CA store took about 20 ms per
    context on the development machine (``ssl.create_default_context()``, 20
    calls timed).
    """
    global _default_context
    if _default_context is None:
        _default_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    return _default_context


def _wrap_socket(sock: Any, context: ssl.SSLContext, server_side: bool = False,
                 server_hostname: str | None = None) -> '_SSLSocket':
    """A gevent ``SSLSocket`` taking over ``sock``; the handshake is not done yet.

    Raises:
        ValueError: ``context.check_hostname`` without ``server_hostname``.
    """
    return _SSLSocket(sock=sock, server_side=server_side,
                      server_hostname=server_hostname,
                      do_handshake_on_connect=False, _context=context)


class _SSLSocket(gevent.ssl.SSLSocket):
    """gevent's ``SSLSocket`` with a half-close that keeps the TLS session.

    The standard ``shutdown()`` drops the SSL object first, so that reads after
    ``Stream.write_eof()`` would return raw ciphertext. Here ``shutdown``
    sends close_notify (without waiting for the peer's) and shuts down the
    socket underneath; reading goes on through TLS until the peer's EOF.
    """

    _sslobj: Any    # the C-level _ssl._SSLSocket, or None (not in gevent's stubs)

    def shutdown(self, how: int) -> None:
        if how != socket.SHUT_RD and self._sslobj is not None:
            try:
                self._sslobj.shutdown()
            except (ssl.SSLError, OSError):
                pass    # SSLWantReadError: close_notify sent, the reply not awaited
        gevent.socket.socket.shutdown(self, how)


def secure(sock: Any, context: ssl.SSLContext, server_side: bool = False,
           server_hostname: str | None = None, timeout: float | None = None) -> '_SSLSocket':
    """`_wrap_socket`, then the handshake, done cooperatively within ``timeout``
    seconds (``None``: no limit); on failure the socket is closed.

    Returns:
        The gevent ``SSLSocket``, its handshake done.

    Raises:
        ssl.SSLError: the handshake failed (bad certificate, wrong host name...).
        TimeoutError: with ``errno.ETIMEDOUT`` when ``timeout`` passed.
        OSError: the connection broke.
    """
    try:
        tls_sock = _wrap_socket(sock, context, server_side, server_hostname)
    except Exception:
        sock.close()
        raise
    try:
        call_with_timeout(tls_sock, timeout, 'TLS handshake',
                                   tls_sock.do_handshake)
    except BaseException:
        tls_sock.close()
        raise
    return tls_sock


def check_context(value: object, name: str = 'ssl', client: bool = True) -> ssl.SSLContext:
    """An ``SSLContext`` for ``ssl=`` (``True`` means the default client context)."""
    if value is True and client:
        return _default_client_context()
    if not isinstance(value, ssl.SSLContext):
        wanted = 'True or an ssl.SSLContext' if client else 'an ssl.SSLContext'
        raise TypeError(f'{name} must be {wanted}, not {value!r}')
    return value


class _Records:
    """Where TLS record boundaries fall in the bytes seen so far."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._body_left = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._body_left:
                taken = min(self._body_left, len(view))
                self._body_left -= taken
            else:
                taken = min(RECORD_HEADER - len(self._header), len(view))
                self._header += view[:taken]
                if len(self._header) == RECORD_HEADER:
                    self._body_left = int.from_bytes(self._header[3:], 'big')
                    del self._header[:]
            view = view[taken:]

    def wanted(self) -> int:
        """Bytes to read to reach the next record boundary, and no further."""
        return self._body_left or RECORD_HEADER - len(self._header)


class Transport:
    """A TLS session over a connected socket: ``ssl.SSLObject`` and memory BIOs.

    It has what a geventio handle needs of a TLS handle (``fileno``,
    ``recv_into``, ``send``, ``pending``, ``cipher``, ``close``, ``shutdown``,
    ``setblocking``) plus the usual inspection methods. It owns the socket.
    Ciphertext the kernel did not take is kept and pushed out before any new
    data, by the next call or by a short-lived greenlet waiting for
    writability, so nothing stays behind when the stream's queue is empty.
    """

    def __init__(self, sock: Any, context: ssl.SSLContext, server_side: bool,
                 server_hostname: str | None, initial: bytes = b'') -> None:
        self.socket = sock
        self._fd: int = sock.fileno()
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing,
                                     server_side=server_side,
                                     server_hostname=server_hostname)
        self._unsent = bytearray()
        self._flusher: gevent.Greenlet[Any, None] | None = None
        self._records = _Records()
        self._feed(initial)

    def __repr__(self) -> str:
        return f'<geventio TLS transport fd={self._fd} {self._ssl.version()}>'

    # -- handshake (blocks the calling greenlet cooperatively) ---------------

    def handshake(self) -> None:
        while True:
            try:
                self._ssl.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._send_all()
                self._read_record()
            except ssl.SSLError:
                self._push_soon(quiet=True)     # the alert telling the peer why
                raise
        self._send_all()

    def _read_record(self) -> None:
        try:
            data = os.read(self._fd, self._records.wanted())
        except BlockingIOError:
            gevent.socket.wait_read(self._fd)
            return
        if not data:
            self._incoming.write_eof()
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        if data:
            self._records.feed(data)
            self._incoming.write(data)

    def _send_all(self) -> None:
        self._collect()
        while self._unsent:
            try:
                self._push()
            except BlockingIOError:
                gevent.socket.wait_write(self._fd)

    # -- moving ciphertext ---------------------------------------------------

    def _collect(self) -> None:
        if self._outgoing.pending:
            self._unsent += self._outgoing.read()

    def _push(self) -> None:
        """One write of unsent ciphertext; BlockingIOError when the kernel is full."""
        if self._unsent:
            sent = os.write(self._fd, self._unsent)
            del self._unsent[:sent]

    def _push_soon(self, quiet: bool = False) -> None:
        """Push what can go now; leave the rest to a greenlet (see the class).

        ``quiet`` (on the read path): a broken connection drops the unsent
        records instead of raising, so that the bytes just decrypted are
        still delivered; the next send reports the error.
        """
        self._collect()
        try:
            self._push()
        except BlockingIOError:
            pass
        except OSError:
            if not quiet:
                raise
            del self._unsent[:]
        if self._unsent and self._flusher is None:
            self._flusher = gevent.spawn(self._flush_later)

    def _flush_later(self) -> None:
        try:
            while self._unsent:
                gevent.socket.wait_write(self._fd)
                try:
                    self._push()
                except BlockingIOError:
                    pass
        except OSError as err:
            # The connection broke; the stream's next read or send reports it.
            log.debug('%r: dropping unsent TLS records: %s', self, err)
            del self._unsent[:]
        finally:
            self._flusher = None

    # -- what a handle calls -------------------------------------------------

    def fileno(self) -> int:
        return self._fd

    def setblocking(self, flag: bool) -> None:
        self.socket.setblocking(flag)

    def pending(self) -> int:
        """Decrypted bytes ready, plus ciphertext read but not yet decrypted."""
        return self._ssl.pending() + self._incoming.pending

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """Decrypt into ``buffer``; 0 at EOF (a missing close_notify counts as
        EOF, as with gevent's ``suppress_ragged_eofs``); BlockingIOError or
        ``ssl.SSLWantReadError`` when nothing is ready."""
        nbytes = nbytes or len(buffer)
        while True:
            try:
                # (Given a buffer, read() returns a count; typeshed says bytes.)
                count: int = self._ssl.read(nbytes, buffer)  # type: ignore[assignment]
            except ssl.SSLWantReadError:
                self._fill()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return 0
            self._push_soon(quiet=True)
            return count

    def _fill(self) -> None:
        data = os.read(self._fd, READ_SIZE)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def send(self, data: Any, flags: int = 0) -> int:
        """Encrypt and send ``data``; BlockingIOError while earlier records are
        still waiting for the kernel."""
        if self._unsent:
            self._push()
            if self._unsent:
                raise BlockingIOError(errno.EAGAIN, 'earlier TLS records still unsent')
        count = self._ssl.write(data)
        self._push_soon()
        return count

    def shutdown(self, how: int) -> None:
        """Send close_notify (best effort, without waiting) before shutting
        down the write side."""
        if how != socket.SHUT_RD:
            try:
                self._ssl.unwrap()
            except ssl.SSLError:
                pass    # SSLWantReadError: the peer's close_notify is not awaited
            self._collect()
            try:
                self._push()
            except OSError:
                pass
        self.socket.shutdown(how)

    def close(self) -> None:
        if self._flusher is not None:
            self._flusher.kill(block=False)
        self.socket.close()

    # -- inspection ----------------------------------------------------------

    def cipher(self) -> tuple[str, str, int] | None:
        return self._ssl.cipher()

    def version(self) -> str | None:
        return self._ssl.version()

    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._ssl.getpeercert(binary_form)

    def selected_alpn_protocol(self) -> str | None:
        return self._ssl.selected_alpn_protocol()

    def getpeername(self) -> Any:
        return self.socket.getpeername()

    def getsockname(self) -> Any:
        return self.socket.getsockname()
