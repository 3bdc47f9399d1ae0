"""Counts and key relations of author C's part of the guideline: red and yellow flags, the review
factors, the factors of adverse determinations, referral, related policies and references.

Each count is what the guideline lists (counted in the text), checked against the graph.
"""
from __future__ import annotations

from tests.conftest import list_items


def targets(g, node: str, relation: str) -> set[str]:
    return {t for _, t, rel in g.out_edges(node, data="relation") if rel == relation}


# --- Assessment of Red Flags ---------------------------------------------------------------

RED_FLAG_HEADINGS = {
    "history": 14,             # Past or Current History
    "present_complaint": 8,    # Present Complaint
    "physical_assessment": 12,  # Physical Assessment
    "not_benign_pattern": 8,   # Pattern of Symptoms Not Consistent with Benign Disorder
    "lack_of_response": 3,     # Lack of Response to Appropriate Care
}


def test_past_or_current_history_lists_fourteen_red_flags(kb):
    assert len(list_items(kb, "list.red_flag.history")) == 14


def test_present_complaint_lists_eight_red_flags(kb):
    assert len(list_items(kb, "list.red_flag.present_complaint")) == 8


def test_physical_assessment_lists_twelve_red_flags(kb):
    assert len(list_items(kb, "list.red_flag.physical_assessment")) == 12


def test_pattern_not_consistent_with_benign_disorder_lists_eight_red_flags(kb):
    assert len(list_items(kb, "list.red_flag.not_benign_pattern")) == 8


def test_lack_of_response_to_appropriate_care_lists_three_red_flags(kb):
    assert len(list_items(kb, "list.red_flag.lack_of_response")) == 3


def test_red_flags_are_forty_five_under_five_headings(kb):
    flags = [n for n, d in kb.nodes(data=True) if d["kind"] == "red_flag"]
    assert len(flags) == sum(RED_FLAG_HEADINGS.values()) == 45
    for n in flags:
        heading = kb.nodes[n]["heading"]
        assert n.startswith(f"red_flag.{heading}.")
        assert n in list_items(kb, f"list.red_flag.{heading}")


def test_every_red_flag_triggers_referral_for_red_and_yellow_flags(kb):
    for n, d in kb.nodes(data=True):
        if d["kind"] == "red_flag":
            assert "referral_trigger.red_yellow_flags" in targets(kb, n, "triggers"), n


def test_patterns_not_consistent_with_benign_disorder_are_urgent(kb):
    for n in list_items(kb, "list.red_flag.not_benign_pattern"):
        assert kb.nodes[n]["urgency"] == "urgent", n
    assert kb.nodes["red_flag.physical_assessment.allergic_reaction_requiring_immediate_attention"]["urgency"] == "urgent"
    assert kb.nodes["red_flag.history.unintended_weight_loss"]["urgency"] == "routine"


def test_saddle_anesthesia_and_bladder_change_are_red_flags(kb):
    assert kb.nodes["red_flag.not_benign_pattern.saddle_anesthesia"]["label"] == "Saddle anesthesia"
    assert "bladder dysfunction" in kb.nodes["red_flag.not_benign_pattern.bladder_or_bowel_change"]["synonyms"]


def test_red_flags_listed_under_two_headings_are_cross_listed(kb):
    pairs = [
        ("red_flag.history.unexplained_dizziness_or_hearing_loss",
         "red_flag.present_complaint.unexplained_dizziness_or_hearing_loss"),
        ("red_flag.present_complaint.signs_of_psychological_distress",
         "red_flag.physical_assessment.signs_of_psychological_distress"),
    ]
    for a, b in pairs:
        assert b in targets(kb, a, "also_listed_as")
        assert a in targets(kb, b, "also_listed_as")


def test_unintended_weight_loss_triggers_constitutional_signs(kb):
    assert "referral_trigger.constitutional_signs" in targets(kb, "red_flag.history.unintended_weight_loss", "triggers")


# --- Assessment of Yellow Flags ------------------------------------------------------------

def test_four_examples_of_yellow_flags(kb):
    items = list_items(kb, "list.yellow_flag.examples")
    assert items == sorted([
        "yellow_flag.depressive_symptoms", "yellow_flag.injuries_in_litigation",
        "yellow_flag.signs_inconsistent_with_pain_severity", "yellow_flag.incongruent_behaviors"])
    for n in items:
        assert kb.nodes[n]["kind"] == "yellow_flag"
        assert "referral_trigger.red_yellow_flags" in targets(kb, n, "triggers")


# --- Critical factors: historical information, assessment findings, treatment planning -----

def test_assessment_of_historical_information_lists_nine_factors(kb):
    assert len(list_items(kb, "list.review_factor.historical")) == 9


def test_assessment_findings_lists_six_factors(kb):
    assert len(list_items(kb, "list.review_factor.assessment")) == 6


def test_assessment_of_treatment_planning_lists_seven_factors(kb):
    assert len(list_items(kb, "list.review_factor.treatment_planning")) == 7


def test_treatment_dosage_factor_supports_criterion_nine(kb):
    assert "criterion.c9_dosage_consistent" in targets(kb, "review_factor.treatment_planning.dosage_correlated", "supports")
    assert "criterion.c3_skilled_services" in targets(kb, "review_factor.treatment_planning.skilled_services", "supports")


# --- Factors that Influence Adverse Determinations -------------------------------------------

def test_additional_factors_have_six_subheadings(kb):
    assert list_items(kb, "list.adverse.additional_factors") == sorted(
        f"list.adverse.{s}" for s in ("history", "assessment", "diagnosis", "records", "treatment", "health_safety"))


def test_history_complaints_proms_lists_six_factors(kb):
    assert len(list_items(kb, "list.adverse.history")) == 6


def test_adverse_assessment_findings_lists_twelve_factors(kb):
    assert len(list_items(kb, "list.adverse.assessment")) == 12


def test_poor_correlation_in_any_of_five_things(kb):
    assert len(list_items(kb, "adverse.assessment.poor_correlation")) == 5


def test_objective_findings_insufficient_for_five_reasons(kb):
    # two reasons on their own lines and three run together on one line
    assert len(list_items(kb, "adverse.assessment.objective_findings_insufficient")) == 5


def test_exam_performed_for_three_purposes(kb):
    labels = {kb.nodes[n]["label"] for n in list_items(kb, "adverse.assessment.exam_purpose")}
    assert labels == {"wellness", "pre-employment", "sports pre-participation"}


def test_diagnosis_not_supported_by_one_of_three(kb):
    assert list_items(kb, "list.adverse.diagnosis") == ["adverse.diagnosis.not_supported"]
    assert len(list_items(kb, "adverse.diagnosis.not_supported")) == 3


def test_submitted_medical_records_lists_six_factors(kb):
    assert len(list_items(kb, "list.adverse.records")) == 6


def test_insufficient_records_name_seven_pieces_of_pertinent_information(kb):
    assert len(list_items(kb, "adverse.records.insufficient")) == 7


def test_adverse_treatment_planning_lists_twenty_factors(kb):
    # 17 bullets in the text, one of which runs three bullets together (split: 19),
    # plus the paragraph on services not evidence-based (CPG 133).
    assert len(list_items(kb, "list.adverse.treatment")) == 20


def test_limited_short_trial_has_six_sub_bullets_and_leads_to_partial_approval(kb):
    assert len(list_items(kb, "adverse.treatment.limited_short_trial")) == 6
    assert targets(kb, "adverse.treatment.limited_short_trial", "leads_to") == {"review_outcome.partial_approval"}


def test_treatment_plan_for_any_of_seven_types(kb):
    assert len(list_items(kb, "adverse.treatment.plan_type_not_covered")) == 7


def test_treatment_plan_not_supported_for_five_reasons(kb):
    assert len(list_items(kb, "adverse.treatment.plan_not_supported")) == 5


def test_health_and_safety_lists_three_factors(kb):
    assert len(list_items(kb, "list.adverse.health_safety")) == 3


def test_adverse_factors_are_eighty_nine_and_each_leads_to_an_adverse_outcome(kb):
    factors = [n for n, d in kb.nodes(data=True) if d["kind"] == "adverse_determination_factor"]
    assert len(factors) == 89
    for n in factors:
        outs = targets(kb, n, "leads_to")
        assert outs and outs <= {"review_outcome.partial_approval", "review_outcome.denial"}, n


def test_maximum_therapeutic_benefit_leads_to_denial(kb):
    assert targets(kb, "adverse.assessment.mtb_approaching_or_reached", "leads_to") == {"review_outcome.denial"}
    assert "definition.mtb" in targets(kb, "adverse.assessment.mtb_approaching_or_reached", "uses_term")


def test_services_not_evidence_based_cite_cpg_133(kb):
    assert "related_policy.cpg_133" in targets(kb, "adverse.treatment.services_not_evidence_based", "cites")


# --- Referral / Coordination of Services ---------------------------------------------------

def test_nine_clinical_factors_may_require_referral(kb):
    assert len(list_items(kb, "list.referral.clinical_factors")) == 9


def test_constitutional_signs_weight_loss_over_ten_pounds(kb):
    th = kb.nodes["referral_trigger.constitutional_signs"]["threshold"]
    assert th == {"parameter": "weight_loss_threshold_lb", "operator": ">", "value": 10, "unit": "lb"}
    assert kb.nodes["referral_trigger.constitutional_signs"]["weight_loss_threshold_kg"] == 4.5
    owners = [n for n, d in kb.nodes(data=True)
              if d.get("threshold", {}).get("parameter") == "weight_loss_threshold_lb"]
    assert owners == ["referral_trigger.constitutional_signs"]


# --- Related Policies and References -----------------------------------------------------------

def test_thirteen_related_policies(kb):
    items = list_items(kb, "list.related_policies")
    assert len(items) == 13
    assert targets(kb, "list.related_policies", "related_policy") == set(items)
    assert "related_policy.um_8" in items and "related_policy.cpg_2" in items


def test_five_policies_cited_in_the_text(kb):
    assert targets(kb, "list.related_policies.cited_in_text", "related_policy") == {
        "related_policy.cpg_121", "related_policy.cpg_133", "related_policy.cpg_135",
        "related_policy.cpg_264", "related_policy.cpg_278"}


def test_forty_seven_references(kb):
    refs = list_items(kb, "list.references")
    assert len(refs) == 47
    assert all(kb.nodes[n]["kind"] == "reference" for n in refs)


def test_who_guideline_and_win_myint_are_two_references(kb):
    assert kb.nodes["reference.who_2023"]["year"] == 2023
    assert kb.nodes["reference.win_myint_2025"]["year"] == 2025
    assert kb.nodes["reference.fritz_2008"]["label"] == "Fritz S (2008)"
