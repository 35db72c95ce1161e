"""Readers in linear time: a ``read_until`` that resumes its search finds exactly
what a search of the whole buffer finds, a regex that cannot resume gets the
implicit ``max_len``, and `TextBuffer` behaves as the ``str`` it stands for.

The CPU figures under attack (megabyte lines) are in tests/reliability/.
"""

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import geventio
from geventio import LimitOverrunError
from geventio._io.text import TextBuffer
from geventio.ioasync._readers import IMPLICIT_MAX_LEN, Until, scan_reach
from conftest import WAIT, make_stream

#: Separators a resumed search must agree on with a full one: literal, bounded
#: regexes with alternation, repeats, lookarounds, word boundaries and anchors.
SEPARATORS = [
    b'\r\n', b'ab', rb'\r?\n', rb'a|ab', rb'ab?', rb'x{2,4}', rb'(?<=a)b', rb'b(?=aaaa)',
    rb'(?<!x)\n', rb'\bab\b', rb'a$', rb'ab(?!$)', rb'(?m)^b', rb'(a|bb)(?=x)\1', rb'\Bb',
]


def as_separator(raw, text):
    if raw in (b'\r\n', b'ab'):
        return raw.decode() if text else raw
    return re.compile(raw.decode() if text else raw)


def test_scan_reach_is_the_longest_match_plus_lookarounds_plus_two():
    assert scan_reach(re.compile(rb'\r?\n')) == 2 + 2
    assert scan_reach(re.compile(rb'(?<=ab)c(?=de)')) == 1 + 2 + 2 + 2
    assert scan_reach(re.compile('é\\b', re.I)) == 1 + 2


@pytest.mark.parametrize('pattern', [rb'[A-Z][a-z]*', rb'a+', rb'x(?=.*y)',
                                     rb'a{0,70000}'])
def test_scan_reach_is_none_for_unbounded_or_huge_matches(pattern):
    assert scan_reach(re.compile(pattern)) is None


def full_search(separator, buffer, max_len):
    """What ``read_until`` must give for ``buffer`` (no EOF), found the plain
    way: one search of the whole text with ``re`` or ``find``."""
    text = str(buffer) if isinstance(buffer, TextBuffer) else bytes(buffer)
    if hasattr(separator, 'search'):
        match = separator.search(text)
        end = match.end() if match else -1
    else:
        end = text.find(separator)
        end = end if end < 0 else end + len(separator)
    if end >= 0 and (max_len is None or end <= max_len):
        return text[:end]
    if max_len is not None and len(text) >= max_len:
        return LimitOverrunError
    return None


def take(reader, buffer):
    """``reader.take`` on a copy of ``buffer`` (``LimitOverrunError`` as the class)."""
    copy = TextBuffer(str(buffer)) if isinstance(buffer, TextBuffer) else bytearray(buffer)
    try:
        return reader.take(copy, False)
    except LimitOverrunError:
        return LimitOverrunError


def agrees_with_a_full_search(separator, data, cuts, text, max_len=None):
    """Fed ``data`` in the pieces ``cuts`` make, a resuming reader, and at each
    step a new reader of the whole buffer so far, give what `full_search` gives."""
    bounds = [0] + sorted(cuts) + [len(data)]
    buffer = TextBuffer() if text else bytearray()
    resuming = Until(None, separator, max_len)
    for start, stop in zip(bounds, bounds[1:], strict=False):
        buffer += data[start:stop] if text else data[start:stop].encode()
        expected = full_search(separator, buffer, resuming.max_len)
        assert take(Until(None, separator, max_len), buffer) == expected
        try:
            assert resuming.take(buffer, False) == expected
        except LimitOverrunError:
            assert expected is LimitOverrunError
        if expected is not None:
            break


@given(raw=st.sampled_from(SEPARATORS), text=st.booleans(),
       data=st.text(alphabet='ab\r\nx ', max_size=60),
       cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=12))
@example(raw=rb'ab(?!$)', text=False, data='xxxxab\nab', cuts=[7])   # $ at the old end
@example(raw=rb'b(?=aaaa)', text=True, data='xxxbaaaa', cuts=[7])   # a long lookahead
@settings(max_examples=400, deadline=None)
def test_a_resumed_search_finds_what_a_full_search_finds(raw, text, data, cuts):
    """Fed in any pieces, the resuming reader agrees at every step with one
    plain search of the whole buffer (in text mode through windows of a few
    characters, so that a window boundary falls everywhere)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(geventio.ioasync._readers, 'TEXT_SEARCH_STEP', 1)
        agrees_with_a_full_search(as_separator(raw, text), data, cuts, text)


#: Pieces of random patterns: characters, classes, anchors and word boundaries.
REGEX_ATOMS = st.sampled_from(['a', 'b', 'ab', 'ba', 'aab', 'x', r'\n', '.', '[ab]',
                               '[^a]', r'\w', r'\W', r'\s', r'\b', r'\B', '$', '^',
                               r'\A', r'\Z', r'\1',
                               # Lookarounds wider than most matches: the reach
                               # they add is what resuming must not lose.
                               '(?=aaa)', '(?=a.b$)', '(?!ab.b)', '(?<=aab)',
                               '(?<!b.a)', '(?=a(?=bab))', '(?<=(?<=ab)a)'])

#: Fixed-width bodies for lookbehinds (``re`` allows no other).
LOOKBEHINDS = st.sampled_from(['a', 'ab', r'\n', '[ab]', 'a.', '(?:ab|xa)', '^a', r'\b',
                               'a$', '(?=ab)a'])

QUANTIFIERS = st.sampled_from(['?', '??', '?+', '{2}', '{0,3}', '{1,2}?', '{0,2}+',
                               '*', '+', '*?'])


def regex_compounds(inner):
    return st.one_of(
        st.tuples(inner, inner).map(''.join),
        st.tuples(inner, inner).map(lambda pair: '(?:%s|%s)' % pair),
        inner.map('({})'.format),
        inner.map('(?={})'.format), inner.map('(?!{})'.format),
        LOOKBEHINDS.map('(?<={})'.format), LOOKBEHINDS.map('(?<!{})'.format),
        inner.map('(?>{})'.format),
        st.tuples(inner, QUANTIFIERS).map(lambda pair: '(?:%s)%s' % pair),
        st.tuples(inner, inner).map(lambda pair: '(?(1)%s|%s)' % pair),
        st.tuples(inner, inner).map(lambda pair: '(%s)%s\\1' % pair))


def compiles(pattern):
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


#: Random patterns with alternations, bounded and unbounded repeats (lazy and
#: possessive too), groups and backreferences, atomic groups, conditionals,
#: lookarounds (nested as well), anchors and word boundaries, under any flag.
PATTERNS = st.tuples(st.sampled_from(['', '(?m)', '(?s)', '(?i)']),
                     st.recursive(REGEX_ATOMS, regex_compounds, max_leaves=6)
                     ).map(''.join).filter(compiles)


@given(pattern=PATTERNS, text=st.booleans(), data=st.text(alphabet='aab\nx', max_size=60),
       cuts=st.one_of(st.just(None),
                      st.lists(st.integers(min_value=0, max_value=60), max_size=8)),
       max_len=st.one_of(st.none(), st.integers(min_value=1, max_value=45)))
# Random patterns seldom hit these, so each part of the rule has one case:
@example(pattern='b(?=aaaa)', text=False, data='xxxbaaaa', cuts=[7], max_len=None)
@example(pattern='a$', text=True, data='a' * 20, cuts=[], max_len=None)  # window's end
@example(pattern='^x', text=True, data='bxxxxx', cuts=[5], max_len=None)  # window's start
@settings(max_examples=1000, deadline=None)
def test_scan_reach_lets_any_pattern_resume_exactly(pattern, text, data, cuts, max_len):
    """For random patterns and inputs split anywhere (``None``: a character at
    a time, so that a search resumes at every position), with or without
    ``max_len``: a search resumed `scan_reach` before where the last stopped
    finds exactly what one search of the whole buffer finds (a pattern with no
    bound rescans, and gets the implicit ``max_len``)."""
    separator = re.compile(pattern if text else pattern.encode())
    if cuts is None:
        cuts = range(len(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(geventio.ioasync._readers, 'TEXT_SEARCH_STEP', 1)
        agrees_with_a_full_search(separator, data, cuts, text, max_len)


def test_an_unbounded_regex_gets_the_implicit_max_len(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=65536)
    word = stream.read_until(re.compile(rb'[A-Z][a-z]*!'))
    b.sendall(b'A' + b'a' * IMPLICIT_MAX_LEN)
    with pytest.raises(LimitOverrunError):
        word.get(timeout=WAIT)


def test_an_explicit_max_len_overrides_the_implicit_one(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=65536)
    word = stream.read_until(re.compile(rb'[A-Z][a-z]*!'), max_len=3 * IMPLICIT_MAX_LEN)
    message = b'A' + b'a' * (2 * IMPLICIT_MAX_LEN) + b'!'
    b.sendall(message)
    assert word.get(timeout=WAIT) == message


@pytest.mark.parametrize('separator', [b'\n', re.compile(rb'\r?\n')])
def test_a_bounded_separator_has_no_implicit_limit(loop, socketpair, separator):
    a, b = socketpair
    stream = make_stream(loop, a, read_len=65536)
    line = stream.read_until(separator)
    message = b'x' * (3 * IMPLICIT_MAX_LEN) + b'\r\n'
    b.sendall(message)
    assert line.get(timeout=WAIT) == message


def test_a_text_mode_regex_resumes_over_a_long_line(loop, socketpair):
    a, b = socketpair
    stream = make_stream(loop, a, encoding='utf-8', read_len=1000)
    line = stream.read_until(re.compile(r'(?<=é)\r?\n'))
    message = 'é' * 100000 + '\r\n'
    b.sendall(message.encode())
    assert line.get(timeout=WAIT) == message


# -- TextBuffer against the str it stands for ---------------------------------------

OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just('append'), st.text(alphabet='ab\né', max_size=9)),
    st.tuples(st.just('consume'), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just('slice'), st.integers(-25, 25), st.integers(-25, 25)),
    st.tuples(st.just('index'), st.integers(-25, 25)),
    st.tuples(st.just('find'), st.sampled_from(['a', 'b\n', '', 'é']),
              st.integers(-25, 25), st.one_of(st.none(), st.integers(-25, 25))),
    st.tuples(st.just('delete'), st.integers(-25, 25)),
    st.tuples(st.just('str')),
), max_size=40)


@given(operations=OPERATIONS, merge_below=st.sampled_from([1, 3, 4096]))
@settings(max_examples=400, deadline=None)
def test_text_buffer_behaves_as_a_str(operations, merge_below, monkeypatch_module):
    monkeypatch_module.setattr(geventio._io.text, 'MERGE_BELOW', merge_below)
    buffer, model = TextBuffer(), ''
    for op, *args in operations:
        if op == 'append':
            buffer += args[0]
            model += args[0]
        elif op == 'consume':
            del buffer[:args[0]]
            model = model[args[0]:]
        elif op == 'slice':
            assert buffer[args[0]:args[1]] == model[args[0]:args[1]]
        elif op == 'index':
            if -len(model) <= args[0] < len(model):
                assert buffer[args[0]] == model[args[0]]
            else:
                with pytest.raises(IndexError):
                    buffer[args[0]]
        elif op == 'find':
            assert buffer.find(*args) == model.find(*args)
        elif op == 'delete' and -len(model) <= args[0] < len(model):
            del buffer[args[0]]
            model = model[:args[0]] + model[args[0]:][1:]
        elif op == 'str':
            assert str(buffer) == model
        assert len(buffer) == len(model) and bool(buffer) == bool(model)
    assert buffer == model and ('é' in buffer) == ('é' in model)


@pytest.fixture(scope='module')
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
