"""Sphinx configuration: the guides are Markdown (MyST), the reference is
generated from the docstrings of the installed package.

The reference page lists every public module (no part of its dotted name
starts with an underscore) found by walking the package at build time, so a
module added later is documented without editing this file. Packages and the
modules directly under ``geventio`` get a section each; modules inside a
sub-package are covered by the package, which re-exports their public names.
The tools (``geventio.cli``, ``geventio.bench``) have their own guide
(benchmarks.md) and IO::Async's modules are documented once, under the
``geventio`` package that re-exports them.
"""

import pkgutil
from pathlib import Path

import geventio

project = 'geventio'
author = 'geventio contributors'
copyright = '2026, geventio contributors'
release = geventio.__version__
version = '.'.join(release.split('.')[:2])

extensions = ['myst_parser', 'sphinx.ext.autodoc', 'sphinx.ext.napoleon',
              'sphinx.ext.viewcode']
source_suffix = {'.md': 'markdown'}
exclude_patterns = ['_build']
myst_heading_anchors = 3

# `Stream` in a docstring is a cross-reference when it can be resolved.
default_role = 'py:obj'
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'show-inheritance': True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [('Events', 'params_style'), ('Parameters', 'params_style')]

html_theme = 'alabaster'
html_title = f'geventio {release}'

#: Sub-trees with a guide of their own or documented through a re-export.
NOT_IN_REFERENCE = ('geventio.cli', 'geventio.bench', 'geventio.ioasync')


def public_modules():
    """Dotted names of the modules the reference documents, in order."""
    names = ['geventio']
    for info in pkgutil.walk_packages(geventio.__path__, 'geventio.'):
        parts = info.name.split('.')
        if any(part.startswith('_') for part in parts):
            continue
        if info.name.startswith(NOT_IN_REFERENCE):
            continue
        if info.ispkg or len(parts) == 2:
            names.append(info.name)
    return names


def write_reference(app):
    """Write reference.md: one automodule section per public module."""
    sections = ['# Reference\n',
                'Generated from the docstrings. Events are documented in each '
                "class's docstring and in its interface "
                '(`geventio.interfaces`); [the contract](api.md) says what each '
                'promises.\n']
    for name in public_modules():
        sections.append(f'## `{name}`\n\n```{{eval-rst}}\n.. automodule:: {name}\n```\n')
    path = Path(app.srcdir) / 'reference.md'
    text = '\n'.join(sections)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def setup(app):
    app.connect('builder-inited', write_reference)
