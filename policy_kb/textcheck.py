"""Compare the encoded labels with the guideline text, when a copy of the text is at hand.

The text is not part of the project; this is an optional faithfulness check (`policy-kb validate
--text FILE`, and a test that runs when the shared copy is present).
"""
from __future__ import annotations

import re

import networkx as nx

_LINE_NO = re.compile(r"^\s*(?:[-•]\s*)?\d{1,2}\s+(?=\S)", re.M)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """Lower-case words only: line numbers, bullets, punctuation and line breaks folded away."""
    text = text.replace("’", "'").replace("“", '"').replace("”", '"').replace("–", "-").replace("—", "-")
    text = _LINE_NO.sub(" ", text)
    text = text.replace("®", "")
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def labels_not_in_text(g: nx.MultiDiGraph, text: str) -> list[tuple[str, str]]:
    """(id, label) of every node whose label is meant verbatim but is not found in the text."""
    body = normalize(text)
    missing = []
    for node, data in g.nodes(data=True):
        if data.get("paraphrase") or data.get("kind") in {"rule", "parameter"}:
            continue
        if normalize(data["label"]) not in body:
            missing.append((node, data["label"]))
    return missing
