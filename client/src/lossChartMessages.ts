/**
 * The messages between the loss chart's page (lossChartPage.ts, in the webview) and its panel
 * (lossChart.ts, in the extension host). Types only: the page's bundle takes nothing from here.
 */
import type { LossProgressNotification, LossRunsRequest, LossSeriesRequest } from '../../common/protocol';

/** Page → panel: a request the panel forwards to the server; answered by a `reply` with the same id. */
export type PageMessage =
  | { readonly type: 'runs'; readonly id: number }
  | { readonly type: 'series'; readonly id: number; readonly params: LossSeriesRequest.Params };

/** Panel → page: a request's answer, or the server's progress batch relayed. */
export type PanelMessage =
  | { readonly type: 'reply'; readonly id: number; readonly result: LossRunsRequest.Result | LossSeriesRequest.Result }
  | { readonly type: 'reply'; readonly id: number; readonly error: string }
  | { readonly type: 'progress'; readonly params: LossProgressNotification.Params };
