/** Finding and reading lora-queue.json, and keeping the last good one in force. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkConfigText, offsetsToPositions, type ConfigCheck, type ConfigDiagnostic } from './diagnostics';
import { CONFIG_FILE } from '../../../common/ids';
import type { Config } from './schema';
import { DEFAULT_OPTIONS, type ValidateOptions } from '../dataset/file';

export class ConfigError extends Error {
  constructor(readonly file: string, message: string, readonly diagnostics: ConfigDiagnostic[] = []) {
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

/**
 * Reads and checks a config file; an error throws with its position. `filesystem: false` checks
 * syntax and schema only (enough for dataset validation).
 */
export function loadConfig(file: string, { filesystem = true }: { filesystem?: boolean } = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, `cannot read the config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const check = checkConfigText(text, file, { filesystem });
  if (!check.config) throw new ConfigError(file, describeErrors(text, check), check.diagnostics);
  return check.config;
}

function describeErrors(text: string, check: ConfigCheck): string {
  const pos = offsetsToPositions(text);
  const errs = check.diagnostics.filter((d) => d.severity === 'error');
  const first = errs[0]!;
  const p = pos(first.start);
  return `${p.line + 1}:${p.character + 1}: ${first.message}${errs.length > 1 ? ` (and ${errs.length - 1} more error${errs.length > 2 ? 's' : ''})` : ''}`;
}

export function validateOptionsFrom(config: Config | undefined): ValidateOptions {
  if (!config) return DEFAULT_OPTIONS;
  return {
    allowDeveloperRole: config.roles.allowDeveloper,
    maxDiagnostics: config.validation.maxDiagnosticsPerFile,
    maxLineBytes: config.validation.maxLineBytes,
  };
}

export interface ConfigInForce {
  readonly config: Config;
  readonly loadedAt: Date;
}

/**
 * The configuration in force per file: the last version read from disk that had no error. A
 * broken edit never takes anything down, and never silently falls back to defaults: the caller
 * shows `status()` next to the errors.
 */
export class ConfigStore {
  private readonly entries = new Map<string, { stamp: string; check: ConfigCheck; good?: ConfigInForce }>();

  /** Re-reads the file when it changed on disk; returns the configuration in force (if any). */
  refresh(file: string): ConfigInForce | undefined {
    const key = resolve(file);
    let stamp: string;
    try {
      const st = statSync(key);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch {
      return this.entries.get(key)?.good;
    }
    const entry = this.entries.get(key);
    if (entry?.stamp === stamp) return entry.good;
    let text: string;
    try {
      text = readFileSync(key, 'utf8');
    } catch {
      return entry?.good;
    }
    const check = checkConfigText(text, key);
    const good = check.config ? { config: check.config, loadedAt: new Date() } : entry?.good;
    this.entries.set(key, { stamp, check, ...(good && { good }) });
    return good;
  }

  /** One sentence on what is in force while `file` has errors. */
  status(file: string): string {
    const good = this.entries.get(resolve(file))?.good;
    return good
      ? `these errors keep this configuration from taking effect: the last valid one (read at ${good.loadedAt.toLocaleTimeString()}) stays in force until they are fixed`
      : 'there is no valid configuration yet: datasets are checked with default settings and nothing trains until these errors are fixed';
  }
}
