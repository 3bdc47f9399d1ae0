"""Why a determination is what it is: justification tree, reviewer's checklist, counterfactuals,
contingent answers, and the knowledge-graph subgraph the determination used."""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

import networkx as nx

from .case import Case, case_to_dict, parse_case
from .engine import Determination, determine, rulebook
from .kb import load_guideline

OUTCOME_RANK = {"denied": 0, "partially_approved": 1, "approved": 2}


def justification(det: Determination, g: nx.MultiDiGraph | None = None) -> dict:
    """outcome <- rules that fired <- facts of the case and the guideline items they rest on."""
    g = g if g is not None else load_guideline()
    children = []
    for r in det.reasons:
        children.append({
            "rule": r.rule, "effect": r.effect, "because": r.because, "section": r.section, "source": r.source,
            "governed_by": r.governed_by,
            "facts": r.facts,
            "parameters": {p: det.parameters[p]["value"] for p in r.parameters if p in det.parameters},
            "guideline_items": [{"id": i, "label": g.nodes[i]["label"], "section": g.nodes[i]["section"]}
                                for i in r.implements],
            "case_findings": [{"id": i, "label": g.nodes[i]["label"], "section": g.nodes[i]["section"]}
                              for i in r.findings],
        })
    return {"outcome": det.outcome, "case_id": det.case_id, "approved": det.approved, "referral": det.referral,
            "reasons": children}


def render_text(det: Determination, g: nx.MultiDiGraph | None = None, tree: bool = False) -> str:
    """Plain sentences: outcome, dosage, referral, then each reason with its citation."""
    g = g if g is not None else load_guideline()
    req, app = det.requested, det.approved
    lines = [f"{det.case_id}: {det.outcome.replace('_', ' ').upper()}",
             f"  requested {req['visits']} visits ({req['visits_per_week']}/week for {req['weeks']} weeks); "
             f"approved {app['visits']} visits ({app['visits_per_week']}/week for {app['weeks']} weeks)",
             f"  stage: {det.stage.replace('_', '-')}"]
    ref = det.referral
    lines.append(f"  referral: {'recommended, ' + ref['urgency'] if ref['recommended'] else 'not recommended'}")
    if det.actions:
        lines.append(f"  actions: {', '.join(a.replace('_', ' ') for a in det.actions)}")
    lines.append("  because:")
    for r in det.reasons:
        gov = f" [governed by {r.governed_by}]" if r.governed_by else ""
        lines.append(f"  - ({r.effect}) {r.because} [{r.section}]{' (uses an assumption)' if r.source == 'assumption' else ''}{gov}")
        if tree:
            for k, v in r.facts.items():
                lines.append(f"      fact {k} = {v}")
            for p in r.parameters:
                pp = det.parameters.get(p)
                if pp:
                    lines.append(f"      parameter {p} = {pp['value']:g} {pp['unit']} ({pp['source']}; {pp['cites']})")
            for i in r.findings:
                lines.append(f"      finding: {g.nodes[i]['label']} [{g.nodes[i]['section']}]")
            for i in r.implements:
                lines.append(f"      guideline: {g.nodes[i]['label']} [{g.nodes[i]['section']}]")
    for f in det.findings:
        if len(f["listings"]) > 1 and f["governing"]:
            others = [x for x in f["listings"] if x != f["governing"]]
            lines.append(f"  finding {f['label']!r} is listed {len(f['listings'])} times; governing: "
                         f"{_listing(g, f['governing'], f['label'])} ({f['why']}); also: "
                         + "; ".join(_listing(g, o, f["label"]) for o in others))
    assumed = [f"{k}={v['value']:g}" for k, v in det.parameters.items() if v["source"] == "assumption" and v["decisive"]]
    if assumed:
        lines.append("  assumptions used by deciding rules: " + ", ".join(assumed))
    return "\n".join(lines)


def _listing(g: nx.MultiDiGraph, node: str, label: str) -> str:
    """'red flag under Present Complaint', with the item's label when it differs from the finding's words."""
    d = g.nodes[node]
    text = f"{d['kind'].replace('_', ' ')} under '{d['section'].split(' > ')[-1]}'"
    return text if d["label"].lower() == label.lower() else f"{text} '{d['label']}'"


def subgraph(det: Determination, g: nx.MultiDiGraph | None = None) -> nx.MultiDiGraph:
    """The part of the knowledge graph the determination rests on: rules fired, items, parameters, findings."""
    g = g if g is not None else load_guideline()
    keep = set()
    for r in det.reasons:
        keep.add(r.rule)
        keep.update(r.implements)
        keep.update(f"parameter.{p}" for p in r.parameters)
        keep.update(r.findings)
    for f in det.findings:
        keep.update(f["listings"])
    return g.subgraph(n for n in keep if n in g)


@dataclass
class ChecklistRow:
    criterion: str
    number: int
    label: str
    status: str  # met | not_met | not_documented
    why: str


def checklist(det: Determination, g: nx.MultiDiGraph | None = None) -> list[ChecklistRow]:
    """Each medical-necessity criterion: met / not met / not documented, and why (InterQual style)."""
    g = g if g is not None else load_guideline()
    book = rulebook(g)
    fired = {r.rule: r for r in det.reasons if r.governed_by is None}
    fired_all = {r.rule: r for r in det.reasons}
    rows = []
    for entry in book.checklist:
        c = entry["criterion"]
        nm = [fired_all[x] for x in entry["not_met"] if x in fired_all]
        nd = [fired_all[x] for x in entry["not_documented"] if x in fired_all]
        if nm:
            status, why = "not_met", " ".join(r.because for r in nm)
        elif nd:
            status, why = "not_documented", " ".join(r.because for r in nd)
        else:
            support = [r.because for r in fired.values() if r.effect == "support" and c in r.implements]
            status, why = "met", " ".join(support) or "No rule found this criterion unmet in the submitted documentation."
        d = g.nodes[c]
        rows.append(ChecklistRow(c, int(d.get("number", 0)), d["label"], status, why))
    return rows


@dataclass
class Counterfactual:
    change: str
    edits: list[tuple[str, Any]]
    outcome: str
    approved: dict
    referral: dict


def _edits(case: Case, det: Determination) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Candidate changes a practitioner could make: document what is missing, address a red flag,
    drop a contraindicated modality, request the dosage the guideline supports."""
    book = rulebook()
    out = []
    fired = {r.rule for r in det.reasons}
    for r in book.rules:
        if r.id in fired and r.documentation:
            key = r.documentation
            if key == "estimated_discharge_date":
                later = case.review_date + dt.timedelta(weeks=4)
                out.append(("the estimated release date is documented",
                            [("documentation.estimated_discharge_date", str(later))]))
            elif key == "onset_date":
                continue  # a date cannot be invented
            elif key == "outcomes":
                continue
            elif key == "exacerbation_documented":
                out.append(("the exacerbation is clearly documented", [("episode.exacerbation_documented", True)]))
            elif key == "measurable_goals":
                edits = [("documentation.measurable_goals", True)]
                if not case.plan.goals:
                    edits.append(("plan.goals", ["(a functional, measurable goal with a time frame)"]))
                out.append(("measurable functional goals are documented", edits))
            else:
                out.append((f"{key.replace('_', ' ')} is documented", [(f"documentation.{key}", True)]))
    for i, f in enumerate(case.findings):
        if not f.addressed and any(x["label"] == f.label and any(k.startswith("red_flag") for k in x["active"])
                                   for x in det.findings):
            out.append((f"the red flag {f.label!r} is documented as addressed", [(f"findings.{i}.addressed", True)]))
    if case.plan.modalities and "exclude_modality" in det.actions:
        out.append(("the contraindicated modality is dropped", [("plan.modalities", [])]))
    if det.outcome == "partially_approved":
        a = det.approved
        out.append((f"{a['weeks']} weeks at {a['visits_per_week']}/week are requested",
                    [("plan.weeks", a["weeks"]), ("plan.visits_per_week", a["visits_per_week"])]))
    if not case.episode.complies_with_plan and "rule.continued.not_complying" in fired:
        out.append(("adherence to the plan (or extenuating circumstances) is documented", [("episode.complies_with_plan", True)]))
    return out


def _apply(data: dict, edits: list[tuple[str, Any]]) -> dict:
    """A copy of case data with dotted-path edits applied."""
    data = copy.deepcopy(data)
    for path, value in edits:
        cur = data
        keys = path.split(".")
        for k in keys[:-1]:
            cur = cur[int(k)] if k.isdigit() else cur.setdefault(k, {})
        cur[int(keys[-1]) if isinstance(cur, list) else keys[-1]] = value
    return data


def _as_objects(data: dict) -> dict:
    data["findings"] = [f if isinstance(f, dict) else {"label": f} for f in data.get("findings", [])]
    return data


def counterfactuals(case: Case | dict, parameters: dict | None = None, max_pairs: int = 30,
                    base: Determination | None = None) -> list[Counterfactual]:
    """The smallest changes to a non-approved case that change its outcome, each checked by re-running.
    `base` is the case's determination under `parameters`, when the caller already has it."""
    case = case if isinstance(case, Case) else parse_case(case)
    base = base or determine(case, parameters)
    if base.outcome == "approved":
        return []
    data = _as_objects(case_to_dict(case))
    cands = _edits(case, base)
    found: list[Counterfactual] = []

    def run(desc, edits):
        det = determine(parse_case(_apply(data, edits)), parameters)
        if OUTCOME_RANK[det.outcome] > OUTCOME_RANK[base.outcome]:
            found.append(Counterfactual(desc, edits, det.outcome, det.approved, det.referral))
            return True
        return False

    singles_ok = [run(d, e) for d, e in cands]
    if not any(singles_ok):  # no single change helps: try pairs, then all together
        tried = 0
        for i in range(len(cands)):
            for j in range(i + 1, len(cands)):
                if tried >= max_pairs:
                    break
                tried += 1
                run(f"{cands[i][0]} and {cands[j][0]}", cands[i][1] + cands[j][1])
        if not found and len(cands) > 2:
            run("all of: " + "; ".join(d for d, _ in cands), [e for _, es in cands for e in es])
    return found


def contingencies(case: Case | dict, parameters: dict | None = None,
                  base: Determination | None = None) -> list[dict]:
    """For each deciding fact that is not documented: the outcome as documented and if it were."""
    case = case if isinstance(case, Case) else parse_case(case)
    base = base or determine(case, parameters)
    data = _as_objects(case_to_dict(case))
    out = []
    for desc, edits in _edits(case, base):
        if not any(p.startswith(("documentation.", "episode.exacerbation", "findings.")) for p, _ in edits):
            continue
        det = determine(parse_case(_apply(data, edits)), parameters)
        out.append({"if": desc, "as_documented": base.outcome, "otherwise": det.outcome,
                    "sentence": f"{base.outcome.replace('_', ' ')} as documented; {det.outcome.replace('_', ' ')} if {desc}"})
    return out
