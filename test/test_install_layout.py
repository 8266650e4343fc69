"""The installed layout the ROS tools rely on, and the shell environment of scripts/env.sh.

- The prefix where ``rar_tracking`` is found (the venv of scripts/setup.sh, or a colcon install)
  is laid out as colcon lays out an ament_python install: real ``share/rar_tracking/launch``
  and ``config`` folders (``ros2 launch`` walks share/ without following linked folders) and
  every console script in ``lib/rar_tracking`` (where ``ros2 run`` and launch_ros look).
- ``source scripts/env.sh`` after an install space keeps that install first.
- ``RAR_VENV`` moves the build folder of scripts/setup.sh with the venv.
- The launch files' helpers: an optional executable is found or refused with a reason, and
  launch arguments are typed as the node's parameters.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV_SH = ROOT / 'scripts' / 'env.sh'
SETUP_SH = ROOT / 'scripts' / 'setup.sh'
VENV = Path(sys.prefix)


def _fake_install(prefix: Path, package: str, executable: str) -> Path:
    """An ament prefix holding ``package`` with one executable, as colcon installs it."""
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / package).write_text('')
    (prefix / 'share' / package).mkdir(parents=True)
    lib = prefix / 'lib' / package
    lib.mkdir(parents=True)
    exe = lib / executable
    exe.write_text('#!/bin/sh\necho fake\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def _sourced(script: str, env: dict) -> str:
    """Run ``script`` in bash after sourcing scripts/env.sh with this test's venv."""
    env = dict(env, RAR_VENV=str(VENV))
    result = subprocess.run(['bash', '-c', f'source {ENV_SH} && {script}'], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


needs_venv = pytest.mark.skipif(not (VENV / 'bin' / 'activate').is_file(),
                                reason='not running from a venv of scripts/setup.sh')


@needs_venv
def test_env_sh_keeps_an_install_space_sourced_before_it(tmp_path):
    install = tmp_path / 'install'
    exe = _fake_install(install, 'rar_tracking', 'rar_tracker_node')
    env = {k: v for k, v in os.environ.items() if k != 'AMENT_PREFIX_PATH'}
    env['AMENT_PREFIX_PATH'] = str(install)
    probe = ('python -c "from ament_index_python.packages import get_package_prefix; '
             "print(get_package_prefix('rar_tracking'))\"; echo \"$AMENT_PREFIX_PATH\"")
    prefix, path = _sourced(probe, env).splitlines()
    # The colcon install is what ros2 run finds, the venv comes after it.
    assert prefix == str(install) and exe.is_file()
    assert path == f'{install}:{VENV}'
    # Sourcing again changes nothing.
    twice = _sourced(f'source {ENV_SH} && echo "$AMENT_PREFIX_PATH" && echo "$LD_LIBRARY_PATH"',
                     env).splitlines()
    once = _sourced('echo "$AMENT_PREFIX_PATH" && echo "$LD_LIBRARY_PATH"', env).splitlines()
    assert twice == once


@needs_venv
def test_env_sh_alone_finds_the_venv():
    env = {k: v for k, v in os.environ.items() if k != 'AMENT_PREFIX_PATH'}
    assert _sourced('echo "$AMENT_PREFIX_PATH"', env) == str(VENV)


def test_package_prefix_is_laid_out_as_a_colcon_install():
    ament = pytest.importorskip('ament_index_python.packages')
    try:
        prefix = Path(ament.get_package_prefix('rar_tracking'))
    except ament.PackageNotFoundError:
        pytest.skip('rar_tracking is not in the ament index (run scripts/setup.sh or colcon)')
    share = prefix / 'share' / 'rar_tracking'
    for folder, patterns in (('launch', ['*.launch.py']), ('config', ['*.yaml', '*.rviz'])):
        installed = share / folder
        assert installed.is_dir() and not installed.is_symlink(), \
            f'{installed} must be a folder, not a link (ros2 launch does not follow it)'
        expected = {p.name for pattern in patterns for p in (ROOT / folder).glob(pattern)}
        # What os.walk (ros2 launch's search) sees under share/, without following links.
        walked = {name for _, _, files in os.walk(share) for name in files}
        assert expected <= walked, expected - walked
        for name in expected:
            assert (installed / name).is_file(), name
    import importlib.metadata as md
    scripts = {e.name for e in md.distribution('rar_tracking').entry_points
               if e.group == 'console_scripts'}
    assert {'rar_tracker_node', 'rar_video_source'} <= scripts
    for script in scripts:
        exe = prefix / 'lib' / 'rar_tracking' / script
        assert exe.is_file() and os.access(exe, os.X_OK), f'{exe} (ros2 run looks there)'


def test_rar_venv_moves_the_build_folder(tmp_path):
    def paths(env):
        out = subprocess.run(['bash', str(SETUP_SH), '--print-paths'], env=env,
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return dict(line.split('=', 1) for line in out.splitlines())

    env = {k: v for k, v in os.environ.items() if k != 'RAR_VENV'}
    assert paths(env) == {'venv': str(ROOT / '.venv'), 'build': str(ROOT / 'build')}
    moved = tmp_path / 'venv'
    assert paths(dict(env, RAR_VENV=str(moved))) == {'venv': str(moved),
                                                     'build': str(moved / 'build')}
    assert not moved.exists(), '--print-paths must not create anything'


def test_package_executable_finds_or_explains(tmp_path, monkeypatch):
    pytest.importorskip('ament_index_python')
    from rar_tracking.ros.launch_support import package_executable

    exe = _fake_install(tmp_path / 'with', 'rviz2', 'rviz2')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'with'))
    assert package_executable('rviz2', 'rviz2') == (str(exe), '')
    exe.chmod(0o644)  # installed but not executable
    path, reason = package_executable('rviz2', 'rviz2')
    assert path is None and 'not an executable' in reason
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'without'))
    path, reason = package_executable('rviz2', 'rviz2')
    assert path is None and "package 'rviz2' is not installed" in reason


def test_launch_overrides_are_typed_as_the_node_parameters():
    from rar_tracking.ros.launch_support import OVERRIDE_TYPES, parse_override
    from rar_tracking.ros.parameters import parameter_specs

    types = {spec.name: spec.type for spec in parameter_specs()}
    for name, kind in OVERRIDE_TYPES.items():
        assert types[name] is kind, name
    assert parse_override('use_compressed', 'True') is True
    assert parse_override('use_compressed', 'false') is False
    assert parse_override('crop_size', ' 161 ') == 161
    assert parse_override('weights', '0.5') == '0.5'  # a path stays a string
    assert parse_override('device', '  ') is None
    with pytest.raises(ValueError, match='use_compressed'):
        parse_override('use_compressed', 'yes')
    with pytest.raises(ValueError, match='crop_size'):
        parse_override('crop_size', '1.5')
