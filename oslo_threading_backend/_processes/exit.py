"""What the master does as its shutdown ends: make the interpreter's exit cheap.

After a SIGTERM, once every worker is reaped, ``wait()`` returns and the process
exits through interpreter teardown. Most of that teardown (measured: ~25 of 30 ms
in a master with this package, oslo.config and oslo.log imported) is the garbage
collector walking every object the master ever imported. The master freezes its
heap instead: the final collections skip it. Nothing else is skipped, unlike the
``os._exit()`` that ends cotyledon's workers: the code after ``wait()`` still runs,
then atexit callbacks, ``logging.shutdown()`` (which flushes and closes every
handler) and the exit status the application chose.
"""

import gc


def before_exit() -> None:
    """Called at the end of the master's shutdown (once: one master per process).

    Cyclic garbage that exists now is left for the exit to discard; objects made
    afterwards, by the application's code after ``wait()``, are collected as usual.
    """
    gc.freeze()
