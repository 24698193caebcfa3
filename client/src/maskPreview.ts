/**
 * The loss-mask preview: an example as the model sees it after the chat template, the tokens that
 * train highlighted and the masked ones dimmed. Strict CSP with a nonce; data goes to the page by
 * postMessage and is set as text, never as HTML.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { LossMaskPreviewRequest } from '../../common/protocol';

let panel: vscode.WebviewPanel | undefined;

export async function showLossMaskPreview(context: vscode.ExtensionContext, client: LanguageClient): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !editor.document.fileName.endsWith('.jsonl')) {
    void vscode.window.showInformationMessage('Open a .jsonl dataset and put the cursor on an example to preview its loss mask.');
    return;
  }
  const line = editor.selection.active.line;
  const result = await client.sendRequest(LossMaskPreviewRequest.type, { uri: editor.document.uri.toString(), line });
  if (!panel) {
    panel = vscode.window.createWebviewPanel('loraQueue.lossMask', 'Loss mask', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'media')],
    });
    panel.onDidDispose(() => (panel = undefined));
    panel.webview.html = html(panel.webview, context.extensionUri);
  }
  panel.title = `Loss mask: line ${line + 1}`;
  panel.reveal(vscode.ViewColumn.Beside, true);
  void panel.webview.postMessage({ type: 'show', line: line + 1, file: vscode.workspace.asRelativePath(editor.document.uri), result });
}

function html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'maskPreview.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'maskPreview.css'));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>Loss mask</title>
</head>
<body>
<header><h1 id="title">Loss mask</h1><p id="summary">Waiting for an example…</p>
<p class="legend"><span class="trainable">trains</span> <span class="masked">masked</span></p></header>
<pre id="text"></pre>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
