"""IOStream: a byte stream that reports IO::Stream's events to one callback.

The Python form of IO::Stream (interface `geventio.interfaces.IIOStream`):
``IOStream(fh=... | host=..., port=..., cb=..., wait_for=..., **fields)``, the
fields as attributes, ``write()`` and ``close()``. The stream is the top of a
chain of layers: its plugins (``geventio.iostream.plugins``), then the layer
that owns the file handle (``_fhlayer``). This module holds the user's side:
the fields and their checks, the rules that turn what the layers below report
into the callback's ``(events, err)``, and the registry that keeps every stream
alive until ``close()``.

What it shares with the rest of geventio, and what it cannot
------------------------------------------------------------
Reads use the byte layer's read path (``_io.reading.read_into``: one read of
up to 64 KiB per readiness into the hub's scratch buffer, appended to
``in_buf``); names resolve through ``_io.resolving`` (the hub's resolver);
sockets are made by ``_io.sockets``, which also ranks the failures of several
connect attempts; the TLS plugins take their default context from ``_io.tls``.
Writing cannot use ``_io.writequeue``. That queue holds pieces, each handed
over once and then owned by the queue. IO::Stream has no pieces: ``out_buf``
is one buffer that stays the user's, which the user may edit between any two
calls, and ``out_pos``, when set, is a cursor into it that writing moves while
leaving the bytes in place. Every write must start from wherever
``out_buf``/``out_pos`` are at that moment, so the write path is a loop of
``os.write`` calls over that buffer (``_fhlayer.FhLayer._send``).

Design: from what happened to the callback
------------------------------------------
IO::Stream's rules, applied in `IOStream.event` to whatever the layer below
reports: when data arrives and ``wait_for`` lacks IN, the error is EREQINEOF
(no EOF either), EREQINBUFLIMIT (no ``in_buf_limit``) or, once ``in_buf`` holds
more than ``in_buf_limit`` bytes (0: no limit), EINBUFLIMIT; nothing read is
ever discarded. Then the events are masked by ``wait_for`` (read anew each
time) and the callback runs if any event or an error is left. An exception
from the callback (or from a plugin) is logged through ``geventio._callbacks``
and closes this stream only, as everywhere in geventio; the callback is never
called after ``close()``.
"""

import socket
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from zope.interface import implementer

from .. import _callbacks
from .._io.nonblocking import is_tls
from .._params import NOT_GIVEN, check_int, check_seconds
from .._typing import FileLike
from ..errors import StreamClosedError
from ..interfaces import IIOStream
from ._fhlayer import FhLayer
from .constants import (ALL_EVENTS, CONNECTED, EINBUFLIMIT, EOF, EREQINBUFLIMIT,
                        EREQINEOF, IN)

__all__ = ['IOStream', 'USAGE']

#: What a bad constructor call is told, after what was wrong (IO::Stream's
#: ``usage: IO::Stream->new({ cb=>, wait_for=>, [fh=>, | host=>, port=>,] ... })``).
USAGE = 'usage: IOStream(cb=..., wait_for=..., [fh=... | host=..., port=...], ...)'

#: The fields IO::Stream sets itself; the constructor does not take them.
_READ_ONLY = frozenset({'ip', 'is_eof'})

#: Every open IOStream: IO::Stream keeps each object until its close(), so a
#: program need not hold on to it.
_OPEN: 'set[IOStream]' = set()

#: The callback: ``cb(io, events, err)``.
_T = TypeVar('_T')

Callback = Callable[['IOStream', int, Any], object]


def _usage_error(problem: str) -> TypeError:
    return TypeError(f'IOStream: {problem}; {USAGE}')


def _checked(check: Callable[[Any, str], _T], value: Any, name: str) -> _T:
    """``check(value, name)`` (a `geventio._params` check), its ``TypeError``
    ending in the usage text like every other of the constructor."""
    try:
        return check(value, name)
    except TypeError as err:
        raise _usage_error(str(err)) from None


@implementer(IIOStream)
class IOStream:
    """See `IIOStream`.

    Parameters:
        cb: required; ``cb(io, events, err)``, or an object (or class) with a
            method named ``method`` (default ``'IO'``), called the same way.
        fh: anything with ``fileno()`` giving a stream descriptor (TCP or unix
            socket, pipe, tty); it is set non-blocking, and ``close()`` closes it.
        host, port: instead of ``fh``: a name (resolved by the hub's resolver) or
            an IPv4/IPv6 literal, and an int port. Every address found is tried
            in turn.
        wait_for: the events the callback wants (default 0).
        in_buf_limit: ``None`` (default), or bytes ``in_buf`` may hold while IN
            is not wanted; 0 turns the check off.
        out_buf, in_buf: initial contents (bytes-like; a bytearray is used as
            it is). A non-empty ``out_buf`` is written at once.
        out_pos: ``None``, or where in ``out_buf`` writing starts.
        in_bytes, out_bytes: initial counter values (default 0).
        plugin: a list of ``(name, plugin)`` pairs, top of the chain first
            (see ``geventio.iostream.plugins``).
        connect_timeout, write_timeout: seconds, or ``None`` for no limit.
        Any name starting with an upper-case letter: a field of the user's.

    Events (bits of ``events``; see ``geventio.iostream``):
        RESOLVED: ``host`` was resolved; ``ip`` holds the first address.
        CONNECTED: connected (and through any plugin's handshake).
        IN: data was appended to ``in_buf`` (``in_bytes`` grew).
        OUT: data left ``out_buf`` or ``out_pos`` moved (``out_bytes`` grew).
        EOF: the end of the input; ``is_eof`` is true. Once.
        SENT: nothing of ``out_buf`` is left to write.
        Without a bit in ``wait_for`` that event is not delivered; errors
        always are.

    Raises:
        TypeError: a missing or wrong field, with the usage text.
        ValueError: an impossible value, or ``fh``'s descriptor already has
            an IOStream.
    """

    __slots__ = ('fh', 'host', 'port', 'wait_for', 'in_buf', 'in_buf_limit',
                 'in_bytes', 'out_buf', 'out_pos', 'out_bytes', 'ip', 'is_eof',
                 'plugin', 'lower', '_cb', '_method', '_call', '_bottom', '_closed',
                 '__dict__')

    #: The first layer below: a plugin, or the layer owning ``fh``.
    lower: Any

    #: Seconds from the first connect attempt until CONNECTED (IO::Stream's
    #: fixed 30 s); ``None``: no limit. Set it per stream as a field.
    connect_timeout: float | None = 30.0

    #: Seconds a pending write may make no progress before ETOWRITE (IO::Stream's
    #: fixed 30 s); re-armed by every write that moves bytes. ``None``: no limit.
    write_timeout: float | None = 30.0

    def __init__(self, *, cb: object = NOT_GIVEN, fh: FileLike | None = None,
                 host: str | None = None, port: int | None = None, wait_for: int = 0,
                 method: str = 'IO', in_buf_limit: int | None = None,
                 in_buf: Any = None, out_buf: Any = None, out_pos: int | None = None,
                 in_bytes: int = 0, out_bytes: int = 0,
                 plugin: Sequence[tuple[str, Any]] | None = None,
                 connect_timeout: float | None = NOT_GIVEN,
                 write_timeout: float | None = NOT_GIVEN, **fields: Any) -> None:
        """An IO::Stream; every keyword is described in the class docstring.
        ``cb`` is required (a ``TypeError`` with the usage text without it);
        ``**fields`` are the user's own, named with an upper-case first letter.
        The timeouts not given are the class attributes'."""
        self._closed = False
        self.ip: str | None = None
        self.is_eof = False
        self.fh = fh
        self.host = host
        self.port = port
        _check_target(fh, host, port)
        self._cb: Any = None
        self._method = 'IO'
        if cb is NOT_GIVEN:
            raise _usage_error('cb= is required')
        self.method = method
        self.cb = cb
        self.wait_for = _check_wait_for(wait_for)
        self.in_buf_limit = _check_count(in_buf_limit, 'in_buf_limit', none=True)
        self.in_buf = _buffer(in_buf, 'in_buf')
        self.out_buf = _buffer(out_buf, 'out_buf')
        self.out_pos = _check_count(out_pos, 'out_pos', none=True)
        self.in_bytes: int = _check_count(in_bytes, 'in_bytes')
        self.out_bytes: int = _check_count(out_bytes, 'out_bytes')
        if connect_timeout is not NOT_GIVEN:
            self.connect_timeout = _checked(check_seconds, connect_timeout,
                                            'connect_timeout')
        if write_timeout is not NOT_GIVEN:
            self.write_timeout = _checked(check_seconds, write_timeout, 'write_timeout')
        plugins = _check_plugins(plugin)
        _set_user_fields(self, fields)
        self.plugin = dict(plugins)
        self._link([layer for _, layer in plugins])
        self._start(fh, host, port)

    def _link(self, plugins: list[Any]) -> None:
        self._bottom = FhLayer(self)
        layers = [self, *plugins, self._bottom]
        for upper, lower in zip(layers, layers[1:], strict=False):
            upper.lower = lower
            lower.upper = upper

    def _start(self, fh: FileLike | None, host: str | None, port: int | None) -> None:
        """Prepare the chain (atomically: on failure nothing stays open but
        the ``fh`` the caller gave), then write any ``out_buf`` given."""
        _OPEN.add(self)
        try:
            self.lower.prepare(fh, host, port)
        except BaseException:
            self._closed = True
            _OPEN.discard(self)
            self._bottom.close(close_fh=fh is None)
            for plugin in self.plugin.values():
                plugin.upper = plugin.lower = None
            raise
        if not self._closed and len(self.out_buf) > (self.out_pos or 0):
            self.write()

    # -- the callback --------------------------------------------------------

    @property
    def cb(self) -> Any:
        """See `IIOStream.cb`."""
        return self._cb

    @cb.setter
    def cb(self, value: Any) -> None:
        self._call = _callable(value, self._method)
        self._cb = value

    @property
    def method(self) -> str:
        """See `IIOStream.method`."""
        return self._method

    @method.setter
    def method(self, value: str) -> None:
        if not isinstance(value, str):
            raise _usage_error(f'method must be a str, not {value!r}')
        if self._cb is not None:
            self._call = _callable(self._cb, value)
        self._method = value

    def event(self, events: int, err: Any = None) -> None:
        """See `IIOStream.event`: IO::Stream's rules (the module docstring),
        then the callback."""
        if self._closed:
            return
        if events & CONNECTED:
            self._bottom.connected()
        wait_for = self.wait_for
        if events & IN and err is None and not wait_for & IN:
            err = self._unwanted_input(wait_for)
        events &= wait_for
        if events or err is not None:
            try:
                self._call(self, events, err)
            except Exception:
                self._failed(self._call)

    def _unwanted_input(self, wait_for: int) -> Any:
        """The error for data read while IN is not wanted, or ``None``."""
        if not wait_for & EOF:
            return EREQINEOF
        limit = self.in_buf_limit
        if limit is None:
            return EREQINBUFLIMIT
        if limit and len(self.in_buf) > limit:
            return EINBUFLIMIT
        return None

    def _failed(self, what: object) -> None:
        """Report the exception being handled (raised by ``what``) and close."""
        _callbacks.report(what, self)
        self.close()

    # -- writing and closing -------------------------------------------------

    def write(self, data: Any = None) -> None:
        """See `IIOStream.write`.

        Raises:
            TypeError: ``data`` is not bytes-like (a ``str`` is not).
            geventio.StreamClosedError: after ``close()``. Errors of the write itself
                go to the callback, never raised here.
        """
        if self._closed:
            raise StreamClosedError(f'write on closed {self!r}')
        if data is not None:
            if isinstance(data, str):
                raise TypeError(f'write: data must be bytes-like, not {data!r}')
            try:
                self.out_buf += data
            except TypeError:
                raise TypeError(f'write: data must be bytes-like, not {data!r}') from None
        try:
            self.lower.write()
        except Exception:
            self._failed('a plugin')

    def close(self) -> None:
        """See `IIOStream.close`."""
        if self._closed:
            return
        self._closed = True
        _OPEN.discard(self)
        self._bottom.close()

    def __repr__(self) -> str:
        state = 'closed' if self._closed else 'open'
        fd = _fileno(self.fh) if self.fh is not None else None
        if self.host is not None:
            return f'<IOStream fd={fd} {self.host}:{self.port} ip={self.ip} {state}>'
        return f'<IOStream fd={fd} {state}>'


def _fileno(fh: Any) -> Any:
    try:
        return fh.fileno()
    except (OSError, ValueError, AttributeError):
        return '?'


def _check_target(fh: Any, host: Any, port: Any) -> None:
    if (fh is None) == (host is None):
        raise _usage_error('give fh= or host= and port=, '
                           + ('not both' if fh is not None else 'one of them is required'))
    if fh is not None:
        if port is not None:
            raise _usage_error(f'port={port!r} goes with host=, not with fh=')
        _check_fh(fh)
        return
    if not isinstance(host, str) or not host:
        raise _usage_error(f'host must be a non-empty str, not {host!r}')
    try:
        if '\0' in host:
            raise UnicodeError('a NUL character')
        host.encode('idna')
    except UnicodeError as err:
        raise ValueError(f'IOStream: host {host!r} is not a valid host name: '
                         f'{err}') from None
    if port is None:
        raise _usage_error('host= needs port=')
    _checked(check_int, port, 'port')
    if not 0 < port < 65536:
        raise ValueError(f'IOStream: port must be 1 to 65535, not {port!r}')


def _check_fh(fh: Any) -> None:
    if not callable(getattr(fh, 'fileno', None)):
        raise _usage_error(f'fh must have a fileno() method, not {fh!r}')
    if is_tls(fh):
        raise _usage_error(f'fh {fh!r} speaks TLS itself: give the plain socket '
                           "and plugin=[('ssl', TLSClient(...))] or TLSServer")
    try:
        fd = fh.fileno()
    except (OSError, ValueError) as err:
        raise ValueError(f"IOStream: can't get file descriptor of fh {fh!r}: {err}") from None
    if not isinstance(fd, int) or fd < 0:
        raise ValueError(f"IOStream: can't get file descriptor of fh {fh!r} "
                         f'(fileno() gave {fd!r})')
    if callable(getattr(fh, 'getsockopt', None)) and \
            getattr(fh, 'type', socket.SOCK_STREAM) != socket.SOCK_STREAM:
        raise ValueError(f'IOStream: fh {fh!r} is not a stream socket')


def _callable(cb: Any, method: str) -> Callable[..., Any]:
    """What to call for ``cb``: its method named ``method`` when it has one,
    else ``cb`` itself."""
    function: Callable[..., Any] | None = getattr(cb, method, None)
    if callable(function):
        return function
    if callable(cb):
        function = cb
        return function
    raise _usage_error(f'cb must be callable or have a method {method!r}, not {cb!r}')


def _check_wait_for(value: Any) -> int:
    mask: int = _checked(check_int, value, 'wait_for')
    if mask & ~ALL_EVENTS or mask < 0:
        raise ValueError(f'IOStream: wait_for={mask!r} has bits that are no event '
                         f'(the events are 1 to 32, together {ALL_EVENTS})')
    return mask


def _check_count(value: Any, name: str, none: bool = False) -> Any:
    if value is None and none:
        return None
    _checked(check_int, value, name)
    if value < 0:
        raise ValueError(f'IOStream: {name} must not be negative, not {value!r}')
    return value


def _buffer(value: Any, name: str) -> bytearray:
    """A bytearray field: the one given, a copy of other bytes-like data, or empty."""
    if value is None:
        return bytearray()
    if isinstance(value, bytearray):
        return value
    if isinstance(value, str):
        raise _usage_error(f'{name} must be bytes-like, not {value!r}')
    try:
        return bytearray(memoryview(value))
    except TypeError:
        raise _usage_error(f'{name} must be bytes-like, not {value!r}') from None


def _check_plugins(value: Any) -> list[tuple[str, Any]]:
    """``plugin=``: a list of ``(name, plugin)`` pairs, as a list of tuples."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise _usage_error(f'plugin must be a list of (name, plugin) pairs, not {value!r}')
    pairs: list[tuple[str, Any]] = []
    for item in value:
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and isinstance(item[0], str)):
            raise _usage_error(f'plugin items must be (name, plugin) pairs, not {item!r}')
        name, plugin = item
        missing = [m for m in ('prepare', 'write', 'event')
                   if not callable(getattr(plugin, m, None))]
        if missing:
            raise _usage_error(f'plugin {name!r} is no IPlugin (no {missing[0]}()): '
                               f'{plugin!r}')
        if any(name == other for other, _ in pairs):
            raise ValueError(f'IOStream: two plugins named {name!r}')
        if getattr(plugin, 'upper', None) is not None or \
                any(plugin is other for _, other in pairs):
            raise ValueError(f'IOStream: plugin {name!r} ({plugin!r}) is already in a '
                             'chain; each stream needs plugins of its own')
        pairs.append((name, plugin))
    return pairs


def _set_user_fields(stream: IOStream, fields: dict[str, Any]) -> None:
    """Set the user's fields (upper-case first letter); refuse anything else."""
    for name, value in fields.items():
        if name in _READ_ONLY:
            raise _usage_error(f'{name} is set by IOStream, it is not a parameter')
        if not name[:1].isupper():
            raise _usage_error(f'unknown field {name!r} (fields of your own must '
                               'start with an upper-case letter)')
        setattr(stream, name, value)
