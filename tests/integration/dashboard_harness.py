"""What the dashboard tests share: the dashboards in dashboards/*.json, every query in them (panel
targets and template variables), and Grafana's substitution of template variables into a query,
done the way Grafana 10/11 does it for the Prometheus and Loki data sources. Standard library only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
DATASOURCE_UIDS = {"prometheus": "prometheus", "loki": "loki"}  # uid -> type (stack/grafana/...)

# The labels the agent's shipper puts on Loki streams (DESIGN.md), and nothing else.
LOKI_STREAM_LABELS = {"job", "swarm_stack", "swarm_service", "node", "container", "stream"}


def load() -> dict[str, dict]:
    """file name -> parsed dashboard."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict) -> list[dict]:
    """Every panel, rows' nested panels included (rows themselves too)."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


@dataclass(frozen=True)
class Query:
    file: str
    uid: str
    panel: str          # panel title, or "variable <name>"
    ref: str            # refId, or the variable's name
    lang: str           # "promql" | "logql" | "label_values"
    expr: str

    @property
    def key(self) -> str:
        return f"{self.file}: {self.panel} [{self.ref}]"


def datasource_type(ds: dict | None, fallback: dict | None = None) -> str:
    ds = ds or fallback or {}
    return DATASOURCE_UIDS.get(ds.get("uid", ""), ds.get("type", "?"))


def queries(dashboards: dict[str, dict] | None = None) -> list[Query]:
    """Every panel target and every query variable of every dashboard."""
    out = []
    for file, d in (dashboards or load()).items():
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v.get("query")
            expr = q.get("query", "") if isinstance(q, dict) else q
            kind = "label_values" if expr.strip().startswith("label_values(") else (
                "logql" if datasource_type(v.get("datasource")) == "loki" else "promql")
            out.append(Query(file, d["uid"], f"variable {v['name']}", v["name"], kind, expr))
        for p in panels(d):
            for t in p.get("targets", []):
                if "expr" not in t:
                    continue
                lang = "logql" if datasource_type(t.get("datasource"), p.get("datasource")) == "loki" \
                    else "promql"
                out.append(Query(file, d["uid"], p.get("title", "?"), t.get("refId", "?"), lang,
                                 t["expr"]))
    return out


# --------------------------------------------------------------------------------------------
# Template variables, as Grafana substitutes them

ALL = object()  # the "All" choice of a variable


@dataclass
class Time:
    """Grafana's built-in variables for one panel render."""
    interval: str = "10s"        # $__interval: range / max data points, at least the scrape interval
    rate_interval: str = "20s"   # $__rate_interval: max($__interval + scrape, 4 * scrape)
    range_s: int = 120           # $__range in seconds

    def builtins(self) -> dict[str, str]:
        return {"__rate_interval": self.rate_interval, "__interval": self.interval,
                "__interval_ms": str(_seconds(self.interval) * 1000),
                "__range": f"{self.range_s}s", "__range_s": str(self.range_s),
                "__range_ms": str(self.range_s * 1000), "__auto": self.interval}


def _seconds(d: str) -> int:
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", d)
    assert m, d
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _regex_escape(value: str) -> str:
    # Grafana's prometheusSpecialRegexEscape / Loki's specialRegexEscape: regex metacharacters
    # are escaped with a backslash, and the backslash is doubled for the PromQL string.
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def _format(value, variable: dict, fmt: str | None) -> str:
    if value is ALL:
        return variable.get("allValue") or ".*"
    values = value if isinstance(value, list) else [value]
    if fmt in (None, "regex"):
        # A multi-value variable: each value regex-escaped, several joined as (a|b).
        escaped = [_regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "queryparam":
        return "&".join(f"var-{variable['name']}={v}" for v in values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "raw":
        return ",".join(values)
    raise ValueError(f"format :{fmt} not handled by the tests")


_VAR = re.compile(r"\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]")


def substitute(expr: str, dashboard: dict, values: dict, time: Time) -> str:
    """`expr` with every $var, ${var}, ${var:fmt}, [[var]] and built-in replaced.
    `values`: variable name -> ALL, a string, or a list of strings (multi-value)."""
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    builtins = time.builtins()

    def one(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(5)
        if name in builtins:
            return builtins[name]
        if name.isdigit() and m.group(1):
            return m.group(0)  # label_replace's "$1": Grafana leaves what names no variable
        if name not in variables:
            raise KeyError(f"{name}: no such variable in dashboard {dashboard.get('uid')}")
        v = variables[name]
        if v["type"] == "textbox":
            return values.get(name, v.get("query", ""))
        return _format(values.get(name, ALL), v, fmt)

    return _VAR.sub(one, expr)


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_]\w*)\s*\)\s*$", re.S)


def label_values_parts(expr: str) -> tuple[str | None, str]:
    """label_values(selector, label) -> (selector or None, label)."""
    m = _LABEL_VALUES.match(expr)
    if not m:
        raise ValueError(f"not a label_values() query: {expr!r}")
    return m.group(1), m.group(2)
