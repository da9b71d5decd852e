"""Living beside oslo.service and eventlet.

The backends, the eventlet guard, oslo.service's classes and options, and
``oslo-threading-exec``'s bootstrap: what only matters where OpenStack lives.
"""
