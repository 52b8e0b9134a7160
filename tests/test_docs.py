"""The README stays a page HACS can show, and every relative link in the docs resolves."""

from __future__ import annotations

from pathlib import Path
import re

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
PAGES = [
    REPOSITORY / "README.md",
    REPOSITORY / "CONTRIBUTING.md",
    *sorted(REPOSITORY.glob("docs/*.md")),
]
# [text](target) and ![alt](target), without the title part.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")


def _relative_links(page: Path) -> list[str]:
    targets = LINK.findall(page.read_text(encoding="utf-8"))
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", target)]


def test_readme_fits_a_page() -> None:
    # HACS renders the whole README on the download page; the reference lives in docs/.
    assert len((REPOSITORY / "README.md").read_text(encoding="utf-8")) < 15_000


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPOSITORY)))
def test_relative_links_resolve(page: Path) -> None:
    missing = [
        target
        for target in _relative_links(page)
        if not (page.parent / target.split("#", 1)[0]).exists()
    ]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    reached: set[Path] = set()
    queue = [REPOSITORY / "README.md"]
    while queue:
        page = queue.pop()
        for target in _relative_links(page):
            linked = (page.parent / target.split("#", 1)[0]).resolve()
            if linked.suffix == ".md" and linked not in reached:
                reached.add(linked)
                queue.append(linked)
    unreached = {page.resolve() for page in REPOSITORY.glob("docs/*.md")} - reached
    assert not unreached, f"not linked from the README: {sorted(map(str, unreached))}"
