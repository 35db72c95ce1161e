"""Parameter checks: where a bad keyword becomes a TypeError or ValueError.

Not a public module. IO::Async checks its parameters in ``configure`` and croaks
naming the key; docs/api.md section 1 asks the same of every constructor,
``configure()`` and single-call operation (``listen``, ``connect``, ``send``):
name the parameter, show the bad value with ``!r``, and raise at the call, never
later inside a greenlet. The modules that validate use these helpers, so that
the messages read the same everywhere. It imports nothing from geventio, so
every module can use it (``addresses`` included).

Constructors and ``configure()`` take every parameter as a real keyword, so
their signatures say what can be set; `NOT_GIVEN` is the default that means
"not given", so that ``configure(x=...)`` changes ``x`` alone (and a
constructor can tell ``handle=None`` from no handle at all).
"""

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any, Final, TypeVar

__all__ = ['NOT_GIVEN', 'check_callables', 'check_flag', 'check_int', 'check_positive',
           'check_seconds', 'check_unknown', 'first_given', 'not_none', 'one_of',
           'pop_continuations']

_T = TypeVar('_T')


class _NotGiven:
    """The type of `NOT_GIVEN`: one instance, shown in signatures as it is."""

    __slots__ = ()

    def __repr__(self) -> str:
        return '<not given>'


#: Default of every ``configure()`` keyword (the parameter keeps its value),
#: and of a constructor's keywords whose ``None`` means something. Typed
#: ``Any`` so that a signature reads ``read_len: int = NOT_GIVEN`` (``help()``
#: shows ``read_len: int = <not given>``) while a type checker still checks
#: what callers pass.
NOT_GIVEN: Final[Any] = _NotGiven()


def check_int(value: Any, name: str) -> int:
    """``value`` if it is an int (not a bool), else ``TypeError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, not {value!r}')
    return value


def check_positive(value: Any, name: str, zero: bool = False) -> int:
    """``value`` if it is an int above 0 (with ``zero``, 0 too).

    Raises:
        TypeError: not an int (a bool is not one).
        ValueError: too small.
    """
    number = check_int(value, name)
    if number < 0 or (number == 0 and not zero):
        raise ValueError(f'{name} must be {"non-negative" if zero else "positive"}, '
                         f'not {value!r}')
    return number


def check_flag(value: Any, name: str) -> bool:
    """``bool(value)`` for a bool or an int (IO::Async's 0 and 1), else ``TypeError``."""
    if not isinstance(value, (bool, int)):
        raise TypeError(f'{name} must be a bool, not {value!r}')
    return bool(value)


def check_seconds(value: Any, name: str, zero: bool = False) -> float | None:
    """A number of seconds as a float, or ``None``; ``zero`` allows 0.

    Raises:
        TypeError: neither a number nor ``None`` (a bool is not a number).
        ValueError: negative, or 0 without ``zero``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number of seconds or None, not {value!r}')
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f'{name} must be {"non-negative" if zero else "positive"}, '
                         f'not {value!r}')
    return float(value)


def check_callables(params: Mapping[str, Any], names: Iterable[str]) -> None:
    """``TypeError`` for any of ``names`` in ``params`` that is set but not callable."""
    for name in names:
        value = params.get(name)
        if value is not None and not callable(value):
            raise TypeError(f'{name} must be callable, not {value!r}')


def pop_continuations(target: object, params: MutableMapping[str, Any],
                      names: Iterable[str]) -> None:
    """Pop each of ``names`` from ``params`` onto ``target`` as an attribute
    (``None`` when not given).

    Raises:
        TypeError: one is given but not callable.
    """
    check_callables(params, names)
    for name in names:
        setattr(target, name, params.pop(name, None))


def check_unknown(params: Mapping[str, Any], what: str) -> None:
    """``TypeError`` naming the first keyword left over in ``params``."""
    if params:
        raise TypeError(f'{what}: unknown parameter {sorted(params)[0]!r}')


def one_of(what: str, options: Sequence[tuple[str, object]],
           required: bool = True) -> str | None:
    """The name of the one option given (value not ``None``) among ``options``,
    ``(name, value)`` pairs; ``None`` if none and not ``required``.

    Raises:
        TypeError: several were given, or none and ``required``.
    """
    given = [name for name, value in options if value is not None]
    names = ', '.join(f'{name}=' for name, _ in options)
    if len(given) > 1:
        raise TypeError(f'{what} takes one of {names} not {" and ".join(given)}')
    if not given and required:
        raise TypeError(f'{what} needs a target: one of {names}')
    return given[0] if given else None


def first_given(*values: _T | None) -> _T | None:
    """The first value that is not ``None`` (or ``None``)."""
    return next((value for value in values if value is not None), None)


def not_none(**values: Any) -> dict[str, Any]:
    """The keywords given a value other than ``None``: what a call such as
    ``listen()`` or ``connect()`` takes as given (``None`` is each one's "not
    given", as the resolver hints' presence matters)."""
    return {name: value for name, value in values.items() if value is not None}
