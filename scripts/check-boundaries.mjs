// The import rules of docs/architecture.md that the type checker does not enforce by itself:
// which folder may import which, where vscode, the LSP libraries and Node may be imported, and
// no import cycles (type-only imports count: a cycle is a design knot even when it costs nothing
// at run time). The server's tsconfig already makes `import 'vscode'` there a compile error; this
// also catches a require().
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOTS = ['common', 'server/src', 'client/src'];

/**
 * Each folder and the project folders it may import (its own always). The order is the layering
 * of docs/architecture.md: dataset and tokens at the bottom, the language server and the CLI on top.
 */
const MAY_IMPORT = {
  'common/': [],
  'server/src/dataset/': ['common/'],
  'server/src/tokens/': ['server/src/dataset/', 'common/'],
  'server/src/config/': ['server/src/dataset/', 'common/'],
  'server/src/engine/': ['server/src/config/', 'server/src/dataset/', 'common/'],
  'server/src/lsp/': ['server/src/engine/', 'server/src/config/', 'server/src/dataset/', 'server/src/tokens/', 'common/'],
  // The CLI loads the language server's bundle at run time (`lsp --stdio`), never its modules.
  'server/src/cli/': ['server/src/engine/', 'server/src/config/', 'server/src/dataset/', 'server/src/tokens/', 'common/'],
  'client/src/': ['common/'],
};

/** Packages only some folders may import. */
const PACKAGE_HOMES = [
  { pkg: /^vscode$/, homes: ['client/src/'], why: 'runs outside VS Code' },
  { pkg: /^vscode-languageclient(\/|$)/, homes: ['client/src/'], why: 'the LSP client is the extension\'s' },
  { pkg: /^vscode-languageserver(-textdocument)?(\/|$)/, homes: ['server/src/lsp/'], why: 'the LSP server libraries stay in lsp/ (the CLI bundle must not carry them)' },
  { pkg: /^vscode-languageserver-protocol(\/|$)/, homes: ['common/protocol.ts', 'server/src/lsp/', 'client/src/'], why: 'the protocol types are protocol.ts\'s' },
];

/** Files that run in a browser (a webview): no Node, no vscode. */
const BROWSER = ['client/src/lossChartPage.ts', 'common/'];

/**
 * Modules that may be imported for their values only from these folders; elsewhere `import type`
 * only. protocol.ts builds its message types with the LSP library: a value import of it from the
 * engine, config or CLI code would put that library in every CLI command's start-up.
 */
const TYPES_ONLY_OUTSIDE = [{ module: 'common/protocol.ts', homes: ['server/src/lsp/', 'client/src/', 'common/'] }];

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.ts$/.test(name) && !name.endsWith('.d.ts')) files.push(p);
  }
};
ROOTS.forEach(walk);

const under = (file, prefixes) => prefixes.some((p) => file === p || (p.endsWith('/') && file.startsWith(p)));
const folderOf = (file) => Object.keys(MAY_IMPORT).find((f) => file.startsWith(f));

/** Every import of a file: its specifier, and whether it brings types only. */
function imports(src) {
  const out = [];
  const statement = /(?:^|;)\s*(import|export)\s+(type\s+)?(?:([^'";]*?)\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const m of src.matchAll(statement)) {
    const names = m[3] ?? '';
    const allTyped = /^\{[^}]*\}$/.test(names.trim()) && names.replace(/[{}]/g, '').split(',').filter((s) => s.trim()).every((s) => /^\s*type\s/.test(s));
    out.push({ spec: m[4], typeOnly: !!m[2] || (names !== '' && allTyped) });
  }
  for (const m of src.matchAll(/\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push({ spec: m[1], typeOnly: false });
  return out;
}

/** A relative specifier as a repository path, or undefined when it is a package. */
function target(from, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const p of [base, `${base}.ts`, join(base, 'index.ts')]) if (existsSync(p) && statSync(p).isFile()) return relative('.', p);
  return relative('.', base);
}

const problems = [];
const graph = new Map();
for (const f of files) {
  const deps = [];
  const folder = folderOf(f);
  for (const { spec, typeOnly } of imports(readFileSync(f, 'utf8'))) {
    const t = target(f, spec);
    if (t === undefined) {
      for (const rule of PACKAGE_HOMES) if (rule.pkg.test(spec) && !under(f, rule.homes)) problems.push(`${f} imports ${spec}, which ${rule.why}`);
      if (under(f, BROWSER) && (spec.startsWith('node:') || spec === 'vscode') && !typeOnly) problems.push(`${f} runs in a webview and imports ${spec}`);
      continue;
    }
    deps.push(t);
    const tf = folderOf(t);
    if (folder && tf && tf !== folder && !MAY_IMPORT[folder].includes(tf)) problems.push(`${f} imports ${t}: ${folder} may import only ${[folder, ...MAY_IMPORT[folder]].join(', ')}`);
    for (const r of TYPES_ONLY_OUTSIDE) if (t === r.module && !typeOnly && !under(f, r.homes)) problems.push(`${f} imports values from ${t}: outside ${r.homes.join(', ')} only \`import type\``);
  }
  graph.set(f, deps);
}

// Cycles, by depth-first search (each reported once, from where it was entered).
const state = new Map();
const stack = [];
const visit = (n) => {
  state.set(n, 'open');
  stack.push(n);
  for (const d of graph.get(n) ?? []) {
    if (state.get(d) === 'open') problems.push(`import cycle: ${[...stack.slice(stack.indexOf(d)), d].join(' → ')}`);
    else if (!state.has(d) && graph.has(d)) visit(d);
  }
  stack.pop();
  state.set(n, 'done');
};
for (const n of graph.keys()) if (!state.has(n)) visit(n);

if (problems.length) {
  console.error(`import rules broken (docs/architecture.md):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
