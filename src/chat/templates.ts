import type { TemplateMessage } from '../wechat/api/index.ts';
import type { ProfileTemplate } from '../profile/schema.ts';

/**
 * Fill a profile template's fields with values, fitting each to WeChat's limit for its type
 * (`thing` ≤ 20 characters, `character_string` ≤ 32 ASCII, `phrase` ≤ 5 Chinese characters …),
 * since a value over the limit makes the whole message fail (47003).
 */
export function fillTemplate(t: ProfileTemplate, vars: Record<string, string | number>, url?: string): TemplateMessage {
  const data: Record<string, string> = {};
  for (const [key, pattern] of Object.entries(t.fields)) {
    const value = pattern.replace(/\{(\w+)\}/g, (_m, name: string) => String(vars[name] ?? ''));
    data[key] = fitValue(key, value);
  }
  return { templateId: t.id, data, ...(url ? { url } : {}) };
}

export function fitValue(key: string, value: string): string {
  const chars = [...value.replace(/\s+/g, ' ').trim()];
  const cut = (n: number) => (chars.length <= n ? chars.join('') : `${chars.slice(0, n - 1).join('')}…`);
  if (/^thing\d*$/.test(key)) return cut(20) || '—';
  if (/^character_string\d*$/.test(key)) return value.replace(/[^\x20-\x7e]/g, '').slice(0, 32) || '-';
  if (/^phrase\d*$/.test(key)) return [...value.replace(/[^\u4e00-\u9fa5]/g, '')].slice(0, 5).join('') || '通知';
  if (/^name\d*$/.test(key)) return cut(10);
  if (/^(time|date)\d*$/.test(key)) return value.slice(0, 32);
  if (/^(number|amount)\d*$/.test(key)) return value.slice(0, 32);
  return cut(20);
}
