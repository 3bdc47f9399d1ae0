"""Case -> facts: the flat record of scalars every rule reads (and, for messages, the labels behind them).

Base facts do not depend on parameters; facts that do (stage, MCID met, fever over the threshold)
are derived by the expressions in rules.yaml, so a what-if on a parameter re-derives them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from .case import COVERED_PURPOSES, DOCUMENTED_KEYS, EPISODE_FLAGS, SPINAL_REGIONS, Case, CaseError
from .query import FINDING_KINDS, LabelError, find

NAN = math.nan
INSTRUMENTS = ("NPRS", "NDI", "ODI", "DASH", "QuickDASH", "LEFS", "PSFS")
FUNCTION_OTHER = ("DASH", "QuickDASH", "LEFS", "PSFS")
WELLNESS = ("stress_management", "general_wellness", "sports_performance")
TRAUMA_FLAGS = ("red_flag.history.significant_trauma", "red_flag.present_complaint.precipitation_by_significant_trauma")

# name -> (type, meaning). The cohort table has one column per name; rules may read only these,
# the derived facts and the parameters (checked by `policy-kb validate`).
FACTS: dict[str, tuple[str, str]] = {
    "is_continued": ("bool", "submission is for additional / continued care"),
    "weeks_since_onset": ("float", "weeks from onset (or from the exacerbation, which restarts the clock) to the review date; NaN if undocumented"),
    "has_exacerbation": ("bool", "an exacerbation date is given"),
    "mild": ("bool", "severity rated mild"),
    "severe": ("bool", "severity rated severe"),
    "radiates_below_knee_or_elbow": ("bool", "pain radiates below the knee or elbow (possible neurological involvement)"),
    "spinal": ("bool", "a treated region is spinal"),
    "prior_episodes": ("int", "prior episodes of the condition"),
    "n_comorbidities": ("int", "co-morbid conditions listed"),
    "significant_trauma": ("bool", "a significant-trauma red flag is among the findings"),
    "requested_weeks": ("int", "weeks requested"),
    "requested_visits_per_week": ("int", "visits per week requested"),
    "requested_visits": ("int", "visits requested"),
    "licensed": ("bool", "practitioner licensed/registered/certified for therapeutic massage"),
    "practitioner_other": ("bool", "practitioner type is not one ASH contracts for massage"),
    "n_covered_purposes": ("int", "covered purposes given"),
    "n_noncovered_purposes": ("int", "non-covered purposes given"),
    "purpose_convenience": ("bool", "convenience is a purpose"),
    "purpose_wellness": ("bool", "stress management, general wellness or sports performance is a purpose"),
    "purpose_preventive": ("bool", "preventive is a purpose"),
    "purpose_maintenance": ("bool", "maintenance is a purpose"),
    "n_general_absolute": ("int", "general absolute contraindications among the findings"),
    "n_local_absolute_treated": ("int", "local absolute contraindications in a treated region"),
    "n_local_absolute_other": ("int", "local absolute contraindications outside the treated regions"),
    "n_local_relative_treated": ("int", "local relative contraindications in a treated region"),
    "n_general_relative": ("int", "general relative contraindications"),
    "n_red_unaddressed": ("int", "red-flag findings not documented as addressed"),
    "n_red_urgent_unaddressed": ("int", "of those, findings whose listing calls for urgent referral"),
    "n_red_addressed": ("int", "red-flag findings documented as addressed"),
    "n_yellow": ("int", "yellow flags"),
    "n_modality_contraindication": ("int", "contraindications to a planned modality"),
    "n_modality_precaution": ("int", "precautions for a planned modality"),
    "temperature_f": ("float", "measured temperature, NaN if not measured"),
    "weight_loss_lb": ("float", "unintended weight loss in 6 months, NaN if not measured"),
    "weight_loss_flag_addressed": ("bool", "the red flag 'Unintended weight loss' is listed as addressed"),
    "n_trajectories": ("int", "outcome instruments scored at least twice"),
    "other_function_deficit_fraction": ("float", "smallest latest deficit on DASH/QuickDASH/LEFS/PSFS as a fraction of the scale"),
    "n_goals": ("int", "goals listed in the plan"),
    "discharge_date_documented": ("bool", "documentation: estimated discharge date after the review date"),
    "visits_completed": ("int", "visits completed in the episode"),
}
for _key in DOCUMENTED_KEYS:
    FACTS[f"doc_{_key}"] = ("bool", f"documentation: {_key.replace('_', ' ')}")
for _key in EPISODE_FLAGS:
    FACTS[_key] = ("bool", f"episode: {_key.replace('_', ' ')}")
for _inst in INSTRUMENTS:
    _k = _inst.lower()
    FACTS[f"{_k}_first"] = ("float", f"earliest {_inst} score, NaN if none")
    FACTS[f"{_k}_last"] = ("float", f"latest {_inst} score, NaN if none")
    FACTS[f"{_k}_improvement"] = ("float", f"{_inst} change from earliest to latest, positive = better; NaN unless scored twice")


# (listing kind, how it applies, the fact it counts into, the message label list it adds to)
COUNTED = (
    ("general_absolute_contraindication", "always", "n_general_absolute", "general_absolute"),
    ("local_absolute_contraindication", "in_treated_region", "n_local_absolute_treated", "local_absolute_treated"),
    ("local_absolute_contraindication", "outside_treated_region", "n_local_absolute_other", "local_absolute_other"),
    ("local_relative_contraindication", "in_treated_region", "n_local_relative_treated", "relative"),
    ("general_relative_contraindication", "always", "n_general_relative", "relative"),
    ("yellow_flag", "always", "n_yellow", "yellow_flags"),
    ("modality_contraindication", "planned_modality", "n_modality_contraindication", "modality_contraindication"),
    ("modality_precaution", "planned_modality", "n_modality_precaution", "modality_precaution"),
)


@dataclass
class ResolvedFinding:
    """One finding of the case, with every listing of it in the guideline."""

    label: str
    addressed: bool
    region: str | None
    in_treated_region: bool
    nodes: list[str]                       # what the label resolved to
    listings: list[str]                    # nodes + their also_listed_as cross-listings
    active: dict[str, str] = field(default_factory=dict)  # listing id -> how it applies (precedence 'applies')
    governing: str | None = None
    governing_why: str = ""


@dataclass
class CaseFacts:
    record: dict[str, Any]
    details: dict[str, Any]
    findings: list[ResolvedFinding]


def _weeks(a, b) -> float:
    return (b - a).days / 7.0


def _applies(g: nx.MultiDiGraph, node: str, f: "ResolvedFinding", modalities: set[str]) -> str:
    kind = g.nodes[node]["kind"]
    if kind == "red_flag":
        return "addressed" if f.addressed else "unaddressed"
    if kind in ("local_absolute_contraindication", "local_relative_contraindication"):
        return "in_treated_region" if f.in_treated_region else "outside_treated_region"
    if kind in ("modality_contraindication", "modality_precaution"):
        targets = {v for _, v, r in g.out_edges(node, data="relation") if r in ("contraindicates", "precaution_for")}
        parent_targets = set()
        for _, p, r in g.out_edges(node, data="relation"):
            if r == "part_of":
                parent_targets |= {v for _, v, r2 in g.out_edges(p, data="relation") if r2 in ("contraindicates", "precaution_for")}
        mods = {t.split(".", 1)[1] for t in targets | parent_targets if t.startswith("modality.")}
        return "planned_modality" if mods & modalities else "modality_not_planned"
    return "always"


def resolve_findings(case: Case, g: nx.MultiDiGraph, precedence: list[dict]) -> list[ResolvedFinding]:
    treated = set(case.condition.regions) | {r for s in case.plan.services for r in s.regions}
    modalities = set(case.plan.modalities)
    out = []
    for i, f in enumerate(case.findings):
        try:
            nodes = find(g, f.label, kind=f.kind, kinds=FINDING_KINDS)
        except LabelError as exc:
            cands = "; ".join(f"{lab!r} ({kind})" for _, kind, lab in exc.candidates[:5])
            hint = f"; candidates: {cands}" if cands else ""
            raise CaseError(f"findings.{i}", f"{exc}{'' if 'closest' in str(exc) or 'ambiguous' in str(exc) else hint}") from None
        in_treated = f.region is None or f.region in treated
        listings = list(nodes)
        for n in nodes:
            for _, v, rel in g.out_edges(n, data="relation"):
                if rel == "also_listed_as" and v not in listings and g.nodes[v]["kind"] in FINDING_KINDS:
                    listings.append(v)
        rf = ResolvedFinding(f.label, f.addressed, f.region, in_treated, nodes, listings)
        for n in listings:
            applies = _applies(g, n, rf, modalities)
            # the resolved listing always applies with its own kind; cross-listed red flags apply too
            if n in nodes or g.nodes[n]["kind"] == "red_flag":
                rf.active[n] = applies
        for p in precedence:
            hit = [n for n, a in rf.active.items() if g.nodes[n]["kind"] == p["kind"] and a == p["applies"]]
            if hit:
                rf.governing, rf.governing_why = hit[0], p["why"]
                break
        out.append(rf)
    return out


def case_facts(case: Case, g: nx.MultiDiGraph, precedence: list[dict]) -> CaseFacts:
    """The base facts of a case (no parameters needed) and the labels behind them."""
    c = case.condition
    start = c.exacerbation_date or c.onset_date
    treated = set(c.regions) | {r for s in case.plan.services for r in s.regions}
    r: dict[str, Any] = {
        "is_continued": case.submission == "continued",
        "weeks_since_onset": _weeks(start, case.review_date) if start else NAN,
        "has_exacerbation": c.exacerbation_date is not None,
        "mild": c.severity == "mild",
        "severe": c.severity == "severe",
        "radiates_below_knee_or_elbow": c.radiates_below_knee_or_elbow,
        "spinal": bool(treated & set(SPINAL_REGIONS)),
        "prior_episodes": c.prior_episodes,
        "n_comorbidities": len(case.comorbidities),
        "requested_weeks": case.plan.weeks,
        "requested_visits_per_week": case.plan.visits_per_week,
        "requested_visits": case.plan.weeks * case.plan.visits_per_week,
        "licensed": case.practitioner.licensed,
        "practitioner_other": case.practitioner.type == "other",
        "n_covered_purposes": sum(p in COVERED_PURPOSES for p in set(case.purposes)),
        "n_noncovered_purposes": sum(p not in COVERED_PURPOSES for p in set(case.purposes)),
        "purpose_convenience": "convenience" in case.purposes,
        "purpose_wellness": any(p in WELLNESS for p in case.purposes),
        "purpose_preventive": "preventive" in case.purposes,
        "purpose_maintenance": "maintenance" in case.purposes,
        "temperature_f": case.vitals.temperature_f if case.vitals.temperature_f is not None else NAN,
        "weight_loss_lb": case.vitals.weight_loss_lbs_6mo if case.vitals.weight_loss_lbs_6mo is not None else NAN,
        "n_goals": len(case.plan.goals),
        "visits_completed": case.episode.visits_completed,
    }
    d = case.documentation
    for key in DOCUMENTED_KEYS:
        r[f"doc_{key}"] = getattr(d, key)
    r["discharge_date_documented"] = d.estimated_discharge_date is not None and d.estimated_discharge_date > case.review_date
    e = case.episode
    for key in EPISODE_FLAGS:
        r[key] = getattr(e, key)

    # outcome measures: earliest vs latest per instrument
    details: dict[str, Any] = {"progress": [], "function_scores": []}
    n_traj = 0
    other_frac = NAN
    for inst in INSTRUMENTS:
        k = inst.lower()
        node = g.nodes.get(f"outcome_measure.{k}", {})
        scores = sorted((o for o in case.outcomes if o.instrument == inst), key=lambda o: o.date)
        lo, hi = node.get("range", [NAN, NAN])
        higher_better = node.get("direction") == "higher_is_better"
        for i, o in enumerate(case.outcomes):
            if o.instrument == inst and not (lo <= o.score <= hi):
                raise CaseError(f"outcomes.{i}.score", f"{o.score:g} is outside the {inst} range {lo:g}..{hi:g}")
        if not scores:
            r[f"{k}_first"] = r[f"{k}_last"] = r[f"{k}_improvement"] = NAN
            continue
        first, last = scores[0].score, scores[-1].score
        r[f"{k}_first"], r[f"{k}_last"] = first, last
        if len(scores) >= 2 and scores[0].date < scores[-1].date:
            n_traj += 1
            r[f"{k}_improvement"] = (last - first) if higher_better else (first - last)
            details["progress"].append(f"{inst} {first:g} -> {last:g}")
        else:
            r[f"{k}_improvement"] = NAN
        if inst != "NPRS":
            details["function_scores"].append(f"{inst} {last:g}")
        if inst in FUNCTION_OTHER:
            frac = ((hi - last) if higher_better else (last - lo)) / (hi - lo)
            other_frac = frac if math.isnan(other_frac) else min(other_frac, frac)
    r["n_trajectories"] = n_traj
    r["other_function_deficit_fraction"] = other_frac

    # findings
    findings = resolve_findings(case, g, precedence)
    counts = dict.fromkeys(["n_general_absolute", "n_local_absolute_treated", "n_local_absolute_other",
                            "n_local_relative_treated", "n_general_relative", "n_red_unaddressed",
                            "n_red_urgent_unaddressed", "n_red_addressed", "n_yellow",
                            "n_modality_contraindication", "n_modality_precaution"], 0)
    labels: dict[str, list[str]] = {k: [] for k in ("general_absolute", "local_absolute_treated", "local_absolute_other",
                                                   "relative", "red_flags_unaddressed", "red_flags_addressed",
                                                   "yellow_flags", "modality_contraindication", "modality_precaution")}
    significant_trauma = weight_loss_addressed = False
    for f in findings:
        kinds_applied = {(g.nodes[n]["kind"], a): n for n, a in f.active.items()}
        where = f" ({f.region})" if f.region else ""
        for kind, applies, counter, label_key in COUNTED:
            n = kinds_applied.get((kind, applies))
            if n is not None:
                counts[counter] += 1
                labels[label_key].append(g.nodes[n]["label"] + where)
        reds = [n for n, a in f.active.items() if g.nodes[n]["kind"] == "red_flag"]
        if reds:
            if f.addressed:
                counts["n_red_addressed"] += 1
                labels["red_flags_addressed"].append(g.nodes[reds[0]]["label"])
            else:
                counts["n_red_unaddressed"] += 1
                labels["red_flags_unaddressed"].append(g.nodes[reds[0]]["label"])
                if any(g.nodes[n].get("urgency") == "urgent" for n in reds):
                    counts["n_red_urgent_unaddressed"] += 1
            if any(n in TRAUMA_FLAGS for n in reds):
                significant_trauma = True
            if "red_flag.history.unintended_weight_loss" in reds and f.addressed:
                weight_loss_addressed = True
    r.update(counts)
    r["significant_trauma"] = significant_trauma
    r["weight_loss_flag_addressed"] = weight_loss_addressed
    # measured values: the engine adds these to the messages only when they pass their thresholds
    details["vitals_fever_text"] = f"temperature {r['temperature_f']:g} F" if not math.isnan(r["temperature_f"]) else None
    details["vitals_weight_loss_text"] = (f"unintended weight loss of {r['weight_loss_lb']:g} lb in 6 months"
                                          if not math.isnan(r["weight_loss_lb"]) and not weight_loss_addressed else None)

    details.update({f"{k}_labels": v for k, v in labels.items()})
    details["purposes"] = list(case.purposes)
    details["covered_purposes"] = [p for p in case.purposes if p in COVERED_PURPOSES]
    details["noncovered_purposes"] = [p for p in case.purposes if p not in COVERED_PURPOSES]
    details["practitioner_type"] = case.practitioner.type
    details["exacerbation_date"] = str(c.exacerbation_date) if c.exacerbation_date else None
    reasons = []
    if c.severity == "severe":
        reasons.append("severe")
    if c.radiates_below_knee_or_elbow:
        reasons.append("pain radiating below the knee or elbow: possible neurological involvement")
    if significant_trauma:
        reasons.append("significant trauma")
    if case.comorbidities:
        reasons.append("co-morbidities: " + ", ".join(case.comorbidities))
    details["limited_trial_reasons"] = reasons
    missing = [k for k, v in r.items() if k not in FACTS]
    assert not missing, missing  # the FACTS table is the contract of the cohort columns
    return CaseFacts(r, details, findings)
