import { createHash } from 'node:crypto';
import { EntitySchema, type DataSource } from 'typeorm';
import { HOUR, type Clock } from '../platform/clock.ts';
import { epochMs, sqliteDirect, type SqliteDirect, type SqliteHandle, type SqliteStatement } from '../platform/db.ts';
import { isEvent, spokenText, type InboundMessage } from '../wechat/messages.ts';

export interface CitizenRow {
  openid: string;
  subscribed: boolean;
  subscribedAt: number | null;
  unsubscribedAt: number | null;
  scene: string | null;
  firstSeenAt: number;
  lastInteractionAt: number | null;
  lastInteractionKind: 'message' | 'event' | null;
  /** The last message the citizen wrote or sent (not an event): the 48-hour window runs from it. */
  lastMessageAt: number | null;
  /** The audience (人群) the citizen chose. */
  audience: string | null;
  /** 长者模式: large text on the citizen's pages, remembered. */
  careMode: boolean;
  updatedAt: number;
}

export const CitizenEntity = new EntitySchema<CitizenRow>({
  name: 'Citizen',
  tableName: 'citizens',
  columns: {
    openid: { type: 'varchar', length: 64, primary: true },
    subscribed: { type: 'boolean', default: false },
    subscribedAt: { name: 'subscribed_at', type: 'bigint', nullable: true, transformer: epochMs },
    unsubscribedAt: { name: 'unsubscribed_at', type: 'bigint', nullable: true, transformer: epochMs },
    scene: { type: 'varchar', length: 64, nullable: true },
    firstSeenAt: { name: 'first_seen_at', type: 'bigint', transformer: epochMs },
    lastInteractionAt: { name: 'last_interaction_at', type: 'bigint', nullable: true, transformer: epochMs },
    lastInteractionKind: { name: 'last_interaction_kind', type: 'varchar', length: 16, nullable: true },
    lastMessageAt: { name: 'last_message_at', type: 'bigint', nullable: true, transformer: epochMs },
    audience: { type: 'varchar', length: 32, nullable: true },
    careMode: { name: 'care_mode', type: 'boolean', default: false },
    updatedAt: { name: 'updated_at', type: 'bigint', transformer: epochMs },
  },
});

export type Direction = 'in' | 'out';
export type Channel = 'callback' | 'passive' | 'custom' | 'template' | 'subscribe';

export interface MessageRow {
  id: number;
  openid: string;
  direction: Direction;
  kind: string;
  content: string;
  payload: string | null;
  channel: Channel;
  msgKey: string | null;
  /** What answered (a rule, a navigation node, a service) or what was answered. */
  ref: string | null;
  /** Outbound delivery: sending | sent | failed. */
  status: string | null;
  createdAt: number;
}

export const MessageEntity = new EntitySchema<MessageRow>({
  name: 'Message',
  tableName: 'messages',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    openid: { type: 'varchar', length: 64 },
    direction: { type: 'varchar', length: 3 },
    kind: { type: 'varchar', length: 32 },
    content: { type: 'text' },
    payload: { type: 'text', nullable: true },
    channel: { type: 'varchar', length: 16 },
    msgKey: { name: 'msg_key', type: 'varchar', length: 191, nullable: true, unique: true },
    ref: { type: 'varchar', length: 128, nullable: true },
    status: { type: 'varchar', length: 16, nullable: true },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
  },
  indices: [{ name: 'ix_messages_openid_time', columns: ['openid', 'createdAt'] }],
});

/** The 48-hour customer-service window. */
export const SERVICE_WINDOW_MS = 48 * HOUR;

/** A one-line description of an inbound message for the log and the staff panel. */
export function describeInbound(m: InboundMessage): string {
  const said = spokenText(m);
  if (said !== null) return said;
  switch (m.kind) {
    case 'image':
      return '[图片]';
    case 'voice':
      return '[语音]';
    case 'video':
    case 'shortvideo':
      return '[视频]';
    case 'location':
      return `[位置] ${m.label}`.trim();
    case 'link':
      return `[链接] ${m.title}`;
    case 'file':
      return `[文件] ${m.title}`;
    case 'subscribe':
      return m.scene ? `[关注] 场景 ${m.scene}` : '[关注]';
    case 'unsubscribe':
      return '[取消关注]';
    case 'scan':
      return `[扫码] 场景 ${m.scene}`;
    case 'click':
      return `[菜单] ${m.key}`;
    case 'view':
      return `[打开链接] ${m.url}`;
    case 'location_select':
      return `[发送位置] ${m.label}`.trim();
    default:
      return `[${m.kind}]`;
  }
}

type NewMessage = Omit<MessageRow, 'id'>;
type CitizenChange = Partial<CitizenRow> & { openid: string };

/** The log key of the passive reply to an inbound message: it also says which message a reply answered. */
export const replyKey = (msgKey: string) => `r:${msgKey}`;

/** What the log holds of a passive reply, enough to give it again. */
export interface StoredReply {
  kind: string;
  content: string;
  payload: string | null;
}

/**
 * What recording an inbound message found: stored now, or stored before — then with the passive
 * reply stored for it, if one was (null: the process died between the message and its reply).
 */
export type Recorded = { fresh: true } | { fresh: false; reply: StoredReply | null };

interface Pending {
  message: NewMessage;
  /** The passive reply to an inbound message, stored with it in the same transaction. */
  reply: NewMessage | null;
  citizen: CitizenChange | null;
  resolve(r: Recorded): void;
  reject(err: unknown): void;
}

/**
 * The log's columns: the row's key, the column's name, and its PostgreSQL type (each column of a
 * batch travels to PostgreSQL as one array of it; values inside a SELECT need the type spelt out).
 */
const MESSAGE_COLUMNS: [keyof NewMessage, string, string][] = [
  ['openid', 'openid', 'varchar'],
  ['direction', 'direction', 'varchar'],
  ['kind', 'kind', 'varchar'],
  ['content', 'content', 'text'],
  ['payload', 'payload', 'text'],
  ['channel', 'channel', 'varchar'],
  ['msgKey', 'msg_key', 'varchar'],
  ['ref', 'ref', 'varchar'],
  ['status', 'status', 'varchar'],
  ['createdAt', 'created_at', 'bigint'],
];
const CITIZEN_COLUMNS: [keyof CitizenRow, string, string][] = [
  ['openid', 'openid', 'varchar'],
  ['subscribed', 'subscribed', 'boolean'],
  ['subscribedAt', 'subscribed_at', 'bigint'],
  ['unsubscribedAt', 'unsubscribed_at', 'bigint'],
  ['scene', 'scene', 'varchar'],
  ['firstSeenAt', 'first_seen_at', 'bigint'],
  ['lastInteractionAt', 'last_interaction_at', 'bigint'],
  ['lastInteractionKind', 'last_interaction_kind', 'varchar'],
  ['lastMessageAt', 'last_message_at', 'bigint'],
  ['updatedAt', 'updated_at', 'bigint'],
];
const BATCH_ROWS = 200;
/** Statements the log names (prepares once per connection): one per mix of citizens' shapes seen, at most this many. */
const MAX_NAMED_STATEMENTS = 32;
const FRESH: Recorded = { fresh: true };

interface Written {
  inserted: Set<string>;
  replies: Map<string, StoredReply>;
}

interface CitizenGroup {
  /** Which columns are written and which updated: one statement shape. */
  key: string;
  cols: [keyof CitizenRow, string, string][];
  sets: string[];
  /** Each citizen's merged change, with the keys of the messages that carried it. */
  rows: { row: Record<string, unknown>; keys: string[] }[];
}

const SHAPES = new Map<number, Omit<CitizenGroup, 'rows'>>();

/** The citizen statement for a shape mask (low bits: columns written; high bits: columns updated), built once. */
function citizenShape(mask: number): Omit<CitizenGroup, 'rows'> {
  let shape = SHAPES.get(mask);
  if (!shape) {
    const n = CITIZEN_COLUMNS.length;
    const cols = CITIZEN_COLUMNS.filter((_, i) => mask & (1 << i));
    const sets = CITIZEN_COLUMNS.filter((_, i) => mask & (1 << (i + n))).map(([, c]) => `${c} = excluded.${c}`);
    shape = { key: `${cols.map(([, c]) => c).join(',')}|${sets.join(',')}`, cols, sets };
    SHAPES.set(mask, shape);
  }
  return shape;
}

/**
 * The citizens' changes of a batch (of the messages `stored` accepts), merged per citizen in
 * arrival order (the first sighting keeps its first_seen_at) and grouped by statement shape:
 * usually one group for the whole batch.
 */
function citizenGroups(batch: Pending[], stored: (msgKey: string) => boolean): CitizenGroup[] {
  const merged = new Map<string, { change: CitizenChange; update: Set<keyof CitizenRow>; keys: string[] }>();
  for (const x of batch) {
    if (!x.citizen || !x.message.msgKey || !stored(x.message.msgKey)) continue;
    const seen = merged.get(x.citizen.openid);
    if (!seen) merged.set(x.citizen.openid, { change: { ...x.citizen }, update: new Set(Object.keys(x.citizen) as (keyof CitizenRow)[]), keys: [x.message.msgKey] });
    else {
      const { firstSeenAt: _keepFirst, ...later } = x.citizen;
      Object.assign(seen.change, later);
      for (const k of Object.keys(later) as (keyof CitizenRow)[]) seen.update.add(k);
      seen.keys.push(x.message.msgKey);
    }
  }
  const groups = new Map<number, CitizenGroup>();
  for (const { change, update, keys } of merged.values()) {
    const row = { subscribed: false, ...change } as Record<string, unknown>;
    // The statement's shape: which columns are written, and which of them updated.
    let mask = 0;
    for (let i = 0; i < CITIZEN_COLUMNS.length; i++) {
      const k = CITIZEN_COLUMNS[i]![0];
      if (row[k] === undefined) continue;
      mask |= 1 << i;
      if (k !== 'openid' && k !== 'firstSeenAt' && update.has(k)) mask |= 1 << (i + CITIZEN_COLUMNS.length);
    }
    let g = groups.get(mask);
    if (!g) {
      const shape = citizenShape(mask);
      g = { ...shape, rows: [] };
      groups.set(mask, g);
    }
    g.rows.push({ row, keys });
  }
  return [...groups.values()];
}

/**
 * The conversation log: every message in and out, stored once, and each citizen's last
 * interaction (which decides whether a customer-service message can still reach them).
 *
 * Writes are group-committed: every message recorded while a flush is pending joins it, and one
 * transaction stores them all; each caller's promise resolves when its own row is committed. On
 * the callback's hot path this turns many small transactions into one per event-loop turn.
 */
export class ConversationLog {
  private pending: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private readonly postgres: boolean;
  /** PostgreSQL: the pool under TypeORM, and the names of the statements prepared on it. */
  private readonly pool: { query(q: { name?: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }> } | null;
  private readonly statements = new Map<string, string>();
  /** SQLite: the connection's own handle, and the statements prepared on it. */
  private readonly direct: SqliteDirect | null;
  private sqlite: { db: SqliteHandle; insert: SqliteStatement; reply: SqliteStatement; lookup: SqliteStatement; citizens: Map<string, SqliteStatement> } | null = null;

  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
  ) {
    this.postgres = ds.options.type === 'postgres';
    this.direct = this.postgres ? null : sqliteDirect(ds);
    this.pool = this.postgres ? ((ds.driver as unknown as { master: NonNullable<ConversationLog['pool']> }).master ?? null) : null;
    if (this.postgres && !this.pool) throw new Error('the conversation log needs the PostgreSQL pool of an initialised data source');
    if (!this.postgres && !this.direct) throw new Error('the conversation log needs a SQLite database opened by openDatabase()');
  }

  /** The log's clock. */
  now(): number {
    return this.clock.now();
  }

  /**
   * Store an inbound message and its passive reply together (one write per message), with the
   * citizen's change; `receivedAt` is when the message arrived (its handling came in between).
   * `{ fresh: false, reply }` when a passive reply was stored for this message before (another
   * attempt answered it first): that reply is the one to give. Without a reply (nothing to say at
   * once, or it goes out later), a message stored before says so, with the reply stored for it if
   * one was.
   */
  recordExchange(m: InboundMessage, msgKey: string, receivedAt: number, reply: { kind: string; content: string; payload: unknown; ref: string | null } | null): Promise<Recorded> {
    const out: NewMessage | null = reply && {
      openid: m.fromUser,
      direction: 'out',
      kind: reply.kind,
      content: reply.content,
      payload: reply.payload === undefined ? null : JSON.stringify(reply.payload),
      channel: 'passive',
      msgKey: replyKey(msgKey),
      ref: reply.ref,
      status: 'sent',
      createdAt: this.clock.now(),
    };
    return this.enqueue(inboundRow(m, msgKey, receivedAt), out, citizenChange(m, receivedAt));
  }

  /**
   * What the log holds of an inbound message: not stored (`fresh`), or stored — with the passive
   * reply stored for it, if one was. Read before a message is handled, so a retry the shared
   * store cannot vouch for (after a restart) is answered as it was the first time.
   */
  lookup(msgKey: string): Promise<Recorded> {
    // No write of this message can be pending: the attempt that handled it released its claim
    // only once its write was committed. Lookups made in the same event-loop turn are read
    // together (on SQLite in one read transaction: each one of its own costs file-lock calls).
    return new Promise<Recorded>((resolve, reject) => {
      this.lookups.push({ key: msgKey, resolve, reject });
      if (this.lookups.length === 1) setImmediate(() => void this.readLookups());
    });
  }

  private lookups: { key: string; resolve(r: Recorded): void; reject(err: unknown): void }[] = [];

  private async readLookups(): Promise<void> {
    const batch = this.lookups.splice(0);
    type Row = { msg_key: string; kind: string; content: string; payload: string | null };
    try {
      const keys = batch.flatMap((l) => [l.key, replyKey(l.key)]);
      let rows: Row[];
      if (this.direct) {
        rows = await this.direct.run((db) => {
          if (this.sqlite?.db !== db) this.prepare(db);
          const st = this.sqlite!.lookup;
          return db.transaction(() => batch.flatMap((l) => st.all(l.key, replyKey(l.key)) as Row[]))();
        });
      } else {
        rows = (await this.ds.query('SELECT msg_key, kind, content, payload FROM messages WHERE msg_key = ANY($1::text[])', [keys])) as Row[];
      }
      const found = new Map(rows.map((r) => [r.msg_key, r]));
      for (const l of batch) {
        if (!found.has(l.key)) {
          l.resolve(FRESH);
          continue;
        }
        const r = found.get(replyKey(l.key));
        l.resolve({ fresh: false, reply: r ? { kind: r.kind, content: r.content, payload: r.payload } : null });
      }
    } catch (err) {
      for (const l of batch) l.reject(err);
    }
  }

  /** Store an outbound message. */
  async recordOutbound(o: { openid: string; kind: string; content: string; payload?: unknown; channel: Channel; ref?: string | null; status?: string; msgKey?: string }): Promise<void> {
    await this.enqueue(
      {
        openid: o.openid,
        direction: 'out',
        kind: o.kind,
        content: o.content,
        payload: o.payload === undefined ? null : JSON.stringify(o.payload),
        channel: o.channel,
        msgKey: o.msgKey ?? null,
        ref: o.ref ?? null,
        status: o.status ?? 'sent',
        createdAt: this.clock.now(),
      },
      null,
      null,
    );
  }

  private enqueue(message: NewMessage, reply: NewMessage | null, citizen: CitizenChange | null): Promise<Recorded> {
    return new Promise<Recorded>((resolve, reject) => {
      this.pending.push({ message, reply, citizen, resolve, reject });
      if (!this.flushing) this.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
    });
  }

  /** Write everything pending (tests and shutdown call this too). */
  async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending.splice(0, BATCH_ROWS);
      try {
        await this.writeBatch(batch);
      } catch (err) {
        if (batch.length === 1) {
          batch[0]!.reject(err);
          continue;
        }
        // One row the database refuses must not fail the others: each is written on its own.
        for (const p of batch) {
          try {
            await this.writeBatch([p]);
          } catch (e) {
            p.reject(e);
          }
        }
      }
    }
    this.flushing = null;
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    const { inserted, replies } = this.direct ? await this.direct.run((db) => this.writeSqlite(db, batch)) : await this.writeOneStatement(batch);
    const answered = new Set<string>();
    for (const p of batch) {
      const key = p.message.msgKey;
      if (p.reply?.msgKey) {
        // Ours stands unless a reply was stored for this message before (or earlier in this batch).
        const k = p.reply.msgKey;
        const won = inserted.has(k) && !answered.has(k);
        answered.add(k);
        const before = won ? undefined : replies.get(k);
        p.resolve(before ? { fresh: false, reply: before } : FRESH);
      } else if (key === null || inserted.has(key)) p.resolve(FRESH);
      else p.resolve({ fresh: false, reply: replies.get(replyKey(key)) ?? null });
    }
  }

  /**
   * SQLite: the batch in one transaction of statements prepared once (a multi-row statement per
   * batch size was prepared again and again: the batch's size changes every time), run
   * synchronously on the connection.
   */
  private prepare(db: SqliteHandle): void {
    const names = MESSAGE_COLUMNS.map(([, c]) => c);
    this.sqlite = {
      db,
      insert: db.prepare(`INSERT INTO messages (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`),
      reply: db.prepare('SELECT kind, content, payload FROM messages WHERE msg_key = ?'),
      lookup: db.prepare('SELECT msg_key, kind, content, payload FROM messages WHERE msg_key IN (?, ?)'),
      citizens: new Map(),
    };
  }

  private writeSqlite(db: SqliteHandle, batch: Pending[]): Written {
    if (this.sqlite?.db !== db) this.prepare(db);
    const st = this.sqlite!;
    const stored = (key: string, replies: Map<string, StoredReply>) => {
      const r = st.reply.get(key) as StoredReply | undefined;
      if (r) replies.set(key, { kind: r.kind, content: r.content, payload: r.payload });
    };
    return db.transaction((): Written => {
      const inserted = new Set<string>();
      const replies = new Map<string, StoredReply>();
      for (const p of batch) {
        const m = p.message;
        const { changes } = insertMessage(st.insert, m);
        if (m.msgKey === null) continue;
        if (changes > 0) inserted.add(m.msgKey);
        else if (m.direction === 'in' && !p.reply) stored(replyKey(m.msgKey), replies); // stored before (retries only): its reply, if one was
        if (p.reply?.msgKey) {
          const r = p.reply;
          if (insertMessage(st.insert, r).changes > 0) inserted.add(r.msgKey!);
          else stored(r.msgKey!, replies); // another attempt's reply, stored first
        }
      }
      // Citizens: only for messages stored now, merged per citizen in arrival order.
      for (const g of citizenGroups(batch, (key) => inserted.has(key))) {
        let upsert = st.citizens.get(g.key);
        if (!upsert) {
          const names = g.cols.map(([, c]) => c);
          upsert = db.prepare(`INSERT INTO citizens (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')}) ON CONFLICT (openid) DO ${g.sets.length ? `UPDATE SET ${g.sets.join(', ')}` : 'NOTHING'}`);
          st.citizens.set(g.key, upsert);
        }
        for (const { row } of g.rows) upsert.run(...g.cols.map(([k]) => this.bind(row[k])));
      }
      return { inserted, replies };
    })();
  }

  /**
   * PostgreSQL: the whole batch in one statement (messages, then the citizens of the messages it
   * stored, as data-modifying CTEs), atomic on its own — one round trip instead of BEGIN, two
   * INSERTs and COMMIT. Each column travels as one array (`unnest`), so the statement's text
   * depends only on the citizens' shapes, not on the batch's size: it is prepared once per pooled
   * connection, and a batch binds a few arrays instead of ten parameters a row. It answers with
   * the keys it did not store (retries only, usually none), not with every key it stored. It is
   * sent on the pool itself: TypeORM's query runner around one statement cost ≈ 0.1 ms of CPU.
   */
  private async writeOneStatement(batch: Pending[]): Promise<Written> {
    const messages = batch.flatMap((x) => (x.reply ? [x.message, x.reply] : [x.message]));
    const params: unknown[] = MESSAGE_COLUMNS.map(([k]) => messages.map((m) => m[k] ?? null));
    const p = (v: unknown) => (params.push(v), `$${params.length}`);
    const cols = MESSAGE_COLUMNS.map(([, c]) => c).join(', ');
    const arrays = MESSAGE_COLUMNS.map(([, , type], i) => `$${i + 1}::${type}[]`).join(', ');
    const ctes = [
      `v AS (SELECT * FROM unnest(${arrays}) WITH ORDINALITY AS v(${cols}, ord))`,
      // In arrival order: a message's id comes before its reply's.
      `ins AS (INSERT INTO messages (${cols}) SELECT ${cols} FROM v ORDER BY ord ON CONFLICT DO NOTHING RETURNING msg_key)`,
    ];
    // Each citizen's change is applied only if one of its messages was stored now (decided in SQL).
    let i = 0;
    const shapes: string[] = [];
    for (const g of citizenGroups(batch, () => true)) {
      const names = g.cols.map(([, c]) => c).join(', ');
      const values = g.cols.map(([k, , type]) => `${p(g.rows.map(({ row }) => (row[k] === undefined ? null : row[k])))}::${type}[]`).join(', ');
      const owner = p(g.rows.flatMap(({ keys }, n) => keys.map(() => n + 1)));
      const key = p(g.rows.flatMap(({ keys }) => keys));
      ctes.push(
        `c${i++} AS (INSERT INTO citizens (${names}) SELECT ${names} FROM unnest(${values}) WITH ORDINALITY AS c(${names}, ord) ` +
          `WHERE EXISTS (SELECT 1 FROM unnest(${owner}::int[], ${key}::text[]) AS k(ord, msg_key) JOIN ins ON ins.msg_key = k.msg_key WHERE k.ord = c.ord) ` +
          `ON CONFLICT (openid) DO ${g.sets.length ? `UPDATE SET ${g.sets.join(', ')}` : 'NOTHING'})`,
      );
      shapes.push(g.key);
    }
    const text = `WITH ${ctes.join(', ')} SELECT v.msg_key FROM v WHERE v.msg_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.msg_key = v.msg_key)`;
    const shape = shapes.join(';');
    let name = this.statements.get(shape);
    // Named by its text: a pooled connection refuses a name it has prepared for another text, which
    // a counter per log would give when two logs share a pool.
    if (name === undefined && this.statements.size < MAX_NAMED_STATEMENTS) this.statements.set(shape, (name = `weiban_log_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`));
    const { rows } = (await this.pool!.query(name === undefined ? { text, values: params } : { name, text, values: params })) as { rows: { msg_key: string }[] };
    const notStored = new Set(rows.map((r) => r.msg_key));
    const inserted = new Set<string>();
    for (const m of messages) if (m.msgKey !== null && !notStored.has(m.msgKey)) inserted.add(m.msgKey);
    const replies = new Map<string, StoredReply>();
    // Stored before (retries only): the replies stored for them; a reply of ours not stored: the one stored first.
    const inBatch = new Set<string>();
    const again = batch.flatMap((x) => {
      if (x.reply?.msgKey) {
        const k = x.reply.msgKey;
        const first = !inBatch.has(k);
        inBatch.add(k);
        return inserted.has(k) && first ? [] : [k];
      }
      return x.message.direction === 'in' && x.message.msgKey !== null && !inserted.has(x.message.msgKey) ? [replyKey(x.message.msgKey)] : [];
    });
    if (again.length) {
      // Once stored, a reply never changes.
      const rs = (await this.ds.query(`SELECT msg_key, kind, content, payload FROM messages WHERE msg_key = ANY($1::text[])`, [again])) as (StoredReply & { msg_key: string })[];
      for (const r of rs) replies.set(r.msg_key, { kind: r.kind, content: r.content, payload: r.payload });
    }
    return { inserted, replies };
  }

  /** better-sqlite3 binds no booleans. */
  private bind(v: unknown): unknown {
    if (typeof v === 'boolean' && !this.postgres) return v ? 1 : 0;
    return v === undefined ? null : v;
  }

  async setStatus(id: number, status: string): Promise<void> {
    await this.ds.getRepository(MessageEntity).update({ id }, { status });
  }

  async findByKey(msgKey: string): Promise<MessageRow | null> {
    return this.ds.getRepository(MessageEntity).findOne({ where: { msgKey } });
  }

  async setAudience(openid: string, audience: string): Promise<void> {
    await this.flush(); // the citizen's row may still be pending
    const repo = this.ds.getRepository(CitizenEntity);
    const now = this.clock.now();
    const res = await repo.update({ openid }, { audience, updatedAt: now });
    if (!res.affected) {
      // A citizen's first message is stored with its reply, after it is answered: no row yet.
      await repo.createQueryBuilder().insert().values({ openid, subscribed: true, firstSeenAt: now, audience, updatedAt: now }).orIgnore().execute();
      await repo.update({ openid }, { audience, updatedAt: now });
    }
  }

  async citizen(openid: string): Promise<CitizenRow | null> {
    return this.ds.getRepository(CitizenEntity).findOne({ where: { openid } });
  }

  /**
   * Whether a customer-service message may still reach the citizen: within 48 hours of their last
   * message, or within a minute of their last menu tap, scan or follow (WeChat's short event window).
   */
  async withinServiceWindow(openid: string): Promise<boolean> {
    const c = await this.citizen(openid);
    return !!c?.subscribed && serviceWindowLeft(c, this.clock.now()) !== null;
  }

  /** A citizen's conversation, oldest first. */
  async history(openid: string, limit = 100): Promise<MessageRow[]> {
    const rows = await this.ds.getRepository(MessageEntity).find({ where: { openid }, order: { id: 'DESC' }, take: limit });
    return rows.reverse();
  }
}

/** A message row into the prepared INSERT (columns in MESSAGE_COLUMNS' order; no booleans to convert). */
function insertMessage(insert: SqliteStatement, m: NewMessage): { changes: number } {
  return insert.run(m.openid, m.direction, m.kind, m.content, m.payload ?? null, m.channel, m.msgKey ?? null, m.ref ?? null, m.status ?? null, m.createdAt);
}

/** The log's row of an inbound message. */
function inboundRow(m: InboundMessage, msgKey: string, at: number): NewMessage {
  return { openid: m.fromUser, direction: 'in', kind: m.kind, content: describeInbound(m), payload: JSON.stringify(m), channel: 'callback', msgKey, ref: null, status: null, createdAt: at };
}

/** What a message says about the citizen who sent it. */
function citizenChange(m: InboundMessage, now: number): CitizenChange {
  const c: CitizenChange = { openid: m.fromUser, firstSeenAt: now, updatedAt: now };
  const interactive = m.kind !== 'unsubscribe' && m.kind !== 'template_send_finish' && !m.kind.startsWith('subscribe_msg') && m.kind !== 'location_report' && m.kind !== 'unknown';
  if (interactive) {
    c.lastInteractionAt = now;
    c.lastInteractionKind = isEvent(m) ? 'event' : 'message';
    if (!isEvent(m)) c.lastMessageAt = now;
  }
  if (m.kind === 'subscribe') Object.assign(c, { subscribed: true, subscribedAt: now, scene: m.scene ?? null });
  else if (m.kind === 'unsubscribe') Object.assign(c, { subscribed: false, unsubscribedAt: now });
  else if (m.kind !== 'template_send_finish') c.subscribed = true; // anyone who can message the account follows it
  return c;
}



/** WeChat's one-minute window after an event (menu tap, scan, follow). */
export const EVENT_WINDOW_MS = 60_000;

/** How long the customer-service window stays open (ms), or null when it is shut. */
export function serviceWindowLeft(c: Pick<CitizenRow, 'lastMessageAt' | 'lastInteractionAt' | 'lastInteractionKind'>, now: number): number | null {
  const fromMessage = c.lastMessageAt !== null ? SERVICE_WINDOW_MS - (now - c.lastMessageAt) : 0;
  const fromEvent = c.lastInteractionKind === 'event' && c.lastInteractionAt !== null ? EVENT_WINDOW_MS - (now - c.lastInteractionAt) : 0;
  const left = Math.max(fromMessage, fromEvent);
  return left > 0 ? left : null;
}
