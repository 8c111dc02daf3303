/**
 * Server-rendered pages with auto-escaping: every interpolated value is escaped unless it is
 * already SafeHtml (another `html` template, or `raw()` for markup we wrote ourselves).
 * Arrays are joined; null, undefined and false render nothing.
 *
 *   html`<p>${citizenText}</p>`               // escaped
 *   html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESC[c]!);
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | HtmlValue[];

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new SafeHtml(out);
}

/** Markup we wrote ourselves (never citizen or staff text). */
export function raw(s: string): SafeHtml {
  return new SafeHtml(s);
}

/**
 * A URL safe to put in href/src: http(s), root-relative, or weixin: links only. Anything else
 * (javascript:, data:, vbscript: …) becomes "#", and so does a root-relative URL that a browser
 * reads as another host: `//host`, and `/\host`, since browsers take a backslash for a slash.
 * Tabs and line breaks are dropped first, as a browser's URL parser drops them (`/\t/host`).
 */
export function safeUrl(u: string): string {
  const s = u.replace(/[\t\n\r]/g, '').trim();
  if (/^(https?:\/\/|\/(?![\/\\])|weixin:\/\/|#)/i.test(s)) return s;
  return '#';
}
