import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import type { Clock } from '../../platform/clock.ts';
import type { Kv } from '../../platform/kv/index.ts';
import type { Logger } from '../../platform/log.ts';
import { BindingError, type Bindings } from './index.ts';
import { EventError, type Events } from './events.ts';
import { SIGNATURE_HEADERS, signatureMatches } from './verify.ts';

const MAX_EVENT_BYTES = 64 * 1024;
const MAX_IMPORT_BYTES = 20 * 1024 * 1024;
const MAX_IMPORT_ROWS = 200_000;
const SKEW_S = 300;

/** One CSV line's cells (RFC 4180 quoting: "a ""b""" → a "b"). Null when a quote is left open. */
export function csvCells(line: string): string[] | null {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === '') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) return null;
  out.push(cur);
  return out;
}

/** Rows of a CSV (a header line naming the fields) or of JSON lines, numbered as in the file. */
export function parseRows(body: string, format: 'csv' | 'jsonl'): { rows: { line: number; values: Record<string, string> }[]; errors: { line: number; message: string }[] } {
  const lines = body.replace(/^\uFEFF/, '').split(/\r?\n/);
  const rows: { line: number; values: Record<string, string> }[] = [];
  const errors: { line: number; message: string }[] = [];
  let header: string[] | null = null;
  lines.forEach((text, i) => {
    const line = i + 1;
    if (!text.trim()) return;
    if (format === 'jsonl') {
      try {
        const v = JSON.parse(text) as unknown;
        if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
        rows.push({ line, values: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' || typeof x === 'number' ? String(x) : ''])) });
      } catch {
        errors.push({ line, message: 'expected one JSON object on the line' });
      }
      return;
    }
    const cells = csvCells(text);
    if (!cells) {
      errors.push({ line, message: 'a quoted cell is not closed' });
      return;
    }
    if (!header) {
      header = cells.map((c) => c.trim());
      return;
    }
    if (cells.length !== header.length) {
      errors.push({ line, message: `expected ${header.length} cells like the header; found ${cells.length}` });
      return;
    }
    rows.push({ line, values: Object.fromEntries(header.map((h, j) => [h, cells[j]!])) });
  });
  return { rows, errors };
}

export interface ApiDeps {
  bindings: Bindings;
  events: Events;
  secrets: Map<string, string>;
  kv: Kv;
  clock: Clock;
  log: Logger;
}

/**
 * The inbound API for departments' systems: `POST /api/events` (one event) and
 * `POST /api/records?kind=…` (records to verify bindings against, as CSV or JSON lines). Every
 * request is signed by its system: `X-Weiban-System`, `X-Weiban-Timestamp` (seconds) and
 * `X-Weiban-Signature` = hex HMAC-SHA256 of `timestamp + "\n" + body` with the system's key. A
 * timestamp more than 5 minutes off, or a signature seen before, is refused.
 */
export function eventsApi(d: ApiDeps): Router {
  const r = new Router({ prefix: '/api' });

  const refuse = (ctx: Context, status: number, error: string) => {
    ctx.status = status;
    ctx.body = { error };
  };

  /** The signed body and its system, or null after answering. */
  const signed = async (ctx: Context, limit: number): Promise<{ system: string; body: string } | null> => {
    const system = ctx.get(SIGNATURE_HEADERS.system);
    const ts = ctx.get(SIGNATURE_HEADERS.timestamp);
    const sig = ctx.get(SIGNATURE_HEADERS.signature);
    let body: string;
    try {
      // The exact bytes, decoded without dropping a byte-order mark: the signature covers them all.
      body = (await getRawBody(ctx.req, { limit })).toString('utf8');
    } catch (err) {
      const status = (err as { status?: number }).status ?? 400;
      refuse(ctx, status === 413 ? 413 : 400, status === 413 ? `body over ${limit} bytes` : 'body could not be read');
      return null;
    }
    const secret = d.secrets.get(system);
    if (!secret || !/^\d{9,11}$/.test(ts) || !signatureMatches(secret, ts, body, sig)) {
      d.log.warn({ system: system.slice(0, 32), path: ctx.path }, 'department request refused: bad or missing signature');
      refuse(ctx, 401, 'signature: expected X-Weiban-System, X-Weiban-Timestamp and X-Weiban-Signature = hex HMAC-SHA256(key, timestamp + "\\n" + body)');
      return null;
    }
    const skew = Math.abs(Math.floor(d.clock.now() / 1000) - Number(ts));
    if (skew > SKEW_S) {
      refuse(ctx, 401, `timestamp: ${skew} s from our clock; expected within ${SKEW_S} s`);
      return null;
    }
    // The same signed request again (a replay, or a client retrying the very same bytes).
    if (!(await d.kv.setIfAbsent(`api:sig:${sig.toLowerCase()}`, '1', (SKEW_S * 2 + 60) * 1000))) {
      d.log.warn({ system }, 'department request refused: replayed signature');
      refuse(ctx, 409, 'replayed: this exact signed request was received before; sign again with a new timestamp (the idempotency key keeps the event single)');
      return null;
    }
    return { system, body };
  };

  r.post('/events', async (ctx) => {
    const s = await signed(ctx, MAX_EVENT_BYTES);
    if (!s) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(s.body);
    } catch {
      return refuse(ctx, 400, 'expected a JSON body');
    }
    try {
      const res = await d.events.accept(s.system, parsed);
      ctx.status = res.status === 'duplicate' ? 200 : 202;
      ctx.body = { id: res.id, status: res.status, ...(res.sendAt ? { send_at: new Date(res.sendAt).toISOString() } : {}) };
    } catch (err) {
      if (!(err instanceof EventError)) throw err;
      d.log.info({ system: s.system, status: err.status, reason: err.message }, 'event refused');
      refuse(ctx, err.status, err.message);
    }
  });

  r.post('/records', async (ctx) => {
    const s = await signed(ctx, MAX_IMPORT_BYTES);
    if (!s) return;
    const kind = String(ctx.query.kind ?? '');
    const type = ctx.get('content-type').split(';')[0]!.trim().toLowerCase();
    const format = type === 'text/csv' ? 'csv' : type === 'application/x-ndjson' || type === 'application/jsonl' || type === 'application/json-lines' ? 'jsonl' : null;
    if (!format) return refuse(ctx, 415, 'content-type: expected text/csv or application/x-ndjson');
    const { rows, errors } = parseRows(s.body, format);
    if (rows.length > MAX_IMPORT_ROWS) return refuse(ctx, 413, `expected at most ${MAX_IMPORT_ROWS} rows per request`);
    try {
      const res = await d.bindings.importRecords(s.system, kind, rows);
      const all = [...errors, ...res.errors].sort((a, b) => a.line - b.line);
      ctx.status = 200;
      ctx.body = { imported: res.imported, refused: all.length, errors: all.slice(0, 200) };
    } catch (err) {
      if (!(err instanceof BindingError)) throw err;
      refuse(ctx, 422, `kind: ${err.message}`);
    }
  });

  return r;
}
