"""Fetch a web page with an IOStream, directly or through a proxy, and print the reply.

IO::Stream's synopsis in geventio: one ``IOStream`` made from host and port,
``out_buf`` holding the request, ``wait_for=SENT|EOF`` with an ``in_buf_limit``,
and the whole reply printed at EOF. An ``https://`` URL adds a ``TLSClient``
plugin (certificates verified); ``--proxy`` adds an ``HTTPSProxy``
(``http://[user:password@]host:port``, which asks for a CONNECT tunnel) or a
``SOCKS5Proxy`` (``socks5://[user:password@]host:port``) below it.

    python examples/iostream_get.py            # demo: serve a page on 127.0.0.1, fetch it
    python examples/iostream_get.py http://127.0.0.1:8000/
    python examples/iostream_get.py http://127.0.0.1:8000/ --proxy http://127.0.0.1:8888
    python examples/iostream_get.py https://localhost:8443/ --proxy socks5://127.0.0.1:1080

The demo mode takes ``--proxy`` too. Progress goes to stderr, the reply to stdout.
"""

import argparse
import sys
import urllib.parse

import gevent
import gevent.server
from gevent.event import AsyncResult

from geventio.iostream import EOF, SENT, IOStream
from geventio.iostream.plugins import HTTPSProxy, SOCKS5Proxy, TLSClient

#: Largest reply kept (IO::Stream's in_buf_limit: without IN in wait_for the
#: reply accumulates until EOF, and a limit keeps a huge one from filling memory).
MAX_REPLY = 1024 * 1024

#: Seconds the whole fetch may take.
TIMEOUT = 10

#: The page the demo serves.
DEMO_PAGE = b'<html><body>Hello from the geventio IOStream demo.</body></html>\n'


def proxy_plugin(url):
    """The plugin for ``--proxy URL``."""
    proxy = urllib.parse.urlsplit(url)
    kinds = {'http': HTTPSProxy, 'socks5': SOCKS5Proxy}
    if proxy.scheme not in kinds or not proxy.hostname or not proxy.port:
        raise SystemExit(f'--proxy must be http://host:port or socks5://host:port, '
                         f'not {url!r}')
    user = urllib.parse.unquote(proxy.username) if proxy.username else None
    password = urllib.parse.unquote(proxy.password) if proxy.password else None
    return kinds[proxy.scheme](proxy.hostname, proxy.port, user=user, password=password)


def fetch(url, proxy=None):
    """GET ``url`` (http or https) and return the raw reply (bytes)."""
    target = urllib.parse.urlsplit(url)
    if target.scheme not in ('http', 'https') or not target.hostname:
        raise SystemExit(f'the URL must be http://... or https://..., not {url!r}')
    port = target.port or (443 if target.scheme == 'https' else 80)
    plugins = [('ssl', TLSClient())] if target.scheme == 'https' else []
    if proxy:
        plugins.append(('proxy', proxy_plugin(proxy)))
    host = target.netloc.rpartition('@')[2]     # never the URL's user:password
    request = (f'GET {target.path or "/"}{"?" + target.query if target.query else ""} '
               f'HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n')
    reply = AsyncResult()

    def client(io, events, err):
        if err is not None:
            io.close()
            reply.set_exception(err)
            return
        if events & SENT:
            print('request sent, waiting for reply...', file=sys.stderr)
        if events & EOF:
            io.close()
            reply.set(bytes(io.in_buf))

    io = IOStream(host=target.hostname, port=port, cb=client, wait_for=SENT | EOF,
                  in_buf_limit=MAX_REPLY, out_buf=request.encode('ascii'),
                  plugin=plugins)
    try:
        return reply.get(timeout=TIMEOUT)
    finally:
        io.close()


def serve_demo_page(sock, _address):
    """A one-page HTTP/1.0 server for the demo."""
    with sock:
        request = b''
        while b'\r\n\r\n' not in request:
            chunk = sock.recv(4096)
            if not chunk:
                return
            request += chunk
        sock.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n'
                     b'Content-Length: %d\r\n\r\n%s' % (len(DEMO_PAGE), DEMO_PAGE))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('url', nargs='?', help='the page (default: the demo serves one)')
    parser.add_argument('--proxy', help='http://host:port or socks5://host:port')
    args = parser.parse_args(argv)
    server = None
    if args.url is None:
        server = gevent.server.StreamServer(('127.0.0.1', 0), serve_demo_page)
        server.start()
        args.url = f'http://127.0.0.1:{server.server_port}/'
        print(f'demo: serving a page at {args.url}', file=sys.stderr)
    try:
        reply = fetch(args.url, args.proxy)
    except (OSError, gevent.Timeout) as err:
        print(f'fetching {args.url} failed: {err}', file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
    sys.stdout.write(reply.decode('utf-8', 'replace'))
    return 0 if reply.startswith(b'HTTP/') else 1


if __name__ == '__main__':
    sys.exit(main())
