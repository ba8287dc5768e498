// Parses query expressions with the grammars Grafana and Prometheus ship for their editors:
// PromQL with @prometheus-io/lezer-promql, LogQL with @grafana/lezer-logql.
//
// Input (a JSON file named on the command line): [{"id": "...", "lang": "promql"|"logql",
// "expr": "..."}], template variables already substituted. Output (stdout, JSON): one object per
// input, {"id", "errors": ["<what> at <offset>: <text around it>"], "labels": [label names the
// expression matches or groups by] (LogQL only)}. Exits 0 whatever the findings: the caller judges.
import { readFileSync } from 'node:fs';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { parser as logql } from '@grafana/lezer-logql';

function context(expr, from, to) {
  const a = Math.max(0, from - 20);
  const b = Math.min(expr.length, Math.max(to, from + 1) + 20);
  return JSON.stringify(expr.slice(a, b));
}

function check(item) {
  const parser = item.lang === 'logql' ? logql : promql;
  const tree = parser.parse(item.expr);
  const errors = [];
  const labels = new Set();
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push(`syntax error at ${node.from}: ${context(item.expr, node.from, node.to)}`);
      }
      if (item.lang !== 'logql') return;
      // A label matcher in a stream selector: Matcher > Identifier.
      if (node.name === 'Matcher') {
        const id = node.node.getChild('Identifier');
        if (id) labels.add(item.expr.slice(id.from, id.to));
      }
      // by (...) / without (...): Grouping > Labels > Identifier.
      if (node.name === 'Grouping') {
        const list = node.node.getChild('Labels');
        if (list) {
          for (const id of list.getChildren('Identifier')) labels.add(item.expr.slice(id.from, id.to));
        }
      }
    },
  });
  // The top node must span the whole input: trailing text the grammar skipped is an error too.
  if (tree.length !== item.expr.length) {
    errors.push(`parsed only ${tree.length} of ${item.expr.length} characters`);
  }
  return { id: item.id, errors, labels: [...labels].sort() };
}

const items = JSON.parse(readFileSync(process.argv[2], 'utf8'));
process.stdout.write(JSON.stringify(items.map(check)) + '\n');
