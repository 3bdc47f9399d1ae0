"""The knowledge graph: loading, validation, queries, export, version."""
from __future__ import annotations

import json
import shutil

import networkx as nx
import pytest

import policy_kb
from policy_kb import AmbiguousLabel, UnknownLabel, around, by_kind, by_section, children, find, neighbours, search
from policy_kb.cli import main
from policy_kb.export import stats
from policy_kb.kb import GuidelineDataError, default_data_dir, kb_version, load_guideline, validate
from policy_kb.schema import KINDS, RELATIONS
from policy_kb.textcheck import labels_not_in_text

from .conftest import GUIDELINE_TEXT


@pytest.fixture()
def data_copy(tmp_path):
    dst = tmp_path / "guideline"
    shutil.copytree(default_data_dir(), dst)
    return dst


def test_the_shipped_guideline_data_is_valid():
    assert validate() == []


def test_every_item_has_a_kind_label_and_section(kb):
    for node, d in kb.nodes(data=True):
        assert d["kind"] in KINDS, node
        assert d["label"].strip(), node
        assert d["section"], node


def test_every_edge_has_a_known_relation(kb):
    for u, v, rel in kb.edges(data="relation"):
        assert rel in RELATIONS, (u, v, rel)


def test_no_orphans_everything_reaches_the_guideline_root(kb):
    part_of = nx.DiGraph([(u, v) for u, v, r in kb.edges(data="relation") if r == "part_of"])
    for node in kb.nodes:
        if node != "guideline":
            assert nx.has_path(part_of, node, "guideline"), node


def test_graph_is_large_enough_to_hold_every_enumerated_item(kb):
    # the issue expects roughly 300 guideline items; rules and parameters come on top
    guideline_items = [n for n, k in kb.nodes(data="kind") if k not in ("rule", "parameter", "list", "section")]
    assert len(guideline_items) >= 300


def test_cancer_is_ambiguous_and_the_error_lists_both_listings(kb):
    with pytest.raises(AmbiguousLabel) as err:
        find(kb, "Cancer")
    ids = {c[0] for c in err.value.candidates}
    assert {"contraindication.local_absolute.cancer", "contraindication.general_relative.cancer"} <= ids
    assert "local_absolute_contraindication" in str(err.value)


def test_kind_resolves_an_ambiguous_label(kb):
    assert find(kb, "cancer", kind="general_relative_contraindication") == ["contraindication.general_relative.cancer"]


def test_label_match_ignores_case_punctuation_and_trailing_parenthetical(kb):
    assert find(kb, "significant FEVER") == ["contraindication.general_absolute.significant_fever"]
    assert find(kb, "Significant fever (>101.5 degrees F)") == ["contraindication.general_absolute.significant_fever"]


def test_a_red_flag_listed_under_two_headings_is_one_finding(kb):
    ids = find(kb, "Unexplained dizziness or hearing loss")
    assert ids == ["red_flag.history.unexplained_dizziness_or_hearing_loss",
                   "red_flag.present_complaint.unexplained_dizziness_or_hearing_loss"]


def test_unknown_label_suggests_the_closest(kb):
    with pytest.raises(UnknownLabel) as err:
        find(kb, "Sadle anestesia")
    assert any("Saddle anesthesia" in c[2] for c in err.value.candidates)


def test_every_synonym_finds_its_item_or_names_it_among_the_candidates(kb):
    some = [(n, s) for n, d in kb.nodes(data=True) for s in d.get("synonyms", [])]
    assert len(some) > 50
    for node, syn in some:
        try:
            assert node in find(kb, syn, kind=kb.nodes[node]["kind"])
        except AmbiguousLabel as exc:  # the same words for two items of one kind
            assert node in {c[0] for c in exc.candidates}


def test_a_synonym_shared_by_two_kinds_is_ambiguous_not_silently_one_of_them(kb):
    with pytest.raises(AmbiguousLabel) as err:
        find(kb, "Thrombophlebitis")
    assert "contraindication.local_absolute.phlebitis_thrombophlebitis_arteritis" in {c[0] for c in err.value.candidates}


def test_query_by_kind_and_section(kb):
    assert len(by_kind(kb, "criterion")) == 9
    assert "contraindication.general_absolute.sepsis" in by_section(kb, "THERAPEUTIC PROCEDURES AND MODALITIES > Relative")


def test_neighbours_by_relation(kb):
    out = neighbours(kb, "contraindication.local_absolute.cancer", relation="also_listed_as")
    assert {v for _, _, v in out} >= {"contraindication.general_relative.cancer",
                                       "red_flag.history.personal_or_family_history_of_cancer"}
    ins = neighbours(kb, "referral_trigger.red_yellow_flags", relation="triggers", direction="in")
    assert len(ins) >= 45  # every red flag triggers it


def test_subgraph_around_an_item(kb):
    sub = around(kb, "contraindication.general_absolute.significant_fever", radius=1)
    assert "list.contraindication.general_absolute" in sub
    assert "red_flag.physical_assessment.fever_chills_or_sweats" in sub
    only = around(kb, "contraindication.general_absolute.significant_fever", radius=2, relations=["also_listed_as"])
    assert all(r == "also_listed_as" for *_, r in only.edges(data="relation"))


def test_search_finds_by_words(kb):
    assert "red_flag.not_benign_pattern.saddle_anesthesia" in search(kb, "saddle")


def test_children_of_a_list(kb):
    assert len(children(kb, "list.contraindication.general_absolute")) == 7


def test_the_graph_is_frozen_so_callers_cannot_corrupt_the_cache(kb):
    with pytest.raises(nx.NetworkXError):
        kb.add_node("x")


def test_kb_version_is_effective_date_and_content_hash(data_copy):
    v1 = kb_version(data_copy)
    assert v1.startswith("2026-01-01+") and len(v1.split("+")[1]) == 12
    f = data_copy / "yellow_flags.yaml"
    f.write_text(f.read_text().replace("label: depressive symptoms", "label: depressive symptoms, low mood", 1))
    assert kb_version(data_copy) != v1
    assert policy_kb.kb_version() == load_guideline().graph["kb_version"]


@pytest.mark.parametrize("breakage, expected", [
    (("yellow_flags.yaml", "id: yellow_flag.depressive_symptoms", "id: yellow_flag.injuries_in_litigation"), "duplicate id"),
    (("rules.yaml", "implements: [criterion.c2_qualified_practitioner]", "implements: [criterion.c99]"), "no such item"),
    (("yellow_flags.yaml", "part_of: section.review.critical_factors.yellow_flags", "part_of: nowhere.at_all"), "no such item"),
    (("rules.yaml", "when: n_yellow > 0", "when: n_yellow > 2"), "make them named parameters"),
    (("rules.yaml", "when: n_yellow > 0", "when: n_yelow > 0"), "unknown name"),
])
def test_validation_names_file_item_and_problem(data_copy, breakage, expected):
    name, old, new = breakage
    path = data_copy / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    problems = validate(data_copy)
    assert problems and any(expected in p.message and p.file == name for p in problems), problems
    with pytest.raises(GuidelineDataError):
        load_guideline(data_copy)


def test_precedence_cycle_is_a_validation_error(data_copy):
    path = data_copy / "rules.yaml"
    text = path.read_text().replace(
        "    overrides: [rule.safety.relative_contraindication, rule.safety.red_flag_addressed]",
        "    overrides: [rule.safety.relative_contraindication, rule.safety.red_flag_addressed]\n", 1)
    text = text.replace("    implements: [definition.red_flag]\n    actions: [monitor_response]",
                        "    implements: [definition.red_flag]\n    overrides: [rule.safety.red_flag_unaddressed]\n    actions: [monitor_response]", 1)
    path.write_text(text)
    assert any("cycle" in p.message for p in validate(data_copy))


def test_cli_validate_exits_nonzero_naming_each_problem(data_copy, capsys):
    (data_copy / "yellow_flags.yaml").write_text((data_copy / "yellow_flags.yaml").read_text().replace(
        "id: yellow_flag.depressive_symptoms", "id: yellow_flag.injuries_in_litigation", 1))
    assert main(["--data", str(data_copy), "validate"]) == 1
    out = capsys.readouterr().out
    assert "yellow_flags.yaml: yellow_flag.injuries_in_litigation: duplicate id" in out


def test_cli_validate_is_clean(capsys):
    assert main(["validate"]) == 0
    assert capsys.readouterr().out.startswith("ok:")


def test_malformed_yaml_is_reported_with_file_and_line(data_copy):
    (data_copy / "zz_broken.yaml").write_text("title: x\nnodes: [\n")
    problems = validate(data_copy)
    assert any(p.file == "zz_broken.yaml" and "malformed YAML" in p.message for p in problems)


def test_export_node_link_and_graphml_round_trip(tmp_path, kb, capsys):
    nl = tmp_path / "g.json"
    gm = tmp_path / "g.graphml"
    assert main(["graph", "export", "--format", "node-link", "-o", str(nl)]) == 0
    assert main(["graph", "export", "--format", "graphml", "-o", str(gm)]) == 0
    back = nx.node_link_graph(json.loads(nl.read_text()), directed=True, multigraph=True, edges="edges")
    assert back.number_of_nodes() == kb.number_of_nodes() and back.number_of_edges() == kb.number_of_edges()
    g2 = nx.read_graphml(gm)
    assert g2.number_of_nodes() == kb.number_of_nodes() and g2.number_of_edges() == kb.number_of_edges()
    assert json.loads(g2.nodes["contraindication.general_absolute.significant_fever"]["threshold"])["value"] == 101.5


def test_export_never_overwrites_silently(tmp_path, capsys):
    out = tmp_path / "g.json"
    out.write_text("precious")
    assert main(["graph", "export", "-o", str(out)]) == 2
    assert out.read_text() == "precious"
    assert "exists" in capsys.readouterr().err


def test_graph_stats_counts_kinds_and_relations(kb, capsys):
    s = stats(kb)
    assert s["nodes"] == kb.number_of_nodes()
    assert sum(s["edges_per_relation"].values()) == kb.number_of_edges()
    assert main(["graph", "stats"]) == 0
    assert "nodes per kind" in capsys.readouterr().out


def test_cli_find_reports_ambiguity_in_one_line(capsys):
    assert main(["find", "Cancer"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "ambiguous" in err


@pytest.mark.skipif(not GUIDELINE_TEXT.exists(), reason="the guideline text is not part of the project")
def test_verbatim_labels_occur_in_the_guideline_text(kb):
    assert labels_not_in_text(kb, GUIDELINE_TEXT.read_text(encoding="utf-8")) == []
