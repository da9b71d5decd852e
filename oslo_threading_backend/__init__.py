"""oslo.service's API on native threads: cotyledon workers, futurist pools, no eventlet."""
