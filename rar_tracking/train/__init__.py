"""Offline training of the RAR network (Sections 3.3 and 4.1): ``python -m rar_tracking.train``.

- :mod:`rar_tracking.geometry` (shared with the tracker): crop and label geometry.
- :mod:`.sources`: where the sequences come from (ILSVRC VID, GOT-10k, LaSOT, benchmark
  folders read by :mod:`rar_tracking.data.layouts`, generated clips), split by name.
- :mod:`.data`: the clip sampler, the jittered crops and labels, the torch Dataset.
- :mod:`.step`: one clip through the network and the correlation layer, and the loss of Eq. 12.
- :mod:`.config`: the YAML training configuration.
- :mod:`.loop`: SGD, schedule, mixed precision, checkpoints, resume, logging, DDP.
  Its parts: :mod:`.checkpoints` (save, load, resume checks) and :mod:`.run_log`
  (metrics.jsonl, TensorBoard, progress bar).

The package may import torch, the model, :mod:`rar_tracking.data`, :mod:`rar_tracking.geometry`
and :mod:`rar_tracking.imaging`; not :mod:`rar_tracking.tracker` and not ROS.
"""
