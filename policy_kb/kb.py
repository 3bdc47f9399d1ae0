"""Load the guideline YAML files into a validated networkx MultiDiGraph.

The graph is the single source of truth for every other layer: nodes carry `kind`, `label`,
`section` (and optional `synonyms`, `notes`, `threshold`, `source`, kind-specific attributes);
edges carry `relation`. `load_guideline()` is cached per data folder and content.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import networkx as nx
import yaml

if TYPE_CHECKING:  # imported at run time only on a cache miss (see read_entries)
    from .schema import NodeEntry

try:  # the C loader is several times faster; fall back to the pure-Python one
    _SafeLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _SafeLoader = yaml.SafeLoader

ROOT_ID = "guideline"
RESERVED_ATTRS = {"kind", "label", "section", "synonyms", "notes", "threshold", "source", "paraphrase", "file"}


def default_data_dir() -> Path:
    """The guideline folder: $POLICY_KB_DATA, else data/guideline beside the package."""
    env = os.environ.get("POLICY_KB_DATA")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data" / "guideline"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the guideline data, located by file and item id."""

    file: str
    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.item}: {self.message}"


class GuidelineDataError(ValueError):
    """The guideline data does not load; `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        head = f"{len(problems)} problem(s) in the guideline data"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))


def _yaml_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.glob("*.yaml") if p.is_file())


def content_hash(data_dir: Path | None = None) -> str:
    """sha256 over the names and bytes of every YAML file in the data folder (first 12 hex digits)."""
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    h = hashlib.sha256()
    for p in _yaml_files(data_dir):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _flatten(entry: NodeEntry, parent: NodeEntry | None, inherited_kind: str | None,
             inherited_section: str | None, file: str, out: list[tuple[NodeEntry, str | None, str | None, str | None, str]]) -> None:
    kind = entry.kind or inherited_kind
    section = entry.section or inherited_section
    parent_id = parent.id if parent is not None else entry.part_of
    out.append((entry, kind, section, parent_id, file))
    for child in entry.items:
        _flatten(child, entry, entry.item_kind, section, file, out)


def read_entries(data_dir: Path) -> tuple[list[tuple[NodeEntry, str | None, str | None, str | None, str]], list[Problem]]:
    """Parse and schema-check every file; return flattened entries and the problems met."""
    from pydantic import ValidationError  # only needed on a cache miss: keeps the CLI's start-up short

    from .schema import GuidelineFile
    entries: list = []
    problems: list[Problem] = []
    files = _yaml_files(data_dir)
    if not files:
        problems.append(Problem(str(data_dir), "-", "no guideline YAML files found"))
    for path in files:
        try:
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "-"
            problems.append(Problem(path.name, where, f"malformed YAML: {getattr(exc, 'problem', exc)}"))
            continue
        if isinstance(raw, dict) and ("rules" in raw or "parameters" in raw):
            from .rulebook_loader import rule_entries  # rules and parameters: their own file shapes
            more, trouble = rule_entries(raw, path.name)
            entries.extend(more)
            problems.extend(trouble)
            continue
        try:
            doc = GuidelineFile.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(Problem(path.name, _item_at(raw, err["loc"]), f"{'.'.join(map(str, err['loc']))}: {err['msg']}"))
            continue
        for node in doc.nodes:
            _flatten(node, None, None, None, path.name, entries)
    return entries, problems


def _item_at(raw: Any, loc: Iterable[Any]) -> str:
    """The id of the innermost node entry on a pydantic error location, for the error message."""
    found, cur = "-", raw
    for key in loc:
        try:
            cur = cur[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(cur, dict) and isinstance(cur.get("id"), str):
            found = cur["id"]
    return found


def build_graph(data_dir: Path) -> tuple[nx.MultiDiGraph, list[Problem]]:
    """Build the graph from the data folder; return it with every problem found (empty when valid)."""
    entries, problems = read_entries(data_dir)
    g = nx.MultiDiGraph()
    origin: dict[str, str] = {}
    pending_edges: list[tuple[str, str, str, str]] = []  # (source, target, relation, file)
    for entry, kind, section, parent_id, file in entries:
        if entry.id in origin:
            problems.append(Problem(file, entry.id, f"duplicate id (first defined in {origin[entry.id]})"))
            continue
        origin[entry.id] = file
        if kind is None:
            problems.append(Problem(file, entry.id, "no kind (set kind, or item_kind on the parent)"))
        if not section:
            problems.append(Problem(file, entry.id, "no section (set section here or on the parent)"))
        clash = RESERVED_ATTRS & set(entry.attrs)
        if clash:
            problems.append(Problem(file, entry.id, f"attrs may not redefine {sorted(clash)}"))
        data: dict[str, Any] = dict(entry.attrs)
        data.update(kind=kind, label=entry.label, section=section, file=file,
                    synonyms=list(entry.synonyms), paraphrase=entry.paraphrase)
        if entry.notes:
            data["notes"] = entry.notes.strip()
        if entry.source:
            data["source"] = entry.source
        if entry.threshold:
            data["threshold"] = entry.threshold.model_dump(exclude_none=True)
        g.add_node(entry.id, **data)
        if parent_id is not None:
            pending_edges.append((entry.id, parent_id, "part_of", file))
        elif entry.id != ROOT_ID:
            problems.append(Problem(file, entry.id, "top-level node without part_of (orphan)"))
        for relation, targets in entry.relations.items():
            for target in targets:
                pending_edges.append((entry.id, target, relation, file))
    seen_pairs: set[tuple[str, str, str]] = set()
    for source, target, relation, file in pending_edges:
        if target not in g:
            problems.append(Problem(file, source, f"{relation} -> {target!r}: no such item"))
            continue
        if source == target:
            problems.append(Problem(file, source, f"{relation} points at itself"))
            continue
        pairs = [(source, target)] + ([(target, source)] if relation == "also_listed_as" else [])
        for s, t in pairs:
            if (s, t, relation) in seen_pairs:
                continue
            seen_pairs.add((s, t, relation))
            g.add_edge(s, t, key=relation, relation=relation)
    problems.extend(_orphans(g, origin))
    if not problems:
        from .rulebook_loader import check_rulebook, link_rules
        link_rules(g)
        problems.extend(check_rulebook(g))
    return g, problems


def _orphans(g: nx.MultiDiGraph, origin: dict[str, str]) -> list[Problem]:
    """Nodes that do not reach the root through part_of edges."""
    if ROOT_ID not in g:
        return [Problem("sections.yaml", ROOT_ID, "the root node 'guideline' is missing")]
    reached = {ROOT_ID}
    frontier = [ROOT_ID]
    while frontier:
        node = frontier.pop()
        for child, _, rel in g.in_edges(node, data="relation"):
            if rel == "part_of" and child not in reached:
                reached.add(child)
                frontier.append(child)
    return [Problem(origin.get(n, "?"), n, "does not reach the guideline root through part_of (orphan)")
            for n in g.nodes if n not in reached]


def _disk_cache(data_dir: str) -> Path | None:
    """A pickle of the validated graph, keyed by the data's content hash and the loader's own code.

    Saves the YAML parse and schema checks on a cold start (the CLI). POLICY_KB_CACHE=0 turns it off.
    """
    if os.environ.get("POLICY_KB_CACHE", "1") == "0":
        return None
    code = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in ("kb.py", "schema.py", "rulebook.py", "rulebook_loader.py", "facts.py"):
        code.update((here / name).read_bytes())
    key = hashlib.sha256(f"{content_hash(Path(data_dir))}:{code.hexdigest()}:{data_dir}".encode()).hexdigest()[:20]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "policy-kb"
    return base / f"graph-{key}.pickle"


@lru_cache(maxsize=8)
def _load_cached(data_dir: str, stamp: str) -> nx.MultiDiGraph:
    cache = _disk_cache(data_dir)
    if cache is not None and cache.is_file():
        try:
            with cache.open("rb") as fh:
                g = pickle.load(fh)
            nx.freeze(g)
            return g
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    g, problems = build_graph(Path(data_dir))
    if problems:
        raise GuidelineDataError(problems)
    g.graph.update(kb_version=f"{g.nodes[ROOT_ID]['effective_date']}+{content_hash(Path(data_dir))}",
                   effective_date=g.nodes[ROOT_ID]["effective_date"], data_dir=data_dir)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump(g, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only home is fine: no cache
    nx.freeze(g)
    return g


def _stamp(data_dir: Path) -> str:
    """A cheap change detector for the cache: file names, sizes and modification times."""
    parts = []
    for p in _yaml_files(data_dir):
        st = p.stat()
        parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def load_guideline(data_dir: str | Path | None = None) -> nx.MultiDiGraph:
    """The guideline as a frozen MultiDiGraph (cached; reloaded when a data file changes).

    Raises GuidelineDataError listing every problem when the data is invalid. The graph is
    frozen: copy it (`nx.MultiDiGraph(g)`) before editing, e.g. for a what-if reform.
    """
    path = Path(data_dir) if data_dir else default_data_dir()
    return _load_cached(str(path.resolve()), _stamp(path))


def kb_version(data_dir: str | Path | None = None) -> str:
    """The knowledge-base version: the guideline's effective date + a content hash of data/guideline."""
    return load_guideline(data_dir).graph["kb_version"]


def validate(data_dir: str | Path | None = None) -> list[Problem]:
    """Every problem in the guideline data (empty list when valid)."""
    _, problems = build_graph(Path(data_dir) if data_dir else default_data_dir())
    return problems
