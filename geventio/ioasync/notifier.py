"""Notifier: the base of every geventio object that lives in a Loop.

The Python form of IO::Async::Notifier (interface `INotifier`): parameters set at
construction or by ``configure()``, events given as keywords or subclass methods,
and a tree of children that join and leave the loop with their parent.
"""

import types
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from zope.interface import implementer

from .. import _callbacks
from .._typing import EventHandler
from ..interfaces import ILoop, INotifier

__all__ = ['Notifier']

#: Marks an event not resolved yet.
_UNBOUND: Any = object()

#: class -> the events it implements as methods. Asked once per class: a failed
#: ``getattr`` per event and per connection cost more than the rest of binding.
_METHOD_EVENTS: dict[type, frozenset[str]] = {}

#: What a class's constructor does the same for every object: the
#: ``('_' + name, default)`` pairs of its plain parameters, the
#: ``('_' + name, name, is_method)`` triples of its cached events, and whether
#: construction must go through an overriding ``configure``.
_ClassSetup = tuple[tuple[tuple[str, Any], ...], tuple[tuple[str, str, bool], ...], bool]

#: class -> its `_ClassSetup`, worked out once per class, as a server makes a
#: notifier per connection (docs/performance.md, "Connection rate").
_CLASS_SETUP: dict[type, _ClassSetup] = {}


def _method_events(cls: 'type[Notifier]') -> frozenset[str]:
    events = _METHOD_EVENTS.get(cls)
    if events is None:
        events = _METHOD_EVENTS[cls] = frozenset(
            name for name in cls._EVENTS if callable(getattr(cls, name, None)))
    return events


def _configure_overridden(cls: 'type[Notifier]') -> bool:
    """Whether a subclass outside geventio overrides ``configure`` (the way
    the class docstring gives for adding parameters), so that construction
    must go through that override."""
    owner = next(klass for klass in cls.__mro__ if 'configure' in vars(klass))
    return owner.__module__.partition('.')[0] != __name__.partition('.')[0]


def _class_setup(cls: 'type[Notifier]') -> _ClassSetup:
    setup = _CLASS_SETUP.get(cls)
    if setup is None:
        methods = _method_events(cls)
        setup = _CLASS_SETUP[cls] = (
            tuple(('_' + name, default) for name, (default, _check) in cls._PARAMS.items()),
            tuple(('_' + name, name, name in methods) for name in cls._CACHED_EVENTS),
            _configure_overridden(cls))
    return setup


@implementer(INotifier)
class Notifier:
    """An object with events that joins a `Loop`.

    Subclasses declare the events they know in ``_EVENTS``, the events that must
    have a handler before the notifier may join a loop in ``_required_events()``,
    and their plain parameters (numbers and flags) in ``_PARAMS``. Other
    parameters are handled by overriding ``configure(**params)``: pop the keys
    the class knows, validate them, call ``super().configure(**rest)``, then
    apply them, so that a bad value anywhere leaves the object unchanged; the
    constructor goes through that override. geventio's own classes do the same
    in ``_configure(params)``, with the dict of the keywords given: their
    public ``__init__`` and ``configure`` name every keyword they take (so
    that ``help()`` and type checkers see them) and hand the ones given to
    ``_setup`` and ``_configure``. Events a subclass adds to ``_EVENTS``
    arrive through ``**events``.

    Events:
        Whatever the subclass declares. A keyword callable is called with the
        notifier first; a subclass method is called bound. A keyword overrides a
        method of the same name.
    """

    #: Names of the events this class knows (extended by subclasses).
    _EVENTS: ClassVar[frozenset[str]] = frozenset()

    # Slots keep an idle connection small (a dict per object cost ~1.2 KiB);
    # '__dict__' keeps arbitrary attributes working, allocated on first use.
    __slots__ = ('_loop', '_parent', '_children', '_event_keywords', '_handlers',
                 '__dict__', '__weakref__')

    #: Events a subclass reads on its hot path: each handler (or ``None``) is
    #: kept in the attribute ``'_' + name``, resolved at construction and again
    #: whenever it changes. Others resolve on first use, which keeps making a
    #: connection's objects cheap.
    _CACHED_EVENTS: ClassVar[tuple[str, ...]] = ()

    #: Plain parameters (numbers and flags): name -> ``(default, check)``;
    #: ``check(value, name)`` returns the value to keep or raises
    #: ``TypeError``/``ValueError``. Each is kept in the attribute
    #: ``'_' + name``.
    _PARAMS: ClassVar[dict[str, tuple[Any, Callable[[Any, str], Any]]]] = {}

    def __init__(self, **events: EventHandler | None) -> None:
        self._setup(events)

    def _setup(self, params: dict[str, Any]) -> None:
        """Make the state, then apply ``params`` (the keywords given to
        ``__init__``; a subclass makes its own state first, then calls this)."""
        self._loop: Any = None          # the Loop (its private parts are used)
        self._parent: Notifier | None = None
        self._children: list[Notifier] = []
        self._event_keywords: dict[str, EventHandler] = {}
        self._handlers: dict[str, Callable[..., Any] | None] = {}
        defaults, cached, overridden = _class_setup(type(self))
        for attribute, default in defaults:
            setattr(self, attribute, default)
        for attribute, name, is_method in cached:
            if is_method:
                self._bind_event(name)
            else:
                # (Without a method it has no handler until a keyword gives one;
                # _handler binds the others on first use.)
                setattr(self, attribute, None)
        if overridden:
            self.configure(**params)
        else:
            self._configure(params)

    # -- parameters and events -------------------------------------------------

    def configure(self, **events: EventHandler | None) -> None:
        """Set event handlers (``None`` removes a keyword handler); see the
        class docstring. Subclasses take their parameters here too.

        Raises:
            TypeError: for an unknown keyword, or an event handler that is not
                callable.
        """
        self._configure(events)

    def _configure(self, params: dict[str, Any]) -> None:
        """Check and apply the keywords given to ``configure`` (a dict the
        subclasses pop their own keys from)."""
        if not params:
            return
        plain, events = {}, {}
        for name, value in params.items():
            spec = self._PARAMS.get(name)
            if spec is not None:
                plain[name] = spec[1](value, name)
                continue
            if name not in self._EVENTS:
                raise TypeError(
                    f'{type(self).__name__}: unknown parameter {name!r}')
            if value is not None and not callable(value):
                raise TypeError(
                    f'{type(self).__name__}: {name} must be callable, not {value!r}')
            events[name] = value
        for name, value in plain.items():
            setattr(self, '_' + name, value)
        for name, value in events.items():
            if value is None:
                self._event_keywords.pop(name, None)
            else:
                self._event_keywords[name] = value
            self._bind_event(name)

    def _bind_event(self, name: str) -> Callable[..., Any] | None:
        """Resolve one event to a callable taking the event's own arguments
        (``None``: no handler), remember it and return it."""
        keyword = self._event_keywords.get(name)
        handler: Callable[..., Any] | None
        if keyword is not None:
            handler = types.MethodType(keyword, self)
        elif name in _method_events(type(self)):
            handler = getattr(self, name)
        else:
            handler = None
        self._handlers[name] = handler
        self._event_changed(name, handler)
        return handler

    def _handler(self, name: str) -> Callable[..., Any] | None:
        handler: Callable[..., Any] | None = self._handlers.get(name, _UNBOUND)
        if handler is _UNBOUND:
            if name in self._event_keywords or name in _method_events(type(self)):
                handler = self._bind_event(name)
            else:
                # No handler (on_read_eof, on_closed of most streams): noted
                # without the binding machinery, twice per connection.
                handler = self._handlers[name] = None
        return handler

    def _event_changed(self, name: str, handler: Callable[..., Any] | None) -> None:
        """Hook: the handler of event ``name`` is now ``handler`` (or ``None``)."""
        if name in self._CACHED_EVENTS:
            setattr(self, '_' + name, handler)

    def _required_events(self) -> Iterable[str]:
        """Events that must have a handler before joining a loop."""
        return ()

    def can_event(self, name: str) -> bool:
        """See `INotifier.can_event`."""
        return self._handler(name) is not None

    def invoke_event(self, name: str, *args: Any) -> Any:
        """See `INotifier.invoke_event`."""
        handler = self._handler(name)
        if handler is None:
            raise TypeError(f'{type(self).__name__} has no {name} handler')
        return handler(*args)

    def maybe_invoke_event(self, name: str, *args: Any) -> Any:
        """See `INotifier.maybe_invoke_event`."""
        handler = self._handler(name)
        if handler is None:
            return None
        return handler(*args)

    # -- the tree --------------------------------------------------------------

    @property
    def loop(self) -> 'ILoop | None':
        """The `Loop` this notifier is in, or ``None``."""
        loop: ILoop | None = self._loop
        return loop

    @property
    def parent(self) -> 'Notifier | None':
        """The notifier this one is a child of, or ``None``."""
        return self._parent

    @property
    def children(self) -> 'tuple[Notifier, ...]':
        """A tuple of the children, in the order they were added."""
        return tuple(self._children)

    def add_child(self, child: 'Notifier') -> None:
        """See `INotifier.add_child`."""
        if child._parent is not None or child._loop is not None:
            raise ValueError(f'{child!r} already has a parent or a loop')
        if self._loop is not None:
            child._check_addable()
        self._children.append(child)
        child._parent = self
        if self._loop is not None:
            child._join_loop(self._loop)

    def remove_child(self, child: 'Notifier') -> None:
        """See `INotifier.remove_child`."""
        if child._parent is not self:
            raise ValueError(f'{child!r} is not a child of {self!r}')
        self._children.remove(child)
        child._parent = None
        if child._loop is not None:
            child._leave_loop()

    def remove_from_parent(self) -> None:
        """See `INotifier.remove_from_parent`."""
        if self._parent is None:
            raise ValueError(f'{self!r} has no parent')
        self._parent.remove_child(self)

    def _leave(self) -> None:
        """Leave the parent or the loop, whichever holds this notifier."""
        if self._parent is not None:
            self._parent.remove_child(self)
        elif self._loop is not None:
            self._loop.remove(self)

    # -- joining and leaving a loop (called by Loop and by parents) ------------

    def _check_addable(self) -> None:
        """Raise ``TypeError`` if this notifier or a child lacks a required event."""
        for name in self._required_events():
            if not self.can_event(name):
                raise TypeError(
                    f'{type(self).__name__} needs an {name} handler before it '
                    'can be added to a loop')
        for child in self._children:
            child._check_addable()

    def _join_loop(self, loop: Any) -> None:
        self._loop = loop
        self._added_to_loop(loop)
        for child in self._children:
            child._join_loop(loop)

    def _leave_loop(self) -> None:
        for child in self._children:
            child._leave_loop()
        self._removed_from_loop()
        self._loop = None

    def _added_to_loop(self, loop: Any) -> None:
        """Hook: start watching (a Handle starts its greenlet here)."""

    def _removed_from_loop(self) -> None:
        """Hook: stop watching."""

    def _callback_failed(self, what: str) -> None:
        """Report an exception a user callback raised (call from the ``except``
        block), then close this notifier only."""
        _callbacks.report(what, self)
        self._close_after_error()

    def _close_after_error(self) -> None:
        self._leave()

    def __repr__(self) -> str:
        return f'<{type(self).__name__} at {id(self):#x}>'
