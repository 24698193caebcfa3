/**
 * `lora-queue`: the headless CLI on the same engine as the editor.
 *
 *   lora-queue validate [--format text|json] [--config FILE] FILE...   exit 0 clean, 1 errors, 2 usage or I/O failure
 *   lora-queue stats [--format text|json] [--config FILE] FILE...      token statistics with the model's tokenizer
 *   lora-queue lsp --stdio                                              the language server over stdio
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { processOutput, type Output } from './output';
import { ENGINE_USAGE, runEngineCommand } from './engine';
import { runStats } from './stats';
import { runValidate } from './validate';

const USAGE = `usage: lora-queue <command> [options]

commands:
  validate [--format text|json] [--config FILE] FILE...   check chat-JSONL datasets (FILE may be a glob, a folder, or - for stdin)
                                                           and lora-queue.json files
  stats [--format text|json] [--config FILE] FILE...      token and length statistics with the base model's tokenizer and chat template
${ENGINE_USAGE}
  lsp --stdio                                              serve the language server over stdio

exit status of validate: 0 no errors, 1 errors found, 2 usage or I/O failure`;

export async function main(argv: readonly string[], out: Output = processOutput()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'validate': {
        const a = fileCommandArgs(rest, out, 'validate needs at least one FILE (or - for standard input)');
        return typeof a === 'number' ? a : await runValidate(a, out, process.stdin);
      }
      case 'stats': {
        const a = fileCommandArgs(rest, out, 'stats needs at least one FILE');
        return typeof a === 'number' ? a : await runStats(a, out);
      }
      case 'daemon':
      case 'status':
      case 'enqueue':
      case 'stop':
      case 'pause':
      case 'resume':
      case 'retry':
      case 'remove':
      case 'priority':
      case 'rollback':
      case 'snapshots':
      case 'inspect':
      case 'consolidate':
      case 'usage':
        return await runEngineCommand(command, rest, out);
      case 'lsp': {
        if (!rest.includes('--stdio')) return usage(out, 'lsp needs --stdio');
        // The server bundle reads --stdio from argv and runs until the client exits it. Loading it only
        // here keeps the language-server libraries out of every other command's start-up.
        require(join(__dirname, 'server.js'));
        return new Promise<number>(() => undefined);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out.line(USAGE);
        return command === undefined ? 2 : 0;
      default:
        return usage(out, `unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) return usage(out, (e as Error).message);
    throw e;
  } finally {
    await out.flush();
  }
}

/** The options `validate` and `stats` share; an exit code when the command should end here. */
function fileCommandArgs(rest: readonly string[], out: Output, noFiles: string): { format: 'text' | 'json'; config: string | undefined; operands: string[] } | number {
  const { values, positionals } = parseArgs({
    args: rest as string[],
    options: { format: { type: 'string', default: 'text' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    out.line(USAGE);
    return 0;
  }
  if (values.format !== 'text' && values.format !== 'json') return usage(out, `--format must be text or json, not ${values.format}`);
  if (positionals.length === 0) return usage(out, noFiles);
  return { format: values.format, config: values.config, operands: positionals };
}

function usage(out: Output, message: string): number {
  out.err(`lora-queue: ${message}\n\n${USAGE}`);
  return 2;
}

/** Runs the CLI on process.argv and sets the exit code; the bin calls this. */
export function run(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`lora-queue: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 2;
    },
  );
}

// `node dist/cli.js …` works as well as the bin.
if (require.main === module) run();
