"""Every public class provides its zope.interface declaration (verifyObject)."""

import socket
import ssl

import gevent.socket
import pytest
import trustme
from zope.interface.verify import verifyClass, verifyObject

import geventio
from conftest import HAS_IPV6
from geventio import interfaces
from geventio.danga import DangaSocket
from geventio.iostream import IN, IOStream, IPlugin
from geventio.iostream.plugins import (HTTPSProxy, Noop, NoopAlias, SOCKS5Proxy,
                                       TLSClient, TLSServer)
from geventio.testing import LeakCheck
from netutil import loopback


def _listener(loop, sockets):
    listener = geventio.Listener(on_accept=lambda listener, sock: sock.close())
    loop.add(listener)
    listener.listen(addr={'family': 'inet', 'socktype': 'stream',
                          'ip': '127.0.0.1', 'port': 0}).get()
    return listener


def _stream(loop, sockets):
    a, _ = sockets.keep(*gevent.socket.socketpair())
    return geventio.Stream(handle=a, on_read=lambda stream, buffer, eof: 0)


def _socket(loop, sockets):
    a, _ = sockets.keep(*gevent.socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM))
    return geventio.Socket(handle=a, on_recv=lambda sock, data, addr: None)


def _danga_socket(loop, sockets):
    a, _ = sockets.keep(*gevent.socket.socketpair())
    return DangaSocket(a)


def _handle(loop, sockets):
    a, _ = sockets.keep(*gevent.socket.socketpair())
    return geventio.Handle(handle=a)


def _udp_socket(family):
    def make(loop, sockets):
        if family == socket.AF_INET6 and not HAS_IPV6:
            pytest.skip('no IPv6 loopback on this machine')
        sock = sockets.keep(gevent.socket.socket(family, socket.SOCK_DGRAM))
        sock.bind((loopback(family), 0))
        return geventio.Socket(handle=sock, on_recv=lambda sock, data, addr: None)
    return make


def _idle_listener(loop, sockets):
    return geventio.Listener(on_accept=lambda listener, sock: None)


def _iostream(loop, sockets):
    a, _ = sockets.keep(*gevent.socket.socketpair())
    return IOStream(fh=a, cb=lambda io, events, err: None, wait_for=IN)


def _plugin(make_plugin):
    """A plugin linked into a stream (NoopAlias's fields are its upper's)."""
    def make(loop, sockets):
        a, _ = sockets.keep(*gevent.socket.socketpair())
        plugin = make_plugin()
        stream = IOStream(fh=a, cb=lambda io, events, err: None, wait_for=IN,
                          plugin=[('p', plugin)])
        sockets.keep(stream)
        return plugin
    return make


def _server_context():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert('localhost').configure_cert(context)
    return context


def _proxy_plugin(cls):
    def make(loop, sockets):
        return cls('127.0.0.1', 1080)
    return make


#: (id, interface, class, make(loop, sockets)): each public class, in the
#: states where its attributes differ (with and without a handle, listening
#: or not, over each kind of socket).
CASES = [
    ('Loop', interfaces.ILoop, geventio.Loop, lambda loop, sockets: loop),
    ('Notifier', interfaces.INotifier, geventio.Notifier,
     lambda loop, sockets: geventio.Notifier()),
    ('Handle', interfaces.IHandle, geventio.Handle, lambda loop, sockets: geventio.Handle()),
    ('Handle-with-a-handle', interfaces.IHandle, geventio.Handle, _handle),
    ('Stream', interfaces.IStream, geventio.Stream, _stream),
    ('Socket-unix', interfaces.ISocket, geventio.Socket, _socket),
    ('Socket-udp4', interfaces.ISocket, geventio.Socket, _udp_socket(socket.AF_INET)),
    ('Socket-udp6', interfaces.ISocket, geventio.Socket, _udp_socket(socket.AF_INET6)),
    ('Listener-listening', interfaces.IListener, geventio.Listener, _listener),
    ('Listener-idle', interfaces.IListener, geventio.Listener, _idle_listener),
    ('Connector', interfaces.IConnector, geventio.Connector,
     lambda loop, sockets: geventio.Connector()),
    ('DangaSocket', interfaces.IDangaSocket, DangaSocket, _danga_socket),
    ('LeakCheck', interfaces.ILeakCheck, LeakCheck, lambda loop, sockets: LeakCheck()),
    ('IOStream', interfaces.IIOStream, IOStream, _iostream),
]

#: The plugins of geventio.iostream, checked against its own IPlugin.
PLUGIN_CASES = [
    ('Noop', IPlugin, Noop, _plugin(Noop)),
    ('NoopAlias', IPlugin, NoopAlias, _plugin(NoopAlias)),
    ('TLSClient', IPlugin, TLSClient, _plugin(lambda: TLSClient(server_hostname='localhost'))),
    ('TLSServer', IPlugin, TLSServer, _plugin(lambda: TLSServer(_server_context()))),
    ('HTTPSProxy', IPlugin, HTTPSProxy, _proxy_plugin(HTTPSProxy)),
    ('SOCKS5Proxy', IPlugin, SOCKS5Proxy, _proxy_plugin(SOCKS5Proxy)),
]


@pytest.mark.parametrize('iface, cls, make', [case[1:] for case in CASES + PLUGIN_CASES],
                         ids=[case[0] for case in CASES + PLUGIN_CASES])
def test_public_class_provides_its_interface(iface, cls, make, loop, sockets):
    assert verifyClass(iface, cls)
    obj = make(loop, sockets)
    assert verifyObject(iface, obj)
    if hasattr(obj, 'close') and obj is not loop:
        obj.close()


def test_every_interface_is_exported_and_tested():
    declared = {name for name in interfaces.__all__}
    assert declared == {case[1].__name__ for case in CASES}


def test_events_are_not_declared_as_methods():
    """An object configured with keyword callbacks must still verify."""
    for _, iface, *_ in CASES:
        assert not [name for name in iface.names(all=True) if name.startswith('on_')]
