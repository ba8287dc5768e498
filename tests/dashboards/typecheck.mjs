// Type-checks dashboards/*.json against Grafana's own dashboard model (@grafana/schema) with tsc.
//
// For each dashboard it writes .generated/<name>.ts holding the JSON verbatim as the initializer of
// a `Dashboard`, so tsc checks every key and value (object literals: unknown keys are errors), and
// then, for each panel of a type @grafana/schema describes (timeseries, stat, table, logs), the
// panel's `options` and `fieldConfig.defaults.custom` against that panel plugin's own `Options` and
// `FieldConfig`, and each Loki query against `LokiDataQuery`. Then it runs tsc and prints its
// diagnostics with the line of the JSON file they point at. Exit status: tsc's.
//
// One relaxation, the only one: @grafana/schema declares some fields as TypeScript string enums
// (e.g. FieldColorModeId), which no literal can satisfy, a JSON string included. `Json<T>` maps
// each enum to the union of its string values (`${Enum}`) and leaves everything else as it is.
//
// Usage: node typecheck.mjs <dashboards dir>
import { readFileSync, writeFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dir = process.argv[2];
const out = join(here, '.generated');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const raw = '@grafana/schema/dist/esm/raw/composable';
const PANELS = {
  timeseries: ['TimeSeries', `${raw}/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.js`, true],
  stat: ['Stat', `${raw}/stat/panelcfg/x/StatPanelCfg_types.gen.js`, false],
  table: ['Table', `${raw}/table/panelcfg/x/TablePanelCfg_types.gen.js`, true],
  logs: ['Logs', `${raw}/logs/panelcfg/x/LogsPanelCfg_types.gen.js`, false],
};

const header = `import type { Dashboard } from '@grafana/schema';
import type { LokiDataQuery } from '${raw}/loki/dataquery/x/LokiDataQuery_types.gen.js';
${Object.values(PANELS).map(([n, m, fc]) =>
  `import type { Options as ${n}Options${fc ? `, FieldConfig as ${n}FieldConfig` : ''} } from '${m}';`).join('\n')}

// A JSON document can hold an enum's values only as strings: see typecheck.mjs.
type Json<T> = T extends string ? \`\${T}\`
  : T extends ReadonlyArray<infer U> ? Array<Json<U>>
  : T extends object ? { [K in keyof T]: Json<T[K]> }
  : T;
`;
const headerLines = header.split('\n').length - 1;

const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const sources = {}; // generated file -> { json: path, start: line of the .ts where line 1 of the JSON is }
for (const file of files) {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  const doc = JSON.parse(text);
  const name = basename(file, '.json');
  let ts = header + `export const dashboard: Json<Dashboard> = ${text.trimEnd()};\n`;
  const start = headerLines + 1;
  const extra = [];
  const panels = [];
  for (const p of doc.panels ?? []) {
    panels.push(p);
    for (const inner of p.panels ?? []) panels.push(inner);
  }
  panels.forEach((p, i) => {
    const known = PANELS[p.type];
    const what = `${p.type} panel ${JSON.stringify(p.title)}`;
    if (known) {
      const [n, , fc] = known;
      extra.push(`// ${what}: options`);
      extra.push(`export const options_${i}: Json<${n}Options> = ${JSON.stringify(p.options ?? {})};`);
      if (fc) {
        extra.push(`// ${what}: fieldConfig.defaults.custom`);
        extra.push(`export const custom_${i}: Json<${n}FieldConfig> = ${JSON.stringify(p.fieldConfig?.defaults?.custom ?? {})};`);
      }
    }
    (p.targets ?? []).forEach((t, j) => {
      if (t.datasource?.type === 'loki') {
        extra.push(`// ${what}: query ${t.refId}`);
        extra.push(`export const loki_${i}_${j}: Json<LokiDataQuery> = ${JSON.stringify(t)};`);
      }
    });
  });
  ts += extra.join('\n') + '\n';
  const gen = join(out, `${name}.ts`);
  writeFileSync(gen, ts);
  sources[`${name}.ts`] = { json: path, start, jsonLines: text.split('\n').length };
}

writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({
  compilerOptions: {
    strict: true, noEmit: true, target: 'ES2020', module: 'ESNext', moduleResolution: 'Bundler',
    // The schema package's own .d.ts files are Grafana's business; ours are what is checked.
    skipLibCheck: true, types: [],
  },
  include: ['*.ts'],
}, null, 2));

const tsc = join(here, 'node_modules', 'typescript', 'bin', 'tsc');
const run = spawnSync(process.execPath, [tsc, '-p', join(out, 'tsconfig.json'), '--pretty', 'false'],
  { encoding: 'utf8' });
const lines = (run.stdout + run.stderr).split('\n').filter((l) => l.trim());
for (const line of lines) {
  // .generated/swarm-overview.ts(120,7): error TS...  ->  also name the JSON line.
  const m = line.match(/([\w.-]+\.ts)\((\d+),(\d+)\)/);
  const src = m && sources[m[1]];
  if (src) {
    const n = Number(m[2]) - src.start + 1;
    const where = n >= 1 && n <= src.jsonLines ? `${src.json}:${n}` : `${src.json} (a panel check after the dashboard)`;
    console.log(`${where}: ${line}`);
  } else {
    console.log(line);
  }
}
console.log(`typecheck: ${files.length} dashboards, tsc exit ${run.status}`);
process.exit(run.status ?? 1);
