"""The zope.interface declarations of geventio's public classes.

Each interface is the specification of one class of the contract
(docs/api.md; ``IStream`` for `geventio.Stream`, and so on): the guarantees a
caller may rely on, not how they are met. Events (``on_*``) are documented in
the docstrings and deliberately not declared as methods: an object configured
with keyword callbacks has no such method, and ``verifyObject`` would reject it.
"""

from __future__ import annotations

from collections.abc import Callable
from re import Pattern
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

from ._typing import AddressSpec, EventHandler

if TYPE_CHECKING:
    from gevent.event import AsyncResult

__all__ = [
    'IConnector',
    'IDangaSocket',
    'IHandle',
    'IIOStream',
    'ILeakCheck',
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

    def add(notifier: Any) -> None:
        """Start the notifier and its children.

        Raises ValueError if it has a parent or is in a loop already, and
        TypeError if it (or a child) lacks a required event handler.
        """

    def remove(notifier: Any) -> None:
        """Stop the notifier and its children; ValueError if not in this loop."""

    def run() -> Any:
        """Block until stop(); return None, the one value, or a tuple of values."""

    def stop(*result: Any) -> None:
        """End the innermost run(), which returns ``result``."""

    def loop_once(timeout: float | None = None) -> None:
        """Let the hub run until an event of this loop was dispatched or
        ``timeout`` seconds passed."""

    def later(code: Callable[..., object], *args: Any) -> None:
        """Call ``code(*args)`` once after the current round, never synchronously."""

    def watch_time(code: Callable[[], object], after: float | None = None,
                   at: float | None = None) -> int:
        """Call ``code()`` once, ``after`` seconds from now (on the monotonic
        clock: a wall-clock jump does not move it) or at ``time.time()`` value
        ``at`` (wall clock); timers due together fire in creation order.
        Returns an id."""

    def unwatch_time(timer_id: int) -> None:
        """Cancel a timer made by watch_time; a fired or cancelled id is ignored."""

    def delay_future(after: float | None = None,
                     at: float | None = None) -> AsyncResult[None]:
        """A future that resolves (to None) at that time."""

    def timeout_future(after: float | None = None,
                       at: float | None = None) -> AsyncResult[None]:
        """A future that fails with gevent.Timeout at that time."""

    def resolve(host: str | None, service: int | str | None, family: int | str = 0,
                socktype: int | str = 0, protocol: int = 0, flags: int = 0,
                timeout: float = 10) -> AsyncResult[list[tuple[int, int, int, str, Any]]]:
        """A future of getaddrinfo 5-tuples, through the gevent hub's resolver;
        it fails with ResolveError."""

    def listen() -> AsyncResult[Any]:
        """A future of a new, listening Listener; takes the keyword-only
        parameters of IListener.listen and the Listener's accept events."""

    def connect() -> AsyncResult[Any]:
        """A future of a connected socket, Stream, Socket or handle; takes the
        keyword-only parameters of IConnector.connect."""

    def close() -> None:
        """Remove and close every notifier at once (queued writes fail), and
        stop its timers and signal watchers."""

    def shutdown(timeout: float | None = None) -> int:
        """Stop gracefully: close every listener (no more accepting), close
        every stream once its queued writes are out, wait up to ``timeout``
        seconds (None: no limit) for them, then close what is left at once as
        close() does. Returns the number of streams that had to be closed at
        once (listeners are not counted)."""

    def watch_signal(signal: int | str, code: Callable[[], object]) -> int:
        """Call ``code()`` from the hub whenever ``signal`` (a number or a
        name such as ``'TERM'``) arrives; watchers of one signal run in the
        order they were added. Returns an id for unwatch_signal. Main thread
        only."""

    def unwatch_signal(signal_id: int) -> None:
        """Remove a signal watcher (an unknown id is ignored); when the last
        watcher of a signal goes, its previous disposition is restored."""

    def __enter__() -> Any:
        """Return the loop itself."""

    def __exit__(*exc_info: object) -> None:
        """Close the loop (``with Loop() as loop:``)."""


class INotifier(Interface):
    """An object with events that can join a loop, alone or as a child.

    Events are given as constructor or configure() keywords (called with the
    notifier first) or as subclass methods (called bound); a keyword overrides a
    method. Children join and leave the loop with their parent.
    """

    loop = Attribute('The ILoop this notifier is in, or None.')
    parent = Attribute('The parent notifier, or None.')
    children = Attribute('Tuple of the children, in the order added.')

    def configure(**params: Any) -> None:
        """Set parameters (each class's signature names its keywords; one not
        given keeps its value); TypeError/ValueError naming a bad one, changing
        nothing."""

    def add_child(notifier: Any) -> None:
        """Adopt ``notifier``; it joins this notifier's loop, if any."""

    def remove_child(notifier: Any) -> None:
        """Release a child; it leaves the loop. ValueError if not a child."""

    def remove_from_parent() -> None:
        """Leave the parent (and so the loop)."""

    def invoke_event(name: str, *args: Any) -> Any:
        """Call the handler of event ``name``; TypeError if there is none."""

    def maybe_invoke_event(name: str, *args: Any) -> Any:
        """Call the handler of event ``name`` if there is one, else return None."""

    def can_event(name: str) -> bool:
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

    def set_handle(handle: Any) -> None:
        """Use ``handle`` for both directions (reopens a closed handle)."""

    def close() -> None:
        """Stop watching, close the file handles and fire on_closed once.
        Idempotent."""

    def close_read() -> None:
        """Close the read side; on_closed fires once both sides are closed."""

    def close_write() -> None:
        """Close the write side; on_closed fires once both sides are closed."""

    def new_close_future() -> AsyncResult[Any]:
        """A future that resolves when this handle closes."""

    def connect(**params: Any) -> AsyncResult[Any]:
        """``loop.connect(handle=self, **params)``."""

    def bind(*addr: AddressSpec, **hints: Any) -> AsyncResult[Any]:
        """Create a socket bound to ``addr`` (or resolved from ``hints``) and use
        it as this handle; returns a future of the handle."""

    def __enter__() -> Any:
        """Return the handle itself."""

    def __exit__(*exc_info: object) -> None:
        """Close the handle, as close() does (``with Stream(...) as stream:``)."""


class IStream(IHandle):
    """An ordered byte stream (TCP, unix stream socket, pipe, tty).

    Events:
        on_read(stream, buffer, eof): required; ``buffer`` is a bytearray (a
            TextBuffer with ``encoding``) holding everything unconsumed; the
            return value chooses what happens next (see docs/api.md section 4).
        on_read_eof(stream), on_write_eof(stream): EOF read; EPIPE on write.
        on_read_error(stream, err), on_write_error(stream, err): without a
            handler the stream closes.
        on_outgoing_empty(stream): the write queue drained through write-readiness.
        on_read_high_watermark(stream, length), on_read_low_watermark(stream,
            length): buffer crossed a watermark; without handlers reading pauses
            and resumes.
        on_writeable_start(stream), on_writeable_stop(stream): sending would
            block / can go on; they alternate, starting with stop.
        on_write_high_watermark(stream, queued), on_write_low_watermark(stream,
            queued): the write queue reached write_high_watermark / drained to
            write_low_watermark (once per crossing); they only tell.
        on_idle_timeout(stream): no byte moved either way for idle_timeout
            seconds; again after each further idle period while handled (not
            while an earlier call is still running); without a handler the
            stream closes at once.
        on_closed(stream): once, last.

    Limits: past max_read_buffer unconsumed units, or for a write that would
    take the queue past max_write_queue bytes, the stream fails with
    OSError(ENOBUFS) through on_read_error / on_write_error (and that write's
    future), and closes at once without a handler.

    Guarantees: bytes are delivered in order and none is lost; writes go out in
    call order; after close() no event but on_closed fires; no reader costs
    more than linear time in the bytes it scans.
    """

    is_read_eof = Attribute('True once EOF was read.')
    is_write_eof = Attribute('True once the write side was shut down or hit EPIPE and '
                             'nothing is queued (false while data is queued).')
    write_queued = Attribute('Bytes queued and not yet handed to the kernel.')

    def push_on_read(handler: Callable[[Any, Any, bool], Any]) -> None:
        """Queue a temporary read handler ahead of on_read (FIFO)."""

    def read_atmost(n: int, timeout: float | None = None) -> AsyncResult[Any]:
        """Future of up to ``n`` units (at least one, or empty at EOF).

        Every future reader takes ``timeout`` (seconds): when it expires the
        reader is removed without consuming anything and the future fails
        with TimeoutError."""

    def read_exactly(n: int, timeout: float | None = None) -> AsyncResult[Any]:
        """Future of exactly ``n`` units; IncompleteReadError at early EOF."""

    def read_until(separator: bytes | str | Pattern[Any], max_len: int | None = None,
                   timeout: float | None = None) -> AsyncResult[Any]:
        """Future of data up to and including ``separator`` (bytes or a regex);
        LimitOverrunError once ``max_len`` units hold no separator (65536 for
        a regex whose matches have no length bound, unless given)."""

    def read_until_eof(timeout: float | None = None) -> AsyncResult[Any]:
        """Future of everything up to EOF."""

    def cancel_read(future: AsyncResult[Any]) -> None:
        """Remove a pending reader without consuming anything."""

    def write(data: Any, on_write: EventHandler | None = None,
              on_flush: EventHandler | None = None, on_error: EventHandler | None = None,
              write_len: int | None = None) -> AsyncResult[None]:
        """Queue ``data`` (bytes, str with encoding, a generator callable or a
        future); returns a future resolved once it was handed to the kernel.
        Raises StreamClosedError on a closing or closed stream."""

    def close_when_empty() -> None:
        """Close once the write queue has drained."""

    def close_now() -> None:
        """Fail every queued piece with StreamClosedError and close at once."""

    def write_eof() -> None:
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

    def send(data: Any, flags: int = 0, addr: Any = None) -> None:
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

    def listen() -> AsyncResult[Any]:
        """Listen on addresses (addr/addrs), resolved names (service, host) or
        an existing listening socket (handle); a future of this listener. The
        parameters are keyword-only (the implementation's signature names them).

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

    def connect() -> AsyncResult[Any]:
        """A future of the connected object (the gevent socket, a Stream, a
        Socket or the handle given); the parameters are keyword-only (the
        implementation's signature names them).

        It fails with ResolveError (after on_resolve_error), ConnectError
        carrying the most significant failure, connect over bind over socket
        (after on_connect_error), or the ssl.SSLError of a failed TLS
        handshake. Bad parameters raise TypeError/ValueError at the call."""


class IDangaSocket(Interface):
    """A socket driven by Danga::Socket's event loop, one loop per process.

    Subclasses override the event hooks below, which are public by contract and
    always methods (so, unlike ``on_*`` events, they are declared here). For one
    readiness they are called in the order read, write, error, hang-up, only
    from inside ``event_loop()``, and never once the object is closed. An
    exception a hook raises is logged on the ``geventio`` logger with its
    traceback and closes that object only; the loop goes on.

    One more hook is not declared, as ``on_`` names are reserved for events:
    ``on_incomplete_write()``, called when ``write()`` leaves data queued
    because the kernel took only part of it (by default it turns write-watching
    on, and ``write()`` turns it off again once the queue has drained).

    The class methods act on the process-wide loop and can be called on the
    class or on any instance; the Perl spellings (``EventLoop``, ``AddTimer``,
    ...) are aliases of them.
    """

    closed = Attribute('True once close() or steal_socket() was called (read-only).')
    sock = Attribute('The socket, or None once closed or stolen (read-only).')

    def event_read() -> None:
        """The socket is readable and reads are watched, or pushed-back data waits."""

    def event_write() -> None:
        """The socket is writable and writes are watched; by default write(None),
        then watch_write(False) once nothing remains queued (Perl's default)."""

    def event_err() -> None:
        """The socket reported an error (EPOLLERR)."""

    def event_hup() -> None:
        """The socket reported a hang-up (EPOLLHUP)."""

    def read(n: int) -> bytes | None:
        """Up to ``n`` bytes: pushed-back data first (the oldest piece alone),
        b"" when nothing is available, None at EOF, on an error or once closed."""

    def push_back_read(data: bytes) -> None:
        """Make ``data`` the next thing read() returns after what was pushed back
        before; event_read is called again within this loop iteration."""

    def write(data: Any) -> bool:
        """Queue bytes or a memoryview, a callable (called once everything queued
        before it is in the kernel) or None (flush); True when nothing remains
        queued. Writes go out in call order. A failed send closes the object and
        returns False; writing to a closed object drops the data, returns True."""

    def set_writer_func(fn: Callable[[Any], int] | None) -> None:
        """Send with ``fn(data) -> count`` (raising OSError) instead of the socket
        (None: the socket again)."""

    def watch_read(on: bool) -> None:
        """Watch (or stop watching) for readability."""

    def watch_write(on: bool) -> None:
        """Watch (or stop watching) for writability; write() stops managing it."""

    def tcp_cork(on: bool) -> None:
        """Set TCP_CORK (Linux); ignored where there is no such option."""

    def close(reason: str | None = None) -> None:
        """Drop the write queue and stop all events at once; the socket is closed
        and leaves the descriptor map at the end of the loop iteration."""

    def steal_socket() -> Any:
        """Leave the loop at once and return the socket, not closed (None if closed)."""

    def peer_ip_string() -> str | None:
        """The peer's IP address (a unix socket's path), or None."""

    def peer_addr_string() -> str | None:
        """"ip:port" of the peer ("[ip]:port" for IPv6, the path for unix), or None."""

    def local_ip_string() -> str | None:
        """The local IP address (a unix socket's path), or None."""

    def local_addr_string() -> str | None:
        """"ip:port" of the local end ("[ip]:port" for IPv6, the path for unix),
        or None."""

    def as_string() -> str:
        """"Class(RW): open to peer", as Perl's as_string."""

    def set_post_loop_callback(code: Callable[[dict[int, Any]], object] | None) -> None:
        """On the class: ``code(descriptor_map)`` after every loop iteration; on an
        instance: the same, before the global one, until the object closes. The
        first false value returned ends event_loop(). None removes it."""

    def event_loop() -> None:
        """Run iterations until a post-loop callback returns a false value or
        there is nothing left to wait for; can be entered again afterwards.
        Waits on the gevent hub (other greenlets run; gevent.Timeout interrupts)."""

    def watched_sockets() -> int:
        """How many objects are in the descriptor map."""

    def descriptor_map() -> dict[int, Any]:
        """The live dict fd -> object (closed objects stay until the real close)."""

    def to_close() -> list[Any]:
        """The sockets closed during this iteration, to be really closed at its end."""

    def add_timer(seconds: float, code: Callable[[float], object]) -> Any:
        """Call ``code(now)`` (``now`` as time.time()) ``seconds`` from now; returns a
        timer with cancel(). Timers due together fire in the order added."""

    def set_loop_timeout(milliseconds: int) -> None:
        """Longest wait of an iteration: -1 no limit (the default), 0 do not wait."""

    def add_other_fds(fds: dict[int, Callable[[int], object]]) -> dict[int, Any]:
        """Watch each descriptor of the dict ``fds`` for reading, calling its
        ``code(state)`` with poll bits; returns other_fds()."""

    def other_fds(fds: dict[int, Callable[[int], object]] | None = None) -> dict[int, Any]:
        """A dict fd -> code of the other fds; with ``fds``, watch exactly those."""

    def reset() -> None:
        """Close every socket in the loop and forget all state (for a forked child)."""

    def have_epoll() -> bool:
        """Whether error and hang-up are reported apart from readiness (epoll)."""
class ILeakCheck(Interface):
    """What code left behind since the check was made (``geventio.testing``):
    file descriptors open, greenlets of this thread alive, libev watchers of
    the hub active. Made before the code under test; asked after it cleaned
    up, once the hub has finished the iterations in which gevent closes
    sockets late."""

    def leaks() -> list[str]:
        """A list of descriptions of what was left behind; empty: nothing."""

    def check() -> None:
        """Raise AssertionError naming what was left behind, if anything."""


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

    def write(data: Any = None) -> None:
        """Append ``data`` (bytes-like) to out_buf, then send what can go now;
        OUT or OUT|SENT may reach the callback before this returns.
        Raises StreamClosedError after close()."""

    def close() -> None:
        """Close fh and stop every event; idempotent."""

    def event(events: int, err: Any) -> None:
        """Called by the layer below with what happened; delivers it to the
        callback. For plugins, not for applications."""
