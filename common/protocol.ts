/**
 * The one protocol module: every custom message between the VS Code client and the server,
 * declared once with its method name, its types, and which way it goes. Both sides import it;
 * it imports neither `vscode` nor Node.
 */

/** Client → server at start (initializationOptions), and again on a settings change. */
export interface ClientSettings {
  /** Most diagnostics published per dataset file (the last one says how many were left out). */
  readonly maxDiagnosticsPerFile?: number | undefined;
  /** Whether the workspace is trusted: an untrusted one is validated but runs nothing. */
  readonly trusted: boolean;
}

export const SETTINGS_SECTION = 'loraQueue';

/** Attached to a diagnostic (`Diagnostic.data`) so the code-action request needs no revalidation. */
export type DiagnosticFixData =
  | { readonly title: string; readonly edits: readonly { readonly startCol: number; readonly endCol: number; readonly newText: string }[] }
  | { readonly title: string; readonly deleteLine: true };

export const DIAGNOSTIC_SOURCE = 'lora-queue';
