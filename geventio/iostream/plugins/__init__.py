"""The plugins that ship with geventio's IOStream.

Each sits between an `geventio.iostream.IOStream` and its file handle, given
in ``plugin=[(name, plugin), ...]`` from the top of the chain down:

- `Noop`, `NoopAlias`: change nothing (the skeletons to start a plugin from);
- `TLSClient`, `TLSServer`: TLS on Python's ``ssl`` over memory BIOs;
- `HTTPSProxy`: a tunnel through an HTTP proxy (CONNECT);
- `SOCKS5Proxy`: a tunnel through a SOCKS5 proxy.

A proxy that refuses is reported as `geventio.errors.ProxyError`.
docs/iostream.md explains how to write a plugin.
"""

from ...errors import ProxyError
from .https_proxy import HTTPSProxy
from .noop import Noop, NoopAlias
from .socks5 import SOCKS5Proxy
from .tls import TLSClient, TLSServer

__all__ = ['HTTPSProxy', 'Noop', 'NoopAlias', 'ProxyError', 'SOCKS5Proxy',
           'TLSClient', 'TLSServer']
