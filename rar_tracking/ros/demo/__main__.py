"""``python -m rar_tracking.ros.demo``: the demo (see :mod:`rar_tracking.ros.demo`)."""
import sys

from .cli import main

sys.exit(main())
