/**
 * The names both sides use: re-exported by protocol.ts, and imported from here by the server code
 * that the CLI bundles too (config/), so that `lora-queue validate` does not load the LSP
 * libraries protocol.ts brings. No imports.
 */

/** The config file's name: the server looks for it, the client watches and opens it. */
export const CONFIG_FILE = 'lora-queue.json';

/** The client's settings section (package.json `contributes.configuration`), pushed to the server. */
export const SETTINGS_SECTION = 'loraQueue';

/** The `source` of every diagnostic the server publishes (its quick fixes look for it). */
export const DIAGNOSTIC_SOURCE = 'lora-queue';

/** The client's command that shows an open dataset's statistics; the server's CodeLens runs it with the dataset's URI. */
export const SHOW_DATASET_STATS_COMMAND = 'loraQueue.showDatasetStats';
