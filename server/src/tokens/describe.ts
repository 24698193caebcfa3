/** The words the hover, the CodeLens and the loss-mask preview use for the rendering an example trains as. */
import type { MaskRule } from './mask';

export const OWN_TEMPLATE = "the model's own chat template";

/**
 * One phrase for an example's rule, or undefined for the plain prefix rule on the model's own
 * template (the default, which needs no note).
 */
export function renderingNote(t: { readonly rule?: MaskRule | undefined; readonly sequences?: number | undefined }, templateOrigin: string): string | undefined {
  const parts: string[] = [];
  if (templateOrigin !== OWN_TEMPLATE) parts.push(`rendered with ${templateOrigin}`);
  switch (t.rule) {
    case undefined:
    case 'prefix':
      break;
    case 'generation':
      parts.push('trained tokens from its {% generation %} blocks');
      break;
    case 'perTurn':
      parts.push(`the template rewrites earlier turns, so it trains as ${t.sequences ?? 1} sequence${(t.sequences ?? 1) === 1 ? '' : 's'}, one per assistant turn as inference renders it (historyRewriting "perTurn")`);
      break;
    case 'lastTurn':
      parts.push('the template rewrites earlier turns, so only the last assistant turn trains (historyRewriting "lastTurn")');
      break;
    default: {
      const never: never = t.rule;
      return never;
    }
  }
  return parts.length ? parts.join('; ') : undefined;
}

/** The file-level note: the template, and how many examples a non-default rule covers. */
export function renderingSummary(rules: Readonly<Record<string, number>>, templateOrigin: string): string | undefined {
  const parts: string[] = [];
  if (templateOrigin !== OWN_TEMPLATE) parts.push(templateOrigin);
  if (rules['generation']) parts.push(`${rules['generation']} by {% generation %}`);
  if (rules['perTurn']) parts.push(`${rules['perTurn']} per turn`);
  if (rules['lastTurn']) parts.push(`${rules['lastTurn']} last turn only`);
  return parts.length ? parts.join(', ') : undefined;
}
