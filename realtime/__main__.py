"""``python -m realtime`` is ``vqe``."""
from realtime.cli import entry

entry()
