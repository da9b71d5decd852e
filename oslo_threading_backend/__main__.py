"""``python -m oslo_threading_backend``: the same as ``oslo-threading-run`` (see runner)."""

import sys

from oslo_threading_backend.runner import PROG
from oslo_threading_backend.runner import main

if __name__ == "__main__":
    # Process titles and pool names start with basename(argv[0]): "__main__.py"
    # would name nothing; name them as the console script does.
    sys.argv[0] = PROG
    sys.exit(main())
