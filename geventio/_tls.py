"""TLS for geventio: wrapping new sockets, and upgrading a stream in place (STARTTLS).

Not a public module. IO::Async does this in IO::Async::SSL (``SSL_connect``,
``SSL_listen``, ``SSL_upgrade``); here ``Connector``/``Listener`` with ``ssl=``
use `secure`, and ``Stream.start_tls`` uses `start_tls`.

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
(`_Transport`), seeded with the buffered bytes. During the handshake it reads
the socket one TLS record at a time (RFC 8446 section 5.1: a 5-byte header
carrying the body length), so the first application data stays in the kernel
and the stream's ordinary read watcher sees it. Writes queued before the call
go out in plain text; writes after it wait behind a gate and go out encrypted.
"""

import errno
import logging
import os
import socket
import ssl

import gevent
import gevent.socket
import gevent.ssl
from gevent.event import AsyncResult, Event

from . import _sockets, addresses
from .errors import StreamClosedError

__all__ = ['check_context', 'secure', 'start_tls']

log = logging.getLogger('geventio')

#: Bytes asked of the kernel per read once the TLS session is established
#: (room for about four full records of 16 KiB, RFC 8446 section 5.1).
READ_SIZE = 65536

#: Length of a TLS record header (RFC 8446 section 5.1, RFC 5246 section 6.2).
RECORD_HEADER = 5

_default_context = None


def _default_client_context():
    """The context for ``ssl=True``: verification and hostname checks on.

    Made once and shared: loading the system's CA store took about 20 ms per
    context on the development machine (``ssl.create_default_context()``, 20
    calls timed).
    """
    global _default_context
    if _default_context is None:
        _default_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    return _default_context


def _wrap_socket(sock, context, server_side=False, server_hostname=None):
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

    def shutdown(self, how):
        if how != socket.SHUT_RD and self._sslobj is not None:
            try:
                self._sslobj.shutdown()
            except (ssl.SSLError, OSError):
                pass    # SSLWantReadError: close_notify sent, the reply not awaited
        gevent.socket.socket.shutdown(self, how)


def secure(sock, context, server_side=False, server_hostname=None, timeout=None):
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
        _sockets.call_with_timeout(tls_sock, timeout, 'TLS handshake',
                                   tls_sock.do_handshake)
    except BaseException:
        tls_sock.close()
        raise
    return tls_sock


def check_context(value, name='ssl', client=True):
    """An ``SSLContext`` for ``ssl=`` (``True`` means the default client context)."""
    if value is True and client:
        return _default_client_context()
    if not isinstance(value, ssl.SSLContext):
        wanted = 'True or an ssl.SSLContext' if client else 'an ssl.SSLContext'
        raise TypeError(f'{name} must be {wanted}, not {value!r}')
    return value


# -- STARTTLS ------------------------------------------------------------------

def start_tls(stream, context, server_side=False, server_hostname=None):
    """See ``Stream.start_tls``; returns a future of the stream.

    Raises:
        TypeError: ``context`` is not an ``ssl.SSLContext``.
        ValueError: the stream is not in a loop, has no single socket for both
            directions, is TLS already, or holds decoded text; or the context
            checks host names and ``server_hostname`` is missing.
        StreamClosedError: the stream is closing or closed.
    """
    _check_upgrade(stream, context, server_side, server_hostname)
    initial = bytes(stream._buffer) if isinstance(stream._buffer, bytearray) else b''
    del stream._buffer[:]
    was_reading = stream.want_readready
    stream.want_readready = False
    reached, gate, future = Event(), AsyncResult(), AsyncResult()
    # Everything queued before now goes out in plain text; the generator runs
    # when the queue reaches this point, and later writes wait behind the gate.
    stream.write(lambda _stream: reached.set())
    stream.write(gate)
    upgrade = gevent.spawn(_upgrade, stream, (context, server_side, server_hostname),
                           initial, was_reading, (reached, gate, future))
    stream.new_close_future().rawlink(lambda _: upgrade.kill(block=False))
    return future


def _check_upgrade(stream, context, server_side, server_hostname):
    check_context(context, 'context', client=False)
    addresses.parse_host(server_hostname, 'server_hostname')
    if not server_side and context.check_hostname and not server_hostname:
        raise ValueError('the context checks host names: give server_hostname=')
    if stream.is_closed or stream._closing:
        raise StreamClosedError(f'{stream!r} is closing or closed')
    if stream.loop is None:
        raise ValueError(f'{stream!r} must be in a loop to start TLS')
    if stream.read_handle is None or stream.read_handle is not stream.write_handle:
        raise ValueError('start_tls needs one socket for both directions')
    if stream._tls_read:
        raise ValueError(f'{stream!r} already speaks TLS')
    if not isinstance(stream._buffer, bytearray) and stream._buffer:
        raise ValueError('start_tls with decoded text still buffered')


def _upgrade(stream, tls_args, initial, was_reading, signals):
    reached, gate, future = signals
    try:
        reached.wait()
        transport = _Transport(stream.read_handle, *tls_args, initial)
        transport.handshake()
    except Exception as err:
        future.set_exception(err)
        stream.close_now()
        return
    finally:
        if not future.ready() and stream.is_closed:
            future.set_exception(StreamClosedError('stream closed during TLS handshake'))
    _install(stream, transport, was_reading)
    gate.set(b'')
    future.set(stream)


def _install(stream, transport, was_reading):
    """Make ``transport`` the stream's handle for both directions.

    The file descriptor is the same, so the stream's watchers stay as they are;
    the stream's read and send paths use a TLS handle's ``recv_into``/``send``.
    """
    stream._install_transport(transport)
    if was_reading and not stream.is_read_eof:
        stream.want_readready = True
    if transport.pending() and stream._glet is not None:
        # Application data already decrypted or buffered: no readiness will
        # announce it, so wake the stream's greenlet once.
        stream._hub.loop.run_callback(_wake_reader, stream)


def _wake_reader(stream):
    if stream._glet is not None and stream._parked and stream.want_readready:
        stream._wake_read()


class _Records:
    """Where TLS record boundaries fall in the bytes seen so far."""

    def __init__(self):
        self._header = bytearray()
        self._body_left = 0

    def feed(self, data):
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

    def wanted(self):
        """Bytes to read to reach the next record boundary, and no further."""
        return self._body_left or RECORD_HEADER - len(self._header)


class _Transport:
    """A TLS session over a connected socket: ``ssl.SSLObject`` and memory BIOs.

    It has what a geventio handle needs of a TLS handle (``fileno``,
    ``recv_into``, ``send``, ``pending``, ``cipher``, ``close``, ``shutdown``,
    ``setblocking``) plus the usual inspection methods. It owns the socket.
    Ciphertext the kernel did not take is kept and pushed out before any new
    data, by the next call or by a short-lived greenlet waiting for
    writability, so nothing stays behind when the stream's queue is empty.
    """

    def __init__(self, sock, context, server_side, server_hostname, initial=b''):
        self.socket = sock
        self._fd = sock.fileno()
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing,
                                     server_side=server_side,
                                     server_hostname=server_hostname)
        self._unsent = bytearray()
        self._flusher = None
        self._records = _Records()
        self._feed(initial)

    def __repr__(self):
        return f'<geventio TLS transport fd={self._fd} {self._ssl.version()}>'

    # -- handshake (blocks the calling greenlet cooperatively) ---------------

    def handshake(self):
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

    def _read_record(self):
        try:
            data = os.read(self._fd, self._records.wanted())
        except BlockingIOError:
            gevent.socket.wait_read(self._fd)
            return
        if not data:
            self._incoming.write_eof()
        self._feed(data)

    def _feed(self, data):
        if data:
            self._records.feed(data)
            self._incoming.write(data)

    def _send_all(self):
        self._collect()
        while self._unsent:
            try:
                self._push()
            except BlockingIOError:
                gevent.socket.wait_write(self._fd)

    # -- moving ciphertext ---------------------------------------------------

    def _collect(self):
        if self._outgoing.pending:
            self._unsent += self._outgoing.read()

    def _push(self):
        """One write of unsent ciphertext; BlockingIOError when the kernel is full."""
        if self._unsent:
            sent = os.write(self._fd, self._unsent)
            del self._unsent[:sent]

    def _push_soon(self, quiet=False):
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

    def _flush_later(self):
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

    def fileno(self):
        return self._fd

    def setblocking(self, flag):
        self.socket.setblocking(flag)

    def pending(self):
        """Decrypted bytes ready, plus ciphertext read but not yet decrypted."""
        return self._ssl.pending() + self._incoming.pending

    def recv_into(self, buffer, nbytes=0):
        """Decrypt into ``buffer``; 0 at EOF (a missing close_notify counts as
        EOF, as with gevent's ``suppress_ragged_eofs``); BlockingIOError or
        ``ssl.SSLWantReadError`` when nothing is ready."""
        nbytes = nbytes or len(buffer)
        while True:
            try:
                count = self._ssl.read(nbytes, buffer)
            except ssl.SSLWantReadError:
                self._fill()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return 0
            self._push_soon(quiet=True)
            return count

    def _fill(self):
        data = os.read(self._fd, READ_SIZE)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def send(self, data, flags=0):
        """Encrypt and send ``data``; BlockingIOError while earlier records are
        still waiting for the kernel."""
        if self._unsent:
            self._push()
            if self._unsent:
                raise BlockingIOError(errno.EAGAIN, 'earlier TLS records still unsent')
        count = self._ssl.write(data)
        self._push_soon()
        return count

    def shutdown(self, how):
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

    def close(self):
        if self._flusher is not None:
            self._flusher.kill(block=False)
        self.socket.close()

    # -- inspection ----------------------------------------------------------

    def cipher(self):
        return self._ssl.cipher()

    def version(self):
        return self._ssl.version()

    def getpeercert(self, binary_form=False):
        return self._ssl.getpeercert(binary_form)

    def selected_alpn_protocol(self):
        return self._ssl.selected_alpn_protocol()

    def getpeername(self):
        return self.socket.getpeername()

    def getsockname(self):
        return self.socket.getsockname()
