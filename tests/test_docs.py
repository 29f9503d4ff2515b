"""The README stays short and points at every docs page; every link in them resolves."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

from tests.conftest import REPO

README = REPO / "README.md"
DOC_PAGES = sorted((REPO / "docs").glob("*.md"))
# [text](target), not images' data or absolute URLs
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors, fence = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"^#+ ", line):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def _broken_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or (
            anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)
        ):
            broken.append(target)
    return broken


def test_readme_is_short_and_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    linked = {(REPO / t.partition("#")[0]).resolve() for t in LINK.findall(text)}
    assert len(DOC_PAGES) >= 10
    assert [p.name for p in DOC_PAGES if p.resolve() not in linked] == []


def test_links_in_readme_and_docs_resolve():
    pages = [README, *DOC_PAGES, REPO / "benchmarks" / "README.md"]
    broken = {p.name: _broken_links(p) for p in pages}
    assert {name: links for name, links in broken.items() if links} == {}


def test_a_broken_anchor_is_caught(tmp_path):
    (tmp_path / "a.md").write_text("# A page\n\n## Two words\n", encoding="utf-8")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#two-words) [gone](a.md#three) [no](c.md) [no](d.md#x)\n", encoding="utf-8"
    )
    assert _broken_links(page) == ["a.md#three", "c.md", "d.md#x"]


def test_the_readme_names_the_commands_make_and_ci_run():
    readme = README.read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") :]
    commands = re.findall(r"^(make \S+)", quick_start[: quick_start.index("\n## ")], re.M)
    assert commands == ["make run", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert [line for line in ci.splitlines() if line.startswith("make")] == ["make test"]


# A module or file of the code named in the docs: `cjm.build.models.model_sql`, cjm/stages.py.
MODULE_NAME = re.compile(r"(?<![\w/.])cjm(?:\.[A-Za-z_]\w*)+")
CODE_PATH = re.compile(r"(?<![\w/.])((?:cjm|tests)/[\w/.-]*\w)")
# cjm.duckdb is a file name, cjm/sql the wheel's copy of sql/
NOT_CODE = {"cjm.duckdb", "cjm/sql"}


def _resolves(name: str) -> bool:
    """Whether a dotted name is a module of cjm, or an attribute chain of one."""
    parts = name.split(".")
    for i in range(len(parts), 1, -1):
        module = ".".join(parts[:i])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(module)
            for attribute in parts[i:]:
                if not hasattr(obj, attribute):
                    return False
                obj = getattr(obj, attribute)
            return True
    return False


def _stale_code_names(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    names = {n for n in MODULE_NAME.findall(text) if not n.startswith(tuple(NOT_CODE))}
    paths = {p for p in CODE_PATH.findall(text) if p not in NOT_CODE}
    return sorted(
        [n for n in names if not _resolves(n)] + [p for p in paths if not (REPO / p).exists()]
    )


def test_modules_and_files_named_in_the_docs_exist():
    """Modules move: every cjm module, function and file the docs name is where they say."""
    pages = [README, *DOC_PAGES, REPO / "benchmarks" / "README.md"]
    stale = {p.name: _stale_code_names(p) for p in pages}
    assert {name: names for name, names in stale.items() if names} == {}
