/**
 * Multi-process launchers in trainer.command: `torchrun …` (or `python -m torch.distributed.run …`)
 * and `accelerate launch …` (or `python -m accelerate.commands.launch …`). Pure: what the command
 * says statically, for the config's checks and the merge command. The engine treats a launcher like
 * any trainer command (it forwards SIGTERM to its workers); see docs/trainer.md, "Several GPUs".
 */
import { basename, dirname, join } from 'node:path';

export interface Launcher {
  readonly kind: 'torchrun' | 'accelerate';
  /** Processes per node, where the command says a number (null: the launcher decides, e.g. `gpu`, `auto`, or its default). */
  readonly nproc: number | null;
  /** Index of the flag holding nproc, for a diagnostic's range. */
  readonly nprocArg: number | null;
  /** The Python interpreter that runs the launcher, where the command shows it (`python -m …`, or the launcher script's own folder). */
  readonly python: string | null;
}

const PYTHON = /^python[\d.]*$/;

/** The value of `--flag N` or `--flag=N` for any of `names`, with the index of the argument that holds it. */
function flagValue(args: readonly string[], names: readonly string[]): { value: string; index: number } | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    // Everything after the script (`-m module` or a .py path) belongs to the trainer, not the launcher.
    if (a === '-m' || a.endsWith('.py')) break;
    for (const n of names) {
      if (a === n && i + 1 < args.length) return { value: args[i + 1]!, index: i + 1 };
      if (a.startsWith(`${n}=`)) return { value: a.slice(n.length + 1), index: i };
    }
  }
  return undefined;
}

export function launcherOf(command: readonly string[]): Launcher | undefined {
  const exe = basename(command[0] ?? '');
  let kind: Launcher['kind'] | undefined;
  let rest: readonly string[] = [];
  let python: string | null = null;
  if (exe === 'torchrun') {
    kind = 'torchrun';
    rest = command.slice(1);
  } else if (exe === 'accelerate' && command[1] === 'launch') {
    kind = 'accelerate';
    rest = command.slice(2);
  } else if (PYTHON.test(exe) && command[1] === '-m' && (command[2] === 'torch.distributed.run' || command[2] === 'torch.distributed.launch')) {
    kind = 'torchrun';
    rest = command.slice(3);
    python = command[0]!;
  } else if (PYTHON.test(exe) && command[1] === '-m' && command[2] === 'accelerate.commands.launch') {
    kind = 'accelerate';
    rest = command.slice(3);
    python = command[0]!;
  }
  if (!kind) return undefined;
  // A launcher script installed by pip sits beside its interpreter (venv/bin/torchrun, venv/bin/python).
  if (python === null && command[0]!.includes('/')) python = join(dirname(command[0]!), 'python');
  const offset = command.length - rest.length;
  if (kind === 'accelerate' && rest.includes('--cpu') && !rest.includes('--multi_gpu')) return { kind, nproc: 1, nprocArg: null, python };
  const f = flagValue(rest, kind === 'torchrun' ? ['--nproc_per_node', '--nproc-per-node'] : ['--num_processes', '--num-processes']);
  const n = f && /^\d+$/.test(f.value) ? Number(f.value) : null;
  return { kind, nproc: n, nprocArg: f ? f.index + offset : null, python };
}

/** The number of GPUs that CUDA_VISIBLE_DEVICES leaves visible, when it is set (undefined: all). */
export function visibleDeviceCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '' || v === '-1' || v.toLowerCase() === 'none') return 0;
  return v.split(',').filter((s) => s.trim() !== '').length;
}
