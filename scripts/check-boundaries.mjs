// The server must never import vscode: its tsconfig already makes that a compile error (no
// @types/vscode there); this also catches a require() that the type checker cannot see.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const bad = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.ts$/.test(name) && /(from\s+|require\(\s*)['"]vscode['"]/.test(readFileSync(p, 'utf8'))) bad.push(p);
  }
};
walk('server/src');
walk('common');
if (bad.length) {
  console.error(`these files import vscode but run outside VS Code:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}
