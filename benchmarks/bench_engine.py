"""Figures for the knowledge graph and the one-case engine (printed, not asserted: machines are noisy).

  python benchmarks/bench_engine.py

- graph load: cold (YAML + checks, no disk cache) in a fresh process, from the disk cache, and warm (in memory);
- determine(): mean time per call on the golden library once loaded;
- `policy-kb determine CASE`: wall time of the whole command.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASE = ROOT / "data" / "cases" / "lbp-chronic-initial-approved.yaml"
PY = sys.executable


def fresh(code: str, env: dict | None = None) -> float:
    import os
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})}, cwd=ROOT)
    return float(out.stdout.strip())


LOAD = "import time; t=time.perf_counter(); import policy_kb; g=policy_kb.load_guideline(); print(time.perf_counter()-t)"
LOAD_ONLY = ("import policy_kb, time; t=time.perf_counter(); g=policy_kb.load_guideline(); print(time.perf_counter()-t)")


def main() -> None:
    cold = statistics.median(fresh(LOAD_ONLY, {"POLICY_KB_CACHE": "0"}) for _ in range(3))
    cached = statistics.median(fresh(LOAD_ONLY) for _ in range(3))
    import policy_kb
    from policy_kb.case import case_files, load_case
    g = policy_kb.load_guideline()
    t = time.perf_counter()
    for _ in range(100):
        policy_kb.load_guideline()
    warm = (time.perf_counter() - t) / 100
    print(f"graph: {g.number_of_nodes()} nodes, {g.number_of_edges()} edges")
    print(f"load, cold (YAML + validation, no cache): {cold * 1000:7.1f} ms")
    print(f"load, from the disk cache:                {cached * 1000:7.1f} ms")
    print(f"load, warm (in-process cache):            {warm * 1e6:7.1f} us")

    cases = [load_case(p) for p in case_files()]
    for c in cases:
        policy_kb.determine(c)
    n = 0
    t = time.perf_counter()
    while time.perf_counter() - t < 2.0:
        for c in cases:
            policy_kb.determine(c)
        n += len(cases)
    per = (time.perf_counter() - t) / n
    print(f"determine() once loaded: {per * 1e3:.3f} ms per case ({n} calls over {len(cases)} golden cases)")

    walls = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([str(Path(PY).parent / "policy-kb"), "determine", str(CASE)], capture_output=True, check=True)
        walls.append(time.perf_counter() - t)
    print(f"policy-kb determine CASE, wall: median {statistics.median(walls):.3f} s, min {min(walls):.3f} s (7 runs)")


if __name__ == "__main__":
    main()
