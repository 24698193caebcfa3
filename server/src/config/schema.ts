/**
 * lora-queue.json: one zod schema is the single source of truth (the JSON Schema that VS Code
 * uses for completion is generated from it at build time).
 */
import { z } from 'zod';

export const validationSchema = z
  .object({
    maxDiagnosticsPerFile: z.number().int().min(1).default(1000).describe('Most diagnostics reported per dataset file; one more says how many were left out.'),
    maxLineBytes: z.number().int().min(1024).default(16 * 1024 * 1024).describe('Lines longer than this many bytes are not parsed and get a line-too-large error.'),
  })
  .strict()
  .describe('Dataset validation limits.');

export const rolesSchema = z
  .object({
    allowDeveloper: z.boolean().default(false).describe('Accept the "developer" role (when the base model\'s chat template supports it).'),
  })
  .strict()
  .describe('Which message roles datasets may use.');

export const configSchema = z
  .object({
    $schema: z.string().optional(),
    root: z.string().default('.lora-queue').describe('Queue root, relative to the folder of lora-queue.json.'),
    baseModel: z.string().optional().describe('Local path of the Hugging Face model folder to fine-tune.'),
    maxSeqLength: z.number().int().min(16).default(2048).describe('Longest example, in the model\'s tokens after its chat template.'),
    roles: rolesSchema.default({ allowDeveloper: false }),
    validation: validationSchema.default({ maxDiagnosticsPerFile: 1000, maxLineBytes: 16 * 1024 * 1024 }),
  })
  .passthrough()
  .describe('LoRA Queue configuration.');

export type Config = z.infer<typeof configSchema>;

export const CONFIG_FILE = 'lora-queue.json';
