"""The fenced code blocks of the Markdown docs and the verdict each one gets (the convention is in
docs/contributing.md, "Code blocks in the docs").

Pure parsing, no I/O beyond reading the file: :func:`parse` returns the blocks of one page in order, with
hidden ``<!-- doc-test: run ... -->`` code as blocks of their own, and every convention error with the
``file:line`` of the block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RUN_PYTHON", "RUN_SHELL", "SHOWN", "Block", "Page", "doc_pages", "parse"]

ROOT = Path(__file__).resolve().parents[2]

RUN_PYTHON = frozenset({"python", "py"})
RUN_SHELL = frozenset({"sh", "bash", "shell"})
#: Shown, never run (output, transcripts, synopses, other languages); json and toml are parsed.
SHOWN = frozenset({"text", "console", "output", "sql", "ini", "diff", "yaml", "json", "toml"})

_FENCE = re.compile(r"^(?P<indent>[ ]{0,3})(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)?.*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:\s*(?P<kind>[a-z-]+)(?P<rest>.*?)(?P<end>-->)?\s*$")


@dataclass(frozen=True)
class Block:
    """One code block (or hidden ``run`` code) of a page."""

    path: Path
    line: int  # 1-based line of the first code line
    lang: str  # "python", "sh", "text", ...; "" when the fence has no info string
    code: str
    skip: str | None = None  # the reason, when marked <!-- doc-test: skip REASON -->
    hidden: bool = False  # <!-- doc-test: run ... --> code

    @property
    def where(self) -> str:
        """``docs/page.md:LINE`` (relative to the repository when it is inside it)."""
        try:
            shown = self.path.relative_to(ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.skip is None and (self.lang in RUN_PYTHON or self.lang in RUN_SHELL)


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.runs]


def doc_pages(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _where(path: Path, line: int) -> str:
    try:
        return f"{path.relative_to(ROOT)}:{line}"
    except ValueError:
        return f"{path}:{line}"


def parse(path: Path) -> Page:
    """The blocks of one Markdown page and the convention errors found in it."""
    page = Page(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    pending_skip: tuple[int, str] | None = None
    i = 0
    while i < len(lines):
        text = lines[i]
        directive = _DIRECTIVE.match(text)
        if directive:
            kind, rest = directive["kind"], directive["rest"].strip()
            if kind == "skip":
                if not rest or directive["end"] is None:
                    page.errors.append(
                        f"{_where(path, i + 1)}: doc-test skip needs a reason on one line: "
                        "<!-- doc-test: skip REASON -->"
                    )
                pending_skip = (i + 1, rest)
            elif kind == "run":
                start = i
                body = [rest] if rest else []
                if directive["end"] is None:  # multi-line: up to the line holding -->
                    i += 1
                    while i < len(lines) and "-->" not in lines[i]:
                        body.append(lines[i])
                        i += 1
                    if i == len(lines):
                        page.errors.append(f"{_where(path, start + 1)}: unterminated <!-- doc-test: run")
                        break
                    tail = lines[i].split("-->")[0]
                    if tail.strip():
                        body.append(tail)
                first = start + 1 if rest else start + 2
                page.blocks.append(Block(path, first, "python", "\n".join(body), hidden=True))
            else:
                page.errors.append(
                    f"{_where(path, i + 1)}: unknown doc-test directive {kind!r}; valid: skip, run"
                )
            i += 1
            continue
        fence = _FENCE.match(text)
        if fence:
            marker = fence["fence"]
            lang = (fence["info"] or "").lower()
            start = i
            i += 1
            body_lines = []
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body_lines.append(lines[i])
                i += 1
            indent = len(fence["indent"])
            code = "\n".join(line[indent:] if line[:indent].isspace() else line for line in body_lines)
            skip = pending_skip[1] if pending_skip else None
            block = Block(path, start + 2, lang, code, skip=skip)
            page.blocks.append(block)
            if i == len(lines):
                page.errors.append(f"{block.where}: unterminated code block")
            elif not lang:
                page.errors.append(
                    f"{_where(path, start + 1)}: code block without a verdict: tag it python or sh (run), "
                    "or text (output, never run), or put <!-- doc-test: skip REASON --> right above it"
                )
            elif lang not in RUN_PYTHON | RUN_SHELL | SHOWN:
                page.errors.append(
                    f"{_where(path, start + 1)}: code block language {lang!r} has no verdict; valid: "
                    f"{', '.join(sorted(RUN_PYTHON | RUN_SHELL | SHOWN))}"
                )
            pending_skip = None
            i += 1
            continue
        if pending_skip and text.strip():
            page.errors.append(
                f"{_where(path, pending_skip[0])}: <!-- doc-test: skip --> must be right above a code block"
            )
            pending_skip = None
        i += 1
    return page
