/** The command table's ids against what package.json contributes (the table must have exactly these ids: commands.ts). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SHOW_DATASET_STATS_COMMAND } from '../../common/protocol';
import { COMMAND_NAMES, commandId } from '../../client/src/commandNames';

const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
  contributes: { commands: { command: string }[]; menus: Record<string, { command: string }[]> };
};

describe('commands', () => {
  it('every contributed command has a handler in the table, and every handler is contributed', () => {
    assert.deepEqual(COMMAND_NAMES.map(commandId).sort(), pkg.contributes.commands.map((c) => c.command).sort());
  });

  it('every menu names a command of the table, and the server\'s CodeLens runs one', () => {
    const ids = new Set(COMMAND_NAMES.map(commandId));
    for (const [menu, items] of Object.entries(pkg.contributes.menus)) for (const i of items) assert.ok(ids.has(i.command), `${menu}: ${i.command}`);
    assert.ok(ids.has(SHOW_DATASET_STATS_COMMAND));
  });
});
