"""End-to-end demo: a video source and the tracker node as real processes, scored and recorded.

    scripts/demo.sh                      # generated scene, ~150 frames, CPU-friendly defaults
    python -m rar_tracking.ros.demo --video clip.mp4 --box 120,80,60,40
    python -m rar_tracking.ros.demo --sequence Girl --frames 200

What happens: ``rar_video_source`` and ``rar_tracker_node`` start as child processes (same
environment, their logs in ``<output>/logs/``), in their own namespace. The source holds its
first frame (``paused``) until the tracker's ``~/set_target`` service answers; the demo sets the
target on that frame through the service (the first frame's ground truth, or ``--box``), then
releases the source through its ``paused`` parameter and records ``image``,
``video_source/ground_truth``, ``rar_tracker/target`` and ``rar_tracker/debug_image`` for
``--frames`` frames (or ``--seconds``). With ``--pace tracker`` (the default) the source sends the
next frame when the tracker has answered the previous one (at most ``--rate`` Hz), so every frame
is tracked; with ``--pace realtime`` it keeps ``--rate`` like a camera and the node drops the
frames that arrive while it is busy.

Written to ``--output`` (default ``demo_output/`` of the repository): ``demo.mp4`` (or ``.avi``)
with the tracker's box and, when known, the ground truth; ``debug_image.mp4`` (the node's own
overlay); ``tracks.csv`` (one row per frame); ``summary.json``; ``logs/``. The same summary is
printed. Exit status: 0 on success, 1 on failure (with the reason), 130 on Ctrl-C. Child processes
get SIGINT, then SIGTERM, then SIGKILL, in every case.

The parts:

- :mod:`.options`: the command line and the parameters it gives the two child processes.
- :mod:`.processes`: starting and stopping the child processes, their logs.
- :mod:`.recording`: scoring the received results, the annotated video and ``tracks.csv``.
- :mod:`.run`: the demo's own rclpy node: set the target, release the source, record.
- :mod:`.cli`: ``main`` (the ``rar_demo`` console script) and the printed summary.

This package may import rclpy and the ROS messages (it lives under :mod:`rar_tracking.ros`),
:mod:`rar_tracking.types` and :mod:`rar_tracking.ros` modules; nothing imports it. Importing
the package itself loads nothing.
"""
