"""The population layer: the vectorised cohort agrees with the one-case engine, row by row.

Differential tests: for N synthetic fact rows, `evaluate_cohort` (numpy columns) and
`determine(row_to_case(row))` (one case at a time) give the same outcome, approved dosage, referral,
urgency and deciding rules, with default parameters, with parameter overrides and under a reform.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from policy_kb.case import case_files, load_case
from policy_kb.cohort import (ASSUMPTIONS, COLUMNS, CohortEvaluator, FACT_DTYPES, cases_to_frame, check_row,
                              evaluate_cohort, row_to_case, synthetic_cohort)
from policy_kb.engine import ParameterError, determine, rulebook
from policy_kb.facts import FACTS, case_facts
from policy_kb.reform import apply_reform
from policy_kb.rulebook import evaluate

N_DIFF = 10_000
CASES_DIR = Path(__file__).resolve().parent.parent / "data" / "cases"
OVERRIDES = [
    {"limited_trial_weeks": 3},
    {"acute_max_weeks": 4, "subacute_max_weeks": 10, "fever_threshold_f": 100.4, "weight_loss_threshold_lb": 5,
     "mcid_nprs_points": 3, "mcid_odi_percent": 20, "worsening_mcid_multiple": 0.5, "reasonable_period_weeks": 6,
     "mild_max_visits_per_week": 2, "little_pain_nprs_max": 3, "prior_episodes_spinal_threshold": 1},
]


@pytest.fixture(scope="module")
def cohort(kb):
    return synthetic_cohort(N_DIFF, seed=7, g=kb)


@pytest.fixture(scope="module")
def cases(cohort, kb):
    ids = [f"syn-{i}" for i in cohort.index]
    return [row_to_case(rec, kb, case_id=cid) for cid, rec in zip(ids, cohort.to_dict("records"))]


def _one_by_one(cases, parameters=None, g=None) -> pd.DataFrame:
    rows = []
    for case in cases:
        d = determine(case, parameters, g)
        rows.append({"outcome": d.outcome, "approved_visits": d.approved["visits"],
                     "approved_weeks": d.approved["weeks"], "approved_visits_per_week": d.approved["visits_per_week"],
                     "referral": d.referral["recommended"], "urgency": d.referral["urgency"],
                     "deciding_rules": ";".join(r.rule for r in d.deciding)})
    return pd.DataFrame(rows)


def _vectorised(df, parameters=None, g=None) -> pd.DataFrame:
    res = evaluate_cohort(df, parameters, g)
    out = pd.DataFrame({
        "outcome": res["outcome"].astype(str).to_numpy(),
        "approved_visits": res["approved_visits"].to_numpy().astype(int),
        "approved_weeks": res["approved_weeks"].to_numpy().astype(int),
        "approved_visits_per_week": res["approved_visits_per_week"].to_numpy().astype(int),
        "referral": res["referral"].to_numpy().astype(bool),
        "urgency": [u if isinstance(u, str) else None for u in res["urgency"]],
        "deciding_rules": res["deciding_rules"].astype(str).to_numpy(),
    })
    return out


def _assert_same(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(expected.columns) == list(got.columns)
    def norm(v):
        return None if v is None or v != v else v  # no referral: None (determine) / missing (cohort)

    for col in expected.columns:
        a, b = [norm(v) for v in expected[col].tolist()], [norm(v) for v in got[col].tolist()]
        bad = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        assert not bad, f"{col}: {len(bad)} row(s) differ, e.g. row {bad[0]}: determine {a[bad[0]]!r}, cohort {b[bad[0]]!r}"


def test_frame_shape_and_dtypes(cohort):
    assert list(cohort.columns) == COLUMNS == list(FACTS)
    for name, (typ, _) in FACTS.items():
        assert cohort[name].dtype == FACT_DTYPES[typ], name
    assert len(cohort) == N_DIFF
    pd.testing.assert_frame_equal(synthetic_cohort(500, seed=3), synthetic_cohort(500, seed=3))
    assert not synthetic_cohort(500, seed=3).equals(synthetic_cohort(500, seed=4))
    assert ASSUMPTIONS["note"] and "not" in ASSUMPTIONS["note"]


def test_differential_default_parameters(cohort, cases):
    expected = _one_by_one(cases)
    got = _vectorised(cohort)
    _assert_same(expected, got)
    # the sample is varied enough to mean something
    assert set(expected["outcome"]) == {"approved", "partially_approved", "denied"}
    assert set(expected["urgency"].dropna()) == {"routine", "urgent"}


@pytest.mark.parametrize("overrides", OVERRIDES, ids=["limited_trial_weeks=3", "many"])
def test_differential_parameter_overrides(cohort, cases, overrides):
    n = N_DIFF if len(overrides) == 1 else 3000
    expected = _one_by_one(cases[:n], overrides)
    got = _vectorised(cohort.iloc[:n], overrides)
    _assert_same(expected, got)
    assert not got.equals(_vectorised(cohort.iloc[:n])), "the override should change some determinations"


def test_differential_under_a_reform(cohort, cases, kb):
    reformed = apply_reform({"name": "t", "parameters": {"limited_trial_weeks": 3},
                             "disable_rules": ["rule.dosage.mild_lesser_frequency", "rule.doc.home_care_instructions"],
                             "replace_rules": {"rule.dosage.reasonable_period": {"cap": {"weeks": "limited_trial_weeks"}}}},
                            kb)
    n = 2000
    _assert_same(_one_by_one(cases[:n], g=reformed), _vectorised(cohort.iloc[:n], g=reformed))


def test_round_trip_all_rows(cohort, cases, kb):
    back = cases_to_frame(cases, kb)
    assert list(back.index[:2]) == ["syn-0", "syn-1"]
    pd.testing.assert_frame_equal(back.reset_index(drop=True), cohort.reset_index(drop=True), check_exact=True,
                                  check_index_type=False, check_names=False)


def test_round_trip_single_rows(cohort, kb):
    for i in (0, 1, 17, 4242, N_DIFF - 1):
        row = cohort.iloc[i]
        case = row_to_case(row, kb)
        assert determine(case).case_id == case.id
        one = cases_to_frame([row_to_case(row, kb)], kb)
        assert one.index[0] == case.id
        pd.testing.assert_series_equal(one.iloc[0], row, check_names=False)
        assert case_facts(case, kb, rulebook(kb).listing_precedence).record.keys() == set(COLUMNS)


def test_row_to_case_special_rows(kb):
    """Rows the generator rarely makes: same-day scores, trauma and weight loss carried by red flags."""
    base = synthetic_cohort(50, seed=11, g=kb).iloc[0].to_dict()
    nan = float("nan")
    special = dict(base, nprs_first=7.0, nprs_last=5.0, nprs_improvement=nan, ndi_first=nan, ndi_last=nan,
                   ndi_improvement=nan, odi_first=nan, odi_last=nan, odi_improvement=nan, dash_first=nan,
                   dash_last=nan, dash_improvement=nan, quickdash_first=nan, quickdash_last=nan,
                   quickdash_improvement=nan, lefs_first=40.0, lefs_last=60.0, lefs_improvement=20.0,
                   psfs_first=nan, psfs_last=nan, psfs_improvement=nan, n_trajectories=1,
                   other_function_deficit_fraction=(80 - 60.0) / 80, significant_trauma=True,
                   weight_loss_flag_addressed=True, n_red_addressed=2, n_red_unaddressed=1, n_red_urgent_unaddressed=1,
                   weight_loss_lb=12.5, has_exacerbation=True, weeks_since_onset=3 / 7.0,
                   n_modality_contraindication=2, n_modality_precaution=1, n_local_absolute_other=2)
    assert check_row(special, kb) == []
    back = cases_to_frame([row_to_case(special, kb, case_id="special")], kb).iloc[0].to_dict()
    for k in COLUMNS:
        assert back[k] == special[k] or (back[k] != back[k] and special[k] != special[k]), k


def test_rows_that_cannot_round_trip_are_refused(cohort, kb):
    row = cohort.iloc[0].to_dict()
    with pytest.raises(ValueError, match="requested_visits"):
        row_to_case(dict(row, requested_visits=row["requested_visits"] + 1), kb)
    with pytest.raises(ValueError, match="whole number of days"):
        row_to_case(dict(row, weeks_since_onset=1.2345), kb)
    with pytest.raises(ValueError, match="red-flag findings"):
        row_to_case(dict(row, significant_trauma=True, n_red_unaddressed=0, n_red_urgent_unaddressed=0,
                         n_red_addressed=0), kb)
    with pytest.raises(ValueError, match="mild and severe"):
        row_to_case(dict(row, mild=True, severe=True), kb)


def test_every_rule_fires_and_every_outcome_occurs(kb):
    df = synthetic_cohort(20_000, g=kb)
    res = evaluate_cohort(df, g=kb, rules=True)
    book = rulebook(kb)
    never = [r.id for r in book.rules if not res[r.id].any()]
    assert not never, f"rules that never fire in the synthetic cohort: {never}"
    assert set(res["outcome"]) == {"approved", "partially_approved", "denied"}
    deciding = set(";".join(res["deciding_rules"].astype(str)).split(";"))
    never_decide = [r.id for r in book.rules if r.effect in ("deny", "limit", "support") and r.id not in deciding]
    assert not never_decide, f"rules that never decide an outcome: {never_decide}"
    assert res["referral"].any() and (res["urgency"] == "urgent").any()


def test_golden_cases_agree(kb):
    paths = case_files()
    if not paths:
        pytest.skip("no golden cases")
    cases = [load_case(p) for p in paths]
    frame = cases_to_frame(cases, kb)
    assert list(frame.index) == [c.id for c in cases]
    _assert_same(_one_by_one(cases, g=kb), _vectorised(frame, g=kb))


def test_bad_parameters_are_refused(cohort):
    small = cohort.iloc[:10]
    with pytest.raises(ParameterError, match=r"parameters\.no_such_parameter: unknown parameter; allowed: .*limited_trial_weeks"):
        evaluate_cohort(small, {"no_such_parameter": 1})
    with pytest.raises(ParameterError, match="must be a number >= 0"):
        evaluate_cohort(small, {"limited_trial_weeks": -1})
    with pytest.raises(ParameterError, match="is not a number"):
        evaluate_cohort(small, {"limited_trial_weeks": "three"})
    with pytest.raises(ValueError, match="lacks fact column.*licensed"):
        evaluate_cohort(small.drop(columns=["licensed"]))


def test_prepared_what_if_matches_one_shot(cohort):
    sub = cohort.iloc[:5000]
    ev = CohortEvaluator(sub)
    for params in [None, *OVERRIDES]:
        pd.testing.assert_frame_equal(ev.evaluate(params), evaluate_cohort(sub, params))


def test_columns_as_plain_numpy(cohort):
    sub = cohort.iloc[:2000]
    cols = {k: sub[k].to_numpy() for k in sub.columns}
    a = evaluate_cohort(cols)
    b = evaluate_cohort(sub)
    assert isinstance(a.index, pd.RangeIndex)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    empty = evaluate_cohort(cohort.iloc[:0])
    assert len(empty) == 0 and list(empty.columns) == list(b.columns)
    one = evaluate_cohort(cohort.iloc[:1])
    pd.testing.assert_frame_equal(one.astype(str), b.iloc[:1].astype(str))


def test_shared_combine_matches_the_plain_precedence_rules(cohort):
    """engine.combine serves both engines, so check it against the precedence rules written out plainly."""
    ev = CohortEvaluator(cohort)
    book = ev.book
    fired, values, ns = ev.fired({"limited_trial_weeks": 3})
    res = ev.evaluate({"limited_trial_weeks": 3})
    urgent_when = {r.id: np.broadcast_to(np.asarray(evaluate(r.urgent_when, ns), dtype=bool), (ev.n,))
                   for r in book.rules if r.urgent_when is not None}
    req_w, req_v = cohort["requested_weeks"].to_numpy(), cohort["requested_visits_per_week"].to_numpy()
    for i in range(ev.n):
        hits = {r.id for r in book.rules if fired[r.id][i]}
        governed = {o for r in book.rules if r.id in hits for o in r.overrides if o in hits}
        counting = [r for r in book.rules if r.id in hits and r.id not in governed]
        effects = {r.effect for r in counting}
        weeks, vpw = int(req_w[i]), int(req_v[i])
        if "deny" in effects:
            outcome, weeks, vpw = "denied", 0, 0
        elif "limit" in effects:
            outcome = "partially_approved"
            for r in counting:
                if r.effect == "limit":
                    weeks = min(weeks, int(values[r.cap["weeks"]])) if "weeks" in r.cap else weeks
                    vpw = min(vpw, int(values[r.cap["visits_per_week"]])) if "visits_per_week" in r.cap else vpw
        else:
            outcome = "approved"
        refer = [r for r in counting if r.effect == "refer"]
        urgent = any(r.urgency == "urgent" or (r.urgent_when is not None and urgent_when[r.id][i]) for r in refer)
        want = (outcome, weeks * vpw, weeks, vpw, bool(refer), ("urgent" if urgent else "routine") if refer else None)
        row = res.iloc[i]
        got = (row["outcome"], int(row["approved_visits"]), int(row["approved_weeks"]),
               int(row["approved_visits_per_week"]), bool(row["referral"]),
               row["urgency"] if isinstance(row["urgency"], str) else None)
        assert got == want, (i, got, want)
