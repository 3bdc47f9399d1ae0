"""Beyond one machine: Dask DataFrames partition by partition on a local cluster, and batch runs over a
multi-file Parquet dataset read in bounded batches."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from policy_kb.batch import run_batch
from policy_kb.cohort import evaluate_cohort, synthetic_cohort

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cohort():
    df = synthetic_cohort(6000, seed=11)
    df.index = df.index.astype(str)
    return df


def test_dask_on_a_local_cluster_gives_the_pandas_results(cohort):
    expected = evaluate_cohort(cohort, {"limited_trial_weeks": 3})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        ddf = dd.from_pandas(cohort, npartitions=4)
        got = evaluate_cohort(ddf, {"limited_trial_weeks": 3}).compute()
    got = got.loc[expected.index]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_categorical=False)


def test_dask_rejects_a_bad_parameter_before_any_work(cohort):
    from policy_kb.engine import ParameterError
    with pytest.raises(ParameterError, match="unknown parameter"):
        evaluate_cohort(dd.from_pandas(cohort, npartitions=2), {"nope": 1})


def test_batch_reads_a_parquet_dataset_in_batches_and_matches_the_cohort(cohort, tmp_path):
    folder = tmp_path / "dataset"
    folder.mkdir()
    df = cohort.rename_axis("case_id").reset_index()
    for i, part in enumerate(range(0, len(df), 1500)):
        df.iloc[part:part + 1500].to_parquet(folder / f"part-{i}.parquet", index=False)
    out = tmp_path / "audit.jsonl"
    s = run_batch(folder, out, chunk=700, progress=False)
    assert s.written == len(cohort)
    records = {r["case_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    expected = evaluate_cohort(cohort)
    assert {k: r["outcome"] for k, r in records.items()} == expected["outcome"].astype(str).to_dict()
    assert run_batch(folder, out, chunk=700, progress=False).skipped == len(cohort)


def test_batch_reads_a_csv_of_the_cohort_table(cohort, tmp_path):
    csv = tmp_path / "cohort.csv"
    cohort.head(500).rename_axis("case_id").to_csv(csv)
    out = tmp_path / "audit.jsonl"
    assert run_batch(csv, out, progress=False).written == 500


def test_an_interrupted_parquet_batch_resumes_where_it_stopped(cohort, tmp_path):
    path = tmp_path / "cohort.parquet"
    cohort.head(2000).rename_axis("case_id").reset_index().to_parquet(path, index=False)
    out = tmp_path / "audit.jsonl"
    run_batch(path, out, chunk=300, progress=False)
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:1234]) + "\n" + lines[1234][:40])  # killed while writing record 1235
    s = run_batch(path, out, chunk=300, progress=False)
    assert s.dropped_partial_line and s.skipped == 1234 and s.written == 766
    assert out.read_text().splitlines()[:1234] == lines[:1234]
    assert [json.loads(x)["case_id"] for x in out.read_text().splitlines()] == [json.loads(x)["case_id"] for x in lines]
