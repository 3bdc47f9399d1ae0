"""Rules, derived facts and parameters as data (data/guideline/rules.yaml, parameters.yaml).

A rule's `when` is one expression evaluated by the same code on one case (Python scalars) and on a
cohort (numpy columns): that is the single source of truth for both engines.
"""
from __future__ import annotations

import ast
import string
import sys
from dataclasses import dataclass, field
from typing import Any


EFFECTS = ("deny", "limit", "refer", "caution", "support")  # most decisive first
ALLOWED_LITERALS = {0, 1, 100}  # counts, booleans and percent; every other number is a parameter


RULE_LIST = "list.rules"
PARAMETER_LIST = "list.parameters"


def expression_names(expr: str) -> set[str]:
    """The variable names an expression reads."""
    return {n.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Name)}


def expression_literals(expr: str) -> set[Any]:
    return {n.value for n in ast.walk(ast.parse(expr, mode="eval"))
            if isinstance(n, ast.Constant) and not isinstance(n.value, str)}


REQUESTED = {"weeks": "requested_weeks", "visits_per_week": "requested_visits_per_week"}


def full_condition(rule: dict) -> str:
    """A rule's `when`, and for a limit rule also "the request exceeds the cap", so a limit always lowers the dosage."""
    cap = rule.get("cap") or {}
    if not cap:
        return rule["when"]
    return f"({rule['when']}) & " + " & ".join(f"({REQUESTED[k]} > {p})" for k, p in cap.items())


def rule_reads(rule: dict, derived: list[dict], parameters: set[str]) -> tuple[set[str], set[str]]:
    """(parameters, facts) a rule reads: through its condition, urgency, cap, the derived facts those use
    (transitively), and the parameters its message quotes."""
    dnames = {d["name"]: expression_names(d["expr"]) for d in derived}
    names = expression_names(full_condition(rule))
    if rule.get("urgent_when"):
        names |= expression_names(rule["urgent_when"])
    ps: set[str] = set()
    fs: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in parameters:
            ps.add(n)
        elif n not in fs:
            fs.add(n)
            todo.extend(dnames.get(n, ()))
    ps |= {f for _, f, _, _ in string.Formatter().parse(rule["message"]) if f} & parameters
    return ps, fs


_ALLOWED_NODES = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Name, ast.Load,
                  ast.Constant, ast.BitAnd, ast.BitOr, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
                  ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub)


def check_expression(expr: str) -> str | None:
    """None if the expression uses only the vectorisable subset; else what is wrong."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        return f"syntax error: {exc.msg}"
    for node in ast.walk(tree):
        if isinstance(node, (ast.BoolOp, ast.Not)):
            return "use & | and `== False` (and/or/not do not work on columns)"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return "use `x == False` instead of ~x (~ on a Python bool is -2)"
        if not isinstance(node, _ALLOWED_NODES):
            return f"{type(node).__name__} is not allowed in a rule expression"
    bad = {v for v in expression_literals(expr) if v not in ALLOWED_LITERALS and not isinstance(v, bool)}
    if bad:
        return f"literal number(s) {sorted(bad)}: make them named parameters"
    return None


@dataclass
class Rule:
    id: str
    label: str
    section: str
    effect: str
    when: str
    code: Any
    implements: list[str]
    message: str
    actions: list[str]
    overrides: list[str]
    cap: dict[str, str] | None
    urgency: str | None
    urgent_when: Any | None
    urgent_when_src: str | None
    documentation: str | None
    reads: list[str] = field(default_factory=list)  # parameters read, incl. through derived facts
    reads_facts: list[str] = field(default_factory=list)


@dataclass
class Rulebook:
    """The compiled rules, derived facts and parameter defaults of one knowledge-graph version."""

    rules: list[Rule]
    derived: list[tuple[str, str, Any]]  # (name, source expression, code)
    parameters: dict[str, dict]
    listing_precedence: list[dict]
    checklist: list[dict]
    kb_version: str
    constraints: list[tuple[str, str, Any]] = field(default_factory=list)  # (expression, why, code) over parameters

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def values(self, overrides: dict[str, float] | None = None) -> dict[str, float]:
        """Parameter values, with per-call overrides checked by name."""
        vals = {k: p["value"] for k, p in self.parameters.items()}
        for k, v in (overrides or {}).items():
            if k not in vals:
                raise KeyError(k)
            vals[k] = v
        return vals


_SAFE_GLOBALS: dict[str, Any] = {"__builtins__": {}}


def evaluate(code: Any, namespace: dict[str, Any]) -> Any:
    """Evaluate a compiled rule expression on scalars or on numpy columns."""
    return eval(code, _SAFE_GLOBALS, namespace)  # noqa: S307 - compiled from the checked subset only


def derive(book: Rulebook, namespace: dict[str, Any]) -> None:
    """Add the derived facts to the namespace, in file order (later ones may use earlier ones)."""
    np = sys.modules.get("numpy")  # columns are numpy arrays; one case is plain Python (no numpy import)
    if np is None:
        for name, _, code in book.derived:
            namespace[name] = evaluate(code, namespace)
        return
    with np.errstate(invalid="ignore"):
        for name, _, code in book.derived:
            namespace[name] = evaluate(code, namespace)
