"""The keyword signatures say what the classes take: every parameter and event
the machinery knows is a named keyword with the machinery's default,
``configure`` changes only what it is given, and an unknown keyword is still a
``TypeError`` naming it."""

import inspect

import pytest

import geventio
from geventio.iostream import IOStream

KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY

#: The notifier classes whose signatures are written out keyword by keyword.
CLASSES = [geventio.Handle, geventio.Stream, geventio.Socket, geventio.Listener]

#: Handle's readiness events, which a Listener inherits but never fires (its
#: acceptors watch its sockets): left out of its signature.
READINESS_EVENTS = {'on_read_ready', 'on_write_ready'}


def keywords(function):
    """``{name: default}`` of the keyword-only parameters of ``function``."""
    return {name: param.default for name, param in inspect.signature(function).parameters.items()
            if param.kind is KEYWORD_ONLY}


def known(cls):
    """What the class's machinery takes: its events and plain parameters, the
    handle keywords (Handle's ``_configure``) and, for a Listener, its own."""
    names = set(cls._EVENTS) | set(cls._PARAMS)
    if cls is geventio.Listener:
        return names - READINESS_EVENTS | {'handle', 'handle_class'}
    names |= {'handle', 'read_handle', 'write_handle', 'want_readready',
              'want_writeready'}
    if cls is geventio.Stream:
        names |= {'encoding', 'read_high_watermark', 'read_low_watermark',
                  'write_high_watermark', 'write_low_watermark'}
    return names


@pytest.mark.parametrize('cls', CLASSES, ids=lambda cls: cls.__name__)
def test_the_constructor_names_every_keyword_the_class_knows(cls):
    assert set(keywords(cls.__init__)) == known(cls)
    assert inspect.signature(cls).parameters['events'].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.parametrize('cls', CLASSES, ids=lambda cls: cls.__name__)
def test_configure_names_the_same_keywords_and_changes_nothing_by_default(cls):
    defaults = keywords(cls.configure)
    assert set(defaults) == known(cls)
    assert {repr(default) for default in defaults.values()} == {'<not given>'}


@pytest.mark.parametrize('cls', CLASSES, ids=lambda cls: cls.__name__)
def test_constructor_defaults_are_the_machinery_defaults(cls):
    """A plain parameter's default in the signature is the one it gets."""
    defaults = keywords(cls.__init__)
    for name, (default, _check) in cls._PARAMS.items():
        assert defaults[name] == default, name
    for name in known(cls) & cls._EVENTS:
        assert defaults[name] is None, name


def test_help_shows_the_keywords_with_their_types():
    text = str(inspect.signature(geventio.Stream))
    assert 'read_len: int = 65536' in text
    assert 'on_read: ' in text and 'handle: ' in text
    assert 'read_len: int = <not given>' in str(inspect.signature(
        geventio.Stream.configure))


def test_configure_changes_only_the_keywords_given(socketpair):
    a, _ = socketpair

    def on_read(stream, buffer, eof):
        return 0

    stream = geventio.Stream(handle=a, on_read=on_read, autoflush=True, read_len=512,
                             encoding='utf-8', idle_timeout=30)
    stream.configure(write_len=1024)
    assert (stream._autoflush, stream._read_len, stream._write_len) == (True, 512, 1024)
    assert stream._encoding == 'utf-8' and stream._idle_timeout == 30.0
    assert stream.read_handle is a and stream.can_event('on_read')
    stream.configure(on_read=None)
    assert not stream.can_event('on_read') and stream.read_handle is a
    stream.close()


def test_none_given_to_configure_is_a_value_not_an_omission(socketpair):
    a, _ = socketpair
    stream = geventio.Stream(handle=a, idle_timeout=30)
    stream.configure(idle_timeout=None)
    assert stream._idle_timeout is None
    stream.configure(handle=None)
    assert stream.read_handle is None
    a.close()


@pytest.mark.parametrize('make', [
    lambda: geventio.Stream(colour='blue'),
    lambda: geventio.Stream().configure(colour='blue'),
    lambda: geventio.Socket(colour='blue'),
    lambda: geventio.Listener(colour='blue'),
    lambda: geventio.Listener(read_handle=None),
    lambda: geventio.Handle(colour='blue'),
], ids=['Stream', 'Stream.configure', 'Socket', 'Listener', 'Listener read_handle',
        'Handle'])
def test_an_unknown_keyword_is_a_type_error_naming_it(make):
    with pytest.raises(TypeError, match="'colour'|'read_handle'"):
        make()


def test_loop_listen_and_connect_refuse_an_unknown_keyword(loop):
    with pytest.raises(TypeError, match='hots'):
        loop.connect(hots='127.0.0.1', service=1)
    with pytest.raises(TypeError, match='sevrice'):
        loop.listen(sevrice=0)


def test_a_subclass_event_is_a_keyword_of_the_inherited_signatures(socketpair):
    a, _ = socketpair

    class Lines(geventio.Stream):
        _EVENTS = geventio.Stream._EVENTS | {'on_line'}

    first, second = (lambda stream, line: 1), (lambda stream, line: 2)
    stream = Lines(handle=a, on_line=first)
    assert stream.invoke_event('on_line', b'x') == 1
    stream.configure(on_line=second)
    assert stream.invoke_event('on_line', b'x') == 2
    stream.close()


def test_the_loop_entry_points_take_the_keywords_of_what_they_call():
    connect = keywords(geventio.Connector.connect)
    assert keywords(geventio.Loop.connect) == connect
    listen = keywords(geventio.Listener.listen)
    loop_listen = keywords(geventio.Loop.listen)
    assert {name: loop_listen[name] for name in listen} == listen
    assert set(loop_listen) - set(listen) == {
        'on_accept', 'on_stream', 'on_socket', 'on_accept_error', 'handle_class',
        'handle_constructor'}


def test_iostream_names_its_fields_and_keeps_user_fields(socketpair):
    a, b = socketpair
    fields = keywords(IOStream.__init__)
    assert {'cb', 'fh', 'host', 'port', 'wait_for', 'method', 'in_buf_limit',
            'in_buf', 'out_buf', 'out_pos', 'in_bytes', 'out_bytes', 'plugin',
            'connect_timeout', 'write_timeout'} == set(fields)
    io = IOStream(fh=a, cb=lambda io, events, err: None, Mine=1)
    assert io.Mine == 1 and io.wait_for == 0 and io.connect_timeout == 30.0
    io.close()
    with pytest.raises(TypeError, match='usage'):
        IOStream(fh=b)


def test_a_subclass_that_overrides_configure_adds_parameters_as_before(socketpair):
    """The way Notifier's docstring gives: pop the keys, call super().configure;
    the constructor goes through the override too."""
    a, _ = socketpair

    class Greeter(geventio.Stream):
        greeting = b'hello'

        def configure(self, **params):
            greeting = params.pop('greeting', None)
            if greeting is not None and not isinstance(greeting, bytes):
                raise TypeError(f'greeting must be bytes, not {greeting!r}')
            super().configure(**params)
            if greeting is not None:
                self.greeting = greeting

    stream = Greeter(handle=a, greeting=b'hi', read_len=512)
    assert stream.greeting == b'hi' and stream._read_len == 512
    stream.configure(greeting=b'yo')
    assert stream.greeting == b'yo' and stream._read_len == 512
    with pytest.raises(TypeError, match='greeting'):
        Greeter(greeting='text')
    with pytest.raises(TypeError, match='colour'):
        Greeter(colour='blue')
    stream.close()
