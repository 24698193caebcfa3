/**
 * Runs the engine's CLI commands from the compiled out/ tree, so the tests drive the engine as a
 * subprocess without the esbuild bundle: `node out/test/engine/launcher.js daemon --config X`.
 * Once `lora-queue` dispatches these commands (server/src/cli/main.ts), `bin/lora-queue.js` does
 * the same. Without arguments (as when `node --test` loads it) it does nothing.
 */
import { processOutput } from '../../server/src/cli/output';
import { runEngineCommand } from '../../server/src/cli/engine';

const [command, ...rest] = process.argv.slice(2);
if (command) {
  const out = processOutput();
  runEngineCommand(command, rest, out).then(
    async (code) => {
      await out.flush();
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`lora-queue: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 2;
    },
  );
}
