"""The golden case library: expectations written from the guideline (data/cases/*.expected.yaml), checked
against the engine; and rule coverage: a rule that no golden case exercises is a gap."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from policy_kb.case import case_files, load_case
from policy_kb.engine import determine, rulebook

from .conftest import REPO

CASES = REPO / "data" / "cases"
GOLDEN = case_files(CASES)


def expected(path: Path) -> dict:
    return yaml.safe_load(path.with_name(path.stem + ".expected.yaml").read_text())


def test_the_library_has_at_least_forty_cases_each_with_an_expectation():
    assert len(GOLDEN) >= 40
    for p in GOLDEN:
        assert p.with_name(p.stem + ".expected.yaml").is_file(), p.name


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_case(path):
    exp = expected(path)
    det = determine(load_case(path))
    assert det.outcome == exp["outcome"]
    if "approved" in exp:
        assert det.approved == exp["approved"]
    assert det.referral == {"recommended": exp["referral"]["recommended"], "urgency": exp["referral"]["urgency"]}
    assert {r.rule for r in det.deciding} == set(exp["deciding_rules"])
    fired = {r.rule for r in det.reasons}
    assert set(exp.get("also_fires", [])) <= fired


def test_every_rule_is_exercised_by_a_golden_case(kb, capsys):
    fired: Counter = Counter()
    expected_rules: Counter = Counter()
    for p in GOLDEN:
        det = determine(load_case(p))
        fired.update({r.rule for r in det.reasons})
        exp = expected(p)
        expected_rules.update(set(exp["deciding_rules"]) | set(exp.get("also_fires", [])))
    rules = [r.id for r in rulebook(kb).rules]
    with capsys.disabled():
        print("\nrule coverage in the golden library (cases where the rule fires / cases that expect it):")
        for rid in rules:
            print(f"  {fired[rid]:3d} {expected_rules[rid]:3d}  {rid}")
    gaps = [rid for rid in rules if not fired[rid] or not expected_rules[rid]]
    assert not gaps, f"rules exercised by no golden case: {gaps}"
