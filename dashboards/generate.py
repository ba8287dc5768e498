#!/usr/bin/env python3
"""Writes the Grafana dashboards in this folder (dashboards/*.json) from one description.

The JSON files are committed (the stack's Grafana provisions them as they are); this script is how
they are made, so that the dashboards share their variables, links, data sources and labels.
Run it after a change and commit both:  python3 dashboards/generate.py
`--check` exits 1 if a committed file differs from what the script makes (the tests run it).

Label contract (the agent's metrics as the stack's Prometheus stores them): every agent series has
the target labels `instance` and `node` (the node's hostname); container series carry cAdvisor's
labels (`id`, `name`, `image`, `container_label_com_docker_swarm_service_name`,
`container_label_com_docker_stack_namespace`, ...); request series carry `service`, `stack`, `node`
(+ `route` when route patterns are configured); Loki streams carry `job`, `swarm_stack`,
`swarm_service`, `node`, `container`, `stream`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
TAG = "swarmwatch"

UIDS = {
    "overview": "swarmwatch-overview",
    "service": "swarmwatch-service",
    "red": "swarmwatch-requests",
    "logs": "swarmwatch-logs",
    "agent": "swarmwatch-agent",
    "nodes": "swarmwatch-nodes",
    "rightsizing": "swarmwatch-rightsizing",
}

# Label names, short.
SVC = "container_label_com_docker_swarm_service_name"
STK = "container_label_com_docker_stack_namespace"
TASK = "container_label_com_docker_swarm_task_name"

# Selectors shared by the panels. "All" is `.*` (allValue), which also matches an absent label:
# containers outside a stack still show with stack = All.
NODE = 'node=~"$node"'
CONTAINERS = f'name!="", {NODE}, {STK}=~"$stack"'
SERVICE_CONTAINERS = f'{SVC}!="", {SVC}=~"$service", {STK}=~"$stack", {NODE}'
REQUESTS = 'service=~"$service", stack=~"$stack", node=~"$node"'
STREAMS = '{job="docker", swarm_stack=~"$stack", swarm_service=~"$service", node=~"$node"}'
ERROR_WORDS = "(?i)(error|fatal|panic|exception|critical|failed|failure)"
NODE_IDLE = f'mode="idle", {NODE}'
CPU_TOTAL = 'cpu="total", '
SCOPE_CONTAINER = 'scope="container", '
UNPARSED = f'service=~"$service", {NODE}'
WITH_ROUTE = f'route!="", {REQUESTS}'
AGENT_CPU = f'cpu="total", {SVC}=~"(.+_)?swarmwatch", {NODE}'
# Host metrics (node_*, node_exporter's names) joined to the Swarm node by `instance` through the
# agent's swarm_node_meta, as swarmprom's node dashboards do: the join holds in any Prometheus
# that scrapes the agents (no `node` target label needed) and filters by the node variable.
# max by: one right-hand series per instance even if two jobs scrape the same agent.
NODE_META = 'max by (instance, node_name) (swarm_node_meta{node_name=~"$node"})'
DB = 'job="mysqld"'
DB_COMMANDS = f'{DB}, command=~"select|insert|update|delete"'
BACKUP = 'job="db-backup"'


# --------------------------------------------------------------------------------------------
# Building blocks


class Layout:
    """Places panels left to right in rows of 24 columns; row() starts a titled row."""

    def __init__(self):
        self.panels: list[dict] = []
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def _id(self) -> int:
        i = self.next_id
        self.next_id += 1
        return i

    def row(self, title: str) -> None:
        self.newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False, "id": self._id(),
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def newline(self) -> None:
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel: dict, w: int, h: int) -> dict:
        if self.x + w > 24:
            self.newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)
        return panel


def prom(expr: str, legend: str = "", ref: str = "A", instant: bool = False,
         table: bool = False) -> dict:
    t = {"refId": ref, "datasource": PROM, "expr": expr, "editorMode": "code",
         "range": not instant, "instant": instant, "legendFormat": legend or "__auto"}
    if table:
        t["format"] = "table"
    return t


def loki(expr: str, legend: str = "", ref: str = "A", query_type: str = "range") -> dict:
    t = {"refId": ref, "datasource": LOKI, "expr": expr, "editorMode": "code",
         "queryType": query_type}
    if legend:
        t["legendFormat"] = legend
    return t


def defaults(unit: str, **extra) -> dict:
    d = {"unit": unit, "color": {"mode": "palette-classic"},
         "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]}}
    d.update(extra)
    return d


def timeseries(title: str, description: str, targets: list[dict], unit: str = "short",
               links: list[dict] | None = None, data_links: list[dict] | None = None,
               stack: bool = False, min0: bool = True, datasource: dict = PROM,
               overrides: list[dict] | None = None) -> dict:
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False, "axisSoftMin": 0 if min0 else None,
              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    if not min0:
        del custom["axisSoftMin"]
    fd = defaults(unit, custom=custom)
    if data_links:
        fd["links"] = data_links
    p = {"type": "timeseries", "title": title, "description": description, "datasource": datasource,
         "targets": targets, "fieldConfig": {"defaults": fd, "overrides": overrides or []},
         "options": {"legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                                "calcs": ["mean", "max", "lastNotNull"]},
                     "tooltip": {"mode": "multi", "sort": "desc"}}}
    if links:
        p["links"] = links
    return p


def stat(title: str, description: str, targets: list[dict], unit: str = "short",
         steps: list[tuple[str, float | None]] | None = None, links: list[dict] | None = None,
         color_mode: str = "value") -> dict:
    fd = defaults(unit)
    fd["color"] = {"mode": "thresholds"}
    if steps:
        fd["thresholds"]["steps"] = [{"color": c, "value": v} for c, v in steps]
    p = {"type": "stat", "title": title, "description": description, "datasource": PROM,
         "targets": targets, "fieldConfig": {"defaults": fd, "overrides": []},
         "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": color_mode, "graphMode": "area", "justifyMode": "auto",
                     "orientation": "auto", "textMode": "auto", "wideLayout": True,
                     "showPercentChange": False, "percentChangeColorMode": "standard"}}
    if links:
        p["links"] = links
    return p


def table(title: str, description: str, targets: list[dict], unit: str = "short",
          rename: dict[str, str] | None = None, hide: tuple[str, ...] = ("Time",),
          data_links: list[dict] | None = None, overrides: list[dict] | None = None,
          sort_by: str | None = None, merge: bool = False) -> dict:
    fd = defaults(unit, custom={"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False})
    if data_links:
        fd["links"] = data_links
    transformations: list[dict] = []
    if merge:
        transformations.append({"id": "merge", "options": {}})
    transformations.append({"id": "organize", "options": {
        "excludeByName": {k: True for k in hide}, "renameByName": rename or {}}})
    p = {"type": "table", "title": title, "description": description, "datasource": PROM,
         "targets": targets, "fieldConfig": {"defaults": fd, "overrides": overrides or []},
         "options": {"showHeader": True, "cellHeight": "sm", "frameIndex": 0,
                     "footer": {"show": False, "reducer": ["sum"], "fields": [], "countRows": False},
                     "sortBy": [{"displayName": sort_by, "desc": True}] if sort_by else []},
         "transformations": transformations}
    return p


def logs_panel(title: str, description: str, expr: str) -> dict:
    return {"type": "logs", "title": title, "description": description, "datasource": LOKI,
            "targets": [loki(expr)],
            "options": {"showTime": True, "showLabels": False, "showCommonLabels": False,
                        "wrapLogMessage": True, "prettifyLogMessage": False,
                        "enableLogDetails": True, "showLogContextToggle": False, "dedupStrategy": "none",
                        "sortOrder": "Descending"}}


def link(title: str, uid: str, slug: str, tooltip: str, extra: str = "${__all_variables}") -> dict:
    """A panel link to another dashboard at the same time range with the same variables."""
    return {"title": title, "type": "link", "url": f"/d/{uid}/{slug}?${{__url_time_range}}&{extra}",
            "tooltip": tooltip, "icon": "dashboard", "tags": [], "asDropdown": False,
            "includeVars": True, "keepTime": True, "targetBlank": False}


def to_logs(title: str = "Logs at this time") -> dict:
    return link(title, UIDS["logs"], "swarm-logs", "The Logs dashboard, same time range and filters")


def _field(label: str, table: bool) -> str:
    # A series' label in a graph; the cell of that column on the clicked row in a table.
    return f"${{__data.fields.{label}}}" if table else f"${{__field.labels.{label}}}"


def to_service_field(label: str, table: bool = False) -> dict:
    """A data link from a series (or table row) to the Service dashboard for its service."""
    value = _field(label, table)
    return {"title": f"Service {value}", "targetBlank": False,
            "url": f"/d/{UIDS['service']}/swarm-service?${{__url_time_range}}&${{node:queryparam}}"
                   f"&${{stack:queryparam}}&var-service={value}"}


def to_logs_field(label: str, table: bool = False) -> dict:
    value = _field(label, table)
    return {"title": f"Logs of {value}", "targetBlank": False,
            "url": f"/d/{UIDS['logs']}/swarm-logs?${{__url_time_range}}&${{node:queryparam}}"
                   f"&${{stack:queryparam}}&var-service={value}"}


def as_service(expr: str) -> str:
    """Copies the Swarm service label into a short `service` column for tables and their links."""
    return f'label_replace({expr}, "service", "$1", "{SVC}", "(.*)")'


def variable(name: str, label: str, query: str, description: str) -> dict:
    return {"type": "query", "name": name, "label": label, "description": description,
            "datasource": PROM, "query": query, "refresh": 2, "sort": 1,
            "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "options": [], "regex": "", "hide": 0, "skipUrlSync": False}


NODE_VAR = variable("node", "Node", 'label_values(up{job="swarmwatch"}, node)',
                    "Swarm nodes with a swarmwatch agent (the scrape target's node label)")


def container_vars() -> list[dict]:
    return [
        NODE_VAR,
        variable("stack", "Stack",
                 f'label_values(container_last_seen{{{NODE}}}, {STK})',
                 "Stacks of the containers on the chosen nodes (All also shows containers in no stack)"),
        variable("service", "Service",
                 f'label_values(container_last_seen{{{NODE}, {STK}=~"$stack"}}, {SVC})',
                 "Swarm services with a container on the chosen nodes"),
    ]


def request_vars() -> list[dict]:
    return [
        NODE_VAR,
        variable("stack", "Stack", f'label_values(http_requests_total{{{NODE}}}, stack)',
                 "Stacks of the services with request metrics (swarmwatch.access_log)"),
        variable("service", "Service",
                 f'label_values(http_requests_total{{{NODE}, stack=~"$stack"}}, service)',
                 "Services labelled swarmwatch.access_log (the web tier and the proxy)"),
    ]


def dashboard(key: str, title: str, description: str, layout: Layout, variables: list[dict],
              refresh: str = "30s", time_from: str = "now-1h", extra_vars: list[dict] = ()) -> dict:
    return {
        "id": None,
        "uid": UIDS[key],
        "title": title,
        "description": description,
        "tags": [TAG, "swarm"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": refresh,
        "schemaVersion": 39,
        "version": 1,
        "weekStart": "",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
            "type": "dashboard"}]},
        # Every swarmwatch dashboard, as a drop-down, keeping the time range and the variables.
        "links": [{"title": "Swarm dashboards", "type": "dashboards", "tags": [TAG],
                   "asDropdown": True, "includeVars": True, "keepTime": True, "icon": "external link",
                   "targetBlank": False, "tooltip": "The other swarmwatch dashboards, same time and filters",
                   "url": ""}],
        "templating": {"list": list(variables) + list(extra_vars)},
        "panels": layout.panels,
    }


def rate(metric: str, sel: str, window: str = "$__rate_interval") -> str:
    return f"rate({metric}{{{sel}}}[{window}])" if sel else f"rate({metric}[{window}])"


def on_node(expr: str) -> str:
    """`expr` (node_* series) with the Swarm node's name (node_name), only the chosen nodes."""
    return f"({expr}) * on (instance) group_left (node_name) {NODE_META}"


def to_rightsizing(title: str = "Right-sizing dashboard") -> dict:
    return link(title, UIDS["rightsizing"], "right-sizing", "Used against reserved and limit per "
                "service, and what to change; same time range and filters")


def to_nodes(title: str = "Nodes dashboard") -> dict:
    return link(title, UIDS["nodes"], "nodes", "The Nodes dashboard (host metrics), same time "
                "range and nodes", extra="${node:queryparam}")


# --------------------------------------------------------------------------------------------
# Swarm overview


def overview() -> dict:
    L = Layout()
    logs = [to_logs()]
    L.row("Alerting")
    receivers = stat("Alert receivers",
                     "Integrations (webhook, e-mail...) in the stack's Alertmanager configuration "
                     "(stack/deploy's ALERT_* settings). None: alerts fire in Prometheus and reach "
                     "nobody. No data: Prometheus scrapes no Alertmanager.",
                     [prom("max(alertmanager_integrations)", instant=True)],
                     steps=[("red", None), ("green", 1)], color_mode="background")
    receivers["fieldConfig"]["defaults"]["mappings"] = [
        {"type": "value", "options": {"0": {"text": "none: alerts reach nobody", "color": "red"}}},
        {"type": "special", "options": {"match": "null", "result": {"text": "no Alertmanager", "color": "red"}}}]
    receivers["fieldConfig"]["defaults"]["noValue"] = "no Alertmanager"
    L.add(receivers, 8, 4)
    L.add(stat("Alerts firing", "Prometheus' alerts in state firing now (pending ones not counted)",
               [prom('count(ALERTS{alertstate="firing"}) or vector(0)', instant=True)],
               steps=[("green", None), ("red", 1)], color_mode="background"), 8, 4)
    L.add(stat("Notifications failed in range",
               "Alertmanager's notifications that its receivers refused or did not answer, whole "
               "time range: alerts that did not reach anybody",
               [prom("sum(increase(alertmanager_notifications_failed_total[$__range])) or vector(0)",
                     instant=True)],
               steps=[("green", None), ("red", 1)], color_mode="background"), 8, 4)
    L.row("Nodes and agents")
    L.add(stat("Agents up", "swarmwatch agents Prometheus scrapes successfully (one per node)",
               [prom('sum(up{job="swarmwatch", node=~"$node"})', instant=True)],
               steps=[("red", None), ("green", 1)]), 4, 4)
    L.add(stat("Agents down", "Agent targets whose last scrape failed",
               [prom('count(up{job="swarmwatch", node=~"$node"} == 0) or vector(0)', instant=True)],
               steps=[("green", None), ("red", 1)], color_mode="background"), 4, 4)
    L.add(stat("Nodes ready", "Swarm nodes in state ready, as the managers see them",
               [prom('count(max by (node) (swarm_node_info{node=~"$node", state="ready"}))',
                     instant=True)],
               steps=[("red", None), ("green", 1)]), 4, 4)
    L.add(stat("Services short of tasks",
               "Services with fewer running tasks than desired (managers' view)",
               [prom('count((max by (stack, service) (swarm_service_desired_tasks{stack=~"$stack", '
                     'service=~"$service"}) - max by (stack, service) (swarm_service_running_tasks{'
                     'stack=~"$stack", service=~"$service"})) > 0) or vector(0)', instant=True)],
               steps=[("green", None), ("red", 1)], color_mode="background"), 4, 4)
    L.add(stat("Running containers", "Containers the agents report (cgroups read at scrape time)",
               [prom(f'count(container_last_seen{{{CONTAINERS}}})', instant=True)]), 4, 4)
    L.add(stat("OOM kills in range", "Out-of-memory kills in the chosen containers, whole time range",
               [prom(f'sum(increase(container_oom_events_total{{{CONTAINERS}}}[$__range])) or vector(0)',
                     instant=True)],
               steps=[("green", None), ("red", 1)], links=logs), 4, 4)
    L.add(table("Nodes", "Swarm nodes with their role, availability and state, and whether the "
                "node's agent is up",
                [prom('max by (node, role, availability, state) (swarm_node_info{node=~"$node"})',
                      instant=True, table=True, ref="A"),
                 prom('max by (node) (up{job="swarmwatch", node=~"$node"})', instant=True,
                      table=True, ref="B")],
                merge=True, rename={"Value #A": "in swarm", "Value #B": "agent up"}), 12, 7)
    L.add(table("Tasks: running vs desired",
                "Per service, running tasks against desired ones (global services: one per "
                "eligible node)",
                [prom('max by (stack, service, mode) (swarm_service_desired_tasks{stack=~"$stack", '
                      'service=~"$service"})', instant=True, table=True, ref="A"),
                 prom('max by (stack, service) (swarm_service_running_tasks{stack=~"$stack", '
                      'service=~"$service"})', instant=True, table=True, ref="B")],
                merge=True, rename={"Value #A": "desired", "Value #B": "running"},
                data_links=[to_service_field("service", table=True)], sort_by="desired"), 12, 7)

    L.row("CPU and memory")
    nodes = [to_nodes()]
    L.add(timeseries("CPU per node", "Share of the node's cores not idle (node_cpu_seconds_total, "
                     "all modes but idle; the Nodes dashboard splits it by mode)",
                     [prom(f'1 - avg by (node) ({rate("node_cpu_seconds_total", NODE_IDLE)})',
                           "{{node}}")],
                     unit="percentunit", links=nodes), 12, 8)
    L.add(timeseries("Memory per node", "Share of the node's memory in use: MemTotal - "
                     "MemAvailable (what the kernel cannot hand out without swapping) over MemTotal",
                     [prom(f'1 - sum by (node) (node_memory_MemAvailable_bytes{{{NODE}}}) '
                           f'/ sum by (node) (node_memory_MemTotal_bytes{{{NODE}}})', "{{node}}")],
                     unit="percentunit", links=nodes), 12, 8)
    sizing = [to_rightsizing()]
    L.add(timeseries("CPU per service", "Cores used by each service's containers, all nodes "
                     "(against what they reserve: the Right-sizing dashboard)",
                     [prom(f'sum by ({SVC}) ({rate("container_cpu_usage_seconds_total", CPU_TOTAL + SERVICE_CONTAINERS)})',
                           f"{{{{{SVC}}}}}")],
                     unit="short", links=sizing,
                     data_links=[to_service_field(SVC), to_logs_field(SVC)]), 12, 8)
    L.add(timeseries("Memory per service", "Working set of each service's containers, all nodes "
                     "(against what they reserve: the Right-sizing dashboard)",
                     [prom(f'sum by ({SVC}) (container_memory_working_set_bytes{{{SERVICE_CONTAINERS}}})',
                           f"{{{{{SVC}}}}}")],
                     unit="bytes", links=sizing,
                     data_links=[to_service_field(SVC), to_logs_field(SVC)]), 12, 8)
    L.add(table("Top containers by CPU", "The ten busiest containers, cores (rate over the range)",
                [prom(as_service(f'topk(10, sum by (node, {SVC}, name) ({rate("container_cpu_usage_seconds_total", CPU_TOTAL + CONTAINERS, "$__range")}))'),
                      instant=True, table=True)],
                rename={"Value": "cores"}, hide=("Time", SVC), sort_by="cores",
                data_links=[to_service_field("service", table=True)]), 12, 8)
    L.add(table("Top containers by memory", "The ten largest working sets now",
                [prom(as_service(f'topk(10, sum by (node, {SVC}, name) (container_memory_working_set_bytes{{{CONTAINERS}}}))'),
                      instant=True, table=True)],
                unit="bytes", rename={"Value": "working set"}, hide=("Time", SVC),
                sort_by="working set", data_links=[to_service_field("service", table=True)],
                overrides=[{"matcher": {"id": "byName", "options": "working set"},
                            "properties": [{"id": "unit", "value": "bytes"}]}]), 12, 8)

    L.row("Restarts, OOM kills, throttling")
    L.add(table("Task containers started in range",
                "Containers of each service that started within the time range: restarts, "
                "rescheduled and updated tasks (a Swarm restart is a new container)",
                [prom(as_service(f'count by (node, {SVC}) (max_over_time(container_start_time_seconds{{{SERVICE_CONTAINERS}}}[$__range]) '
                      f'> time() - $__range_s)'), instant=True, table=True)],
                rename={"Value": "started"}, hide=("Time", SVC), sort_by="started",
                data_links=[to_service_field("service", table=True),
                            to_logs_field("service", table=True)]), 8, 8)
    L.add(timeseries("OOM kills", "Out-of-memory kills per service and node",
                     [prom(f'sum by (node, {SVC}) (increase(container_oom_events_total{{{SERVICE_CONTAINERS}}}[$__rate_interval]))',
                           f"{{{{{SVC}}}}} on {{{{node}}}}")],
                     links=logs, data_links=[to_logs_field(SVC)]), 8, 8)
    L.add(timeseries("CPU throttling", "Share of CFS periods in which a service's containers were "
                     "throttled by their CPU limit (services with a limit only)",
                     [prom(f'sum by ({SVC}) ({rate("container_cpu_cfs_throttled_periods_total", SERVICE_CONTAINERS)}) '
                           f'/ (sum by ({SVC}) ({rate("container_cpu_cfs_periods_total", SERVICE_CONTAINERS)}) > 0)',
                           f"{{{{{SVC}}}}}")],
                     unit="percentunit", data_links=[to_service_field(SVC)]), 8, 8)
    return dashboard("overview", "Swarm overview",
                     "Nodes and their agents, tasks per service, CPU and memory per node and per "
                     "service, top containers, restarts, OOM kills and throttling.",
                     L, container_vars())


# --------------------------------------------------------------------------------------------
# Service


def service() -> dict:
    L = Layout()
    by = "node, name"
    legend = "{{name}} on {{node}}"
    S = SERVICE_CONTAINERS
    logs = [to_logs("Logs of this service")]
    L.row("Containers")
    L.add(stat("Containers", "Containers of the chosen services, all nodes",
               [prom(f'count(container_last_seen{{{S}}})', instant=True)]), 4, 5)
    L.add(stat("Started in range", "Containers that started within the time range (restarts, "
               "rescheduled and updated tasks)",
               [prom(f'count(max_over_time(container_start_time_seconds{{{S}}}[$__range]) > time() - $__range_s) '
                     'or vector(0)', instant=True)], links=logs), 4, 5)
    L.add(stat("OOM kills in range", "Out-of-memory kills, whole time range",
               [prom(f'sum(increase(container_oom_events_total{{{S}}}[$__range])) or vector(0)',
                     instant=True)], steps=[("green", None), ("red", 1)], links=logs), 4, 5)
    L.add(table("Tasks", "Each container of the service: its task, node, image and start time",
                [prom(f'max by (node, {TASK}, name, image) (container_start_time_seconds{{{S}}}) * 1000',
                      instant=True, table=True)],
                rename={"Value": "started", TASK: "task"}, sort_by="started",
                overrides=[{"matcher": {"id": "byName", "options": "started"},
                            "properties": [{"id": "unit", "value": "dateTimeAsIso"}]}]), 12, 5)

    L.row("CPU")
    L.add(timeseries("CPU", "Cores used per container",
                     [prom(f'sum by ({by}) ({rate("container_cpu_usage_seconds_total", CPU_TOTAL + S)})', legend)],
                     links=logs), 12, 8)
    L.add(timeseries("CPU against limit", "Cores used over the container's CPU limit (containers "
                     "with a limit only)",
                     [prom(f'sum by ({by}) ({rate("container_cpu_usage_seconds_total", CPU_TOTAL + S)}) '
                           f'/ on ({by}) (max by ({by}) (container_spec_cpu_quota{{{S}}}) '
                           f'/ max by ({by}) (container_spec_cpu_period{{{S}}}))', legend)],
                     unit="percentunit"), 12, 8)
    L.add(timeseries("User and system CPU", "Cores per container in user and kernel mode",
                     [prom(f'sum by ({by}) ({rate("container_cpu_user_seconds_total", S)})', legend + " user", "A"),
                      prom(f'sum by ({by}) ({rate("container_cpu_system_seconds_total", S)})', legend + " system", "B")]),
          12, 8)
    L.add(timeseries("Throttled time", "Seconds per second the container waited for its CFS quota",
                     [prom(f'sum by ({by}) ({rate("container_cpu_cfs_throttled_seconds_total", S)})', legend)],
                     unit="s"), 12, 8)

    L.row("Memory")
    L.add(timeseries("Working set vs limit", "Working set (usage minus inactive file cache, what the "
                     "OOM killer weighs) against the memory limit where one is set",
                     [prom(f'sum by ({by}) (container_memory_working_set_bytes{{{S}}})', legend, "A"),
                      prom(f'max by ({by}) (container_spec_memory_limit_bytes{{{S}}} > 0)', legend + " limit", "B")],
                     unit="bytes",
                     overrides=[{"matcher": {"id": "byFrameRefID", "options": "B"},
                                 "properties": [{"id": "custom.lineStyle",
                                                 "value": {"fill": "dash", "dash": [10, 10]}},
                                                {"id": "custom.fillOpacity", "value": 0}]}]), 12, 8)
    L.add(timeseries("RSS, cache, swap", "Anonymous memory, page cache and swap per container",
                     [prom(f'sum by ({by}) (container_memory_rss{{{S}}})', legend + " rss", "A"),
                      prom(f'sum by ({by}) (container_memory_cache{{{S}}})', legend + " cache", "B"),
                      prom(f'sum by ({by}) (container_memory_swap{{{S}}})', legend + " swap", "C")],
                     unit="bytes"), 12, 8)
    L.add(timeseries("Memory limit hits and OOM kills", "Times usage hit the limit (failcnt) and "
                     "out-of-memory kills, per interval",
                     [prom(f'sum by ({by}) (increase(container_memory_failcnt{{{S}}}[$__rate_interval]))',
                           legend + " limit hits", "A"),
                      prom(f'sum by ({by}) (increase(container_oom_events_total{{{S}}}[$__rate_interval]))',
                           legend + " OOM kills", "B")], links=logs), 12, 8)
    L.add(timeseries("Page faults", "Major and minor page faults per second",
                     [prom(f'sum by ({by}, failure_type) ({rate("container_memory_failures_total", SCOPE_CONTAINER + S)})',
                           legend + " {{failure_type}}")]), 12, 8)

    L.row("Network and block I/O")
    L.add(timeseries("Network", "Bytes per second received (+) and sent (-), all interfaces",
                     [prom(f'sum by ({by}) ({rate("container_network_receive_bytes_total", S)})', legend + " in", "A"),
                      prom(f'-sum by ({by}) ({rate("container_network_transmit_bytes_total", S)})', legend + " out", "B")],
                     unit="Bps", min0=False), 12, 8)
    L.add(timeseries("Network errors and drops", "Errors and dropped packets per second, both "
                     "directions",
                     [prom(f'sum by ({by}) ({rate("container_network_receive_errors_total", S)} + '
                           f'{rate("container_network_transmit_errors_total", S)})', legend + " errors", "A"),
                      prom(f'sum by ({by}) ({rate("container_network_receive_packets_dropped_total", S)} + '
                           f'{rate("container_network_transmit_packets_dropped_total", S)})', legend + " dropped", "B")],
                     unit="pps"), 12, 8)
    L.add(timeseries("Block I/O bytes", "Bytes per second read (+) and written (-), all devices",
                     [prom(f'sum by ({by}) ({rate("container_fs_reads_bytes_total", S)})', legend + " read", "A"),
                      prom(f'-sum by ({by}) ({rate("container_fs_writes_bytes_total", S)})', legend + " write", "B")],
                     unit="Bps", min0=False), 12, 8)
    L.add(timeseries("Block I/O operations", "Reads (+) and writes (-) per second, all devices",
                     [prom(f'sum by ({by}) ({rate("container_fs_reads_total", S)})', legend + " reads", "A"),
                      prom(f'-sum by ({by}) ({rate("container_fs_writes_total", S)})', legend + " writes", "B")],
                     unit="iops", min0=False), 12, 8)

    L.row("Pressure and processes")
    L.add(timeseries("Pressure (PSI): some task waiting",
                     "Share of time at least one task of the container waited for CPU, memory or "
                     "I/O (cgroup pressure; empty on kernels without PSI)",
                     [prom(f'sum by ({by}) ({rate("container_pressure_cpu_waiting_seconds_total", S)})', legend + " cpu", "A"),
                      prom(f'sum by ({by}) ({rate("container_pressure_memory_waiting_seconds_total", S)})', legend + " memory", "B"),
                      prom(f'sum by ({by}) ({rate("container_pressure_io_waiting_seconds_total", S)})', legend + " io", "C")],
                     unit="percentunit"), 12, 8)
    L.add(timeseries("Pressure (PSI): all tasks stalled",
                     "Share of time all of the container's tasks were stalled together",
                     [prom(f'sum by ({by}) ({rate("container_pressure_cpu_stalled_seconds_total", S)})', legend + " cpu", "A"),
                      prom(f'sum by ({by}) ({rate("container_pressure_memory_stalled_seconds_total", S)})', legend + " memory", "B"),
                      prom(f'sum by ({by}) ({rate("container_pressure_io_stalled_seconds_total", S)})', legend + " io", "C")],
                     unit="percentunit"), 12, 8)
    L.add(timeseries("Processes and threads", "Processes and threads in each container",
                     [prom(f'sum by ({by}) (container_processes{{{S}}})', legend + " processes", "A"),
                      prom(f'sum by ({by}) (container_threads{{{S}}})', legend + " threads", "B")]), 12, 8)
    L.add(timeseries("Task states", "Tasks (threads) by state: running, sleeping, iowait...",
                     [prom(f'sum by ({by}, state) (container_tasks_state{{{S}}})', legend + " {{state}}")]),
          12, 8)

    # The stack's MariaDB, from mysqld-exporter and the backup service (their own jobs: the
    # service, stack and node choices do not apply to them).
    L.row("Database")
    L.add(timeseries("Database connections", "Client connections open and running a statement, "
                     "against max_connections (mysqld-exporter, job mysqld)",
                     [prom(f'sum(mysql_global_status_threads_connected{{{DB}}})', "connected", "A"),
                      prom(f'sum(mysql_global_status_threads_running{{{DB}}})', "running", "B"),
                      prom(f'max(mysql_global_variables_max_connections{{{DB}}})', "max_connections", "C")],
                     overrides=[{"matcher": {"id": "byFrameRefID", "options": "C"},
                                 "properties": [{"id": "custom.lineStyle",
                                                 "value": {"fill": "dash", "dash": [10, 10]}},
                                                {"id": "custom.fillOpacity", "value": 0}]}]), 12, 8)
    L.add(timeseries("Database queries per second", "Statements per second, all and by the "
                     "application's kinds (SELECT, INSERT, UPDATE, DELETE)",
                     [prom(f'sum({rate("mysql_global_status_queries", DB)})', "all", "A"),
                      prom(f'sum by (command) ({rate("mysql_global_status_commands_total", DB_COMMANDS)})',
                           "{{command}}", "B")], unit="reqps"), 12, 8)
    L.add(timeseries("Database slow queries", "Statements slower than long_query_time, per interval",
                     [prom(f'sum(increase(mysql_global_status_slow_queries{{{DB}}}[$__rate_interval]))', "slow")]),
          8, 8)
    L.add(timeseries("InnoDB buffer pool", "Share of the buffer pool's pages holding data (and "
                     "InnoDB's own), and of dirty pages not yet flushed; near 100% used with many "
                     "reads from disk means it is too small",
                     [prom(f'sum(mysql_global_status_buffer_pool_pages{{{DB}, state=~"data|misc"}}) '
                           f'/ sum(mysql_global_status_buffer_pool_pages{{{DB}, state=~"data|free|misc"}})', "used", "A"),
                      prom(f'sum(mysql_global_status_buffer_pool_dirty_pages{{{DB}}}) '
                           f'/ sum(mysql_global_status_buffer_pool_pages{{{DB}, state=~"data|free|misc"}})', "dirty", "B")],
                     unit="percentunit"), 8, 8)
    L.add(stat("Last good backup", "Age of the newest good backup of the database (db-backup; "
               "stack/restore --list shows them)",
               [prom(f'time() - max(mariadb_backup_last_success_timestamp_seconds{{{BACKUP}}} > 0)', instant=True)],
               unit="s", steps=[("green", None), ("orange", 43200), ("red", 86400)]), 4, 4)
    L.add(stat("Backup failures in range", "Backups that failed within the time range (the good "
               "ones stay)",
               [prom(f'sum(increase(mariadb_backup_failures_total{{{BACKUP}}}[$__range])) or vector(0)',
                     instant=True)], steps=[("green", None), ("red", 1)]), 4, 4)
    return dashboard("service", "Swarm service",
                     "One service's containers across nodes: CPU, memory working set against its "
                     "limit, network, block I/O, pressure and task restarts; the stack's database.",
                     L, container_vars())


# --------------------------------------------------------------------------------------------
# Web requests (RED)


def requests() -> dict:
    L = Layout()
    R = REQUESTS
    logs = [to_logs("Logs of these services")]
    total = f'sum by (service) ({rate("http_requests_total", R)})'

    def ratio(codes: str) -> str:
        with_code = f'code=~"{codes}", {R}'
        part = f'sum by (service) ({rate("http_requests_total", with_code)})'
        # A service with no such answer shows 0, not a missing series.
        return f'({part} or {total} * 0) / ({total} > 0)'

    def quantile(q: str, by: str = "service") -> str:
        return (f'histogram_quantile({q}, sum by ({by}, le) '
                f'({rate("http_request_duration_seconds_bucket", R)}))')

    L.row("Rate, errors, duration")
    L.add(timeseries("Request rate", "Requests per second per service (web tier and proxy)",
                     [prom(total, "{{service}}")], unit="reqps",
                     data_links=[to_logs_field("service")]), 8, 8)
    L.add(timeseries("5xx ratio", "Share of answers with a 5xx status",
                     [prom(ratio("5.."), "{{service}}")], unit="percentunit", links=logs,
                     data_links=[to_logs_field("service")]), 8, 8)
    L.add(timeseries("4xx ratio", "Share of answers with a 4xx status",
                     [prom(ratio("4.."), "{{service}}")], unit="percentunit", links=logs), 8, 8)
    L.add(timeseries("Latency p50 / p95 / p99", "Request duration quantiles per service, from the "
                     "access log's request time (histogram)",
                     [prom(quantile("0.5"), "{{service}} p50", "A"),
                      prom(quantile("0.95"), "{{service}} p95", "B"),
                      prom(quantile("0.99"), "{{service}} p99", "C")], unit="s"), 12, 8)
    L.add(timeseries("Requests by status", "Requests per second per service and status code",
                     [prom(f'sum by (service, code) ({rate("http_requests_total", R)})',
                           "{{service}} {{code}}")], unit="reqps", stack=True), 12, 8)

    L.row("Per node, methods, sizes")
    L.add(timeseries("Request rate per node", "Requests per second per service and node (how the "
                     "proxy spreads the load)",
                     [prom(f'sum by (service, node) ({rate("http_requests_total", R)})',
                           "{{service}} on {{node}}")], unit="reqps"), 8, 8)
    L.add(timeseries("Requests by method", "Requests per second per method",
                     [prom(f'sum by (method) ({rate("http_requests_total", R)})', "{{method}}")],
                     unit="reqps", stack=True), 8, 8)
    L.add(timeseries("Mean response size", "Bytes per answer, mean over the interval",
                     [prom(f'sum by (service) ({rate("http_response_size_bytes_sum", R)}) / '
                           f'(sum by (service) ({rate("http_response_size_bytes_count", R)}) > 0)',
                           "{{service}}")], unit="bytes"), 8, 8)
    L.add(timeseries("Mean latency", "Mean request duration per service",
                     [prom(f'sum by (service) ({rate("http_request_duration_seconds_sum", R)}) / '
                           f'(sum by (service) ({rate("http_request_duration_seconds_count", R)}) > 0)',
                           "{{service}}")], unit="s"), 12, 8)
    L.add(timeseries("Unparsed access-log lines", "Lines of a swarmwatch.access_log container that "
                     "did not match its format (a wrong format label shows here)",
                     [prom(f'sum by (service) ({rate("swarmwatch_access_log_unparsed_lines_total", UNPARSED)})',
                           "{{service}}")], unit="short", links=logs), 12, 8)

    L.row("Routes (when the agent has access_log_routes)")
    L.add(table("Slowest routes (p95 over the range)",
                "Route patterns by 95th percentile duration; empty unless the agent is started "
                "with --access-log-routes",
                [prom(f'topk(10, histogram_quantile(0.95, sum by (service, route, le) '
                      f'({rate("http_request_duration_seconds_bucket", WITH_ROUTE, "$__range")})))',
                      instant=True, table=True)],
                unit="s", rename={"Value": "p95"}, sort_by="p95",
                overrides=[{"matcher": {"id": "byName", "options": "p95"},
                            "properties": [{"id": "unit", "value": "s"}]}]), 12, 8)
    L.add(timeseries("Request rate per route", "Requests per second per route pattern",
                     [prom(f'sum by (service, route) ({rate("http_requests_total", WITH_ROUTE)})',
                           "{{service}} {{route}}")], unit="reqps"), 12, 8)
    return dashboard("red", "Web requests (RED)",
                     "Request rate, 5xx and 4xx ratios and latency quantiles per service, for the "
                     "web tier and the proxy (services labelled swarmwatch.access_log), with the "
                     "slowest routes when route labels are on.",
                     L, request_vars())


# --------------------------------------------------------------------------------------------
# Logs


def logs() -> dict:
    L = Layout()
    errors = f'{STREAMS} |~ `{ERROR_WORDS}`'
    search = f'{STREAMS} |~ `(?i)$search`'
    L.row("Volume")
    L.add(timeseries("Log lines per service", "Lines per interval per service (Loki)",
                     [loki(f'sum by (swarm_service) (count_over_time({search} [$__interval]))',
                           "{{swarm_service}}")], datasource=LOKI, stack=True), 12, 8)
    L.add(timeseries("Error-looking lines per service", "Lines matching error, fatal, panic, "
                     "exception, critical, failed or failure (any case)",
                     [loki(f'sum by (swarm_service) (count_over_time({errors} [$__interval]))',
                           "{{swarm_service}}")], datasource=LOKI, stack=True), 12, 8)
    L.add(timeseries("Log bytes per node", "Bytes of log lines per interval per node",
                     [loki(f'sum by (node) (bytes_over_time({search} [$__interval]))', "{{node}}")],
                     datasource=LOKI, unit="bytes", stack=True), 12, 6)
    L.add(timeseries("stdout vs stderr", "Lines per interval per stream",
                     [loki(f'sum by (stream) (count_over_time({search} [$__interval]))', "{{stream}}")],
                     datasource=LOKI, stack=True), 12, 6)
    L.row("Lines")
    L.add(logs_panel("Error-looking lines", "The newest error-looking lines of the chosen "
                     "services", errors), 24, 10)
    L.add(logs_panel("Logs", "Lines of the chosen stack, services and nodes; the search box "
                     "filters them (a regular expression, any case)", search), 24, 16)
    search_var = {"type": "textbox", "name": "search", "label": "Search (regex)",
                  "description": "Keep lines matching this regular expression (any case)",
                  "query": "", "current": {"selected": False, "text": "", "value": ""},
                  "options": [{"selected": True, "text": "", "value": ""}], "hide": 0}
    return dashboard("logs", "Swarm logs",
                     "Log volume per service, error-looking lines and the lines themselves (Loki), "
                     "filtered by the same stack, service and node variables as the other "
                     "dashboards.", L, container_vars(), refresh="1m", time_from="now-1h",
                     extra_vars=[search_var])


# --------------------------------------------------------------------------------------------
# Agent health


def agent() -> dict:
    L = Layout()
    N = f'job="swarmwatch", {NODE}'
    legend = "{{node}}"
    L.row("Agents")
    L.add(table("Agents", "Each node's agent: scrape status, version, containers it follows",
                [prom(f'max by (node) (up{{{N}}})', instant=True, table=True, ref="A"),
                 prom(f'max by (node, version) (swarmwatch_build_info{{{NODE}}})', instant=True,
                      table=True, ref="B"),
                 prom(f'max by (node) (swarmwatch_catalog_ready{{{NODE}}})', instant=True,
                      table=True, ref="C"),
                 prom(f'sum by (node) (swarmwatch_catalog_containers{{state="running", {NODE}}})',
                      instant=True, table=True, ref="D"),
                 prom(f'max by (node) (swarmwatch_log_followed_containers{{{NODE}}})', instant=True,
                      table=True, ref="E")],
                merge=True, rename={"Value #A": "up", "Value #B": "build", "Value #C": "synced",
                                    "Value #D": "running containers", "Value #E": "logs followed"}),
          24, 6)
    L.row("Scrape cost")
    L.add(timeseries("Scrape duration (Prometheus)", "Time Prometheus spent scraping each agent",
                     [prom(f'scrape_duration_seconds{{{N}}}', legend)], unit="s"), 8, 8)
    L.add(timeseries("Collect time (agent)", "Time the agent spent collecting and encoding "
                     "/metrics: mean and 99th percentile",
                     [prom(f'sum by (node) ({rate("swarmwatch_scrape_duration_seconds_sum", NODE)}) / '
                           f'(sum by (node) ({rate("swarmwatch_scrape_duration_seconds_count", NODE)}) > 0)',
                           legend + " mean", "A"),
                      prom(f'histogram_quantile(0.99, sum by (node, le) '
                           f'({rate("swarmwatch_scrape_duration_seconds_bucket", NODE)}))',
                           legend + " p99", "B")], unit="s"), 8, 8)
    L.add(timeseries("Series per scrape", "Samples in each agent's /metrics answer",
                     [prom(f'scrape_samples_scraped{{{N}}}', legend)]), 8, 8)
    L.add(timeseries("Agent CPU and memory", "The swarmwatch service's own containers (the stack "
                     "runs the agent as service swarmwatch)",
                     [prom(f'sum by (node) ({rate("container_cpu_usage_seconds_total", AGENT_CPU)})',
                           legend + " cores", "A"),
                      prom(f'sum by (node) (container_memory_working_set_bytes{{{SVC}=~"(.+_)?swarmwatch", {NODE}}})',
                           legend + " working set", "B")],
                     overrides=[{"matcher": {"id": "byFrameRefID", "options": "B"},
                                 "properties": [{"id": "unit", "value": "bytes"},
                                                {"id": "custom.axisPlacement", "value": "right"}]}]),
          12, 8)
    L.add(timeseries("Source errors", "Failed reads or calls per second, by source (docker, "
                     "cgroup, proc) and Docker event-stream reconnects",
                     [prom(f'sum by (node, source) ({rate("swarmwatch_source_errors_total", NODE)})',
                           legend + " {{source}}", "A"),
                      prom(f'sum by (node) ({rate("swarmwatch_docker_event_stream_failures_total", NODE)})',
                           legend + " event stream", "B")]), 12, 8)

    L.row("Log shipping")
    L.add(timeseries("Lines read and shipped", "Log lines read from json-file logs and accepted "
                     "by Loki, per second",
                     [prom(f'sum by (node) ({rate("swarmwatch_log_lines_read_total", NODE)})', legend + " read", "A"),
                      prom(f'sum by (node) ({rate("swarmwatch_loki_entries_sent_total", NODE)})', legend + " shipped", "B")],
                     unit="short", links=[to_logs()]), 8, 8)
    L.add(timeseries("Bytes shipped", "Bytes of log lines Loki accepted, per second",
                     [prom(f'sum by (node) ({rate("swarmwatch_loki_bytes_sent_total", NODE)})', legend)],
                     unit="Bps"), 8, 8)
    L.add(timeseries("Shipping lag", "Bytes read but not yet accepted by Loki: grows while Loki is "
                     "slow or away (bounded by read_ahead_bytes); and the unread bytes of rotated "
                     "log files held open meanwhile (disk, bounded by held_logs_bytes)",
                     [prom(f'max by (node) (swarmwatch_log_read_ahead_bytes{{{NODE}}})', legend + " read ahead", "A"),
                      prom(f'max by (node) (swarmwatch_log_held_bytes{{{NODE}}})', legend + " held on disk", "B")],
                     unit="bytes"), 8, 8)
    L.add(timeseries("Retries and drops", "Pushes retried (429, 5xx, timeouts) and lines given up, "
                     "by reason, per second",
                     [prom(f'sum by (node) ({rate("swarmwatch_loki_retries_total", NODE)})', legend + " retries", "A"),
                      prom(f'sum by (node, reason) ({rate("swarmwatch_loki_entries_dropped_total", NODE)})',
                           legend + " dropped {{reason}}", "B")]), 8, 8)
    L.add(timeseries("Push latency", "Time of one push to Loki: 50th and 99th percentile",
                     [prom(f'histogram_quantile(0.5, sum by (node, le) ({rate("swarmwatch_loki_push_duration_seconds_bucket", NODE)}))',
                           legend + " p50", "A"),
                      prom(f'histogram_quantile(0.99, sum by (node, le) ({rate("swarmwatch_loki_push_duration_seconds_bucket", NODE)}))',
                           legend + " p99", "B")], unit="s"), 8, 8)
    L.add(timeseries("Batches and line problems", "Batches shipped per second; lines that did not "
                     "decode, were cut, or rotated away unread",
                     [prom(f'sum by (node) ({rate("swarmwatch_loki_batches_sent_total", NODE)})', legend + " batches", "A"),
                      prom(f'sum by (node) ({rate("swarmwatch_log_decode_errors_total", NODE)} + '
                           f'{rate("swarmwatch_log_truncated_lines_total", NODE)} + '
                           f'{rate("swarmwatch_log_rotated_away_total", NODE)})', legend + " problems", "B")]),
          8, 8)
    L.add(timeseries("Shipping lag per container (top 10)", "Bytes of each container's log not "
                     "yet accepted by Loki, the ten largest (read-ahead plus unread)",
                     [prom(f'topk(10, max by (node, container) (swarmwatch_log_lag_bytes{{{NODE}}}))',
                           "{{container}} on {{node}}")],
                     unit="bytes", links=[to_logs()]), 12, 8)
    L.add(timeseries("Lines shipped per container (top 10)", "Lines Loki accepted per second, the "
                     "ten busiest containers: a flood shows here, and is sent apart from the others",
                     [prom(f'topk(10, sum by (node, container) ({rate("swarmwatch_log_lines_sent_total", NODE)}))',
                           "{{container}} on {{node}}")],
                     unit="short", links=[to_logs()]), 12, 8)
    return dashboard("agent", "swarmwatch agent health",
                     "Per node: is the agent up, what a scrape costs, how far log shipping lags, "
                     "retries and drops.", L, [NODE_VAR])


# --------------------------------------------------------------------------------------------
# Nodes (host metrics)


def nodes() -> dict:
    L = Layout()
    legend = "{{node_name}}"
    by = "node_name"
    fs_by = "node_name, mountpoint, device, fstype"
    idle_cpu = 'node_cpu_seconds_total{mode="idle"}'
    busy = 'mode!="idle"'
    # fstype!="": a mount whose type the agent could not read is no filesystem to judge.
    avail_share = ('node_filesystem_avail_bytes{fstype!=""} '
                   '/ (node_filesystem_size_bytes{fstype!=""} > 0)')

    def fs(metric: str) -> str:
        return on_node(metric + '{fstype!=""}')

    dev = f"{by}, device"

    def per_device(*series: tuple[str, str]) -> list[dict]:
        """One target per (expression, legend suffix), refs A, B, ..., per node and device."""
        return [prom(f'max by ({dev}) ({on_node(expr)})', legend + " {{device}} " + suffix,
                     chr(ord("A") + i))
                for i, (expr, suffix) in enumerate(series)]

    L.row("Nodes")
    L.add(table("Nodes", "Each Swarm node's host: cores, memory, uptime, operating system and "
                "kernel (node_* series joined to the node by swarm_node_meta)",
                [prom(f'max by ({by}, node_id) (swarm_node_meta{{node_name=~"$node"}})', instant=True,
                      table=True, ref="A"),
                 prom(f'count by ({by}) ({on_node(idle_cpu)})',
                      instant=True, table=True, ref="B"),
                 prom(f'max by ({by}) ({on_node("node_memory_MemTotal_bytes")})', instant=True,
                      table=True, ref="C"),
                 prom(f'max by ({by}) ({on_node("node_time_seconds - node_boot_time_seconds")})',
                      instant=True, table=True, ref="D"),
                 prom(f'max by ({by}, pretty_name) ({on_node("node_os_info")})', instant=True,
                      table=True, ref="E"),
                 prom(f'max by ({by}, release) ({on_node("node_uname_info")})', instant=True,
                      table=True, ref="F")],
                merge=True, hide=("Time", "Value #A", "Value #E", "Value #F"),
                rename={"node_name": "node", "node_id": "node id", "Value #B": "cores",
                        "Value #C": "memory", "Value #D": "uptime", "pretty_name": "OS",
                        "release": "kernel"},
                overrides=[{"matcher": {"id": "byName", "options": "memory"},
                            "properties": [{"id": "unit", "value": "bytes"}]},
                           {"matcher": {"id": "byName", "options": "uptime"},
                            "properties": [{"id": "unit", "value": "s"}]}]), 24, 6)

    L.row("CPU and load")
    L.add(timeseries("CPU by mode", "Share of the node's cores per mode (user, system, iowait, "
                     "steal, ...), idle left out: the sum is the share in use",
                     [prom(f'avg by ({by}, mode) ({on_node(rate("node_cpu_seconds_total", busy))})',
                           legend + " {{mode}}")], unit="percentunit"), 12, 8)
    L.add(timeseries("Load", "Runnable and uninterruptible tasks, mean over 1, 5 and 15 minutes "
                     "(compare with the node's cores in the table above)",
                     [prom(f'max by ({by}) ({on_node("node_load1")})', legend + " 1m", "A"),
                      prom(f'max by ({by}) ({on_node("node_load5")})', legend + " 5m", "B"),
                      prom(f'max by ({by}) ({on_node("node_load15")})', legend + " 15m", "C")]), 12, 8)

    L.row("Memory")
    L.add(timeseries("Memory", "Used (MemTotal - MemAvailable), available (what the kernel can "
                     "hand out without swapping), page cache and buffers",
                     [prom(f'max by ({by}) ({on_node("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes")})',
                           legend + " used", "A"),
                      prom(f'max by ({by}) ({on_node("node_memory_MemAvailable_bytes")})',
                           legend + " available", "B"),
                      prom(f'max by ({by}) ({on_node("node_memory_Cached_bytes")})',
                           legend + " cached", "C"),
                      prom(f'max by ({by}) ({on_node("node_memory_Buffers_bytes")})',
                           legend + " buffers", "D")], unit="bytes"), 12, 8)
    L.add(timeseries("Major page faults and OOM kills", "Page faults that read from disk per "
                     "second (memory short enough to evict what is in use), and processes the "
                     "kernel killed for memory",
                     [prom(f'max by ({by}) ({on_node(rate("node_vmstat_pgmajfault", ""))})',
                           legend + " major faults/s", "A"),
                      prom(f'max by ({by}) ({on_node("increase(node_vmstat_oom_kill[$__rate_interval])")})',
                           legend + " OOM kills", "B")]), 12, 8)

    L.row("Disk space")
    L.add(timeseries("Space available per mount", "Available bytes (what non-root writers can "
                     "use) over the filesystem's size, per mount point",
                     [prom(f'max by ({fs_by}) ({on_node(avail_share)})',
                           legend + " {{mountpoint}}")], unit="percentunit"), 12, 8)
    L.add(table("Filesystems", "Every mount the agents report: size, available, share available, "
                "read-only, and whether its statfs failed or hung (device error: no size then)",
                [prom(f'max by ({fs_by}) ({fs("node_filesystem_size_bytes")})', instant=True,
                      table=True, ref="A"),
                 prom(f'max by ({fs_by}) ({fs("node_filesystem_avail_bytes")})', instant=True,
                      table=True, ref="B"),
                 prom(f'max by ({fs_by}) ({on_node(avail_share)})',
                      instant=True, table=True, ref="C"),
                 prom(f'max by ({fs_by}) ({fs("node_filesystem_readonly")})', instant=True,
                      table=True, ref="D"),
                 prom(f'max by ({fs_by}) ({fs("node_filesystem_device_error")})', instant=True,
                      table=True, ref="E")],
                merge=True, sort_by="available %",
                rename={"node_name": "node", "Value #A": "size", "Value #B": "available",
                        "Value #C": "available %", "Value #D": "read-only",
                        "Value #E": "device error"},
                overrides=[{"matcher": {"id": "byName", "options": n},
                            "properties": [{"id": "unit", "value": "bytes"}]}
                           for n in ("size", "available")]
                + [{"matcher": {"id": "byName", "options": "available %"},
                    "properties": [{"id": "unit", "value": "percentunit"}]}]), 12, 8)

    L.row("Disk I/O")
    L.add(timeseries("Disk throughput", "Bytes read and written per second per disk "
                     "(node_exporter's device excludes: no partitions, loop or ram devices)",
                     per_device((rate("node_disk_read_bytes_total", ""), "read"),
                                (rate("node_disk_written_bytes_total", ""), "written")),
                     unit="Bps"), 8, 8)
    L.add(timeseries("Disk operations", "Reads and writes completed per second per disk",
                     per_device((rate("node_disk_reads_completed_total", ""), "reads"),
                                (rate("node_disk_writes_completed_total", ""), "writes")),
                     unit="iops"), 8, 8)
    L.add(timeseries("Disk I/O time", "Share of time the disk had I/O in flight (1 = busy all "
                     "the time), and the mean number of requests in flight (weighted I/O time)",
                     per_device((rate("node_disk_io_time_seconds_total", ""), "busy"),
                                (rate("node_disk_io_time_weighted_seconds_total", ""), "queue"))),
          8, 8)

    L.row("Network")
    L.add(timeseries("Network traffic", "Bytes received and sent per second per interface of "
                     "the host (not the containers' veths)",
                     per_device((rate("node_network_receive_bytes_total", ""), "in"),
                                (rate("node_network_transmit_bytes_total", ""), "out")),
                     unit="Bps"), 12, 8)
    L.add(timeseries("Network errors and drops", "Packets per second received or sent with an "
                     "error, or dropped, per interface",
                     per_device((rate("node_network_receive_errs_total", "") + " + "
                                 + rate("node_network_transmit_errs_total", ""), "errors"),
                                (rate("node_network_receive_drop_total", "") + " + "
                                 + rate("node_network_transmit_drop_total", ""), "drops"))), 12, 8)

    L.row("Pressure (PSI)")
    L.add(timeseries("Pressure: some task waiting", "Share of wall time in which at least one "
                     "task waited for CPU, memory or I/O (the kernel's pressure stall "
                     "information; empty on kernels without PSI)",
                     [prom(f'max by ({by}) ({on_node(rate("node_pressure_" + r + "_waiting_seconds_total", ""))})',
                           legend + " " + r, ref)
                      for r, ref in (("cpu", "A"), ("memory", "B"), ("io", "C"))],
                     unit="percentunit"), 12, 8)
    L.add(timeseries("Pressure: all tasks stalled", "Share of wall time in which every task "
                     "that could run waited for memory or I/O: time the node did no work",
                     [prom(f'max by ({by}) ({on_node(rate("node_pressure_" + r + "_stalled_seconds_total", ""))})',
                           legend + " " + r, ref)
                      for r, ref in (("memory", "A"), ("io", "B"))],
                     unit="percentunit"), 12, 8)
    node_var = variable("node", "Node", "label_values(swarm_node_meta, node_name)",
                        "Swarm nodes whose agent exports host metrics (swarm_node_meta's node_name, "
                        "the same names as the other dashboards' node)")
    return dashboard("nodes", "Nodes",
                     "The hosts of the Swarm: CPU by mode, load, memory, disk space and I/O, "
                     "network and pressure per node, from the agents' node_* series (node_exporter's "
                     "names) joined to the Swarm node by swarm_node_meta.", L, [node_var])


# --------------------------------------------------------------------------------------------
# Right-sizing (issue 19)

# The stack's recording rules (stack/prometheus/alerts.yml, groups rightsizing-usage and
# rightsizing-windows; their names are level:metric:operations), so that a week of usage costs a
# handful of samples per service at view time. Per task, a service is judged on its busiest task:
# reservations and limits are per task. Window: the week (7d), as `swarmwatch rightsize` by default.
RS_WINDOW = "7d"
RS = 'stack=~"$stack", service=~"$service"'
MIB = 1024 * 1024


def rs_series(name: str, sel: str = RS) -> str:
    return f"{name}{{{sel}}}" if sel else name


def cpu_used(op: str, sel: str = RS) -> str:
    """The busiest task's cores (5-minute rate): p95, p99 or max over the window."""
    return rs_series(f"service:container_cpu_usage_seconds:{op}_{RS_WINDOW}_max_rate5m", sel)


def mem_used(op: str, sel: str = RS) -> str:
    """The busiest task's working set (minute peaks): p95, p99 or max over the window."""
    return rs_series(f"service:container_memory_working_set_bytes:{op}_{RS_WINDOW}_max1m", sel)


def swarm_service(metric: str, sel: str = RS) -> str:
    """A manager agents' per-service figure (one copy per manager: max)."""
    return f"max by (stack, service) ({metric}{{{sel}}})"


def round_up_cores(expr: str) -> str:
    """Up to the next 0.01 core, never below 0.01. Within a millionth of a hundredth of a multiple
    is on it: 0.2 x 1.5 is 0.30000000000000004 in floating point, which is 0.3 cores, not 0.31."""
    return f"clamp_min(ceil(({expr}) * 100 - 1e-6) / 100, 0.01)"


def round_up_memory(expr: str) -> str:
    """Up to a multiple of a power of two MiB, the largest that is at most 1/16 of the value (at
    least 1 MiB: rounding adds at most 6.25%), never below 16 MiB. log2 of a power of two is exact
    in Prometheus (Go's math.Log2), so 128 MiB steps by 8 MiB as the agent's loop does."""
    mib = f"(({expr}) / {MIB})"
    step = f"clamp_min(2 ^ floor(log2({mib} / 16)), 1)"
    return f"clamp_min(ceil({mib} / {step} - 1e-9) * {step} * {MIB}, {16 * MIB})"


def at_least(expr: str, floor: str) -> str:
    """The larger of two per-service figures; `expr` alone where `floor` has no value."""
    return f"(({expr}) >= on (stack, service) ({floor})) or on (stack, service) ({floor}) or ({expr})"


THROTTLED_W = rs_series(f"service:container_cpu_cfs_throttled_periods:ratio_rate{RS_WINDOW}")
OOM_W = rs_series(f"service:container_oom_events:increase{RS_WINDOW}")
RES_CPU = swarm_service("swarm_service_reservation_cpu_cores")
RES_MEM = swarm_service("swarm_service_reservation_memory_bytes")
LIM_CPU = swarm_service("swarm_service_limit_cpu_cores")
LIM_MEM = swarm_service("swarm_service_limit_memory_bytes")

# The suggestion rule, `swarmwatch rightsize`'s (agent/rightsize_rule.h; README "Right-sizing"),
# to the number: reservation = p95 x 1.2, limit = max x 1.5 of the busiest task over the window;
# CPU up to 0.01 core, memory up to a power-of-two MiB step (round_up_memory); never below 0.01
# core or 16 MiB; a limit never below its reservation. A resource that starved (CPU throttled in
# more than 5% of its periods; memory OOM-killed or above 90% of its limit) gets at least 1.5 x
# its current limit: usage held down by a limit understates what the service wants.
CPU_STARVED = f"{THROTTLED_W} > 0.05"
MEM_STARVED = f"{OOM_W} > 0 or {mem_used('max')} > on (stack, service) 0.9 * {LIM_MEM}"


def suggest_cpu_reserve(sel: str = RS) -> str:
    return round_up_cores(f"{cpu_used('p95', sel)} * 1.2")


def suggest_mem_reserve(sel: str = RS) -> str:
    return round_up_memory(f"{mem_used('p95', sel)} * 1.2")


def suggest_cpu_limit() -> str:
    raised = round_up_cores(f"{LIM_CPU} * 1.5 and on (stack, service) ({CPU_STARVED})")
    return at_least(at_least(round_up_cores(f"{cpu_used('max')} * 1.5"), raised),
                    suggest_cpu_reserve())


def suggest_mem_limit() -> str:
    raised = round_up_memory(f"{LIM_MEM} * 1.5 and on (stack, service) ({MEM_STARVED})")
    return at_least(at_least(round_up_memory(f"{mem_used('max')} * 1.5"), raised),
                    suggest_mem_reserve())


def off_reservation(reserved: str, suggested: str, slack: str) -> tuple[str, str]:
    """(over, under): a reservation above 1.5 x its suggestion, or missing or below the suggestion
    / 1.5, by more than `slack` (smaller differences are not worth a service update)."""
    over = (f"({reserved} > on (stack, service) 1.5 * {suggested}) and on (stack, service) "
            f"({reserved} - on (stack, service) {suggested} > {slack})")
    under = (f"(({suggested}) / 1.5 > on (stack, service) {reserved}) and on (stack, service) "
             f"({suggested} - on (stack, service) {reserved} > {slack}) "
             f"or (({suggested}) > {slack} unless on (stack, service) {reserved})")
    return over, under


CPU_OVER, CPU_UNDER = off_reservation(RES_CPU, suggest_cpu_reserve(), "0.05")
MEM_OVER, MEM_UNDER = off_reservation(RES_MEM, suggest_mem_reserve(), str(32 * MIB))

# Verdict, as a number for the table's value mapping, the first that applies (the CLI's order):
# 3 starved (either resource above), 2 over-reserved, 1 under-reserved (the scheduler packs more
# onto a node than it can run), 0 fits. Starved first: a service short of memory and
# over-reserved in CPU needs the fix that stops its kills first.
VERDICTS = {"0": ("fits", "green"), "1": ("under-reserved", "yellow"),
            "2": ("over-reserved", "orange"), "3": ("starved", "red")}
VERDICT = (f"3 * group by (stack, service) ({CPU_STARVED} or {MEM_STARVED}) "
           f"or 2 * group by (stack, service) ({CPU_OVER} or {MEM_OVER}) "
           f"or 1 * group by (stack, service) ({CPU_UNDER} or {MEM_UNDER}) "
           f"or 0 * group by (stack, service) ({cpu_used('p95')})")

# Tasks per service (and node) now: the recorded per-task series, which end with their container.
TASKS = "task:container_memory_working_set_bytes:max1m"


def live(expr: str) -> str:
    """Only the services the Swarm has now: the windows remember a removed one for a week."""
    return f"({expr}) and on (stack, service) {swarm_service('swarm_service_desired_tasks')}"


def reserved_per_service(metric: str, by: str = "stack, service", sel: str = "") -> str:
    """What the running tasks reserve: tasks x the per-task reservation, by `by`."""
    return (f"count by ({by}) ({rs_series(TASKS, sel)}) * on (stack, service) group_left "
            f"max by (stack, service) ({metric})")


def host_used(expr: str) -> str:
    """A node_* expression per Swarm node (`node`: the agent's node_name, via swarm_node_meta)."""
    return (f'sum by (node) (label_replace(({expr}) * on (instance) group_left (node_name) '
            f'{NODE_META}, "node", "$1", "node_name", "(.+)"))')


NOT_IDLE = 'mode!="idle"'
NODE_CPU_USED = host_used(rate("node_cpu_seconds_total", NOT_IDLE))
NODE_MEM_USED = host_used("node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes")
# The hosts of the Swarm: those whose agent says which Swarm node it is on.
CLUSTER_CPU_USED = f'sum({rate("node_cpu_seconds_total", NOT_IDLE)} and on (instance) swarm_node_meta)'


def unused(reserved_metric: str, used: str) -> str:
    """Reserved but not used, per service (none below 0: one service's shortfall is not another's
    saving), summed over the cluster; 0 when nothing is reserved."""
    return (f"sum(clamp_min({reserved_per_service(reserved_metric)} - on (stack, service) "
            f"{used}, 0)) or vector(0)")


def freed(reserved_metric: str, suggestion: str) -> str:
    """What the suggestions would release: tasks x (reservation - suggested), where positive."""
    return (f"sum(count by (stack, service) ({TASKS}) * on (stack, service) "
            f"clamp_min(max by (stack, service) ({reserved_metric}) - on (stack, service) "
            f"{suggestion}, 0)) or vector(0)")


def dashed(*refs: str) -> list[dict]:
    return [{"matcher": {"id": "byFrameRefID", "options": r},
             "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                            {"id": "custom.fillOpacity", "value": 0}]} for r in refs]


def units(unit: str, *names: str) -> list[dict]:
    return [{"matcher": {"id": "byName", "options": n}, "properties": [{"id": "unit", "value": unit}]}
            for n in names]


def rightsizing() -> dict:
    L = Layout()
    w = RS_WINDOW
    service_links = [to_service_field("service", table=True)]

    L.row(f"Services: verdict and suggestion (busiest task, last {w})")
    verdict_mapping = {"id": "mappings", "value": [
        {"type": "value", "options": {k: {"text": text, "color": color, "index": int(k)}
                                      for k, (text, color) in VERDICTS.items()}}]}
    L.add(table("Verdict and suggestion",
                f"Per service, judged on its busiest task over the last {w}, the first that "
                "applies: starved (throttled in more than 5% of its CPU periods, an OOM kill, or a "
                "working set peak above 90% of its memory limit), over-reserved (a reservation "
                "above 1.5 x the suggested one, by more than 0.05 core or 32 MiB), under-reserved "
                "(a reservation missing or below the suggested one / 1.5, by as much), or fits. "
                "Suggested per task: reservation = p95 x 1.2, limit = max x 1.5 (CPU up to 0.01 "
                "core, memory up to a power-of-two MiB step of at most 1/16; at least 0.01 core "
                "and 16 MiB; a starved resource's limit at least 1.5 x its current one), the "
                "figures `swarmwatch rightsize` prints with the `docker service update` line",
                [prom(live(VERDICT), instant=True, table=True, ref="A"),
                 prom(live(suggest_cpu_reserve()), instant=True, table=True, ref="B"),
                 prom(live(suggest_cpu_limit()), instant=True, table=True, ref="C"),
                 prom(live(suggest_mem_reserve()), instant=True, table=True, ref="D"),
                 prom(live(suggest_mem_limit()), instant=True, table=True, ref="E"),
                 prom(live(THROTTLED_W), instant=True, table=True, ref="F"),
                 prom(live(OOM_W), instant=True, table=True, ref="G")],
                merge=True, sort_by="verdict", data_links=service_links,
                rename={"Value #A": "verdict", "Value #B": "reserve CPU", "Value #C": "limit CPU",
                        "Value #D": "reserve memory", "Value #E": "limit memory",
                        "Value #F": "throttled", "Value #G": "OOM kills"},
                overrides=[{"matcher": {"id": "byName", "options": "verdict"},
                            "properties": [verdict_mapping,
                                           {"id": "custom.cellOptions", "value": {"type": "color-background"}}]}]
                + units("bytes", "reserve memory", "limit memory")
                + units("percentunit", "throttled")), 24, 8)

    def per_task_table(title: str, what: str, used, reserved: str, limit: str, unit: str) -> dict:
        return table(title, f"{what} of each service's busiest task over the last {w} (p95, p99, "
                     "max), against the per-task reservation and limit; headroom = reserved - p95 "
                     "and limit - max (negative: a shortfall). Empty cells: not set",
                     [prom(live(used("p95")), instant=True, table=True, ref="A"),
                      prom(live(used("p99")), instant=True, table=True, ref="B"),
                      prom(live(used("max")), instant=True, table=True, ref="C"),
                      prom(live(reserved), instant=True, table=True, ref="D"),
                      prom(live(limit), instant=True, table=True, ref="E"),
                      prom(live(f"{reserved} - on (stack, service) {used('p95')}"), instant=True,
                           table=True, ref="F"),
                      prom(live(f"{limit} - on (stack, service) {used('max')}"), instant=True,
                           table=True, ref="G")],
                     unit=unit, merge=True, data_links=service_links,
                     rename={"Value #A": "p95", "Value #B": "p99", "Value #C": "max",
                             "Value #D": "reserved", "Value #E": "limit",
                             "Value #F": "reserved - p95", "Value #G": "limit - max"},
                     overrides=[{"matcher": {"id": "byName", "options": n},
                                 "properties": [{"id": "custom.cellOptions",
                                                 "value": {"type": "color-text"}},
                                                {"id": "thresholds", "value": {
                                                    "mode": "absolute",
                                                    "steps": [{"color": "red", "value": None},
                                                              {"color": "green", "value": 0}]}}]}
                                for n in ("reserved - p95", "limit - max")])
    L.add(per_task_table("CPU per task (cores)", "Cores used (5-minute rate)", cpu_used,
                         RES_CPU, LIM_CPU, "short"), 12, 8)
    L.add(per_task_table("Memory per task", "Working set (minute peaks)", mem_used,
                         RES_MEM, LIM_MEM, "bytes"), 12, 8)

    L.row("Services over time")
    def used_against_sizing(title: str, what: str, used: str, p95: str, reserved: str,
                            limit: str, unit: str) -> dict:
        return timeseries(title, f"The busiest task's {what} and {'their' if unit == 'short' else 'its'} "
                          f"p95 over the last {w}, against the per-task reservation and limit (dashed)",
                          [prom(rs_series(used), "{{service}} used", "A"),
                           prom(p95, f"{{{{service}}}} p95 {w}", "B"),
                           prom(reserved, "{{service}} reserved", "C"),
                           prom(limit, "{{service}} limit", "D")],
                          unit=unit, overrides=dashed("C", "D"))
    L.add(used_against_sizing("CPU per task: used, reserved, limit", "cores (5-minute rate)",
                              "service:container_cpu_usage_seconds:max_rate5m", cpu_used("p95"),
                              RES_CPU, LIM_CPU, "short"), 12, 8)
    L.add(used_against_sizing("Memory per task: used, reserved, limit", "working set (minute peaks)",
                              "service:container_memory_working_set_bytes:max1m", mem_used("p95"),
                              RES_MEM, LIM_MEM, "bytes"), 12, 8)
    L.add(timeseries("Throttled share", "Share of the service's CFS periods throttled by its CPU "
                     "limit (5-minute rate; services with a CPU limit only); above 5% over the "
                     f"{w} window the verdict is starved",
                     [prom(rs_series("service:container_cpu_cfs_throttled_periods:ratio_rate5m"),
                           "{{service}}")], unit="percentunit"), 12, 8)
    L.add(timeseries("OOM kills", "OOM kills of the service's tasks per minute: the larger of "
                     "their containers' counts and the engine's oom events (a kill of a task's main "
                     "process ends its container before a scrape reads its count: only the event "
                     "tells)",
                     [prom(rs_series("service:container_oom_events:increase1m"), "{{service}}")],
                     links=[to_logs()]), 12, 8)

    L.row("Nodes: capacity, reserved, used")
    node = 'node=~"$node"'
    cap_cpu = f'max by (node) (swarm_node_capacity_cpu_cores{{{node}}})'
    cap_mem = f'max by (node) (swarm_node_capacity_memory_bytes{{{node}}})'
    res_cpu = f"sum by (node) ({reserved_per_service('swarm_service_reservation_cpu_cores', 'node, stack, service', node)})"
    res_mem = f"sum by (node) ({reserved_per_service('swarm_service_reservation_memory_bytes', 'node, stack, service', node)})"
    L.add(table("Nodes", "Per node: what the Swarm may place on it (capacity: its cores and "
                "memory as the managers see them), what its running tasks reserve, and what the "
                "host uses (all but idle CPU; memory total - available)",
                [prom(cap_cpu, instant=True, table=True, ref="A"),
                 prom(res_cpu, instant=True, table=True, ref="B"),
                 prom(NODE_CPU_USED, instant=True, table=True, ref="C"),
                 prom(cap_mem, instant=True, table=True, ref="D"),
                 prom(res_mem, instant=True, table=True, ref="E"),
                 prom(NODE_MEM_USED, instant=True, table=True, ref="F")],
                merge=True, rename={"Value #A": "CPU capacity", "Value #B": "CPU reserved",
                                    "Value #C": "CPU used", "Value #D": "memory capacity",
                                    "Value #E": "memory reserved", "Value #F": "memory used"},
                overrides=units("bytes", "memory capacity", "memory reserved", "memory used")),
          24, 6)
    L.add(timeseries("CPU per node", "Cores: capacity (dashed), reserved by the running tasks, "
                     "used by the host",
                     [prom(cap_cpu, "{{node}} capacity", "A"),
                      prom(res_cpu, "{{node}} reserved", "B"),
                      prom(NODE_CPU_USED, "{{node}} used", "C")],
                     links=[to_nodes()], overrides=dashed("A")), 12, 8)
    L.add(timeseries("Memory per node", "Bytes: capacity (dashed), reserved by the running "
                     "tasks, used by the host",
                     [prom(cap_mem, "{{node}} capacity", "A"),
                      prom(res_mem, "{{node}} reserved", "B"),
                      prom(NODE_MEM_USED, "{{node}} used", "C")],
                     unit="bytes", links=[to_nodes()], overrides=dashed("A")), 12, 8)

    L.row("Cluster: reserved but unused")
    cpu_unused = unused("swarm_service_reservation_cpu_cores", "service:container_cpu_usage_seconds:rate5m")
    mem_unused = unused("swarm_service_reservation_memory_bytes", "service:container_memory_working_set_bytes:sum")
    L.add(stat("CPU reserved but unused", "Cores the running tasks reserve and do not use now, "
               "summed over the services (a service short of its reservation adds nothing): what "
               "the scheduler keeps free for nobody",
               [prom(cpu_unused, instant=True)]), 6, 4)
    L.add(stat("Memory reserved but unused", "Bytes the running tasks reserve beyond their "
               "working set now, summed over the services",
               [prom(mem_unused, instant=True)], unit="bytes"), 6, 4)
    L.add(stat("CPU the suggestions free", f"Cores released if every service took its suggested "
               f"reservation (tasks x (reserved - suggested), where positive; last {w})",
               [prom(freed("swarm_service_reservation_cpu_cores", suggest_cpu_reserve("")),
                     instant=True)]), 6, 4)
    L.add(stat("Memory the suggestions free", "Bytes released if every service took its "
               "suggested memory reservation",
               [prom(freed("swarm_service_reservation_memory_bytes", suggest_mem_reserve("")),
                     instant=True)], unit="bytes"), 6, 4)
    L.add(timeseries("Cluster CPU", "Cores of all nodes: capacity (dashed), reserved by the "
                     "running tasks, used by the hosts, reserved but unused",
                     [prom("sum(max by (node) (swarm_node_capacity_cpu_cores))", "capacity", "A"),
                      prom(f"sum({reserved_per_service('swarm_service_reservation_cpu_cores')})",
                           "reserved", "B"),
                      prom(CLUSTER_CPU_USED, "used", "C"),
                      prom(cpu_unused, "reserved but unused", "D")],
                     overrides=dashed("A")), 12, 8)
    L.add(timeseries("Cluster memory", "Bytes of all nodes: capacity (dashed), reserved by the "
                     "running tasks, used by the hosts, reserved but unused",
                     [prom("sum(max by (node) (swarm_node_capacity_memory_bytes))", "capacity", "A"),
                      prom(f"sum({reserved_per_service('swarm_service_reservation_memory_bytes')})",
                           "reserved", "B"),
                      prom("sum((node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes) "
                           "and on (instance) swarm_node_meta)", "used", "C"),
                      prom(mem_unused, "reserved but unused", "D")],
                     unit="bytes", overrides=dashed("A")), 12, 8)
    return dashboard("rightsizing", "Right-sizing",
                     "What each service reserves, uses and should reserve: per service its busiest "
                     f"task over the last {w} against its reservation and limit, the verdict and "
                     "the suggested sizes; per node capacity, reserved and used; the cluster's "
                     "reserved-but-unused CPU and memory. Reads the stack's recording rules "
                     "(groups rightsizing-usage and rightsizing-windows).",
                     L, container_vars(), refresh="1m", time_from="now-24h")


DASHBOARDS = {
    "swarm-overview.json": overview,
    "swarm-service.json": service,
    "web-requests.json": requests,
    "swarm-logs.json": logs,
    "agent-health.json": agent,
    "nodes.json": nodes,
    "right-sizing.json": rightsizing,
}


def render(make) -> str:
    return json.dumps(make(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a committed dashboard differs from what this script makes")
    args = ap.parse_args()
    stale = []
    for name, make in DASHBOARDS.items():
        path = HERE / name
        text = render(make)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("dashboards differ from dashboards/generate.py (run it and commit): "
              + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
