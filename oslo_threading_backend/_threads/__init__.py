"""Inside a process: the thread pool, a group's threads and timers.

Also how a looping call ends, the retry decorator, argument checks, the ticker.
"""
