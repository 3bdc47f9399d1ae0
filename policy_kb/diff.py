"""Readable differences between two versions of the policy (two data folders or two git refs):
items, relations, parameters and rules added / removed / changed, and the impact on outcomes."""
from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from .kb import GuidelineDataError, default_data_dir, load_guideline

ITEM_FIELDS = ("kind", "label", "section", "synonyms", "notes", "threshold", "urgency", "heading")
RULE_FIELDS = ("effect", "when", "cap", "urgency", "urgent_when", "message", "actions", "disabled")


class DiffError(ValueError):
    """A version that cannot be read (no such folder or git ref, or invalid data); one line."""


@dataclass
class PolicyDiff:
    old_version: str
    new_version: str
    items: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)

    def sentences(self) -> list[str]:
        out = [f"From {self.old_version} to {self.new_version}:"]
        for title, lines in (("Items", self.items), ("Relations", self.relations),
                             ("Parameters", self.parameters), ("Rules", self.rules)):
            out.append(f"{title}: {'no change' if not lines else f'{len(lines)} change(s)'}")
            out += [f"  - {x}" for x in lines]
        return out

    @property
    def empty(self) -> bool:
        return not (self.items or self.relations or self.parameters or self.rules)


def resolve_version(spec: str | Path, repo: Path | None = None) -> Path:
    """A data folder for a version: an existing folder, or a git ref whose data/guideline is exported."""
    path = Path(spec)
    if path.is_dir():
        return path
    repo = repo or default_data_dir().parent.parent
    try:
        blob = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", str(spec), "data/guideline"],
                              capture_output=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        raise DiffError(f"{spec}: neither a folder nor a git ref with data/guideline") from None
    dest = Path(tempfile.mkdtemp(prefix="policy-kb-diff-"))
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "data" / "guideline"


def load_version(spec: str | Path) -> nx.MultiDiGraph:
    folder = resolve_version(spec)
    try:
        return load_guideline(folder)
    except GuidelineDataError as exc:
        raise DiffError(f"{spec}: the guideline data does not load ({len(exc.problems)} problem(s); first: {exc.problems[0]})") from None


def _label(g: nx.MultiDiGraph, n: str) -> str:
    d = g.nodes[n]
    return f"{d['kind'].replace('_', ' ')} '{d['label']}' ({n})"


def _node_changes(old: nx.MultiDiGraph, new: nx.MultiDiGraph, ids_old: set[str], ids_new: set[str],
                  fields: tuple[str, ...], full, short) -> list[str]:
    """Sentences for nodes added, removed, and changed in any of `fields` (items and rules alike)."""
    out = [f"added {full(new, n)}" for n in sorted(ids_new - ids_old)]
    out += [f"removed {full(old, n)}" for n in sorted(ids_old - ids_new)]
    for n in sorted(ids_old & ids_new):
        for f in fields:
            a, b = old.nodes[n].get(f), new.nodes[n].get(f)
            if a != b:
                out.append(f"{short(new, n)}: {f} changed from {a!r} to {b!r}")
    return out


def policy_diff(old: nx.MultiDiGraph, new: nx.MultiDiGraph) -> PolicyDiff:
    """Items, relations, parameters and rules added, removed or changed, in sentences."""
    diff = PolicyDiff(old.graph.get("kb_version", "?"), new.graph.get("kb_version", "?"))
    kinds = ("rule", "parameter")
    o_items = {n for n, k in old.nodes(data="kind") if k not in kinds}
    n_items = {n for n, k in new.nodes(data="kind") if k not in kinds}
    diff.items = _node_changes(old, new, o_items, n_items, ITEM_FIELDS,
                               lambda g, n: f"{_label(g, n)} [{g.nodes[n]['section']}]", _label)
    rel = lambda g: {(u, r, v) for u, v, r in g.edges(data="relation")}  # noqa: E731
    for u, r, v in sorted(rel(new) - rel(old)):
        if u in o_items or v in o_items or r != "part_of":
            diff.relations.append(f"added {u} --{r}--> {v}")
    for u, r, v in sorted(rel(old) - rel(new)):
        diff.relations.append(f"removed {u} --{r}--> {v}")
    params = lambda g: {d["name"]: d for _, d in g.nodes(data=True) if d.get("kind") == "parameter"}  # noqa: E731
    po, pn = params(old), params(new)
    for name in sorted(set(pn) - set(po)):
        diff.parameters.append(f"added {name} = {pn[name]['value']:g} {pn[name]['unit']} ({pn[name]['param_source']})")
    for name in sorted(set(po) - set(pn)):
        diff.parameters.append(f"removed {name}")
    for name in sorted(set(po) & set(pn)):
        a, b = po[name], pn[name]
        if a["value"] != b["value"]:
            diff.parameters.append(f"{name}: {a['value']:g} -> {b['value']:g} {b['unit']} ({b['param_source']})")
        if a["param_source"] != b["param_source"]:
            diff.parameters.append(f"{name}: source {a['param_source']} -> {b['param_source']}")
    ro = {n for n, k in old.nodes(data="kind") if k == "rule"}
    rn = {n for n, k in new.nodes(data="kind") if k == "rule"}
    rule_text = lambda g, n: f"{n} ({g.nodes[n]['effect']}): {g.nodes[n]['label']}"  # noqa: E731
    diff.rules = _node_changes(old, new, ro, rn, RULE_FIELDS, rule_text, lambda g, n: n)
    for n in sorted(ro & rn):
        ia = {v for _, v, r in old.out_edges(n, data="relation") if r == "implements"}
        ib = {v for _, v, r in new.out_edges(n, data="relation") if r == "implements"}
        if ia != ib:
            diff.rules.append(f"{n}: now implements {sorted(ib)} (was {sorted(ia)})")
    return diff


def _said(det) -> str:
    ref = f", referral {det.referral['urgency']}" if det.referral["recommended"] else ""
    return f"{det.outcome.replace('_', ' ')} ({det.approved['visits']} visits{ref})"


def outcome_impact(old: nx.MultiDiGraph, new: nx.MultiDiGraph, cases: list) -> dict:
    """Outcome transitions of the same cases under both versions."""
    from .engine import determine

    transitions: dict[tuple[str, str], int] = {}
    flipped = []
    for case in cases:
        a, b = determine(case, g=old), determine(case, g=new)
        transitions[(a.outcome, b.outcome)] = transitions.get((a.outcome, b.outcome), 0) + 1
        if (a.outcome, a.approved, a.referral) != (b.outcome, b.approved, b.referral):
            flipped.append((a.case_id, _said(a), _said(b)))
    return {"transitions": transitions, "changed": flipped, "n": len(cases)}
