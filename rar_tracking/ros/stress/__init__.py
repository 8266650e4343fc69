"""Stress tool for the ``rar_tracker`` node: fuzzing, a service storm, a soak and faults.

``python -m rar_tracking.ros.stress --node-cmd "..." [--minutes M] [--seed S]`` starts the
node as a child process, drives it over a real ROS graph and prints a table of figures
(docs/node.md, "Reliability"). The pieces:

- :mod:`.process`: the node under test as a child process (RSS, stderr, signals, exit time);
- :mod:`.driver`: an rclpy node that publishes images, calls services and records results;
- :mod:`.fuzz`, :mod:`.storm`, :mod:`.soak`, :mod:`.faults`: the four phases;
- :mod:`.cases`: the seeded malformed messages; :mod:`.report`: the checks and the table;
- :mod:`.__main__`: the command line.
"""
