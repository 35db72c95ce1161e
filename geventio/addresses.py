"""Address forms: 4-tuples, getaddrinfo 5-tuples and dicts, and family/type names.

The Python form of IO::Async::OS's ``extract_addrinfo`` and its ``'inet'`` /
``'stream'`` shortcuts (docs/api.md section 1). Everything that takes an address
(``addr``, ``addrs``, ``local_addr``, ``local_addrs``) normalises it here, once,
at the call, so that a bad one raises before any socket is made. `sendto_address`
checks where a datagram goes (IO::Async::Socket's ``send($data, $flags, $addr)``)
against the socket's family, on every datagram that names one.
"""

import socket
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ._params import check_int
from ._typing import AddressSpec, SockAddr

__all__ = ['Address', 'agrees', 'combine', 'from_getaddrinfo', 'parse_address',
           'parse_addresses', 'parse_family', 'parse_host', 'parse_service',
           'parse_socktype', 'sendto_address']

#: The string spellings of address families (docs/api.md section 1).
FAMILIES = {'inet': socket.AF_INET, 'inet6': socket.AF_INET6,
            'unix': socket.AF_UNIX}

#: The string spellings of socket types (docs/api.md section 1).
SOCKTYPES = {'stream': socket.SOCK_STREAM, 'dgram': socket.SOCK_DGRAM,
             'raw': socket.SOCK_RAW}

# The keys of the dict form (docs/api.md section 1).
_DICT_KEYS = frozenset({'family', 'socktype', 'protocol', 'ip', 'port', 'path'})

class Address(NamedTuple):
    """One normalised address; ``sockaddr`` is what ``bind``/``connect`` take."""

    family: int
    socktype: int
    protocol: int
    sockaddr: SockAddr


def parse_family(value: int | str, name: str = 'family') -> int:
    """``socket.AF_*`` from an int or ``'inet'``/``'inet6'``/``'unix'``; 0 means any."""
    return _parse_constant(value, FAMILIES, name)


def parse_socktype(value: int | str, name: str = 'socktype') -> int:
    """``socket.SOCK_*`` from an int or ``'stream'``/``'dgram'``/``'raw'``; 0 means any."""
    return _parse_constant(value, SOCKTYPES, name)


def _parse_constant(value: object, names: Mapping[str, int], name: str) -> int:
    if isinstance(value, str):
        try:
            return names[value]
        except KeyError:
            raise ValueError(f'{name} must be one of {sorted(names)} or an int, '
                             f'not {value!r}') from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int or a string, not {value!r}')
    return value


def parse_address(value: AddressSpec, name: str = 'addr') -> Address:
    """Normalise one address in any of the forms of docs/api.md section 1.

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


def parse_addresses(value: Iterable[AddressSpec], name: str = 'addrs') -> list[Address]:
    """Normalise a list of addresses (see `parse_address`)."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, '__iter__'):
        raise TypeError(f'{name} must be a list of addresses, not {value!r}')
    return [parse_address(item, name) for item in value]


def _parse_dict(value: Mapping[str, Any], name: str) -> Address:
    unknown = value.keys() - _DICT_KEYS
    if unknown:
        raise ValueError(f'{name} has unknown keys {sorted(unknown)}; known keys '
                         f'are {sorted(_DICT_KEYS)}')
    family = _dict_family(value, name)
    socktype = parse_socktype(value.get('socktype', 0), f'{name} socktype')
    protocol = _protocol(value.get('protocol', 0), name)
    sockaddr: SockAddr
    if family == socket.AF_UNIX:
        sockaddr = _dict_path(value, name)
    else:
        sockaddr = _dict_ip_port(value, family, name)
    return Address(family, socktype, protocol, sockaddr)


def _dict_family(value: Mapping[str, Any], name: str) -> int:
    """The dict's ``family``; without one, unix for a ``path``, else inet or
    inet6 by the form of ``ip``."""
    if 'family' in value:
        return parse_family(value['family'], f'{name} family')
    if 'path' in value:
        return socket.AF_UNIX
    return socket.AF_INET6 if ':' in str(value.get('ip', '')) else socket.AF_INET


def _dict_path(value: Mapping[str, Any], name: str) -> str | bytes:
    if 'path' not in value or 'ip' in value or 'port' in value:
        raise ValueError(f'a unix {name} takes path (and no ip or port): {value!r}')
    path = value['path']
    if not isinstance(path, (str, bytes)):
        raise TypeError(f'{name} path must be str or bytes, not {path!r}')
    return path


def _dict_ip_port(value: Mapping[str, Any], family: int,
                  name: str) -> tuple[Any, ...]:
    """The sockaddr of an inet or inet6 dict; ``ip`` defaults to the wildcard."""
    if 'path' in value:
        raise ValueError(f'{name}: path is only for unix addresses: {value!r}')
    port = value.get('port', 0)
    _check_port(port, name)
    if family == socket.AF_INET6:
        return (value.get('ip', '::'), port, 0, 0)
    return (value.get('ip', '0.0.0.0'), port)


def _check_port(port: object, name: str) -> None:
    if not 0 <= check_int(port, f'{name} port') <= 65535:
        raise ValueError(f'{name} port must be in 0..65535, not {port!r}')


def _protocol(value: object, name: str) -> int:
    return check_int(value, f'{name} protocol')


def parse_service(value: int | str | None, name: str = 'service') -> int | str:
    """A port number or a service name for getaddrinfo; ``None`` and ``''`` mean 0.

    Raises:
        TypeError: for something that is neither an int nor a string.
        ValueError: for a port outside 0..65535.
    """
    if value is None or value == '':
        return 0
    if isinstance(value, str):
        text = value.strip()
        numeric = text.lstrip('+-').isdigit()
        port = int(text) if numeric else 0
    elif isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be a port number or a service name, '
                        f'not {value!r}')
    else:
        port = value
    if not 0 <= port <= 65535:
        raise ValueError(f'{name} must be in 0..65535, not {value!r}')
    return value


def parse_host(value: str | None, name: str = 'host') -> str | None:
    """A host name or numeric address (``str``), or ``None``."""
    if value is not None and not isinstance(value, str):
        raise TypeError(f'{name} must be a str or None, not {value!r}')
    return value


def from_getaddrinfo(
        results: Iterable[tuple[int, int, int, str, SockAddr]]) -> list[Address]:
    """`Address` tuples from ``getaddrinfo`` 5-tuples, in the same order."""
    return [Address(family, socktype, protocol, sockaddr)
            for family, socktype, protocol, _canonname, sockaddr in results]


def agrees(local: Address, peer: Address) -> bool:
    """Whether two addresses can share a socket: family, type and protocol are
    each equal, or 0 on one side (IO::Async::Connector's candidate rule)."""
    return all(not a or not b or a == b for a, b in zip(local[:3], peer[:3], strict=True))


def combine(local: Address, peer: Address) -> tuple[int, int, int]:
    """The ``(family, socktype, protocol)`` for a socket serving both addresses:
    each field from whichever side gives it. A socket type still unknown is
    ``SOCK_STREAM`` (Linux refuses type 0), so a dict without ``socktype``
    means a stream socket."""
    family, socktype, protocol = (a or b for a, b in zip(local[:3], peer[:3], strict=True))
    return family, socktype or socket.SOCK_STREAM, protocol


# -- send addresses (Socket.send) ----------------------------------------------
#
# Socket.send checks every datagram that names an address, so the common case,
# a tuple exactly as ``recvfrom`` returned it, costs a few type checks; the
# other forms of docs/api.md section 1 go through `parse_address`. Checking at the
# call turns a wrong family into a ``ValueError`` for the caller instead of an
# ``on_send_error`` later.

# Plain ints: comparing an IntEnum member costs an enum call per datagram.
_AF_INET = int(socket.AF_INET)
_AF_INET6 = int(socket.AF_INET6)
_AF_UNIX = int(socket.AF_UNIX)


def sendto_address(family: int, addr: Any, name: str = 'addr') -> Any:
    """The socket address ``sendto`` takes for ``addr``, checked against ``family``.

    ``addr`` is a socket address as ``recvfrom`` returns it (the first branch of
    each family, the hot path) or an docs/api.md section 1 form (dict, 4-tuple,
    ``getaddrinfo`` 5-tuple). Host names are not rejected: the kernel's resolver
    sees them, so callers should prefer numeric hosts. Other families than
    inet, inet6 and unix are passed through for the kernel to check.

    Raises:
        TypeError: a port that is not an int.
        ValueError: an address of another family, or a port out of range.
    """
    if family == _AF_INET:
        if type(addr) is tuple and len(addr) == 2 and type(addr[0]) is str \
                and ':' not in addr[0]:
            _check_send_port(addr, name)
            return addr
    elif family == _AF_INET6:
        if type(addr) is tuple and 2 <= len(addr) <= 4 and \
                type(addr[0]) is str and type(addr[-1]) is not tuple and \
                (':' in addr[0] or not _is_ipv4(addr[0])) and \
                not (len(addr) == 4 and addr[0] in FAMILIES):
            _check_send_port(addr, name)
            return addr
    elif family == _AF_UNIX:
        if isinstance(addr, (str, bytes)):
            return addr
    else:
        return addr         # other families: the kernel checks
    return _parse_send_form(family, addr, name)


def _parse_send_form(family: int, addr: Any, name: str) -> Any:
    """The sockaddr of an docs/api.md section 1 form of ``family``, or ValueError."""
    is_form = isinstance(addr, dict) or (
        isinstance(addr, tuple) and len(addr) in (4, 5) and
        not isinstance(addr[-1], int))
    if is_form:
        parsed = parse_address(addr, name)
        if parsed.family == family:
            return sendto_address(family, parsed.sockaddr, name)
    family_name: object
    try:
        family_name = socket.AddressFamily(family).name
    except ValueError:
        family_name = family
    raise ValueError(f'{name} {addr!r} is not a socket address of the '
                     f"socket's family {family_name}")


def _check_send_port(addr: tuple[Any, ...], name: str) -> None:
    port = addr[1]
    if type(port) is not int or not 0 <= port <= 65535:
        _check_port(port, f'{name} {addr!r}')


def _is_ipv4(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        return False
    return True
