"""The launch files, the shipped parameters file and the rviz config agree with the package.

(a) Always: the launch files are read as Python syntax trees (``launch`` is not importable
    everywhere) and checked against setup.py (console scripts, installed data files), config/
    and the node itself, started as its own process with the shipped YAML.
(b) Where launch_ros and launch_testing are importable and rar_tracking is installed in an
    ament prefix (colcon): rar_tracker.launch.py is really launched, in a namespace.
"""
from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_DIR = ROOT / 'launch'
TRACKER_LAUNCH = LAUNCH_DIR / 'rar_tracker.launch.py'
DEMO_LAUNCH = LAUNCH_DIR / 'rar_demo.launch.py'
YAML_PATH = ROOT / 'config' / 'rar_tracker.yaml'
RVIZ_PATH = ROOT / 'config' / 'rar_tracker.rviz'
REQUIRED_ARGUMENTS = {'image_topic', 'device', 'namespace', 'weights', 'trunk', 'params_file',
                      'rviz', 'use_compressed', 'profile', 'backend', 'onnx_model',
                      'camera_frame'}


# ----------------------------------------------------------------------------- AST helpers
class LaunchFile:
    """What a launch file says, read from its syntax tree (module-level str constants
    are substituted where a call names them)."""

    def __init__(self, path: Path):
        self.path = path
        self.source = path.read_text()
        self.tree = ast.parse(self.source, filename=str(path))
        self.constants: dict[str, object] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name):
                try:
                    self.constants[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass

    def value(self, node):
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        try:
            return ast.literal_eval(node)
        except ValueError:
            return node  # a substitution or expression: left as a tree

    def calls(self, name: str) -> list[dict]:
        """Keyword and positional arguments of every call of ``name``."""
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == name:
                args = {kw.arg: self.value(kw.value) for kw in node.keywords}
                args['_args'] = [self.value(a) for a in node.args]
                found.append(args)
        return found

    def strings(self) -> set[str]:
        values = {n.value for n in ast.walk(self.tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        return values | {v for v in self.constants.values() if isinstance(v, str)}

    def declared_arguments(self) -> set[str]:
        names = {c['_args'][0] for c in self.calls('DeclareLaunchArgument')
                 if isinstance(c['_args'][0], str)}
        # DeclareLaunchArgument(name, ...) for name in CONSTANT, in a comprehension.
        for comp in ast.walk(self.tree):
            if not isinstance(comp, (ast.ListComp, ast.GeneratorExp)):
                continue
            call = comp.elt
            generator = comp.generators[0]
            if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == \
                    'DeclareLaunchArgument' and isinstance(call.args[0], ast.Name) and \
                    isinstance(generator.target, ast.Name) and \
                    generator.target.id == call.args[0].id:
                names |= set(self.value(generator.iter))
        return names


def setup_py() -> tuple[str, dict[str, str], list[tuple[str, list[str]]]]:
    """(package name, console scripts, data_files as (destination, glob patterns))."""
    tree = ast.parse((ROOT / 'setup.py').read_text())
    constants = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body
                 if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)}
    call = next(n for n in ast.walk(tree)
                if isinstance(n, ast.Call) and getattr(n.func, 'id', None) == 'setup')
    kw = {k.arg: k.value for k in call.keywords}

    def text(node) -> str:
        """A string expression of setup.py: constants joined with '+'."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return text(node.left) + text(node.right)
        if isinstance(node, ast.Name):
            return constants[node.id]
        return ast.literal_eval(node)

    def patterns(node) -> list[str]:
        """A list expression of setup.py: lists and glob('pattern') calls joined with '+'."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return patterns(node.left) + patterns(node.right)
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'glob':
            return [text(node.args[0])]
        if isinstance(node, ast.List):
            return [text(element) for element in node.elts]
        raise AssertionError(f'setup.py: cannot read {ast.dump(node)}')

    name = text(kw['name'])
    scripts = {}
    for spec in ast.literal_eval(kw['entry_points'])['console_scripts']:
        script, _, target = (part.strip() for part in spec.partition('='))
        scripts[script] = target
    data_files = []
    for entry in kw['data_files'].elts:
        destination, sources = entry.elts
        data_files.append((text(destination), patterns(sources)))
    return name, scripts, data_files


PACKAGE, SCRIPTS, DATA_FILES = setup_py()


def installed_as(relative: str) -> str | None:
    """The share destination setup.py installs a repository file to, or None."""
    for destination, patterns in DATA_FILES:
        if any(fnmatch.fnmatch(relative, pattern) for pattern in patterns):
            return destination
    return None


# ----------------------------------------------------------------------------- (a) static
def test_launch_files_compile_and_are_installed():
    for path in (TRACKER_LAUNCH, DEMO_LAUNCH):
        compile(path.read_text(), str(path), 'exec')
        assert 'def generate_launch_description' in path.read_text()
        assert installed_as(f'launch/{path.name}') == f'share/{PACKAGE}/launch', path.name


def test_tracker_launch_declares_its_arguments():
    lf = LaunchFile(TRACKER_LAUNCH)
    assert REQUIRED_ARGUMENTS <= lf.declared_arguments()
    rviz_arg = next(c for c in lf.calls('DeclareLaunchArgument') if c['_args'][0] == 'rviz')
    assert rviz_arg['default_value'] == 'false'
    # Every LaunchConfiguration used names a declared argument.
    used = {c['_args'][0] for c in lf.calls('LaunchConfiguration')
            if isinstance(c['_args'][0], str)} | set(lf.constants['OVERRIDES'])
    assert used <= lf.declared_arguments(), used - lf.declared_arguments()
    # Each parameter argument has a type (launch_support) and a description.
    from rar_tracking.ros.launch_support import OVERRIDE_TYPES
    assert set(lf.constants['OVERRIDES']) == set(OVERRIDE_TYPES)
    assert set(lf.constants['OVERRIDE_HELP']) == set(OVERRIDE_TYPES)


def test_tracker_launch_starts_the_console_script_with_the_shipped_files():
    from rar_tracking.node import NODE_NAME

    lf = LaunchFile(TRACKER_LAUNCH)
    nodes = {c['executable']: c for c in lf.calls('Node') if 'executable' in c}
    # The tracker's options are one dict(...), given to Node or (lifecycle:=true) LifecycleNode.
    tracker = next(c for c in lf.calls('dict') if c.get('executable') == 'rar_tracker_node')
    assert {c['_args'] == [] and 'arguments' in c for c in lf.calls('LifecycleNode')} == {True}
    assert tracker['package'] == PACKAGE
    assert tracker['executable'] in SCRIPTS
    assert SCRIPTS[tracker['executable']] == 'rar_tracking.node:main'
    assert tracker['name'] == NODE_NAME == 'rar_tracker'
    for keyword in ('namespace', 'parameters', 'remappings'):
        assert keyword in tracker, keyword
    # The node subscribes 'image'; the launch file remaps exactly that name.
    remap = tracker['remappings']
    assert isinstance(remap, ast.List) and ast.literal_eval(remap.elts[0].elts[0]) == 'image'
    assert nodes['rviz2']['package'] == 'rviz2'

    # The files it finds with FindPackageShare exist in config/ and are installed there.
    referenced = {s for s in lf.strings() if s.endswith(('.yaml', '.rviz'))}
    assert referenced == {YAML_PATH.name, RVIZ_PATH.name}
    for name in referenced:
        assert (ROOT / 'config' / name).is_file(), name
        assert installed_as(f'config/{name}') == f'share/{PACKAGE}/config', name
    assert "'config'" in lf.source and 'FindPackageShare' in lf.source


def test_demo_launch_runs_two_namespaced_instances():
    lf = LaunchFile(DEMO_LAUNCH)
    for node in lf.calls('Node'):
        assert node['package'] == PACKAGE and node['executable'] in SCRIPTS
    assert TRACKER_LAUNCH.name in lf.strings()  # it includes the tracker launch file
    cameras = lf.constants['CAMERAS']
    namespaces = [ns for ns, _ in cameras]
    assert len(namespaces) >= 2 and len(set(namespaces)) == len(namespaces)
    assert 'IncludeLaunchDescription' in lf.source and "'namespace': namespace" in lf.source


def test_rviz_config_shows_the_debug_image_of_the_node():
    from rar_tracking.node import NODE_NAME

    config = yaml.safe_load(RVIZ_PATH.read_text())
    manager = config['Visualization Manager']
    images = [d for d in manager['Displays'] if d['Class'] == 'rviz_default_plugins/Image']
    enabled = [d for d in images if d['Enabled']]
    assert [d['Topic']['Value'] for d in enabled] == [f'/{NODE_NAME}/debug_image']
    assert enabled[0]['Topic']['Reliability Policy'] in ('Best Effort', 'Reliable')
    assert manager['Global Options']['Fixed Frame']
    assert {'Panels', 'Visualization Manager', 'Window Geometry'} <= set(config)
    # rar_tracker.launch.py points the absolute topics at the instance's namespace.
    lf = LaunchFile(TRACKER_LAUNCH)
    assert "f'/{NODE_NAME}/{topic}'" in lf.source
    assert {'debug_image', 'target_marker'} <= lf.strings()
    markers = [d for d in manager['Displays'] if d['Class'] == 'rviz_default_plugins/Marker']
    assert [d['Topic']['Value'] for d in markers] == [f'/{NODE_NAME}/target_marker']


def test_rviz_fixed_frame_follows_the_camera_frame():
    """The config's fixed frame is the video source's default frame; the tracker launch sets
    rviz2's fixed frame (-f) from camera_frame, and the demo launch passes each source's
    frame_id there."""
    config = yaml.safe_load(RVIZ_PATH.read_text())
    fixed = config['Visualization Manager']['Global Options']['Fixed Frame']
    # The video source's parameter table: (name, default, descriptor) rows.
    source = '\n'.join(path.read_text()
                       for path in (ROOT / 'rar_tracking' / 'ros').glob('video_source*.py'))
    assert f"('frame_id', {fixed!r}," in source
    tracker = LaunchFile(TRACKER_LAUNCH)
    frame_arg = next(c for c in tracker.calls('DeclareLaunchArgument')
                     if c['_args'][0] == 'camera_frame')
    assert frame_arg['default_value'] == ''  # empty: the config's own
    assert "'-f'" in tracker.source
    demo = LaunchFile(DEMO_LAUNCH)
    source_params = next(c for c in demo.calls('Node')
                         if c['executable'] == 'rar_video_source')['parameters'].elts[0]
    frame_value = next(v for k, v in zip(source_params.keys, source_params.values)
                       if ast.literal_eval(k) == 'frame_id')
    include = next(n for n in ast.walk(demo.tree) if isinstance(n, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == 'camera_frame' for k in n.keys))
    camera_frame = next(v for k, v in zip(include.keys, include.values)
                        if k.value == 'camera_frame')
    assert isinstance(frame_value, ast.Name) and isinstance(camera_frame, ast.Name)
    assert frame_value.id == camera_frame.id == 'frame_id'
    assert "frame_id = f'{namespace}_camera'" in demo.source


def _function(lf: LaunchFile, name: str) -> ast.FunctionDef:
    return next(n for n in ast.walk(lf.tree) if isinstance(n, ast.FunctionDef)
                and n.name == name)


def _call_lines(function: ast.FunctionDef, name: str) -> list[int]:
    return [n.lineno for n in ast.walk(function) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', None) == name]


def test_lifecycle_arguments_start_the_managed_node():
    """lifecycle:=true starts the node with --lifecycle (and --autostart), flags the node's
    entry point accepts (tested in test_node_lifecycle)."""
    lf = LaunchFile(TRACKER_LAUNCH)
    assert {'lifecycle', 'autostart'} <= lf.declared_arguments()
    for name in ('lifecycle', 'autostart'):
        arg = next(c for c in lf.calls('DeclareLaunchArgument') if c['_args'][0] == name)
        assert arg['default_value'] == 'false'
    assert {'--lifecycle', '--autostart'} <= lf.strings()
    source = (ROOT / 'rar_tracking' / 'ros' / 'lifecycle.py').read_text()
    assert "('--lifecycle', '--autostart')" in source


def test_missing_rviz2_is_found_before_the_tracker_starts():
    """Issue 11, defect 1: rviz:=true without rviz2 stopped the launch after the tracker
    process had started, and left it running. rviz2 is now looked up (launch_support, tested
    in test_install_layout) before any action is returned; without it the launch logs a
    warning and starts the tracker alone."""
    lf = LaunchFile(TRACKER_LAUNCH)
    rviz = _function(lf, '_rviz')
    assert _call_lines(rviz, 'package_executable') < _call_lines(rviz, 'Node')
    assert _call_lines(rviz, 'LogInfo'), 'a missing rviz2 gives a warning'
    setup = _function(lf, '_launch_setup')
    assert max(_call_lines(setup, '_rviz')) < min(_call_lines(setup, 'Node')
                                                  + _call_lines(setup, 'LifecycleNode'))
    # No IfCondition left that would resolve rviz2's package only when the action runs.
    assert 'IfCondition' not in lf.source


def _yaml_parameters() -> dict:
    data = yaml.safe_load(YAML_PATH.read_text())
    assert list(data) == ['/**'], 'the shipped file must apply to any node name and namespace'
    return data['/**']['ros__parameters']


@pytest.mark.ros
@pytest.mark.slow
def test_every_yaml_key_is_a_parameter_of_the_running_node():
    """Start the node as launch does (its own process, --params-file) and ask it, over the
    parameter services, which parameters it has and what values it took."""
    rclpy = pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
    from rclpy.parameter import parameter_value_to_python
    from rclpy.parameter_client import AsyncParameterClient

    from ros_helpers import FAST_PARAMETERS, isolate_ros_domain, stop_process

    isolate_ros_domain()
    expected = _yaml_parameters()
    namespace = '/launch_check_' + uuid.uuid4().hex[:8]
    cmd = [sys.executable, '-m', 'rar_tracking.node', '--ros-args', '-r', f'__ns:={namespace}',
           '--params-file', str(YAML_PATH)]
    for key, value in FAST_PARAMETERS.items():
        cmd += ['-p', f'{key}:={value}']
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ros_context = rclpy.Context()
    rclpy.init(context=ros_context)
    node = rclpy.create_node('launch_check', context=ros_context)
    executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)

    def call(future, timeout=20.0):
        end = time.monotonic() + timeout
        while not future.done() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        assert future.done(), 'the node did not answer'
        return future.result()

    try:
        client = AsyncParameterClient(node, f'{namespace}/rar_tracker')
        end = time.monotonic() + 120.0
        while not client.services_are_ready():
            assert proc.poll() is None, f'the node exited:\n{proc.stderr.read()[-3000:]}'
            assert time.monotonic() < end, 'the node did not come up'
            executor.spin_once(timeout_sec=0.1)
        declared = set(call(client.list_parameters()).result.names)
        missing = set(expected) - declared
        assert not missing, f'keys of {YAML_PATH.name} the node does not declare: {missing}'
        names = sorted(expected)
        values = call(client.get_parameters(names)).values
        for name, value in zip(names, values):
            got = parameter_value_to_python(value)
            want = FAST_PARAMETERS.get(name, expected[name])
            assert got == want and type(got) is type(want), (name, got, want)
    finally:
        executor.shutdown()
        node.destroy_node()
        ros_context.try_shutdown()
        stop_process(proc)


# ----------------------------------------------------------------------------- (b) launch
def _installed_executable() -> Path | None:
    try:
        from ament_index_python.packages import get_package_prefix
        path = Path(get_package_prefix(PACKAGE)) / 'lib' / PACKAGE / 'rar_tracker_node'
    except Exception:  # PackageNotFoundError, or no ament_index_python
        return None
    return path if path.is_file() else None


@pytest.mark.ros
@pytest.mark.slow
def test_tracker_launch_file_really_launches():
    pytest.importorskip('launch_ros', reason='launch_ros is not installed (ROS 2 from PyPI '
                        'wheels has no launch); the static checks above still ran')
    pytest.importorskip('launch_testing', reason='launch_testing is not installed')
    if _installed_executable() is None:
        pytest.skip(f'{PACKAGE} is not installed in an ament prefix with lib/{PACKAGE}/ '
                    'executables (colcon build, then source install/setup.bash)')
    import rclpy
    from launch import LaunchDescription, LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from rclpy.parameter_client import AsyncParameterClient

    from ros_helpers import isolate_ros_domain

    isolate_ros_domain()
    namespace = 'launch_test_' + uuid.uuid4().hex[:8]
    arguments = {'namespace': namespace, 'image_topic': 'camera/image_raw',
                 'params_file': str(YAML_PATH), 'rviz_config': str(RVIZ_PATH),
                 'trunk': 'efficientnet_lite0', 'device': 'cpu', 'rviz': 'false'}
    service = LaunchService(argv=[])
    service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(TRACKER_LAUNCH)),
        launch_arguments=list(arguments.items()))]))
    results: dict = {}

    def check():  # runs beside the launch service, which keeps the main thread
        ros_context = rclpy.Context()
        rclpy.init(context=ros_context)
        node = rclpy.create_node('launch_test_probe', context=ros_context)
        try:
            client = AsyncParameterClient(node, f'/{namespace}/rar_tracker')
            results['up'] = client.wait_for_services(timeout_sec=120.0)
            if results['up']:
                future = client.get_parameters(['trunk', 'device', 'lost_threshold'])
                rclpy.spin_until_future_complete(node, future, timeout_sec=20.0)
                results['values'] = [v.string_value or v.double_value
                                     for v in future.result().values]
                topic = f'/{namespace}/camera/image_raw'
                end = time.monotonic() + 10.0
                while time.monotonic() < end and not results.get('subscribers'):
                    results['subscribers'] = [
                        i.node_name for i in node.get_subscriptions_info_by_topic(topic)]
                    time.sleep(0.2)
        finally:
            node.destroy_node()
            ros_context.try_shutdown()
            service.shutdown()

    worker = threading.Thread(target=check, daemon=True)
    worker.start()
    assert service.run() == 0
    worker.join(timeout=30.0)
    assert results.get('up'), 'rar_tracker did not come up under ros2 launch'
    assert results['values'] == ['efficientnet_lite0', 'cpu', _yaml_parameters()[
        'lost_threshold']]
    assert results['subscribers'] == ['rar_tracker']
