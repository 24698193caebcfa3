/** Finding and reading lora-queue.json. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CONFIG_FILE, configSchema, type Config } from './schema';
import { DEFAULT_OPTIONS, type ValidateOptions } from '../dataset/file';

export class ConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
  }
}

/** The nearest lora-queue.json at or above `start`, or undefined. */
export function findConfig(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, CONFIG_FILE);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function loadConfig(file: string): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, `cannot read the config: ${(e as Error).message}`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new ConfigError(file, `${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  return parsed.data;
}

export function validateOptionsFrom(config: Config | undefined): ValidateOptions {
  if (!config) return DEFAULT_OPTIONS;
  return {
    allowDeveloperRole: config.roles.allowDeveloper,
    maxDiagnostics: config.validation.maxDiagnosticsPerFile,
    maxLineBytes: config.validation.maxLineBytes,
  };
}
