"""What-if reforms as data: override parameters, disable or replace a rule, edit an item.

A reform is a small YAML/JSON document applied to a copy of the knowledge graph, never to the data on disk:

    name: three-week limited trial, no frequency cap for mild cases
    parameters: {limited_trial_weeks: 3}
    disable_rules: [rule.dosage.mild_lesser_frequency]
    replace_rules:
      rule.dosage.reasonable_period: {cap: {weeks: limited_trial_weeks}}
    edit_items:
      contraindication.general_relative.osteoporosis: {label: Osteoporosis (severe)}
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .kb import GuidelineDataError, Problem, load_guideline
from .rulebook_loader import check_rulebook, link_rules

EDITABLE_RULE_FIELDS = {"when", "effect", "cap", "message", "actions", "urgency", "urgent_when", "label"}
EDITABLE_ITEM_FIELDS = {"label", "synonyms", "notes", "threshold", "urgency"}


class ReformError(ValueError):
    """A reform that names an unknown rule, item, parameter or field; one line."""


class Reform(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "reform"
    description: str = ""
    parameters: dict[str, float] = Field(default_factory=dict)
    disable_rules: list[str] = Field(default_factory=list)
    replace_rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    edit_items: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:8]


def load_reform(source: str | Path | dict | Reform) -> Reform:
    """A Reform from a file path, a dict or a Reform; raises ReformError with one line."""
    if isinstance(source, Reform):
        return source
    data = source
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ReformError(f"{path}: cannot read the reform ({exc.__class__.__name__})") from None
    try:
        return Reform.model_validate(data or {})
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ReformError(f"reform.{'.'.join(map(str, e['loc']))}: {e['msg']}") from None


def apply_reform(reform: Reform | dict | str | Path, g: nx.MultiDiGraph | None = None) -> nx.MultiDiGraph:
    """A frozen copy of the graph with the reform applied (checked like the shipped data)."""
    reform = load_reform(reform)
    base = g if g is not None else load_guideline()
    h = nx.MultiDiGraph(base)
    h.graph = dict(base.graph)
    params = {d["name"]: n for n, d in h.nodes(data=True) if d.get("kind") == "parameter"}
    for name, value in reform.parameters.items():
        if name not in params:
            raise ReformError(f"reform.parameters.{name}: unknown parameter; allowed: {', '.join(sorted(params))}")
        h.nodes[params[name]]["value"] = float(value)
    for rid in reform.disable_rules:
        _rule(h, rid, "disable_rules")
        h.nodes[rid]["disabled"] = True
    for rid, changes in reform.replace_rules.items():
        _rule(h, rid, "replace_rules")
        bad = set(changes) - EDITABLE_RULE_FIELDS
        if bad:
            raise ReformError(f"reform.replace_rules.{rid}: cannot change {sorted(bad)}; allowed: {sorted(EDITABLE_RULE_FIELDS)}")
        h.nodes[rid].update(changes)
        h.remove_edges_from([(rid, v, "reads") for _, v, k in list(h.out_edges(rid, keys=True)) if k == "reads"])
    for nid, changes in reform.edit_items.items():
        if nid not in h or h.nodes[nid]["kind"] in ("rule", "parameter"):
            raise ReformError(f"reform.edit_items.{nid}: no such guideline item")
        bad = set(changes) - EDITABLE_ITEM_FIELDS
        if bad:
            raise ReformError(f"reform.edit_items.{nid}: cannot change {sorted(bad)}; allowed: {sorted(EDITABLE_ITEM_FIELDS)}")
        h.nodes[nid].update(changes)
    problems: list[Problem] = check_rulebook(h)
    if not problems:
        link_rules(h)  # the reads edges of replaced rules follow their new expressions
    if problems:
        raise GuidelineDataError(problems)
    h.graph["kb_version"] = f"{base.graph['kb_version']}+reform.{reform.digest()}"
    h.graph["reform"] = reform.name
    nx.freeze(h)
    return h


def _rule(h: nx.MultiDiGraph, rid: str, where: str) -> None:
    if rid not in h or h.nodes[rid].get("kind") != "rule":
        rules = sorted(n for n, k in h.nodes(data="kind") if k == "rule")
        raise ReformError(f"reform.{where}: no rule {rid!r}; rules are: {', '.join(rules)}")


@dataclass
class Comparison:
    """Baseline vs reform on a set of cases."""

    table: Any                      # pandas DataFrame: one row per case (baseline, reform, changed, rules)
    transitions: Any                # crosstab of baseline outcome -> reform outcome
    flipped: list[str] = field(default_factory=list)
    causes: dict[str, int] = field(default_factory=dict)  # rule id -> cases it changed (fired in one, not the other)

    def sentences(self) -> list[str]:
        n_changed = int(self.table["changed"].sum()) if len(self.table) else 0
        out = [f"{n_changed} of {len(self.table)} cases change (outcome, dosage or referral); "
               f"{len(self.flipped)} change outcome."]
        for (a, b), n in self.transitions.stack().items():
            if a != b and n:
                out.append(f"{n} case(s) go from {a.replace('_', ' ')} to {b.replace('_', ' ')}.")
        for rid, n in sorted(self.causes.items(), key=lambda x: -x[1])[:8]:
            out.append(f"{rid} fires differently in {n} of the changed cases.")
        return out


OUTCOME_ORDER = ["approved", "partially_approved", "denied"]


def compare_cases(cases: list, reform: Reform | dict | str | Path, g: nx.MultiDiGraph | None = None) -> Comparison:
    """Determine each case under the baseline and the reform; transitions, flipped cases and causes."""
    import pandas as pd

    from .engine import determine

    base = g if g is not None else load_guideline()
    reformed = apply_reform(reform, base)
    rows = []
    causes: dict[str, int] = {}
    for case in cases:
        a, b = determine(case, g=base), determine(case, g=reformed)
        ra = {r.rule for r in a.reasons if r.governed_by is None}
        rb = {r.rule for r in b.reasons if r.governed_by is None}
        changed = (a.outcome, a.approved, a.referral) != (b.outcome, b.approved, b.referral)
        if changed:
            for rid in ra ^ rb:
                causes[rid] = causes.get(rid, 0) + 1
        rows.append({"case_id": a.case_id, "baseline": a.outcome, "reform": b.outcome,
                     "baseline_visits": a.approved["visits"], "reform_visits": b.approved["visits"],
                     "changed": changed, "rules_only_in_baseline": ";".join(sorted(ra - rb)),
                     "rules_only_in_reform": ";".join(sorted(rb - ra))})
    table = pd.DataFrame(rows).set_index("case_id") if rows else pd.DataFrame()
    transitions = pd.crosstab(pd.Categorical(table["baseline"], OUTCOME_ORDER),
                              pd.Categorical(table["reform"], OUTCOME_ORDER), dropna=False,
                              rownames=["baseline"], colnames=["reform"])
    flipped = list(table.index[table["baseline"] != table["reform"]])
    return Comparison(table, transitions, flipped, causes)


def compare_cohort(df, reform: Reform | dict | str | Path, g: nx.MultiDiGraph | None = None) -> Comparison:
    """Baseline vs reform on a cohort fact table (vectorised): transitions, flipped rows, and for each
    rule the number of changed rows in which it fires under one policy and not the other."""
    import pandas as pd

    from .cohort import evaluate_cohort

    base = g if g is not None else load_guideline()
    reformed = apply_reform(reform, base)
    a = evaluate_cohort(df, g=base, rules=True)
    b = evaluate_cohort(df, g=reformed, rules=True)
    changed = ((a["outcome"].astype(str) != b["outcome"].astype(str))
               | (a["approved_visits"] != b["approved_visits"]) | (a["referral"] != b["referral"]))
    causes = {}
    for rid in [c for c in a.columns if c.startswith("rule.")]:
        in_b = b[rid] if rid in b.columns else False
        n = int(((a[rid] != in_b) & changed).sum())
        if n:
            causes[rid] = n
    table = pd.DataFrame({"baseline": a["outcome"].astype(str), "reform": b["outcome"].astype(str),
                          "baseline_visits": a["approved_visits"], "reform_visits": b["approved_visits"],
                          "changed": changed})
    transitions = pd.crosstab(pd.Categorical(table["baseline"], OUTCOME_ORDER),
                              pd.Categorical(table["reform"], OUTCOME_ORDER), dropna=False,
                              rownames=["baseline"], colnames=["reform"])
    flipped = list(table.index[table["baseline"] != table["reform"]])
    return Comparison(table, transitions, flipped, causes)
