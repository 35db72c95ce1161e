"""Parameter checks: where a bad keyword becomes a TypeError or ValueError.

Not a public module. IO::Async checks its parameters in ``configure`` and croaks
naming the key; docs/api.md section 1 asks the same of every constructor,
``configure()`` and single-call operation (``listen``, ``connect``, ``send``):
name the parameter, show the bad value with ``!r``, and raise at the call, never
later inside a greenlet. The modules that validate use these helpers, so that
the messages read the same everywhere. It imports nothing from geventio, so
every module can use it (``addresses`` included).
"""

__all__ = ['check_callables', 'check_flag', 'check_int', 'check_positive',
           'check_seconds', 'check_unknown', 'first_given', 'one_of',
           'pop_continuations']


def check_int(value, name):
    """``value`` if it is an int (not a bool), else ``TypeError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, not {value!r}')
    return value


def check_positive(value, name, zero=False):
    """``value`` if it is an int above 0 (with ``zero``, 0 too).

    Raises:
        TypeError: not an int (a bool is not one).
        ValueError: too small.
    """
    check_int(value, name)
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f'{name} must be {"non-negative" if zero else "positive"}, '
                         f'not {value!r}')
    return value


def check_flag(value, name):
    """``bool(value)`` for a bool or an int (IO::Async's 0 and 1), else ``TypeError``."""
    if not isinstance(value, (bool, int)):
        raise TypeError(f'{name} must be a bool, not {value!r}')
    return bool(value)


def check_seconds(value, name, zero=False):
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


def check_callables(params, names):
    """``TypeError`` for any of ``names`` in ``params`` that is set but not callable."""
    for name in names:
        value = params.get(name)
        if value is not None and not callable(value):
            raise TypeError(f'{name} must be callable, not {value!r}')


def pop_continuations(target, params, names):
    """Pop each of ``names`` from ``params`` onto ``target`` as an attribute
    (``None`` when not given).

    Raises:
        TypeError: one is given but not callable.
    """
    check_callables(params, names)
    for name in names:
        setattr(target, name, params.pop(name, None))


def check_unknown(params, what):
    """``TypeError`` naming the first keyword left over in ``params``."""
    if params:
        raise TypeError(f'{what}: unknown parameter {sorted(params)[0]!r}')


def one_of(what, options, required=True):
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


def first_given(*values):
    """The first value that is not ``None`` (or ``None``)."""
    return next((value for value in values if value is not None), None)
