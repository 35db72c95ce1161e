"""SOCKS5Proxy: an IOStream plugin that opens a tunnel through a SOCKS5 proxy.

The Python form of a SOCKS5 client layer for IO::Stream (interface
`geventio.iostream.IPlugin`), speaking RFC 1928 with no authentication or
with a user name and password (RFC 1929). A host name is passed to the proxy
as it is (address type 3) and resolved there, never here; IPv4 and IPv6
literals go as addresses.
"""

import errno
import ipaddress
import struct

from typing import Any

from ._handshake import TUNNEL, ProxyHandshake

__all__ = ['SOCKS5Proxy']

_VERSION = 5
_NO_AUTH, _USER_PASSWORD, _NO_METHOD = 0x00, 0x02, 0xFF
_AUTH_VERSION = 1               # RFC 1929 section 2
_CONNECT = 1
_IPV4, _DOMAIN, _IPV6 = 1, 3, 4
_ADDRESS_SIZE = {_IPV4: 4, _IPV6: 16}

#: Reply codes (RFC 1928 section 6): the errno that says the same, and the text.
REPLIES = {
    0x01: (errno.ECONNREFUSED, 'general SOCKS server failure'),
    0x02: (errno.EACCES, 'connection not allowed by ruleset'),
    0x03: (errno.ENETUNREACH, 'network unreachable'),
    0x04: (errno.EHOSTUNREACH, 'host unreachable'),
    0x05: (errno.ECONNREFUSED, 'connection refused'),
    0x06: (errno.ETIMEDOUT, 'TTL expired'),
    0x07: (errno.EOPNOTSUPP, 'command not supported'),
    0x08: (errno.EAFNOSUPPORT, 'address type not supported'),
}


class SOCKS5Proxy(ProxyHandshake):
    """A tunnel through a SOCKS5 proxy (RFC 1928, RFC 1929).

    Parameters:
        host, port: the proxy.
        user, password: credentials (1 to 255 and 0 to 255 bytes in UTF-8);
            with them the proxy may choose either method.

    Raises:
        TypeError, ValueError: a bad parameter.
    """

    def __init__(self, host: str, port: int, user: str | None = None,
                 password: str | None = None) -> None:
        super().__init__(host, port, user, password)
        if user is not None:
            if not 0 < len(user.encode('utf-8')) < 256:
                raise ValueError(f'user {user!r} must be 1 to 255 bytes (RFC 1929)')
            if len((password or '').encode('utf-8')) > 255:
                raise ValueError('password must be at most 255 bytes (RFC 1929)')
        self._step = 'method'

    def _check_target(self, host: str) -> None:
        if len(host) > 255:
            raise ValueError(f'host {host!r} is longer than SOCKS5 '
                             'allows (255 bytes)')

    def _greeting(self) -> bytes:
        if self.user is None:
            return bytes([_VERSION, 1, _NO_AUTH])
        return bytes([_VERSION, 2, _NO_AUTH, _USER_PASSWORD])

    def _answer(self) -> Any:
        return getattr(self, '_answer_' + self._step)()

    def _answer_method(self) -> Any:
        if len(self.in_buf) < 2:
            return None
        version, method = self._take(2)
        if version != _VERSION:
            raise self._error(errno.EPROTO, f'not a SOCKS5 reply (version {version})')
        if method == _NO_AUTH:
            return self._request()
        if method == _USER_PASSWORD and self.user is not None:
            self._step = 'auth'
            user = self.user.encode('utf-8')
            password = (self.password or '').encode('utf-8')
            return bytes([_AUTH_VERSION, len(user)]) + user + \
                bytes([len(password)]) + password
        if method == _NO_METHOD:
            raise self._error(errno.EACCES, 'no acceptable authentication method'
                              + (' (credentials needed)' if self.user is None else ''))
        raise self._error(errno.EPROTO, f'chose method {method} that was not offered')

    def _answer_auth(self) -> Any:
        if len(self.in_buf) < 2:
            return None
        _, status = self._take(2)
        if status != 0:
            raise self._error(errno.EACCES, 'user name and password rejected', status)
        return self._request()

    def _answer_reply(self) -> Any:
        buf = self.in_buf
        if len(buf) < 5:
            return None
        version, reply, _, kind = buf[:4]
        if version != _VERSION:
            raise self._error(errno.EPROTO, f'not a SOCKS5 reply (version {version})')
        if reply != 0:
            code, text = REPLIES.get(reply, (errno.ECONNREFUSED, 'unknown failure'))
            raise self._error(code, f'CONNECT refused: {text} (reply {reply})', reply)
        if kind == _DOMAIN:
            size = 4 + 1 + buf[4] + 2
        elif kind in _ADDRESS_SIZE:
            size = 4 + _ADDRESS_SIZE[kind] + 2
        else:
            raise self._error(errno.EPROTO, f'unknown address type {kind} in reply')
        if len(buf) < size:
            return None
        self._take(size)
        return TUNNEL

    def _request(self) -> bytes:
        """The CONNECT request for the target (RFC 1928 section 4)."""
        self._step = 'reply'
        host, port = self.target  # type: ignore[misc]  # (set by prepare)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            name = host.encode('ascii')
            destination = bytes([_DOMAIN, len(name)]) + name
        else:
            destination = bytes([_IPV4 if address.version == 4 else _IPV6]) + address.packed
        return bytes([_VERSION, _CONNECT, 0]) + destination + struct.pack('!H', port)

    def _take(self, count: int) -> bytes:
        taken = bytes(self.in_buf[:count])
        del self.in_buf[:count]
        return taken
