"""The shipped annotations hold: mypy --strict accepts a typed program that
uses the public API (and that program runs), and rejects calls with wrong
keywords or wrong types."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import geventio

TYPING = Path(__file__).resolve().parent / 'typing'

#: The repository's pyproject.toml: mypy's settings (strict, the zope plugin).
CONFIG = TYPING.parent.parent / 'pyproject.toml'

#: ``path:line: error: message  [code]`` as mypy prints it.
ERROR = re.compile(r'^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$')


@pytest.fixture(scope='module')
def mypy_errors(tmp_path_factory):
    """``{file name: {(line, code)}}`` of one mypy run over tests/typing/.

    mypy runs beside the geventio package that this test imported (the
    checkout, or site-packages under tox), so that it checks the annotations
    that ship with it."""
    cache = tmp_path_factory.mktemp('mypy-cache')
    done = subprocess.run(
        [sys.executable, '-m', 'mypy', '--strict', '--config-file', str(CONFIG),
         '--cache-dir', str(cache), '--no-error-summary', '--hide-error-context',
         str(TYPING / 'user_script.py'), str(TYPING / 'wrong_calls.py')],
        cwd=Path(geventio.__file__).resolve().parent.parent,
        capture_output=True, text=True, timeout=240)
    assert done.returncode in (0, 1), done.stderr or done.stdout
    found = {}
    for line in done.stdout.splitlines():
        match = ERROR.match(line)
        if match:
            found.setdefault(Path(match['path']).name, set()).add(
                (int(match['line']), match['code']))
        else:
            assert ': note: ' in line, f'unexpected mypy output: {line}'
    return found


def expected_errors(path):
    """``{(line, code)}`` marked ``# error: [code]`` in ``path``."""
    marked = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = re.search(r'# error: \[([a-z-]+)\]', line)
        if match:
            marked.add((number, match[1]))
    return marked


def test_mypy_accepts_the_typed_user_script(mypy_errors):
    assert mypy_errors.get('user_script.py', set()) == set()


def test_mypy_rejects_each_wrong_call_and_nothing_else(mypy_errors):
    expected = expected_errors(TYPING / 'wrong_calls.py')
    assert len(expected) >= 10
    assert mypy_errors.get('wrong_calls.py', set()) == expected


def test_the_typed_user_script_runs():
    done = subprocess.run([sys.executable, str(TYPING / 'user_script.py')],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'ok'
