"""Processes: the master, a worker, the in-process runner (``no_fork``).

Each module says which process it runs in, and what the processes tell each
other besides signals.
"""
