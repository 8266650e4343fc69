"""Names of the node's threads as the operating system shows them.

``top -H``, ``ps -L``, ``perf`` and ``/proc/<pid>/task/*/comm`` show a thread's kernel name,
which Python's ``threading`` names do not set: without this every thread of the node is
``python``. The node names its tracker thread ``rar_tracker``, the spinning thread
``rar_executor`` and the service pool ``rar_service``; the stress tool reads them to tell
how much CPU each got and how long each waited for one.
May import: the standard library.
"""
from __future__ import annotations


def name_os_thread(name: str) -> None:
    """Give the calling thread ``name`` (at most 15 bytes) in the operating system. Linux
    only; elsewhere, or if it fails, nothing happens."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
