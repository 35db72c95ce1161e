"""HTTPSProxy: an IOStream plugin that opens a tunnel through an HTTP proxy (CONNECT).

The Python form of IO::Stream::Proxy::HTTPS (interface
`geventio.iostream.IPlugin`). Put it below a `TLSClient` to reach a TLS
server through an ordinary HTTP proxy:
``plugin=[('ssl', TLSClient()), ('proxy', HTTPSProxy(host=..., port=...))]``.

It sends ``CONNECT host:port HTTP/1.0`` (RFC 9110 section 9.3.6) with
``Proxy-Authorization: Basic`` credentials when given (RFC 7617), waits for
the reply's header, and on a 2xx status steps out of the chain; any other
status is a `geventio.errors.ProxyError` carrying the status line.
"""

import base64
import errno
import re

from typing import Any

from ._handshake import TUNNEL, ProxyHandshake

__all__ = ['HTTPSProxy']

#: Most bytes the reply's header may take. A CONNECT reply is a status line and
#: a few fields; this bounds what a hostile proxy can make a stream hold.
MAX_REPLY_HEADER = 65536

#: The end of the header (a recipient may accept a bare LF, RFC 9112 section 2.2).
_END_OF_HEADER = re.compile(rb'\r?\n\r?\n')

#: A status line: HTTP-version SP 3DIGIT SP reason (RFC 9112 section 4).
_STATUS_LINE = re.compile(rb'HTTP/\d\.\d (\d{3})(?: .*)?')

#: Statuses meaning the proxy refused this client or this target.
_FORBIDDEN = frozenset({401, 403, 407})


class HTTPSProxy(ProxyHandshake):
    """A tunnel through an HTTP proxy, asked for with CONNECT.

    Parameters:
        host, port: the proxy.
        user, password: credentials for ``Proxy-Authorization: Basic``
            (``user`` may not contain ``:``, RFC 7617 section 2).

    Raises:
        TypeError, ValueError: a bad parameter.
    """

    def __init__(self, host: str, port: int, user: str | None = None,
                 password: str | None = None) -> None:
        super().__init__(host, port, user, password)
        if user is not None and ':' in user:
            raise ValueError(f"user {user!r} may not contain ':' (RFC 7617)")

    def _greeting(self) -> bytes:
        host, port = self.target  # type: ignore[misc]  # (set by prepare)
        authority = f'[{host}]:{port}' if ':' in host else f'{host}:{port}'
        lines = [f'CONNECT {authority} HTTP/1.0', f'Host: {authority}']
        if self.user is not None:
            secret = f'{self.user}:{self.password or ""}'.encode()
            lines.append('Proxy-Authorization: Basic '
                         + base64.b64encode(secret).decode('ascii'))
        return ('\r\n'.join(lines) + '\r\n\r\n').encode('ascii')

    def _answer(self) -> Any:
        end = _END_OF_HEADER.search(self.in_buf)
        if end is None:
            if len(self.in_buf) > MAX_REPLY_HEADER:
                raise self._error(errno.EPROTO, f'reply header longer than '
                                  f'{MAX_REPLY_HEADER} bytes')
            return None
        header = bytes(self.in_buf[:end.start()])
        del self.in_buf[:end.end()]
        line = header.split(b'\n', 1)[0].rstrip(b'\r')
        status = _STATUS_LINE.fullmatch(line)
        text = line.decode('latin-1')
        if status is None:
            raise self._error(errno.EPROTO, f'not an HTTP reply: {text!r}', text)
        code = int(status.group(1))
        if not 200 <= code < 300:
            raise self._error(errno.EACCES if code in _FORBIDDEN else errno.ECONNREFUSED,
                              f'CONNECT refused: {text}', text)
        return TUNNEL
