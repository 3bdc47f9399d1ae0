"""The case file contract (spec: case-format.md): pydantic models, loading, one-line errors."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Region = Literal["cervical", "thoracic", "lumbar", "sacroiliac", "shoulder", "elbow", "wrist_hand",
                 "hip", "knee", "ankle_foot", "head", "other"]
COVERED_PURPOSES = ("restoring_muscle_function", "reducing_edema", "improving_joint_motion",
                    "relieving_muscle_spasm", "restoring_physical_function")
NON_COVERED_PURPOSES = ("stress_management", "general_wellness", "sports_performance", "preventive",
                        "maintenance", "convenience")
Purpose = Literal["restoring_muscle_function", "reducing_edema", "improving_joint_motion",
                  "relieving_muscle_spasm", "restoring_physical_function", "stress_management",
                  "general_wellness", "sports_performance", "preventive", "maintenance", "convenience"]
Instrument = Literal["NPRS", "NDI", "ODI", "DASH", "QuickDASH", "LEFS", "PSFS"]
SPINAL_REGIONS = ("cervical", "thoracic", "lumbar", "sacroiliac")


class CaseError(ValueError):
    """Bad case input. `field` is the dotted path of the offending field; str() is one line."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(_Strict):
    age: int | None = Field(default=None, ge=0, le=120)
    sex: Literal["female", "male", "other", "unknown"] = "unknown"


class Practitioner(_Strict):
    type: Literal["massage_therapist", "physical_therapist", "chiropractor", "acupuncturist", "other"] = "massage_therapist"
    licensed: bool = True


class Condition(_Strict):
    complaint: str = ""
    regions: list[Region] = Field(default_factory=list)
    onset_date: dt.date | None = None
    exacerbation_date: dt.date | None = None
    mechanism: str | None = None
    severity: Literal["mild", "moderate", "severe"] = "moderate"
    radiates_below_knee_or_elbow: bool = False
    prior_episodes: int = Field(default=0, ge=0)


class Service(_Strict):
    cpt: Literal["97124", "97140"]
    units_per_visit: int = Field(default=1, ge=1, le=8)
    regions: list[Region] = Field(default_factory=list)

    @field_validator("cpt", mode="before")
    @classmethod
    def _cpt_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class Plan(_Strict):
    services: list[Service] = Field(default_factory=list)
    visits_per_week: int = Field(default=1, ge=1, le=7)
    weeks: int = Field(default=1, ge=1, le=52)
    modalities: list[Literal["thermotherapy", "cryotherapy"]] = Field(default_factory=list)
    goals: list[str] = Field(default_factory=list)


class Outcome(_Strict):
    instrument: Instrument
    date: dt.date
    score: float


class Finding(_Strict):
    label: str = Field(min_length=1)
    kind: str | None = None
    addressed: bool = False
    region: Region | None = None


class Vitals(_Strict):
    temperature_f: float | None = Field(default=None, ge=80, le=115)
    weight_loss_lbs_6mo: float | None = Field(default=None, ge=0, le=200)


class Documentation(_Strict):
    dated_and_signed: bool = False
    symptoms_described: bool = False
    objective_findings: bool = False
    functional_deficits: bool = False
    measurable_goals: bool = False
    individualized_plan: bool = False
    home_care_instructions: bool = False
    treatment_time_documented: bool = False
    flags_screened: bool = False
    estimated_discharge_date: dt.date | None = None


class Episode(_Strict):
    visits_completed: int = Field(default=0, ge=0)
    maintenance_care: bool = False
    mtb_reached: bool = False
    home_program_sufficient: bool = False
    duplicative_services: bool = False
    exacerbation_documented: bool = False
    complies_with_plan: bool = True


# the documentation items a case records as documented or not, and the episode's yes/no facts: read by facts.py
DOCUMENTED_KEYS = tuple(k for k, f in Documentation.model_fields.items() if f.annotation is bool)
EPISODE_FLAGS = tuple(k for k, f in Episode.model_fields.items() if f.annotation is bool)


class Case(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    submission: Literal["initial", "continued"] = "initial"
    review_date: dt.date
    member: Member = Field(default_factory=Member)
    practitioner: Practitioner = Field(default_factory=Practitioner)
    condition: Condition = Field(default_factory=Condition)
    purposes: list[Purpose] = Field(default_factory=list)
    plan: Plan = Field(default_factory=Plan)
    outcomes: list[Outcome] = Field(default_factory=list)
    findings: list[Union[Finding, str]] = Field(default_factory=list)
    vitals: Vitals = Field(default_factory=Vitals)
    comorbidities: list[str] = Field(default_factory=list)
    documentation: Documentation = Field(default_factory=Documentation)
    episode: Episode = Field(default_factory=Episode)

    @field_validator("findings", mode="after")
    @classmethod
    def _findings_as_objects(cls, v: list) -> list:
        return [Finding(label=f) if isinstance(f, str) else f for f in v]

    @model_validator(mode="after")
    def _dates_not_after_review(self) -> "Case":
        rd = self.review_date
        for field, value in (("condition.onset_date", self.condition.onset_date),
                             ("condition.exacerbation_date", self.condition.exacerbation_date)):
            if value is not None and value > rd:
                raise ValueError(f"@{field}@ {value} is after review_date {rd}; it must be on or before it")
        c = self.condition
        if c.exacerbation_date and c.onset_date and c.exacerbation_date < c.onset_date:
            raise ValueError(f"@condition.exacerbation_date@ {c.exacerbation_date} is before onset_date {c.onset_date}; "
                             "an exacerbation comes after the onset")
        for i, o in enumerate(self.outcomes):
            if o.date > rd:
                raise ValueError(f"@outcomes.{i}.date@ {o.date} is after review_date {rd}; it must be on or before it")
        return self

    @property
    def requested(self) -> dict[str, int]:
        return {"visits": self.plan.visits_per_week * self.plan.weeks, "weeks": self.plan.weeks,
                "visits_per_week": self.plan.visits_per_week}


def _allowed(err: dict) -> str:
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        return f"allowed: {ctx['expected']}"
    return ""


def _one_line(exc: ValidationError) -> CaseError:
    """The first validation error as 'field: what is wrong (allowed: ...)'."""
    errors = exc.errors()
    # a union (finding as text or object) reports both branches; prefer the object branch
    err = errors[0]
    loc = [str(p) for p in err["loc"] if p not in ("Finding", "str")]
    field = ".".join(loc)
    msg = err["msg"]
    if msg.startswith("Value error, @"):
        _, field, rest = msg.split("@", 2)
        return CaseError(field, rest.strip())
    if err["type"] == "extra_forbidden":
        return CaseError(field, "unknown key (a typo must not silently change a determination)")
    if err["type"] == "missing":
        return CaseError(field, "required field is missing")
    if err["type"] == "literal_error":
        return CaseError(field, f"{err.get('input')!r} is not allowed; {_allowed(err)}")
    extra = _allowed(err)
    return CaseError(field, f"{msg} (got {err.get('input')!r})" + (f"; {extra}" if extra else ""))


def parse_case(data: Any) -> Case:
    """A Case from parsed YAML/JSON data; raises CaseError with a one-line message."""
    if not isinstance(data, dict):
        raise CaseError("", f"a case must be a mapping of fields, not {type(data).__name__}")
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc) from None


def load_case(path: str | Path) -> Case:
    """Read a case file (YAML with a safe loader, or JSON); raises CaseError on bad input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CaseError("", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CaseError("", f"{path.name}: malformed {'JSON' if path.suffix == '.json' else 'YAML'}{where}") from None
    return parse_case(data)


GOLDEN_DIR = Path(__file__).resolve().parent.parent / "data" / "cases"


def case_files(folder: str | Path | None = None) -> list[Path]:
    """The case files of a folder (default: the golden library), in name order; golden expectations
    (`*.expected.yaml`) are not cases."""
    folder = Path(folder) if folder is not None else GOLDEN_DIR
    return [p for p in sorted(folder.iterdir())
            if p.suffix in (".yaml", ".yml", ".json") and not p.name.endswith((".expected.yaml", ".expected.yml"))]


def case_to_dict(case: Case) -> dict:
    """The case as plain data (dates as ISO strings), the same shape as a case file."""
    return json.loads(case.model_dump_json())
