"""The package's layers (docs/architecture.md) cannot quietly erode: every module's
imports, those inside functions included, form no cycle and point only at the
layers below it or beside it in its own group."""

import ast
from pathlib import Path

import pytest

import geventio

PACKAGE_DIR = Path(geventio.__file__).resolve().parent

#: Each group of modules and the groups it may import from (its own included).
#: The surfaces beside IO::Async (Danga::Socket, IO::Stream) stand on the byte
#: layer only; the gevent-server adapter and the pytest fixtures stand on
#: IO::Async; the tools on top
#: (the package's own __init__, the command line, the benchmarks) may import
#: anything.
ALLOWED = {
    'vocabulary': {'vocabulary'},
    'io': {'vocabulary', 'io'},
    'ioasync': {'vocabulary', 'io', 'ioasync'},
    'danga': {'vocabulary', 'io', 'danga'},
    'iostream': {'vocabulary', 'io', 'iostream'},
    'server': {'vocabulary', 'io', 'ioasync', 'server'},
    'testing': {'vocabulary', 'io', 'ioasync', 'testing'},
    'tools': {'vocabulary', 'io', 'ioasync', 'danga', 'iostream', 'server',
              'testing', 'tools'},
}

VOCABULARY = {'errors', 'interfaces', 'addresses', '_params', '_callbacks', '_typing'}


def group_of(module):
    """The group of a dotted module name inside geventio."""
    parts = module.split('.')[1:]
    if not parts or parts[0] in ('__main__', 'cli', 'bench'):
        return 'tools'
    head = parts[0]
    if head in VOCABULARY:
        return 'vocabulary'
    if head == '_io':
        return 'io'
    if head in ('ioasync', 'iostream', 'server', 'testing'):
        return head
    if head == 'danga':
        return 'danga'
    raise AssertionError(f'{module} belongs to no layer: add it to test_layers.py '
                         'and docs/architecture.md')


def all_modules():
    """Dotted name -> path of every module of the package."""
    modules = {}
    for path in PACKAGE_DIR.rglob('*.py'):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        modules['.'.join(parts)] = path
    return modules


def imports_of(module, path, modules, type_only=True):
    """The geventio modules ``module`` imports, anywhere in its source; without
    ``type_only``, leaving out those under ``if TYPE_CHECKING:``, which only
    annotations see (a Notifier names its Loop's type, the Loop makes Notifiers:
    a cycle for the type checker, none when the code runs)."""
    is_package = path.name == '__init__.py'
    tree = ast.parse(path.read_text(), str(path))
    skipped = set() if type_only else {
        id(inner) for node in ast.walk(tree) if _is_type_checking_block(node)
        for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = module.split('.')
                if not is_package:
                    anchor.pop()
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = '.'.join(anchor + ([base] if base else []))
            names = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in modules
                     else base for alias in node.names]
        else:
            continue
        for name in names:
            # 'import geventio.x.y' names geventio.x.y; keep the longest known prefix.
            while name and name not in modules:
                name = name.rpartition('.')[0]
            if name.startswith('geventio') and name != 'geventio' and name != module:
                found.add(name)
    return found


def _is_type_checking_block(node):
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) without an else."""
    if not isinstance(node, ast.If) or node.orelse:
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING') or (
        isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING')


@pytest.fixture(scope='module')
def graph():
    """Every import, type-only ones included: the layers hold for annotations too."""
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


@pytest.fixture(scope='module')
def runtime_graph():
    """The imports that run."""
    modules = all_modules()
    return {name: imports_of(name, path, modules, type_only=False)
            for name, path in modules.items()}


def test_every_module_belongs_to_a_layer(graph):
    for module in graph:
        group_of(module)


def test_no_module_imports_a_layer_above_its_own(graph):
    wrong = sorted(f'{module} ({group_of(module)}) imports {target} ({group_of(target)})'
                   for module, targets in graph.items() for target in targets
                   if group_of(target) not in ALLOWED[group_of(module)])
    assert not wrong, '\n'.join(wrong)


def test_no_import_cycle(runtime_graph):
    """Depth-first search; the package itself is left out, since importing any
    submodule runs geventio/__init__.py first by Python's rules."""
    graph = runtime_graph
    state, cycles = {}, []

    def visit(module, path):
        state[module] = 'open'
        for target in sorted(graph[module]):
            if state.get(target) == 'open':
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 'done'

    for module in sorted(graph):
        if module not in state and module != 'geventio':
            visit(module, [module])
    assert not cycles, '\n'.join(' -> '.join(cycle) for cycle in cycles)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """A cycle hidden in a function body is a cycle (the test above would
    otherwise pass on code that only dodges the check)."""
    hidden = tmp_path / 'hidden.py'
    hidden.write_text('def f():\n    from .ioasync import loop\n')
    modules = {'geventio.hidden': hidden, 'geventio.ioasync.loop': None,
               'geventio.ioasync': None}
    assert imports_of('geventio.hidden', hidden, modules) == {'geventio.ioasync.loop'}


def test_only_type_checking_imports_may_point_back(tmp_path):
    """An import under ``if TYPE_CHECKING:`` is left out of the cycle check
    (annotations only), one anywhere else is not."""
    typed = tmp_path / 'typed.py'
    typed.write_text('from typing import TYPE_CHECKING\n'
                     'if TYPE_CHECKING:\n    from .ioasync import loop\n'
                     'def f():\n    from . import errors\n')
    modules = {'geventio.typed': typed, 'geventio.ioasync.loop': None,
               'geventio.ioasync': None, 'geventio.errors': None}
    assert imports_of('geventio.typed', typed, modules, type_only=False) == {
        'geventio.errors'}
    assert imports_of('geventio.typed', typed, modules) == {
        'geventio.errors', 'geventio.ioasync.loop'}
