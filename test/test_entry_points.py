"""Every console script of setup.py resolves to an importable callable, both as written in
setup.py and as registered by the installed distribution (a stale install shows up here)."""
from __future__ import annotations

import ast
import importlib
import importlib.metadata as md
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def setup_py_console_scripts() -> dict[str, str]:
    """name -> 'module:function' from the setup() call of setup.py, read without running it."""
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'setup':
            for kw in node.keywords:
                if kw.arg == 'entry_points':
                    entry_points = ast.literal_eval(kw.value)
                    scripts = {}
                    for spec in entry_points.get('console_scripts', []):
                        name, _, target = (part.strip() for part in spec.partition('='))
                        scripts[name] = target
                    return scripts
    raise AssertionError('setup.py has no setup(entry_points=...) literal')


SETUP_SCRIPTS = setup_py_console_scripts()


def test_setup_py_declares_the_expected_scripts():
    assert {'rar_tracker_node', 'rar_video_source', 'rar_demo'} <= set(SETUP_SCRIPTS)


def installed_scripts() -> dict[str, md.EntryPoint]:
    try:
        dist = md.distribution('rar_tracking')
    except md.PackageNotFoundError:
        pytest.skip('rar_tracking is not installed (run scripts/setup.sh)')
    return {ep.name: ep for ep in dist.entry_points if ep.group == 'console_scripts'}


def test_installed_distribution_matches_setup_py():
    installed = installed_scripts()
    assert {name: ep.value for name, ep in installed.items()} == SETUP_SCRIPTS, (
        'the installed rar_tracking is stale: re-run scripts/setup.sh')


@pytest.mark.parametrize('name', sorted(SETUP_SCRIPTS))
def test_setup_py_target_imports_and_is_callable(name):
    module_name, _, attr = SETUP_SCRIPTS[name].partition(':')
    module = importlib.import_module(module_name)
    target = getattr(module, attr)
    assert callable(target)
    # A console script is called without arguments.
    params = inspect.signature(target).parameters.values()
    assert all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params), f'{name}: {SETUP_SCRIPTS[name]} needs arguments'


@pytest.mark.parametrize('name', sorted(SETUP_SCRIPTS))
def test_installed_entry_point_loads(name):
    installed = installed_scripts()
    assert name in installed, f'{name} is not installed: re-run scripts/setup.sh'
    target = installed[name].load()
    assert callable(target)
    module_name, _, attr = SETUP_SCRIPTS[name].partition(':')
    assert target is getattr(importlib.import_module(module_name), attr)
