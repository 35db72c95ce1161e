"""The zope.interface declarations of geventio's public classes.

Each interface is the specification of one class of ``API.md`` (``IStream`` for
`geventio.Stream`, and so on): the guarantees a caller may rely on, not how they
are met. Events (``on_*``) are documented in the docstrings and deliberately not
declared as methods: an object configured with keyword callbacks has no such
method, and ``verifyObject`` would reject it.
"""

from zope.interface import Attribute, Interface

__all__ = [
    'IConnector',
    'IHandle',
    'IIOStream',
    'IListener',
    'ILoop',
    'INotifier',
    'ISocket',
    'IStream',
]


class ILoop(Interface):
    """A set of notifiers running on the current thread's gevent hub.

    Several loops may share one hub. Handles run whenever the hub runs, so
    ``run()`` is needed only by code with nothing else to wait on.
    """

    notifiers = Attribute('Tuple of the notifiers added, in the order added.')
    is_running = Attribute('True while a run() is active.')

    def add(notifier):
        """Start the notifier and its children.

        Raises ValueError if it has a parent or is in a loop already, and
        TypeError if it (or a child) lacks a required event handler.
        """

    def remove(notifier):
        """Stop the notifier and its children; ValueError if not in this loop."""

    def run():
        """Block until stop(); return None, the one value, or a tuple of values."""

    def stop(*result):
        """End the innermost run(), which returns ``result``."""

    def loop_once(timeout=None):
        """Let the hub run until an event of this loop was dispatched or
        ``timeout`` seconds passed."""

    def later(code, *args):
        """Call ``code(*args)`` once after the current round, never synchronously."""

    def watch_time(code, after=None, at=None):
        """Call ``code()`` once, ``after`` seconds from now or at ``time.time()``
        value ``at``; timers due together fire in creation order. Returns an id."""

    def unwatch_time(timer_id):
        """Cancel a timer made by watch_time; a fired or cancelled id is ignored."""

    def delay_future(after=None, at=None):
        """A future that resolves (to None) at that time."""

    def timeout_future(after=None, at=None):
        """A future that fails with gevent.Timeout at that time."""

    def resolve(host, service, family=0, socktype=0, protocol=0, flags=0,
                timeout=10):
        """A future of getaddrinfo 5-tuples, through the gevent hub's resolver;
        it fails with ResolveError."""

    def listen(**params):
        """A future of a new, listening Listener (see IListener.listen)."""

    def connect(**params):
        """A future of a connected socket, Stream, Socket or handle (see IConnector)."""

    def close():
        """Remove and close every notifier."""


class INotifier(Interface):
    """An object with events that can join a loop, alone or as a child.

    Events are given as constructor or configure() keywords (called with the
    notifier first) or as subclass methods (called bound); a keyword overrides a
    method. Children join and leave the loop with their parent.
    """

    loop = Attribute('The ILoop this notifier is in, or None.')
    parent = Attribute('The parent notifier, or None.')
    children = Attribute('Tuple of the children, in the order added.')

    def configure(**params):
        """Set parameters; TypeError/ValueError naming a bad one, changing nothing."""

    def add_child(notifier):
        """Adopt ``notifier``; it joins this notifier's loop, if any."""

    def remove_child(notifier):
        """Release a child; it leaves the loop. ValueError if not a child."""

    def remove_from_parent():
        """Leave the parent (and so the loop)."""

    def invoke_event(name, *args):
        """Call the handler of event ``name``; TypeError if there is none."""

    def maybe_invoke_event(name, *args):
        """Call the handler of event ``name`` if there is one, else return None."""

    def can_event(name):
        """True if event ``name`` has a handler."""


class IHandle(INotifier):
    """A readiness-driven wrapper of one file handle, or of a read and a write one.

    Events:
        on_read_ready(handle): the read handle is readable and want_readready is set.
        on_write_ready(handle): the write handle is writable and want_writeready is set.
        on_closed(handle): once, when the handle closes, while ``loop`` is still set.

    Each handle runs its callbacks on a greenlet of its own, so a callback may
    block cooperatively without stopping other handles. An exception raised by a
    callback is logged on the ``geventio`` logger and closes this handle only.
    """

    read_handle = Attribute('The object read from, or None.')
    write_handle = Attribute('The object written to, or None.')
    read_fileno = Attribute('File descriptor of the read handle, or None.')
    write_fileno = Attribute('File descriptor of the write handle, or None.')
    want_readready = Attribute('Settable bool: watch the read handle.')
    want_writeready = Attribute('Settable bool: watch the write handle.')
    is_closed = Attribute('True once closed (read-only).')

    def set_handle(handle):
        """Use ``handle`` for both directions (reopens a closed handle)."""

    def close():
        """Stop watching, close the file handles and fire on_closed once.
        Idempotent."""

    def close_read():
        """Close the read side; on_closed fires once both sides are closed."""

    def close_write():
        """Close the write side; on_closed fires once both sides are closed."""

    def new_close_future():
        """A future that resolves when this handle closes."""

    def connect(**params):
        """``loop.connect(handle=self, **params)``."""

    def bind(*addr, **hints):
        """Create a socket bound to ``addr`` (or resolved from ``hints``) and use
        it as this handle; returns a future of the handle."""


class IStream(IHandle):
    """An ordered byte stream (TCP, unix stream socket, pipe, tty).

    Events:
        on_read(stream, buffer, eof): required; ``buffer`` is a bytearray (a
            TextBuffer with ``encoding``) holding everything unconsumed; the
            return value chooses what happens next (see API.md section 4).
        on_read_eof(stream), on_write_eof(stream): EOF read; EPIPE on write.
        on_read_error(stream, err), on_write_error(stream, err): without a
            handler the stream closes.
        on_outgoing_empty(stream): the write queue drained through write-readiness.
        on_read_high_watermark(stream, length), on_read_low_watermark(stream,
            length): buffer crossed a watermark; without handlers reading pauses
            and resumes.
        on_writeable_start(stream), on_writeable_stop(stream): sending would
            block / can go on; they alternate, starting with stop.
        on_closed(stream): once, last.

    Guarantees: bytes are delivered in order and none is lost; writes go out in
    call order; after close() no event but on_closed fires.
    """

    is_read_eof = Attribute('True once EOF was read.')
    is_write_eof = Attribute('True once the write side was shut down or hit EPIPE.')

    def push_on_read(handler):
        """Queue a temporary read handler ahead of on_read (FIFO)."""

    def read_atmost(n):
        """Future of up to ``n`` units (at least one, or empty at EOF)."""

    def read_exactly(n):
        """Future of exactly ``n`` units; IncompleteReadError at early EOF."""

    def read_until(separator, max_len=None):
        """Future of data up to and including ``separator`` (bytes or a regex)."""

    def read_until_eof():
        """Future of everything up to EOF."""

    def cancel_read(future):
        """Remove a pending reader without consuming anything."""

    def write(data, on_write=None, on_flush=None, on_error=None, write_len=None):
        """Queue ``data`` (bytes, str with encoding, a generator callable or a
        future); returns a future resolved once it was handed to the kernel.
        Raises StreamClosedError on a closing or closed stream."""

    def close_when_empty():
        """Close once the write queue has drained."""

    def close_now():
        """Fail every queued piece with StreamClosedError and close at once."""

    def write_eof():
        """Shut down the write side once the queue has drained."""


class ISocket(IHandle):
    """A datagram (or raw) socket with a send queue.

    Events:
        on_recv(socket, data, addr): required; one datagram (``bytes``, maybe
            empty), ``addr`` as recvfrom returns it.
        on_recv_error(socket, err), on_send_error(socket, err): without a
            handler the socket closes. A datagram longer than ``recv_len``
            arrives here, not at on_recv, as an ``OSError`` with errno
            ``EMSGSIZE`` carrying ``data`` (the truncated head) and ``addr``.
            A failed send drops that one datagram (``err.data``, ``err.addr``).
        on_outgoing_empty(socket): the send queue drained through write-readiness.
        on_closed(socket): once, last.

    Guarantees: datagrams are sent in call order and never merged; one that
    meets EAGAIN is kept and retried, never dropped; empty datagrams are
    ordinary data; no datagram is truncated silently; without ``recv_all``
    at most one datagram is received per readiness.
    """

    def send(data, flags=0, addr=None):
        """Queue one datagram (sent at once with autoflush), to ``addr`` or to
        the connected peer. Raises TypeError for ``str`` data, ValueError for an
        ``addr`` of another address family, and StreamClosedError when there is
        no write handle; a failed send is reported to on_send_error instead."""


class IListener(IHandle):
    """Accepts connections on one or more listening sockets.

    Events (exactly one of the first three; setting one clears the others):
        on_accept(listener, sock), on_stream(listener, stream),
        on_socket(listener, socket): a new connection, as a gevent socket or
            wrapped in a Stream/Socket that is not yet in a loop. Called once
            per accepted connection, never after close(). If it raises, the
            error is logged and that connection is closed; the listener goes on.
        on_accept_error(listener, sock, err): accept on listening socket
            ``sock`` failed, or a client's TLS handshake did. Capacity errors
            (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED) never close the
            listener: accepting backs off and resumes. Other errors on the
            listening socket close it when there is no handler.
        handle_constructor(listener): returns the handle each new connection
            is wrapped in (instead of ``handle_class``).
        on_closed(listener): once, when closed.

    At loop level (``loop.listen``) the accept events get only the new object
    and on_accept_error gets ``(sock, err)``.
    """

    sockets = Attribute('List of listening gevent sockets, one per address.')
    sockname = Attribute('sockets[0].getsockname(), or None.')
    family = Attribute('Address family of the first listening socket, or None.')
    socktype = Attribute('Socket type of the first listening socket, or None.')
    is_listening = Attribute('True while it has listening sockets and is open.')

    def listen(**params):
        """Listen on addresses (addr/addrs), resolved names (service, host) or
        an existing listening socket (handle); a future of this listener.

        Every address that succeeds gets its own socket; each failed step is
        reported to on_fail; only when all fail does on_listen_error fire and
        the future fail with ListenError (listen over bind over sockopt over
        socket). Needs the listener in a loop (ValueError otherwise); bad
        parameters raise TypeError/ValueError at the call."""


class IConnector(Interface):
    """Makes outgoing connections, trying candidate addresses in order.

    Candidates are every (local, peer) address pair whose family, socket type
    and protocol agree, tried one at a time in order (staggered when
    happy_eyeballs_delay is given). Each failed system call is reported to
    on_fail as it happens. On success exactly one of on_connected,
    on_stream, on_socket is called (or the handle= given is connected), and
    every other socket made is closed.
    """

    def connect(**params):
        """A future of the connected object (the gevent socket, a Stream, a
        Socket or the handle given).

        It fails with ResolveError (after on_resolve_error), ConnectError
        carrying the most significant failure, connect over bind over socket
        (after on_connect_error), or the ssl.SSLError of a failed TLS
        handshake. Bad parameters raise TypeError/ValueError at the call."""


class IIOStream(Interface):
    """A byte stream that reports IO::Stream's events to one callback.

    Made from a file handle (``fh``) or from ``host`` and ``port`` (resolved,
    then connected). Its public fields are plain attributes the callback reads
    and changes; fields whose names start with an upper-case letter belong to
    the user and are never touched.

    Callback: ``cb(io, events, err)``, or ``cb.<method>(io, events, err)`` when
    ``cb`` has a method of that name. ``events`` is masked by ``wait_for``,
    read at every delivery; ``err`` is ``None``, an ``OSError`` from a system
    call, or one of the error constants of ``geventio.iostream``. It may run
    inside the constructor (RESOLVED for a numeric host, OUT and SENT for an
    ``out_buf`` given) and inside ``write()``.

    Guarantees: bytes arrive in ``in_buf`` in order and nothing read is ever
    discarded; EOF is delivered once, and nothing is read after it; one read
    per readiness, so the last data's IN and the EOF come in separate calls;
    events that arise together come in one call (``CONNECTED|OUT|SENT``); a
    refused connect is an error, never CONNECTED; after ``close()`` the
    callback is never called again. The library keeps the object alive until
    ``close()``.
    """

    fh = Attribute('The file handle: the one given, or the socket made from host '
                   'and port (None until made).')
    host = Attribute('Host name or address to connect to, or None (fh given).')
    port = Attribute('Port to connect to, or None (fh given).')
    cb = Attribute('The callback (a callable, or an object with a method named '
                   'by `method`).')
    method = Attribute("Name of the method called on an object cb (default 'IO').")
    wait_for = Attribute('Bit mask of the events the callback wants; change it '
                         'at any time.')
    in_buf = Attribute('bytearray of the data read and not yet consumed.')
    in_buf_limit = Attribute('None, or the bytes in_buf may hold while IN is not '
                             'wanted (0: no limit).')
    in_bytes = Attribute('Bytes read so far (a counter the user may reset).')
    out_buf = Attribute('bytearray of the data to write; call write() after '
                        'changing it.')
    out_pos = Attribute('None (written bytes leave out_buf), or the offset in '
                        'out_buf that writing has reached (out_buf kept intact).')
    out_bytes = Attribute('Bytes written so far (a counter the user may reset).')
    ip = Attribute('The address resolved from host (read-only).')
    is_eof = Attribute('True once EOF was read (read-only).')
    plugin = Attribute('Dict of the plugins, name to plugin, in chain order.')
    connect_timeout = Attribute('Seconds from the first connect attempt to '
                                'CONNECTED, or None (default 30).')
    write_timeout = Attribute('Seconds a write may make no progress, or None '
                              '(default 30).')
    lower = Attribute('The first layer below: a plugin, or the layer owning fh.')

    def write(data=None):
        """Append ``data`` (bytes-like) to out_buf, then send what can go now;
        OUT or OUT|SENT may reach the callback before this returns.
        Raises StreamClosedError after close()."""

    def close():
        """Close fh and stop every event; idempotent."""

    def event(events, err):
        """Called by the layer below with what happened; delivers it to the
        callback. For plugins, not for applications."""
