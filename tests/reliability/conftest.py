"""Marks every test here ``reliability`` and collects the figures the tests
measure (RSS, CPU seconds, descriptors), printed at the end of the run so that
docs/reliability.md can quote them; with ``GEVENTIO_RELIABILITY_FIGURES=path``
they are also written there as JSON."""

import json
import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

_FIGURES = {}


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def figures(request):
    """``figures(**values)`` records this test's measurements under its name."""
    def record(**values):
        _FIGURES.setdefault(request.node.name, {}).update(values)
    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section('reliability figures')
    for test, values in _FIGURES.items():
        shown = ', '.join(f'{key}={value}' for key, value in values.items())
        terminalreporter.write_line(f'{test}: {shown}')
    path = os.environ.get('GEVENTIO_RELIABILITY_FIGURES')
    if path:
        Path(path).write_text(json.dumps(_FIGURES, indent=1, sort_keys=True) + '\n')
