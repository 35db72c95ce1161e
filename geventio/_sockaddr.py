"""Checking where a datagram goes: a send address against the socket's family.

Used by `geventio.Socket.send` (IO::Async::Socket's ``send($data, $flags,
$addr)``) on every datagram that names an address, so the common case, a
tuple exactly as ``recvfrom`` returned it, costs a few type checks; the other
address forms of API.md section 1 go through `geventio.addresses`. Checking at
the call turns a wrong family into a ``ValueError`` for the caller instead of
an ``on_send_error`` later.
"""

import socket

from . import addresses

__all__ = ['sendto_address']

# Plain ints, compared once per datagram.
_AF_INET = int(socket.AF_INET)
_AF_INET6 = int(socket.AF_INET6)
_AF_UNIX = int(getattr(socket, 'AF_UNIX', -1))


def sendto_address(family, addr, name='addr'):
    """The socket address ``sendto`` takes for ``addr``, checked against ``family``.

    ``addr`` is a socket address as ``recvfrom`` returns it (the first branch of
    each family, the hot path) or an API.md section 1 form (dict, 4-tuple,
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
            _check_port(addr, name)
            return addr
    elif family == _AF_INET6:
        if type(addr) is tuple and 2 <= len(addr) <= 4 and \
                type(addr[0]) is str and type(addr[-1]) is not tuple and \
                (':' in addr[0] or not _is_ipv4(addr[0])):
            _check_port(addr, name)
            return addr
    elif family == _AF_UNIX:
        if isinstance(addr, (str, bytes)):
            return addr
    else:
        return addr         # other families: the kernel checks
    return _parse_form(family, addr, name)


def _parse_form(family, addr, name):
    """The sockaddr of an API.md section 1 form of ``family``, or ValueError."""
    is_form = isinstance(addr, dict) or (
        isinstance(addr, tuple) and len(addr) in (4, 5) and
        not isinstance(addr[-1], int))
    if is_form:
        parsed = addresses.parse_address(addr, name)
        if parsed.family == family:
            return sendto_address(family, parsed.sockaddr, name)
    try:
        family_name = socket.AddressFamily(family).name
    except ValueError:
        family_name = family
    raise ValueError(f'{name} {addr!r} is not a socket address of the '
                     f"socket's family {family_name}")


def _check_port(addr, name):
    port = addr[1]
    if type(port) is not int:
        raise TypeError(f'{name} {addr!r}: the port must be an int, not {port!r}')
    if not 0 <= port <= 65535:
        raise ValueError(f'{name} {addr!r}: the port must be in 0..65535')


def _is_ipv4(host):
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        return False
    return True
