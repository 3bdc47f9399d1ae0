"""Render (part of) the knowledge graph with pyvis, offline: vis-network is inlined, nothing is written to disk."""
from __future__ import annotations

import html

import networkx as nx

KIND_COLOURS = {
    "guideline": "#444444", "section": "#9e9e9e", "list": "#bdbdbd",
    "criterion": "#2e7d32", "purpose": "#66bb6a", "non_covered_purpose": "#c0ca33", "not_necessary_condition": "#ef6c00",
    "definition": "#5c6bc0",
    "local_absolute_contraindication": "#b71c1c", "general_absolute_contraindication": "#d32f2f",
    "local_relative_contraindication": "#f57c00", "general_relative_contraindication": "#ffa726",
    "modality_contraindication": "#8d6e63", "modality_precaution": "#bcaaa4",
    "red_flag": "#e53935", "yellow_flag": "#fdd835",
    "referral_trigger": "#8e24aa", "review_outcome": "#000000",
    "rule": "#00897b", "parameter": "#26c6da",
}


def graph_html(g: nx.MultiDiGraph, highlight: set[str] | None = None, height: str = "520px", seed: int = 7) -> str:
    """A self-contained HTML page showing `g` (colour by kind; highlighted nodes drawn larger)."""
    from pyvis.network import Network

    highlight = highlight or set()
    net = Network(height=height, width="100%", directed=True, notebook=True, cdn_resources="in_line")
    for n, d in g.nodes(data=True):
        label = d["label"] if len(d["label"]) <= 40 else d["label"][:38] + "…"
        title = f"{d['label']}\n[{d['kind']}] {n}\n{d.get('section') or ''}"
        net.add_node(n, label=label, title=title, color=KIND_COLOURS.get(d["kind"], "#90a4ae"),
                     size=28 if n in highlight else 14, borderWidth=4 if n in highlight else 1)
    for u, v, rel in g.edges(data="relation"):
        net.add_edge(u, v, title=rel, label=rel if rel != "part_of" else "", dashes=rel == "part_of")
    net.set_options('{"layout": {"randomSeed": %d}, "physics": {"barnesHut": {"springLength": 170, "avoidOverlap": 0.6}, "stabilization": {"iterations": 200}},'
                    ' "edges": {"font": {"size": 9}, "arrows": {"to": {"enabled": true, "scaleFactor": 0.5}}}}' % seed)
    return net.generate_html(notebook=True)


def graph_widget(g: nx.MultiDiGraph, highlight: set[str] | None = None, height: int = 540):
    """An ipywidgets.HTML holding the graph in an iframe srcdoc (works offline, in JupyterLab and Voila)."""
    import ipywidgets as w

    doc = graph_html(g, highlight, height=f"{height - 20}px")
    return w.HTML(f'<div><iframe srcdoc="{html.escape(doc)}" style="width:100%;height:{height}px;border:0"></iframe></div>')
