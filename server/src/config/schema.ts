/**
 * lora-queue.json: this zod schema is the single source of truth. The JSON Schema that VS Code
 * uses to complete and document every key is generated from it at build time
 * (dist/lora-queue.schema.json), and the server's own diagnostics parse with it.
 * Keys named in the design notes' config contract: root, baseModel, maxSeqLength,
 * trainer.command, trainer.hangTimeoutSeconds, trainer.stopGraceSeconds, queue.maxAttempts,
 * snapshots.keep. The rest are this project's names (docs/config.md).
 */
import { z } from 'zod';

const GB = 'GiB';

export const trainerSchema = z
  .strictObject({
    command: z
      .array(z.string().min(1))
      .min(1)
      .default(['python3', '-m', 'lora_queue_trainer'])
      .describe('The trainer as an argument array (never a shell string); the engine appends `--job <runs/ID/job.json>`. The first element is looked up on PATH or relative to this file.'),
    hangTimeoutSeconds: z.number().int().min(10).default(900).describe('A run with no event (step, heartbeat…) for this long is hung: its process group is killed.'),
    stopGraceSeconds: z.number().int().min(1).default(120).describe('After SIGTERM, how long the trainer may take to checkpoint and exit before SIGKILL.'),
    env: z.record(z.string(), z.string()).default({}).describe('Extra environment variables for the trainer (for example CUDA_VISIBLE_DEVICES).'),
    resident: z.boolean().default(false).describe('Keep one trainer process loaded between runs (Python, imports, tokenizer and base model paid once) and hand it each job.json; every run keeps its events, signals and files. The reference trainer supports it (it is started as `trainer.command --resident <socket>`); a command without support stops the queue with a clear reason. One process only: not with a launcher (torchrun, accelerate launch).'),
    residentMaxJobs: z.number().int().min(1).default(100).describe('With trainer.resident: the resident trainer is restarted after this many runs.'),
    residentMemoryGrowth: z.number().min(1).default(1.5).describe('With trainer.resident: the resident trainer is restarted between runs when its resident memory (RSS) or GPU memory reserved has grown past this factor of what it held after its first run.'),
  })
  .describe('The trainer subprocess.');

export const queueSchema = z
  .strictObject({
    maxAttempts: z.number().int().min(1).max(100).default(3).describe('Tries per dataset before it is moved to failed/.'),
    retryBackoffSeconds: z.number().min(0).default(60).describe('Wait before the first retry; doubles on each further attempt.'),
    intakeStableSeconds: z.number().min(0).default(2).describe('A file written into inbox/ in place is taken once its size and mtime have not changed for this long (a rename is taken at once).'),
  })
  .describe('Scheduling of datasets.');

export const snapshotsSchema = z
  .strictObject({
    keep: z.number().int().min(1).default(10).describe('Newest snapshots kept besides the current one; the last verified good one is never deleted.'),
  })
  .describe('Verified adapter snapshots.');

export const consolidateSchema = z
  .strictObject({
    command: z
      .array(z.string().min(1))
      .min(1)
      .nullable()
      .default(null)
      .describe('The merge command as an argument array; the engine appends `--base <base model> --adapter <snapshot> --out <models/ID.tmp>`. null: derived from trainer.command when that is the reference trainer run by Python (`python… -m lora_queue_trainer` becomes `python… -m lora_queue_trainer.merge`); any other trainer needs it set to consolidate.'),
    afterSnapshots: z.number().int().min(0).default(0).describe('Consolidate automatically once this many snapshots have become current since the last consolidation, before the next run starts (0: off).'),
    dailyAt: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time as "HH:MM" (24-hour)')
      .nullable()
      .default(null)
      .describe('Consolidate the current adapter automatically once a day, at the first moment at or after this local time ("HH:MM") when no run is in progress and the queue is not paused (null: off).'),
    timeoutSeconds: z.number().int().min(10).default(21_600).describe('A merge still running after this long is killed and reported as failed.'),
  })
  .describe('Consolidation: merging an adapter into the base model as models/<id>/ (lora-queue consolidate).');

export const loraSchema = z
  .strictObject({
    rank: z.number().int().min(1).max(1024).default(16).describe('LoRA rank r.'),
    alpha: z.number().positive().default(32).describe('LoRA alpha (scaling = alpha / rank).'),
    dropout: z.number().min(0).max(0.9).default(0.05).describe('Dropout on the LoRA path.'),
    targetModules: z.array(z.string().min(1)).min(1).default(['q_proj', 'k_proj', 'v_proj', 'o_proj']).describe('Names of the modules that get adapters (they must exist in the base model).'),
  })
  .describe('The adapter.');

export const trainingSchema = z
  .strictObject({
    learningRate: z.number().positive().max(1).default(2e-4).describe('Peak learning rate.'),
    lrScheduler: z.enum(['linear', 'cosine', 'constant', 'constant_with_warmup']).default('cosine').describe('Learning-rate schedule.'),
    warmupSteps: z.number().int().min(0).default(10).describe('Linear warm-up steps.'),
    epochs: z.number().positive().max(100).default(1).describe('Passes over each dataset.'),
    batchSize: z.number().int().min(1).default(1).describe('Examples per device per step.'),
    gradientAccumulation: z.number().int().min(1).default(8).describe('Steps accumulated per optimizer update.'),
    packing: z.boolean().default(false).describe('Pack several short examples into one sequence, without padding; attention never crosses from one example to another.'),
    gradientCheckpointing: z.boolean().default(false).describe('Trade compute for memory.'),
    loss: z.enum(['full', 'chunked', 'fused']).default('full').describe('How the cross-entropy is computed: "full" (all logits, as transformers does), "chunked" (only the trained positions, a chunk of logits at a time: the same loss without the batch x sequence x vocabulary tensor), "fused" (Liger\'s fused linear cross-entropy where liger-kernel is installed on CUDA, else "chunked").'),
    compile: z.boolean().default(false).describe('torch.compile the model\'s decoder (slower start, faster steps on a GPU).'),
    bf16: z.union([z.boolean(), z.literal('auto')]).default('auto').describe('bfloat16 training: true, false, or "auto" (where the device supports it).'),
    evalSplit: z.number().min(0).max(0.5).default(0).describe('Fraction of each dataset held out for eval loss (0: none).'),
    checkpointEverySteps: z.number().int().min(1).default(100).describe('Checkpoint interval in optimizer steps.'),
    seed: z.number().int().min(0).default(42).describe('Random seed.'),
  })
  .describe('Hyperparameters passed to the trainer.');

export const rolesSchema = z
  .strictObject({
    allowDeveloper: z.boolean().default(false).describe('Accept the "developer" role (when the base model\'s chat template supports it).'),
  })
  .describe('Which message roles datasets may use.');

export const validationSchema = z
  .strictObject({
    maxDiagnosticsPerFile: z.number().int().min(1).default(1000).describe('Most diagnostics reported per dataset file; one more says how many were left out.'),
    maxLineBytes: z.number().int().min(1024).default(16 * 1024 * 1024).describe('Lines longer than this many bytes are not parsed and get a line-too-large error.'),
  })
  .describe('Dataset validation limits.');

export const diskSchema = z
  .strictObject({
    minFreeGiB: z.number().min(0).default(10).describe(`Below this much free space (${GB}) on the queue root's filesystem the queue pauses before the next run.`),
    resumeFreeGiB: z.number().min(0).default(15).describe(`A queue paused for space resumes once this much (${GB}) is free again; at least minFreeGiB.`),
    minFreeInodes: z.number().int().min(0).default(10_000).describe('Below this many free inodes the queue pauses.'),
    recheckSeconds: z.number().min(1).default(30).describe('While the queue is paused for resources (space, inodes, a missing or busy GPU), how often the engine checks again and resumes by itself.'),
  })
  .describe('Disk-space thresholds.');

export const gpuSchema = z
  .strictObject({
    minFreeMiB: z.number().min(0).default(0).describe('Where nvidia-smi is on PATH: below this much free GPU memory (MiB) on a visible GPU the queue pauses before the next run (0: no check).'),
    queryTimeoutSeconds: z.number().min(1).max(300).default(15).describe('How long nvidia-smi may take to answer the check before a run.'),
  })
  .describe('GPU checks before each run (where nvidia-smi is on PATH): present, free memory, uncorrected ECC errors not rising.');

export const executorSchema = z
  .strictObject({
    kind: z.enum(['local', 'slurm']).default('local').describe('"local": the trainer runs as a child process on this machine (the default). "slurm": each run is one Slurm job submitted with sbatch from this machine (a login node); the queue root must be on a filesystem the compute nodes share (docs/slurm.md).'),
    partition: z.string().min(1).nullable().default(null).describe('Slurm only: the partition (sbatch --partition); null: the cluster\'s default partition.'),
    account: z.string().min(1).nullable().default(null).describe('Slurm only: the account to charge (sbatch --account); null: the user\'s default account.'),
    sbatchArgs: z.array(z.string().min(1)).default([]).describe('Slurm only: more sbatch options, passed as given, one per element (for example "--gres=gpu:4", "--time=04:00:00", "--cpus-per-task=16"). Options the engine sets itself (--output, --error, --job-name, --wrap, --chdir, --signal, --comment, --parsable, --export, --requeue, --array, --open-mode) are refused.'),
    pollSeconds: z.number().min(0.2).max(600).default(5).describe('Slurm only: how often the engine asks Slurm (scontrol show job) for the job\'s state; the events file drives progress in between, and a done or error event asks at once.'),
    warningSeconds: z.number().int().min(0).max(65535).default(120).describe('Slurm only: this long before the job\'s time limit Slurm sends SIGUSR2 to the trainer (sbatch --signal=B:USR2@N), which writes a checkpoint and trains on; a run that then reaches its time limit resumes from it (0: no warning).'),
  })
  .describe('Where trainings run: on this machine, or as Slurm jobs (docs/slurm.md).');

export const logsSchema = z
  .strictObject({
    keepDays: z.number().int().min(1).default(14).describe('Engine logs (logs/engine-YYYYMMDD.log) older than this are deleted.'),
  })
  .describe('Engine log retention.');

export const configSchema = z
  .strictObject({
    $schema: z.string().optional().describe('The JSON Schema of this file (for editors).'),
    root: z.string().min(1).default('.lora-queue').describe('Queue root, relative to the folder of lora-queue.json; it must stay inside that folder.'),
    baseModel: z.string().min(1).optional().describe('Local Hugging Face model folder to fine-tune (config.json, weights and tokenizer), relative to this file or absolute.'),
    maxSeqLength: z.number().int().min(16).max(1_048_576).default(2048).describe('Longest example in the model\'s tokens after its chat template; longer ones get a too-long warning and are truncated by the trainer.'),
    trainingChatTemplate: z
      .string()
      .min(1)
      .optional()
      .describe('Train with this chat template instead of the base model\'s own: a .jinja file (relative to this file or absolute; for example one of TRL\'s training templates) or the name of one of the model\'s template variants (additional_chat_templates/NAME.jinja or a named entry of tokenizer_config.json). Token counts, the loss-mask preview and the trainer all use it.'),
    historyRewriting: z
      .enum(['perTurn', 'lastTurn', 'refuse'])
      .default('perTurn')
      .describe('For a chat template that rewrites earlier turns (Qwen 3, reasoning models) and has no {% generation %} markers: "perTurn" trains one sequence per assistant turn, rendered as inference renders it; "lastTurn" trains only the last assistant turn of the full rendering; "refuse" reports such examples as unmaskable (docs/tokens.md).'),
    trainer: trainerSchema.prefault({}),
    queue: queueSchema.prefault({}),
    snapshots: snapshotsSchema.prefault({}),
    consolidate: consolidateSchema.prefault({}),
    lora: loraSchema.prefault({}),
    training: trainingSchema.prefault({}),
    roles: rolesSchema.prefault({}),
    validation: validationSchema.prefault({}),
    disk: diskSchema.prefault({}),
    gpu: gpuSchema.prefault({}),
    executor: executorSchema.prefault({}),
    logs: logsSchema.prefault({}),
  })
  .describe('LoRA Queue configuration (lora-queue.json at the workspace root).');

export type Config = z.infer<typeof configSchema>;

/** The JSON Schema that editors use, generated from the zod schema. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'LoRA Queue configuration',
  };
}
