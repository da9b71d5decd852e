"""The demo: a small scheduler service showing the whole package at work.

``python -m oslo_threading_backend`` (or ``oslo-threading-run``) runs it with
two forked workers and nothing to configure: its state (one SQLite file per
cell and one for the request queue) is created on first run in
``./demo-state``. ``oslo-threading-run demo-submit 20`` queues 20 requests.

Read it in this order:

- ``options.py``: the ``[demo]`` options, every one with a default;
- ``storage.py``: SQLite connections and ``BEGIN IMMEDIATE`` transactions;
- ``cells.py``: the cell databases and their hosts;
- ``requests_queue.py``: the queue, its claims and their leases;
- ``scheduler.py``: the service: request threads, scatter-gather over the
  cells, a transactional host claim, and a periodic throughput report;
- ``submit.py``: what ``demo-submit`` does.
"""
