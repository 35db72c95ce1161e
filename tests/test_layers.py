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


def imports_of(module, path, modules):
    """The geventio modules ``module`` imports, anywhere in its source (inside
    functions and under ``if TYPE_CHECKING:`` too: a cycle only annotations
    see is still a module in the wrong layer)."""
    is_package = path.name == '__init__.py'
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
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


@pytest.fixture(scope='module')
def graph():
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_every_module_belongs_to_a_layer(graph):
    for module in graph:
        group_of(module)


def test_no_module_imports_a_layer_above_its_own(graph):
    wrong = sorted(f'{module} ({group_of(module)}) imports {target} ({group_of(target)})'
                   for module, targets in graph.items() for target in targets
                   if group_of(target) not in ALLOWED[group_of(module)])
    assert not wrong, '\n'.join(wrong)


def test_no_import_cycle(graph):
    """Depth-first search; the package itself is left out, since importing any
    submodule runs geventio/__init__.py first by Python's rules."""
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


def test_the_checker_sees_type_checking_imports(tmp_path):
    """An import only the type checker runs counts too."""
    typed = tmp_path / 'typed.py'
    typed.write_text('from typing import TYPE_CHECKING\n'
                     'if TYPE_CHECKING:\n    from .ioasync import loop\n')
    modules = {'geventio.typed': typed, 'geventio.ioasync.loop': None,
               'geventio.ioasync': None}
    assert imports_of('geventio.typed', typed, modules) == {'geventio.ioasync.loop'}
