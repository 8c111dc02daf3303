import { randomBytes } from 'node:crypto';
import { DAY, HOUR, MINUTE, SECOND, type Clock } from '../platform/clock.ts';

/**
 * The WeChat platform as the account sees it, with the behaviour that bites real deployments:
 * tokens that expire and are replaced, 40001 on a stale token, the 48-hour customer-service window
 * (45015) and its quota (45047), menu limits, template value limits (47003), one article per news
 * message. Everything sent to a citizen lands in that citizen's inbox, which the phone page shows.
 * Development and tests only.
 */

export interface EmulatedTemplate {
  id: string;
  title: string;
  /** Field keys as WeChat names them; the prefix gives the type (thing, time, character_string …). */
  fields: string[];
  /** What the citizen sees before each value (办理事项, 受理时间 …), by key. */
  labels?: Record<string, string>;
}

export interface PlatformOptions {
  appid: string;
  secret: string;
  clock: Clock;
  templates?: EmulatedTemplate[];
  tokenLifetimeSeconds?: number;
}

type WindowKind = 'message' | 'event' | 'payment';
const WINDOW_RULES: Record<WindowKind, { span: number; quota: number }> = {
  message: { span: 48 * HOUR, quota: 5 },
  event: { span: MINUTE, quota: 3 },
  payment: { span: 48 * HOUR, quota: Infinity },
};

export interface Citizen {
  openid: string;
  nickname: string;
  subscribed: boolean;
  subscribedAt: number | null;
  /**
   * The customer-service windows the citizen's latest actions opened, one per kind: a message opens
   * 48 hours for 5 messages, an event (menu tap, follow, scan) 1 minute for 3, a payment 48 hours
   * without a count. A newer action of a kind replaces that kind's window only, so a menu tap
   * does not shorten the window a message opened.
   */
  windows: Partial<Record<WindowKind, { openedAt: number; used: number }>>;
  /** Refuses the account's template messages (拒收): they are accepted, then reported as failed:user block. */
  blocked?: boolean;
}

/** `citizen` is what the citizen did; the rest is what reached them, and how. */
export type InboxChannel = 'citizen' | 'passive' | 'custom' | 'template' | 'subscribe';

export interface InboxItem {
  id: number;
  at: number;
  channel: InboxChannel;
  /** Normalised content: { type: 'text', content } | { type: 'news', article } | { type: 'template', title, data, url } … */
  message: Record<string, unknown>;
}

export interface QrRecord {
  ticket: string;
  scene: string;
  permanent: boolean;
  expiresAt: number | null;
  url: string;
}

export class PlatformError extends Error {
  constructor(
    readonly errcode: number,
    readonly errmsg: string,
  ) {
    super(`${errcode} ${errmsg}`);
  }
}

/** Limits of template field values by type, as the platform enforces them (47003 beyond). */
const TEMPLATE_LIMITS: [RegExp, (v: string) => boolean][] = [
  [/^thing\d*$/, (v) => [...v].length <= 20],
  [/^character_string\d*$/, (v) => v.length <= 32 && /^[\x20-\x7e]*$/.test(v)],
  [/^phrase\d*$/, (v) => [...v].length <= 5 && /^[\u4e00-\u9fa5]*$/.test(v)],
  [/^number\d*$/, (v) => v.length <= 32 && /^[0-9.]+$/.test(v)],
  [/^amount\d*$/, (v) => v.length <= 32 && /^[¥￥]?[0-9.]+元?$/.test(v)],
  [/^name\d*$/, (v) => [...v].length <= 10],
  [/^phone_number\d*$/, (v) => v.length <= 17 && /^[0-9+\- ]+$/.test(v)],
  [/^car_number\d*$/, (v) => [...v].length <= 8],
  [/^(time|date)\d*$/, (v) => v.length <= 32],
  [/^const\d*$/, (v) => [...v].length <= 20],
];

const MSG_TYPES = new Set(['text', 'image', 'voice', 'video', 'music', 'news', 'mpnews', 'msgmenu', 'wxcard', 'miniprogrampage', 'mpnewsarticle']);

export class EmulatedPlatform {
  readonly appid: string;
  private readonly secret: string;
  private readonly clock: Clock;
  private readonly lifetime: number;
  /** token → expiry (ms). Old tokens stay valid a little after being replaced, as on WeChat. */
  private readonly tokens = new Map<string, number>();
  private current: { token: string; expiresAt: number } | null = null;
  private forceRefreshes: number[] = [];
  private jsapi: { ticket: string; expiresAt: number } | null = null;
  private readonly codes = new Map<string, { openid: string; expiresAt: number; used: boolean }>();
  private readonly citizens = new Map<string, Citizen>();
  private readonly inboxes = new Map<string, InboxItem[]>();
  private readonly templateSent = new Map<string, { msgid: number; at: number }>();
  /** Template messages sent and not yet reported by TEMPLATESENDJOBFINISH. */
  private deliveryReports: { openid: string; msgid: number; status: string }[] = [];
  /** Template messages sent per China-time day (the default quota is 100,000 a day: 45009 beyond). */
  private templateDay = { day: '', count: 0 };
  templateDailyQuota = 100_000;
  private readonly templates = new Map<string, EmulatedTemplate>();
  private readonly qrcodes = new Map<string, QrRecord>();
  private nextInboxId = 1;
  private nextMsgId = 1000;
  menu: unknown[] | null = null;
  /** Every API call, for tests that count (token refreshes, sends). */
  readonly calls: { path: string; at: number; errcode: number }[] = [];
  private readonly faults = new Map<string, { errcode: number; errmsg: string; times: number }>();

  /** Tests: make the next `times` calls of `path` fail with `errcode` (e.g. -1 system busy). */
  injectFault(path: string, errcode: number, times = 1, errmsg = 'system error'): void {
    this.faults.set(path, { errcode, errmsg, times });
  }

  /** Throws the injected fault for this path, if one is pending. */
  takeFault(path: string): void {
    const f = this.faults.get(path);
    if (!f) return;
    if (--f.times <= 0) this.faults.delete(path);
    throw new PlatformError(f.errcode, f.errmsg);
  }

  constructor(o: PlatformOptions) {
    this.appid = o.appid;
    this.secret = o.secret;
    this.clock = o.clock;
    this.lifetime = (o.tokenLifetimeSeconds ?? 7200) * SECOND;
    for (const t of o.templates ?? []) this.templates.set(t.id, t);
  }

  // ---- citizens -------------------------------------------------------------------------------

  citizen(openid: string, nickname = openid): Citizen {
    let c = this.citizens.get(openid);
    if (!c) {
      c = { openid, nickname, subscribed: false, subscribedAt: null, windows: {} };
      this.citizens.set(openid, c);
    }
    return c;
  }

  findCitizen(openid: string): Citizen | undefined {
    return this.citizens.get(openid);
  }

  listCitizens(): Citizen[] {
    return [...this.citizens.values()];
  }

  /** What a citizen's action does to the customer-service window. */
  interacted(openid: string, kind: WindowKind): void {
    const c = this.citizen(openid);
    c.windows[kind] = { openedAt: this.clock.now(), used: 0 };
  }

  setSubscribed(openid: string, subscribed: boolean): void {
    const c = this.citizen(openid);
    c.subscribed = subscribed;
    c.subscribedAt = subscribed ? this.clock.now() : null;
    if (!subscribed) c.windows = {};
  }

  inbox(openid: string, afterId = 0): InboxItem[] {
    return (this.inboxes.get(openid) ?? []).filter((i) => i.id > afterId);
  }

  deliver(openid: string, channel: InboxChannel, message: Record<string, unknown>): InboxItem {
    const item: InboxItem = { id: this.nextInboxId++, at: this.clock.now(), channel, message };
    const box = this.inboxes.get(openid) ?? [];
    box.push(item);
    if (box.length > 500) box.splice(0, box.length - 500);
    this.inboxes.set(openid, box);
    return item;
  }

  newMsgId(): string {
    return String(BigInt(this.clock.now()) * 1000n + BigInt(this.nextMsgId++ % 1000));
  }

  // ---- tokens ---------------------------------------------------------------------------------

  private issueToken(): { token: string; expiresAt: number } {
    const now = this.clock.now();
    if (this.current) {
      // The replaced token keeps working for up to 5 minutes.
      this.tokens.set(this.current.token, Math.min(this.current.expiresAt, now + 5 * MINUTE));
    }
    const token = `EMU_${randomBytes(24).toString('base64url')}`;
    this.current = { token, expiresAt: now + this.lifetime };
    this.tokens.set(token, this.current.expiresAt);
    for (const [t, exp] of this.tokens) if (exp <= now) this.tokens.delete(t);
    return this.current;
  }

  private checkCredentials(appid: unknown, secret: unknown): void {
    if (appid !== this.appid) throw new PlatformError(40013, 'invalid appid');
    if (secret !== this.secret) throw new PlatformError(40125, 'invalid appsecret');
  }

  /** GET /cgi-bin/token: always a new token; the previous one dies within 5 minutes. */
  token(q: { grant_type?: string; appid?: string; secret?: string }) {
    if (q.grant_type !== 'client_credential') throw new PlatformError(40002, 'invalid grant_type');
    this.checkCredentials(q.appid, q.secret);
    const t = this.issueToken();
    return { access_token: t.token, expires_in: Math.round((t.expiresAt - this.clock.now()) / 1000) };
  }

  /** POST /cgi-bin/stable_token: the same token until about 5 minutes before it ends. */
  stableToken(b: { grant_type?: string; appid?: string; secret?: string; force_refresh?: boolean }) {
    if (b.grant_type !== 'client_credential') throw new PlatformError(40002, 'invalid grant_type');
    this.checkCredentials(b.appid, b.secret);
    const now = this.clock.now();
    if (b.force_refresh) {
      this.forceRefreshes = this.forceRefreshes.filter((t) => t > now - DAY);
      const last = this.forceRefreshes[this.forceRefreshes.length - 1];
      if (this.forceRefreshes.length >= 20) throw new PlatformError(45009, 'reach max api daily quota limit');
      if (last !== undefined && now - last < 30 * SECOND) throw new PlatformError(45011, 'api minute-quota reach limit, please retry in 30 seconds');
      this.forceRefreshes.push(now);
      const t = this.issueToken();
      return { access_token: t.token, expires_in: Math.round((t.expiresAt - now) / 1000) };
    }
    if (!this.current || this.current.expiresAt - now <= 5 * MINUTE) this.issueToken();
    const t = this.current!;
    return { access_token: t.token, expires_in: Math.round((t.expiresAt - now) / 1000) };
  }

  /** Every API method but the token ones checks its access_token. */
  authorize(token: string | undefined): void {
    if (!token) throw new PlatformError(41001, 'access_token missing');
    const exp = this.tokens.get(token);
    if (exp === undefined) throw new PlatformError(40001, 'invalid credential, access_token is invalid or not latest');
    if (exp <= this.clock.now()) throw new PlatformError(42001, 'access_token expired');
  }

  /** Tests: make the current token stale, as a refresh by someone else would. */
  revokeAllTokens(): void {
    this.tokens.clear();
    this.current = null;
  }

  // ---- customer-service messages --------------------------------------------------------------

  customSend(body: Record<string, any>): void {
    const openid = String(body.touser ?? '');
    const c = this.citizens.get(openid);
    if (!c) throw new PlatformError(40003, 'invalid openid');
    if (!c.subscribed) throw new PlatformError(43004, 'require subscribe');
    const type = String(body.msgtype ?? '');
    if (!MSG_TYPES.has(type)) throw new PlatformError(40008, 'invalid message type');
    const message = this.normaliseCustom(type, body);
    const now = this.clock.now();
    const open = (Object.keys(WINDOW_RULES) as WindowKind[])
      .map((kind) => ({ kind, w: c.windows[kind], rule: WINDOW_RULES[kind] }))
      .filter((x): x is typeof x & { w: { openedAt: number; used: number } } => !!x.w && now - x.w.openedAt <= x.rule.span);
    if (open.length === 0) throw new PlatformError(45015, 'response out of time limit or subscription is canceled');
    // Spend the window that closes first; over quota only when every open one is used up.
    const usable = open.filter((x) => x.w.used < x.rule.quota).sort((x, y) => x.w.openedAt + x.rule.span - (y.w.openedAt + y.rule.span));
    if (usable.length === 0) throw new PlatformError(45047, 'out of response count limit');
    usable[0]!.w.used++;
    this.deliver(openid, 'custom', message);
  }

  private normaliseCustom(type: string, body: Record<string, any>): Record<string, unknown> {
    switch (type) {
      case 'text': {
        const content = body.text?.content;
        if (typeof content !== 'string' || content === '') throw new PlatformError(44003, 'empty content');
        return { type: 'text', content };
      }
      case 'news': {
        const articles = body.news?.articles;
        if (!Array.isArray(articles) || articles.length === 0) throw new PlatformError(44003, 'empty news');
        if (articles.length > 1) throw new PlatformError(45008, 'article size out of limit');
        const a = articles[0];
        if (!a?.title || !a?.url) throw new PlatformError(47001, 'data format error: article needs title and url');
        return { type: 'news', article: { title: a.title, description: a.description ?? '', url: a.url, picUrl: a.picurl ?? '' } };
      }
      case 'msgmenu': {
        const m = body.msgmenu ?? {};
        if (!Array.isArray(m.list) || m.list.length === 0) throw new PlatformError(47001, 'data format error: msgmenu.list');
        return { type: 'msgmenu', headContent: m.head_content ?? '', list: m.list, tailContent: m.tail_content ?? '' };
      }
      case 'image':
      case 'voice': {
        const mediaId = body[type]?.media_id;
        if (!mediaId) throw new PlatformError(40007, 'invalid media_id');
        return { type, mediaId };
      }
      default:
        return { type, ...(body[type] ?? {}) };
    }
  }

  // ---- template and subscription messages -----------------------------------------------------

  registerTemplate(t: EmulatedTemplate): void {
    this.templates.set(t.id, t);
  }

  templateSend(body: Record<string, any>): { msgid: number } {
    const openid = String(body.touser ?? '');
    const c = this.citizens.get(openid);
    if (!c) throw new PlatformError(40003, 'invalid openid');
    if (!c.subscribed) throw new PlatformError(43004, 'require subscribe');
    const tpl = this.templates.get(String(body.template_id ?? ''));
    if (!tpl) throw new PlatformError(40037, 'invalid template_id');
    const data = this.checkTemplateData(tpl, body.data);
    const clientMsgId = typeof body.client_msg_id === 'string' ? body.client_msg_id : '';
    const now = this.clock.now();
    if (clientMsgId) {
      const prev = this.templateSent.get(`${openid}:${clientMsgId}`);
      if (prev && now - prev.at < 10 * MINUTE) return { msgid: prev.msgid };
    }
    const day = new Date(now + 8 * 3_600_000).toISOString().slice(0, 10);
    if (this.templateDay.day !== day) this.templateDay = { day, count: 0 };
    if (this.templateDay.count >= this.templateDailyQuota) throw new PlatformError(45009, 'reach max api daily quota limit');
    this.templateDay.count++;
    const msgid = this.nextInboxId;
    this.deliveryReports.push({ openid, msgid, status: c.blocked ? 'failed:user block' : 'success' });
    this.deliver(openid, 'template', { type: 'template', templateId: tpl.id, title: tpl.title, data, labels: tpl.labels ?? {}, url: body.url ?? '' });
    if (clientMsgId) this.templateSent.set(`${openid}:${clientMsgId}`, { msgid, at: now });
    return { msgid };
  }

  /** Take the delivery results WeChat reports by TEMPLATESENDJOBFINISH (the emulator posts them on request). */
  takeDeliveryReports(): { openid: string; msgid: number; status: string }[] {
    const out = this.deliveryReports;
    this.deliveryReports = [];
    return out;
  }

  subscribeSend(body: Record<string, any>): void {
    const openid = String(body.touser ?? '');
    if (!this.citizens.has(openid)) throw new PlatformError(40003, 'invalid openid');
    const tpl = this.templates.get(String(body.template_id ?? ''));
    if (!tpl) throw new PlatformError(40037, 'invalid template_id');
    const data = this.checkTemplateData(tpl, body.data);
    this.deliver(openid, 'subscribe', { type: 'subscribe', templateId: tpl.id, title: tpl.title, data, labels: tpl.labels ?? {}, page: body.page ?? '' });
  }

  private checkTemplateData(tpl: EmulatedTemplate, raw: unknown): Record<string, string> {
    if (!raw || typeof raw !== 'object') throw new PlatformError(47001, 'data format error');
    const out: Record<string, string> = {};
    for (const key of tpl.fields) {
      const v = (raw as Record<string, { value?: unknown }>)[key]?.value;
      if (typeof v !== 'string' || v === '') throw new PlatformError(47003, `argument invalid! data.${key}.value is empty`);
      const rule = TEMPLATE_LIMITS.find(([re]) => re.test(key));
      if (rule && !rule[1](v)) throw new PlatformError(47003, `argument invalid! data.${key}.value invalid`);
      out[key] = v;
    }
    return out;
  }

  // ---- menu -----------------------------------------------------------------------------------

  menuCreate(body: Record<string, any>): void {
    const buttons = body.button;
    const bytes = (s: unknown) => (typeof s === 'string' ? Buffer.byteLength(s) : 0);
    if (!Array.isArray(buttons) || buttons.length === 0 || buttons.length > 3) throw new PlatformError(40016, 'invalid button size');
    for (const b of buttons) {
      if (!b?.name || bytes(b.name) > 16) throw new PlatformError(40018, 'invalid button name size');
      if (Array.isArray(b.sub_button) && b.sub_button.length > 0) {
        if (b.sub_button.length > 5) throw new PlatformError(40023, 'invalid sub button size');
        for (const s of b.sub_button) {
          if (!s?.name || bytes(s.name) > 60) throw new PlatformError(40025, 'invalid sub button name size');
          this.checkLeaf(s, true);
        }
      } else {
        this.checkLeaf(b, false);
      }
    }
    this.menu = structuredClone(buttons);
  }

  private checkLeaf(b: Record<string, any>, sub: boolean): void {
    const types = ['click', 'view', 'miniprogram', 'scancode_push', 'scancode_waitmsg', 'pic_sysphoto', 'pic_photo_or_album', 'pic_weixin', 'location_select'];
    if (!types.includes(b.type)) throw new PlatformError(sub ? 40024 : 40017, sub ? 'invalid sub button type' : 'invalid button type');
    if (b.type === 'view' || b.type === 'miniprogram') {
      if (typeof b.url !== 'string' || !/^https?:\/\//.test(b.url) || b.url.length > 1024) throw new PlatformError(sub ? 40027 : 40022, 'invalid button url');
    } else if (typeof b.key !== 'string' || b.key === '' || Buffer.byteLength(b.key) > 128) {
      throw new PlatformError(sub ? 40026 : 40019, sub ? 'invalid sub button key size' : 'invalid button key size');
    }
  }

  menuGet(): { menu: { button: unknown[] } } {
    if (!this.menu) throw new PlatformError(46003, 'menu no exist');
    return { menu: { button: this.menu } };
  }

  menuDelete(): void {
    this.menu = null;
  }

  // ---- QR codes -------------------------------------------------------------------------------

  qrcodeCreate(body: Record<string, any>): { ticket: string; expire_seconds?: number; url: string } {
    const action = String(body.action_name ?? '');
    const scene = body.action_info?.scene ?? {};
    let sceneValue: string;
    if (action === 'QR_SCENE' || action === 'QR_LIMIT_SCENE') {
      const id = Number(scene.scene_id);
      const max = action === 'QR_LIMIT_SCENE' ? 100_000 : 2 ** 32 - 1;
      if (!Number.isInteger(id) || id < 1 || id > max) throw new PlatformError(40053, 'invalid action info, scene_id');
      sceneValue = String(id);
    } else if (action === 'QR_STR_SCENE' || action === 'QR_LIMIT_STR_SCENE') {
      const s = scene.scene_str;
      if (typeof s !== 'string' || s.length < 1 || s.length > 64) throw new PlatformError(40053, 'invalid action info, scene_str');
      sceneValue = s;
    } else {
      throw new PlatformError(40052, 'invalid action name');
    }
    const permanent = action.startsWith('QR_LIMIT');
    if (permanent) {
      const existing = [...this.qrcodes.values()].find((q) => q.permanent && q.scene === sceneValue);
      if (existing) return { ticket: existing.ticket, url: existing.url };
      if ([...this.qrcodes.values()].filter((q) => q.permanent).length >= 100_000) throw new PlatformError(45029, 'qrcode count out of limit');
    }
    const seconds = permanent ? undefined : Math.min(Math.max(Number(body.expire_seconds) || 30, 60), 2_592_000);
    const ticket = `gQ${randomBytes(18).toString('base64url')}`;
    const rec: QrRecord = {
      ticket,
      scene: sceneValue,
      permanent,
      expiresAt: seconds ? this.clock.now() + seconds * SECOND : null,
      url: `http://weixin.qq.com/q/${ticket.slice(2, 24)}`,
    };
    this.qrcodes.set(ticket, rec);
    return seconds ? { ticket, expire_seconds: seconds, url: rec.url } : { ticket, url: rec.url };
  }

  /** Codes a citizen could scan now. */
  liveQrCodes(): QrRecord[] {
    const now = this.clock.now();
    return [...this.qrcodes.values()].filter((q) => q.expiresAt === null || q.expiresAt > now);
  }

  qrByTicket(ticket: string): QrRecord | undefined {
    const q = this.qrcodes.get(ticket);
    if (!q || (q.expiresAt !== null && q.expiresAt <= this.clock.now())) return undefined;
    return q;
  }

  // ---- users, web authorisation, JS-SDK -------------------------------------------------------

  userInfo(openid: string) {
    const c = this.citizens.get(openid);
    if (!c) throw new PlatformError(40003, 'invalid openid');
    if (!c.subscribed) return { subscribe: 0, openid };
    return { subscribe: 1, openid, language: 'zh_CN', subscribe_time: Math.floor((c.subscribedAt ?? 0) / 1000), remark: '', subscribe_scene: 'ADD_SCENE_OTHERS' };
  }

  /** The authorize step: WeChat's browser knows who the citizen is and silently issues a code. */
  issueOAuthCode(openid: string): string {
    this.citizen(openid);
    const code = randomBytes(16).toString('hex');
    this.codes.set(code, { openid, expiresAt: this.clock.now() + 5 * MINUTE, used: false });
    return code;
  }

  oauthExchange(q: { appid?: string; secret?: string; code?: string; grant_type?: string }) {
    this.checkCredentials(q.appid, q.secret);
    if (q.grant_type !== 'authorization_code') throw new PlatformError(40002, 'invalid grant_type');
    const rec = q.code ? this.codes.get(q.code) : undefined;
    if (!rec || rec.expiresAt <= this.clock.now()) throw new PlatformError(40029, 'invalid code');
    if (rec.used) throw new PlatformError(40163, 'code been used');
    rec.used = true;
    return { access_token: `OAUTH_${randomBytes(12).toString('hex')}`, expires_in: 7200, refresh_token: 'unused', openid: rec.openid, scope: 'snsapi_base' };
  }

  jsapiTicket() {
    const now = this.clock.now();
    if (!this.jsapi || this.jsapi.expiresAt <= now) this.jsapi = { ticket: `EMUTICKET_${randomBytes(16).toString('hex')}`, expiresAt: now + 7200 * SECOND };
    return { errcode: 0, errmsg: 'ok', ticket: this.jsapi.ticket, expires_in: Math.round((this.jsapi.expiresAt - now) / 1000) };
  }
}
