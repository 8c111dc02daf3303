import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { Brackets, IsNull, type DataSource } from 'typeorm';
import type { Core } from '../../capability.ts';
import { readForm } from '../../h5/http.ts';
import type { Clock } from '../../platform/clock.ts';
import { ApiKeyEntity, TicketEntity, type ApiKeyRow, type TicketRow, type TicketStatus } from './entities.ts';
import { MAX_DESCRIPTION, STATUS_NAMES, TicketError, type Tickets } from './index.ts';

/**
 * Open311 GeoReport v2 (open311.org; the spec's GeoReport_v2 and its JSON conversion): the
 * standard FixMyStreet, SeeClickFix and city 311 apps speak, as a thin adapter over the tickets'
 * commands. Service = a ticket category; every service is realtime (a POST answers the
 * service_request_id, never a token). Public GETs carry no personal data: descriptions, notes and
 * addresses masked, coordinates rounded to about 100 m, mailbox letters never listed.
 */

const BASE = '/open311/v2';
const CLOSED: TicketStatus[] = ['completed', 'closed', 'rejected', 'merged'];
const MAX_LIST = 1000;
const DEFAULT_DAYS = 90;

/** Open311 API keys: issued by an administrator in the panel (shown once), stored only as a hash. */
export class ApiKeys {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  private static hash(key: string): string {
    return createHash('sha256').update(key).digest('hex');
  }

  async issue(name: string, staffId: number): Promise<{ id: number; key: string }> {
    const key = `wb311_${randomBytes(24).toString('base64url')}`;
    const row = await this.db.getRepository(ApiKeyEntity).save({ name, keyHash: ApiKeys.hash(key), createdBy: staffId, createdAt: this.clock.now(), revokedAt: null });
    return { id: row.id, key };
  }

  /** The key's row while it is valid; null for an unknown or revoked key. */
  async verify(key: string): Promise<ApiKeyRow | null> {
    if (!key || key.length > 200) return null;
    return this.db.getRepository(ApiKeyEntity).findOneBy({ keyHash: ApiKeys.hash(key), revokedAt: IsNull() });
  }

  async revoke(id: number): Promise<boolean> {
    const res = await this.db.getRepository(ApiKeyEntity).update({ id, revokedAt: IsNull() }, { revokedAt: this.clock.now() });
    return res.affected === 1;
  }

  list(): Promise<ApiKeyRow[]> {
    return this.db.getRepository(ApiKeyEntity).find({ order: { id: 'DESC' } });
  }
}

type Format = 'json' | 'xml';
type Value = string | number | boolean | null | Value[] | { [k: string]: Value };

class Open311Error extends Error {
  constructor(
    readonly status: 400 | 403 | 404,
    message: string,
  ) {
    super(message);
  }
}

const esc = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** An element's XML: lists repeat their element name (values → <value>, attributes → <attribute>). */
function xmlOf(name: string, v: Value): string {
  if (v === null) return `<${name}/>`;
  if (Array.isArray(v)) {
    const item = name === 'values' ? 'value' : name === 'attributes' ? 'attribute' : 'item';
    return `<${name}>${v.map((x) => xmlOf(item, x)).join('')}</${name}>`;
  }
  if (typeof v === 'object') return `<${name}>${Object.entries(v).map(([k, x]) => xmlOf(k, x)).join('')}</${name}>`;
  return `<${name}>${esc(String(v))}</${name}>`;
}

function send(ctx: Context, format: Format, root: string, item: string | null, body: Value): void {
  if (format === 'json') {
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = JSON.stringify(body);
    return;
  }
  ctx.type = 'text/xml; charset=utf-8';
  const inner = item && Array.isArray(body) ? body.map((x) => xmlOf(item, x)).join('') : typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.entries(body).map(([k, x]) => xmlOf(k, x)).join('') : '';
  ctx.body = `<?xml version="1.0" encoding="utf-8"?>\n<${root}>${inner}</${root}>`;
}

/** 2026-12-03T10:15:00+08:00: China time, the W3C profile of ISO 8601 with its offset. */
export function w3c(t: number): string {
  return `${new Date(t + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;
}

function parseDate(s: string): number | null {
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
}

/** Path names carry the format: services.json, requests/GD20261124-0007.xml. */
function splitFormat(name: string): { base: string; format: Format } {
  const m = /^(.+)\.(json|xml)$/.exec(name);
  if (!m) throw Object.assign(new Open311Error(404, 'unknown format: use .json or .xml'), { format: 'xml' as Format });
  return { base: m[1]!, format: m[2] as Format };
}

/** Present but empty means absent (jurisdiction_id=). */
const arg = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

export function open311Routes(core: Core, tickets: Tickets): Router {
  const r = new Router({ prefix: BASE });
  const keys = new ApiKeys(core.db, core.clock);
  const log = core.log.child({ component: 'open311' });
  const s = tickets.settings;

  const service = (c: (typeof s.categories)[number]) => ({
    service_code: c.id,
    service_name: c.name,
    description: c.description ?? c.name,
    metadata: true,
    type: 'realtime',
    keywords: c.keywords.join(','),
    group: tickets.departmentName(c.department),
  });
  const definition = (c: (typeof s.categories)[number]) => ({
    service_code: c.id,
    attributes: [
      {
        variable: true,
        code: 'kind',
        datatype: 'singlevaluelist',
        required: false,
        datatype_description: '诉求类型（不填按类别默认）',
        order: 1,
        description: '诉求类型',
        values: s.kinds.map((k) => ({ key: k.id, name: k.name })),
      },
    ],
  });
  const round = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);
  const request = (t: TicketRow): Record<string, Value> => ({
    service_request_id: t.ticketNo,
    status: CLOSED.includes(t.status) ? 'closed' : 'open',
    status_notes: t.answer ? tickets.masked(t.answer, t) : STATUS_NAMES[t.status],
    service_name: tickets.categoryName(t.category),
    service_code: t.category,
    description: tickets.masked(t.description, t),
    agency_responsible: tickets.departmentName(t.department),
    service_notice: null,
    requested_datetime: w3c(t.filedAt),
    updated_datetime: w3c(t.updatedAt),
    expected_datetime: CLOSED.includes(t.status) ? null : w3c(t.dueAt),
    address: t.address ? tickets.masked(t.address, t) : null,
    address_id: null,
    zipcode: null,
    lat: round(t.lat),
    long: round(t.lng),
    media_url: t.mediaUrl,
  });
  // What anyone may read: reports of public-space problems (a category's `public`, by default its
  // `snap`) of a kind that may be listed (not 举报 against someone), and whatever a writer agreed
  // to publish; never a letter to a mailbox (the mailbox's own public list shows consenting letters).
  const listed = s.categories.filter((c) => c.public ?? c.snap).map((c) => c.id);
  const unlisted = s.kinds.filter((k) => !k.public).map((k) => k.id);
  const publicTickets = () =>
    core.db
      .getRepository(TicketEntity)
      .createQueryBuilder('t')
      .where('t.mailbox IS NULL')
      .andWhere(new Brackets((w) => w.where('t.publish = :yes', { yes: true }).orWhere(new Brackets((x) => x.where('t.category IN (:...listed)', { listed: listed.length ? listed : [''] }).andWhere('t.kind NOT IN (:...unlisted)', { unlisted: unlisted.length ? unlisted : [''] })))));

  const handle = (fn: (ctx: Context, name: string) => Promise<void>) => async (ctx: Context) => {
    const name = ctx.params.name ?? '';
    const format: Format = name.endsWith('.json') ? 'json' : 'xml';
    try {
      await fn(ctx, name);
    } catch (err) {
      if (!(err instanceof Open311Error)) throw err;
      ctx.status = err.status;
      send(ctx, format, 'errors', 'error', [{ code: err.status, description: err.message }]);
    }
  };

  r.get('/:name', handle(async (ctx, name) => {
    const { base, format } = splitFormat(name);
    if (base === 'services') return send(ctx, format, 'services', 'service', s.categories.map(service));
    if (base !== 'requests') throw new Open311Error(404, `no such method: ${base}`);
    const q = ctx.query;
    const ids = arg(q.service_request_id);
    const qb = publicTickets();
    if (ids) {
      const list = ids.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean).slice(0, MAX_LIST);
      qb.andWhere('t.ticket_no IN (:...ids)', { ids: list.length ? list : [''] });
    } else {
      const codes = arg(q.service_code)?.split(',').map((x) => x.trim()).filter(Boolean);
      if (codes?.length) qb.andWhere('t.category IN (:...codes)', { codes });
      const statuses = arg(q.status)?.split(',').map((x) => x.trim().toLowerCase());
      if (statuses?.some((x) => x !== 'open' && x !== 'closed')) throw new Open311Error(400, 'status must be open, closed or both (comma-separated)');
      if (statuses && statuses.length === 1) qb.andWhere(`t.status ${statuses[0] === 'closed' ? 'IN' : 'NOT IN'} (:...closed)`, { closed: CLOSED });
      const start = arg(q.start_date);
      const end = arg(q.end_date);
      const from = start !== undefined ? parseDate(start) : null;
      const to = end !== undefined ? parseDate(end) : null;
      if ((start !== undefined && from === null) || (end !== undefined && to === null)) throw new Open311Error(400, 'start_date and end_date must be W3C datetimes, e.g. 2026-12-03T10:15:00+08:00');
      const now = core.clock.now();
      qb.andWhere('t.filed_at >= :from', { from: from ?? (to ?? now) - DEFAULT_DAYS * 86_400_000 });
      if (to !== null) qb.andWhere('t.filed_at <= :to', { to });
    }
    const rows = await qb.orderBy('t.filed_at', 'DESC').take(MAX_LIST).getMany();
    send(ctx, format, 'service_requests', 'request', rows.map(request));
  }));

  r.get('/services/:name', handle(async (ctx, name) => {
    const { base, format } = splitFormat(name);
    const c = s.categories.find((x) => x.id === base);
    if (!c) throw new Open311Error(404, `service_code ${base} not found`);
    send(ctx, format, 'service_definition', null, definition(c));
  }));

  r.get('/requests/:name', handle(async (ctx, name) => {
    const { base, format } = splitFormat(name);
    const t = await publicTickets().andWhere('t.ticket_no = :no', { no: base.toUpperCase() }).getOne();
    if (!t) throw new Open311Error(404, `service_request_id ${base} not found`);
    send(ctx, format, 'service_requests', 'request', [request(t)]);
  }));

  r.get('/tokens/:name', handle(async (_ctx, name) => {
    const { base } = splitFormat(name);
    // Every service is realtime: a POST answers the service_request_id at once and issues no token.
    throw new Open311Error(404, `token ${base.slice(0, 64)} not found (services here are realtime and answer service_request_id directly)`);
  }));

  r.post('/:name', handle(async (ctx, name) => {
    const { base, format } = splitFormat(name);
    if (base !== 'requests') throw new Open311Error(404, `no such method: ${base}`);
    if (!ctx.is('application/x-www-form-urlencoded')) throw new Open311Error(400, 'the body must be application/x-www-form-urlencoded');
    const form = await readForm(ctx).catch(() => {
      throw new Open311Error(400, 'the body could not be read (too large or not form-encoded)');
    });
    const get = (k: string) => arg(form.get(k) ?? undefined);
    const key = await keys.verify(get('api_key') ?? '');
    if (!key) {
      log.info({ reason: get('api_key') ? 'wrong or revoked key' : 'no key' }, 'open311 post refused');
      throw new Open311Error(403, 'api_key missing, wrong or revoked');
    }
    const code = get('service_code');
    if (!code) throw new Open311Error(400, 'service_code is required');
    const category = s.categories.find((c) => c.id === code);
    if (!category) throw new Open311Error(400, `service_code ${code.slice(0, 48)} not found`);
    const latS = get('lat');
    const lngS = get('long');
    const address = get('address_string') ?? get('address_id');
    if ((latS === undefined) !== (lngS === undefined)) throw new Open311Error(400, 'lat and long must be given together');
    if (latS === undefined && !address) throw new Open311Error(400, 'a location is required: lat and long, address_string or address_id');
    const lat = latS === undefined ? undefined : Number(latS);
    const lng = lngS === undefined ? undefined : Number(lngS);
    if ((lat !== undefined && !Number.isFinite(lat)) || (lng !== undefined && !Number.isFinite(lng))) throw new Open311Error(400, 'lat and long must be decimal degrees');
    const description = get('description') ?? '';
    if ([...description].length > MAX_DESCRIPTION) throw new Open311Error(400, `description is longer than ${MAX_DESCRIPTION} characters`);
    const kind = get('attribute[kind]');
    if (kind && !tickets.kinds.has(kind)) throw new Open311Error(400, `attribute[kind] must be one of ${[...tickets.kinds.keys()].join(', ')}`);
    const mediaUrl = get('media_url');
    if (mediaUrl && (!/^https?:\/\/\S+$/.test(mediaUrl) || mediaUrl.length > 500)) throw new Open311Error(400, 'media_url must be an http(s) URL of at most 500 characters');
    const phone = get('phone');
    if (phone && !/^\+?[\d\s-]{5,20}$/.test(phone)) throw new Open311Error(400, 'phone must be digits');
    const reporter = [get('last_name'), get('first_name')].filter(Boolean).join('');
    try {
      const t = await tickets.file({
        channel: 'open311',
        openid: null,
        category: code,
        kind,
        description: description.length >= 4 ? description : `${category.name}${description ? `：${description}` : ''}（通过 Open311 提交）`,
        lat,
        lng,
        address: address?.slice(0, 200),
        contactName: reporter ? reporter.slice(0, 40) : undefined,
        phone: phone?.replace(/\s/g, '').slice(0, 20),
        apiKeyId: key.id,
        deviceId: get('device_id')?.slice(0, 64),
        mediaUrl,
      });
      log.info({ key: key.id, ticket: t.id }, 'open311 request filed');
      send(ctx, format, 'service_requests', 'request', [{ service_request_id: t.ticketNo, service_notice: `${tickets.kindName(t.kind)}，将于 ${w3c(t.dueAt)} 前答复`, account_id: null }]);
    } catch (err) {
      if (!(err instanceof TicketError)) throw err;
      log.info({ key: key.id, fields: Object.keys(err.fields) }, 'open311 post refused');
      throw new Open311Error(400, Object.entries(err.fields).map(([k, v]) => `${k === 'location' ? 'lat/long' : k}: ${v}`).join('; ') || err.message);
    }
  }));

  return r;
}
