"""Every ```python block of README.md and docs/*.md runs (issue 15).

Each block is one test case, named ``PAGE:LINE`` (the line of its opening fence). The blocks of
one page run in order in one shared namespace, so a later block may use the names of an earlier
one, in a fresh temporary working directory of the page's own, with ``HF_HUB_OFFLINE=1``.
Running one case alone (``-k``) first runs the page's earlier blocks.

A block that cannot run as written says so in the page, on the line right above its fence::

    <!-- doc-test: skip (needs a running review server) -->

The reason is required; the case is reported as skipped with it. Blocks in other languages
(```bash, plain ```) are output samples or commands, and are not run. ``docs/benchmarks/``
holds measured results and is not collected.

Not run here, so that nothing runs twice:

- pages whose examples a dedicated test already runs verbatim (``COVERED_ELSEWHERE``);
- blocks that start with ``# file: NAME``: files of their own, written to disk and run by
  ``tests/test_adding_a_check.py``.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# page -> the test that already runs all of its ```python blocks
COVERED_ELSEWHERE = {
    "docs/agreement.md": "tests/test_agreement.py",
    "docs/curves.md": "tests/test_curves_docs.py",
    "docs/export.md": "tests/test_export.py",
}
FILE_BLOCKS_TEST = "tests/test_adding_a_check.py"

FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:")
SKIP = re.compile(r"^\s*<!--\s*doc-test:\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*-->\s*$")
FILE_BLOCK = re.compile(r"#\s*file:\s*\S+")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the reason, from the comment above the fence
    bad_directive: str | None  # a doc-test comment above the fence that is not understood

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def parse(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown page, with their skip comments."""
    page = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        start = i
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence[0] * len(fence))
                                      and not lines[i].strip().strip(fence[0])):
            i += 1
        if lang in ("python", "py"):
            above = lines[start - 1] if start else ""
            skip = SKIP.match(above)
            bad = above.strip() if DIRECTIVE.match(above) and not skip else None
            blocks.append(Block(page, start + 1, "\n".join(lines[start + 1:i]) + "\n",
                                skip.group("reason").strip() if skip else None, bad))
        i += 1  # past the closing fence
    return blocks


ALL = [b for p in PAGES for b in parse(p)]
FILE_BLOCKS = [b for b in ALL if FILE_BLOCK.match(b.code.lstrip())]
BLOCKS = [b for b in ALL if b.page not in COVERED_ELSEWHERE and b not in FILE_BLOCKS]


class _Page:
    """The shared state of one page: its namespace, folder, and how far it has run."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.namespace: dict = {"__name__": "__doc_example__"}
        self.done: set[int] = set()
        self.failed: str | None = None


_PAGES: dict[str, _Page] = {}


def _exec(block: Block, state: _Page) -> None:
    # Pad with blank lines so that a traceback points at the line of the page.
    source = "\n" * block.line + block.code
    try:
        exec(compile(source, str(ROOT / block.page), "exec"), state.namespace)  # noqa: S102
    except BaseException:
        state.failed = block.id
        raise
    finally:
        state.done.add(block.line)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_example(block: Block, tmp_path_factory, monkeypatch):
    assert block.bad_directive is None, (
        f"{block.id}: not understood: {block.bad_directive!r}; "
        "write <!-- doc-test: skip (the reason) -->")
    if block.skip is not None:
        pytest.skip(f"{block.id}: {block.skip}")
    state = _PAGES.get(block.page)
    if state is None:
        state = _PAGES[block.page] = _Page(tmp_path_factory.mktemp("doc"))
    monkeypatch.chdir(state.folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # The `assay` command of this environment, as in an activated one (for setup blocks).
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent),
                                                os.environ.get("PATH", "")]))
    # The page's earlier blocks first (they have run already unless this case runs alone).
    for earlier in BLOCKS:
        if (earlier.page == block.page and earlier.line < block.line and earlier.skip is None
                and earlier.line not in state.done and state.failed is None):
            _exec(earlier, state)
    if state.failed is not None:
        pytest.fail(f"not run: the earlier block {state.failed} of this page failed")
    _exec(block, state)


def test_pages_have_examples():
    assert len(PAGES) > 5
    assert not any("benchmarks" in p.parts for p in PAGES)
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize("page", sorted(COVERED_ELSEWHERE))
def test_pages_covered_elsewhere_are_run_there(page):
    """The dedicated test still exists and reads the page (else drop it from the list)."""
    test = (ROOT / COVERED_ELSEWHERE[page]).read_text(encoding="utf-8")
    assert Path(page).name in test
    assert "exec(" in test


def test_file_blocks_are_run_there():
    """``# file:`` blocks are run as files by one test, which knows only architecture.md."""
    assert {b.page for b in FILE_BLOCKS} <= {"docs/architecture.md"}
    assert '"architecture.md"' in (ROOT / FILE_BLOCKS_TEST).read_text(encoding="utf-8")


def test_skip_comments_are_recognised():
    assert SKIP.match("<!-- doc-test: skip (needs a running review server) -->")
    assert not SKIP.match("<!-- doc-test: skip -->")
    assert not SKIP.match("<!-- doc-test: skip () -->")
