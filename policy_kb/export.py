"""Export the knowledge graph: node-link JSON (lossless) and GraphML (complex values as JSON strings)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import networkx as nx


def node_link(g: nx.MultiDiGraph) -> dict:
    """The graph as a node-link dict (JSON-serialisable)."""
    return nx.node_link_data(g, edges="edges")


def to_graphml_ready(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy whose attribute values are all GraphML scalars (lists and dicts become JSON text)."""
    h = nx.MultiDiGraph()
    h.graph.update({k: v for k, v in g.graph.items() if isinstance(v, (str, int, float, bool))})

    def scalar(v):
        if isinstance(v, (str, int, float, bool)):
            return v
        return json.dumps(v, sort_keys=True, default=str)

    for n, d in g.nodes(data=True):
        h.add_node(n, **{k: scalar(v) for k, v in d.items() if v is not None})
    for u, v, k, d in g.edges(keys=True, data=True):
        h.add_edge(u, v, key=k, **{a: scalar(b) for a, b in d.items() if b is not None})
    return h


def export(g: nx.MultiDiGraph, fmt: str, path: str | Path) -> None:
    """Write the graph to `path` as 'node-link' JSON or 'graphml'."""
    path = Path(path)
    if fmt == "node-link":
        path.write_text(json.dumps(node_link(g), indent=1, sort_keys=True, default=str), encoding="utf-8")
    elif fmt == "graphml":
        nx.write_graphml(to_graphml_ready(g), path)
    else:
        raise ValueError(f"format must be node-link or graphml, not {fmt!r}")


def stats(g: nx.MultiDiGraph) -> dict:
    """Counts of nodes per kind and edges per relation."""
    return {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "nodes_per_kind": dict(sorted(Counter(k for _, k in g.nodes(data="kind")).items())),
        "edges_per_relation": dict(sorted(Counter(r for *_, r in g.edges(data="relation")).items())),
    }
