"""Offline training of the RAR network (Sections 3.3 and 4.1): ``python -m rar_tracking.train``.

- :mod:`rar_tracking.geometry` (shared with the tracker): crop and label geometry.
- :mod:`.data`: sequence sources (ILSVRC VID, GOT-10k, LaSOT, OTB-style folders, generated
  clips), the clip sampler, the jittered crops and labels, the torch Dataset.
- :mod:`.step`: one clip through the network and the correlation layer, and the loss of Eq. 12.
- :mod:`.config`: the YAML training configuration.
- :mod:`.loop`: SGD, schedule, mixed precision, checkpoints, resume, logging, DDP.
"""
