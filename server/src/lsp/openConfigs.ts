/**
 * The lora-queue.json files open in the editor: their diagnostics as typed, and whether the last
 * good version stays in force (ConfigStore). No connection here: diagnostics go out through `send`.
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiagnosticSeverity, type Diagnostic, type TextDocumentContentChangeEvent, type TextDocumentItem } from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { CONFIG_FILE, DIAGNOSTIC_SOURCE } from '../../../common/protocol';
import { checkConfigText } from '../config/diagnostics';
import type { ConfigStore } from '../config/load';
import { SEVERITY } from './features';

export function isConfig(uri: string): boolean {
  return uri.startsWith('file:') && basename(fileURLToPath(uri)) === CONFIG_FILE;
}

export class OpenConfigs {
  private readonly docs = new Map<string, TextDocument>();

  constructor(
    private readonly configs: ConfigStore,
    private readonly send: (uri: string, version: number | undefined, diagnostics: Diagnostic[]) => void,
  ) {}

  open(t: TextDocumentItem): void {
    const doc = TextDocument.create(t.uri, t.languageId, t.version, t.text);
    this.docs.set(t.uri, doc);
    this.publish(doc);
  }

  /** Edits to an open config; false when it is not one. */
  change(uri: string, version: number, changes: TextDocumentContentChangeEvent[]): boolean {
    const cfg = this.docs.get(uri);
    if (!cfg) return false;
    const doc = TextDocument.update(cfg, changes, version);
    this.docs.set(uri, doc);
    this.publish(doc);
    return true;
  }

  /** Saved: republished (the store re-reads the file); false when it is not an open config. */
  saved(uri: string): boolean {
    const cfg = this.docs.get(uri);
    if (!cfg) return false;
    this.publish(cfg);
    return true;
  }

  /** Closed: forgotten and its diagnostics cleared; false when it is not an open config. */
  close(uri: string): boolean {
    if (!this.docs.delete(uri)) return false;
    this.send(uri, undefined, []);
    return true;
  }

  private publish(doc: TextDocument): void {
    const file = fileURLToPath(doc.uri);
    this.configs.refresh(file);
    const check = checkConfigText(doc.getText(), file);
    const diagnostics: Diagnostic[] = check.diagnostics.map((d) => ({
      range: { start: doc.positionAt(d.start), end: doc.positionAt(d.end) },
      severity: SEVERITY[d.severity],
      code: d.code,
      source: DIAGNOSTIC_SOURCE,
      message: d.message,
    }));
    if (!check.config) {
      diagnostics.push({ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 1 } }, severity: DiagnosticSeverity.Information, code: 'config-not-in-force', source: DIAGNOSTIC_SOURCE, message: this.configs.status(file) });
    }
    this.send(doc.uri, doc.version, diagnostics);
  }
}
