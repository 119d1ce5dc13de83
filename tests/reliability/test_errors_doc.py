"""docs/errors.md is the catalogue rendered: regenerate it when a case changes."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.catalogue import all_cases, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_errors_page_is_the_rendered_catalogue():
    cases = all_cases()
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert DOC.read_text() == render(cases), (
        "docs/errors.md is stale: python -m tests.reliability.catalogue > docs/errors.md"
    )
