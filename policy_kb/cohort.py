"""The population-scale layer: a cohort is a table with one row per case and one column per fact.

* `cases_to_frame(cases)`   cases -> the fact table (exactly `facts.case_facts(...).record` per row).
* `row_to_case(row)`        a fact row -> a `Case` whose facts are that row (for differential tests).
* `evaluate_cohort(df)`     the rulebook on numpy columns: outcome, dosage, referral, deciding rules.
* `CohortEvaluator(df)`     the same, prepared once for repeated what-ifs (`.evaluate(parameters)`).
* `synthetic_cohort(n)`     a vectorised synthetic cohort with documented assumptions (`ASSUMPTIONS`).

The cohort runs the very expressions `engine.rulebook(g)` compiles for `engine.determine` (rules.yaml
is the single source of truth) and combines them with the same `engine.combine`; no rule logic lives
here. Columns: bool facts bool, int facts int32, float facts float64 (NaN = not measured / none).
`evaluate_cohort` accepts any fact rows, also ones no case could produce (e.g. edited for a
sensitivity analysis); only `row_to_case` needs the constraints below.

Round trip (row -> case -> row). Every fact round-trips exactly when the row satisfies the
constraints below, which `synthetic_cohort` always does (`check_row` reports the ones it breaks):

* `weeks_since_onset` is NaN (no onset or exacerbation date) or k/7 for a whole number of days
  k >= 0 (a case has dates, not fractions of a day); `has_exacerbation` needs a date (not NaN).
* `requested_visits == requested_weeks * requested_visits_per_week`, weeks 1..52, visits/week 1..7.
* `mild` and `severe` are not both true.
* purposes: `n_noncovered_purposes - (purpose_convenience + purpose_preventive + purpose_maintenance)`
  is 1..3 when `purpose_wellness` (stress management, general wellness, sports performance) and 0
  otherwise; `n_covered_purposes` is 0..5.
* `n_red_urgent_unaddressed <= n_red_unaddressed`. `significant_trauma` and
  `weight_loss_flag_addressed` are facts about red-flag findings, so they need findings to carry
  them: `weight_loss_flag_addressed` takes one addressed red flag ("Unintended weight loss"), and
  `significant_trauma` takes a routine unaddressed red flag or another addressed one.
* outcome measures: `<x>_first` and `<x>_last` are both NaN or both scores in the instrument's range;
  `<x>_improvement` is NaN or exactly the direction-adjusted `last - first` (it is NaN when the two
  scores share a date, which `row_to_case` uses for first != last without a trajectory);
  `n_trajectories` counts the non-NaN improvements; `other_function_deficit_fraction` is the one
  computed from the latest DASH/QuickDASH/LEFS/PSFS scores (NaN if none).
* `temperature_f` NaN or 80..115; `weight_loss_lb` NaN or 0..200 (the case contract's ranges).
* counts are whole numbers >= 0.

Facts that are not 1:1 with a case (many cases give the same row): which labels the findings carry
(the counts are what the rules read), regions (only `spinal`, and in/outside the treated regions),
the exact purposes behind the wellness count, dates other than their differences, goals' text.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

import networkx as nx
import numpy as np
import pandas as pd

from .case import COVERED_PURPOSES, Case, parse_case
from .engine import OUTCOMES, ParameterError, check_parameters, combine, rulebook
from .facts import FACTS, FUNCTION_OTHER, INSTRUMENTS, TRAUMA_FLAGS, WELLNESS, _applies, case_facts
from .kb import load_guideline
from .query import FINDING_KINDS, LabelError, find
from .rulebook import Rulebook, evaluate, expression_names

__all__ = ["ASSUMPTIONS", "REVIEW_DATE", "FACT_DTYPES", "cases_to_frame", "row_to_case", "check_row",
           "evaluate_cohort", "CohortEvaluator", "synthetic_cohort", "ParameterError"]

REVIEW_DATE = dt.date(2025, 6, 30)  # the review date of every case row_to_case builds
FACT_DTYPES = {"bool": np.dtype(bool), "int": np.dtype(np.int32), "float": np.dtype(np.float64)}
COLUMNS = list(FACTS)
_DTYPE = {name: FACT_DTYPES[t] for name, (t, _) in FACTS.items()}
_ID = re.compile(r"^[a-z0-9_-]+$")


# ----------------------------------------------------------------------------- cases <-> frame

def cases_to_frame(cases: Iterable[Case | dict], g: nx.MultiDiGraph | None = None) -> pd.DataFrame:
    """One row per case (index: case id), one column per FACTS name: exactly `case_facts(...).record`.

    Bool facts are bool columns, int facts int32 (counts, weeks, visits: far below 2**31), float facts
    float64 (NaN = not measured).
    """
    g = g if g is not None else load_guideline()
    book = rulebook(g)
    ids, recs = [], []
    for c in cases:
        if not isinstance(c, Case):
            c = parse_case(c)
        ids.append(c.id)
        recs.append(case_facts(c, g, book.listing_precedence).record)
    cols = {k: np.array([r[k] for r in recs], dtype=_DTYPE[k]) for k in COLUMNS}
    return pd.DataFrame(cols, index=pd.Index(ids, name="case_id", dtype=object))


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def check_row(row: Mapping[str, Any] | pd.Series, g: nx.MultiDiGraph | None = None) -> list[str]:
    """The round-trip constraints (module docstring) a fact row breaks; empty when it round-trips."""
    g = g if g is not None else load_guideline()
    r = _plain(row)
    bad = []
    missing = [k for k in COLUMNS if k not in r]
    if missing:
        return [f"missing fact(s) {missing}"]
    w = r["weeks_since_onset"]
    if _nan(w):
        if r["has_exacerbation"]:
            bad.append("has_exacerbation needs a date: weeks_since_onset is NaN")
    elif w < 0 or round(w * 7) / 7.0 != w:
        bad.append(f"weeks_since_onset {w!r} is not a whole number of days / 7")
    if not (1 <= r["requested_weeks"] <= 52 and 1 <= r["requested_visits_per_week"] <= 7):
        bad.append("requested weeks 1..52 and visits per week 1..7")
    if r["requested_visits"] != r["requested_weeks"] * r["requested_visits_per_week"]:
        bad.append("requested_visits != requested_weeks * requested_visits_per_week")
    if r["mild"] and r["severe"]:
        bad.append("mild and severe")
    k = r["n_noncovered_purposes"] - r["purpose_convenience"] - r["purpose_preventive"] - r["purpose_maintenance"]
    if not ((1 <= k <= len(WELLNESS)) if r["purpose_wellness"] else k == 0):
        bad.append("n_noncovered_purposes does not match the purpose flags")
    if not 0 <= r["n_covered_purposes"] <= len(COVERED_PURPOSES):
        bad.append("n_covered_purposes 0..5")
    counts = [c for c, (t, _) in FACTS.items() if t == "int"]
    bad += [f"{c} < 0" for c in counts if r[c] < 0]
    if r["n_red_urgent_unaddressed"] > r["n_red_unaddressed"]:
        bad.append("n_red_urgent_unaddressed > n_red_unaddressed")
    routine = r["n_red_unaddressed"] - r["n_red_urgent_unaddressed"]
    need = int(r["weight_loss_flag_addressed"]) + int(r["significant_trauma"] and routine == 0)
    if r["n_red_addressed"] < need:
        bad.append("significant_trauma / weight_loss_flag_addressed need red-flag findings to carry them")
    t, wl = r["temperature_f"], r["weight_loss_lb"]
    if not _nan(t) and not 80 <= t <= 115:
        bad.append("temperature_f 80..115")
    if not _nan(wl) and not 0 <= wl <= 200:
        bad.append("weight_loss_lb 0..200")
    n_traj, other = 0, math.nan
    for inst in INSTRUMENTS:
        x = inst.lower()
        first, last, imp = r[f"{x}_first"], r[f"{x}_last"], r[f"{x}_improvement"]
        lo, hi, hb = _instrument(g, x)
        if _nan(first) != _nan(last):
            bad.append(f"{x}_first and {x}_last: both or neither")
            continue
        if _nan(first):
            if not _nan(imp):
                bad.append(f"{x}_improvement without scores")
            continue
        if not (lo <= first <= hi and lo <= last <= hi):
            bad.append(f"{x} scores outside {lo:g}..{hi:g}")
        if not _nan(imp):
            n_traj += 1
            if imp != ((last - first) if hb else (first - last)):
                bad.append(f"{x}_improvement is not the change from first to last")
        if inst in FUNCTION_OTHER:
            frac = ((hi - last) if hb else (last - lo)) / (hi - lo)
            other = frac if math.isnan(other) else min(other, frac)
    if r["n_trajectories"] != n_traj:
        bad.append("n_trajectories does not count the improvements")
    o = r["other_function_deficit_fraction"]
    if not (o == other or (_nan(o) and math.isnan(other))):
        bad.append("other_function_deficit_fraction does not follow from the latest scores")
    return bad


def _plain(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
    """A row as Python scalars (bool, int, float) by FACTS type."""
    items = row.items() if hasattr(row, "items") else dict(row).items()
    out = {}
    for k, v in items:
        t = FACTS.get(k, (None,))[0]
        if t == "bool":
            v = bool(v)
        elif t == "int":
            v = int(v)
        elif t == "float":
            v = float(v)
        out[k] = v
    return out


def _instrument(g: nx.MultiDiGraph, key: str) -> tuple[float, float, bool]:
    node = g.nodes[f"outcome_measure.{key}"]
    lo, hi = node["range"]
    return lo, hi, node.get("direction") == "higher_is_better"


_POOLS: "WeakKeyDictionary[nx.MultiDiGraph, dict[str, list[str]]]" = WeakKeyDictionary()


def _pools(g: nx.MultiDiGraph) -> dict[str, list[str]]:
    """Real finding labels from the graph, one pool per count: each resolves to exactly one item that
    is listed nowhere else (no also_listed_as), so one finding adds exactly one to its count."""
    pools = _POOLS.get(g)
    if pools is not None:
        return pools

    def clean(kind: str, ok=lambda n, d: True) -> list[str]:
        out = []
        for n in sorted(x for x, k in g.nodes(data="kind") if k == kind):
            d = g.nodes[n]
            if not ok(n, d) or any(r == "also_listed_as" for _, _, r in g.out_edges(n, data="relation")):
                continue
            try:
                if find(g, d["label"], kinds=FINDING_KINDS) != [n]:
                    continue
            except LabelError:
                continue
            out.append(d["label"])
        return out

    special = set(TRAUMA_FLAGS) | {"red_flag.history.unintended_weight_loss"}
    planned = lambda n, d: _applies(g, n, None, {"thermotherapy", "cryotherapy"}) == "planned_modality"  # noqa: E731
    pools = {
        "n_general_absolute": clean("general_absolute_contraindication"),
        "local_absolute": clean("local_absolute_contraindication"),
        "n_local_relative_treated": clean("local_relative_contraindication"),
        "n_general_relative": clean("general_relative_contraindication"),
        "red_routine": clean("red_flag", lambda n, d: d.get("urgency") != "urgent" and n not in special),
        "red_urgent": clean("red_flag", lambda n, d: d.get("urgency") == "urgent" and n not in special),
        "n_yellow": clean("yellow_flag"),
        "n_modality_contraindication": clean("modality_contraindication", planned),
        "n_modality_precaution": clean("modality_precaution", planned),
    }
    for name, want in (("trauma", "red_flag.history.significant_trauma"),
                       ("weight_loss", "red_flag.history.unintended_weight_loss")):
        if want not in g or find(g, g.nodes[want]["label"], kinds=FINDING_KINDS) != [want]:
            raise ValueError(f"row_to_case needs the red flag {want} with a label of its own")
        pools[name] = [g.nodes[want]["label"]]
    empty = [k for k, v in pools.items() if not v]
    if empty:
        raise ValueError(f"no finding label in the guideline fits {empty}")
    if nx.is_frozen(g):
        _POOLS[g] = pools
    return pools


_COMORBIDITIES = ("type 2 diabetes", "hypertension", "obesity", "hypothyroidism", "COPD", "osteoarthritis")
_GOALS = ("Sit for 60 minutes without pain", "Return to full work duties", "Lift 10 kg from floor to waist",
          "Sleep through the night without waking from pain", "Walk 30 minutes", "Turn head fully to drive")


def row_to_case(row: Mapping[str, Any] | pd.Series, g: nx.MultiDiGraph | None = None,
                case_id: str | None = None, check: bool = True) -> Case:
    """A Case whose `case_facts(...).record` is this fact row (review date REVIEW_DATE).

    Findings carry real guideline labels, one per counted finding; local contraindications get a
    region inside or outside the treated region; modality findings come with both modalities planned.
    Raises ValueError naming the broken constraints when the row cannot round-trip (`check=False`
    skips the check; the case is then built anyway and may differ).
    """
    g = g if g is not None else load_guideline()
    if check:
        bad = check_row(row, g)
        if bad:
            raise ValueError("row does not round-trip: " + "; ".join(bad))
    r = _plain(row)
    if case_id is None:
        name = getattr(row, "name", None)
        case_id = name if isinstance(name, str) and _ID.match(name) else f"row-{name}" if name is not None else "row"
        if not _ID.match(case_id):
            case_id = "row-" + re.sub(r"[^a-z0-9_-]+", "-", case_id.lower()).strip("-")
    rd = REVIEW_DATE
    pools = _pools(g)

    def day(n_days: int) -> str:
        return (rd - dt.timedelta(days=n_days)).isoformat()

    cond: dict[str, Any] = {
        "complaint": "low back pain" if r["spinal"] else "shoulder pain",
        "regions": ["lumbar"] if r["spinal"] else ["shoulder"],
        "severity": "mild" if r["mild"] else "severe" if r["severe"] else "moderate",
        "radiates_below_knee_or_elbow": r["radiates_below_knee_or_elbow"],
        "prior_episodes": r["prior_episodes"],
    }
    treated = cond["regions"][0]
    w = r["weeks_since_onset"]
    if not math.isnan(w):
        k = round(w * 7)
        if r["has_exacerbation"]:
            cond["exacerbation_date"] = day(k)
            cond["onset_date"] = day(k + 91)
        else:
            cond["onset_date"] = day(k)

    purposes = list(COVERED_PURPOSES[:r["n_covered_purposes"]])
    for flag, p in (("purpose_convenience", "convenience"), ("purpose_preventive", "preventive"),
                    ("purpose_maintenance", "maintenance")):
        if r[flag]:
            purposes.append(p)
    n_wellness = r["n_noncovered_purposes"] - r["purpose_convenience"] - r["purpose_preventive"] - r["purpose_maintenance"]
    purposes += list(WELLNESS[:max(n_wellness, 0)])

    findings: list[dict] = []

    def add(pool: str, count: int, start: int = 0, **extra: Any) -> None:
        labels = pools[pool]
        for i in range(count):
            findings.append({"label": labels[(start + i) % len(labels)], **extra})

    add("n_general_absolute", r["n_general_absolute"])
    add("local_absolute", r["n_local_absolute_treated"], region=treated)
    add("local_absolute", r["n_local_absolute_other"], start=1, region="knee")
    add("n_local_relative_treated", r["n_local_relative_treated"], region=treated)
    add("n_general_relative", r["n_general_relative"])
    add("n_yellow", r["n_yellow"])
    add("n_modality_contraindication", r["n_modality_contraindication"])
    add("n_modality_precaution", r["n_modality_precaution"])
    urgent = r["n_red_urgent_unaddressed"]
    routine = r["n_red_unaddressed"] - urgent
    trauma_unaddressed = r["significant_trauma"] and routine > 0
    add("red_urgent", urgent)
    if trauma_unaddressed:
        add("trauma", 1)
    add("red_routine", routine - int(trauma_unaddressed))
    addressed = r["n_red_addressed"]
    if r["weight_loss_flag_addressed"]:
        add("weight_loss", 1, addressed=True)
        addressed -= 1
    if r["significant_trauma"] and not trauma_unaddressed:
        add("trauma", 1, addressed=True)
        addressed -= 1
    add("red_routine", addressed, start=3, addressed=True)

    outcomes: list[dict] = []
    for inst in INSTRUMENTS:
        x = inst.lower()
        first, last, imp = r[f"{x}_first"], r[f"{x}_last"], r[f"{x}_improvement"]
        if math.isnan(first):
            continue
        if not math.isnan(imp):
            outcomes += [{"instrument": inst, "date": day(42), "score": first},
                         {"instrument": inst, "date": day(7), "score": last}]
        elif first == last:
            outcomes.append({"instrument": inst, "date": day(28), "score": first})
        else:  # two scores on one day: earliest and latest differ, but there is no trajectory
            outcomes += [{"instrument": inst, "date": day(28), "score": first},
                         {"instrument": inst, "date": day(28), "score": last}]

    modalities = ["thermotherapy", "cryotherapy"] if (r["n_modality_contraindication"] or r["n_modality_precaution"]) else []
    doc = {k[len("doc_"):]: r[k] for k in COLUMNS if k.startswith("doc_")}
    doc["estimated_discharge_date"] = (rd + dt.timedelta(days=28)).isoformat() if r["discharge_date_documented"] else None
    data = {
        "id": case_id,
        "submission": "continued" if r["is_continued"] else "initial",
        "review_date": rd.isoformat(),
        "practitioner": {"type": "other" if r["practitioner_other"] else "massage_therapist", "licensed": r["licensed"]},
        "condition": cond,
        "purposes": purposes,
        "plan": {"services": [{"cpt": "97124", "units_per_visit": 2, "regions": [treated]}],
                 "weeks": r["requested_weeks"], "visits_per_week": r["requested_visits_per_week"],
                 "modalities": modalities,
                 "goals": [_GOALS[i % len(_GOALS)] for i in range(r["n_goals"])]},
        "outcomes": outcomes,
        "findings": findings,
        "vitals": {"temperature_f": None if math.isnan(r["temperature_f"]) else r["temperature_f"],
                   "weight_loss_lbs_6mo": None if math.isnan(r["weight_loss_lb"]) else r["weight_loss_lb"]},
        "comorbidities": [_COMORBIDITIES[i % len(_COMORBIDITIES)] + ("" if i < len(_COMORBIDITIES) else f" ({i + 1})")
                          for i in range(r["n_comorbidities"])],
        "documentation": doc,
        "episode": {k: r[k] for k in ("visits_completed", "maintenance_care", "mtb_reached", "home_program_sufficient",
                                      "duplicative_services", "exacerbation_documented", "complies_with_plan")},
    }
    return parse_case(data)


# ----------------------------------------------------------------------------- evaluation

_OUTCOME_DTYPE = pd.CategoricalDtype(list(OUTCOMES))
_URGENCY_DTYPE = pd.CategoricalDtype(["routine", "urgent"])
_DECIDING_EFFECT = ("support", "limit", "deny")  # by outcome code (OUTCOMES order)
_LABEL_TABLES: dict[tuple, list[np.ndarray]] = {}  # byte slots (rule ids) -> text of each byte value


class CohortEvaluator:
    """A cohort prepared once (numpy columns, parameter-independent rules evaluated) for fast what-ifs.

    `evaluate(parameters)` re-derives only what reads a parameter: derived facts and rules whose
    `reads` (parameters read, directly or through derived facts) are not empty. Results equal
    `evaluate_cohort(df, parameters)`.
    """

    def __init__(self, data: pd.DataFrame | Mapping[str, Any], g: nx.MultiDiGraph | None = None):
        self.g = g if g is not None else load_guideline()
        self.book: Rulebook = rulebook(self.g)
        book = self.book
        if isinstance(data, pd.DataFrame):
            self.index = data.index
            get = lambda k: data[k].to_numpy()  # noqa: E731
            have = set(data.columns)
        else:
            have = set(data)
            get = lambda k: np.asarray(data[k])  # noqa: E731
            self.index = None
        names = {"requested_weeks", "requested_visits_per_week"}  # read by combine (the dosage)
        for _, src, _ in book.derived:
            names |= expression_names(src)
        for r in book.rules:
            names |= expression_names(r.when) | (expression_names(r.urgent_when_src) if r.urgent_when_src else set())
        derived_names = {n for n, _, _ in book.derived}
        missing = sorted(k for k in names if k not in derived_names and k not in book.parameters and k not in have)
        if missing:
            raise ValueError(f"the cohort lacks fact column(s) the rules read: {', '.join(missing)}")
        cols: dict[str, np.ndarray] = {}
        for k in COLUMNS:
            if k in have:
                a = get(k)
                try:
                    cols[k] = np.asarray(a, dtype=_DTYPE[k])
                except (TypeError, ValueError):
                    raise ValueError(f"column {k}: expected {FACTS[k][0]} values") from None
        self.n = len(next(iter(cols.values()))) if cols else 0
        if self.index is None:
            self.index = pd.RangeIndex(self.n)
        self.columns = cols
        # which derived facts and rules depend on parameters (the rest is evaluated once, here)
        params = set(book.parameters)
        pdep: set[str] = set()
        for name, src, _ in book.derived:
            if expression_names(src) & (params | pdep):
                pdep.add(name)
        self._param_derived = [(n, c) for n, _, c in book.derived if n in pdep]
        ns: dict[str, Any] = dict(cols)
        with np.errstate(invalid="ignore"):
            for name, _, code in book.derived:
                if name not in pdep:
                    ns[name] = evaluate(code, ns)
            self._static_ns = ns
            self._static_fired: dict[str, np.ndarray] = {}
            self._param_rules = []
            for r in book.rules:  # `reads`: parameters read, also through derived facts (and by caps)
                if r.reads:
                    self._param_rules.append(r)
                else:
                    self._static_fired[r.id] = self._mask(evaluate(r.code, ns))

    def _ints(self, v: Any) -> np.ndarray:
        a = np.asarray(v, dtype=np.int32)
        return a if a.shape == (self.n,) else np.broadcast_to(a, (self.n,))

    def _mask(self, v: Any) -> np.ndarray:
        a = np.asarray(v)
        if a.dtype != bool:
            a = a.astype(bool)  # as bool(): nonzero (and NaN) is true
        if a.shape != (self.n,):
            a = np.broadcast_to(a, (self.n,))
        return a

    def fired(self, parameters: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, float], dict]:
        """(rule id -> fired mask, parameter values, namespace)."""
        values = check_parameters(self.book, parameters)
        ns = dict(self._static_ns)
        ns.update(values)
        with np.errstate(invalid="ignore"):
            for name, code in self._param_derived:
                ns[name] = evaluate(code, ns)
            fired = dict(self._static_fired)
            for r in self._param_rules:
                fired[r.id] = self._mask(evaluate(r.code, ns))
        return fired, values, ns

    def evaluate(self, parameters: dict[str, Any] | None = None, rules: bool = False) -> pd.DataFrame:
        """outcome, approved_visits/_weeks/_visits_per_week, referral, urgency, deciding_rules (+ fired rules)."""
        book = self.book
        fired, values, ns = self.fired(parameters)
        cols = self.columns
        c = combine(book, fired, values, cols["requested_weeks"], cols["requested_visits_per_week"], ns)
        n = self.n
        outcome = np.asarray(c.outcome, dtype=np.int8)
        if outcome.shape != (n,):
            outcome = np.broadcast_to(outcome, (n,)).copy()
        referral = self._mask(c.referral)
        urgent = self._mask(c.urgent)
        urgency = np.where(referral, urgent.view(np.int8), np.int8(-1))
        deciding = self._deciding(c.counting, outcome)
        out = {
            "outcome": pd.Categorical.from_codes(outcome, dtype=_OUTCOME_DTYPE),
            "approved_visits": self._ints(c.visits),
            "approved_weeks": self._ints(c.weeks),
            "approved_visits_per_week": self._ints(c.visits_per_week),
            "referral": referral,
            "urgency": pd.Categorical.from_codes(urgency, dtype=_URGENCY_DTYPE),
            "deciding_rules": deciding,
        }
        if rules:
            out.update({r.id: fired[r.id] for r in book.rules})
        return pd.DataFrame(out, index=self.index, copy=False)

    def _deciding(self, counting: dict[str, np.ndarray], outcome: np.ndarray) -> pd.Categorical:
        """';'-joined ids of the counting rules whose effect decides the row's outcome, as a categorical.

        Each row's deciding rules are a bit pattern (one bit per deny/limit/support rule, packed in
        bytes); the distinct patterns are factorised and only they are turned into text.
        """
        # byte slots of up to 8 rules of one effect (book order within an effect, as in determine)
        slots: list[tuple[str, list[str]]] = []
        for e in _DECIDING_EFFECT:
            ids_e = [r.id for r in self.book.rules if r.effect == e]
            slots += [(e, ids_e[i:i + 8]) for i in range(0, len(ids_e), 8)]
        n = self.n
        if n == 0 or not slots:
            return pd.Categorical([""] * n, categories=[""])
        is_outcome = {e: (outcome == code).view(np.uint8) for code, e in enumerate(_DECIDING_EFFECT)}
        nbytes = len(slots)
        width = -(-nbytes // 8) * 8
        keys = np.zeros((n, width), dtype=np.uint8)
        byte = np.empty(n, dtype=np.uint8)
        shifted = np.empty(n, dtype=np.uint8)
        for j, (effect, ids_j) in enumerate(slots):
            byte.fill(0)
            for b, rid in enumerate(ids_j):
                np.left_shift(counting[rid].view(np.uint8), b, out=shifted)
                byte |= shifted
            byte *= is_outcome[effect]  # only the effect that decides this row's outcome
            keys[:, j] = byte
        words = keys.view(np.uint64)  # (n, width / 8): the rows' bit patterns
        if words.shape[1] == 1:
            codes, uniq = pd.factorize(words[:, 0])
        else:
            uniq, codes = np.unique(words, axis=0, return_inverse=True)
            codes = codes.reshape(-1)
        # text of each distinct pattern: per byte, a table of the text of its 256 values ("a;b;"),
        # looked up and concatenated for all patterns at once (object arrays), then the last ";" cut
        sig = tuple(tuple(ids_j) for _, ids_j in slots)
        tables = _LABEL_TABLES.get(sig)
        if tables is None:
            tables = _LABEL_TABLES[sig] = [
                np.array(["".join(ids_j[b] + ";" for b in range(len(ids_j)) if v >> b & 1) for v in range(256)],
                         dtype=object) for ids_j in sig]
        pattern_bytes = np.ascontiguousarray(uniq).view(np.uint8).reshape(len(uniq), width)
        text = tables[0][pattern_bytes[:, 0]]
        for j in range(1, nbytes):
            text = text + tables[j][pattern_bytes[:, j]]
        labels = [t[:-1] for t in text.tolist()]
        return pd.Categorical.from_codes(codes.astype(np.int32, copy=False), categories=pd.Index(labels, dtype=object))


def evaluate_cohort(df: pd.DataFrame | Mapping[str, Any], parameters: dict[str, Any] | None = None,
                    g: nx.MultiDiGraph | None = None, rules: bool = False) -> pd.DataFrame:
    """Determine every row of a fact table at once (vectorised; no per-row Python).

    Returns a DataFrame with df's index and columns: outcome (categorical: approved,
    partially_approved, denied), approved_visits, approved_weeks, approved_visits_per_week,
    referral (bool), urgency (categorical routine/urgent; missing when no referral, like None in
    `determine`), deciding_rules (';'-joined ids of the counting rules that decide: deny rules if
    denied, limit rules if partially approved, support rules if approved). `rules=True` adds one bool
    column per rule (fired, governed or not). `parameters` are checked like `engine.determine`'s.

    A Dask DataFrame is evaluated partition by partition (lazily; call `.compute()`), with the same
    results as pandas: the graph and parameters travel to the workers with each task.
    """
    if _is_dask(df):
        g = g if g is not None else load_guideline()
        check_parameters(rulebook(g), parameters)  # fail here, not on a worker
        meta = CohortEvaluator(df._meta, g).evaluate(parameters, rules=rules)
        return df.map_partitions(_evaluate_partition, parameters, g, rules, meta=meta)
    return CohortEvaluator(df, g).evaluate(parameters, rules=rules)


def _evaluate_partition(part: pd.DataFrame, parameters, g, rules) -> pd.DataFrame:
    return CohortEvaluator(part, g).evaluate(parameters, rules=rules)


def _is_dask(df: Any) -> bool:
    return type(df).__module__.startswith("dask")


# ----------------------------------------------------------------------------- synthetic cohort

ASSUMPTIONS: dict[str, Any] = {
    "note": "Plausible, invented mix to exercise every rule and outcome; not real-world prevalence.",
    "continued_share": 0.35,
    "onset_undocumented": 0.03,
    "stage_mix_initial": {"acute": 0.40, "sub_acute": 0.25, "chronic": 0.35},
    "stage_mix_continued": {"acute": 0.20, "sub_acute": 0.35, "chronic": 0.45},
    "days_since_onset": {"acute": (0, 41), "sub_acute": (42, 84), "chronic": (85, 730)},  # uniform, whole days
    "exacerbation": {"initial": 0.05, "continued": 0.15},
    "exacerbation_documented": 0.80,
    "severity": {"mild": 0.25, "moderate": 0.55, "severe": 0.20},
    "radiates_below_knee_or_elbow": 0.15,
    "spinal": 0.60,
    "prior_episodes": {0: 0.45, 1: 0.25, 2: 0.13, 3: 0.08, 4: 0.05, 5: 0.02, 8: 0.02},
    "comorbidities": {0: 0.60, 1: 0.25, 2: 0.10, 3: 0.05},
    "requested_weeks": {1: 0.04, 2: 0.18, 3: 0.13, 4: 0.38, 6: 0.13, 8: 0.09, 12: 0.05},
    "requested_visits_per_week": {1: 0.30, 2: 0.45, 3: 0.20, 4: 0.04, 5: 0.01},
    "unlicensed": 0.02,
    "practitioner_other": 0.02,
    "purpose_convenience": 0.015,
    "purpose_preventive": 0.02,
    "purpose_maintenance": 0.02,
    "purpose_wellness": 0.06,
    "wellness_purposes": {1: 0.70, 2: 0.20, 3: 0.10},
    "covered_purposes": {0: 0.03, 1: 0.50, 2: 0.32, 3: 0.15},
    "no_covered_purpose_if_noncovered": 0.50,
    "findings_any": {  # P(count >= 1); then 1 with 80%, 2 with 20%
        "n_general_absolute": 0.008, "n_local_absolute_treated": 0.008, "n_local_absolute_other": 0.015,
        "n_local_relative_treated": 0.05, "n_general_relative": 0.08, "n_red_unaddressed": 0.04,
        "n_red_addressed": 0.07, "n_yellow": 0.10, "n_modality_contraindication": 0.015,
        "n_modality_precaution": 0.04,
    },
    "red_flag_urgent_share": 0.25,  # each unaddressed red flag is an urgent-listing one
    "significant_trauma": 0.025,    # carried by a red flag (added as addressed if none fits)
    "temperature_measured": 0.25,
    "febrile_if_measured": 0.04,    # N(102.3, 0.6) F; afebrile N(98.4, 0.5) F; 0.1 F resolution
    "weight_loss_measured": 0.12,
    "weight_loss_large": 0.15,      # of measured: uniform 8..30 lb, else 0..6 lb; 0.5 lb resolution
    "weight_loss_flag_addressed_if_over_10_lb": 0.50,
    "instrument_used": {"NPRS": 0.85, "NDI": ("spinal", 0.35), "ODI": ("spinal", 0.45), "DASH": ("non-spinal", 0.15),
                        "QuickDASH": ("non-spinal", 0.15), "LEFS": ("non-spinal", 0.30), "PSFS": 0.12},
    "scored_twice": {"initial": 0.08, "continued": 0.88},  # else scored once (first == last)
    "baseline_deficit": {"mild": (0.08, 0.30), "moderate": (0.25, 0.55), "severe": (0.45, 0.80)},  # of the scale
    "response": {"responder": (0.55, (0.35, 0.90)), "non_responder": (0.35, (-0.10, 0.25)),
                 "worsening": (0.10, (-0.90, -0.30))},  # share, relative fall of the deficit (per case)
    "instrument_noise": 0.10,       # +- per instrument on baseline deficit and on response
    "score_decimals": {"NPRS": 0, "NDI": 0, "ODI": 0, "DASH": 1, "QuickDASH": 1, "LEFS": 0, "PSFS": 1},
    "poor_documentation_practice": 0.10,  # these practices have 4x the gap rates below (others 2/3)
    "documentation_gap": {"doc_dated_and_signed": 0.02, "doc_symptoms_described": 0.02, "doc_objective_findings": 0.04,
                          "doc_functional_deficits": 0.03, "doc_measurable_goals": 0.04, "doc_individualized_plan": 0.03,
                          "doc_home_care_instructions": 0.04, "doc_treatment_time_documented": 0.03,
                          "doc_flags_screened": 0.03, "discharge_date_documented": 0.05, "no_goals": 0.03},
    "goals": {1: 0.35, 2: 0.40, 3: 0.20, 4: 0.05},
    "visits_completed": {"initial": (0.88, (1, 3)), "continued": (0.0, (2, 16))},  # P(0), else uniform range
    "episode": {"maintenance_care": {"initial": 0.01, "continued": 0.04}, "mtb_reached": {"initial": 0.0, "continued": 0.04},
                "home_program_sufficient": {"initial": 0.01, "continued": 0.03}, "duplicative_services": 0.01,
                "not_complying": {"initial": 0.02, "continued": 0.08}, "exacerbation_documented_without_exacerbation": 0.05},
}


class _Draw:
    """Fast vectorised draws from 16-bit uniforms (resolution 1/65536 is ample for these assumptions).

    Random bits come in blocks (one `random_raw` call per 4 draws: small enough for the allocator to
    reuse memory) from SFC64, the fastest numpy
    bit generator; every draw is a fresh, independent row of 16-bit uniforms.
    """

    BLOCK = 4

    def __init__(self, n: int, seed: int):
        self.bits = np.random.SFC64(seed)
        self.n = n
        self._rows: list[np.ndarray] = []

    def u16(self) -> np.ndarray:
        if not self._rows:
            words = -(-self.BLOCK * self.n // 4)
            raw = self.bits.random_raw(words).view(np.uint16)[:self.BLOCK * self.n]
            self._rows = list(raw.reshape(self.BLOCK, self.n))[::-1]
        return self._rows.pop()

    @staticmethod
    def _t(p: float) -> int:
        return int(round(p * 65536))

    def bern(self, p: float) -> np.ndarray:
        return self.u16() < self._t(p)

    def bern2(self, cond: np.ndarray, p_true: float, p_false: float) -> np.ndarray:
        """Bernoulli with probability p_true where cond, else p_false."""
        u = self.u16()
        return np.where(cond, u < self._t(p_true), u < self._t(p_false))

    def cat(self, probs: Mapping[Any, float] | list[float]) -> np.ndarray:
        """Index 0..k-1 of the drawn category (int8; probabilities normalised)."""
        p = np.asarray(list(probs.values()) if isinstance(probs, Mapping) else probs, dtype=np.float64)
        cuts = np.round(np.cumsum(p / p.sum())[:-1] * 65536.0).astype(np.int64)
        u = self.u16()
        out = np.zeros(self.n, dtype=np.int8)
        for c in cuts:
            out += u >= c
        return out

    def values(self, probs: Mapping[int, float]) -> np.ndarray:
        """One of the keys of probs, as int32."""
        return np.asarray(list(probs), dtype=np.int32)[self.cat(probs)]

    def unit(self) -> np.ndarray:
        """Uniform in (0, 1), float32."""
        x = self.u16().astype(np.float32)
        x += np.float32(0.5)
        x *= np.float32(1 / 65536)
        return x

    def uniform(self, lo: Any, hi: Any) -> np.ndarray:
        x = self.unit()
        x *= np.asarray(hi, dtype=np.float32) - np.asarray(lo, dtype=np.float32)
        x += np.asarray(lo, dtype=np.float32)
        return x

    def integers(self, lo: Any, hi: Any) -> np.ndarray:
        """Whole numbers in lo..hi inclusive (int32; spans up to 32767)."""
        span = np.asarray(hi, dtype=np.int32) - np.int32(lo) + 1
        return np.int32(lo) + ((self.u16().astype(np.int32) * span) >> 16)

    def normal(self, mu: float, sd: float) -> np.ndarray:
        """Approximately normal (Irwin-Hall of 4 uniforms), float32."""
        s = self.u16().astype(np.float32)
        for _ in range(3):
            s += self.u16()
        s *= np.float32(math.sqrt(3) / 65536 * sd)
        s += np.float32(mu - 2 * math.sqrt(3) * sd)
        return s

    def count(self, p_any: float) -> np.ndarray:
        """0 with 1-p_any, else 1 (80%) or 2 (20%); int8."""
        u = self.u16()
        out = (u < self._t(p_any)).view(np.int8).copy()
        out += u < self._t(p_any * 0.2)
        return out


def synthetic_cohort(n: int, seed: int = 0, g: nx.MultiDiGraph | None = None) -> pd.DataFrame:
    """A synthetic cohort of n fact rows (FACTS columns and dtypes; index 0..n-1), vectorised numpy.

    Plausible, invented assumptions (all in ASSUMPTIONS; this does not claim real-world prevalence):
    35% continued-care submissions; 3% without an onset date, otherwise days since onset uniform
    within a stage drawn from a stage mix (initial: 40% acute, 25% sub-acute, 35% chronic;
    continued: 20/35/45); exacerbations 5% (initial) / 15% (continued), 80% of them documented;
    severity 25% mild, 55% moderate, 20% severe; 15% radiating pain; 60% spinal. Purposes: 3% with
    none covered, plus convenience 1.5%, preventive 2%, maintenance 2%, wellness-type 6%, half of
    which come without a covered purpose. Findings (prevalence of at least one): general absolute
    contraindication 0.8%, local absolute in / outside the treated region 0.8% / 1.5%, local
    relative 5%, general relative 8%, red flag unaddressed 4% (25% of them urgent listings) or
    addressed 7%, significant trauma 2.5%, yellow flag 10%, modality contraindication 1.5% /
    precaution 4%. Vitals: temperature measured in 25% (4% febrile), weight loss in 12% (15% of
    them 8-30 lb). PROMs: NPRS 85%; NDI/ODI for spinal, DASH/QuickDASH/LEFS for other regions;
    PSFS 12%; scored twice in 88% of continued and 8% of initial cases; baseline deficit by
    severity; per case a response class (55% responders, 35% non-responders, 10% worsening) with
    per-instrument noise; scores rounded to the instruments' usual resolution. Documentation gaps
    2-5% per item on average, four times as often in 10% "poor documentation" practices (and 2/3 as
    often elsewhere). Every row satisfies
    the round-trip constraints of the module docstring. The generator reads instrument ranges and
    directions from the guideline graph; it does not read rule parameters.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    g = g if g is not None else load_guideline()
    A = ASSUMPTIONS
    d = _Draw(n, seed)
    c: dict[str, np.ndarray] = {}
    cont = d.bern(A["continued_share"])
    c["is_continued"] = cont

    # onset and stage
    stage = np.where(cont, d.cat(A["stage_mix_continued"]), d.cat(A["stage_mix_initial"]))
    ranges = np.array(list(A["days_since_onset"].values()), dtype=np.int32)
    days = d.integers(ranges[stage, 0], ranges[stage, 1])
    weeks = days / 7.0
    undated = d.bern(A["onset_undocumented"])
    weeks[undated] = np.nan
    c["weeks_since_onset"] = weeks
    exa = d.bern2(cont, A["exacerbation"]["continued"], A["exacerbation"]["initial"])
    exa &= ~undated
    c["has_exacerbation"] = exa
    sev = d.cat(A["severity"])
    c["mild"] = sev == 0
    c["severe"] = sev == 2
    c["radiates_below_knee_or_elbow"] = d.bern(A["radiates_below_knee_or_elbow"])
    spinal = d.bern(A["spinal"])
    c["spinal"] = spinal
    c["prior_episodes"] = d.values(A["prior_episodes"])
    c["n_comorbidities"] = d.values(A["comorbidities"])

    # request and practitioner
    rw = d.values(A["requested_weeks"])
    rv = d.values(A["requested_visits_per_week"])
    c["requested_weeks"], c["requested_visits_per_week"], c["requested_visits"] = rw, rv, rw * rv
    c["licensed"] = ~d.bern(A["unlicensed"])
    c["practitioner_other"] = d.bern(A["practitioner_other"])

    # purposes
    conv, prev, maint = d.bern(A["purpose_convenience"]), d.bern(A["purpose_preventive"]), d.bern(A["purpose_maintenance"])
    well = d.bern(A["purpose_wellness"])
    n_well = d.values(A["wellness_purposes"])
    n_well[~well] = 0
    noncov = n_well
    noncov += conv
    noncov += prev
    noncov += maint
    ncov = d.values(A["covered_purposes"])
    ncov[(noncov > 0) & d.bern(A["no_covered_purpose_if_noncovered"])] = 0
    c["n_covered_purposes"], c["n_noncovered_purposes"] = ncov, noncov
    c["purpose_convenience"], c["purpose_wellness"], c["purpose_preventive"], c["purpose_maintenance"] = conv, well, prev, maint

    # findings
    F = A["findings_any"]
    for k in ("n_general_absolute", "n_local_absolute_treated", "n_local_absolute_other", "n_local_relative_treated",
              "n_general_relative", "n_red_unaddressed", "n_yellow", "n_modality_contraindication", "n_modality_precaution"):
        c[k] = d.count(F[k])
    red_u = c["n_red_unaddressed"]
    urgent = (d.bern(A["red_flag_urgent_share"]) & (red_u >= 1)).view(np.int8).copy()
    urgent += d.bern(A["red_flag_urgent_share"]) & (red_u >= 2)
    c["n_red_urgent_unaddressed"] = urgent
    trauma = d.bern(A["significant_trauma"])
    c["significant_trauma"] = trauma

    # vitals
    temp = np.where(d.bern(A["febrile_if_measured"]), d.normal(102.3, 0.6), d.normal(98.4, 0.5))
    temp = np.rint(temp * np.float32(10)).astype(np.float64)  # 0.1 F steps (as tenths)
    temp /= 10
    temp[~d.bern(A["temperature_measured"])] = np.nan
    c["temperature_f"] = temp
    wl = np.where(d.bern(A["weight_loss_large"]), d.uniform(16, 60), d.uniform(0, 12))  # half pounds
    wl = np.rint(wl).astype(np.float64)
    wl /= 2
    wl[~d.bern(A["weight_loss_measured"])] = np.nan
    c["weight_loss_lb"] = wl
    wl_addr = (wl > 10) & d.bern(A["weight_loss_flag_addressed_if_over_10_lb"])
    c["weight_loss_flag_addressed"] = wl_addr
    red_a = d.count(F["n_red_addressed"])
    need = wl_addr.view(np.int8) + (trauma & (red_u == urgent))  # flags that need an addressed red flag
    c["n_red_addressed"] = np.maximum(red_a, need)

    # outcome measures
    _prom(d, c, g, cont, sev, spinal)

    # documentation (gaps cluster in some practices)
    poor = d.bern(A["poor_documentation_practice"])
    for k, p in A["documentation_gap"].items():
        gap = d.bern2(poor, min(4 * p, 0.9), p * 2 / 3)
        if k == "no_goals":
            goals = d.values(A["goals"])
            goals[gap] = 0
            c["n_goals"] = goals
        else:
            c[k] = ~gap

    # episode
    E = A["episode"]
    p0_i, (a_i, b_i) = A["visits_completed"]["initial"]
    _, (a_c, b_c) = A["visits_completed"]["continued"]
    vc = np.where(cont, d.integers(a_c, b_c), d.integers(a_i, b_i))
    vc[~cont & d.bern(p0_i)] = 0
    c["visits_completed"] = vc
    for k in ("maintenance_care", "mtb_reached", "home_program_sufficient"):
        c[k] = d.bern2(cont, E[k]["continued"], E[k]["initial"])
    c["duplicative_services"] = d.bern(E["duplicative_services"])
    c["exacerbation_documented"] = d.bern2(exa, A["exacerbation_documented"], E["exacerbation_documented_without_exacerbation"])
    c["complies_with_plan"] = ~d.bern2(cont, E["not_complying"]["continued"], E["not_complying"]["initial"])

    cols = {k: np.asarray(c[k], dtype=_DTYPE[k]) for k in COLUMNS}
    return pd.DataFrame(cols, index=pd.RangeIndex(n, name="case_id"), copy=False)


def _prom(d: _Draw, c: dict[str, np.ndarray], g: nx.MultiDiGraph, cont: np.ndarray, sev: np.ndarray,
          spinal: np.ndarray) -> None:
    """Outcome-measure columns: baseline deficit by severity, a response class per case, noise per tool.

    Deficits are fractions of the scale (0 = best); scores are whole multiples of the instrument's
    resolution, so first, last and their difference are exact binary fractions of tenths.
    """
    A = ASSUMPTIONS
    n = d.n
    b = np.array(list(A["baseline_deficit"].values()), dtype=np.float32)
    d0 = d.uniform(b[sev, 0], b[sev, 1])
    resp = A["response"]
    rr = np.array([v[1] for v in resp.values()], dtype=np.float32)
    cls = d.cat([v[0] for v in resp.values()])
    keep = d.uniform(rr[cls, 0], rr[cls, 1])
    np.subtract(np.float32(1), keep, out=keep)  # share of the baseline deficit left at the latest score
    twice_all = d.bern2(cont, A["scored_twice"]["continued"], A["scored_twice"]["initial"])
    noise = A["instrument_noise"]
    n_traj = np.zeros(n, dtype=np.int32)
    other = np.full(n, np.nan)
    for inst in INSTRUMENTS:
        x = inst.lower()
        lo, hi, hb = _instrument(g, x)
        use = A["instrument_used"][inst]
        if isinstance(use, tuple):
            where, p = use
            used = d.bern2(spinal, p, 0.0) if where == "spinal" else d.bern2(spinal, 0.0, p)
        else:
            used = d.bern(use)
        twice = used & twice_all
        steps = 10 ** A["score_decimals"][inst]
        units = int(round((hi - lo) * steps))  # the scale in resolution steps
        di = d.uniform(-noise, noise)
        di += d0
        np.clip(di, 0, 1, out=di)
        dl = d.uniform(-noise, noise)
        dl += keep
        dl *= di
        np.clip(dl, 0, 1, out=dl)

        def score(frac: np.ndarray) -> np.ndarray:
            k = np.rint(frac * np.float32(units)).astype(np.float64)  # deficit in steps, 0..units
            if hb:
                np.subtract(units, k, out=k)
            if lo:
                k += lo * steps
            k /= steps
            return k

        first = score(di)
        last = score(dl)
        np.copyto(last, first, where=~twice)
        first[~used] = np.nan
        last[~used] = np.nan
        imp = (last - first) if hb else (first - last)
        imp[~twice] = np.nan
        c[f"{x}_first"], c[f"{x}_last"], c[f"{x}_improvement"] = first, last, imp
        n_traj += twice
        if inst in FUNCTION_OTHER:
            frac = ((hi - last) if hb else (last - lo)) / (hi - lo)
            np.fmin(other, frac, out=other)
    c["n_trajectories"] = n_traj
    c["other_function_deficit_fraction"] = other
