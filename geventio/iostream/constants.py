"""IO::Stream's event bits and error constants.

The Python form of the constants IO::Stream exports under its ``:Event`` and
``:Error`` tags. An event is a bit in the mask a callback receives; an error is
what arrives in its ``err`` argument when IO::Stream itself, not a system
call, is reporting.

Perl's errors are dualvars: one value that is a number in ``==`` and a
message in a string. Here each is a single `IOStreamError` object, an
``OSError`` whose ``errno`` is IO::Stream's (negative) number and whose
``str()`` is the fixed message, so that code written for system errors
(``err.errno``, ``isinstance(err, OSError)``, ``raise err``) works on them
unchanged. They are constants: compare with ``==`` or ``is``; copying or
pickling one gives the same object back.
"""

__all__ = [
    'CONNECTED', 'EOF', 'IN', 'OUT', 'RESOLVED', 'SENT',
    'EDNS', 'EDNSNODATA', 'EDNSNXDOMAIN', 'EINBUFLIMIT', 'EREQINBUFLIMIT',
    'EREQINEOF', 'ETOCONNECT', 'ETORESOLVE', 'ETOWRITE', 'IOStreamError',
]

# Events, with IO::Stream's values.

#: The host was resolved; ``ip`` holds the address about to be connected to.
RESOLVED = 1
#: The socket made from ``host``/``port`` is connected.
CONNECTED = 2
#: Data was appended to ``in_buf``.
IN = 4
#: Data left ``out_buf`` (or ``out_pos`` moved); ``out_bytes`` grew.
OUT = 8
#: The end of the input was read; ``is_eof`` is true. Delivered once.
EOF = 16
#: Everything in ``out_buf`` was written.
SENT = 32

#: Every event bit: what ``wait_for`` may contain.
ALL_EVENTS = RESOLVED | CONNECTED | IN | OUT | EOF | SENT


class IOStreamError(OSError):
    """An error IO::Stream reports itself: a negative ``errno`` and a fixed message.

    Only the constants of this module exist; the class is public so that
    ``isinstance(err, IOStreamError)`` tells IO::Stream's own errors from
    system errors.
    """

    def __init__(self, name: str, number: int, message: str) -> None:
        super().__init__(number, message)
        self.name = name

    def __str__(self) -> str:
        return str(self.strerror)

    def __repr__(self) -> str:
        return f'<IOStreamError {self.name} ({self.errno}): {self.strerror}>'

    def __reduce__(self) -> str:
        # A constant: pickling (and copy.copy) gives back the module's object.
        return self.name

    def __copy__(self) -> 'IOStreamError':
        return self

    def __deepcopy__(self, memo: object) -> 'IOStreamError':
        return self


#: More than ``in_buf_limit`` bytes are in ``in_buf`` and IN is not wanted.
EINBUFLIMIT = IOStreamError('EINBUFLIMIT', -100, 'in_buf_limit reached')
#: Kept for compatibility: a lookup that times out delivers `EDNS`.
ETORESOLVE = IOStreamError('ETORESOLVE', -101, 'dns timeout')
#: No connection within ``connect_timeout`` seconds.
ETOCONNECT = IOStreamError('ETOCONNECT', -102, 'connect timeout')
#: Nothing could be written for ``write_timeout`` seconds.
ETOWRITE = IOStreamError('ETOWRITE', -103, 'write timeout')
#: The host name could not be resolved.
EDNS = IOStreamError('EDNS', -200, 'dns error')
#: Kept for compatibility: every failed lookup delivers `EDNS`.
EDNSNXDOMAIN = IOStreamError('EDNSNXDOMAIN', -201, 'dns nxdomain')
#: Kept for compatibility: every failed lookup delivers `EDNS`.
EDNSNODATA = IOStreamError('EDNSNODATA', -202, 'dns nodata')
#: ``wait_for`` has EOF but not IN, and ``in_buf_limit`` is not set.
EREQINBUFLIMIT = IOStreamError('EREQINBUFLIMIT', -300, 'in_buf_limit required')
#: Data was read while ``wait_for`` has neither IN nor EOF.
EREQINEOF = IOStreamError('EREQINEOF', -301, 'IN or EOF required in wait_for')
