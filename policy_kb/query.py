"""Questions to ask the knowledge graph: find items by label, kind or section; walk relations."""
from __future__ import annotations

import difflib
import re
import weakref
from typing import Iterable

import networkx as nx

FINDING_KINDS = (
    "red_flag", "yellow_flag",
    "local_absolute_contraindication", "general_absolute_contraindication",
    "local_relative_contraindication", "general_relative_contraindication",
    "modality_contraindication", "modality_precaution",
)

_PAREN_TAIL = re.compile(r"\s*\([^()]*\)\s*$")
_NON_WORD = re.compile(r"[^a-z0-9]+")


class LabelError(LookupError):
    """A label that names no item, or more than one item, with the candidates to choose from."""

    def __init__(self, message: str, label: str, candidates: list[tuple[str, str, str]]):
        super().__init__(message)
        self.label = label
        self.candidates = candidates  # (id, kind, label)


class UnknownLabel(LabelError):
    pass


class AmbiguousLabel(LabelError):
    pass


def normalize_label(text: str) -> str:
    """Case, punctuation and white space folded: 'Signs of abuse/neglect' -> 'signs of abuse neglect'."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def _keys(label: str) -> set[str]:
    keys = {normalize_label(label)}
    stripped = _PAREN_TAIL.sub("", label)
    if stripped and stripped != label:
        keys.add(normalize_label(stripped))
    return {k for k in keys if k}


_INDEX: "weakref.WeakKeyDictionary[nx.MultiDiGraph, tuple[dict, dict]]" = weakref.WeakKeyDictionary()


def _label_index(g: nx.MultiDiGraph) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(labels, synonyms): normalised text -> ids."""
    index = _INDEX.get(g)
    if index is None or not nx.is_frozen(g):
        labels: dict[str, list[str]] = {}
        synonyms: dict[str, list[str]] = {}
        for node, data in g.nodes(data=True):
            for target, texts in ((labels, [data["label"]]), (synonyms, data.get("synonyms", []))):
                for text in texts:
                    for key in _keys(text):
                        ids = target.setdefault(key, [])
                        if node not in ids:
                            ids.append(node)
        index = (labels, synonyms)
        if nx.is_frozen(g):
            _INDEX[g] = index
    return index


def find(g: nx.MultiDiGraph, label: str, kind: str | None = None,
         kinds: Iterable[str] | None = None) -> list[str]:
    """Ids of the item a label names (case-insensitive; synonyms; a trailing parenthetical optional).

    The same label listed twice under one kind (e.g. a red flag under two headings) is one finding
    and returns both ids. Raises UnknownLabel (with the closest labels) or AmbiguousLabel (labels
    shared by items of different kinds, e.g. 'Cancer': pass `kind`).
    """
    allowed = set(kinds) if kinds is not None else None
    if kind is not None:
        allowed = {kind} if allowed is None or kind in allowed else set()
    hits: list[str] = []
    for index in _label_index(g):  # labels and synonyms alike: a synonym shared across kinds is ambiguous
        for key in _keys(label):
            for node in index.get(key, []):
                if node not in hits and (allowed is None or g.nodes[node]["kind"] in allowed):
                    hits.append(node)
    if not hits:
        raise UnknownLabel(f"no item is labelled {label!r}" + _suggest(g, label, allowed),
                           label, _closest(g, label, allowed))
    found_kinds = {g.nodes[n]["kind"] for n in hits}
    if len(found_kinds) > 1:
        cands = [(n, g.nodes[n]["kind"], g.nodes[n]["label"]) for n in hits]
        listing = "; ".join(f"{k} ({n})" for n, k, _ in cands)
        raise AmbiguousLabel(f"{label!r} is ambiguous: it is listed as {listing}; give its kind", label, cands)
    return sorted(hits)


def _closest(g: nx.MultiDiGraph, label: str, allowed: set[str] | None, n: int = 5) -> list[tuple[str, str, str]]:
    labels, synonyms = _label_index(g)
    index = {**synonyms, **labels}
    keys = difflib.get_close_matches(normalize_label(label), list(index), n=n * 2, cutoff=0.5)
    key = normalize_label(label)
    keys += [k for k in index if key and key in k and k not in keys]
    out: list[tuple[str, str, str]] = []
    for k in keys:
        for node in index[k]:
            d = g.nodes[node]
            if (allowed is None or d["kind"] in allowed) and all(node != c[0] for c in out):
                out.append((node, d["kind"], d["label"]))
    return out[:n]


def _suggest(g: nx.MultiDiGraph, label: str, allowed: set[str] | None) -> str:
    close = _closest(g, label, allowed)
    return "; closest: " + ", ".join(repr(c[2]) for c in close) if close else ""


def by_kind(g: nx.MultiDiGraph, kind: str) -> list[str]:
    """Ids of every item of one kind, in id order."""
    return sorted(n for n, k in g.nodes(data="kind") if k == kind)


def by_section(g: nx.MultiDiGraph, section: str) -> list[str]:
    """Ids of every item whose section path starts with `section` (case-insensitive)."""
    want = section.lower()
    return sorted(n for n, s in g.nodes(data="section") if s and s.lower().startswith(want))


def children(g: nx.MultiDiGraph, node: str) -> list[str]:
    """The items directly part_of a list or section node."""
    return sorted(u for u, _, rel in g.in_edges(node, data="relation") if rel == "part_of")


def parent(g: nx.MultiDiGraph, node: str) -> str | None:
    for _, v, rel in g.out_edges(node, data="relation"):
        if rel == "part_of":
            return v
    return None


def neighbours(g: nx.MultiDiGraph, node: str, relation: str | None = None,
               direction: str = "out") -> list[tuple[str, str, str]]:
    """(relation, direction, other id) for edges of `node`; filter by relation and direction (out/in/both)."""
    if node not in g:
        raise KeyError(f"no item with id {node!r}")
    out: list[tuple[str, str, str]] = []
    if direction in ("out", "both"):
        out += [(rel, "out", v) for _, v, rel in g.out_edges(node, data="relation") if relation in (None, rel)]
    if direction in ("in", "both"):
        out += [(rel, "in", u) for u, _, rel in g.in_edges(node, data="relation") if relation in (None, rel)]
    return out


def around(g: nx.MultiDiGraph, node: str, radius: int = 1, relations: Iterable[str] | None = None) -> nx.MultiDiGraph:
    """The subgraph within `radius` edges of `node` (either direction), optionally over some relations only."""
    if node not in g:
        raise KeyError(f"no item with id {node!r}")
    rels = set(relations) if relations is not None else None
    keep = {node}
    frontier = {node}
    for _ in range(radius):
        nxt = set()
        for n in frontier:
            for _, v, rel in g.out_edges(n, data="relation"):
                if rels is None or rel in rels:
                    nxt.add(v)
            for u, _, rel in g.in_edges(n, data="relation"):
                if rels is None or rel in rels:
                    nxt.add(u)
        frontier = nxt - keep
        keep |= nxt
    sub = g.subgraph(keep)
    if rels is None:
        return sub
    return nx.subgraph_view(sub, filter_edge=lambda u, v, k: k in rels)


def search(g: nx.MultiDiGraph, text: str, kinds: Iterable[str] | None = None) -> list[str]:
    """Ids whose label, synonyms or notes contain every word of `text` (for explorers)."""
    words = normalize_label(text).split()
    allowed = set(kinds) if kinds is not None else None
    out = []
    for node, d in g.nodes(data=True):
        if allowed is not None and d["kind"] not in allowed:
            continue
        hay = normalize_label(" ".join([d["label"], *d.get("synonyms", []), d.get("notes", ""), node]))
        if all(w in hay for w in words):
            out.append(node)
    return sorted(out)
