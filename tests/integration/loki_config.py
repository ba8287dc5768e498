"""What the tests know about the stack's Loki configuration (stack/loki/loki.yml): what Loki itself
made of the file (the real binary's `-print-config-stderr`, or a running Loki's `/config`), compared
key by key with what the file says, and the retention rules Loki's documentation sets but its
`-verify-config` does not check. Standard library and PyYAML only."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
STACK_LOKI_CONFIG = REPO / "stack" / "loki" / "loki.yml"

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def duration_seconds(value: object) -> float | None:
    """Seconds of a Go or Prometheus duration ("744h", "31d", "10m0s", "1w"), None if not one."""
    if not isinstance(value, str) or not value:
        return None
    parts = _DURATION_PART.findall(value)
    if "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _same(wanted: object, loaded: object) -> bool:
    if wanted == loaded:
        return True
    w, lo = duration_seconds(wanted), duration_seconds(loaded)
    if w is not None and w == lo:
        return True
    return not isinstance(wanted, (dict, list)) and str(wanted) == str(loaded)


def mismatches(wanted: object, loaded: object, path: str = "") -> list[str]:
    """Every key of `wanted` (the file) whose value Loki did not load as written."""
    if isinstance(wanted, dict):
        if not isinstance(loaded, dict):
            return [f"{path or '(top)'}: Loki has {loaded!r}, not a mapping"]
        out = []
        for key, value in wanted.items():
            where = f"{path}.{key}" if path else key
            if key not in loaded and value in (False, 0, ""):
                continue  # Loki's dump omits an `omitempty` key at its zero value (auth_enabled: false)
            if key not in loaded:
                out.append(f"{where}: not in Loki's configuration (an unknown or renamed key?)")
            else:
                out.extend(mismatches(value, loaded[key], where))
        return out
    if isinstance(wanted, list):
        if not isinstance(loaded, list) or len(loaded) != len(wanted):
            return [f"{path}: the file has {len(wanted)} items, Loki {loaded!r}"]
        return [m for i, (w, lo) in enumerate(zip(wanted, loaded)) for m in mismatches(w, lo, f"{path}[{i}]")]
    return [] if _same(wanted, loaded) else [f"{path}: the file says {wanted!r}, Loki runs with {loaded!r}"]


def file_config() -> dict:
    return yaml.safe_load(STACK_LOKI_CONFIG.read_text())


def loaded_config(text: str) -> dict:
    """Loki's dump of its configuration (YAML, as `-print-config-stderr` and `/config` give it)."""
    start = text.find("---")
    return yaml.safe_load(text[start:] if start >= 0 else text)


def retention_problems(config: dict) -> list[str]:
    """Where `config` (as Loki loaded it) would not delete old chunks as the stack means it to: the
    compactor's retention is on, with a delete-request store; the retention period is at least 24 h
    and a whole number of every index period (Loki deletes by index table); the compactor works on
    the data volume; and nothing is accepted that is already older than the retention."""
    problems = []
    compactor, limits = config.get("compactor", {}), config.get("limits_config", {})
    if compactor.get("retention_enabled") is not True:
        problems.append("compactor.retention_enabled is not true: nothing is ever deleted")
    if not compactor.get("delete_request_store"):
        problems.append("compactor.delete_request_store is empty (Loki 3 refuses retention without it)")
    retention = duration_seconds(limits.get("retention_period"))
    if not retention:
        problems.append(f"limits_config.retention_period is {limits.get('retention_period')!r}: 0 keeps "
                        "everything forever")
    else:
        if retention < 86400:
            problems.append(f"retention_period {limits['retention_period']} is under Loki's minimum of 24h")
        for period in config.get("schema_config", {}).get("configs", []):
            index = duration_seconds(period.get("index", {}).get("period"))
            if index and retention % index:
                problems.append(f"retention_period {limits['retention_period']} is not a multiple of the index "
                                f"period {period['index']['period']} (schema from {period.get('from')})")
        max_age = duration_seconds(limits.get("reject_old_samples_max_age"))
        if limits.get("reject_old_samples") and max_age and max_age > retention:
            problems.append("reject_old_samples_max_age is over the retention: entries could arrive expired")
    prefix = config.get("common", {}).get("path_prefix", "")
    workdir = compactor.get("working_directory", "")
    if not prefix or not str(workdir).startswith(str(prefix).rstrip("/") + "/"):
        problems.append(f"compactor.working_directory {workdir!r} is not under the data path {prefix!r}")
    if duration_seconds(compactor.get("compaction_interval")) is None:
        problems.append("compactor.compaction_interval is not a duration")
    return problems
