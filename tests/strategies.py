"""Hypothesis strategies for valid case files (shared by the property tests)."""
from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from policy_kb.case import COVERED_PURPOSES, NON_COVERED_PURPOSES
from policy_kb.kb import load_guideline
from policy_kb.query import FINDING_KINDS, LabelError, find

REGIONS = ["cervical", "thoracic", "lumbar", "sacroiliac", "shoulder", "elbow", "wrist_hand", "hip", "knee",
           "ankle_foot", "head", "other"]
RANGES = {"NPRS": (0, 10), "NDI": (0, 50), "ODI": (0, 100), "DASH": (0, 100), "QuickDASH": (0, 100),
          "LEFS": (0, 80), "PSFS": (0, 10)}
DOC_KEYS = ["dated_and_signed", "symptoms_described", "objective_findings", "functional_deficits", "measurable_goals",
            "individualized_plan", "home_care_instructions", "treatment_time_documented", "flags_screened"]
REVIEW = dt.date(2026, 3, 2)


def finding_labels() -> list[tuple[str, str]]:
    """(label, kind) of every finding item: each resolves to its own item when the kind is given."""
    g = load_guideline()
    out = []
    for n, d in g.nodes(data=True):
        if d["kind"] in FINDING_KINDS:
            try:
                find(g, d["label"], kind=d["kind"])
                out.append((d["label"], d["kind"]))
            except LabelError:
                pass
    return sorted(out)


FINDINGS = finding_labels()


@st.composite
def findings(draw):
    label, kind = draw(st.sampled_from(FINDINGS))
    return {"label": label, "kind": kind, "addressed": draw(st.booleans()),
            "region": draw(st.one_of(st.none(), st.sampled_from(REGIONS)))}


@st.composite
def outcomes(draw):
    inst = draw(st.sampled_from(sorted(RANGES)))
    lo, hi = RANGES[inst]
    days = draw(st.integers(0, 120))
    return {"instrument": inst, "date": str(REVIEW - dt.timedelta(days=days)),
            "score": draw(st.integers(lo, hi))}


@st.composite
def cases(draw, with_findings=True):
    regions = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=2, unique=True))
    onset = REVIEW - dt.timedelta(days=draw(st.integers(0, 400)))
    case = {
        "id": "generated",
        "submission": draw(st.sampled_from(["initial", "continued"])),
        "review_date": str(REVIEW),
        "member": {"age": draw(st.integers(0, 120))},
        "practitioner": {"type": draw(st.sampled_from(["massage_therapist", "physical_therapist", "chiropractor", "acupuncturist", "other"])),
                         "licensed": draw(st.booleans())},
        "condition": {"regions": regions, "onset_date": str(onset) if draw(st.integers(0, 9)) else None,
                      "severity": draw(st.sampled_from(["mild", "moderate", "severe"])),
                      "radiates_below_knee_or_elbow": draw(st.booleans()),
                      "prior_episodes": draw(st.integers(0, 6))},
        "purposes": draw(st.lists(st.sampled_from(COVERED_PURPOSES + NON_COVERED_PURPOSES), max_size=3, unique=True)),
        "plan": {"services": [{"cpt": draw(st.sampled_from(["97124", "97140"])), "units_per_visit": draw(st.integers(1, 4)),
                               "regions": regions}],
                 "visits_per_week": draw(st.integers(1, 4)), "weeks": draw(st.integers(1, 12)),
                 "modalities": draw(st.lists(st.sampled_from(["thermotherapy", "cryotherapy"]), max_size=2, unique=True)),
                 "goals": ["Walk 30 minutes without pain above 3/10"] if draw(st.integers(0, 5)) else []},
        "outcomes": draw(st.lists(outcomes(), max_size=4)),
        "findings": draw(st.lists(findings(), max_size=3)) if with_findings else [],
        "vitals": {"temperature_f": draw(st.one_of(st.none(), st.floats(97, 104))),
                   "weight_loss_lbs_6mo": draw(st.one_of(st.none(), st.floats(0, 20)))},
        "comorbidities": draw(st.lists(st.sampled_from(["diabetes", "hypertension", "obesity"]), max_size=2, unique=True)),
        "documentation": {k: draw(st.integers(0, 7)) > 0 for k in DOC_KEYS}
                         | {"estimated_discharge_date": str(REVIEW + dt.timedelta(days=30)) if draw(st.integers(0, 7)) else None},
        "episode": {"visits_completed": draw(st.integers(0, 12)), "maintenance_care": draw(st.integers(0, 9)) == 0,
                    "mtb_reached": draw(st.integers(0, 9)) == 0, "home_program_sufficient": draw(st.integers(0, 9)) == 0,
                    "duplicative_services": draw(st.integers(0, 9)) == 0,
                    "exacerbation_documented": draw(st.booleans()), "complies_with_plan": draw(st.integers(0, 9)) > 0},
    }
    return case
