"""The package's version, setup.cfg's and the one the docs quote are the same release.

pbr builds the commit tagged with setup.cfg's version as that version and an
untagged one as a development build of it (``1.0.0.devN``): the installed
version's release part is setup.cfg's either way.
"""

import configparser
from importlib import metadata
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
# "oslo_threading_backend 1.0.0" as the docs and the README write it.
QUOTED = re.compile(r"oslo_threading_backend (\d+\.\d+\.\d+(?:\.dev\d+)?)\b")


def _setup_cfg_version() -> str:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser["metadata"]["version"]


def _release(version: str) -> str:
    return ".".join(version.split(".")[:3])


def test_setup_cfg_names_a_release():
    assert re.fullmatch(r"\d+\.\d+\.\d+", _setup_cfg_version())


def test_the_installed_version_is_setup_cfgs_release():
    installed = metadata.version("oslo_threading_backend")
    assert _release(installed) == _setup_cfg_version(), installed
    # A tagged commit is the release; an untagged one a development build of it.
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+)?", installed), installed


def test_the_docs_quote_setup_cfgs_version():
    pages = [ROOT / "README.rst", *sorted((ROOT / "doc" / "source").rglob("*.rst"))]
    quoted = {
        (page.relative_to(ROOT).as_posix(), match)
        for page in pages
        for match in QUOTED.findall(page.read_text())
    }
    assert ("doc/source/install.rst", _setup_cfg_version()) in quoted
    assert ("doc/source/exec.rst", _setup_cfg_version()) in quoted
    assert {version for _page, version in quoted} == {_setup_cfg_version()}, quoted
