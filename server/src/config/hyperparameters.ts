/**
 * From lora-queue.json to the `hyperparameters` of a trainer job (protocol v1's job.json). The
 * config groups settings for people (lora.*, training.*); the trainer takes one flat object.
 * This is the one place the two vocabularies meet; the reference trainer documents the keys in
 * docs/trainer.md and rejects unknown ones.
 */
import { workerOptions } from './templateChoice';
import type { Config } from './schema';

export interface TrainerHyperparameters {
  loraRank: number;
  loraAlpha: number;
  loraDropout: number;
  targetModules: string[];
  learningRate: number;
  lrScheduler: string;
  warmupSteps: number;
  epochs: number;
  batchSize: number;
  gradientAccumulation: number;
  maxSeqLength: number;
  packing: boolean;
  gradientCheckpointing: boolean;
  loss: 'full' | 'chunked' | 'fused';
  compile: boolean;
  bf16: boolean | 'auto';
  evalSplit: number;
  checkpointEverySteps: number;
  seed: number;
  /** The mask rule for templates that rewrite history (docs/tokens.md). */
  historyRewriting: 'perTurn' | 'lastTurn' | 'refuse';
  /** trainingChatTemplate: an absolute .jinja path or a template variant's name; absent for the model's own. */
  chatTemplate?: string;
}

/** `configFile` resolves a relative trainingChatTemplate path, as the token counts resolve it. */
export function hyperparametersFor(config: Config, configFile = ''): TrainerHyperparameters {
  const { lora, training } = config;
  const { chatTemplate } = workerOptions(config, configFile || 'lora-queue.json');
  return {
    loraRank: lora.rank,
    loraAlpha: lora.alpha,
    loraDropout: lora.dropout,
    targetModules: [...lora.targetModules],
    learningRate: training.learningRate,
    lrScheduler: training.lrScheduler,
    warmupSteps: training.warmupSteps,
    epochs: training.epochs,
    batchSize: training.batchSize,
    gradientAccumulation: training.gradientAccumulation,
    maxSeqLength: config.maxSeqLength,
    packing: training.packing,
    gradientCheckpointing: training.gradientCheckpointing,
    loss: training.loss,
    compile: training.compile,
    bf16: training.bf16,
    evalSplit: training.evalSplit,
    checkpointEverySteps: training.checkpointEverySteps,
    seed: training.seed,
    historyRewriting: config.historyRewriting,
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
  };
}
