"""ament_python package rar_tracking: the RAR tracker library and its ROS 2 node."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'rar_tracking'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, PACKAGE + '.*']),
    # the trained heads that `weights: auto` loads, and the record of how each was made
    package_data={PACKAGE: ['weights/*.safetensors', 'weights/*.json', 'weights/*.md',
                            'ros/*.xml']},  # ros/*.xml: the Fast DDS profile, ros/middleware.py
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml') + glob('config/*.rviz')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='rar_tracking maintainers',
    maintainer_email='maintainers@rar-tracking.dev',
    description='ROS 2 node running the RAR deep visual tracker on camera images.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'rar_tracker_node = rar_tracking.node:main',
            'rar_video_source = rar_tracking.ros.video_source:main',
            'rar_demo = rar_tracking.ros.demo.cli:main',
        ],
    },
)
