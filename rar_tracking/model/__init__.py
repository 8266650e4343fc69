"""The RAR network, one file per part of the paper.

- :mod:`.backbone` (and :mod:`.efficientnet_lite`): stride-8 trunks, Section 4.1 / Table 1.
- :mod:`.attention`: hierarchical attention, Eq. 3-7.
- :mod:`.refinement`: refinement model, Fig. 6.
- :mod:`.correlation`: contextual attentional correlation layer, Eq. 8-12.
- :mod:`.rar`: the network that joins them; :mod:`.weights`: saving and loading.
"""
from .attention import AttentionState, HierarchicalAttention
from .backbone import build_trunk
from .rar import RARNet

__all__ = ['AttentionState', 'HierarchicalAttention', 'RARNet', 'build_trunk']
