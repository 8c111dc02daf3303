import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type DataSource, type EntityManager } from 'typeorm';
import type { Clock } from '../../platform/clock.ts';
import type { Kv } from '../../platform/kv/index.ts';
import type { Logger } from '../../platform/log.ts';
import { maskIdCard, maskPersonal } from '../../platform/pii.ts';
import type { BindingField, BindingKind, BindingsConfig } from '../../profile/bindings.ts';
import { BindingEntity, BindingRecordEntity, type BindingRow } from './entities.ts';
import type { HttpVerifier } from './verify.ts';

/** What a citizen typed, as compared: spaces, dots and dashes removed, letters upper-cased, full-width folded. */
export function normalizeValue(v: string): string {
  return v
    .normalize('NFKC')
    .replace(/[\s·•.\-_]+/g, '')
    .toUpperCase();
}

/** How a binding's key is shown everywhere (pages, chat, panel, log): masked by its kind. */
export function maskKey(field: BindingField, value: string): string {
  return field.personal ? maskPersonal(field.personal, value) : maskIdCard(value);
}

export function keyField(kind: BindingKind): BindingField {
  return kind.fields.find((f) => f.key)!;
}

/** sha256 of kind:key: finds an event's binding without storing the key twice in the clear. */
export function targetHash(kind: string, key: string): string {
  return createHash('sha256').update(`${kind}:${key}`).digest('hex');
}

function hashSecret(salt: string, value: string): string {
  return createHash('sha256').update(`${salt}:${value}`).digest('hex');
}

export function sealSecret(value: string): string {
  const salt = randomBytes(12).toString('base64url');
  return `${salt}:${hashSecret(salt, value)}`;
}

function secretMatches(sealed: string, value: string): boolean {
  const [salt, hash] = sealed.split(':');
  if (!salt || !hash) return false;
  const a = Buffer.from(hash, 'hex');
  const b = Buffer.from(hashSecret(salt, value), 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A binding refused: the sentence for the citizen, and the field it concerns, if one. */
export class BindingError extends Error {
  constructor(
    message: string,
    readonly code: 'invalid' | 'consent' | 'limit' | 'mismatch' | 'taken' | 'locked' | 'unavailable' | 'unknown_kind',
    readonly field?: string,
  ) {
    super(message);
    this.name = 'BindingError';
  }
}

export interface BindingsDeps {
  db: DataSource;
  kv: Kv;
  clock: Clock;
  log: Logger;
  config: BindingsConfig;
  /** The signed HTTP verifiers of kinds verified by the department's system, by kind id. */
  verifiers: Map<string, HttpVerifier>;
}

export interface ImportResult {
  imported: number;
  /** Lines refused, each with its line number and why (no values: they may be personal). */
  errors: { line: number; message: string }[];
}

/**
 * Binding: a citizen proves they hold a card or vehicle the department knows (its records, or its
 * system's answer) and may then be reached about it. One command for chat, page, staff and API.
 */
export class Bindings {
  constructor(private readonly d: BindingsDeps) {}

  get kinds(): BindingKind[] {
    return this.d.config.kinds;
  }

  kind(id: string): BindingKind | undefined {
    return this.d.config.kinds.find((k) => k.id === id);
  }

  /** Check each field against its pattern; returns the normalised values. */
  validate(kind: BindingKind, input: Record<string, string | undefined>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of kind.fields) {
      const raw = String(input[f.id] ?? '');
      const v = normalizeValue(raw);
      if (!v) throw new BindingError(`请填写${f.label}。`, 'invalid', f.id);
      if (v.length > 64 || !new RegExp(f.pattern, 'u').test(v)) throw new BindingError(`${f.label}的格式不对：${f.hint}`, 'invalid', f.id);
      out[f.id] = v;
    }
    return out;
  }

  private lockKeys(openid: string, kind: string, key: string) {
    const h = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 24);
    return { citizen: `bind:wrong:c:${kind}:${h(openid)}`, key: `bind:wrong:k:${kind}:${h(key)}` };
  }

  /** Minutes left of a lock on this citizen's guesses for this kind (0: none). */
  async lockedMinutes(openid: string, kind: string, key = ''): Promise<number> {
    const c = this.d.config;
    const keys = this.lockKeys(openid, kind, key);
    const [byCitizen, byKey] = await Promise.all([this.d.kv.get(keys.citizen), key ? this.d.kv.get(keys.key) : null]);
    const over = Number(byCitizen ?? 0) >= c.max_wrong_per_citizen ? keys.citizen : Number(byKey ?? 0) >= c.max_wrong_per_key ? keys.key : null;
    if (!over) return 0;
    const ttl = await this.d.kv.ttl(over);
    return Math.max(1, Math.ceil((ttl ?? c.lock_minutes * 60_000) / 60_000));
  }

  private async wrongGuess(openid: string, kind: string, key: string): Promise<number> {
    const keys = this.lockKeys(openid, kind, key);
    const ttl = this.d.config.lock_minutes * 60_000;
    const [n] = await Promise.all([this.d.kv.incr(keys.citizen, 1, ttl), this.d.kv.incr(keys.key, 1, ttl)]);
    return Math.max(0, this.d.config.max_wrong_per_citizen - n);
  }

  async list(openid: string): Promise<BindingRow[]> {
    return this.d.db.getRepository(BindingEntity).find({ where: { openid, status: 'bound' }, order: { boundAt: 'ASC' } });
  }

  /** The citizen bound to a kind's key now, if any. */
  async holder(kind: string, key: string, manager?: EntityManager): Promise<BindingRow | null> {
    const m = manager ?? this.d.db.manager;
    return m.getRepository(BindingEntity).findOne({ where: { activeKey: `${kind}:${normalizeValue(key)}` } });
  }

  /**
   * Bind: consent, the fields' formats, the citizen's limit, then verification (a wrong answer
   * counts against the citizen and against the key, so nobody tries passwords from many accounts),
   * then the key must not be bound to someone else.
   */
  async bind(openid: string, kindId: string, input: Record<string, string | undefined>, consent: boolean): Promise<{ binding: BindingRow; already: boolean }> {
    const kind = this.kind(kindId);
    if (!kind) throw new BindingError('没有这种绑定。', 'unknown_kind');
    if (!consent) throw new BindingError(`请先阅读并同意绑定说明。`, 'consent');
    const values = this.validate(kind, input);
    const kf = keyField(kind);
    const key = values[kf.id]!;
    const locked = await this.lockedMinutes(openid, kind.id, key);
    if (locked) throw new BindingError(`输错次数太多，为保护您的信息，请 ${locked} 分钟后再试。`, 'locked');

    const mine = await this.list(openid);
    const same = mine.find((b) => b.kind === kind.id && b.keyValue === key);
    const ofKind = mine.filter((b) => b.kind === kind.id);
    if (!same && ofKind.length >= kind.max_per_citizen) throw new BindingError(`每人最多绑定 ${kind.max_per_citizen} 个${kind.name}，请先解绑不用的。`, 'limit');

    const ok = await this.verify(kind, values);
    if (!ok) {
      const left = await this.wrongGuess(openid, kind.id, key);
      this.d.log.info({ kind: kind.id, event: 'bind-mismatch' }, 'binding refused: details do not match the records');
      throw new BindingError(`信息核对不上，请检查${kind.fields.map((f) => f.label).join('和')}。${left > 0 ? `还可以再试 ${left} 次。` : ''}`, 'mismatch');
    }
    if (same) return { binding: same, already: true };

    const now = this.d.clock.now();
    const row: Omit<BindingRow, 'id'> = { openid, kind: kind.id, keyValue: key, display: maskKey(kf, key), status: 'bound', boundAt: now, unboundAt: null, activeKey: `${kind.id}:${key}` };
    try {
      const saved = await this.d.db.getRepository(BindingEntity).save(row);
      this.d.log.info({ kind: kind.id, binding: saved.id, event: 'bound' }, 'bound');
      return { binding: saved as BindingRow, already: false };
    } catch (err) {
      const holder = await this.holder(kind.id, key);
      if (holder && holder.openid !== openid) {
        this.d.log.warn({ kind: kind.id, binding: holder.id, event: 'bind-taken' }, 'binding refused: already bound by another citizen');
        throw new BindingError(`这个${kind.name}已经绑定在另一个微信上。如果不是您本人绑定的，请带上证件到服务窗口办理解绑。`, 'taken');
      }
      if (holder) return { binding: holder, already: true };
      throw err;
    }
  }

  private async verify(kind: BindingKind, values: Record<string, string>): Promise<boolean> {
    if (kind.verify.by === 'http') {
      const v = this.d.verifiers.get(kind.id);
      if (!v) throw new BindingError('核验系统没有配置，请稍后再试。', 'unavailable');
      const r = await v.verify(kind.id, values);
      if (r === 'unavailable') throw new BindingError(`${kind.name}核验系统暂时联系不上，请过几分钟再试，您的信息没有保存。`, 'unavailable');
      return r === 'ok';
    }
    const kf = keyField(kind);
    const rec = await this.d.db.getRepository(BindingRecordEntity).findOne({ where: { kind: kind.id, keyValue: values[kf.id]! } });
    if (!rec) return false;
    const fields = JSON.parse(rec.fields) as Record<string, string>;
    const secrets = JSON.parse(rec.secrets) as Record<string, string>;
    let ok = true;
    for (const f of kind.fields) {
      if (f.key) continue;
      // Every field is compared (no early exit), so the time taken says nothing about which was wrong.
      const match = f.secret ? secretMatches(secrets[f.id] ?? '', values[f.id]!) : (fields[f.id] ?? '') === values[f.id];
      ok = ok && match;
    }
    return ok;
  }

  /** Unbind: by the citizen (their own binding), or by staff at the counter (`openid` null; audited by the caller). */
  async unbind(openid: string | null, bindingId: number): Promise<BindingRow | null> {
    const repo = this.d.db.getRepository(BindingEntity);
    const b = await repo.findOne({ where: { id: bindingId, status: 'bound', ...(openid === null ? {} : { openid }) } });
    if (!b) return null;
    const now = this.d.clock.now();
    const res = await repo.update({ id: b.id, status: 'bound' }, { status: 'unbound', unboundAt: now, activeKey: null });
    if (!res.affected) return null;
    this.d.log.info({ kind: b.kind, binding: b.id, event: 'unbound', by: openid === null ? 'staff' : 'citizen' }, 'unbound');
    return { ...b, status: 'unbound', unboundAt: now, activeKey: null };
  }

  /**
   * Import records of a kind (from a department's system): each row is checked against the kind's
   * fields; a good row replaces the record with the same key; a bad one is reported by line number
   * and the rest still go in. The whole batch is one transaction.
   */
  async importRecords(system: string, kindId: string, rows: { line: number; values: Record<string, string> }[]): Promise<ImportResult> {
    const kind = this.kind(kindId);
    if (!kind) throw new BindingError('unknown binding kind', 'unknown_kind');
    if (kind.verify.by !== 'records') throw new BindingError(`kind ${kind.id} is verified by the department's system, not by imported records`, 'invalid');
    const errors: ImportResult['errors'] = [];
    const good: Omit<import('./entities.ts').BindingRecordRow, 'id'>[] = [];
    const now = this.d.clock.now();
    const kf = keyField(kind);
    for (const { line, values } of rows) {
      try {
        const v = this.validate(kind, values);
        const fields: Record<string, string> = {};
        const secrets: Record<string, string> = {};
        for (const f of kind.fields) {
          if (f.key) continue;
          if (f.secret) secrets[f.id] = sealSecret(v[f.id]!);
          else fields[f.id] = v[f.id]!;
        }
        good.push({ kind: kind.id, keyValue: v[kf.id]!, fields: JSON.stringify(fields), secrets: JSON.stringify(secrets), system, importedAt: now });
      } catch (err) {
        if (!(err instanceof BindingError)) throw err;
        errors.push({ line, message: err.field ? `field ${err.field}: does not match its pattern or is empty` : err.message });
      }
    }
    await this.d.db.transaction(async (tx) => {
      const repo = tx.getRepository(BindingRecordEntity);
      for (const g of good) {
        const prev = await repo.findOne({ where: { kind: g.kind, keyValue: g.keyValue } });
        if (prev) await repo.update({ id: prev.id }, { fields: g.fields, secrets: g.secrets, system: g.system, importedAt: g.importedAt });
        else await repo.insert(g);
      }
    });
    this.d.log.info({ system, kind: kind.id, imported: good.length, refused: errors.length }, 'records imported');
    return { imported: good.length, errors };
  }

}
