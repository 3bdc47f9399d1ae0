"""policy-kb: the therapeutic-massage medical-necessity guideline as an executable, explainable knowledge base.

Layers: data/guideline (YAML) -> `load_guideline()` (networkx graph) -> case -> facts -> rules ->
determination -> explanation. This package never imports Jupyter or widgets.
"""
from .kb import GuidelineDataError, Problem, kb_version, load_guideline, validate
from .case import Case, CaseError, load_case, parse_case
from .engine import Determination, ParameterError, determine
from .query import AmbiguousLabel, UnknownLabel, by_kind, by_section, children, find, neighbours, around, search

__all__ = [
    "Case", "CaseError", "load_case", "parse_case", "Determination", "ParameterError", "determine",
    "GuidelineDataError", "Problem", "kb_version", "load_guideline", "validate",
    "AmbiguousLabel", "UnknownLabel", "by_kind", "by_section", "children", "find", "neighbours", "around", "search",
]
