"""The `policy-kb` command line. Bad input gives a one-line error and exit status 2, never a traceback."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import export as export_mod
from .kb import GuidelineDataError, default_data_dir, load_guideline, validate
from .query import LabelError, find


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _graph(args):
    try:
        return load_guideline(args.data)
    except GuidelineDataError as exc:
        raise CliError(f"the guideline data does not load ({len(exc.problems)} problem(s)); run 'policy-kb validate'") from None


def cmd_validate(args) -> int:
    data = Path(args.data) if args.data else default_data_dir()
    if not data.is_dir():
        raise CliError(f"--data: {data} is not a folder")
    problems = validate(data)
    for p in problems:
        print(f"problem: {p}")
    missing = []
    if args.text:
        from .textcheck import labels_not_in_text
        if problems:
            print("label check skipped: fix the problems first")
        else:
            text = Path(args.text).read_text(encoding="utf-8")
            missing = labels_not_in_text(load_guideline(data), text)
            for node, label in missing:
                print(f"problem: {node}: label {label!r} is not found in {args.text}")
    if problems or missing:
        print(f"{len(problems) + len(missing)} problem(s)")
        return 1
    g = load_guideline(data)
    print(f"ok: {g.number_of_nodes()} items, {g.number_of_edges()} relations, kb_version {g.graph['kb_version']}")
    return 0


def cmd_graph_stats(args) -> int:
    s = export_mod.stats(_graph(args))
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"{s['nodes']} nodes, {s['edges']} edges")
    print("nodes per kind:")
    for k, n in s["nodes_per_kind"].items():
        print(f"  {k:40s} {n:5d}")
    print("edges per relation:")
    for k, n in s["edges_per_relation"].items():
        print(f"  {k:40s} {n:5d}")
    return 0


def cmd_graph_export(args) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CliError(f"-o: {out} exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        raise CliError(f"-o: folder {out.parent} does not exist")
    export_mod.export(_graph(args), args.format, out)
    print(f"wrote {out} ({args.format})")
    return 0


def cmd_find(args) -> int:
    g = _graph(args)
    try:
        ids = find(g, args.label, kind=args.kind)
    except LabelError as exc:
        raise CliError(str(exc)) from None
    for n in ids:
        d = g.nodes[n]
        print(f"{n}\t{d['kind']}\t{d['label']}\t[{d['section']}]")
    return 0


def _parse_sets(items: list[str] | None) -> dict[str, float]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CliError(f"--set: {item!r} must be NAME=VALUE (see 'policy-kb parameters')")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise CliError(f"--set {name}: {value!r} is not a number") from None
    return out


def _load_cases(paths: list[str]):
    from .case import CaseError, load_case
    cases = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise CliError(f"{p}: no such case file")
        try:
            cases.append((path, load_case(path)))
        except CaseError as exc:
            raise CliError(f"{path.name}: {exc}") from None
    return cases


def _determine(path, case, sets):
    from .case import CaseError
    from .engine import ParameterError, determine
    try:
        return determine(case, parameters=sets)
    except (CaseError, ParameterError) as exc:
        raise CliError(f"{path.name}: {exc}") from None


def cmd_determine(args) -> int:
    from .explain import render_text
    sets = _parse_sets(args.set)
    _graph(args)
    results = [(p, _determine(p, c, sets)) for p, c in _load_cases(args.cases)]
    if args.json:
        objs = [d.to_json(detail=args.detail) for _, d in results]
        print(json.dumps(objs[0] if len(objs) == 1 else objs, indent=2))
    else:
        print("\n\n".join(render_text(d) for _, d in results))
    return 0


def cmd_explain(args) -> int:
    from .explain import checklist, contingencies, counterfactuals, render_text
    sets = _parse_sets(args.set)
    _graph(args)
    (path, case), = _load_cases([args.case])
    det = _determine(path, case, sets)
    print(render_text(det, tree=True))
    print("\n  checklist of the medical-necessity criteria:")
    for row in checklist(det):
        print(f"  {row.number}. [{row.status.replace('_', ' ')}] {row.label}")
        print(f"       {row.why}")
    cfs = counterfactuals(case, sets, base=det)
    if cfs:
        print("\n  what would change the outcome:")
        for cf in cfs:
            print(f"  - {cf.outcome.replace('_', ' ')} if {cf.change}")
    cons = contingencies(case, sets, base=det)
    if cons:
        print("\n  contingent answers:")
        for c in cons:
            print(f"  - {c['sentence']}")
    return 0


def cmd_parameters(args) -> int:
    from .engine import rulebook
    book = rulebook(_graph(args))
    if args.json:
        print(json.dumps(book.parameters, indent=2))
        return 0
    print(f"{'name':32s} {'value':>8s}  {'unit':28s} {'source':10s} cites")
    for name, p in sorted(book.parameters.items()):
        print(f"{name:32s} {p['value']:>8g}  {p['unit'][:28]:28s} {p['source']:10s} {p['cites']}")
    return 0


def _golden_cases(folder: str | None):
    from .case import case_files, load_case
    if folder and not Path(folder).is_dir():
        raise CliError(f"--cases: {folder} is not a folder")
    return [load_case(p) for p in case_files(folder)]


def _cohort_impact(old, new, n: int) -> list[str]:
    """Outcome transitions on a synthetic cohort of n cases under two graphs (vectorised)."""
    import pandas as pd

    from .cohort import evaluate_cohort, synthetic_cohort
    from .reform import OUTCOME_ORDER
    df = synthetic_cohort(n, seed=0)
    a = evaluate_cohort(df, g=old)["outcome"].astype(str)
    b = evaluate_cohort(df, g=new)["outcome"].astype(str)
    tab = pd.crosstab(pd.Categorical(a, OUTCOME_ORDER), pd.Categorical(b, OUTCOME_ORDER), dropna=False)
    lines = [f"Outcome impact on a synthetic cohort of {n:,} cases: {int((a != b).sum()):,} change"]
    for (x, y), k in tab.stack().items():
        if x != y and k:
            lines.append(f"  {k:,} {x.replace('_', ' ')} -> {y.replace('_', ' ')}")
    return lines


def cmd_diff(args) -> int:
    from .diff import DiffError, load_version, outcome_impact, policy_diff
    try:
        old, new = load_version(args.old), load_version(args.new)
    except DiffError as exc:
        raise CliError(str(exc)) from None
    d = policy_diff(old, new)
    print("\n".join(d.sentences()))
    if not args.no_impact:
        impact = outcome_impact(old, new, _golden_cases(args.cases))
        print(f"\nOutcome impact on the golden library ({impact['n']} cases): {len(impact['changed'])} change")
        for cid, a, b in impact["changed"]:
            print(f"  - {cid}: {a} -> {b}")
        if args.cohort:
            print()
            print("\n".join(_cohort_impact(old, new, args.cohort)))
    return 0


def cmd_whatif(args) -> int:
    from .kb import GuidelineDataError
    from .reform import ReformError, apply_reform, compare_cases, load_reform
    try:
        reform = load_reform(args.reform)
        apply_reform(reform)  # check it before any work
    except (ReformError, GuidelineDataError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    cmp = compare_cases(_golden_cases(args.cases), reform)
    print(f"reform: {reform.name}")
    print("\n".join(cmp.sentences()))
    print(cmp.transitions.to_string())
    for cid in cmp.flipped:
        row = cmp.table.loc[cid]
        print(f"  - {cid}: {row['baseline']} -> {row['reform']}")
    if args.cohort:
        from .cohort import synthetic_cohort
        from .reform import compare_cohort
        cc = compare_cohort(synthetic_cohort(args.cohort, seed=0), reform)
        print(f"\non a synthetic cohort of {args.cohort:,} cases:")
        print("\n".join(cc.sentences()))
        print(cc.transitions.to_string())
    return 0


def cmd_batch(args) -> int:
    from .batch import BatchError, run_batch
    from .engine import ParameterError
    try:
        s = run_batch(args.source, args.output, _parse_sets(args.set), progress=not args.quiet)
    except (BatchError, ParameterError) as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        print("policy-kb: interrupted; what was written is kept; run the same command again to resume", file=sys.stderr)
        return 130
    if s.dropped_partial_line:
        print("dropped a record cut short by an earlier interruption (it is redone)")
    print(f"{s.written} written, {s.skipped} already done; outcomes: "
          + ", ".join(f"{k} {v}" for k, v in sorted(s.outcomes.items())))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="policy-kb", description=__doc__)
    p.add_argument("--data", help="guideline data folder (default: data/guideline)")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check the guideline data: ids, edges, sections, orphans, labels")
    v.add_argument("--text", help="also check that verbatim labels occur in this copy of the guideline text")
    v.set_defaults(func=cmd_validate)

    gr = sub.add_parser("graph", help="graph statistics and export")
    gsub = gr.add_subparsers(dest="graph_command", required=True)
    st = gsub.add_parser("stats", help="node count per kind, edge count per relation")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_graph_stats)
    ex = gsub.add_parser("export", help="write the graph as node-link JSON or GraphML")
    ex.add_argument("--format", choices=["node-link", "graphml"], default="node-link")
    ex.add_argument("-o", "--output", required=True)
    ex.add_argument("--force", action="store_true", help="overwrite an existing file")
    ex.set_defaults(func=cmd_graph_export)

    d = sub.add_parser("determine", help="judge case file(s) by the guideline")
    d.add_argument("cases", nargs="+", metavar="CASE")
    d.add_argument("--json", action="store_true", help="the JSON of the case-format spec")
    d.add_argument("--detail", action="store_true", help="with --json: add facts, guideline items and findings")
    d.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    d.set_defaults(func=cmd_determine)

    e = sub.add_parser("explain", help="the justification tree, checklist, counterfactuals of one case")
    e.add_argument("case", metavar="CASE")
    e.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    e.set_defaults(func=cmd_explain)

    pa = sub.add_parser("parameters", help="the parameters rules read, with source and citation")
    pa.add_argument("--json", action="store_true")
    pa.set_defaults(func=cmd_parameters)

    df = sub.add_parser("diff", help="what changed between two policy versions (folders or git refs), and its impact")
    df.add_argument("old")
    df.add_argument("new")
    df.add_argument("--cases", help="golden case folder (default data/cases)")
    df.add_argument("--cohort", type=int, default=20_000, metavar="N",
                    help="size of the synthetic cohort compared (default 20,000; 0 skips it)")
    df.add_argument("--no-impact", action="store_true", help="only the item, relation, parameter and rule changes")
    df.set_defaults(func=cmd_diff)

    wi = sub.add_parser("whatif", help="apply a reform (YAML) and compare with the baseline")
    wi.add_argument("reform")
    wi.add_argument("--cases", help="golden case folder (default data/cases)")
    wi.add_argument("--cohort", type=int, default=0, metavar="N", help="also compare on a synthetic cohort of N cases")
    wi.set_defaults(func=cmd_whatif)

    b = sub.add_parser("batch", help="determine many cases, one audit record (JSON line) each; resumable")
    b.add_argument("source", help="a folder of case files, a CSV of the cohort table, or a Parquet file/dataset")
    b.add_argument("-o", "--output", required=True, help="JSON lines file (appended; a rerun skips finished cases)")
    b.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_batch)

    f = sub.add_parser("find", help="find the item(s) a label names")
    f.add_argument("label")
    f.add_argument("--kind")
    f.set_defaults(func=cmd_find)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"policy-kb: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
