"""A TLS echo server and client: ``listen(ssl=...)`` and ``connect(ssl=...)``.

Certificates come from trustme (``pip install trustme``, in the ``test``
extra): a throw-away certificate authority signs a certificate for
``localhost``, the server presents it, and the client trusts that authority
only and checks the host name, as a real client would.

    python examples/tls_echo.py                 # demo: echo three lines over TLS, exit
    python examples/tls_echo.py --serve 8443    # serve on port 8443 until Ctrl-C

The second form writes the authority's certificate to a file it names, for
``openssl s_client -connect 127.0.0.1:8443 -CAfile FILE``.
"""

import argparse
import os
import ssl
import sys
import tempfile

import trustme

import geventio

#: Seconds the demo waits for each step.
DEMO_TIMEOUT = 5


def echo(stream, buffer, eof):
    """on_read: send back whatever arrived (decrypted: the stream is TLS)."""
    stream.write(bytes(buffer))
    del buffer[:]
    return 0


def contexts():
    """(server context, client context, authority) for ``localhost``."""
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert('localhost', '127.0.0.1').configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return server, client, authority


def start(loop, context, port=0, host='127.0.0.1'):
    """A TLS echo server; each connection is secured before on_stream sees it."""
    def on_stream(stream):
        stream.configure(on_read=echo)
        loop.add(stream)

    return loop.listen(host=host, service=port, socktype='stream', ssl=context,
                       on_stream=on_stream).get(timeout=10)


def demo(loop, address, context):
    """Connect with TLS, echo three lines; True if all came back."""
    stream = loop.connect(host=address[0], service=address[1], socktype='stream',
                          ssl=context, server_hostname='localhost',
                          on_stream=lambda stream: None).get(timeout=DEMO_TIMEOUT)
    stream.configure(on_read=lambda stream, buffer, eof: 0)     # futures read
    loop.add(stream)
    tls = stream.read_handle          # the ssl socket, its handshake done
    names = [value for _kind, value in tls.getpeercert()['subjectAltName']]
    print(f'connected with {tls.version()}, certificate verified for {names}')
    ok = True
    for line in (b'hello\n', b'over TLS\n', b'goodbye\n'):
        stream.write(line)
        echoed = stream.read_until(b'\n').get(timeout=DEMO_TIMEOUT)
        print(f'sent {line!r}, echoed {echoed!r}')
        ok = ok and echoed == line
    stream.close()
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--serve', metavar='PORT', type=int,
                        help='serve on PORT until interrupted (default: run the demo)')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on')
    args = parser.parse_args(argv)
    server_context, client_context, authority = contexts()
    with geventio.Loop() as loop:
        listener = start(loop, server_context, args.serve or 0, args.host)
        if args.serve is None:
            return 0 if demo(loop, listener.sockname, client_context) else 1
        with tempfile.TemporaryDirectory() as folder:
            ca_file = os.path.join(folder, 'ca.pem')
            authority.cert_pem.write_to_path(ca_file)
            print(f'TLS echo on {args.host} port {listener.sockname[1]}; '
                  f'certificate authority in {ca_file}', flush=True)
            try:
                loop.run()
            except KeyboardInterrupt:
                pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
