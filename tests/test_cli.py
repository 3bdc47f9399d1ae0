"""The command line: determine / explain / parameters, and bad input as one line with exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from policy_kb.cli import main

from .test_engine import good_case


def write(tmp_path, data, name="case.yaml"):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def test_determine_prints_outcome_dosage_referral_and_reasons(tmp_path, capsys):
    assert main(["determine", str(write(tmp_path, good_case()))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("good: APPROVED")
    assert "approved 8 visits (2/week for 4 weeks)" in out and "referral: not recommended" in out
    assert "because:" in out and "[GUIDELINES > Medically Necessary]" in out


def test_determine_json_is_the_spec_object_and_set_overrides_a_parameter(tmp_path, capsys):
    case = good_case(condition__onset_date="2026-02-16")
    assert main(["determine", str(write(tmp_path, case)), "--json", "--set", "limited_trial_weeks=3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "partially_approved" and out["approved"]["weeks"] == 3
    assert out["parameters"]["limited_trial_weeks"] == {"value": 3.0, "unit": "weeks", "source": "assumption",
                                                         "cites": "adverse.treatment.limited_short_trial", "decisive": True}


def test_determine_many_cases_gives_a_list(tmp_path, capsys):
    a = write(tmp_path, good_case(), "a.yaml")
    b = write(tmp_path, dict(good_case(), id="other"), "b.yaml")
    assert main(["determine", str(a), str(b), "--json"]) == 0
    assert [d["case_id"] for d in json.loads(capsys.readouterr().out)] == ["good", "other"]


def test_explain_shows_the_tree_checklist_and_what_would_change_it(tmp_path, capsys):
    case = good_case(findings=["Saddle anesthesia"])
    assert main(["explain", str(write(tmp_path, case))]) == 0
    out = capsys.readouterr().out
    assert "finding: Saddle anesthesia" in out
    assert "checklist of the medical-necessity criteria" in out
    assert "approved if the red flag 'Saddle anesthesia' is documented as addressed" in out


def test_parameters_table_names_source_and_citation(capsys):
    assert main(["parameters"]) == 0
    out = capsys.readouterr().out
    assert "limited_trial_weeks" in out and "assumption" in out and "fever_threshold_f" in out


BAD = [
    ("malformed YAML", "id: x\nreview_date: [2026-01-01\n", "malformed YAML at line"),
    ("missing required field", {"id": "x"}, "review_date: required field is missing"),
    ("wrong type", dict(good_case(), plan={"visits_per_week": "often", "weeks": 4}), "plan.visits_per_week:"),
    ("unknown key", dict(good_case(), sumbission="initial"), "sumbission: unknown key"),
    ("bad enum", dict(good_case(), submission="renewal"), "submission: 'renewal' is not allowed; allowed: 'initial' or 'continued'"),
    ("unknown label", dict(good_case(), findings=["Sadle anestesia"]), "findings.0: no item is labelled 'Sadle anestesia'; closest: 'Saddle anesthesia'"),
    ("ambiguous label", dict(good_case(), findings=["Cancer"]), "findings.0: 'Cancer' is ambiguous"),
    ("onset after review", good_case(condition__onset_date="2026-04-01"), "condition.onset_date: 2026-04-01 is after review_date 2026-03-02"),
    ("exacerbation after review", good_case(condition__exacerbation_date="2026-04-01"), "condition.exacerbation_date: 2026-04-01 is after review_date"),
    ("outcome after review", dict(good_case(), outcomes=[{"instrument": "NPRS", "date": "2026-05-01", "score": 3}]), "outcomes.0.date: 2026-05-01 is after review_date"),
    ("score out of range", dict(good_case(), outcomes=[{"instrument": "NPRS", "date": "2026-02-01", "score": 11}]), "outcomes.0.score: 11 is outside the NPRS range 0..10"),
    ("bad id", dict(good_case(), id="Bad Id!"), "id: String should match pattern"),
]


@pytest.mark.parametrize("what, data, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_naming_the_field_with_exit_2(tmp_path, capsys, what, data, message):
    assert main(["determine", str(write(tmp_path, data))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert message in err, err


def test_bad_set_is_one_line(tmp_path, capsys):
    p = write(tmp_path, good_case())
    assert main(["determine", str(p), "--set", "limited_trial_weeks"]) == 2
    assert "--set: 'limited_trial_weeks' must be NAME=VALUE" in capsys.readouterr().err
    assert main(["determine", str(p), "--set", "nope=2"]) == 2
    assert "parameters.nope: unknown parameter; allowed:" in capsys.readouterr().err


def test_a_missing_case_file_is_one_line(capsys, tmp_path):
    assert main(["determine", str(tmp_path / "nope.yaml")]) == 2
    assert "no such case file" in capsys.readouterr().err


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    p = write(tmp_path, dict(good_case(), findings=["Cancer"]))
    run = subprocess.run([sys.executable, "-m", "policy_kb.cli", "determine", str(p)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1
