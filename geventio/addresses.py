"""Address forms: 4-tuples, getaddrinfo 5-tuples and dicts, and family/type names.

The Python form of IO::Async::OS's ``extract_addrinfo`` and its ``'inet'`` /
``'stream'`` shortcuts (API.md section 1). Everything that takes an address
(``addr``, ``addrs``, ``local_addr``, ``local_addrs``) normalises it here, once,
at the call, so that a bad one raises before any socket is made.
"""

import collections
import socket

__all__ = ['Address', 'agrees', 'combine', 'from_getaddrinfo', 'parse_address',
           'parse_addresses', 'parse_family', 'parse_host', 'parse_service',
           'parse_socktype']

#: The string spellings of address families (API.md section 1).
FAMILIES = {'inet': socket.AF_INET, 'inet6': socket.AF_INET6,
            'unix': socket.AF_UNIX}

#: The string spellings of socket types (API.md section 1).
SOCKTYPES = {'stream': socket.SOCK_STREAM, 'dgram': socket.SOCK_DGRAM,
             'raw': socket.SOCK_RAW}

_DICT_KEYS = frozenset({'family', 'socktype', 'protocol', 'ip', 'port', 'path'})

#: One normalised address; ``sockaddr`` is what ``bind``/``connect`` take.
Address = collections.namedtuple('Address', 'family socktype protocol sockaddr')


def parse_family(value, name='family'):
    """``socket.AF_*`` from an int or ``'inet'``/``'inet6'``/``'unix'``; 0 means any."""
    return _parse_constant(value, FAMILIES, name)


def parse_socktype(value, name='socktype'):
    """``socket.SOCK_*`` from an int or ``'stream'``/``'dgram'``/``'raw'``; 0 means any."""
    return _parse_constant(value, SOCKTYPES, name)


def _parse_constant(value, names, name):
    if isinstance(value, str):
        try:
            return names[value]
        except KeyError:
            raise ValueError(f'{name} must be one of {sorted(names)} or an int, '
                             f'not {value!r}') from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int or a string, not {value!r}')
    return value


def parse_address(value, name='addr'):
    """Normalise one address in any of the forms of API.md section 1.

    Raises:
        TypeError: for something that is no address form at all.
        ValueError: for an unknown dict key, family or socket type, a port out of
            range, or a dict missing the keys its family needs.
    """
    if isinstance(value, Address):
        return value
    if isinstance(value, dict):
        return _parse_dict(value, name)
    if isinstance(value, (tuple, list)):
        if len(value) == 4:
            family, socktype, protocol, sockaddr = value
        elif len(value) == 5:
            family, socktype, protocol, _canonname, sockaddr = value
        else:
            raise ValueError(f'{name} must be a 4-tuple, a getaddrinfo 5-tuple or '
                             f'a dict, not {value!r}')
        family = parse_family(family, f'{name} family')
        if family in (socket.AF_INET, socket.AF_INET6):
            _check_port(sockaddr[1] if isinstance(sockaddr, tuple) and
                        len(sockaddr) > 1 else None, name)
        return Address(family, parse_socktype(socktype, f'{name} socktype'),
                       _protocol(protocol, name), sockaddr)
    raise TypeError(f'{name} must be a tuple or a dict, not {value!r}')


def parse_addresses(value, name='addrs'):
    """Normalise a list of addresses (see `parse_address`)."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, '__iter__'):
        raise TypeError(f'{name} must be a list of addresses, not {value!r}')
    return [parse_address(item, name) for item in value]


def _parse_dict(value, name):
    unknown = value.keys() - _DICT_KEYS
    if unknown:
        raise ValueError(f'{name} has unknown keys {sorted(unknown)}; known keys '
                         f'are {sorted(_DICT_KEYS)}')
    if 'family' in value:
        family = parse_family(value['family'], f'{name} family')
    elif 'path' in value:
        family = socket.AF_UNIX
    else:
        family = socket.AF_INET6 if ':' in str(value.get('ip', '')) else socket.AF_INET
    socktype = parse_socktype(value.get('socktype', 0), f'{name} socktype')
    protocol = _protocol(value.get('protocol', 0), name)
    if family == socket.AF_UNIX:
        if 'path' not in value or 'ip' in value or 'port' in value:
            raise ValueError(f'a unix {name} takes path (and no ip or port): {value!r}')
        sockaddr = value['path']
        if not isinstance(sockaddr, (str, bytes)):
            raise TypeError(f'{name} path must be str or bytes, not {sockaddr!r}')
    else:
        if 'path' in value:
            raise ValueError(f'{name}: path is only for unix addresses: {value!r}')
        port = value.get('port', 0)
        _check_port(port, name)
        ip = value.get('ip', '::' if family == socket.AF_INET6 else '0.0.0.0')
        sockaddr = (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)
    return Address(family, socktype, protocol, sockaddr)


def _check_port(port, name):
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f'{name} port must be an int, not {port!r}')
    if not 0 <= port <= 65535:
        raise ValueError(f'{name} port must be in 0..65535, not {port!r}')


def _protocol(value, name):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} protocol must be an int, not {value!r}')
    return value


def parse_service(value, name='service'):
    """A port number or a service name for getaddrinfo; ``None`` and ``''`` mean 0.

    Raises:
        TypeError: for something that is neither an int nor a string.
        ValueError: for a port outside 0..65535.
    """
    if value is None or value == '':
        return 0
    if isinstance(value, str):
        port = int(value) if value.isdigit() else 0
    elif isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be a port number or a service name, '
                        f'not {value!r}')
    else:
        port = value
    if not 0 <= port <= 65535:
        raise ValueError(f'{name} must be in 0..65535, not {value!r}')
    return value


def parse_host(value, name='host'):
    """A host name or numeric address (``str``), or ``None``."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f'{name} must be a str or None, not {value!r}')
    return value


def from_getaddrinfo(results):
    """`Address` tuples from ``getaddrinfo`` 5-tuples, in the same order."""
    return [Address(family, socktype, protocol, sockaddr)
            for family, socktype, protocol, _canonname, sockaddr in results]


def agrees(local, peer):
    """Whether two addresses can share a socket: family, type and protocol are
    each equal, or 0 on one side (IO::Async::Connector's candidate rule)."""
    return all(not a or not b or a == b for a, b in zip(local[:3], peer[:3]))


def combine(local, peer):
    """The ``(family, socktype, protocol)`` for a socket serving both addresses:
    each field from whichever side gives it. A socket type still unknown is
    ``SOCK_STREAM`` (Linux refuses type 0), so a dict without ``socktype``
    means a stream socket."""
    family, socktype, protocol = (a or b for a, b in zip(local[:3], peer[:3]))
    return family, socktype or socket.SOCK_STREAM, protocol
