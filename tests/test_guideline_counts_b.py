"""Counts and key facts of author B's part of the guideline: documentation, PROMs, clinical review,
critical factors. Each count is how many items the guideline itself lists there."""
from __future__ import annotations

import pytest

from tests.conftest import list_items


def targets(g, node: str, relation: str) -> set[str]:
    return {t for _, t, rel in g.out_edges(node, data="relation") if rel == relation}


def sources(g, node: str, relation: str) -> set[str]:
    return {s for s, _, rel in g.in_edges(node, data="relation") if rel == relation}


# ------------------------------------------------------------------ DOCUMENTATION GUIDELINES

def test_the_initial_assessment_has_four_bullets(kb):
    assert len(list_items(kb, "list.documentation.initial_assessment")) == 4


def test_sufficient_to_determine_medical_necessity_has_nine_sub_bullets(kb):
    parent = "documentation.initial_assessment.medical_necessity_determinable"
    assert kb.nodes[parent]["label"].startswith("Is sufficient to determine the medical necessity of treatment")
    items = list_items(kb, parent)
    assert len(items) == 9
    assert {
        "documentation.initial_assessment.symptoms_described",
        "documentation.initial_assessment.date_of_onset",
        "documentation.initial_assessment.evaluation_findings",
        "documentation.initial_assessment.care_plan",
        "documentation.initial_assessment.self_care_recommendations",
        "documentation.initial_assessment.interdisciplinary_referrals",
        "documentation.initial_assessment.measurable_improvement",
        "documentation.initial_assessment.flags_screened",
        "documentation.initial_assessment.estimate_of_release",
    } == set(items)


def test_the_re_assessment_has_three_bullets(kb):
    assert len(list_items(kb, "list.documentation.reassessment")) == 3


def test_discharge_documentation_includes_five_items(kb):
    assert len(list_items(kb, "list.documentation.discharge")) == 5


def test_the_practitioner_discharges_on_any_of_three_conditions(kb):
    assert len(list_items(kb, "list.documentation.discharge_conditions")) == 3


def test_documentation_elements_are_documentation_elements(kb):
    for list_id in ("list.documentation.initial_assessment", "list.documentation.reassessment",
                    "list.documentation.discharge"):
        for item in list_items(kb, list_id):
            assert kb.nodes[item]["kind"] == "documentation_element"


def test_measurable_improvement_supports_documented_progress(kb):
    for node in ("documentation.initial_assessment.measurable_improvement",
                 "documentation.reassessment.measurable_improvement"):
        assert "criterion.c6_documented_progress" in targets(kb, node, "supports")


def test_flag_screening_supports_benefits_and_risks(kb):
    node = "documentation.initial_assessment.flags_screened"
    assert "criterion.c8_benefits_and_risks" in targets(kb, node, "supports")
    assert {"definition.red_flag", "definition.yellow_flag"} <= targets(kb, node, "uses_term")


def test_dated_and_signed_is_required_at_every_stage(kb):
    first = "documentation.initial_assessment.dated_and_signed"
    assert {"documentation.reassessment.dated_and_signed",
            "documentation.discharge.dated_and_signed"} <= targets(kb, first, "also_listed_as")


# ------------------------------------------------------------------ PROMs

MEASURES = {
    # id: (range, direction, mcid points, words the MCID source must contain)
    "outcome_measure.nprs": ([0, 10], "lower_is_better", 2, ("Farrar", "2001", "Childs", "2005")),
    "outcome_measure.ndi": ([0, 50], "lower_is_better", 7.5, ("Young BA", "2009", "Spine J")),
    "outcome_measure.odi": ([0, 100], "lower_is_better", 10, ("Ostelo", "2008", "33(1):90-94")),
    "outcome_measure.dash": ([0, 100], "lower_is_better", 10.83, ("Franchignoni", "2014", "44(1):30-39")),
    "outcome_measure.quickdash": ([0, 100], "lower_is_better", 15.91, ("Franchignoni", "2014")),
    "outcome_measure.lefs": ([0, 80], "higher_is_better", 9, ("Binkley", "1999", "79(4):371-383")),
    "outcome_measure.psfs": ([0, 10], "higher_is_better", 2, ("Stratford", "1995", "47(4):258-263")),
}


def test_seven_outcome_measures_are_encoded(kb):
    assert set(list_items(kb, "list.outcome_measures")) == set(MEASURES)


def test_the_guideline_names_four_proms_by_name(kb):
    named = {m for m in MEASURES if kb.nodes[m]["named_in_guideline"]}
    assert named == {"outcome_measure.nprs", "outcome_measure.ndi", "outcome_measure.odi", "outcome_measure.dash"}
    assert kb.nodes["outcome_measure.nprs"]["label"] == "Numeric Pain Rating Scale"
    assert kb.nodes["outcome_measure.ndi"]["label"] == "Neck Disability Index"
    assert kb.nodes["outcome_measure.odi"]["label"] == "Oswestry Low Back Disability Index"
    assert kb.nodes["outcome_measure.dash"]["label"] == "Disability of Arm, Shoulder, and Hand - DASH"
    for m in ("outcome_measure.quickdash", "outcome_measure.lefs", "outcome_measure.psfs"):
        assert kb.nodes[m]["paraphrase"] is True


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_outcome_measure_range_direction_and_mcid(kb, measure):
    rng, direction, points, cited = MEASURES[measure]
    node = kb.nodes[measure]
    assert node["kind"] == "outcome_measure"
    assert node["range"] == rng
    assert node["direction"] == direction
    assert node["mcid"]["points"] == points
    for word in cited:
        assert word in node["mcid"]["source"]
    assert node["source"]  # every literature fact carries its citation
    assert node["threshold"]["value"] == points
    assert node["threshold"]["parameter"] == "mcid_" + measure.split(".")[1] + "_points"
    assert "definition.mcid" in targets(kb, measure, "uses_term")


def test_nprs_and_odi_mcid_is_also_thirty_percent(kb):
    assert kb.nodes["outcome_measure.nprs"]["mcid"]["percent"] == 30
    assert kb.nodes["outcome_measure.odi"]["mcid"]["percent"] == 30


def test_ndi_severity_bands_vernon_mior_1991(kb):
    node = kb.nodes["outcome_measure.ndi"]
    assert "Vernon" in node["severity_bands_source"] and "1991" in node["severity_bands_source"]
    bands = node["severity_bands"]
    assert [(b["min"], b["max"]) for b in bands] == [(0, 4), (5, 14), (15, 24), (25, 34), (35, 50)]
    assert bands[-1]["label"] == "complete"


def test_odi_severity_bands_fairbank_pynsent_2000(kb):
    node = kb.nodes["outcome_measure.odi"]
    assert "Fairbank" in node["severity_bands_source"] and "2000" in node["severity_bands_source"]
    bands = node["severity_bands"]
    assert [(b["min"], b["max"]) for b in bands] == [(0, 20), (21, 40), (41, 60), (61, 80), (81, 100)]
    assert [b["label"] for b in bands][-2:] == ["crippled", "bed-bound"]


# ------------------------------------------------------------------ Clinical Review for Medical Necessity

def test_three_review_outcomes(kb):
    labels = {kb.nodes[n]["label"] for n in ("review_outcome.approval", "review_outcome.partial_approval",
                                             "review_outcome.denial")}
    assert labels == {"Approval", "Partial Approval", "Non-approval / Denial"}


def test_eight_items_influence_clinical_service_approvals(kb):
    items = list_items(kb, "list.review.approval_factors")
    assert len(items) == 8
    for item in items:
        assert kb.nodes[item]["kind"] == "approval_factor"
        assert "review_outcome.approval" in targets(kb, item, "leads_to")


def test_mtb_not_reached_uses_the_mtb_definition(kb):
    assert "definition.mtb" in targets(kb, "approval_factor.mtb_not_reached", "uses_term")


def test_three_reasons_for_partial_approval(kb):
    items = list_items(kb, "list.review.partial_approval_reasons")
    assert len(items) == 3
    for item in items:
        assert targets(kb, item, "leads_to") == {"review_outcome.partial_approval"}


def test_three_clinical_grounds_for_denial(kb):
    items = list_items(kb, "list.review.denial_grounds")
    assert len(items) == 3
    for item in items:
        assert "review_outcome.denial" in targets(kb, item, "leads_to")
    assert "not_necessary.no_expected_improvement.mtb_reached" in targets(kb, "denial_ground.mtb_reached",
                                                                          "also_listed_as")


def test_administrative_denials_are_not_clinical(kb):
    node = "denial_ground.administrative_or_contractual"
    assert kb.nodes[node]["clinical"] is False
    assert len(list_items(kb, node)) == 3  # ineligibility, plan benefit limits, non-coverage


def test_three_criteria_for_additional_care(kb):
    assert set(list_items(kb, "list.review.additional_care_criteria")) == {
        "additional_care.clinically_significant_progress",
        "additional_care.further_progress_expected",
        "additional_care.no_immediate_care_needed",
    }
    assert "definition.mcid" in targets(kb, "additional_care.clinically_significant_progress", "uses_term")
    assert "definition.mtb" in targets(kb, "additional_care.further_progress_expected", "uses_term")


def test_exacerbation_must_be_clearly_documented(kb):
    node = kb.nodes["documentation.additional_care.exacerbation_documented"]
    assert node["kind"] == "documentation_element"
    assert "flare-up" in node["label"]


def test_four_items_of_clinical_information_the_cqe_expects(kb):
    items = list_items(kb, "list.review.expected_clinical_information")
    assert {kb.nodes[i]["label"] for i in items} == {
        "History", "Physical assessment", "Documented treatment plan and goals", "Estimated time of discharge"}
    assert len(items) == 4
    assert all(kb.nodes[i]["kind"] == "expected_clinical_information" for i in items)


def test_initiation_of_care_is_warranted_on_three_conditions(kb):
    assert len(list_items(kb, "list.review.initiation_of_care")) == 3


def test_home_program_makes_services_not_medically_necessary(kb):
    assert "review_outcome.denial" in targets(kb, "denial_ground.home_program_sufficient", "leads_to")


# ------------------------------------------------------------------ Critical Factors during Clinical Reviews

def test_four_examples_of_patient_specific_variables(kb):
    items = list_items(kb, "list.critical_factors.patient_variable_examples")
    assert len(items) == 4
    assert all(kb.nodes[i]["kind"] == "patient_variable" for i in items)


def test_eight_patient_specific_variables_named_in_the_introduction(kb):
    assert len(list_items(kb, "list.critical_factors.patient_variable_types")) == 8


def test_eight_factors_can_impede_health_equity(kb):
    items = list_items(kb, "list.critical_factors.health_equity_factors")
    assert {kb.nodes[i]["label"] for i in items} == {
        "race", "ethnicity", "disability", "sexual orientation", "gender identity",
        "socioeconomic status", "geography", "preferred language"}
    for item in items:
        assert "definition.health_equity" in targets(kb, item, "uses_term")


def test_five_domains_of_sdoh(kb):
    assert set(list_items(kb, "list.critical_factors.sdoh_domains")) == {
        "sdoh.economic_stability", "sdoh.education", "sdoh.health_care_access", "sdoh.neighborhood",
        "sdoh.social_context"}
    assert all("definition.sdoh" in targets(kb, d, "uses_term")
               for d in list_items(kb, "list.critical_factors.sdoh_domains"))


def test_ten_general_factors(kb):
    items = list_items(kb, "list.critical_factors.general_factors")
    assert len(items) == 10
    assert all(kb.nodes[i]["kind"] == "general_factor" for i in items)


def test_three_nature_of_complaint_factors(kb):
    assert len(list_items(kb, "list.critical_factors.nature_of_complaint")) == 3
    assert kb.nodes["complaint_factor.radiating_pain"]["case_field"] == "condition.radiates_below_knee_or_elbow"


def test_six_history_factors(kb):
    assert len(list_items(kb, "list.critical_factors.history")) == 6


def test_more_than_three_prior_episodes_for_spinal_conditions(kb):
    threshold = kb.nodes["history_factor.prior_episodes"]["threshold"]
    assert threshold == {"parameter": "prior_episodes_spinal_threshold", "operator": ">", "value": 3,
                         "unit": "episodes"}


def test_two_assessment_factors(kb):
    assert len(list_items(kb, "list.critical_factors.assessment")) == 2


def test_age_is_listed_both_as_patient_variable_and_general_factor(kb):
    assert "general_factor.age" in targets(kb, "patient_variable.age", "also_listed_as")
    assert "patient_variable.age" in targets(kb, "general_factor.age", "also_listed_as")
