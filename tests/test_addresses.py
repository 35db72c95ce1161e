"""The address forms of docs/api.md section 1 and the helpers Connector and Listener
build their candidates with."""

import socket

import pytest

from geventio import addresses
from geventio.addresses import Address


@pytest.mark.parametrize('form, expected', [
    ((socket.AF_INET, socket.SOCK_STREAM, 0, ('127.0.0.1', 80)),
     Address(socket.AF_INET, socket.SOCK_STREAM, 0, ('127.0.0.1', 80))),
    (('inet', 'dgram', 17, ('127.0.0.1', 53)),
     Address(socket.AF_INET, socket.SOCK_DGRAM, 17, ('127.0.0.1', 53))),
    ((socket.AF_INET6, socket.SOCK_STREAM, 6, '', ('::1', 80, 0, 0)),
     Address(socket.AF_INET6, socket.SOCK_STREAM, 6, ('::1', 80, 0, 0))),
    ({'family': 'inet', 'socktype': 'stream', 'ip': '10.0.0.1', 'port': 8001},
     Address(socket.AF_INET, socket.SOCK_STREAM, 0, ('10.0.0.1', 8001))),
    ({'ip': '::1', 'port': 1},
     Address(socket.AF_INET6, 0, 0, ('::1', 1, 0, 0))),
    ({'family': 'unix', 'socktype': 'stream', 'path': 'echo.sock'},
     Address(socket.AF_UNIX, socket.SOCK_STREAM, 0, 'echo.sock')),
    ({'path': b'\0abstract'}, Address(socket.AF_UNIX, 0, 0, b'\0abstract')),
])
def test_parse_address_accepts_every_form(form, expected):
    assert addresses.parse_address(form) == expected


def test_parse_address_takes_getaddrinfo_results_as_they_are():
    for result in socket.getaddrinfo('127.0.0.1', 80, 0, socket.SOCK_STREAM):
        parsed = addresses.parse_address(result)
        assert parsed == (result[0], result[1], result[2], result[4])


@pytest.mark.parametrize('form, error, words', [
    ({'ip': '127.0.0.1', 'port': 1, 'host': 'x'}, ValueError, "unknown keys ['host']"),
    ({'family': 'inet7', 'ip': '1.2.3.4'}, ValueError, 'inet7'),
    ({'ip': '1.2.3.4', 'socktype': 'seqpacket'}, ValueError, 'seqpacket'),
    ({'ip': '1.2.3.4', 'port': 70000}, ValueError, '0..65535'),
    ({'ip': '1.2.3.4', 'port': -1}, ValueError, '0..65535'),
    ({'ip': '1.2.3.4', 'port': '80'}, TypeError, 'port must be an int'),
    (('inet', 'stream', 0, ('1.2.3.4', 65536)), ValueError, '0..65535'),
    ({'family': 'unix', 'path': 'x', 'port': 1}, ValueError, 'unix'),
    ({'family': 'unix'}, ValueError, 'path'),
    ({'path': 42}, TypeError, 'path'),
    ({'ip': '1.2.3.4', 'path': 'x'}, ValueError, 'unix'),
    ({'family': 'inet', 'ip': '1.2.3.4', 'path': 'x'}, ValueError,
     'path is only for unix'),
    (('inet', 'stream', ('1.2.3.4', 1)), ValueError, '4-tuple'),
    ('127.0.0.1:80', TypeError, 'tuple or a dict'),
    ({'ip': '1.2.3.4', 'protocol': 'tcp'}, TypeError, 'protocol'),
])
def test_parse_address_rejects_bad_forms_naming_the_parameter(form, error, words):
    with pytest.raises(error) as info:
        addresses.parse_address(form, 'local_addr')
    assert words in str(info.value)
    assert 'local_addr' in str(info.value)


def test_parse_addresses_wants_a_list():
    assert addresses.parse_addresses([{'path': 'a'}, {'path': 'b'}])[1].sockaddr == 'b'
    for bad in ({'path': 'a'}, 'path', 5):
        with pytest.raises(TypeError, match='addrs must be a list'):
            addresses.parse_addresses(bad)


@pytest.mark.parametrize('value, expected', [
    ('stream', socket.SOCK_STREAM), ('dgram', socket.SOCK_DGRAM),
    ('raw', socket.SOCK_RAW), (socket.SOCK_DGRAM, socket.SOCK_DGRAM), (0, 0)])
def test_parse_socktype(value, expected):
    assert addresses.parse_socktype(value) == expected


@pytest.mark.parametrize('value, expected', [
    ('inet', socket.AF_INET), ('inet6', socket.AF_INET6), ('unix', socket.AF_UNIX),
    (socket.AF_INET6, socket.AF_INET6), (0, 0)])
def test_parse_family(value, expected):
    assert addresses.parse_family(value) == expected


@pytest.mark.parametrize('parse, value, error', [
    (addresses.parse_family, 'ipx', ValueError),
    (addresses.parse_family, True, TypeError),
    (addresses.parse_family, 2.0, TypeError),
    (addresses.parse_socktype, 'STREAM', ValueError),
    (addresses.parse_socktype, None, TypeError),
])
def test_family_and_socktype_errors_name_the_parameter(parse, value, error):
    with pytest.raises(error, match='hint'):
        parse(value, 'hint')


@pytest.mark.parametrize('value, expected', [
    (None, 0), ('', 0), (0, 0), (8080, 8080), ('http', 'http'), ('8080', '8080')])
def test_parse_service(value, expected):
    assert addresses.parse_service(value) == expected


@pytest.mark.parametrize('value, error', [
    (70000, ValueError), (-1, ValueError), ('99999', ValueError), ('-1', ValueError),
    (True, TypeError), (8.5, TypeError)])
def test_parse_service_rejects_bad_ports(value, error):
    with pytest.raises(error, match='local_service'):
        addresses.parse_service(value, 'local_service')


def test_parse_host():
    assert addresses.parse_host(None) is None
    assert addresses.parse_host('example.org') == 'example.org'
    with pytest.raises(TypeError, match='host'):
        addresses.parse_host(b'example.org')


def test_from_getaddrinfo_keeps_order_and_drops_canonname():
    results = [(socket.AF_INET6, 1, 6, 'c', ('::1', 1, 0, 0)),
               (socket.AF_INET, 1, 6, '', ('127.0.0.1', 1))]
    assert addresses.from_getaddrinfo(results) == [
        Address(socket.AF_INET6, 1, 6, ('::1', 1, 0, 0)),
        Address(socket.AF_INET, 1, 6, ('127.0.0.1', 1))]


@pytest.mark.parametrize('local, peer, agree', [
    ((2, 1, 0), (2, 1, 6), True),
    ((0, 0, 0), (10, 2, 17), True),
    ((2, 1, 0), (10, 1, 0), False),
    ((2, 2, 0), (2, 1, 0), False),
    ((2, 1, 6), (2, 1, 17), False),
])
def test_agrees_treats_zero_as_anything(local, peer, agree):
    assert addresses.agrees(Address(*local, None), Address(*peer, None)) is agree


def test_combine_takes_each_field_from_the_side_that_gives_it():
    local = Address(0, socket.SOCK_DGRAM, 0, None)
    peer = Address(socket.AF_INET, 0, 17, None)
    assert addresses.combine(local, peer) == (socket.AF_INET, socket.SOCK_DGRAM, 17)


def test_combine_makes_an_unknown_socket_type_a_stream():
    address = addresses.parse_address({'ip': '127.0.0.1', 'port': 1})
    assert addresses.combine(address, address)[1] == socket.SOCK_STREAM
