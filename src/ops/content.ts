import { createHash, randomBytes } from 'node:crypto';
import { EntitySchema, type DataSource } from 'typeorm';
import type { Audit } from '../admin/audit.ts';
import { faqText, guideText } from '../chat/format.ts';
import type { Clock } from '../platform/clock.ts';
import { epochMs } from '../platform/db.ts';
import type { Logger } from '../platform/log.ts';
import type { Faq, Service } from '../profile/catalogue.ts';
import type { NavNode } from '../profile/conversation.ts';
import type { Profile } from '../profile/schema.ts';
import { parseChinaTime } from '../profile/validity.ts';
import type { StaffActor } from '../policies/index.ts';

/**
 * Content staff edit in the panel: notices and policy interpretations (the text answers under the
 * 政务公开 branch of the navigation), FAQ answers and the texts of guides. The profile is the
 * source of the structure and the starting text; every edit is a new version in `content_edits`
 * (audited, with who and when), the newest one is laid over the profile's item in memory — the
 * same objects chat, pages and search read — and a rollback is a new version that copies an older
 * one (version 0 is the profile's own text). Instances pick up each other's edits by polling the
 * newest version; a restart or a new profile lays the edits over the fresh profile again.
 *
 * Staff may also publish a NEW notice or policy interpretation into one of the 政务公开 lists (its
 * first version is a `create`, naming the list) and retire one (a `retire` version: it leaves the
 * list, the search and every lookup, and a rollback to an earlier version brings it back). Both
 * are versions like any edit: audited, on every instance within a poll, laid over a restart.
 */

export type ContentKind = 'notice' | 'faq' | 'guide';
export const CONTENT_KINDS: ContentKind[] = ['notice', 'faq', 'guide'];
export const KIND_NAMES: Record<ContentKind, string> = { notice: '公告与政策解读', faq: '问答', guide: '办事指南' };

export interface FieldSpec {
  name: string;
  label: string;
  max: number;
  multiline?: boolean;
  /** One entry per line (材料, 条件). */
  list?: boolean;
  optional?: boolean;
}

export const FIELDS: Record<ContentKind, FieldSpec[]> = {
  notice: [
    { name: 'title', label: '标题', max: 40 },
    { name: 'text', label: '正文', max: 4000, multiline: true },
  ],
  faq: [
    { name: 'question', label: '问题', max: 100 },
    { name: 'answer', label: '答复', max: 1500, multiline: true },
  ],
  guide: [
    { name: 'summary', label: '概述', max: 300, multiline: true },
    { name: 'conditions', label: '办理条件（每行一条）', max: 200, multiline: true, list: true, optional: true },
    { name: 'materials', label: '申请材料（每行一条）', max: 200, multiline: true, list: true },
    { name: 'fee', label: '收费', max: 100 },
    { name: 'where', label: '办理地点', max: 200 },
    { name: 'when', label: '办理时间', max: 200 },
    { name: 'time_limit', label: '承诺时限', max: 100 },
  ],
};

/** Guides carry no validity window of their own here (that is the service item's, in the profile). */
export const HAS_VALIDITY: Record<ContentKind, boolean> = { notice: true, faq: true, guide: false };

export interface ContentEditRow {
  id: number;
  kind: ContentKind;
  itemId: string;
  version: number;
  action: 'edit' | 'rollback' | 'create' | 'retire';
  /**
   * JSON: { values, base, parent, audience, retired } — base fingerprints the profile text the edit
   * was made over; parent names the list a notice made in the panel sits in (with its audience);
   * retired: taken down. null: the profile's own text.
   */
  fields: string | null;
  validFrom: string | null;
  validUntil: string | null;
  staffId: number | null;
  staffName: string;
  note: string | null;
  createdAt: number;
}

export const ContentEditEntity = new EntitySchema<ContentEditRow>({
  name: 'ContentEdit',
  tableName: 'content_edits',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    kind: { type: 'varchar', length: 16 },
    itemId: { name: 'item_id', type: 'varchar', length: 64 },
    version: { type: 'integer' },
    action: { type: 'varchar', length: 16 },
    fields: { type: 'text', nullable: true },
    validFrom: { name: 'valid_from', type: 'varchar', length: 16, nullable: true },
    validUntil: { name: 'valid_until', type: 'varchar', length: 16, nullable: true },
    staffId: { name: 'staff_id', type: 'integer', nullable: true },
    staffName: { name: 'staff_name', type: 'varchar', length: 64 },
    note: { type: 'varchar', length: 200, nullable: true },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
  },
  indices: [{ name: 'ux_content_edits_version', columns: ['kind', 'itemId', 'version'], unique: true }],
});

type Values = Record<string, string | string[]>;

interface State {
  values: Values;
  valid_from: string | undefined;
  valid_until: string | undefined;
  /** A notice made in the panel: who it is shown to (empty: everyone). */
  audience?: string[] | undefined;
}

/** What a version's `fields` hold besides the values. */
interface Stored {
  values: Values;
  base?: string;
  parent?: string;
  audience?: string[];
  retired?: boolean;
}

/** A list under 政务公开 a new notice or policy interpretation can be published in. */
export interface ContentList {
  id: string;
  /** Where it sits: 政策解读和通知公告 › 通知公告 */
  place: string;
  /** Items shown in it now (the navigation shows at most 9). */
  count: number;
}

/** The navigation shows a list's choices as one digit each. */
export const MAX_LIST_ITEMS = 9;

export interface ContentItem {
  kind: ContentKind;
  id: string;
  /** Where it sits (a notice's branch, a guide's service name). */
  place: string;
  title: string;
  state: State;
  original: State;
  version: number;
  editedBy: string | null;
  editedAt: number | null;
  /** The profile's text of this item changed since the current edit was made over it. */
  profileChanged: boolean;
  /** Made in the panel (not in the profile): it has no version 0. */
  created: boolean;
  /** Taken down: not in the navigation, the search or any lookup. */
  retired: boolean;
}

export class ContentError extends Error {
  constructor(
    readonly code: 'not_found' | 'invalid' | 'conflict' | 'full',
    message: string,
  ) {
    super(message);
  }
}

interface Target {
  kind: ContentKind;
  id: string;
  place: string;
  read(): State;
  write(s: State): void;
  /** A notice's navigation node. */
  node?: NavNode;
  /** Made in the panel, in this list. */
  parent?: string;
}

interface Branch {
  node: NavNode;
  place: string;
  /** The profile's own choices, in its order. */
  original: NavNode[];
}

const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?$/;

export class ContentStore {
  private readonly targets = new Map<string, Target>();
  private readonly originals = new Map<string, State>();
  private readonly current = new Map<string, ContentEditRow>();
  /** The lists under 政务公开, by node id. */
  private readonly branches = new Map<string, Branch>();
  /** Items made in the panel: their keys, oldest first. */
  private readonly made: string[] = [];
  private readonly retired = new Set<string>();
  private seen = -1;

  constructor(
    private readonly d: { db: DataSource; profile: Profile; clock: Clock; audit: Audit; log: Logger; changed?: () => void },
  ) {
    for (const f of d.profile.faq) this.add(faqTarget(f));
    for (const s of d.profile.services) this.add(guideTarget(s));
    const walk = (nodes: NavNode[], place: string, open: boolean) => {
      for (const n of nodes) {
        const inOpen = open || n.function === '政务公开';
        const here = place ? `${place} › ${n.title}` : n.title;
        if (n.children && inOpen) this.branches.set(n.id, { node: n, place: here, original: [...n.children] });
        if (n.children) walk(n.children, here, inOpen);
        else if (inOpen && n.reply?.text !== undefined) this.add(noticeTarget(n, place));
      }
    };
    walk(d.profile.navigation, '', false);
  }

  private add(t: Target): void {
    const key = `${t.kind}:${t.id}`;
    this.targets.set(key, t);
    this.originals.set(key, structuredClone(t.read()));
  }

  /** Read every item's newest version and lay it over the profile (at start, and when another instance edited). */
  async load(): Promise<void> {
    const rows = await this.d.db.getRepository(ContentEditEntity).find({ order: { id: 'ASC' } });
    this.current.clear();
    // Items made in the panel are laid over afresh from their versions, like every edit.
    for (const key of this.made.splice(0)) {
      this.targets.delete(key);
      this.originals.delete(key);
    }
    this.retired.clear();
    let max = 0;
    for (const r of rows) {
      max = Math.max(max, r.id);
      const key = `${r.kind}:${r.itemId}`;
      const had = this.current.get(key);
      if (!had || had.version < r.version) this.current.set(key, r);
      if (r.action === 'create' && r.version === 1 && !this.targets.has(key)) this.addMade(r);
    }
    for (const [key, t] of this.targets) {
      const row = this.current.get(key);
      t.write(row ? this.stateOf(row, key) : structuredClone(this.originals.get(key)!));
      if (row && stored(row)?.retired) this.retired.add(key);
    }
    for (const key of this.current.keys()) if (!this.targets.has(key)) this.d.log.warn({ item: key }, 'a content edit names an item the profile no longer has; it is kept but not shown');
    this.relist();
    this.seen = max;
    this.d.changed?.();
  }

  /** A notice made in the panel: a navigation leaf of its own, placed in its list by relist(). */
  private addMade(r: ContentEditRow): void {
    const s = stored(r);
    const branch = s?.parent ? this.branches.get(s.parent) : undefined;
    if (!s || !branch) return; // its list left the profile: kept, not shown (load() warns)
    const node: NavNode = { id: r.itemId, title: String(s.values.title), audience: [], reply: { text: String(s.values.text) } };
    const key = `${r.kind}:${r.itemId}`;
    const t = { ...noticeTarget(node, branch.place), node, parent: s.parent! };
    this.targets.set(key, t);
    this.originals.set(key, { values: s.values, valid_from: r.validFrom ?? undefined, valid_until: r.validUntil ?? undefined, audience: s.audience ?? [] });
    this.made.push(key);
  }

  /** Each 政务公开 list: the newest notices made in the panel first, then the profile's, without those retired. */
  private relist(): void {
    for (const [id, b] of this.branches) {
      const made = this.made.filter((k) => this.targets.get(k)!.parent === id && !this.retired.has(k)).reverse().map((k) => this.targets.get(k)!.node!);
      const kept = b.original.filter((n) => !this.retired.has(`notice:${n.id}`));
      b.node.children!.splice(0, b.node.children!.length, ...made, ...kept);
    }
  }

  /** Pick up edits made elsewhere: true when something changed. */
  async refresh(): Promise<boolean> {
    const r = await this.d.db.getRepository(ContentEditEntity).createQueryBuilder('e').select('MAX(e.id)', 'max').getRawOne<{ max: number | string | null }>();
    const max = r?.max === null || r?.max === undefined ? 0 : Number(r.max);
    if (max === this.seen) return false;
    await this.load();
    return true;
  }

  private stateOf(row: ContentEditRow, key: string): State {
    if (row.fields === null) return structuredClone(this.originals.get(key)!);
    const parsed = stored(row)!;
    return { values: parsed.values, valid_from: row.validFrom ?? undefined, valid_until: row.validUntil ?? undefined, ...(parsed.audience ? { audience: parsed.audience } : {}) };
  }

  private fingerprint(key: string): string {
    // The text and validity only (not the audience, which edits leave alone), as edits were always fingerprinted.
    const { audience: _audience, ...o } = this.originals.get(key)!;
    return createHash('sha256').update(JSON.stringify(o)).digest('hex').slice(0, 16);
  }

  items(kind: ContentKind): ContentItem[] {
    return [...this.targets.values()].filter((t) => t.kind === kind).map((t) => this.item(t));
  }

  get(kind: ContentKind, id: string): ContentItem {
    const t = this.targets.get(`${kind}:${id}`);
    if (!t) throw new ContentError('not_found', '没有这条内容');
    return this.item(t);
  }

  private item(t: Target): ContentItem {
    const key = `${t.kind}:${t.id}`;
    const row = this.current.get(key);
    const state = t.read();
    const base = row?.fields ? (JSON.parse(row.fields) as { base?: string }).base : undefined;
    return {
      kind: t.kind,
      id: t.id,
      place: t.place,
      title: t.kind === 'guide' ? t.place : String(state.values[t.kind === 'faq' ? 'question' : 'title'] ?? t.id),
      state,
      original: this.originals.get(key)!,
      version: row?.version ?? 0,
      editedBy: row?.staffName ?? null,
      editedAt: row?.createdAt ?? null,
      profileChanged: base !== undefined && base !== this.fingerprint(key),
      created: t.parent !== undefined,
      retired: this.retired.has(key),
    };
  }

  /** The 政务公开 lists a new notice or policy interpretation can go in. */
  lists(): ContentList[] {
    return [...this.branches.entries()].map(([id, b]) => ({ id, place: b.place, count: b.node.children!.filter((n) => n.reply?.text !== undefined || n.children).length }));
  }

  /** The audiences a new notice can be limited to (the profile's). */
  audiences(): { id: string; name: string }[] {
    return (this.d.profile.audiences?.options ?? []).map((a) => ({ id: a.id, name: a.name }));
  }

  /** Check a form's values as the profile would: required, lengths, dates. */
  validate(kind: ContentKind, input: Record<string, string>): State {
    const values: Values = {};
    for (const f of FIELDS[kind]) {
      const raw = (input[f.name] ?? '').replace(/\r\n?/g, '\n');
      if (f.list) {
        const lines = raw.split('\n').map((l) => l.trim()).filter(Boolean);
        if (!lines.length && !f.optional) throw new ContentError('invalid', `「${f.label}」至少要有一条。`);
        const long = lines.find((l) => l.length > f.max);
        if (long) throw new ContentError('invalid', `「${f.label}」每条不超过 ${f.max} 字：「${long.slice(0, 20)}…」太长了。`);
        values[f.name] = lines;
      } else {
        const v = raw.trim();
        if (!v) throw new ContentError('invalid', `「${f.label}」不能为空。`);
        if (v.length > f.max) throw new ContentError('invalid', `「${f.label}」不超过 ${f.max} 字（现在 ${v.length} 字）。`);
        values[f.name] = v;
      }
    }
    const date = (name: 'valid_from' | 'valid_until', label: string): string | undefined => {
      if (!HAS_VALIDITY[kind]) return undefined;
      const v = (input[name] ?? '').trim().replace(' ', 'T');
      if (!v) return undefined;
      if (!DATE.test(v) || Number.isNaN(parseChinaTime(v, false))) throw new ContentError('invalid', `「${label}」要写成 2026-12-31 或 2026-12-31T18:00（北京时间）。`);
      return v;
    };
    const from = date('valid_from', '生效时间');
    const until = date('valid_until', '失效时间');
    if (from && until && parseChinaTime(until, true) <= parseChinaTime(from, false)) throw new ContentError('invalid', '失效时间要晚于生效时间。');
    return { values, valid_from: from, valid_until: until };
  }

  /** A new notice's audience from the form (a ticked `audience-<id>` per audience; none: everyone). */
  audienceOf(input: Record<string, string>): string[] {
    return this.audiences().filter((a) => input[`audience-${a.id}`] === '1').map((a) => a.id);
  }

  /** What a citizen would read in chat, before saving (id null: a notice not made yet). */
  preview(kind: ContentKind, id: string | null, s: State): string {
    if (id === null && kind === 'notice') return String(s.values.text);
    const t = this.targets.get(`${kind}:${id}`);
    if (!t) throw new ContentError('not_found', '没有这条内容');
    const v = s.values;
    if (kind === 'faq') return faqText({ question: String(v.question), answer: String(v.answer) } as Faq);
    if (kind === 'notice') return String(v.text);
    const service = this.d.profile.services.find((x) => x.id === id)!;
    return guideText({ ...service, guide: { ...service.guide, ...(v as object) } } as Service);
  }

  /** Save a new version (based on `baseVersion`, so two editors do not overwrite each other). */
  async edit(actor: StaffActor, kind: ContentKind, id: string, input: Record<string, string>, baseVersion: number, note: string | null, ip?: string): Promise<ContentItem> {
    const key = `${kind}:${id}`;
    if (!this.targets.has(key)) throw new ContentError('not_found', '没有这条内容');
    const s = this.validate(kind, input);
    const t = this.targets.get(key)!;
    // A notice made in the panel keeps its list and takes its audience from the form; the profile's keep theirs.
    const fields: Stored = t.parent ? { values: s.values, parent: t.parent, audience: this.audienceOf(input) } : { values: s.values, base: this.fingerprint(key) };
    // An edit of a notice taken down stays down (bringing it back is a rollback).
    if (this.retired.has(key)) fields.retired = true;
    return this.save(actor, kind, id, { fields: JSON.stringify(fields), validFrom: s.valid_from ?? null, validUntil: s.valid_until ?? null, action: 'edit' }, baseVersion, note, ip);
  }

  /**
   * Publish a new notice or policy interpretation in one of the 政务公开 lists: live at once in the
   * list, the search and on every instance (version 1 of a new item).
   */
  async create(actor: StaffActor, list: string, input: Record<string, string>, note: string | null, ip?: string): Promise<ContentItem> {
    await this.refresh();
    const branch = this.branches.get(list);
    if (!branch) throw new ContentError('invalid', '请选择要发布到哪个栏目。');
    const s = this.validate('notice', input);
    const audience = this.audienceOf(input);
    if (branch.node.children!.length >= MAX_LIST_ITEMS) throw new ContentError('full', `「${branch.place}」已经有 ${MAX_LIST_ITEMS} 项了（对话里每个列表最多 ${MAX_LIST_ITEMS} 项），请先撤下一条再发布。`);
    const now = this.d.clock.now();
    const id = `new-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
    const fields: Stored = { values: s.values, parent: list, audience };
    return this.save(actor, 'notice', id, { fields: JSON.stringify(fields), validFrom: s.valid_from ?? null, validUntil: s.valid_until ?? null, action: 'create' }, 0, note, ip, `发布到「${branch.place}」`);
  }

  /** Take a notice down (one made in the panel or the profile's): a rollback to an earlier version brings it back. */
  async retire(actor: StaffActor, kind: ContentKind, id: string, baseVersion: number, note: string | null, ip?: string): Promise<ContentItem> {
    const key = `${kind}:${id}`;
    const t = this.targets.get(key);
    if (!t || kind !== 'notice') throw new ContentError('not_found', '没有这条内容');
    if (this.retired.has(key)) throw new ContentError('conflict', '这条内容已经撤下了。');
    const row = this.current.get(key);
    const was: Stored = row?.fields ? stored(row)! : { values: this.originals.get(key)!.values, base: this.fingerprint(key) };
    return this.save(actor, kind, id, { fields: JSON.stringify({ ...was, retired: true } satisfies Stored), validFrom: row ? row.validFrom : (t.read().valid_from ?? null), validUntil: row ? row.validUntil : (t.read().valid_until ?? null), action: 'retire' }, baseVersion, note, ip);
  }

  /** Bring back an older version (0: the profile's own text) as a new version. */
  async rollback(actor: StaffActor, kind: ContentKind, id: string, toVersion: number, baseVersion: number, ip?: string): Promise<ContentItem> {
    const key = `${kind}:${id}`;
    if (!this.targets.has(key)) throw new ContentError('not_found', '没有这条内容');
    if (toVersion === 0 && this.targets.get(key)!.parent) throw new ContentError('not_found', '这条内容是在后台发布的，没有配置文件原文；不要了可以撤下。');
    if (toVersion === 0) return this.save(actor, kind, id, { fields: null, validFrom: null, validUntil: null, action: 'rollback' }, baseVersion, '恢复为配置文件中的原文', ip);
    const old = await this.d.db.getRepository(ContentEditEntity).findOneBy({ kind, itemId: id, version: toVersion });
    if (!old) throw new ContentError('not_found', '没有这个版本');
    return this.save(actor, kind, id, { fields: old.fields, validFrom: old.validFrom, validUntil: old.validUntil, action: 'rollback' }, baseVersion, `回退到第 ${toVersion} 版`, ip);
  }

  private async save(actor: StaffActor, kind: ContentKind, id: string, v: Pick<ContentEditRow, 'fields' | 'validFrom' | 'validUntil' | 'action'>, baseVersion: number, note: string | null, ip?: string, where?: string): Promise<ContentItem> {
    await this.refresh();
    const key = `${kind}:${id}`;
    const now = this.d.clock.now();
    const conflict = () => new ContentError('conflict', '这条内容刚被别人改过，请看一下最新的内容再改。');
    try {
      await this.d.db.transaction(async (tx) => {
        const latest = await tx.getRepository(ContentEditEntity).createQueryBuilder('e').select('MAX(e.version)', 'v').where('e.kind = :kind AND e.item_id = :id', { kind, id }).getRawOne<{ v: number | string | null }>();
        const version = latest?.v === null || latest?.v === undefined ? 0 : Number(latest.v);
        if (version !== baseVersion) throw conflict();
        await tx.getRepository(ContentEditEntity).insert({ kind, itemId: id, version: version + 1, ...v, staffId: actor.id, staffName: actor.name.slice(0, 64), note: note?.slice(0, 200) || null, createdAt: now });
        const title = v.action === 'create' ? String((JSON.parse(v.fields!) as Stored).values.title) : this.item(this.targets.get(key)!).title;
        const what = { edit: '', rollback: '', create: `${where ?? '发布'}，`, retire: '撤下，' }[v.action];
        await this.d.audit.record({ actor, action: AUDIT[v.action], target: `content:${key}`, department: actor.department, detail: `${KIND_NAMES[kind]}「${title.slice(0, 40)}」${what}第 ${version + 1} 版${note ? `：${note.slice(0, 100)}` : ''}`, ...(ip ? { ip } : {}) }, tx);
      });
    } catch (err) {
      if (err instanceof ContentError) throw err;
      // The unique version: another instance saved the same version a moment before.
      if (/unique|duplicate/i.test(String((err as Error).message))) throw conflict();
      throw err;
    }
    await this.load();
    return this.get(kind, id);
  }

  history(kind: ContentKind, id: string): Promise<ContentEditRow[]> {
    return this.d.db.getRepository(ContentEditEntity).find({ where: { kind, itemId: id }, order: { version: 'DESC' } });
  }

  /** A version's values (0: the profile's), for the history view. */
  versionState(kind: ContentKind, id: string, row: ContentEditRow | null): State {
    return row ? this.stateOf(row, `${kind}:${id}`) : structuredClone(this.originals.get(`${kind}:${id}`)!);
  }
}

const AUDIT = { edit: 'content-edit', rollback: 'content-rollback', create: 'content-create', retire: 'content-retire' } as const;

function stored(row: ContentEditRow): Stored | null {
  return row.fields === null ? null : (JSON.parse(row.fields) as Stored);
}

function validityOf(x: { valid_from?: string | undefined; valid_until?: string | undefined }) {
  return { valid_from: x.valid_from, valid_until: x.valid_until };
}
function setValidity(x: { valid_from?: string | undefined; valid_until?: string | undefined }, s: State) {
  if (s.valid_from) x.valid_from = s.valid_from;
  else delete x.valid_from;
  if (s.valid_until) x.valid_until = s.valid_until;
  else delete x.valid_until;
}

function faqTarget(f: Faq): Target {
  return {
    kind: 'faq',
    id: f.id,
    place: '问答库',
    read: () => ({ values: { question: f.question, answer: f.answer }, ...validityOf(f) }),
    write: (s) => {
      f.question = String(s.values.question);
      f.answer = String(s.values.answer);
      setValidity(f, s);
    },
  };
}

function guideTarget(sv: Service): Target {
  const g = sv.guide;
  return {
    kind: 'guide',
    id: sv.id,
    place: sv.name,
    read: () => ({ values: { summary: g.summary, conditions: [...g.conditions], materials: [...g.materials], fee: g.fee, where: g.where, when: g.when, time_limit: g.time_limit }, valid_from: undefined, valid_until: undefined }),
    write: (s) => {
      const v = s.values;
      g.summary = String(v.summary);
      g.conditions = [...(v.conditions as string[])];
      g.materials = [...(v.materials as string[])];
      g.fee = String(v.fee);
      g.where = String(v.where);
      g.when = String(v.when);
      g.time_limit = String(v.time_limit);
    },
  };
}

function noticeTarget(n: NavNode, place: string): Target {
  return {
    kind: 'notice',
    id: n.id,
    place,
    read: () => ({ values: { title: n.title, text: n.reply!.text! }, ...validityOf(n), audience: [...n.audience] }),
    write: (s) => {
      n.title = String(s.values.title);
      n.reply = { ...n.reply, text: String(s.values.text) };
      if (s.audience) n.audience = [...s.audience];
      setValidity(n, s);
    },
  };
}
