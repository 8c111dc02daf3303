import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

/**
 * axe-core (from the registry, pinned in package.json) run in the page through playwright-core:
 * the WCAG 2.0 / 2.1 A and AA rules. For every browser test that opens a page of ours:
 *
 *   const found = await axe(page);
 *   expect(found, describe(found, 'the guides page')).toEqual([]);
 *
 * The script is evaluated by the browser's debugging protocol, so the pages' Content-Security-Policy
 * (script-src 'self') stays as it is in production.
 */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The rules of WCAG 2.1 level AA (which include 2.0's and level A's). */
export const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] as const;

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; html: string; failureSummary: string }[];
}

/** The violations axe finds on the page as it is now (after the caller's interactions). */
export async function axe(page: Page, o: { tags?: readonly string[]; exclude?: string[] } = {}): Promise<AxeViolation[]> {
  const loaded = await page.evaluate('typeof window.axe === "object"');
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const context = JSON.stringify(o.exclude?.length ? { exclude: o.exclude.map((s) => [s]) } : document());
  const options = JSON.stringify({ runOnly: { type: 'tag', values: o.tags ?? WCAG_AA }, resultTypes: ['violations'] });
  // (A string: the tests are type-checked without the DOM library.)
  const result = (await page.evaluate(`axe.run(${context === '"document"' ? 'document' : context}, ${options}).then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.map(String), html: n.html.slice(0, 200), failureSummary: n.failureSummary || '' })),
  })))`)) as AxeViolation[];
  return result;
}

function document(): string {
  return 'document';
}

/** A readable account of the violations, for an assertion's message. */
export function describe(violations: AxeViolation[], where: string): string {
  if (violations.length === 0) return `${where}: no violations`;
  return `${where}:\n${violations
    .map((v) => `  ${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(' ')} — ${n.failureSummary.replace(/\s+/g, ' ').slice(0, 240)}`).join('\n')}`)
    .join('\n')}`;
}
