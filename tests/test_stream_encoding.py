"""Stream text mode: the scenarios of IO::Async's t/21stream-4encoding.t over real
sockets, plus the TextBuffer the handlers see."""

import re
import socket

import pytest

import geventio
from geventio import IncompleteReadError, TextBuffer
import conftest
from conftest import Log, WAIT, keep_all, recv_exactly

TEXT = 'naïve café — 日本語 ✓ 𝄞'


def make_stream(loop, sock, **params):
    params.setdefault('encoding', 'utf-8')
    return conftest.make_stream(loop, sock, **params)


def collect_text(loop, sock, **params):
    """A text stream whose on_read logs (type of buffer, text) and consumes it."""
    seen = Log()

    def on_read(stream, buffer, eof):
        seen.append((type(buffer), str(buffer), eof))
        del buffer[:]
        return 0

    return make_stream(loop, sock, on_read=on_read, **params), seen


def text_of(seen):
    return ''.join(text for _, text, _ in seen)


# -- TextBuffer --------------------------------------------------------------------

def test_text_buffer_behaves_as_a_mutable_string():
    buf = TextBuffer('hello')
    buf += ' wörld'
    assert str(buf) == 'hello wörld' and len(buf) == 11 and buf
    assert buf == 'hello wörld' and buf == TextBuffer('hello wörld')
    assert buf[0] == 'h' and buf[-1] == 'd' and buf[:5] == 'hello'
    assert buf.find('wö') == 6 and buf.find('x') == -1 and buf.find('l', 4) == 9
    assert 'ö' in buf and 'z' not in buf
    del buf[:6]
    assert str(buf) == 'wörld'
    del buf[1:3]
    assert str(buf) == 'wld'
    buf.clear()
    assert not buf and len(buf) == 0 and str(buf) == ''
    with pytest.raises(TypeError):
        hash(buf)


# -- reading -----------------------------------------------------------------------

def test_on_read_gets_decoded_text_in_a_text_buffer(loop, pair):
    a, b = pair
    stream, seen = collect_text(loop, a)
    b.sendall(TEXT.encode())
    while text_of(seen.wait_for(len(seen) + 1)) != TEXT:
        pass
    assert all(kind is TextBuffer for kind, _, _ in seen)


def test_multibyte_sequences_split_across_reads_are_held_back(loop, socketpair):
    a, b = socketpair
    stream, seen = collect_text(loop, a, read_len=1)
    data = TEXT.encode()
    b.sendall(data)
    while text_of(seen.wait_for(len(seen) + 1)) != TEXT:
        pass
    # One byte per read: each call saw one new whole character, never U+FFFD
    # and never a call for a read that ended inside a character.
    assert [text for _, text, _ in seen] == list(TEXT)


def test_invalid_bytes_become_replacement_characters(loop, socketpair):
    a, b = socketpair
    stream, seen = collect_text(loop, a)
    b.sendall(b'ab\xffcd\xc3(')
    while text_of(seen.wait_for(len(seen) + 1)) != 'ab\ufffdcd\ufffd(':
        pass


def test_an_incomplete_sequence_at_eof_becomes_a_replacement_character(
        loop, socketpair):
    a, b = socketpair
    stream, seen = collect_text(loop, a)
    closed = stream.new_close_future()
    b.sendall(b'ok\xe2\x82')
    b.shutdown(socket.SHUT_WR)
    closed.get(timeout=WAIT)
    assert text_of(seen) == 'ok\ufffd'
    assert seen[-1][2] is True


#: (reader, text sent, result): each future reader on text.
READERS = {
    'read_exactly': (lambda s: s.read_exactly(4), 'café!', 'café'),
    'read_atmost': (lambda s: s.read_atmost(4), '日本語', '日本語'),
    'read_until str': (lambda s: s.read_until('—'), 'naïve — x', 'naïve —'),
    'read_until regex': (lambda s: s.read_until(re.compile(r'[ïx]\s')), 'ünï x',
                         'ünï '),
}


@pytest.mark.parametrize('name', READERS)
def test_future_readers_yield_str(loop, socketpair, name):
    reader, sent, result = READERS[name]
    a, b = socketpair
    stream = make_stream(loop, a)
    future = reader(stream)
    b.sendall(sent.encode())
    got = future.get(timeout=WAIT)
    assert type(got) is str and got == result


@pytest.mark.parametrize('name', ['read_exactly', 'read_until str', 'read_until regex'])
def test_future_readers_on_text_one_byte_at_a_time(loop, socketpair, name):
    reader, sent, result = READERS[name]
    a, b = socketpair
    stream = make_stream(loop, a, read_len=1)
    future = reader(stream)
    for byte in sent.encode():
        b.sendall(bytes([byte]))
    assert future.get(timeout=WAIT) == result
    rest = sent[len(result):]
    assert stream.read_exactly(len(rest)).get(timeout=WAIT) == rest


def test_read_until_eof_and_incomplete_read_yield_str(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, close_on_read_eof=False)
    short = stream.read_exactly(10)
    b.sendall('日本'.encode())
    b.shutdown(socket.SHUT_WR)
    with pytest.raises(IncompleteReadError) as info:
        short.get(timeout=WAIT)
    assert info.value.partial == '日本'
    assert stream.read_until_eof().get(timeout=WAIT) == ''
    stream.close()


# -- writing -----------------------------------------------------------------------

def test_str_writes_are_encoded(loop, pair):
    a, b = pair
    stream = make_stream(loop, a)
    stream.write(TEXT)
    stream.write(b'\xff raw bytes pass through')
    data = TEXT.encode() + b'\xff raw bytes pass through'
    assert recv_exactly(b, len(data)) == data


def test_write_len_counts_encoded_bytes(loop, socketpair):
    a, b = socketpair
    counts = []
    stream = make_stream(loop, a)
    stream.write('€' * 4, write_len=5, on_write=lambda s, n: counts.append(n)).get(
        timeout=WAIT)
    assert counts == [5, 5, 2]
    assert recv_exactly(b, 12) == '€€€€'.encode()


def test_other_encodings_round_trip(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, encoding='latin-1')
    b.sendall('déjà'.encode('latin-1'))
    assert stream.read_exactly(4).get(timeout=WAIT) == 'déjà'
    stream.write('voilà')
    assert recv_exactly(b, 5) == 'voilà'.encode('latin-1')


def test_dropping_the_encoding_turns_buffered_text_back_into_its_bytes(
        loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, encoding='latin-1')
    b.sendall('déjà vu'.encode('latin-1'))
    assert stream.read_exactly(5).get(timeout=WAIT) == 'déjà '
    stream.configure(encoding=None)
    assert stream.read_exactly(2).get(timeout=WAIT) == b'vu'
    b.sendall('ça'.encode('latin-1'))
    assert stream.read_exactly(2).get(timeout=WAIT) == b'\xe7a'


def test_generators_and_futures_may_give_str(loop, socketpair):
    from gevent.event import AsyncResult
    a, b = socketpair
    stream = make_stream(loop, a)
    parts = ['ü', 'ß']
    stream.write(lambda s: parts.pop(0) if parts else None)
    later = AsyncResult()
    stream.write(later)
    later.set('✓')
    assert recv_exactly(b, 7) == 'üß✓'.encode()


def test_echo_through_a_text_stream(loop, pair):
    a, b = pair

    def echo(stream, buffer, eof):
        stream.write(str(buffer).upper())
        del buffer[:]
        return 0

    make_stream(loop, a, on_read=echo)
    b.sendall('straße\n'.encode())
    assert recv_exactly(b, len('STRASSE\n')) == b'STRASSE\n'


# -- bad input ---------------------------------------------------------------------

def test_unknown_encoding_raises_lookup_error_at_configure(socketpair):
    a, _ = socketpair
    with pytest.raises(LookupError, match='no-such-codec'):
        geventio.Stream(handle=a, on_read=keep_all, encoding='no-such-codec')
    stream = geventio.Stream(handle=a, on_read=keep_all)
    with pytest.raises(LookupError, match='no-such-codec'):
        stream.configure(encoding='no-such-codec')


def test_str_write_without_an_encoding_raises_type_error(loop, socketpair):
    a, _ = socketpair
    stream = make_stream(loop, a, encoding=None)
    with pytest.raises(TypeError, match='encoding'):
        stream.write('text')


def test_bytes_separator_on_a_text_stream_raises_type_error(loop, socketpair):
    a, _ = socketpair
    stream = make_stream(loop, a)
    with pytest.raises(TypeError, match='separator'):
        stream.read_until(b'\n')
