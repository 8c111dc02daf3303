import { randomBytes } from 'node:crypto';
import { EntitySchema, In, IsNull, type DataSource, type EntityManager, type FindOptionsWhere } from 'typeorm';
import { StaffEntity, type Accounts, type StaffInfo, type StaffRow } from '../admin/accounts.ts';
import { fillTemplate } from '../chat/templates.ts';
import type { WorkingCalendar } from '../platform/calendar.ts';
import type { Clock } from '../platform/clock.ts';
import { epochMs } from '../platform/db.ts';
import { PermanentJobError, type JobQueue } from '../platform/jobs.ts';
import type { Kv } from '../platform/kv/index.ts';
import type { Logger } from '../platform/log.ts';
import { maskText } from '../platform/pii.ts';
import type { ProfileTemplate } from '../profile/schema.ts';
import { isWeChatError, type WeChatApi } from '../wechat/api/index.ts';

export interface AlertRow {
  id: number;
  staffId: number;
  /** What it is about, for filtering and counting: urgent-ticket, urgent-handoff, escalation … */
  kind: string;
  department: string | null;
  title: string;
  /** Where in the panel to act on it (a path under /admin). */
  link: string;
  urgent: boolean;
  createdAt: number;
  readAt: number | null;
}

export const AlertEntity = new EntitySchema<AlertRow>({
  name: 'StaffAlert',
  tableName: 'staff_alerts',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    staffId: { name: 'staff_id', type: 'integer' },
    kind: { type: 'varchar', length: 32 },
    department: { type: 'varchar', length: 48, nullable: true },
    title: { type: 'varchar', length: 200 },
    link: { type: 'varchar', length: 300 },
    urgent: { type: 'boolean', default: false },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMs },
    readAt: { name: 'read_at', type: 'bigint', nullable: true, transformer: epochMs },
  },
  indices: [{ name: 'ix_staff_alerts_staff_read', columns: ['staffId', 'readAt'] }],
});

/** Who an alert is for, in the department it concerns. */
export type AlertTarget =
  /** The department's supervisors (负责人); administrators when it has none in post. */
  | 'supervisors'
  /** The department's duty officers (值班员); its supervisors, then administrators, when none are in post. */
  | 'duty'
  /** Named staff members. */
  | { staffIds: number[] };

export interface AlertInput {
  kind: string;
  department: string | null;
  to: AlertTarget;
  /** One line saying what happened; personal data in it is masked. */
  title: string;
  /** A path of the panel (/admin/…) where it is acted on. */
  link: string;
  urgent?: boolean;
}

export interface AlertsDeps {
  db: DataSource;
  clock: Clock;
  calendar: WorkingCalendar;
  kv: Kv;
  jobs: JobQueue;
  api: WeChatApi;
  accounts: Accounts;
  /** The profile's `staff_alert` template; without it alerts stay in the panel. */
  template: ProfileTemplate | undefined;
  departmentName(id: string | null): string;
  publicUrl: string;
  log: Logger;
}

/** Scene of the code a staff member scans to bind their WeChat (followed by a one-time token). */
export const STAFF_BIND_SCENE = 'staffbind:';
const BIND_TTL_MS = 10 * 60_000;

/**
 * Staff alerts: what must reach staff at once — an urgent ticket or handoff, a 督办 — rather than
 * wait in a queue. One call, `raise`, used by every capability: the alert appears in the panel of
 * each recipient (the 提醒 badge, live), and goes to their own WeChat as the `staff_alert`
 * template where they have bound it (a code they scan in the panel). Raised inside the caller's
 * transaction, it exists exactly when the change it reports does.
 */
export class Alerts {
  static readonly JOB = 'alerts.wechat';

  constructor(private readonly d: AlertsDeps) {
    d.jobs.define<{ alertId: number }>(Alerts.JOB, { maxAttempts: 5, run: (p) => this.sendToWeChat(p.alertId) });
  }

  /** Alert the target staff; returns whom. `manager` raises it inside the caller's transaction. */
  async raise(a: AlertInput, manager?: EntityManager): Promise<StaffInfo[]> {
    const now = this.d.clock.now();
    const run = async (m: EntityManager) => {
      const staff = await this.recipients(m, a.department, a.to);
      if (staff.length === 0) this.d.log.warn({ kind: a.kind, department: a.department }, 'an alert has nobody to go to (no active staff in post)');
      for (const s of staff) {
        const row = await m.getRepository(AlertEntity).save({
          staffId: s.id,
          kind: a.kind.slice(0, 32),
          department: a.department,
          title: maskText(a.title).slice(0, 200),
          link: a.link.startsWith('/admin') ? a.link.slice(0, 300) : '/admin/alerts',
          urgent: a.urgent ?? false,
          createdAt: now,
          readAt: null,
        });
        if (s.wechatOpenid && this.d.template) await this.d.jobs.enqueue(Alerts.JOB, { alertId: row.id }, { manager: m, uniqueKey: `alert:${row.id}` });
      }
      return staff;
    };
    return manager ? run(manager) : this.d.db.transaction(run);
  }

  /** Whom a target means, read inside the raising transaction (as StaffInfo: never the hash). */
  private async recipients(m: EntityManager, department: string | null, to: AlertTarget): Promise<StaffInfo[]> {
    const repo = m.getRepository(StaffEntity);
    const find = async (where: FindOptionsWhere<StaffRow>) => (await repo.find({ where: { ...where, active: true }, order: { id: 'ASC' } })).map(({ passwordHash: _h, ...info }) => info);
    if (typeof to === 'object') return to.staffIds.length ? find({ id: In(to.staffIds) }) : [];
    const inDept = department ? await find({ department }) : [];
    const admins = () => find({ role: 'admin' });
    const supervisors = inDept.filter((s) => s.role === 'supervisor');
    if (to === 'duty') {
      const duty = inDept.filter((s) => s.role === 'duty');
      if (duty.length) return duty;
    }
    return supervisors.length ? supervisors : admins();
  }

  /** Unread alerts of a staff member (the badge). */
  unread(staffId: number): Promise<number> {
    return this.d.db.getRepository(AlertEntity).count({ where: { staffId, readAt: IsNull() } });
  }

  list(staffId: number, limit = 100): Promise<AlertRow[]> {
    return this.d.db.getRepository(AlertEntity).find({ where: { staffId }, order: { id: 'DESC' }, take: limit });
  }

  /** Open one of one's own alerts: marks it read and returns it (null when it is not theirs). */
  async open(staffId: number, id: number): Promise<AlertRow | null> {
    const repo = this.d.db.getRepository(AlertEntity);
    const row = await repo.findOne({ where: { id, staffId } });
    if (!row) return null;
    if (row.readAt === null) await repo.update({ id, staffId, readAt: IsNull() }, { readAt: this.d.clock.now() });
    return row;
  }

  async readAll(staffId: number): Promise<void> {
    await this.d.db.getRepository(AlertEntity).update({ staffId, readAt: IsNull() }, { readAt: this.d.clock.now() });
  }

  // ---- the staff member's own WeChat -----------------------------------------------------------

  /** A one-time scene for the code a staff member scans with their own WeChat (ten minutes). */
  async bindingScene(staffId: number): Promise<{ scene: string; expiresInMs: number }> {
    const token = randomBytes(12).toString('base64url');
    await this.d.kv.set(`alerts:bind:${token}`, String(staffId), BIND_TTL_MS);
    return { scene: `${STAFF_BIND_SCENE}${token}`, expiresInMs: BIND_TTL_MS };
  }

  /** The code was scanned by `openid`: bind it to the staff member it was made for (once). */
  async completeBinding(scene: string, openid: string): Promise<StaffInfo | null> {
    const token = scene.slice(STAFF_BIND_SCENE.length);
    if (!/^[A-Za-z0-9_-]{16}$/.test(token)) return null;
    const key = `alerts:bind:${token}`;
    const staffId = await this.d.kv.get(key);
    if (!staffId || !(await this.d.kv.compareAndDelete(key, staffId))) return null;
    const staff = await this.d.accounts.get(Number(staffId));
    if (!staff || !staff.active) return null;
    await this.d.accounts.bindWeChat(staff.id, openid);
    return { ...staff, wechatOpenid: openid };
  }

  private async sendToWeChat(alertId: number): Promise<void> {
    const alert = await this.d.db.getRepository(AlertEntity).findOne({ where: { id: alertId } });
    const staff = alert ? await this.d.accounts.get(alert.staffId) : null;
    if (!alert || !staff?.wechatOpenid || !staff.active || !this.d.template) return; // unbound meanwhile
    const p = this.d.calendar.localParts(alert.createdAt);
    const t = `${p.year}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')} ${String(Math.floor(p.minutes / 60)).padStart(2, '0')}:${String(p.minutes % 60).padStart(2, '0')}`;
    const msg = fillTemplate(this.d.template, { title: alert.title, department: this.d.departmentName(alert.department), time: t, kind: alert.urgent ? '紧急' : '提醒' }, `${this.d.publicUrl}/admin/alerts/${alert.id}`);
    try {
      await this.d.api.template.send(staff.wechatOpenid, { ...msg, clientMsgId: `alert-${alert.id}` });
    } catch (err) {
      if (isWeChatError(err) && !err.retryable) throw new PermanentJobError(err.message);
      throw err;
    }
  }
}
