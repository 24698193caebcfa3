// The import rules that the type checker does not enforce by itself:
// - nothing outside client/ imports vscode (the server's tsconfig makes an `import` a compile
//   error already; this also catches a require());
// - no import cycles between modules (type-only imports count: a cycle is a design knot even
//   when it costs nothing at run time).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOTS = ['common', 'server/src', 'client/src'];

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.ts$/.test(name) && !name.endsWith('.d.ts')) files.push(p);
  }
};
ROOTS.forEach(walk);

/** Every module specifier a file names (import, export … from, require, import()). */
function specifiers(src) {
  const out = [];
  for (const m of src.matchAll(/(?:\bfrom\s+|\brequire\(\s*|\bimport\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) out.push(m[1]);
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
  const specs = specifiers(readFileSync(f, 'utf8'));
  if (!f.startsWith('client/') && specs.includes('vscode')) problems.push(`${f} imports vscode but runs outside VS Code`);
  graph.set(f, specs.map((s) => target(f, s)).filter((t) => t !== undefined));
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
  console.error(`import rules broken:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
