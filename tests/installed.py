"""Which optional distributions the test environment has (tox -e openstack has them all)."""

import importlib.metadata


def installed(distribution: str) -> bool:
    """Whether ``distribution`` is installed, read from its metadata.

    Not ``importlib.util.find_spec()``: once the threading backend is selected in
    the test process, finding ``eventlet`` is refused.
    """
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
