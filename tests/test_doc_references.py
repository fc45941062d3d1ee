"""Every Markdown file the docs and the code cite exists in this repository, with the cited section.

A reference is a file name ending in ``.md``, bare (``domain.md``) or with a path
(``docs/diagnostic-contract.md``), optionally followed by sections or a quoted heading:

- ``diagnostic-contract.md §3``, ``§3.1``, ``§1-§4``, ``§2-4`` (a hyphen or an en dash),
  ``§3 and §5``, ``§1, §2``, ``§1 or §2``; a closing backtick, ``*``, ``)``, ``]`` or quote may
  stand between the name and the ``§``;
- ``domain.md "Keys"``: the quoted text is a heading's title (without its number).

A name resolves against the repository root and ``docs/`` (a Markdown file's own directory too),
never outside the repository. A section number ``N`` or ``N.M`` exists when the file has a heading
numbered so: ``## 3. SecurityAccess``, ``### 3.1 Levels`` (any level, the dot after the number
optional). Headings inside fenced code blocks do not count.

Scanned: README.md, docs/*.md and every .py file under ecusim/, protocol/, dbc/, tests/, bench/.
No tracked text file there (README.md, docs/ and those directories) may mention the paths outside
the repository that older docs pointed to (``FORBIDDEN``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("ecusim", "protocol", "dbc", "tests", "bench")
"""Directories whose .py files are scanned for references (and whose text files for FORBIDDEN)."""

_SHARED = "shared"  # spelt in pieces so that this file does not mention what it forbids
FORBIDDEN = re.compile(rf"\.\./{_SHARED}\b|\b{_SHARED}/(?:spec|seeds)\b|(?<![\w/.-])seeds/\d{{3}}")
"""Paths outside the repository that no text file may mention: ``../`` + the shared directory,
its ``spec/`` and ``seeds/``, and a seed document cited as ``seeds/`` + its 3-digit number."""

_NUMBER = r"\d+(?:\.\d+)*"
_DASH = "[-\u2013]"  # a hyphen or an en dash
_SECTIONS = (
    rf"§ ?{_NUMBER}"  # §3, § 3, §3.1
    rf"(?:[ \t]*{_DASH}[ \t]*§? ?{_NUMBER}"  # then -§4 or -4
    rf"|[ \t]*(?:,|and|or)[ \t]*§ ?{_NUMBER})*"  # or , §5 / and §5 / or §5
)
REFERENCE = re.compile(
    r"(?<![\w./-])"
    r"(?P<target>(?:(?:\.{1,2}|[\w-][\w.-]*)/)*[\w-][\w.-]*\.md)(?![\w-])"
    r"(?:"
    r" (?P<heading>\"[^\"\n]+\")"
    rf"|[`*)\]\"']*[ \t]*(?P<sections>{_SECTIONS})"
    r")?"
)
"""A ``.md`` name, then optionally its sections or a quoted heading."""

_SECTION_NUMBER = re.compile(rf"§ ?({_NUMBER})")
_RANGE = re.compile(rf"§ ?(\d+)[ \t]*{_DASH}[ \t]*§? ?(\d+)(?![.\d])")
_HEADING = re.compile(r"^#{1,6}[ \t]+(?:(?P<number>" + _NUMBER + r")\.?[ \t]+)?(?P<title>.*?)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_URL = re.compile(r"\bhttps?://\S+")


@dataclass(frozen=True)
class Problem:
    """A reference that does not resolve, at ``where`` (``file:line``)."""

    where: str
    reference: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reference!r}: {self.reason}"


@dataclass(frozen=True)
class Headings:
    """The section numbers and heading titles of one Markdown file."""

    numbers: frozenset[str]
    titles: frozenset[str]


def headings_of(text: str) -> Headings:
    """The numbered sections and the titles of ``text``'s headings, outside code blocks."""
    numbers: set[str] = set()
    titles: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        if match["number"] is not None:
            numbers.add(match["number"])
        titles.add(match["title"])
    return Headings(frozenset(numbers), frozenset(titles))


@cache
def _headings_of_file(path: Path) -> Headings:
    return headings_of(path.read_text(encoding="utf-8"))


def cited_sections(sections: str) -> list[str]:
    """The section numbers of ``§1-§3``, ``§2-4``, ``§3 and §5``: ranges expanded."""
    numbers = set(_SECTION_NUMBER.findall(sections))
    for low, high in _RANGE.findall(sections):
        numbers.update(str(n) for n in range(int(low) + 1, int(high)))
    return sorted(numbers, key=lambda number: [int(part) for part in number.split(".")])


def resolve(target: str, source: Path, root: Path) -> Path | None:
    """The repository file ``target`` names when cited in ``source``, or None."""
    bases = [root, root / "docs"]
    if source.suffix == ".md":
        bases.insert(0, source.parent)
    top = root.resolve()
    for base in bases:
        path = (base / target).resolve()
        if path.is_relative_to(top) and path.is_file():
            return path
    return None


def check_text(text: str, source: Path, root: Path) -> list[Problem]:
    """The problems of every reference in ``text``, the contents of ``source`` in ``root``."""
    problems: list[Problem] = []
    name = source.relative_to(root).as_posix() if source.is_relative_to(root) else str(source)
    for number, line in enumerate(text.splitlines(), start=1):
        for match in REFERENCE.finditer(_URL.sub(" ", line)):
            where = f"{name}:{number}"
            reference = match[0].strip()
            path = resolve(match["target"], source, root)
            if path is None:
                problems.append(Problem(where, reference, "no such file in the repository"))
                continue
            if match["sections"] is None and match["heading"] is None:
                continue
            headings = _headings_of_file(path)
            target = path.relative_to(root.resolve()).as_posix()
            if match["heading"] is not None:
                title = match["heading"].strip('"')
                if title not in headings.titles:
                    problems.append(Problem(where, reference, f"{target} has no heading {title!r}"))
            for section in cited_sections(match["sections"] or ""):
                if section not in headings.numbers:
                    reason = f"{target} has no section {section} (a heading '## {section}. …')"
                    problems.append(Problem(where, reference, reason))
    return problems


def forbidden_mentions(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each mention of a path outside the repository (FORBIDDEN)."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in FORBIDDEN.finditer(line):
            yield number, match[0]


def scanned_files(root: Path) -> list[Path]:
    """The top-level *.md (README, CHANGELOG, CONTRIBUTING), docs/*.md and the .py files of
    CODE_DIRS."""
    files = [*sorted(root.glob("*.md")), *sorted((root / "docs").glob("*.md"))]
    for directory in CODE_DIRS:
        files.extend(sorted(p for p in (root / directory).rglob("*.py") if p.is_file()))
    return files


def tracked_text_files(root: Path) -> list[Path]:
    """Git-tracked files of README.md, docs/ and CODE_DIRS (every file there without git)."""
    places = [
        *sorted(path.name for path in root.glob("*.md")),
        "docs",
        ".ci",
        "pyproject.toml",
        ".pre-commit-config.yaml",
        *CODE_DIRS,
    ]
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *places],
            cwd=root,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        found: list[Path] = []
        for place in places:
            path = root / place
            found.extend([path] if path.is_file() else (p for p in path.rglob("*") if p.is_file()))
        return sorted(found)
    return [root / name for name in listed.split("\0") if name and (root / name).is_file()]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


# -- the repository -------------------------------------------------------------------------------


def test_every_md_reference_names_an_existing_file_and_section() -> None:
    problems: list[Problem] = []
    for path in scanned_files(ROOT):
        problems.extend(check_text(path.read_text(encoding="utf-8"), path, ROOT))
    assert not problems, "references that do not resolve:\n" + "\n".join(map(str, problems))


def test_the_scan_finds_the_references_it_checks() -> None:
    """A scanner that matched nothing would pass the test above: count what it sees."""
    sections = 0
    for path in scanned_files(ROOT):
        for line in path.read_text(encoding="utf-8").splitlines():
            sections += sum(1 for m in REFERENCE.finditer(line) if m["sections"] is not None)
    assert sections >= 100


def test_no_text_file_mentions_a_path_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT).as_posix()}:{number}: {item!r}"
        for path in tracked_text_files(ROOT)
        if (text := _read_text(path)) is not None
        for number, item in forbidden_mentions(text)
    ]
    assert not found, "paths outside the repository:\n" + "\n".join(found)


# -- the scanner ----------------------------------------------------------------------------------


PAGE = """\
# A page

## 1. One

```sh
# 7. not a heading: a comment in a code block
```

### 1.1 One point one

## 2. Two

## Unnumbered
"""

PAGE_NAME = "page" + ".md"
"""The fake repository's page in docs/; the texts below write it PAGE (this file is scanned too)."""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A fake repository with README.md and the page in docs/, and a page just outside it."""
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / PAGE_NAME).write_text(PAGE, encoding="utf-8")
    (root / "README.md").write_text("# Read me\n", encoding="utf-8")
    (tmp_path / ("outside" + ".md")).write_text("## 1. Outside\n", encoding="utf-8")
    return root


def _check(text: str, repo: Path, source: str = "pkg/module.py") -> list[Problem]:
    """Check ``text`` (PAGE standing for the fake page's name) as the file ``source``."""
    return check_text(text.replace("PAGE", PAGE_NAME), repo / source, repo)


@pytest.mark.parametrize(
    "text",
    [
        "see PAGE",
        "(PAGE §1)",
        "PAGE §2.",
        "PAGE § 2",
        "`docs/PAGE` §1",
        "**PAGE** §2",
        "PAGE §1.1",
        "PAGE §1-§2, PAGE §1-2, PAGE §1\u2013§2, PAGE § 1 \u2013 § 2",
        "PAGE §1 and §2; PAGE §1, §2",
        "PAGE §1 and the rest",
        "[PAGE](PAGE) and [the page](PAGE#2-two)",
        "README.md, docs/../README.md",
        'PAGE "One", PAGE "Unnumbered"',
        "a URL: https://example.org/PAGE §9",
    ],
)
def test_the_scanner_accepts_references_that_resolve(text: str, repo: Path) -> None:
    assert _check(text, repo) == []


def test_the_scanner_reports_each_dangling_reference_with_file_and_line(repo: Path) -> None:
    missing = "no-such-page" + ".md"
    text = "\n".join(
        [
            "fine: PAGE §1",
            f"missing file: {missing} §1",
            "missing section: PAGE §3",
            "missing subsection: PAGE §1.2",
            "a range past the end: PAGE §1-§4",
            "a code-block comment is no heading: PAGE §7",
            'missing heading: PAGE "Three"',
            "outside the repository: ../outside" + ".md §1",
        ]
    )
    problems = _check(text, repo)
    page = PAGE_NAME
    assert [(p.where, p.reference) for p in problems] == [
        ("pkg/module.py:2", f"{missing} §1"),
        ("pkg/module.py:3", f"{page} §3"),
        ("pkg/module.py:4", f"{page} §1.2"),
        ("pkg/module.py:5", f"{page} §1-§4"),
        ("pkg/module.py:5", f"{page} §1-§4"),
        ("pkg/module.py:6", f"{page} §7"),
        ("pkg/module.py:7", f'{page} "Three"'),
        ("pkg/module.py:8", "../outside" + ".md §1"),
    ]
    assert "no such file" in problems[0].reason
    assert f"docs/{page} has no section 3 " in problems[1].reason
    assert "no section 3 " in problems[3].reason and "no section 4 " in problems[4].reason
    assert "has no heading 'Three'" in problems[6].reason
    assert "no such file" in problems[7].reason
    assert str(problems[1]).startswith(f"pkg/module.py:3: '{page} §3': ")


def test_only_a_markdown_file_resolves_relative_to_its_own_directory(repo: Path) -> None:
    assert _check("[up](../PAGE)", repo, "docs/sub/other" + ".md") == []
    assert [p.where for p in _check("[up](../PAGE)", repo, "pkg/sub/module.py")] == [
        "pkg/sub/module.py:1"
    ]


def test_forbidden_mentions_are_found_with_their_line() -> None:
    seed = "seeds" + "/004"
    text = "\n".join(
        [
            "fine: docs/domain.md, seedless/0001, shared-state/x",
            f"see ../{_SHARED}/x and {_SHARED}/spec/y",
            f"and {_SHARED}/seeds/1.txt; ({seed})",
        ]
    )
    assert list(forbidden_mentions(text)) == [
        (2, f"../{_SHARED}"),
        (2, f"{_SHARED}/spec"),
        (3, f"{_SHARED}/seeds"),
        (3, seed),
    ]
