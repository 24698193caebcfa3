// Bundles the client, the server and the CLI with esbuild (type checking is `tsc -b`).
//   node scripts/build.mjs               development bundles with source maps
//   node scripts/build.mjs --production  minified, for the .vsix
//   node scripts/build.mjs --tests       also type-checks and compiles the tests into out/ (tsc -b)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const tests = process.argv.includes('--tests');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  // jsonc-parser's main entry is a UMD bundle whose inner requires esbuild cannot follow.
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  // ESM dependencies bundled into CommonJS still ask for import.meta.url (fdir, via tinyglobby).
  define: { 'import.meta.url': '__importMetaUrl' },
  banner: { js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};

// The validator's WebAssembly fast path (AssemblyScript), read at run time from beside the bundles.
mkdirSync('dist', { recursive: true });
execFileSync(process.execPath, ['node_modules/assemblyscript/bin/asc.js', 'server/wasm/fastLine.ts', '-O3', '--runtime', 'stub', '--noAssert', '--enable', 'simd', '--outFile', 'dist/fastLine.wasm'], { stdio: 'inherit' });
await Promise.all([
  build({ ...common, entryPoints: ['client/src/extension.ts'], outfile: 'dist/client.js', external: ['vscode'] }),
  build({ ...common, entryPoints: ['server/src/lsp/main.ts'], outfile: 'dist/server.js' }),
  build({ ...common, entryPoints: ['server/src/cli/main.ts'], outfile: 'dist/cli.js' }),
  build({ ...common, entryPoints: ['server/src/dataset/validateWorker.ts'], outfile: 'dist/validateWorker.js' }),
  build({ ...common, entryPoints: ['server/src/engine/exitRecorder.ts'], outfile: 'dist/exitRecorder.js' }),
  build({ ...common, entryPoints: ['server/src/tokens/worker.ts'], outfile: 'dist/tokenWorker.js' }),
]);
chmodSync('bin/lora-queue.js', 0o755);
// The loss chart's page, with uPlot bundled in (the webview loads nothing remote), and uPlot's styles.
mkdirSync('dist/media', { recursive: true });
await build({ ...common, platform: 'browser', target: 'chrome120', format: 'iife', define: {}, banner: {}, entryPoints: ['client/src/lossChartPage.ts'], outfile: 'dist/media/lossChart.js' });
copyFileSync('node_modules/uplot/dist/uPlot.min.css', 'dist/media/uPlot.min.css');
// The config's JSON Schema, generated from the zod schema (contributed through jsonValidation).
await build({ ...common, sourcemap: false, minify: false, entryPoints: ['server/src/config/emitSchema.ts'], outfile: 'out/emitSchema.js' });
execFileSync(process.execPath, ['out/emitSchema.js', 'dist/lora-queue.schema.json'], { stdio: 'inherit' });
if (tests) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-b'], { stdio: 'inherit' });
  // The tests load the server modules from out/: the module must sit beside fastLine.js there too.
  copyFileSync('dist/fastLine.wasm', 'out/server/src/dataset/fastLine.wasm');
}
