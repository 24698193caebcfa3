// The loss chart page (runs in the webview, not in the extension host). Bundled with uPlot and
// common/chartData.ts into dist/media/lossChart.js by scripts/build.mjs; its styles are
// media/lossChart.css. Data comes by postMessage from lossChart.ts; text is set as text, never HTML.
import uPlot from 'uplot';
import { emaSmooth, mergeLive, pointCount, runData, type RunData } from '../../common/chartData';
import type { ChartRun, LossProgressNotification, LossRunsRequest, LossSeriesRequest } from '../../common/protocol';
import type { PageMessage, PanelMessage } from './lossChartMessages';

/** The webview's API, given once per page by VS Code. */
declare function acquireVsCodeApi(): { postMessage(message: PageMessage): void };

const vscode = acquireVsCodeApi();
/** An element of the page's own HTML (lossChart.ts#html), which always has it. */
function $<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}
const chartEl = $('chart');
const runsEl = $('runs');
const message = $('message');
const pointsEl = $('points');
const smoothingEl = $<HTMLInputElement>('smoothing');
const followEl = $<HTMLInputElement>('follow');

interface Colors {
  readonly fg: string;
  readonly grid: string;
  readonly font: string;
  readonly palette: readonly string[];
  readonly select: string;
}

interface Range {
  readonly min: number;
  readonly max: number;
}

/** Live points past this many times the requested resolution trigger a fresh downsampled load. */
const REGROW = 4;

const state = {
  /** The runs from the server, newest first. */
  runs: [] as readonly ChartRun[],
  selected: new Set<string>(),
  /** runId -> RunData at the whole-run resolution (live points appended). */
  data: new Map<string, RunData>(),
  /** runId -> RunData for the zoomed range at full resolution, while zoomed. */
  zoomData: new Map<string, RunData>(),
  /** runId -> { points, evalPoints, totalSteps } as the server last said. */
  totals: new Map<string, { points: number; evalPoints: number; totalSteps: number | null }>(),
  zoom: null as Range | null,
  smoothing: Number(smoothingEl.value),
  plot: null as uPlot | null,
  colors: null as Colors | null,
};

// ---- requests to the extension ------------------------------------------------------------
let nextId = 1;
const waiting = new Map<number, { resolve: (result: unknown) => void; reject: (e: Error) => void }>();
function ask(type: 'runs'): Promise<LossRunsRequest.Result>;
function ask(type: 'series', params: LossSeriesRequest.Params): Promise<LossSeriesRequest.Result>;
function ask(type: 'runs' | 'series', params?: LossSeriesRequest.Params): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    waiting.set(id, { resolve, reject });
    vscode.postMessage(type === 'series' ? { type, id, params: params! } : { type, id });
  });
}

function showError(e: Error): void {
  message.textContent = `The loss chart could not load its data: ${e.message}`;
}

const maxPoints = () => Math.max(200, Math.round(chartEl.clientWidth * 2));

async function loadRuns(): Promise<void> {
  const r = await ask('runs');
  state.runs = r.runs;
  if (followEl.checked && r.current) state.selected.add(r.current);
  if (!state.selected.size && r.runs[0]) state.selected.add(r.runs[0].runId);
  for (const id of state.selected) if (!r.runs.some((x) => x.runId === id)) state.selected.delete(id);
  renderRunPicker();
  message.textContent = r.runs.length ? '' : 'No runs yet: enqueue a dataset and its loss shows here as it trains.';
}

async function loadSeries(runIds: readonly string[], range?: Range): Promise<void> {
  if (!runIds.length) return;
  const params: LossSeriesRequest.Params = { runIds, maxPoints: maxPoints(), ...(range && { fromStep: Math.floor(range.min), toStep: Math.ceil(range.max) }) };
  const r = await ask('series', params);
  for (const s of r.runs) {
    if ('error' in s) {
      message.textContent = `${s.runId}: ${s.error}`;
      continue;
    }
    if (range) state.zoomData.set(s.runId, runData(s));
    else {
      state.data.set(s.runId, runData(s));
      state.totals.set(s.runId, { points: s.points, evalPoints: s.evalPoints, totalSteps: s.totalSteps });
    }
  }
  redraw();
}

// ---- the run picker -----------------------------------------------------------------------
function renderRunPicker(): void {
  runsEl.replaceChildren();
  for (const run of state.runs.slice(0, 20)) {
    const label = document.createElement('label');
    label.className = 'run';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = state.selected.has(run.runId);
    box.addEventListener('change', () => {
      if (box.checked) {
        state.selected.add(run.runId);
        if (!state.data.has(run.runId)) reload(run.runId);
      } else state.selected.delete(run.runId);
      rebuild();
    });
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    const text = document.createElement('span');
    text.textContent = `${run.dataset} · ${run.state}`;
    label.title = `run ${run.runId}, attempt ${run.attempt}, started ${run.startedAt}`;
    label.append(box, swatch, text);
    runsEl.append(label);
  }
  paintSwatches();
}

function paintSwatches(): void {
  if (!state.colors) return;
  const order = selectedRuns();
  for (const [i, label] of Array.from(runsEl.children).entries()) {
    const k = order.indexOf(state.runs[i]?.runId ?? '');
    label.querySelector<HTMLElement>('.swatch')!.style.background = k >= 0 ? runColor(k) : 'transparent';
  }
}

// ---- colours from the VS Code theme -------------------------------------------------------
function readColors(): Colors {
  const css = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string => css.getPropertyValue(name).trim() || fallback;
  return {
    fg: v('--vscode-foreground', '#ccc'),
    grid: v('--vscode-editorWidget-border', v('--vscode-panel-border', 'rgba(128,128,128,0.3)')),
    font: `${v('--vscode-font-size', '12px')} ${v('--vscode-font-family', 'sans-serif')}`,
    palette: ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow']
      .map((n, i) => withAlpha(v(n, ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'][i]!))),
    select: v('--vscode-editor-selectionBackground', 'rgba(128,128,128,0.3)'),
  };
}

const runColor = (k: number): string => state.colors!.palette[k % state.colors!.palette.length]!;

/**
 * A CSS colour at the given opacity. Theme colours may carry their own alpha (Dark Modern's
 * charts.orange is rgba(234, 92, 0, 0.33)), which would make a line too faint: it is dropped.
 */
function withAlpha(color: string, alpha = 1): string {
  const probe = document.createElement('canvas').getContext('2d')!;
  probe.fillStyle = color;
  const c = probe.fillStyle; // "#rrggbb", or "rgba(r, g, b, a)" when translucent
  const rgb = c.startsWith('#') ? [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)) : c.match(/[\d.]+/g)?.slice(0, 3).map(Number);
  return rgb ? `rgba(${rgb.join(', ')}, ${alpha})` : color;
}

// ---- the chart ----------------------------------------------------------------------------
/** The runs drawn, oldest first: the newest (the training run) is drawn on top. */
const selectedRuns = (): string[] => state.runs.map((r) => r.runId).filter((id) => state.selected.has(id)).reverse();
const shortName = (runId: string): string => state.runs.find((r) => r.runId === runId)?.dataset ?? runId;

/** The aligned uPlot data: x, then per run smoothed loss, raw loss, lr, eval loss (the order of seriesFor). */
function alignedData(): uPlot.AlignedData {
  const tables: uPlot.AlignedData[] = [];
  for (const id of selectedRuns()) {
    const d = (state.zoom && state.zoomData.get(id)) || state.data.get(id) || runData({ runId: id, steps: [], loss: [], lr: [], evalSteps: [], evalLoss: [] });
    // uPlot takes null as a gap; its types say only number.
    tables.push([d.steps, emaSmooth(d.loss, state.smoothing), d.loss, d.lr] as uPlot.AlignedData);
    tables.push([d.evalSteps, d.evalLoss] as uPlot.AlignedData);
  }
  if (!tables.length) return [[]];
  return uPlot.join(tables);
}

function seriesFor(runs: readonly string[]): uPlot.Series[] {
  const out: uPlot.Series[] = [{ label: 'step' }];
  runs.forEach((id, k) => {
    const c = runColor(k);
    const name = shortName(id);
    out.push({ label: `${name} loss`, stroke: c, width: 2, scale: 'loss', points: { show: false } });
    out.push({ label: `${name} loss (raw)`, stroke: withAlpha(c, 0.3), width: 1, scale: 'loss', points: { show: false } });
    out.push({ label: `${name} lr`, stroke: withAlpha(c, 0.7), width: 1, dash: [2, 3], scale: 'lr', points: { show: false } });
    out.push({ label: `${name} eval`, stroke: c, width: 1.5, dash: [6, 4], scale: 'loss', spanGaps: true, points: { show: true, size: 5, fill: c } });
  });
  return out;
}

/** Shift-drag pans; a plain drag selects a range to zoom into (uPlot's own). */
function panBinding(u: uPlot, _targ: HTMLElement, handler: uPlot.Cursor.MouseListener): uPlot.Cursor.MouseListener {
  return (e) => {
    if (!e.shiftKey) return handler(e);
    const x0 = e.clientX;
    const { min, max } = u.scales['x'] as Range;
    const perPx = (max - min) / u.bbox.width * devicePixelRatio;
    const move = (ev: MouseEvent): void => u.setScale('x', { min: min - (ev.clientX - x0) * perPx, max: max - (ev.clientX - x0) * perPx });
    const up = (): void => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
    return null;
  };
}

function rebuild(): void {
  state.plot?.destroy();
  state.plot = null;
  const runs = selectedRuns();
  paintSwatches();
  if (!runs.length) return updatePoints();
  const c = state.colors!;
  const axis = (extra: uPlot.Axis): uPlot.Axis => ({ stroke: c.fg, font: c.font, labelFont: c.font, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 }, ...extra });
  state.plot = new uPlot({
    width: chartEl.clientWidth || 600,
    height: Math.max(240, window.innerHeight - chartEl.getBoundingClientRect().top - 40),
    series: seriesFor(runs),
    scales: { x: { time: false }, loss: { auto: true }, lr: { auto: true } },
    axes: [
      axis({ label: 'step' }),
      axis({ scale: 'loss', label: 'loss' }),
      axis({ scale: 'lr', label: 'learning rate', side: 1, size: 80, grid: { show: false }, values: (_u, vals) => vals.map((v) => v.toExponential(1)) }),
    ],
    cursor: { drag: { x: true, y: false }, bind: { mousedown: panBinding } },
    select: { show: true, left: 0, top: 0, width: 0, height: 0 },
    legend: { live: true },
    hooks: { setScale: [(u, key) => void (key === 'x' && onZoom(u))] },
  }, alignedData(), chartEl);
  fitHeight();
  state.plot.over.addEventListener('wheel', onWheel, { passive: false });
  state.plot.over.addEventListener('dblclick', resetZoom);
  updatePoints();
}

/** The plot, its legend and the hint fill the window: the legend's height depends on the runs shown. */
let fittedFor = '';
function fitHeight(): void {
  const u = state.plot!;
  fittedFor = `${innerWidth}x${innerHeight}`;
  // The legend wraps to the plot's width, which uPlot applies on its next commit: set the width,
  // then measure the legend a frame later.
  u.setSize({ width: chartEl.clientWidth, height: u.height });
  requestAnimationFrame(() => {
    if (state.plot !== u) return;
    const legend = u.root.querySelector<HTMLElement>('.u-legend')?.offsetHeight ?? 0;
    const hint = document.querySelector<HTMLElement>('.hint')!.offsetHeight + 24;
    u.setSize({ width: chartEl.clientWidth, height: Math.max(200, innerHeight - chartEl.getBoundingClientRect().top - legend - hint) });
  });
}

let frame = 0;
function redraw(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!state.plot || state.plot.series.length !== 1 + 4 * selectedRuns().length) return rebuild();
    programmatic = true;
    state.plot.setData(alignedData(), !state.zoom);
    if (state.zoom) state.plot.setScale('x', state.zoom);
    programmatic = false;
    updatePoints();
  });
}

function updatePoints(): void {
  let shown = 0;
  let logged = 0;
  for (const id of selectedRuns()) {
    const d = (state.zoom && state.zoomData.get(id)) || state.data.get(id);
    if (d) shown += pointCount(d);
    const t = state.totals.get(id);
    logged += Math.max(t ? t.points + t.evalPoints : 0, d ? pointCount(d) : 0);
  }
  pointsEl.textContent = `${shown} points` + (!state.zoom && logged > shown ? ` (of ${logged}, downsampled)` : '');
}

// ---- zoom and pan -------------------------------------------------------------------------
let zoomTimer: ReturnType<typeof setTimeout> | undefined;
let programmatic = false;
function onZoom(u: uPlot): void {
  if (programmatic) return;
  const { min, max } = u.scales['x'] as Range;
  const full = fullRange();
  if (!full || (min <= full.min && max >= full.max)) {
    if (state.zoom) {
      state.zoom = null;
      state.zoomData.clear();
      updatePoints();
    }
    return;
  }
  state.zoom = { min, max };
  // Re-ask for the visible range at full resolution once the user stops dragging or scrolling.
  clearTimeout(zoomTimer);
  zoomTimer = setTimeout(() => void loadSeries(selectedRuns(), state.zoom ?? undefined).catch(showError), 200);
}

function fullRange(): Range | null {
  let min = Infinity;
  let max = -Infinity;
  for (const id of selectedRuns()) {
    const d = state.data.get(id);
    if (!d) continue;
    for (const xs of [d.steps, d.evalSteps]) {
      if (!xs.length) continue;
      min = Math.min(min, xs[0]!);
      max = Math.max(max, xs[xs.length - 1]!);
    }
  }
  return min <= max ? { min, max } : null;
}

function onWheel(e: WheelEvent): void {
  const u = state.plot;
  if (!u) return;
  e.preventDefault();
  const { min, max } = u.scales['x'] as Range;
  const at = u.posToVal(e.offsetX, 'x');
  const f = e.deltaY < 0 ? 0.8 : 1.25;
  u.setScale('x', { min: at - (at - min) * f, max: at + (max - at) * f });
}

function resetZoom(): void {
  state.zoom = null;
  state.zoomData.clear();
  const full = fullRange();
  if (state.plot && full) {
    programmatic = true;
    state.plot.setScale('x', full);
    programmatic = false;
  }
  redraw();
}

// ---- live progress ------------------------------------------------------------------------
let refreshingRuns = false;
/** Runs whose whole series is being (re)loaded: live batches meanwhile must not ask again. */
const loading = new Set<string>();
function reload(runId: string): void {
  if (loading.has(runId)) return;
  loading.add(runId);
  void loadSeries([runId]).catch(showError).finally(() => loading.delete(runId));
}

function onProgress(p: LossProgressNotification.Params): void {
  for (const r of p.runs) {
    // A run the picker does not know (a new training run), or one that just ended: refresh the picker.
    const known = state.runs.some((x) => x.runId === r.runId);
    if ((!known || !r.training) && !refreshingRuns) {
      refreshingRuns = true;
      void loadRuns().catch(showError).finally(() => {
        refreshingRuns = false;
        if (state.selected.has(r.runId) && !state.data.has(r.runId)) reload(r.runId);
      });
    }
    const d = state.data.get(r.runId);
    if (!d) {
      if (known && state.selected.has(r.runId)) reload(r.runId);
      continue;
    }
    mergeLive(d, r, r.reset);
    const t = state.totals.get(r.runId);
    if (t) {
      t.points = Math.max(t.points, d.steps.length);
      t.totalSteps = r.totalSteps ?? t.totalSteps;
    }
    const z = state.zoomData.get(r.runId);
    if (z) mergeLive(z, r, r.reset);
    if (state.selected.has(r.runId)) {
      if (!state.zoom && pointCount(d) > REGROW * maxPoints()) reload(r.runId);
      redraw();
    }
  }
}

window.addEventListener('message', (event: MessageEvent<PanelMessage | undefined>) => {
  const msg = event.data;
  if (msg?.type === 'reply') {
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (w) {
      if ('error' in msg) w.reject(new Error(msg.error));
      else w.resolve(msg.result);
    }
  } else if (msg?.type === 'progress') onProgress(msg.params);
});

// ---- controls -----------------------------------------------------------------------------
smoothingEl.addEventListener('input', () => {
  state.smoothing = Number(smoothingEl.value);
  $('smoothingValue').textContent = state.smoothing.toFixed(2);
  redraw();
});
$('reset').addEventListener('click', resetZoom);
followEl.addEventListener('change', () => followEl.checked && void loadRuns().then(() => loadSeries(selectedRuns().filter((id) => !state.data.has(id)))).catch(showError));
// A webview hidden and shown again (or resized) gets its size back: refit the plot to it.
const refit = (): void => void (state.plot && `${innerWidth}x${innerHeight}` !== fittedFor && fitHeight());
window.addEventListener('resize', refit);
new ResizeObserver(refit).observe(document.documentElement);
// On a theme change VS Code swaps the body's theme class and the --vscode-* variables on <html>,
// not necessarily together: re-read the colours once both have settled (next frame).
let themeFrame = 0;
const themeChanged = new MutationObserver(() => {
  cancelAnimationFrame(themeFrame);
  themeFrame = requestAnimationFrame(() => {
    state.colors = readColors();
    rebuild();
  });
});
themeChanged.observe(document.body, { attributes: true, attributeFilter: ['class'] });
themeChanged.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });

state.colors = readColors();
loadRuns()
  .then(() => loadSeries(selectedRuns()))
  .catch(showError);
