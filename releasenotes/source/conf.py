# Sphinx configuration of the release notes. Built by ``tox -e releasenotes``.
# reno reads the notes from git history (releasenotes/notes), so a note shows
# here only once it is committed.

project = "oslo_threading_backend Release Notes"
copyright = "oslo_threading_backend developers"  # noqa: A001
author = "oslo_threading_backend developers"

extensions = ["reno.sphinxext"]

source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
pygments_style = "sphinx"
html_theme = "alabaster"
