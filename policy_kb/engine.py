"""The determination engine: case -> facts -> rules -> outcome, dosage, referral, actions, reasons.

Outcome precedence (case-format spec): any deny -> denied; else any limit -> partially approved with
the dosage lowered to the tightest cap; else approved. Any refer sets the referral. A rule overridden
by another rule that fired is reported as governed and does not count.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

import networkx as nx

from .case import Case, parse_case
from .facts import COUNTED, CaseFacts, case_facts
from .kb import load_guideline
from .rulebook import EFFECTS, PARAMETER_LIST, RULE_LIST, full_condition, rule_reads, Rule, Rulebook, derive, evaluate, expression_names

_BOOKS: "WeakKeyDictionary[nx.MultiDiGraph, Rulebook]" = WeakKeyDictionary()


class ParameterError(ValueError):
    """An unknown parameter name or a value of the wrong type."""


def rulebook(g: nx.MultiDiGraph | None = None) -> Rulebook:
    """The compiled rulebook of a knowledge graph (cached per graph)."""
    g = g if g is not None else load_guideline()
    book = _BOOKS.get(g)
    if book is not None:
        return book
    head = g.nodes[RULE_LIST]
    params = {d["name"]: {"value": d["value"], "unit": d["unit"], "source": d["param_source"], "cites": d["cites"],
                          "description": d.get("notes", "")}
              for _, d in g.nodes(data=True) if d.get("kind") == "parameter"}
    derived = [(d["name"], d["expr"], compile(d["expr"], d["name"], "eval")) for d in head["derived"]]
    order = {n: i for i, n in enumerate(n for n, d in g.nodes(data=True)
                                        if d["kind"] == "rule" and not d.get("disabled"))}  # a reform may disable
    rules = []
    for n in sorted(order, key=order.get):
        d = g.nodes[n]
        cap = d.get("cap") or None
        when = full_condition(d)
        ps, fs = rule_reads(d, head["derived"], set(params))
        rules.append(Rule(
            id=n, label=d["label"], section=d["section"], effect=d["effect"], when=when,
            code=compile(when, n, "eval"),
            implements=[v for _, v, r in g.out_edges(n, data="relation") if r == "implements"],
            message=d["message"], actions=list(d.get("actions") or []),
            overrides=[v for _, v, r in g.out_edges(n, data="relation") if r == "overrides" and v in order],
            cap=cap, urgency=d.get("urgency"),
            urgent_when=compile(d["urgent_when"], n, "eval") if d.get("urgent_when") else None,
            urgent_when_src=d.get("urgent_when"), documentation=d.get("documentation"),
            reads=sorted(ps), reads_facts=sorted(fs)))
    constraints = [(c["expr"], c["why"], compile(c["expr"], "constraint", "eval"))
                   for c in g.nodes[PARAMETER_LIST].get("constraints", [])]
    book = Rulebook(rules, derived, params, head["listing_precedence"], head["checklist"], g.graph["kb_version"],
                    constraints)
    if nx.is_frozen(g):
        _BOOKS[g] = book
    return book


def check_parameters(book: Rulebook, overrides: dict[str, Any] | None) -> dict[str, float]:
    """Parameter values with overrides; raises ParameterError naming the parameter and what is allowed."""
    out = {}
    for k, v in (overrides or {}).items():
        if k not in book.parameters:
            raise ParameterError(f"parameters.{k}: unknown parameter; allowed: {', '.join(sorted(book.parameters))}")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise ParameterError(f"parameters.{k}: {v!r} is not a number") from None
        if v < 0 or math.isnan(v):
            raise ParameterError(f"parameters.{k}: {v!r} must be a number >= 0")
        if k in _cap_parameters(book) and (v < 1 or v != int(v)):
            raise ParameterError(f"parameters.{k}: {v!r} caps the approved dosage; allowed: a whole number >= 1")
        out[k] = v
    values = book.values(out)
    for expr, why, code in book.constraints:
        if not evaluate(code, dict(values)):
            shown = ", ".join(f"{n}={values[n]:g}" for n in sorted(expression_names(expr)))
            raise ParameterError(f"parameters: {expr} must hold ({why}); got {shown}")
    return values


def _cap_parameters(book: Rulebook) -> set[str]:
    return {p for r in book.rules for p in (r.cap or {}).values()}


@dataclass
class Reason:
    rule: str
    section: str
    effect: str
    because: str
    source: str
    governed_by: str | None = None
    implements: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    parameters: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # ids of the case's finding listings the rule counted


# which listings each finding counter counts: fact name -> (kind, how it applies)
COUNTED_LISTINGS = {counter: (kind, applies) for kind, applies, counter, _ in COUNTED} | {
    "n_red_unaddressed": ("red_flag", "unaddressed"),
    "n_red_urgent_unaddressed": ("red_flag", "unaddressed"),
    "n_red_addressed": ("red_flag", "addressed"),
}


@dataclass
class Determination:
    case_id: str
    outcome: str
    requested: dict[str, int]
    approved: dict[str, int]
    referral: dict[str, Any]
    actions: list[str]
    stage: str
    reasons: list[Reason]
    parameters: dict[str, dict]
    kb_version: str
    findings: list[dict] = field(default_factory=list)

    @property
    def deciding(self) -> list[Reason]:
        """The reasons that decide the outcome (deny for denied, limit for partial, support for approved)."""
        want = {"denied": "deny", "partially_approved": "limit", "approved": "support"}[self.outcome]
        return [r for r in self.reasons if r.effect == want and r.governed_by is None]

    def to_json(self, detail: bool = False) -> dict:
        """The JSON object of the case-format spec (detail=True adds facts, implements, findings)."""
        reasons = []
        for r in self.reasons:
            item = {"rule": r.rule, "section": r.section, "effect": r.effect, "because": r.because, "source": r.source}
            if r.governed_by:
                item["governed_by"] = r.governed_by
            if detail:
                item.update(implements=r.implements, facts=r.facts, parameters=r.parameters)
            reasons.append(item)
        out = {"case_id": self.case_id, "outcome": self.outcome, "requested": self.requested,
               "approved": self.approved, "referral": self.referral, "actions": self.actions,
               "stage": self.stage, "reasons": reasons, "parameters": self.parameters, "kb_version": self.kb_version}
        if detail:
            out["findings"] = self.findings
        return out


class _Fmt(dict):
    def __missing__(self, key):
        return "?"


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "not measured" if math.isnan(v) else f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) if v else "none"
    if v is None:
        return "none"
    return str(v)


def _stage(ns: dict) -> str:
    for s in ("acute", "sub_acute", "chronic"):
        if bool(ns[s]):
            return s
    return "unknown"


def evaluate_rules(book: Rulebook, ns: dict[str, Any]) -> dict[str, bool]:
    """Which rules fire on a namespace of scalar facts + parameters (derived facts added in place)."""
    derive(book, ns)
    return {r.id: bool(evaluate(r.code, ns)) for r in book.rules}


OUTCOMES = ("approved", "partially_approved", "denied")  # index = outcome code of combine()


@dataclass
class Combined:
    """Outcome, dosage and referral of one case (scalars) or of a cohort (numpy arrays, one entry per case)."""

    counting: dict[str, Any]   # rule id -> fired and not overridden by another rule that fired
    outcome: Any               # code: index into OUTCOMES
    weeks: Any
    visits_per_week: Any
    visits: Any
    referral: Any              # a counting refer rule
    urgent: Any                # ... whose urgency is urgent or whose urgent_when holds


def _or(a: Any, b: Any) -> Any:
    return a | b


def _is_array(v: Any) -> bool:
    """A numpy array? Without importing numpy: one case never needs it (a shorter CLI start-up)."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(v, np.ndarray)


def _truth(v: Any) -> Any:
    """bool() of a scalar; element-wise truth of a column (as bool(); NaN counts as true, like bool(nan))."""
    return v.astype(bool, copy=False) if _is_array(v) else bool(v)


def _where(cond: Any, a: Any, b: Any) -> Any:
    if _is_array(cond) or _is_array(a) or _is_array(b):
        import numpy as np
        return np.where(cond, a, b)
    return a if cond else b


def combine(book: Rulebook, fired: dict[str, Any], values: dict[str, float], requested_weeks: Any,
            requested_visits_per_week: Any, ns: dict[str, Any]) -> Combined:
    """Combine fired rules into outcome, dosage and referral; the same code for one case and for a cohort.

    `fired` maps every rule id to a bool (one case) or a numpy bool array (a cohort); `requested_*`
    are ints or int arrays; `ns` holds the facts, derived facts and parameters (for urgent_when).
    A fired rule overridden by another fired rule does not count. Any counting deny -> denied,
    dosage 0; else any counting limit -> partially approved, weeks and visits per week lowered to
    the tightest cap of the counting limit rules; else approved as requested. Any counting refer
    rule recommends a referral, urgent if the rule is urgent or its urgent_when holds.
    """
    overridden_by: dict[str, list[str]] = {}
    for s in book.rules:
        for o in s.overrides:
            overridden_by.setdefault(o, []).append(s.id)
    counting: dict[str, Any] = {}
    for r in book.rules:
        c = fired[r.id]
        for s in overridden_by.get(r.id, ()):
            c = c & (fired[s] == False)  # noqa: E712 - works on bools and on numpy columns
        counting[r.id] = c
    deny = limit = referral = urgent = False
    weeks, vpw = requested_weeks, requested_visits_per_week
    for r in book.rules:
        c = counting[r.id]
        if r.effect == "deny":
            deny = _or(deny, c)
        elif r.effect == "limit":
            limit = _or(limit, c)
            cap = r.cap or {}
            if "weeks" in cap:
                cw = int(values[cap["weeks"]])
                weeks = _where(c & (weeks > cw), cw, weeks)
            if "visits_per_week" in cap:
                cv = int(values[cap["visits_per_week"]])
                vpw = _where(c & (vpw > cv), cv, vpw)
        elif r.effect == "refer":
            referral = _or(referral, c)
            if r.urgency == "urgent":
                urgent = _or(urgent, c)
            elif r.urgent_when is not None:
                urgent = _or(urgent, c & _truth(evaluate(r.urgent_when, ns)))
    outcome = _where(deny, 2, _where(limit, 1, 0))
    weeks = _where(deny, 0, weeks)
    vpw = _where(deny, 0, vpw)
    return Combined(counting, outcome, weeks, vpw, weeks * vpw, referral, urgent)


def determine(case: Case | dict, parameters: dict[str, Any] | None = None,
              g: nx.MultiDiGraph | None = None) -> Determination:
    """Judge one treatment submission by the guideline and say why.

    `parameters` overrides named parameters for this call (what-if); `g` a knowledge graph other
    than the default (e.g. a reform). Raises CaseError / ParameterError on bad input.
    """
    g = g if g is not None else load_guideline()
    book = rulebook(g)
    if not isinstance(case, Case):
        case = parse_case(case)
    values = check_parameters(book, parameters)
    cf = case_facts(case, g, book.listing_precedence)
    ns: dict[str, Any] = dict(values)
    ns.update(cf.record)
    fired = evaluate_rules(book, ns)
    return _assemble(case, book, values, ns, fired, cf, g)


def _assemble(case: Case, book: Rulebook, values: dict, ns: dict, fired: dict[str, bool], cf: CaseFacts,
              g: nx.MultiDiGraph) -> Determination:
    hits = [r for r in book.rules if fired[r.id]]
    hit_ids = {r.id for r in hits}
    governed: dict[str, str] = {}  # for the explanation only; what counts is decided by combine()
    for r in hits:
        for o in r.overrides:
            if o in hit_ids:
                governed.setdefault(o, r.id)
    req = case.requested
    c = combine(book, fired, values, req["weeks"], req["visits_per_week"], ns)
    counting = [r for r in hits if c.counting[r.id]]
    stage = _stage(ns)
    outcome = OUTCOMES[int(c.outcome)]
    approved = {"visits": int(c.visits), "weeks": int(c.weeks), "visits_per_week": int(c.visits_per_week)}
    referral = {"recommended": bool(c.referral),
                "urgency": ("urgent" if bool(c.urgent) else "routine") if bool(c.referral) else None}
    # messages
    fmt = _Fmt({k: _text(v) for k, v in ns.items()})
    fmt.update({k: _text(v) for k, v in cf.details.items()})
    for key in ("purposes", "covered_purposes", "noncovered_purposes", "limited_trial_reasons",
                "progress", "function_scores"):
        fmt[f"{key}_text"] = _text([p.replace("_", " ") for p in cf.details.get(key, [])])
    fmt["stage"] = stage.replace("_", "-")
    if stage in ("acute", "sub_acute"):  # the stage depends on parameters, so it joins the reasons here
        fmt["limited_trial_reasons_text"] = _text([f"{fmt['stage']} stage"] + cf.details["limited_trial_reasons"])
    fmt["red_flag_urgency"] = referral["urgency"] or "routine"
    extra_absolute = [cf.details["vitals_fever_text"]] if bool(ns.get("fever_by_vitals")) else []
    extra_red = extra_absolute + ([cf.details["vitals_weight_loss_text"]] if bool(ns.get("weight_loss_by_vitals"))
                                  and cf.details["vitals_weight_loss_text"] else [])
    fmt["general_absolute_labels"] = _text(cf.details["general_absolute_labels"] + extra_absolute)
    fmt["red_flags_unaddressed_labels"] = _text(cf.details["red_flags_unaddressed_labels"] + extra_red)
    rank = {e: i for i, e in enumerate(EFFECTS)}
    order = {r.id: i for i, r in enumerate(book.rules)}
    reasons = []
    for r in sorted(hits, key=lambda r: (r.id in governed, rank[r.effect], order[r.id])):
        src = "assumption" if any(book.parameters[p]["source"] == "assumption" for p in r.reads) else "guideline"
        facts = {f: ns[f] for f in r.reads_facts if f in ns}
        wanted = {COUNTED_LISTINGS[f] for f in r.reads_facts if f in COUNTED_LISTINGS and ns.get(f)}
        counted = [n for f in cf.findings for n, a in f.active.items() if (g.nodes[n]["kind"], a) in wanted]
        reasons.append(Reason(r.id, r.section, r.effect, r.message.format_map(fmt), src, governed.get(r.id),
                              r.implements, {k: _jsonable(v) for k, v in facts.items()}, r.reads, counted))
    actions: list[str] = []
    for r in sorted(counting, key=lambda r: rank[r.effect]):
        for a in r.actions:
            if a not in actions:
                actions.append(a)
    read = sorted({p for r in book.rules for p in r.reads})
    decisive = {p for r in counting for p in r.reads}
    params = {p: {"value": values[p], "unit": book.parameters[p]["unit"], "source": book.parameters[p]["source"],
                  "cites": book.parameters[p]["cites"], "decisive": p in decisive} for p in read}
    findings = [{"label": f.label, "resolved": f.nodes, "listings": f.listings, "active": f.active,
                 "governing": f.governing, "why": f.governing_why, "addressed": f.addressed,
                 "in_treated_region": f.in_treated_region} for f in cf.findings]
    return Determination(case.id, outcome, dict(req), approved, referral, actions, stage, reasons, params,
                         book.kb_version, findings)


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v
