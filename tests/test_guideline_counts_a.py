"""How many items the guideline lists, part by part (GUIDELINES, DESCRIPTION/ BACKGROUND,
THERAPEUTIC PROCEDURES AND MODALITIES), and a few labels, thresholds and relations that matter.

Every number here was counted in the guideline text itself; the tests check that the graph holds
exactly that many items.
"""
from __future__ import annotations

import pytest

from tests.conftest import list_items


def _targets(g, node: str, relation: str) -> set[str]:
    return {t for _, t, rel in g.out_edges(node, data="relation") if rel == relation}


def _kinds(g, ids) -> set[str]:
    return {g.nodes[i]["kind"] for i in ids}


# ---------------------------------------------------------------- GUIDELINES > Medically Necessary

def test_medically_necessary_requires_all_nine_criteria(kb):
    items = list_items(kb, "list.criterion.medically_necessary")
    assert len(items) == 9
    assert _kinds(kb, items) == {"criterion"}
    assert sorted(kb.nodes[i]["number"] for i in items) == list(range(1, 10))


def test_criterion_1_names_five_purposes_of_therapeutic_massage(kb):
    items = list_items(kb, "criterion.c1_purpose")
    assert len(items) == 5
    assert _kinds(kb, items) == {"purpose"}
    assert kb.nodes["purpose.restoring_physical_function"]["label"] == "Restoring or improving physical function"


def test_reasonable_and_predictable_period_is_generally_up_to_4_weeks(kb):
    node = kb.nodes["definition.reasonable_and_predictable_period"]
    assert node["kind"] == "definition"
    assert node["threshold"] == {"parameter": "reasonable_period_weeks", "operator": "<=", "value": 4, "unit": "weeks"}
    assert "definition.reasonable_and_predictable_period" in _targets(kb, "criterion.c4_expected_improvement", "uses_term")


def test_a_reasonable_trial_of_care_is_influenced_by_five_factors(kb):
    assert len(list_items(kb, "definition.reasonable_and_predictable_period")) == 5


def test_patient_specific_elements_of_a_trial_of_care_are_five(kb):
    # age, gender, past and current medical history, family history, relevant psychosocial factors
    assert len(list_items(kb, "trial_of_care_factor.patient_specific_elements")) == 5


# ---------------------------------------------------------------- GUIDELINES > Not Medically Necessary

def test_not_medically_necessary_lists_five_grounds(kb):
    items = list_items(kb, "list.not_necessary.conditions")
    assert len(items) == 5
    assert _kinds(kb, items) == {"not_necessary_condition"}


def test_no_expected_improvement_ground_has_four_sub_bullets(kb):
    items = list_items(kb, "not_necessary.no_expected_improvement")
    assert len(items) == 4
    assert "not_necessary.no_expected_improvement.mtb_reached" in items
    assert "definition.mtb" in _targets(kb, "not_necessary.no_expected_improvement.mtb_reached", "uses_term")


def test_six_non_covered_purposes_each_lead_to_a_not_medically_necessary_ground(kb):
    items = list_items(kb, "list.non_covered_purpose.not_medically_necessary")
    assert len(items) == 6
    assert _kinds(kb, items) == {"non_covered_purpose"}
    for item in items:
        grounds = {t for t in _targets(kb, item, "leads_to") if t.startswith("not_necessary.")}
        assert grounds, item
    assert _targets(kb, "non_covered_purpose.stress_management", "leads_to") == {"not_necessary.general_wellness"}
    assert _targets(kb, "non_covered_purpose.sports_performance", "leads_to") == {"not_necessary.general_wellness"}
    assert _targets(kb, "non_covered_purpose.maintenance", "leads_to") == {"not_necessary.maintenance"}


# ---------------------------------------------------------------- GUIDELINES > Definitions

def test_definitions_of_key_terminology_are_twelve(kb):
    items = [i for i in list_items(kb, "section.guidelines.definitions") if kb.nodes[i]["kind"] == "definition"]
    assert len(items) == 12


def test_elective_convenience_services_have_four_examples_a_to_d(kb):
    items = list_items(kb, "definition.elective_convenience_services")
    assert len(items) == 4
    assert sorted(kb.nodes[i]["example"] for i in items) == ["a", "b", "c", "d"]


def test_mtb_definition_has_one_consider_referring_bullet(kb):
    assert list_items(kb, "definition.mtb") == ["definition.mtb.consider_referral"]


@pytest.mark.parametrize("node, operator, value, parameter", [
    ("definition.acute", "<", 6, "acute_max_weeks"),
    ("definition.sub_acute", "<=", 12, "subacute_max_weeks"),
    ("definition.chronic", ">", 12, "subacute_max_weeks"),
])
def test_stages_of_a_condition_have_week_thresholds(kb, node, operator, value, parameter):
    t = kb.nodes[node]["threshold"]
    assert (t["operator"], t["value"], t["parameter"], t["unit"]) == (operator, value, parameter, "weeks")


def test_sub_acute_starts_after_six_weeks(kb):
    assert kb.nodes["definition.sub_acute"]["lower_bound"] == {
        "parameter": "acute_max_weeks", "operator": ">", "value": 6, "unit": "weeks"}


# ---------------------------------------------------------------- DESCRIPTION/ BACKGROUND

def test_therapeutic_massage_assessment_may_include_eight_elements(kb):
    items = list_items(kb, "list.background.assessment_elements")
    assert len(items) == 8
    assert _kinds(kb, items) == {"assessment_element"}


def test_frequency_and_duration_of_treatment_depend_on_four_factors(kb):
    items = list_items(kb, "list.background.frequency_duration_factors")
    assert len(items) == 4
    assert _kinds(kb, items) == {"frequency_duration_factor"}


# ---------------------------------------------------------------- THERAPEUTIC PROCEDURES AND MODALITIES

def test_therapeutic_massage_97124_includes_four_basic_forms(kb):
    assert len(list_items(kb, "list.technique.cpt_97124")) == 4
    assert len(_targets(kb, "procedure.cpt_97124", "includes")) == 4
    assert kb.nodes["technique.cpt_97124.swedish_massage"]["label"] == "Swedish massage"


def test_soft_tissue_mobilization_97140_includes_four_named_techniques(kb):
    assert len(list_items(kb, "list.technique.cpt_97140")) == 4
    assert len(_targets(kb, "procedure.cpt_97140", "includes")) == 4


def test_local_absolute_contraindications_are_all_seven(kb):
    assert len(list_items(kb, "list.contraindication.local_absolute")) == 7


def test_general_absolute_contraindications_are_all_seven(kb):
    assert len(list_items(kb, "list.contraindication.general_absolute")) == 7


def test_local_relative_contraindications_are_all_nine(kb):
    assert len(list_items(kb, "list.contraindication.local_relative")) == 9


def test_general_relative_contraindications_are_all_twelve(kb):
    assert len(list_items(kb, "list.contraindication.general_relative")) == 12


def test_relative_contraindications_alter_delivery_in_six_ways(kb):
    items = list_items(kb, "list.contraindication.relative_adjustments")
    assert len(items) == 6
    assert _kinds(kb, items) == {"relative_contraindication_adjustment"}


@pytest.mark.parametrize("severity", ["local_absolute", "general_absolute", "local_relative", "general_relative"])
def test_every_contraindication_list_contraindicates_both_procedures(kb, severity):
    assert _targets(kb, f"list.contraindication.{severity}", "contraindicates") == {
        "procedure.cpt_97124", "procedure.cpt_97140"}


def test_significant_fever_is_above_101_5_degrees_f(kb):
    node = kb.nodes["contraindication.general_absolute.significant_fever"]
    assert node["threshold"] == {"parameter": "fever_threshold_f", "operator": ">", "value": 101.5, "unit": "degF"}
    assert "fever" in node["synonyms"]


def test_cancer_is_listed_as_local_absolute_general_relative_and_red_flag(kb):
    assert {"contraindication.general_relative.cancer", "red_flag.history.personal_or_family_history_of_cancer",
            "modality_contraindication.thermotherapy.local_malignant_tumor"} <= _targets(
        kb, "contraindication.local_absolute.cancer", "also_listed_as")


def test_osteoporosis_is_also_a_metabolic_bone_disorder_red_flag(kb):
    assert "red_flag.history.metabolic_bone_disorder" in _targets(
        kb, "contraindication.general_relative.osteoporosis", "also_listed_as")


@pytest.mark.parametrize("list_id, relation, modality, count", [
    ("list.modality_contraindication.thermotherapy", "contraindicates", "modality.thermotherapy", 7),
    ("list.modality_precaution.thermotherapy", "precaution_for", "modality.thermotherapy", 11),
    ("list.modality_contraindication.cryotherapy", "contraindicates", "modality.cryotherapy", 7),
    ("list.modality_precaution.cryotherapy", "precaution_for", "modality.cryotherapy", 5),
])
def test_modality_lists_have_the_guideline_counts(kb, list_id, relation, modality, count):
    assert len(list_items(kb, list_id)) == count
    assert _targets(kb, list_id, relation) == {modality}


def test_thermotherapy_thrombophlebitis_and_infected_areas_are_massage_contraindications_too(kb):
    assert "contraindication.local_absolute.phlebitis_thrombophlebitis_arteritis" in _targets(
        kb, "modality_contraindication.thermotherapy.thrombophlebitis", "also_listed_as")
    assert "contraindication.local_absolute.infections" in _targets(
        kb, "modality_contraindication.thermotherapy.infected_areas", "also_listed_as")
