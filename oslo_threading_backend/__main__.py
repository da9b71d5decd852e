"""``python -m oslo_threading_backend``: the example service, 2 workers by default."""

import sys

from oslo_threading_backend._example import main

if __name__ == "__main__":
    sys.exit(main())
