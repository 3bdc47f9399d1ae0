from __future__ import annotations

from pathlib import Path

import pytest

from policy_kb.kb import load_guideline

REPO = Path(__file__).resolve().parent.parent
GUIDELINE_TEXT = REPO.parent / "shared" / "guideline" / "therapeutic-massage-cpg.txt"


@pytest.fixture(scope="session")
def kb():
    """The knowledge graph, loaded once for the whole session."""
    return load_guideline()


def list_items(g, list_id: str) -> list[str]:
    """Ids of the items directly part_of a list (or section) node."""
    return sorted(u for u, _, rel in g.in_edges(list_id, data="relation") if rel == "part_of")
