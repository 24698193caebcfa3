/**
 * A one-node Slurm cluster on localhost for the Slurm tests: munged (as user munge, or the one
 * already running), slurmctld -c and slurmd from Debian's packages, a slurm.conf in a temporary
 * folder with non-default ports, no systemd, no cgroups, no slurmdbd (jobcomp/filetxt instead).
 * Facts behind each key: ../shared/slurm-notes.md. Every command the tests run gets SLURM_CONF
 * through `env`. Root only (slurmd runs jobs as their users).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Cluster {
  readonly dir: string;
  readonly conf: string;
  /** The environment every Slurm command (and the engine) needs: SLURM_CONF. */
  readonly env: NodeJS.ProcessEnv;
  readonly version: string;
  stop(): void;
}

const DAEMONS = ['/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/sbin/munged'];

/** Why a cluster cannot be brought up here, or undefined when it can be tried. */
export function whyNoCluster(): string | undefined {
  if (process.getuid?.() !== 0) return 'the Slurm tests need root (slurmd runs jobs as their users); run them as root, after scripts/setup-slurm.sh';
  const missing = [...DAEMONS, '/usr/bin/sbatch', '/usr/bin/scontrol'].filter((f) => !existsSync(f));
  if (missing.length) return `Slurm is not installed (${missing.join(', ')} missing): run scripts/setup-slurm.sh as root`;
  return undefined;
}

function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function mungeRunning(): boolean {
  return spawnSync('sh', ['-c', 'munge -n | unmunge'], { stdio: 'ignore' }).status === 0;
}

function pidOf(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the cluster in `dir` (which must exist) with `cpus` CPUs on the node and the given port
 * base (controller on `port`, slurmd on `port + 1`). Throws with the daemons' logs when the node
 * is not idle within 30 s.
 */
export function startCluster(dir: string, opts: { cpus?: number; port?: number } = {}): Cluster {
  const cpus = opts.cpus ?? 8;
  const port = opts.port ?? 16817;
  const state = join(dir, 'state');
  const spool = join(dir, 'spool');
  for (const d of [state, spool]) mkdirSync(d, { recursive: true });
  // munged: the one already running is fine (another suite, the machine's); else start our own.
  let ownMunge: number | undefined;
  if (!mungeRunning()) {
    mkdirSync('/run/munge', { recursive: true });
    sh('chown', ['munge:munge', '/run/munge']);
    sh('chmod', ['0755', '/run/munge']);
    sh('runuser', ['-u', 'munge', '--', '/usr/sbin/munged']);
    for (let i = 0; i < 50 && !mungeRunning(); i++) sleep(100);
    ownMunge = pidOf('/run/munge/munged.pid');
  }
  const conf = join(dir, 'slurm.conf');
  writeFileSync(conf, [
    'ClusterName=lqtest',
    'SlurmctldHost=localhost',
    'SlurmUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `SlurmctldPort=${port}`,
    `SlurmdPort=${port + 1}`,
    `StateSaveLocation=${state}`,
    `SlurmdSpoolDir=${spool}`,
    `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
    `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/filetxt',
    `JobCompLoc=${join(dir, 'jobcomp.txt')}`,
    'MinJobAge=600',
    'KillWait=5',
    'ReturnToService=2',
    'MailProg=/bin/true',
    'SchedulerParameters=sched_interval=1',
    'MpiDefault=none',
    // One token that a test's blocker job holds, so that another job waits (PENDING, reason
    // Licenses) without filling the node for the scenarios that run beside it.
    'Licenses=lqtoken:1',
    // More CPUs than the machine has, so that several 1-CPU jobs run at once: slurmd reports the
    // configured counts instead of the hardware's (else the node is INVAL, "Low CPUs").
    'SlurmdParameters=config_overrides',
    `NodeName=localhost NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN`,
    'PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP',
    '',
  ].join('\n'));
  const env = { ...process.env, SLURM_CONF: conf };
  const stop = (): void => {
    try { spawnSync('scancel', ['--full', '--user=root'], { env, stdio: 'ignore', timeout: 10_000 }); } catch { /* best effort */ }
    for (const f of [join(dir, 'slurmd.pid'), join(dir, 'slurmctld.pid')]) {
      const pid = pidOf(f);
      if (pid) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    }
    for (let i = 0; i < 50; i++) {
      const up = [join(dir, 'slurmd.pid'), join(dir, 'slurmctld.pid')].map(pidOf).filter((p): p is number => p !== undefined && existsSync(`/proc/${p}`));
      if (!up.length) break;
      sleep(100);
    }
    if (ownMunge) try { process.kill(ownMunge, 'SIGTERM'); } catch { /* gone */ }
  };
  try {
    sh('/usr/sbin/slurmctld', ['-c'], env);
    sh('/usr/sbin/slurmd', ['-N', 'localhost'], env);
    let st = '';
    for (let i = 0; i < 300; i++) {
      try { st = sh('sinfo', ['-h', '-o', '%T'], env).trim(); } catch { st = ''; }
      if (st === 'idle' || /inval|drain|down/.test(st)) break;
      sleep(100);
    }
    if (st !== 'idle') throw new Error(`the node is "${st}", not idle, 30 s after start`);
  } catch (e) {
    const logs = ['slurmctld.log', 'slurmd.log'].map((f) => { try { return `--- ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-20).join('\n')}`; } catch { return ''; } }).join('\n');
    stop();
    throw new Error(`the Slurm test cluster did not come up: ${(e as Error).message}\n${logs}`);
  }
  const version = sh('sinfo', ['--version'], env).trim();
  return { dir, conf, env, version, stop };
}
