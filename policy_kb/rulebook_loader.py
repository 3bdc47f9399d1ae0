"""Turn rules.yaml and parameters.yaml into graph nodes, and check the rulebook against the graph."""
from __future__ import annotations

from typing import Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .rulebook import PARAMETER_LIST, RULE_LIST, check_expression, expression_names, rule_reads
from .schema import NodeEntry


class ParameterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    value: float
    unit: str
    source: Literal["guideline", "assumption"]
    cites: str
    description: str


class ParameterConstraint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expr: str
    why: str


class ParameterFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    parameters: list[ParameterEntry]
    constraints: list[ParameterConstraint] = Field(default_factory=list)


class DerivedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    expr: str
    description: str


class RuleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^rule(\.[a-z0-9_]+)+$")
    label: str
    section: str
    effect: Literal["support", "caution", "limit", "deny", "refer"]
    when: str
    implements: list[str] = Field(min_length=1)
    message: str
    actions: list[str] = Field(default_factory=list)
    overrides: list[str] = Field(default_factory=list)
    cap: dict[Literal["weeks", "visits_per_week"], str] | None = None
    urgency: Literal["routine", "urgent"] | None = None
    urgent_when: str | None = None
    documentation: str | None = None  # the documentation fact whose absence fires it (for contingent answers)


class ListingPrecedence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    applies: Literal["always", "in_treated_region", "outside_treated_region", "unaddressed", "addressed",
                     "planned_modality", "modality_not_planned"]
    why: str


class ChecklistEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    criterion: str
    not_met: list[str] = Field(default_factory=list)
    not_documented: list[str] = Field(default_factory=list)


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    derived: list[DerivedEntry]
    rules: list[RuleEntry]
    listing_precedence: list[ListingPrecedence]
    checklist: list[ChecklistEntry]


_SECTION = "(policy-kb) Executable rules"
_PSECTION = "(policy-kb) Parameters"


def _err(file: str, exc: ValidationError, raw: Any):
    from .kb import Problem, _item_at
    return [Problem(file, _item_at(raw, e["loc"]), f"{'.'.join(map(str, e['loc']))}: {e['msg']}") for e in exc.errors()]


def rule_entries(raw: dict, file: str):
    """Flattened node entries for a rules or parameters file, and the problems met."""
    if "parameters" in raw:
        try:
            doc = ParameterFile.model_validate(raw)
        except ValidationError as exc:
            return [], _err(file, exc, raw)
        head = NodeEntry(id=PARAMETER_LIST, kind="list", label=doc.title, section=_PSECTION, paraphrase=True,
                         notes="Every number a rule reads, with its source (guideline or assumption) and citation.",
                         attrs={"constraints": [c.model_dump() for c in doc.constraints]})
        out = [(head, "list", _PSECTION, "guideline", file)]
        for p in doc.parameters:
            e = NodeEntry(id=f"parameter.{p.name}", kind="parameter", label=p.name, section=_PSECTION,
                          paraphrase=True, notes=p.description,
                          relations={"threshold_of": [p.cites]},
                          attrs={"name": p.name, "value": p.value, "unit": p.unit, "param_source": p.source,
                                 "cites": p.cites})
            out.append((e, "parameter", _PSECTION, PARAMETER_LIST, file))
        return out, []
    try:
        doc = RuleFile.model_validate(raw)
    except ValidationError as exc:
        return [], _err(file, exc, raw)
    head = NodeEntry(id=RULE_LIST, kind="list", label=doc.title, section=_SECTION, paraphrase=True,
                     notes="Executable review rules; each implements guideline items and reads named parameters.",
                     attrs={"derived": [d.model_dump() for d in doc.derived],
                            "listing_precedence": [x.model_dump() for x in doc.listing_precedence],
                            "checklist": [x.model_dump() for x in doc.checklist]})
    out = [(head, "list", _SECTION, "guideline", file)]
    for r in doc.rules:
        rel = {"implements": r.implements}
        if r.overrides:
            rel["overrides"] = r.overrides
        e = NodeEntry(id=r.id, kind="rule", label=r.label, section=r.section, paraphrase=True, relations=rel,
                      attrs={"effect": r.effect, "when": r.when, "message": r.message, "actions": r.actions,
                             "cap": r.cap, "urgency": r.urgency, "urgent_when": r.urgent_when,
                             "documentation": r.documentation})
        out.append((e, "rule", r.section, RULE_LIST, file))
    return out, []


def check_rulebook(g: nx.MultiDiGraph) -> list:
    """Expressions, names, caps, precedence (acyclic, no conflicts) and checklist references."""
    from .facts import FACTS
    from .kb import Problem
    problems: list[Problem] = []
    if RULE_LIST not in g:
        return problems
    params = {d["name"] for _, d in g.nodes(data=True) if d.get("kind") == "parameter"}
    head = g.nodes[RULE_LIST]
    file = head["file"]
    known = set(FACTS) | params
    for d in head["derived"]:
        why = check_expression(d["expr"])
        if why:
            problems.append(Problem(file, f"derived {d['name']}", why))
            continue
        unknown = expression_names(d["expr"]) - known
        if unknown:
            problems.append(Problem(file, f"derived {d['name']}", f"unknown name(s) {sorted(unknown)}"))
        known.add(d["name"])
    for c in g.nodes[PARAMETER_LIST].get("constraints", []) if PARAMETER_LIST in g else []:
        why = check_expression(c["expr"])
        if why or expression_names(c["expr"]) - params:
            problems.append(Problem(g.nodes[PARAMETER_LIST]["file"], "constraints",
                                    f"{c['expr']!r}: {why or 'names only parameters'}"))
    rules = [n for n, k in g.nodes(data="kind") if k == "rule"]
    for n in rules:
        d = g.nodes[n]
        for key in ("when", "urgent_when"):
            if not d.get(key):
                continue
            why = check_expression(d[key])
            if why:
                problems.append(Problem(file, n, f"{key}: {why}"))
            elif expression_names(d[key]) - known:
                problems.append(Problem(file, n, f"{key}: unknown name(s) {sorted(expression_names(d[key]) - known)}"))
        if d["effect"] == "limit" and not d.get("cap"):
            problems.append(Problem(file, n, "a limit rule needs a cap"))
        if d["effect"] != "limit" and d.get("cap"):
            problems.append(Problem(file, n, "only limit rules have a cap"))
        for what, pname in (d.get("cap") or {}).items():
            if pname not in params:
                problems.append(Problem(file, n, f"cap {what}: no parameter {pname!r}"))
        if d["effect"] == "refer" and not d.get("urgency"):
            problems.append(Problem(file, n, "a refer rule needs an urgency"))
        for _, v, rel in g.out_edges(n, data="relation"):
            if rel == "overrides" and g.nodes[v]["kind"] != "rule":
                problems.append(Problem(file, n, f"overrides {v}, which is not a rule"))
    over = nx.DiGraph([(u, v) for u, v, r in g.edges(data="relation") if r == "overrides"])
    if over.number_of_nodes() and not nx.is_directed_acyclic_graph(over):
        cycle = nx.find_cycle(over)
        problems.append(Problem(file, cycle[0][0], f"rule precedence has a cycle: {' -> '.join(u for u, _ in cycle)}"))
    # two rules with the same condition but different effects must be ordered explicitly (unless one refers)
    by_when: dict[str, list[str]] = {}
    for n in rules:
        by_when.setdefault(" ".join(g.nodes[n]["when"].split()), []).append(n)
    for same in by_when.values():
        eff = {n: g.nodes[n]["effect"] for n in same}
        decisive = [n for n in same if eff[n] in ("deny", "limit", "support")]
        for i, a in enumerate(decisive):
            for b in decisive[i + 1:]:
                if eff[a] != eff[b] and not (over.has_edge(a, b) or over.has_edge(b, a)):
                    problems.append(Problem(file, a, f"conflicts with {b}: same condition, effects {eff[a]} and {eff[b]}, no precedence"))
    for entry in head["checklist"]:
        if entry["criterion"] not in g:
            problems.append(Problem(file, "checklist", f"no criterion {entry['criterion']!r}"))
        for rid in entry["not_met"] + entry["not_documented"]:
            if rid not in g or g.nodes[rid]["kind"] != "rule":
                problems.append(Problem(file, "checklist", f"{entry['criterion']}: no rule {rid!r}"))
    from .query import FINDING_KINDS
    for p in head["listing_precedence"]:
        if p["kind"] not in FINDING_KINDS:
            problems.append(Problem(file, "listing_precedence", f"{p['kind']} is not a finding kind"))
    return problems


def link_rules(g: nx.MultiDiGraph) -> None:
    """Once the graph is built: each parameter takes the section of the item it cites, and each rule gets a
    `reads` edge to every parameter it reads (derived from its expressions, never written by hand)."""
    params = {d["name"]: n for n, d in g.nodes(data=True) if d.get("kind") == "parameter"}
    for _, d in g.nodes(data=True):
        if d.get("kind") == "parameter" and d["cites"] in g:
            d["section"] = g.nodes[d["cites"]]["section"]
    if RULE_LIST not in g:
        return
    derived = g.nodes[RULE_LIST]["derived"]
    for n, d in list(g.nodes(data=True)):
        if d.get("kind") == "rule" and not check_expression(d["when"]):
            for p in sorted(rule_reads(d, derived, set(params))[0]):
                g.add_edge(n, params[p], key="reads", relation="reads")
