"""Exceptions raised by geventio.

System call failures stay the ``OSError`` the call raised. The classes here
cover what is not a single system call: a connection attempt that failed on
every candidate, a name that did not resolve, a listener that could not bind
anywhere, a stream the user closed, the two ways a future reader can come
up short, and a proxy that would not open a tunnel.
"""

from collections.abc import Iterable

__all__ = [
    'ConnectError',
    'IncompleteReadError',
    'LimitOverrunError',
    'ListenError',
    'ProxyError',
    'ResolveError',
    'StreamClosedError',
]


class _SyscallError(OSError):
    """An ``OSError`` that names the system call behind the most significant failure.

    ``errno`` and ``strerror`` are copied from the underlying error so that code
    testing ``err.errno`` keeps working; the error itself is ``__cause__``.
    """

    def __init__(self, syscall: str, err: BaseException) -> None:
        errno = getattr(err, 'errno', None)
        strerror = getattr(err, 'strerror', None) or str(err)
        super().__init__(errno, strerror)
        self.syscall = syscall
        self.error = err
        self.__cause__ = err

    def __str__(self) -> str:
        return f'{self.syscall} failed: {self.error}'


class ConnectError(_SyscallError):
    """Every connection candidate failed.

    Attributes:
        syscall: ``'socket'``, ``'bind'``, ``'connect'`` or ``'ssl'``: where the most
            significant failure happened (connect over bind over socket).
        error: that failure, an ``OSError``.
        errors: every ``(syscall, error)`` pair, in the order they happened.
    """

    def __init__(self, syscall: str, err: BaseException,
                 errors: Iterable[tuple[str, BaseException]] = ()) -> None:
        super().__init__(syscall, err)
        self.errors = list(errors)


class ListenError(_SyscallError):
    """No address could be listened on.

    Attributes:
        syscall: ``'socket'``, ``'sockopt'``, ``'bind'`` or ``'listen'`` (listen over
            bind over sockopt over socket).
        error: that failure, an ``OSError``.
    """


class ResolveError(OSError):
    """A name lookup failed or timed out; ``errno`` is the ``EAI_*`` code."""


class ProxyError(OSError):
    """A proxy did not open the tunnel: it refused (a non-2xx HTTP status, a
    SOCKS5 reply other than success, rejected credentials), answered something
    that is not its protocol (``EPROTO``), or closed the connection during its
    handshake (``ECONNRESET``).

    ``errno`` says what kind of failure it was (``ECONNREFUSED``, ``EACCES``
    for rejected credentials or a forbidden target, ``EHOSTUNREACH`` and so on
    for the SOCKS5 replies that name one), ``str()`` says it in words.

    Attributes:
        proxy: ``(host, port)`` of the proxy.
        reply: what the proxy answered: the HTTP status line (``str``), the
            SOCKS5 reply code (``int``), or ``None`` when it answered nothing usable.
    """

    def __init__(self, errno: int, message: str, proxy: tuple[str, int],
                 reply: str | int | None = None) -> None:
        super().__init__(errno, message)
        self.proxy = proxy
        self.reply = reply

    def __str__(self) -> str:
        return f'proxy {self.proxy[0]}:{self.proxy[1]}: {self.strerror}'


class StreamClosedError(Exception):
    """The stream was closed by this side: writing to it, or a piece still queued
    when it was closed with ``close_now()``.

    Not raised when the *peer* broke the connection: that is the ``OSError`` of the
    failed call (``BrokenPipeError``, ``ConnectionResetError``).
    """


class IncompleteReadError(EOFError):
    """EOF arrived before ``read_exactly(n)`` had ``n`` units; ``partial`` holds them."""

    def __init__(self, partial: bytes | str, expected: int) -> None:
        super().__init__(f'{len(partial)} bytes read before EOF, {expected} expected')
        self.partial = partial
        self.expected = expected


class LimitOverrunError(Exception):
    """``read_until`` saw ``max_len`` units without finding the separator.

    The data stays in the stream's buffer; ``consumed`` is how much was searched.
    """

    def __init__(self, message: str, consumed: int) -> None:
        super().__init__(message)
        self.consumed = consumed
