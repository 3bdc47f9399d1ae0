"""Population-scale figures for policy_kb.cohort (prints them; never part of the pass/fail suite).

    .venv/bin/python benchmarks/bench_cohort.py            # 1,000,000 cases (the default)
    .venv/bin/python benchmarks/bench_cohort.py --n 200000 # a smaller run

Measures, in one process:
  * synthetic_cohort(n): generation time, first (cold) and second call;
  * evaluate_cohort on the n synthetic cases: first (cold) call and the best of 3 warm calls;
  * determine() one by one on 2,000 of those cases (cases built beforehand, outside the timing);
  * the vectorised / one-by-one speed ratio (warm and cold);
  * a what-if (limited_trial_weeks=3) on 100,000 cases: one-shot evaluate_cohort and a prepared
    CohortEvaluator (parameter-independent rules evaluated once);
  * peak memory: the process's peak resident set (ru_maxrss) and the tracemalloc peak of one
    evaluate_cohort call on the n cases.
Targets (for n = 1,000,000): evaluation < 1 s, ratio >= 1000x, peak RSS < 1.5 GB, what-if < 50 ms.
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from policy_kb.cohort import CohortEvaluator, evaluate_cohort, row_to_case, synthetic_cohort  # noqa: E402
from policy_kb.engine import determine, rulebook  # noqa: E402
from policy_kb.kb import load_guideline  # noqa: E402


def _load_guideline(retries: int = 10):
    """The guideline graph; other developers may be editing the data folder, so retry a few times."""
    for attempt in range(retries):
        try:
            return load_guideline()
        except Exception as exc:  # noqa: BLE001 - a half-written file: wait and retry
            if attempt == retries - 1:
                raise
            print(f"(guideline did not load: {str(exc).splitlines()[0]}; retrying)", file=sys.stderr)
            time.sleep(3)


def _timed(f, *args, **kw):
    t = time.perf_counter()
    out = f(*args, **kw)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic cases evaluated at once")
    ap.add_argument("--one-by-one", type=int, default=2_000, help="cases judged one at a time by determine()")
    ap.add_argument("--what-if", type=int, default=100_000, help="cases in the what-if re-evaluation")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    g = _load_guideline()
    book = rulebook(g)
    print(f"policy_kb cohort benchmark  (kb {g.graph['kb_version']}, {len(book.rules)} rules; python "
          f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}; {platform.machine()})")

    gen_cold, df = _timed(synthetic_cohort, a.n, a.seed, g)
    del df
    gen_s, df = _timed(synthetic_cohort, a.n, a.seed, g)
    print(f"synthetic_cohort({a.n:,}):            {gen_s:8.3f} s warm (cold first call {gen_cold:.3f} s; "
          f"{df.shape[1]} fact columns, {df.memory_usage(index=False).sum() / 2**20:,.0f} MiB)")

    cold_s, res = _timed(evaluate_cohort, df, None, g)
    warm = [_timed(evaluate_cohort, df, None, g)[0] for _ in range(3)]
    warm_s = min(warm)
    vec_rate, vec_rate_cold = a.n / warm_s, a.n / cold_s
    print(f"evaluate_cohort, {a.n:,} cases:       {warm_s:8.3f} s warm (best of 3; cold first call {cold_s:.3f} s)"
          f"  -> {vec_rate:,.0f} cases/s (cold {vec_rate_cold:,.0f})")
    mix = res["outcome"].value_counts(normalize=True)
    print("   outcome mix: " + ", ".join(f"{k} {v:.1%}" for k, v in mix.items())
          + f"; referral {res['referral'].mean():.1%}")

    # one by one: the same cases through determine(); building the cases is not timed
    m = min(a.one_by_one, a.n)
    recs = df.iloc[:m].to_dict("records")
    cases = [row_to_case(r, g, case_id=f"bench-{i}") for i, r in enumerate(recs)]
    determine(cases[0], g=g)  # warm the caches
    one_s = 0.0
    agree = 0
    for i, c in enumerate(cases):
        t = time.perf_counter()
        d = determine(c, g=g)
        one_s += time.perf_counter() - t
        agree += (d.outcome == res["outcome"].iat[i] and d.approved["visits"] == res["approved_visits"].iat[i])
    one_rate = m / one_s
    print(f"determine() one by one, {m:,} cases:   {one_s:8.3f} s   -> {one_rate:,.0f} cases/s "
          f"({one_s / m * 1000:.2f} ms/case; {agree}/{m} agree with the cohort)")
    ratio, ratio_cold = vec_rate / one_rate, vec_rate_cold / one_rate
    print(f"speed-up vectorised / one by one:      {ratio:8,.0f}x warm   ({ratio_cold:,.0f}x cold)")

    # what-if on 100k cases
    k = min(a.what_if, a.n)
    sub = df.iloc[:k]
    whatif = {"limited_trial_weeks": 3}
    evaluate_cohort(sub, None, g)
    one_shot = [_timed(evaluate_cohort, sub, whatif, g)[0] for _ in range(5)]
    prep_s, ev = _timed(CohortEvaluator, sub, g)
    ev.evaluate(None)
    prepared = [_timed(ev.evaluate, whatif)[0] for _ in range(5)]
    changed = int((ev.evaluate(whatif)["approved_visits"] != ev.evaluate(None)["approved_visits"]).sum())
    print(f"what-if limited_trial_weeks=3, {k:,} cases: {np.median(one_shot) * 1000:6.1f} ms one-shot evaluate_cohort "
          f"(median of 5; min {min(one_shot) * 1000:.1f}); {np.median(prepared) * 1000:.1f} ms with a prepared "
          f"CohortEvaluator (prepared once in {prep_s * 1000:.1f} ms); dosage changes in {changed:,} cases")

    # memory: traced peak of one full evaluation, then the process peak
    del res
    tracemalloc.start()
    evaluate_cohort(df, None, g)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(f"memory: peak RSS of this process {maxrss / 2**30:.2f} GiB; tracemalloc peak of one "
          f"evaluate_cohort({a.n:,}) {traced_peak / 2**20:,.0f} MiB")

    if a.n == 1_000_000:
        checks = [("1M cases evaluated in < 1 s (warm)", warm_s < 1.0),
                  ("1M cases evaluated in < 1 s (cold)", cold_s < 1.0),
                  (">= 1000x one by one (warm)", ratio >= 1000),
                  ("peak RSS < 1.5 GB", maxrss < 1.5e9),
                  ("what-if on 100k cases < 50 ms (one-shot median)", np.median(one_shot) < 0.05)]
        print("targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))


if __name__ == "__main__":
    main()
