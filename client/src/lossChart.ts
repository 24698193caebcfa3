/**
 * The loss chart: one webview panel (kept alive while hidden) showing runs' train loss, eval loss
 * and learning rate. The page asks for runs and series through postMessage; this side forwards
 * to the server (`loraQueue/lossRuns`, `loraQueue/lossSeries`) and relays its `loraQueue/progress`
 * batches. Strict CSP with a nonce; the chart library is bundled, nothing remote is loaded.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { LossProgressNotification, LossRunsRequest, LossSeriesRequest } from '../../common/protocol';
import type { PageMessage, PanelMessage } from './lossChartMessages';

let panel: vscode.WebviewPanel | undefined;

/** Relays progress to the panel while it exists; registered once at activation (the command is in commands.ts). */
export function registerLossChart(context: vscode.ExtensionContext, client: LanguageClient): void {
  context.subscriptions.push(
    client.onNotification(LossProgressNotification.type, (p) => {
      void panel?.webview.postMessage({ type: 'progress', params: p } satisfies PanelMessage);
    }),
  );
}

export function showLossChart(context: vscode.ExtensionContext, client: LanguageClient): void {
  if (panel) {
    panel.reveal(undefined, false);
    return;
  }
  const media = vscode.Uri.joinPath(context.extensionUri, 'media');
  const bundled = vscode.Uri.joinPath(context.extensionUri, 'dist', 'media');
  panel = vscode.window.createWebviewPanel('loraQueue.lossChart', 'Loss', vscode.ViewColumn.Active, {
    enableScripts: true,
    // Live points keep coming while the tab is in the background; rebuilding the chart on every
    // reveal would re-request every run.
    retainContextWhenHidden: true,
    localResourceRoots: [media, bundled],
  });
  panel.iconPath = new vscode.ThemeIcon('graph-line');
  const webview = panel.webview;
  webview.html = html(webview, media, bundled);
  const post = (m: PanelMessage): Thenable<boolean> => webview.postMessage(m);
  webview.onDidReceiveMessage(async (m: PageMessage) => {
    try {
      const result = m.type === 'runs'
        ? await client.sendRequest(LossRunsRequest.type, {})
        : await client.sendRequest(LossSeriesRequest.type, m.params);
      void post({ type: 'reply', id: m.id, result });
    } catch (e) {
      void post({ type: 'reply', id: m.id, error: (e as Error).message });
    }
  }, undefined, context.subscriptions);
  panel.onDidDispose(() => (panel = undefined), undefined, context.subscriptions);
}

function html(webview: vscode.Webview, media: vscode.Uri, bundled: vscode.Uri): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (root: vscode.Uri, f: string): vscode.Uri => webview.asWebviewUri(vscode.Uri.joinPath(root, f));
  // uPlot sets element styles through the CSSOM (el.style.x = …), which style-src does not govern,
  // so no 'unsafe-inline' is needed.
  const csp = `default-src 'none'; style-src ${webview.cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset(bundled, 'uPlot.min.css')}">
<link rel="stylesheet" href="${asset(media, 'lossChart.css')}">
<title>Loss</title>
</head>
<body>
<header>
  <div id="runs" role="group" aria-label="Runs to overlay"></div>
  <label title="TensorBoard-style exponential moving average of the train loss">Smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0.6"><output id="smoothingValue">0.60</output></label>
  <label><input id="follow" type="checkbox" checked> Follow the training run</label>
  <button id="reset" type="button" title="Show the whole run (or double-click the chart)">Reset zoom</button>
  <span id="points" aria-live="polite">0 points</span>
</header>
<p id="message">Loading runs…</p>
<div id="chart"></div>
<p class="hint">Drag to zoom, the wheel to zoom around the pointer, Shift+drag to pan, double-click to reset. Bold: train loss (smoothed), faint: raw; dashed with dots: eval loss; dotted: learning rate (right axis).</p>
<script nonce="${nonce}" src="${asset(bundled, 'lossChart.js')}"></script>
</body>
</html>`;
}
