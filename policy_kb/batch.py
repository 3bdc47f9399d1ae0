"""Batch determinations with an audit record per case (one JSON line each), resumable.

Inputs: a folder of case files (YAML/JSON; `*.expected.yaml` golden expectations are skipped), a CSV of
the cohort fact table (one row per case, `case_id` column or index), or a Parquet file / dataset folder
of that table, read in record batches so memory stays bounded whatever its size.

Each record: case_id, case_hash, kb_version, parameters (the values read), rules_fired, outcome,
approved, referral, time. A rerun skips the cases already recorded with the same case hash, knowledge
base version and parameters; a line cut short by an interruption is dropped and redone; nothing
already written is rewritten.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .case import CaseError, case_files, case_to_dict, load_case
from .engine import check_parameters, determine, rulebook
from .kb import load_guideline


class BatchError(ValueError):
    """Bad batch input or output; one line."""


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class BatchSummary:
    written: int
    skipped: int
    dropped_partial_line: bool
    outcomes: dict[str, int]


@dataclass
class _Progress:
    """What an earlier run already wrote: keys (for case folders) and, per (kb_version, parameters),
    how many records and the last case id (for tables, which are read in order: O(1) memory)."""

    keys: set
    count: dict
    last: dict
    dropped: bool


def _done(out: Path, keep_keys: bool) -> _Progress:
    """Read the output once, streaming; drop a partial last line left by an interrupted write."""
    prog = _Progress(set(), {}, {}, False)
    if not out.exists():
        return prog
    size = out.stat().st_size
    if size:
        with out.open("rb") as fh:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":  # find the start of the partial line and cut it off
                pos = size - 1
                while pos > 0:
                    step = min(65536, pos)
                    fh.seek(pos - step)
                    chunk = fh.read(step)
                    nl = chunk.rfind(b"\n")
                    if nl >= 0:
                        pos = pos - step + nl + 1
                        break
                    pos -= step
                with out.open("r+b") as w:
                    w.truncate(max(pos, 0))
                prog.dropped = True
    with out.open("r", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                rec = json.loads(line)
                run = (rec["kb_version"], rec["parameters_digest"])
                key = (rec["case_id"], rec["case_hash"], *run)
            except (json.JSONDecodeError, KeyError, TypeError):
                raise BatchError(f"{out}: line {n} is not an audit record; choose another output file") from None
            if keep_keys:
                prog.keys.add(key)
            prog.count[run] = prog.count.get(run, 0) + 1
            prog.last[run] = rec["case_id"]
    return prog


def _case_files(folder: Path) -> list[Path]:
    files = case_files(folder)
    if not files:
        raise BatchError(f"{folder}: no case files (*.yaml, *.json)")
    return files


def _frames(source: Path, chunk: int) -> Iterator[Any]:
    import pandas as pd
    if source.suffix == ".csv":
        for df in pd.read_csv(source, chunksize=chunk):
            yield df.set_index("case_id") if "case_id" in df.columns else df
        return
    import pyarrow.dataset as ds
    dataset = ds.dataset(str(source), format="parquet")
    for batch in dataset.to_batches(batch_size=chunk):
        df = batch.to_pandas()
        yield df.set_index("case_id") if "case_id" in df.columns else df


def run_batch(source: str | Path, output: str | Path, parameters: dict[str, Any] | None = None,
              chunk: int = 50_000, progress: bool = True) -> BatchSummary:
    """Determine every case of `source` and append one audit record per case to `output` (JSON lines)."""
    from tqdm.auto import tqdm

    source, out = Path(source), Path(output)
    if not source.exists():
        raise BatchError(f"{source}: no such file or folder")
    if out.is_dir() or not out.parent.is_dir():
        raise BatchError(f"-o: {out} must be a file in an existing folder")
    g = load_guideline()
    book = rulebook(g)
    values = check_parameters(book, parameters)
    pdigest = _digest(values)
    cases_folder = source.is_dir() and not any(source.rglob("*.parquet"))
    prog = _done(out, keep_keys=cases_folder)
    done, dropped = prog.keys, prog.dropped
    run = (book.kb_version, pdigest)
    to_skip = prog.count.get(run, 0)  # tables: the first rows already recorded, in order
    counts: dict[str, int] = {}
    written = skipped = 0
    with out.open("a", encoding="utf-8") as fh:
        def emit(rec: dict) -> None:
            nonlocal written
            fh.write(json.dumps(rec, sort_keys=True, default=str) + "\n")
            written += 1
            counts[rec["outcome"]] = counts.get(rec["outcome"], 0) + 1
            if written % 1000 == 0:
                fh.flush()

        try:
            if cases_folder:
                files = _case_files(source)
                for path in tqdm(files, desc="cases", unit="case", disable=not progress):
                    try:
                        case = load_case(path)
                    except CaseError as exc:
                        raise BatchError(f"{path.name}: {exc}") from None
                    key = (case.id, _digest(case_to_dict(case)), book.kb_version, pdigest)
                    if key in done:
                        skipped += 1
                        continue
                    det = determine(case, parameters, g=g)
                    emit(_record(key, values, [r.rule for r in det.reasons],
                                 det.outcome, det.approved, det.referral))
            else:
                from .cohort import evaluate_cohort
                bar = tqdm(desc="cases", unit="case", disable=not progress)
                seen = 0
                rule_cols = [r.id for r in book.rules]
                for df in _frames(source, chunk):
                    if seen + len(df) <= to_skip:  # wholly done in an earlier run
                        seen += len(df)
                        skipped += len(df)
                        bar.update(len(df))
                        continue
                    start = max(0, to_skip - seen)
                    if start and str(df.index[start - 1]) != prog.last.get(run):
                        raise BatchError(f"{out}: its records do not follow the order of {source.name}; "
                                         "choose another output file")
                    part = df.iloc[start:]
                    skipped += start
                    seen += len(df)
                    res = evaluate_cohort(part, parameters, g=g, rules=True)
                    fired = res[rule_cols].to_numpy()
                    rows = part.to_dict("records")
                    outcome = res["outcome"].astype(str).to_numpy()
                    visits, weeks, vpw = (res[c].to_numpy() for c in ("approved_visits", "approved_weeks",
                                                                        "approved_visits_per_week"))
                    referral = res["referral"].to_numpy()
                    urgency = res["urgency"].astype(object).to_numpy()
                    for i, case_id in enumerate(part.index):
                        key = (str(case_id), _digest(rows[i]), book.kb_version, pdigest)
                        emit(_record(key, values, [rule_cols[j] for j in fired[i].nonzero()[0]], outcome[i],
                                     {"visits": int(visits[i]), "weeks": int(weeks[i]), "visits_per_week": int(vpw[i])},
                                     {"recommended": bool(referral[i]),
                                      "urgency": str(urgency[i]) if referral[i] else None}))
                    bar.update(len(df))
                bar.close()
        finally:
            fh.flush()
            os.fsync(fh.fileno())
    return BatchSummary(written, skipped, dropped, counts)


def _record(key, values, rules_fired, outcome, approved, referral) -> dict:
    case_id, case_hash, kb_version, pdigest = key
    return {"case_id": case_id, "case_hash": case_hash, "kb_version": kb_version, "parameters": values,
            "parameters_digest": pdigest, "rules_fired": rules_fired, "outcome": outcome,
            "approved": approved, "referral": referral,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
