"""Our fixes of futurist, oslo.messaging and cotyledon.

Each workaround lives in one place here, naming the upstream version whose
behaviour it fixes.
"""
