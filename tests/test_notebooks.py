"""Notebooks run as regression tests: papermill executes each with its parameters; the outputs are checked."""
from __future__ import annotations

from pathlib import Path

import papermill as pm
import pytest

from .conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.notebook


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", ""))
            out.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(out)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_has_exactly_one_parameters_cell_and_the_python3_kernel(path):
    import nbformat
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged parameters"


def run(path: Path, tmp_path: Path, **parameters):
    declared = pm.inspect_notebook(str(path))
    missing = set(parameters) - set(declared)
    assert not missing, f"{path.name} declares no parameter(s) {missing}"
    return pm.execute_notebook(str(path), str(tmp_path / path.name), parameters=parameters, kernel_name="python3",
                               progress_bar=False, cwd=str(path.parent), execution_timeout=120)


def test_start_here_tours_the_graph_and_judges_a_case(tmp_path):
    nb = run(REPO / "notebooks" / "00_start_here.ipynb", tmp_path, item_label="Saddle anesthesia", item_kind=None,
             show_graph=False, case_file="../data/cases/lbp-chronic-initial-approved.yaml")
    text = _text(nb)
    assert "red_flag.not_benign_pattern.saddle_anesthesia" in text
    assert "APPROVED" in text


def test_start_here_with_a_denied_case(tmp_path):
    nb = run(REPO / "notebooks" / "00_start_here.ipynb", tmp_path, show_graph=False,
             case_file="../data/cases/lbp-saddle-anesthesia-urgent-referral.yaml")
    assert "DENIED" in _text(nb)
