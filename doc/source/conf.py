# Sphinx configuration of the user guide. Built by ``tox -e docs`` with -W:
# a warning fails the build.

from importlib import metadata

project = "oslo_threading_backend"
# The installed package's version (pbr: setup.cfg's version and the git tags);
# |release| and |version| in the pages, and the title, follow it.
release = metadata.version("oslo_threading_backend")
version = ".".join(release.split(".")[:3])
copyright = "oslo_threading_backend developers"  # noqa: A001
author = "oslo_threading_backend developers"

extensions = [
    "sphinx.ext.autodoc",
    # ``.. show-options::`` renders the options registered under the
    # oslo.config.opts entry point ``oslo_threading_backend`` (setup.cfg).
    "oslo_config.sphinxext",
    # ``.. release-notes::`` in releasenotes.rst: reno's notes from the git history.
    "reno.sphinxext",
]

source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
pygments_style = "sphinx"

# API reference: the public modules, members in source order, signatures with
# their annotations in the description rather than the heading.
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_preserve_defaults = True

html_theme = "alabaster"
html_title = f"oslo_threading_backend {release}"
html_theme_options = {
    "description": "oslo.service's API on native threads",
    "fixed_sidebar": True,
}
