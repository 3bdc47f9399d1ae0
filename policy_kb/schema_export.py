"""The published JSON Schema of the case file (data/schema/case.schema.json), generated from the models."""
from __future__ import annotations

import json
from pathlib import Path

from .case import Case

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "schema" / "case.schema.json"


def case_schema() -> dict:
    schema = Case.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "policy-kb case file: a treatment submission for medical-necessity review"
    return schema


def schema_text() -> str:
    return json.dumps(case_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m policy_kb.schema_export
    print(write_schema())
