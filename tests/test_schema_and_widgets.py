"""The published case schema is current and validates the golden cases; the graph view renders offline."""
from __future__ import annotations

import json

import jsonschema
import yaml

from policy_kb.case import case_files
from policy_kb.schema_export import SCHEMA_PATH, schema_text
from widgets import graph_html, graph_widget



def test_published_case_schema_is_current():
    assert SCHEMA_PATH.read_text() == schema_text(), "run: python -m policy_kb.schema_export"


def test_golden_cases_validate_against_the_published_schema():
    schema = json.loads(SCHEMA_PATH.read_text())
    for p in case_files():
        data = json.loads(json.dumps(yaml.safe_load(p.read_text()), default=str))
        jsonschema.validate(data, schema)


def test_graph_view_inlines_vis_network_so_it_works_offline(kb):
    from policy_kb import around
    sub = around(kb, "contraindication.local_absolute.cancer", 1)
    page = graph_html(sub, {"contraindication.local_absolute.cancer"})
    assert "vis-network" in page and "https://unpkg.com" not in page.split("<body>")[1][:2000]
    assert "Personal or family history of cancer" in page
    w = graph_widget(sub)
    assert w.value.startswith("<div><iframe srcdoc=")
