"""The directory ``oslo-threading-exec`` puts first on ``PYTHONPATH``: see ``sitecustomize``.

A package only so that packaging tools ship it like the rest; nothing imports it.
"""
