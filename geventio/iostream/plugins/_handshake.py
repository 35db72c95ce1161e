"""What the proxy plugins share: a handshake with the proxy, then stepping out of
the chain.

Not a public module. `HTTPSProxy` and `SOCKS5Proxy` differ only in what they
say to the proxy and how they read its answers; this base makes the layer
below connect to the proxy instead of the target, holds CONNECTED back until
the proxy has opened the tunnel, and then removes the plugin from the chain,
so that the bytes of the tunnel go straight between the layers around it.

Design: what the layers above see
---------------------------------
RESOLVED passes through (``ip`` is the proxy's address: the target is never
resolved here); CONNECTED comes once the tunnel is open, together with IN if
the proxy sent tunnel bytes right behind its answer. What the layers above
write meanwhile waits in their own ``out_buf`` (no OUT yet) and goes out when
the tunnel opens. A refusal, a malformed answer or a connection closed during
the handshake is a `geventio.errors.ProxyError`, after which the plugin passes
nothing more on and drops what the proxy goes on sending; the stream's
``connect_timeout`` covers the whole handshake, since CONNECTED has not
reached it yet.
"""

import errno

from typing import Any

from zope.interface import implementer

from ..._params import check_int
from ...errors import ProxyError
from ..constants import CONNECTED, EOF, IN, RESOLVED
from ..interfaces import IPlugin
from ._layer import Layer

__all__ = ['ProxyHandshake', 'TUNNEL']

#: What `ProxyHandshake._answer` returns once the proxy has opened the tunnel.
TUNNEL = object()


@implementer(IPlugin)
class ProxyHandshake(Layer):
    """A plugin that asks a proxy for a tunnel to the stream's host and port.

    Subclasses give `_greeting` (the first bytes to send) and `_answer`
    (reads ``in_buf``: ``None`` to wait for more, bytes to send next, or
    `TUNNEL`; raises `ProxyError`).

    Attributes:
        host, port: the proxy.
        user, password: the credentials, or ``None``.
        target: ``(host, port)`` the tunnel leads to, once prepared.
    """

    def __init__(self, host: str, port: int, user: str | None = None,
                 password: str | None = None) -> None:
        super().__init__()
        if not isinstance(host, str) or not host:
            raise TypeError(f'host must be a non-empty str, not {host!r}')
        port = check_int(port, 'port')
        if not 0 < port < 65536:
            raise ValueError(f'port must be 1 to 65535, not {port!r}')
        for name, value in (('user', user), ('password', password)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f'{name} must be a str or None, not {value!r}')
        if password is not None and user is None:
            raise ValueError('password= needs user=')
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.target: tuple[str, int] | None = None
        self._open = False
        self._failed = False

    def prepare(self, fh: Any, host: str | None, port: int | None) -> None:
        """See `IPlugin.prepare`: the layer below connects to the proxy.

        Raises:
            TypeError: the stream was made from ``fh=`` (no target to ask for).
            ValueError: the target host cannot be put in a request, or this
                plugin served a stream already (once its tunnel is open it has
                left that chain, so the stream's own check cannot see it).
        """
        if self.target is not None:
            raise ValueError(f'{type(self).__name__} {self.host}:{self.port} served a '
                             'stream already; each stream needs plugins of its own')
        if host is None:
            raise TypeError(f'{type(self).__name__} needs the IOStream made from '
                            'host= and port= (the target); with fh= there is no '
                            'target to ask the proxy for')
        name = _ascii_host(host)
        self._check_target(name)
        self.target = (name, port)  # type: ignore[assignment]  # (port comes with host)
        self.lower.prepare(None, self.host, self.port)

    def _check_target(self, host: str) -> None:
        """Hook: ``ValueError`` when the protocol cannot carry ``host`` (ASCII)."""

    def write(self) -> None:
        """See `IPlugin.write`: the data waits in the layer above until the
        tunnel is open."""

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
        if err is None:
            try:
                if events & CONNECTED:
                    self._send(self._greeting())
                if events & IN:
                    self._received()
                if events & EOF and not self._open:
                    raise self._error(errno.ECONNRESET,
                                      'closed the connection during the handshake')
            except ProxyError as failure:
                self._failed = True
                err = failure
        if up or err is not None:
            upper.event(up, err)

    def _send(self, data: bytes) -> None:
        self.out_buf += data
        self.lower.write()

    def _received(self) -> None:
        while not self._open:
            answer = self._answer()
            if answer is None:
                return
            if answer is TUNNEL:
                self._step_out()
            else:
                self._send(answer)

    def _step_out(self) -> None:
        """The tunnel is open: leave the chain, tell the layers above, and send
        what they wrote meanwhile."""
        self._open = True
        upper, lower = self.upper, self.lower
        upper.lower, lower.upper = lower, upper
        events = CONNECTED | self.pass_input()
        self.upper = self.lower = None
        upper.event(events, None)
        lower.write()

    def _error(self, code: int, message: str, reply: str | int | None = None) -> ProxyError:
        return ProxyError(code, message, (self.host, self.port), reply)

    def _greeting(self) -> bytes:
        raise NotImplementedError

    def _answer(self) -> Any:
        """``None`` (wait), the bytes to send next, or `TUNNEL`."""
        raise NotImplementedError


def _ascii_host(host: str) -> str:
    """``host`` as it goes on the wire: ASCII (IDNA for other names), with no
    character that could end a request line or a field.

    Raises:
        ValueError: it cannot be.
    """
    try:
        name = host if host.isascii() else host.encode('idna').decode('ascii')
    except UnicodeError as err:
        raise ValueError(f'host {host!r} is not a valid name: {err}') from None
    if not name.isprintable() or any(char in name for char in ' \t\r\n/@[]'):
        raise ValueError(f'host {host!r} cannot be sent to a proxy')
    return name
