/**
 * The engine inside the language server: one per window, started only in a trusted workspace
 * that has a lora-queue.json. It owns the queue root or follows its owner (another window, a
 * `lora-queue daemon`), pushes `loraQueue/state` on every change, and applies the client's
 * commands. Closing the window leaves a running trainer to be adopted by the next engine.
 */
import { randomUUID } from 'node:crypto';
import type { Connection } from 'vscode-languageserver';
import { LossProgressNotification, LossRunsRequest, LossSeriesRequest, QueueCommandRequest, QueueStateNotification, type QueueCommand, type QueueStatusView } from '../../../common/protocol';
import { Engine } from '../engine/engine';
import { readRoot } from '../engine/status';
import { chartRuns, LossFeed } from './lossFeed';
import { ViewReader } from './views';

export class EngineHost {
  private engine: Engine | undefined;
  private why = 'not started';
  private pushTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private views: ViewReader | undefined;
  private feed: LossFeed | undefined;

  constructor(private readonly connection: Connection, private readonly log: (msg: string) => void) {
    connection.onRequest(QueueCommandRequest.type, (c) => this.command(c));
    connection.onRequest(LossRunsRequest.type, () => {
      const e = this.engine;
      return e ? { runs: chartRuns(e.state), current: e.state.current?.runId ?? null } : { runs: [], current: null };
    });
    connection.onRequest(LossSeriesRequest.type, (p) => this.feed?.lossSeries(p) ?? { runs: [] });
  }

  /** Starts (or explains why not) for the config file of this workspace. */
  start(configFile: string | undefined, trusted: boolean): void {
    if (this.engine) return;
    if (!trusted) return this.off('the workspace is not trusted: datasets are validated, but no engine or trainer runs here until you trust it');
    if (!configFile) return this.off('no lora-queue.json in this workspace: add one to start the training queue');
    try {
      this.engine = new Engine({ configFile });
      const role = this.engine.start();
      this.log(`engine ${role === 'owner' ? 'owns' : 'follows'} ${this.engine.paths.root}`);
      this.engine.on('state', () => this.schedulePush());
      this.engine.on('files', () => this.schedulePush());
      const engine = this.engine;
      this.feed = new LossFeed(engine.paths.runs, () => engine.state.current?.runId ?? null, (p) => {
        void this.connection.sendNotification(LossProgressNotification.type, p);
        this.scheduleProgressPush();
      });
      this.feed.start();
      this.push();
    } catch (e) {
      this.engine = undefined;
      this.off(`the engine could not start: ${(e as Error).message}`);
    }
  }

  async close(): Promise<void> {
    if (this.pushTimer) clearTimeout(this.pushTimer);
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.feed?.stop();
    await this.engine?.close();
    this.engine = undefined;
  }

  private off(why: string): void {
    this.why = why;
    this.log(why);
    void this.connection.sendNotification(QueueStateNotification.type, { engine: 'off', why, status: null });
  }

  /**
   * A run's new steps change no state.json, but the status bar and the Runs view show step and
   * loss: they follow at most once a second (the chart gets every point through the feed).
   */
  private scheduleProgressPush(): void {
    this.progressTimer ??= setTimeout(() => {
      this.progressTimer = undefined;
      this.schedulePush();
    }, 1000);
  }

  /** State changes come in bursts (a run's events); push at most about ten times a second. */
  private schedulePush(): void {
    this.pushTimer ??= setTimeout(() => {
      this.pushTimer = undefined;
      this.push();
    }, 100);
  }

  private push(): void {
    const e = this.engine;
    if (!e) return;
    // current.json and snapshots/ read once for the status and the Snapshots view together.
    const { status, snapshots } = readRoot(e.paths);
    const role = e.role === 'closed' ? 'off' : e.role;
    if (this.views?.paths !== e.paths) this.views = new ViewReader(e.paths);
    void this.connection.sendNotification(QueueStateNotification.type, { engine: role, status: status satisfies QueueStatusView, runs: this.views.runs(status), snapshots: this.views.snapshots(snapshots) });
  }

  private async command(c: QueueCommand): Promise<QueueCommandRequest.Result> {
    if (!this.engine) return { ok: false, message: this.why };
    const r = await this.engine.command(randomUUID(), c);
    this.schedulePush();
    return r;
  }
}
