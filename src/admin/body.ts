import type { Context } from 'koa';
import getRawBody from 'raw-body';

/** A form post's fields (first value of each). Only urlencoded bodies are read; anything else is 415. */
export async function readForm(ctx: Context, limitBytes = 64 * 1024): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) ctx.throw(415, '只接受表单提交');
  let raw: string;
  try {
    raw = await getRawBody(ctx.req, { limit: limitBytes, encoding: 'utf8', length: ctx.get('content-length') || undefined });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') ctx.throw(413, '提交的内容太大');
    throw err;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) if (!(k in out)) out[k] = v;
  return out;
}

/** A positive integer from a route or form field, or null. */
export function intOf(v: string | undefined | null): number | null {
  if (typeof v !== 'string' || !/^[1-9][0-9]{0,11}$/.test(v)) return null;
  return Number(v);
}
