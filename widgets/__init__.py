"""ipywidgets and pyvis views over policy_kb: thin, no logic of their own (the rules live in policy_kb)."""
from .graph_view import KIND_COLOURS, graph_html, graph_widget

__all__ = ["KIND_COLOURS", "graph_html", "graph_widget"]
