import { EntitySchema, type DataSource, type EntityManager } from 'typeorm';
import type { Clock } from '../platform/clock.ts';
import { epochMs } from '../platform/db.ts';
import type { Actor } from '../policies/index.ts';

/**
 * The audit log: who signed in, viewed, unmasked, replied, assigned, transferred and closed what,
 * and when. Append-only; written in the same transaction as the change it records when there is
 * one. Details never hold personal data in the clear (the unmasked text itself is not logged,
 * only which message was shown).
 */

export const AUDIT_ACTIONS = {
  'sign-in': '登录',
  'sign-in-failed': '登录失败',
  'sign-in-locked': '登录锁定',
  'sign-out': '退出',
  'password-change': '修改密码',
  'password-change-failed': '修改密码时当前密码错误',
  'password-change-locked': '修改密码锁定',
  'wechat-bind': '绑定微信（接收提醒）',
  'wechat-unbind': '解绑微信',
  'binding-unbind': '解除市民的绑定',
  'notice-send': '群发通知',
  'notice-pause': '暂停群发',
  'notice-resume': '继续群发',
  'staff-create': '创建账号',
  'staff-update': '修改账号',
  'staff-reset': '重置密码',
  'staff-deactivate': '停用账号',
  'staff-activate': '启用账号',
  view: '查看',
  unmask: '显示完整信息',
  claim: '领取',
  assign: '指派',
  transfer: '转办',
  classify: '分类',
  reply: '回复',
  close: '办结',
  escalate: '督办',
  'retry-delivery': '重发',
  rated: '市民评价',
  'case-accept': '受理办件',
  'case-correct': '要求补正',
  'case-advance': '推进办件',
  'case-complete': '办结办件',
  'case-refuse': '不予受理',
  'case-file': '查看附件',
  'hall-arrived': '大厅签到',
  'hall-no-show': '标记未到',
  'hall-no-show-undone': '撤销未到',
  'hall-served': '大厅办理完毕',
  'hall-screen': '打开叫号屏签到码',
  'ticket-move': '办理工单',
  'ticket-photo': '查看工单照片',
  'ticket-export': '导出工单',
  'rating-reveal': '查看评价人',
  'rectification-submit': '提交整改',
  'rectification-review': '审核整改',
  'open311-key-issue': '发放 Open311 密钥',
  'open311-key-revoke': '吊销 Open311 密钥',
  'bill-refund': '缴费退款',
  'bill-close': '关闭账单',
  'bill-export': '导出缴费记录',
  'ops-export': '导出运营数据',
  'content-edit': '修改内容',
  'content-rollback': '回退内容',
  'content-create': '发布内容',
  'content-retire': '撤下内容',
  'ops-check': '运行体检',
} as const;
export type AuditAction = keyof typeof AUDIT_ACTIONS;

export interface AuditRow {
  id: number;
  at: number;
  /** The staff account; null for the system (deadline jobs) and failed sign-ins. */
  actorId: number | null;
  /** Username at the time (or `system`, or the username tried). */
  actor: string;
  action: AuditAction;
  /** What was acted on: `handoff:12`, `staff:3`, `message:881`. */
  target: string | null;
  /** The department of what was acted on (supervisors read their own). */
  department: string | null;
  detail: string | null;
  ip: string | null;
}

export const AuditEntity = new EntitySchema<AuditRow>({
  name: 'Audit',
  tableName: 'audit_log',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    at: { type: 'bigint', transformer: epochMs },
    actorId: { name: 'actor_id', type: 'integer', nullable: true },
    actor: { type: 'varchar', length: 64 },
    action: { type: 'varchar', length: 32 },
    target: { type: 'varchar', length: 64, nullable: true },
    department: { type: 'varchar', length: 48, nullable: true },
    detail: { type: 'text', nullable: true },
    ip: { type: 'varchar', length: 64, nullable: true },
  },
  indices: [
    { name: 'ix_audit_at', columns: ['at'] },
    { name: 'ix_audit_target', columns: ['target'] },
  ],
});

export interface AuditEntry {
  actor: Actor | { kind: 'anonymous'; username: string };
  action: AuditAction;
  target?: string | null;
  department?: string | null;
  detail?: string | null;
  ip?: string | null;
}

export class Audit {
  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
  ) {}

  async record(e: AuditEntry, manager?: EntityManager): Promise<void> {
    const a = e.actor;
    const row: Omit<AuditRow, 'id'> = {
      at: this.clock.now(),
      actorId: a.kind === 'staff' ? a.id : null,
      actor: a.kind === 'staff' ? a.username : a.kind === 'system' ? 'system' : a.username.slice(0, 64),
      action: e.action,
      target: e.target ?? null,
      department: e.department ?? null,
      detail: e.detail ? e.detail.slice(0, 2000) : null,
      ip: e.ip ?? null,
    };
    await (manager ?? this.ds.manager).createQueryBuilder().insert().into(AuditEntity).values(row).execute();
  }

  /** Newest first. */
  async list(f: { target?: string; actorId?: number; action?: AuditAction; department?: string; before?: number; limit?: number } = {}): Promise<AuditRow[]> {
    const q = this.ds.getRepository(AuditEntity).createQueryBuilder('a');
    if (f.target) q.andWhere('a.target = :target', { target: f.target });
    if (f.actorId !== undefined) q.andWhere('a.actor_id = :actorId', { actorId: f.actorId });
    if (f.action) q.andWhere('a.action = :action', { action: f.action });
    if (f.department) q.andWhere('a.department = :department', { department: f.department });
    if (f.before) q.andWhere('a.id < :before', { before: f.before });
    return q.orderBy('a.id', 'DESC').limit(f.limit ?? 100).getMany();
  }
}
