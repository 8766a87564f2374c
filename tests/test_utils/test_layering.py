"""mmcd's package layering, read from the source (no import needed).

Lower layers never import higher ones: ``registry`` and ``utils`` import no
other mmcd package; ``models``, ``datasets``, ``evaluation`` and
``visualization`` never import ``engine`` or ``apis``; ``engine`` never
imports ``apis``. The packages' imports form no cycle.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / 'mmcd'

#: package -> the mmcd packages it must not import
FORBIDDEN = {
    'registry': {'utils', 'models', 'datasets', 'evaluation', 'visualization',
                 'engine', 'apis'},
    'utils': {'models', 'datasets', 'evaluation', 'visualization', 'engine',
              'apis'},
    'models': {'engine', 'apis'},
    'datasets': {'engine', 'apis'},
    'evaluation': {'engine', 'apis'},
    'visualization': {'engine', 'apis'},
    'engine': {'apis'},
}


def _package_of(module: str):
    parts = module.split('.')
    return parts[1] if len(parts) > 1 and parts[0] == 'mmcd' else None


def package_imports():
    """``{package: {imported package: [file, ...]}}`` over mmcd's files."""
    graph = {}
    for path in sorted(PACKAGE.rglob('*.py')):
        rel = path.relative_to(PACKAGE.parent).with_suffix('')
        module = '.'.join(rel.parts)
        if module == 'mmcd.__init__':
            continue  # the top-level aggregator imports everything
        package = rel.parts[1] if len(rel.parts) > 1 else None
        base = rel.parts[:-1]  # the package a relative import starts from
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = list(base[:len(base) - node.level + 1])
                    names = ['.'.join(anchor + ([node.module]
                                                if node.module else []))]
                else:
                    names = [node.module]
            for name in names:
                target = _package_of(name)
                if target and target != package:
                    graph.setdefault(package, {}).setdefault(
                        target, []).append(str(path.relative_to(PACKAGE)))
    return graph


def test_the_scan_sees_known_imports():
    graph = package_imports()
    # e.g. mmcd/apis/change_inferencer.py imports mmcd.datasets
    assert 'datasets' in graph['apis']
    assert 'registry' in graph['models']


@pytest.mark.parametrize('package', sorted(FORBIDDEN))
def test_no_lower_layer_imports_a_higher_one(package):
    imports = package_imports().get(package, {})
    bad = {t: files for t, files in imports.items()
           if t in FORBIDDEN[package]}
    assert not bad, f'mmcd.{package} imports {bad}'


def test_package_imports_form_no_cycle():
    graph = {p: set(t) for p, t in package_imports().items()}
    state = {}

    def visit(node, trail):
        state[node] = 'open'
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 'open':
                raise AssertionError(
                    'import cycle: ' + ' -> '.join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
