"""Lower layers never import higher ones, and no two packages import each other.

Every ``import hrnet_train...`` / ``from hrnet_train... import`` in the package is read from the
source (module level and inside functions: a function-level import hides a cycle, it does not
remove it) and checked against the layer table below, which docs/architecture.md shows.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'hrnet_train'

# (module prefix, layer): the longest matching prefix decides; a module may import its own
# layer and the ones below.
LAYERS = (
    ('hrnet_train', 0),  # the package root: __version__ only
    ('hrnet_train.registry', 0),
    ('hrnet_train.utils', 0),
    ('hrnet_train.structures', 1),
    ('hrnet_train.ops', 1),
    ('hrnet_train.codecs', 2),
    ('hrnet_train.evaluation', 2),
    ('hrnet_train.evaluation.metrics', 3),
    ('hrnet_train.models', 3),
    ('hrnet_train.datasets', 3),
    ('hrnet_train.engine', 4),
    ('hrnet_train.visualization', 4),
    ('hrnet_train.apis', 5),
    ('hrnet_train.config', 5),
    ('hrnet_train.deploy', 5),
)
# register_all_modules() exists to import every package (that is what registers them); it does
# so inside the function, and nothing imports it but the entry points.
REGISTRATION = 'hrnet_train.utils.setup_env'


def _layer(module: str) -> int:
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + '.')), key=len)
    return dict(LAYERS)[best]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every hrnet_train import in ``path``."""
    module = _module_name(path)
    package = module if path.name == '__init__.py' else module.rsplit('.', 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith('hrnet_train')]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.startswith('hrnet_train'):
                out.append((node.lineno, target))
    return out


def _package_of(module: str) -> str:
    parts = module.split('.')
    return '.'.join(parts[:2]) if len(parts) > 1 else parts[0]


def test_no_module_imports_a_higher_layer():
    violations = []
    for path in sorted(PACKAGE.rglob('*.py')):
        module = _module_name(path)
        if module == REGISTRATION:
            continue
        for line, target in _imports(path):
            if target == REGISTRATION:
                continue
            if _layer(target) > _layer(module):
                violations.append(f'{path.relative_to(ROOT)}:{line}: {module} (layer '
                                  f'{_layer(module)}) imports {target} (layer {_layer(target)})')
    assert not violations, '\n'.join(violations)


def test_no_import_cycles_between_packages():
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob('*.py'):
        src = _package_of(_module_name(path))
        for _, target in _imports(path):
            dst = _package_of(target)
            if dst != src and _module_name(path) != REGISTRATION:
                edges.setdefault(src, set()).add(dst)
    cycles = sorted(f'{a} <-> {b}' for a in edges for b in edges[a]
                    if a < b and a in edges.get(b, ()))
    assert not cycles, cycles


def test_the_checker_sees_function_level_imports(tmp_path):
    """The checker can fail: a function-level upward import is reported."""
    bad = PACKAGE / 'structures' / '_layering_probe.py'
    bad.write_text('def f():\n    from hrnet_train.models import detectors\n')
    try:
        assert any(t == 'hrnet_train.models' for _, t in _imports(bad))
        assert _layer('hrnet_train.models') > _layer(_module_name(bad))
    finally:
        bad.unlink()
