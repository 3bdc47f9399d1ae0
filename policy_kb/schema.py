"""The vocabulary and the pydantic model of the guideline YAML files (see data/guideline/FORMAT.md)."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Node kinds: every node of the knowledge graph has exactly one. Grouped by the part of the guideline.
KINDS: dict[str, str] = {
    # structure
    "guideline": "the guideline document itself (the root)",
    "section": "a heading of the guideline",
    "list": "an enumerated list under a heading (its items are part_of it)",
    # GUIDELINES
    "purpose": "a covered purpose of therapeutic massage (Medically Necessary, criterion 1)",
    "non_covered_purpose": "a purpose the guideline does not cover (wellness, stress management, ...)",
    "criterion": "one of the nine medical-necessity criteria (ALL must be met)",
    "not_necessary_condition": "a ground on which massage is Not Medically Necessary",
    "definition": "a defined term (Definitions of Key Terminology)",
    # DESCRIPTION / PROCEDURES
    "assessment_element": "an element a therapeutic-massage assessment may include",
    "frequency_duration_factor": "a factor the frequency and duration of treatment depend on",
    "procedure": "a CPT-coded therapeutic procedure (97124, 97140)",
    "technique": "a named massage or soft tissue technique within a procedure",
    "modality": "a therapeutic modality (thermotherapy, cryotherapy)",
    "local_absolute_contraindication": "local absolute contraindication to massage",
    "general_absolute_contraindication": "general absolute contraindication to massage",
    "local_relative_contraindication": "local relative contraindication to massage",
    "general_relative_contraindication": "general relative contraindication to massage",
    "relative_contraindication_adjustment": "a way relative contraindications alter delivery of massage",
    "modality_contraindication": "a contraindication to a modality",
    "modality_precaution": "a precaution for a modality",
    # DOCUMENTATION
    "documentation_element": "an element the documentation must show",
    "outcome_measure": "a patient reported outcome measure (PROM)",
    # CLINICAL REVIEW PROCESS
    "review_outcome": "a determination a review can reach (approval, partial approval, denial)",
    "approval_factor": "an item that influences clinical service approvals",
    "partial_approval_reason": "a reason for a partial approval",
    "denial_ground": "a clinical ground for non-approval / denial",
    "additional_care_criterion": "a criterion for approving additional / continued care",
    "expected_clinical_information": "clinical information the CQE expects to see",
    "patient_variable": "a patient-specific variable that influences the care approved",
    "sdoh_domain": "a domain of Social Determinants of Health",
    "health_equity_factor": "a factor that can impede health equity",
    "general_factor": "a general factor influencing clinical decisions",
    "complaint_factor": "a factor of the nature of the complaint",
    "history_factor": "a factor of the history",
    "assessment_factor": "a factor of the assessment",
    "red_flag": "a red flag (sign or symptom warranting immediate medical assessment)",
    "yellow_flag": "a yellow flag (psychosocial adverse prognostic indicator)",
    "historical_review_factor": "a factor assessed in the Assessment of Historical Information",
    "assessment_review_factor": "a factor assessed in the Assessment Findings review",
    "treatment_planning_review_factor": "a factor assessed in the Assessment of Treatment / Treatment Planning",
    "adverse_determination_factor": "a factor that influences adverse determinations (partial approvals / denials)",
    "referral_trigger": "a clinical factor that may require referral or coordination of services",
    # ROOT metadata
    "related_policy": "a related policy named by the guideline",
    "reference": "a reference cited by the guideline",
    # the executable layer (issue 3)
    "rule": "an executable review rule implementing guideline items",
    "parameter": "a named number a rule reads (guideline or assumption)",
}

# Edge relations. part_of runs child -> parent; the others from the node that lists them.
RELATIONS: dict[str, str] = {
    "part_of": "item -> the list or section it belongs to",
    "uses_term": "item -> a definition whose term it uses (MCID, MTB, acute, red flag ...)",
    "defines": "definition -> the item or concept it defines",
    "contraindicates": "contraindication -> procedure or modality it rules out",
    "precaution_for": "precaution -> modality or procedure it calls for caution with",
    "triggers": "flag or finding -> referral trigger or review outcome it sets off",
    "leads_to": "factor -> review outcome it can lead to",
    "supports": "factor or documentation element -> criterion or outcome it supports",
    "includes": "procedure -> technique it includes",
    "measures": "outcome measure -> what it measures (pain, function, region)",
    "also_listed_as": "the same finding listed elsewhere in the guideline (symmetric)",
    "cites": "item or section -> reference it cites",
    "related_policy": "guideline -> a related policy",
    "implements": "rule -> guideline item it implements",
    "reads": "rule -> parameter it reads",
    "overrides": "rule -> rule it takes precedence over",
    "threshold_of": "parameter -> item whose threshold it is",
}

ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameter: str | None = None
    operator: str = Field(pattern=r"^(>|>=|<|<=|==|between)$")
    value: float | list[float]
    unit: str


class NodeEntry(BaseModel):
    """One node as written in a guideline YAML file."""

    model_config = ConfigDict(extra="forbid")
    id: str
    kind: str | None = None
    label: str
    section: str | None = None
    part_of: str | None = None
    item_kind: str | None = None
    items: list["NodeEntry"] = Field(default_factory=list)
    relations: dict[str, list[str]] = Field(default_factory=dict)
    synonyms: list[str] = Field(default_factory=list)
    notes: str | None = None
    threshold: Threshold | None = None
    paraphrase: bool = False
    source: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_style(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError(f"id {v!r} must be dotted lower-case words [a-z0-9_]")
        return v

    @field_validator("kind", "item_kind")
    @classmethod
    def _known_kind(cls, v: str | None) -> str | None:
        if v is not None and v not in KINDS:
            raise ValueError(f"unknown kind {v!r}; allowed: {', '.join(KINDS)}")
        return v

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("label must not be empty")
        return v.strip()

    @field_validator("relations")
    @classmethod
    def _known_relations(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for rel in v:
            if rel not in RELATIONS or rel == "part_of":
                raise ValueError(f"unknown relation {rel!r}; allowed: {', '.join(r for r in RELATIONS if r != 'part_of')}")
        return v


class GuidelineFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    nodes: list[NodeEntry]
