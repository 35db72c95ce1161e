"""Notifier: events as keywords or methods, configure validation, the child tree."""

import pytest

import geventio


class Ticker(geventio.Notifier):
    _EVENTS = geventio.Notifier._EVENTS | {'on_tick'}

    def on_tick(self, value):
        return ('method', value)


def test_a_subclass_method_is_called_bound():
    ticker = Ticker()
    assert ticker.can_event('on_tick')
    assert ticker.invoke_event('on_tick', 1) == ('method', 1)


def test_a_keyword_overrides_the_method_and_gets_the_notifier_first():
    ticker = Ticker(on_tick=lambda notifier, value: (notifier, value))
    assert ticker.invoke_event('on_tick', 2) == (ticker, 2)
    ticker.configure(on_tick=None)
    assert ticker.invoke_event('on_tick', 3) == ('method', 3)


def test_maybe_invoke_event_returns_none_without_a_handler():
    notifier = geventio.Handle()
    assert not notifier.can_event('on_closed')
    assert notifier.maybe_invoke_event('on_closed') is None
    with pytest.raises(TypeError, match='on_closed'):
        notifier.invoke_event('on_closed')


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match='on_tock'):
        Ticker(on_tock=print)
    with pytest.raises(TypeError, match='colour'):
        geventio.Notifier().configure(colour='blue')


def test_a_handler_that_is_not_callable_is_a_type_error():
    with pytest.raises(TypeError, match='on_tick'):
        Ticker(on_tick='nope')


def test_children_join_and_leave_the_loop_with_their_parent(loop):
    parent, child, late = geventio.Notifier(), geventio.Notifier(), geventio.Notifier()
    parent.add_child(child)
    loop.add(parent)
    assert child.loop is loop and child.parent is parent
    parent.add_child(late)
    assert late.loop is loop
    assert parent.children == (child, late)
    late.remove_from_parent()
    assert late.loop is None and late.parent is None
    loop.remove(parent)
    assert child.loop is None


def test_adopting_a_notifier_with_a_parent_or_a_loop_raises(loop):
    parent, child = geventio.Notifier(), geventio.Notifier()
    parent.add_child(child)
    with pytest.raises(ValueError):
        geventio.Notifier().add_child(child)
    loose = geventio.Notifier()
    loop.add(loose)
    with pytest.raises(ValueError):
        parent.add_child(loose)
    with pytest.raises(ValueError):
        parent.remove_child(loose)
    with pytest.raises(ValueError):
        loose.remove_from_parent()


def test_a_child_missing_a_required_event_stops_the_parent_joining(loop, socketpair):
    parent = geventio.Notifier()
    parent.add_child(geventio.Stream(handle=socketpair[0]))
    with pytest.raises(TypeError, match='on_read'):
        loop.add(parent)
    assert loop.notifiers == ()
    assert parent.loop is None
