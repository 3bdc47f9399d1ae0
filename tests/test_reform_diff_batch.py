"""What-if reforms, the policy diff between versions, and resumable batch runs with audit records."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from policy_kb.batch import BatchError, run_batch
from policy_kb.cli import main
from policy_kb.diff import policy_diff
from policy_kb.engine import determine
from policy_kb.kb import default_data_dir, load_guideline
from policy_kb.reform import ReformError, apply_reform, compare_cases

from .conftest import REPO
from .test_engine import good_case

CASES = REPO / "data" / "cases"


def test_a_reform_changes_a_copy_never_the_shipped_graph():
    g = load_guideline()
    h = apply_reform({"parameters": {"limited_trial_weeks": 3}})
    assert g.nodes["parameter.limited_trial_weeks"]["value"] == 2
    assert h.nodes["parameter.limited_trial_weeks"]["value"] == 3
    assert h.graph["kb_version"].startswith(g.graph["kb_version"] + "+reform.")
    acute = good_case(condition__onset_date="2026-02-16")
    assert determine(acute, g=h).approved["weeks"] == 3
    assert determine(acute).approved["weeks"] == 2


def test_disabling_a_rule_removes_its_effect():
    h = apply_reform({"disable_rules": ["rule.dosage.mild_lesser_frequency"]})
    assert determine(good_case(condition__severity="mild"), g=h).outcome == "approved"


def test_replacing_a_rule_is_checked_like_the_data():
    with pytest.raises(Exception, match="make them named parameters"):
        apply_reform({"replace_rules": {"rule.safety.yellow_flag": {"when": "n_yellow > 2"}}})
    h = apply_reform({"replace_rules": {"rule.safety.yellow_flag": {"effect": "deny"}}})
    det = determine(good_case(findings=["Depressive symptoms"]), g=h)
    assert det.outcome == "denied"


def test_bad_reforms_are_one_line_errors():
    with pytest.raises(ReformError, match=r"reform.parameters.nope: unknown parameter"):
        apply_reform({"parameters": {"nope": 1}})
    with pytest.raises(ReformError, match=r"reform.disable_rules: no rule 'rule.nope'"):
        apply_reform({"disable_rules": ["rule.nope"]})
    with pytest.raises(ReformError, match=r"reform.edit_items.red_flag.x: no such guideline item"):
        apply_reform({"edit_items": {"red_flag.x": {"label": "y"}}})
    with pytest.raises(ReformError, match=r"reform.colour"):
        apply_reform({"colour": "red"})


def test_comparing_a_reform_on_the_golden_library_reports_transitions_and_causes():
    from policy_kb.case import case_files, load_case
    cases = [load_case(p) for p in case_files()]
    cmp = compare_cases(cases, {"parameters": {"limited_trial_weeks": 4}})
    assert len(cmp.table) == len(cases)
    # a 4-week limited trial equals the reasonable period: limited-trial partials of <= 4 weeks become approvals
    assert cmp.flipped and all(cmp.table.loc[c, "baseline"] == "partially_approved" for c in cmp.flipped)
    assert "rule.dosage.limited_short_trial" in cmp.causes
    assert cmp.transitions.loc["partially_approved", "approved"] == len(cmp.flipped)
    assert cmp.sentences()[0].endswith(f"{len(cmp.flipped)} change outcome.")


def test_whatif_cli(tmp_path, capsys):
    reform = tmp_path / "r.yaml"
    reform.write_text(yaml.safe_dump({"name": "no frequency cap", "disable_rules": ["rule.dosage.mild_lesser_frequency"]}))
    assert main(["whatif", str(reform)]) == 0
    out = capsys.readouterr().out
    assert "reform: no frequency cap" in out and "partially approved to approved" in out


def _copy(tmp_path):
    dst = tmp_path / "guideline"
    shutil.copytree(default_data_dir(), dst)
    return dst


def test_policy_diff_names_parameter_rule_and_item_changes(tmp_path):
    new = _copy(tmp_path)
    p = new / "parameters.yaml"
    p.write_text(p.read_text().replace("value: 2\n    unit: weeks", "value: 3\n    unit: weeks"))
    r = new / "rules.yaml"
    r.write_text(r.read_text().replace("    when: n_yellow > 0\n", "    when: (n_yellow > 0) & severe\n"))
    y = new / "yellow_flags.yaml"
    y.write_text(y.read_text().replace("label: depressive symptoms", "label: depressive symptoms or low mood"))
    d = policy_diff(load_guideline(), load_guideline(new))
    assert d.parameters == ["limited_trial_weeks: 2 -> 3 weeks (assumption)"]
    assert any("rule.safety.yellow_flag: when changed" in x for x in d.rules)
    assert any("label changed from 'depressive symptoms'" in x for x in d.items)


def test_diff_cli_between_folders_with_golden_impact(tmp_path, capsys):
    new = _copy(tmp_path)
    p = new / "parameters.yaml"
    p.write_text(p.read_text().replace("value: 2\n    unit: weeks", "value: 4\n    unit: weeks"))
    assert main(["diff", str(default_data_dir()), str(new)]) == 0
    out = capsys.readouterr().out
    assert "limited_trial_weeks: 2 -> 4 weeks" in out and "Outcome impact on the golden library" in out
    assert "partially approved (4 visits) -> approved" in out or "-> approved (" in out


def test_diff_cli_between_git_refs(capsys):
    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    assert main(["diff", "HEAD", "HEAD", "--no-impact"]) == 0
    assert "Items: no change" in capsys.readouterr().out
    assert main(["diff", "no-such-ref", "HEAD"]) == 2


def test_batch_writes_one_audit_record_per_case_and_resumes(tmp_path, capsys):
    folder = tmp_path / "cases"
    folder.mkdir()
    for p in sorted(CASES.glob("*.yaml"))[:12]:
        shutil.copy(p, folder)
    out = tmp_path / "audit.jsonl"
    s = run_batch(folder, out, progress=False)
    assert s.written == 6 and s.skipped == 0
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"case_id", "case_hash", "kb_version", "parameters", "rules_fired", "outcome", "time"} <= set(recs[0])
    # an interruption leaves a half-written line: it is dropped and redone, nothing else is rewritten
    first = out.read_text().splitlines()[0]
    out.write_text("\n".join(out.read_text().splitlines()[:3]) + "\n" + '{"case_id": "half')
    s = run_batch(folder, out, progress=False)
    assert s.dropped_partial_line and s.written == 3 and s.skipped == 3
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and lines[0] == first
    assert run_batch(folder, out, progress=False).written == 0
    # another parameter value is another determination: recorded, not skipped
    assert run_batch(folder, out, {"limited_trial_weeks": 3}, progress=False).written == 6


def test_batch_refuses_an_output_that_is_not_an_audit_file(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n")
    with pytest.raises(BatchError, match="not an audit record"):
        run_batch(CASES, out, progress=False)
    assert out.read_text() == "my notes\n"


def test_batch_cli(tmp_path, capsys):
    assert main(["batch", str(CASES), "-o", str(tmp_path / "a.jsonl"), "--quiet"]) == 0
    assert "written, 0 already done" in capsys.readouterr().out
    assert main(["batch", str(tmp_path / "nowhere"), "-o", str(tmp_path / "a.jsonl")]) == 2


def test_comparing_a_reform_on_a_cohort_names_the_rules_that_changed_cases():
    from policy_kb.cohort import synthetic_cohort
    from policy_kb.reform import compare_cohort
    df = synthetic_cohort(5000, seed=3)
    cmp = compare_cohort(df, {"disable_rules": ["rule.dosage.mild_lesser_frequency"]})
    assert cmp.flipped
    assert set(cmp.causes) == {"rule.dosage.mild_lesser_frequency"}
    moved = cmp.table.loc[cmp.flipped]
    assert set(moved["baseline"]) == {"partially_approved"} and set(moved["reform"]) == {"approved"}
    assert int(cmp.transitions.to_numpy().sum()) == len(df)


def test_whatif_cli_on_a_cohort(tmp_path, capsys):
    reform = tmp_path / "r.yaml"
    reform.write_text("name: three-week trial\nparameters: {limited_trial_weeks: 3}\n")
    assert main(["whatif", str(reform), "--cohort", "3000"]) == 0
    out = capsys.readouterr().out
    assert "on a synthetic cohort of 3,000 cases:" in out and "rule.dosage.limited_short_trial" in out
