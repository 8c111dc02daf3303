import { EntitySchema } from 'typeorm';
import { epochMs } from '../../platform/db.ts';

/** unpaid → paying → paid → refunding → (partially_)refunded, or closed (cancelled, expired unpaid). */
export type BillStatus = 'unpaid' | 'paying' | 'paid' | 'refunding' | 'partially_refunded' | 'refunded' | 'closed';
/** What a bill pays for: a case's fee, a booking's fee, or a bill pushed by a department's system (a fine). */
export type BillKind = 'case' | 'booking' | 'event';

export interface BillRow {
  id: number;
  /** What the citizen and staff say: JF20261123-000012. */
  billNo: string;
  openid: string;
  amountFen: number;
  /** Within WeChat Pay's 127-byte description limit. */
  description: string;
  department: string | null;
  paysKind: BillKind;
  /** The case id, the booking id, or the department's own reference (a fine's decision number). */
  paysRef: string;
  status: BillStatus;
  dueAt: number | null;
  paidAt: number | null;
  /** The one order that paid it. */
  paidOrderId: number | null;
  refundedFen: number;
  closedAt: number | null;
  closedReason: string | null;
  createdAt: number;
  updatedAt: number;
}

const t = (name: string, nullable = false) => ({ name, type: 'bigint' as const, nullable, transformer: epochMs });

export const BillEntity = new EntitySchema<BillRow>({
  name: 'Bill',
  tableName: 'bills',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    billNo: { name: 'bill_no', type: 'varchar', length: 24, unique: true },
    openid: { type: 'varchar', length: 64 },
    amountFen: { name: 'amount_fen', type: 'integer' },
    description: { type: 'varchar', length: 127 },
    department: { type: 'varchar', length: 48, nullable: true },
    paysKind: { name: 'pays_kind', type: 'varchar', length: 16 },
    paysRef: { name: 'pays_ref', type: 'varchar', length: 64 },
    status: { type: 'varchar', length: 20 },
    dueAt: t('due_at', true),
    paidAt: t('paid_at', true),
    paidOrderId: { name: 'paid_order_id', type: 'integer', nullable: true },
    refundedFen: { name: 'refunded_fen', type: 'integer', default: 0 },
    closedAt: t('closed_at', true),
    closedReason: { name: 'closed_reason', type: 'varchar', length: 200, nullable: true },
    createdAt: t('created_at'),
    updatedAt: t('updated_at'),
  },
  indices: [
    { name: 'ux_bills_pays', columns: ['paysKind', 'paysRef'], unique: true },
    { name: 'ix_bills_openid', columns: ['openid', 'status'] },
    { name: 'ix_bills_department_status', columns: ['department', 'status'] },
  ],
});

/** open (waiting for the citizen) → paid, or closed; `duplicate`: paid although the bill already was (refunded at once). */
export type OrderStatus = 'open' | 'paid' | 'closed' | 'duplicate';

export interface PayOrderRow {
  id: number;
  billId: number;
  /** 商户订单号, unique. */
  outTradeNo: string;
  tradeType: 'JSAPI' | 'NATIVE';
  amountFen: number;
  status: OrderStatus;
  prepayId: string | null;
  codeUrl: string | null;
  transactionId: string | null;
  payerOpenid: string | null;
  expiresAt: number;
  paidAt: number | null;
  closedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export const PayOrderEntity = new EntitySchema<PayOrderRow>({
  name: 'PayOrder',
  tableName: 'pay_orders',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    billId: { name: 'bill_id', type: 'integer' },
    outTradeNo: { name: 'out_trade_no', type: 'varchar', length: 32, unique: true },
    tradeType: { name: 'trade_type', type: 'varchar', length: 8 },
    amountFen: { name: 'amount_fen', type: 'integer' },
    status: { type: 'varchar', length: 12 },
    prepayId: { name: 'prepay_id', type: 'varchar', length: 64, nullable: true },
    codeUrl: { name: 'code_url', type: 'varchar', length: 200, nullable: true },
    transactionId: { name: 'transaction_id', type: 'varchar', length: 32, nullable: true },
    payerOpenid: { name: 'payer_openid', type: 'varchar', length: 64, nullable: true },
    expiresAt: t('expires_at'),
    paidAt: t('paid_at', true),
    closedAt: t('closed_at', true),
    createdAt: t('created_at'),
    updatedAt: t('updated_at'),
  },
  indices: [
    { name: 'ix_pay_orders_bill', columns: ['billId', 'status'] },
    // Never two paid orders for one bill (a partial unique index).
    { name: 'ux_pay_orders_one_paid', columns: ['billId'], unique: true, where: "status = 'paid'" },
  ],
});

export type RefundStatus = 'processing' | 'success' | 'closed' | 'abnormal';

export interface RefundRow {
  id: number;
  billId: number;
  orderId: number;
  outRefundNo: string;
  amountFen: number;
  reason: string;
  status: RefundStatus;
  staffId: number | null;
  refundId: string | null;
  createdAt: number;
  succeededAt: number | null;
  updatedAt: number;
}

export const RefundEntity = new EntitySchema<RefundRow>({
  name: 'Refund',
  tableName: 'pay_refunds',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    billId: { name: 'bill_id', type: 'integer' },
    orderId: { name: 'order_id', type: 'integer' },
    outRefundNo: { name: 'out_refund_no', type: 'varchar', length: 64, unique: true },
    amountFen: { name: 'amount_fen', type: 'integer' },
    reason: { type: 'varchar', length: 200 },
    status: { type: 'varchar', length: 12 },
    staffId: { name: 'staff_id', type: 'integer', nullable: true },
    refundId: { name: 'refund_id', type: 'varchar', length: 32, nullable: true },
    createdAt: t('created_at'),
    succeededAt: t('succeeded_at', true),
    updatedAt: t('updated_at'),
  },
  indices: [{ name: 'ix_pay_refunds_bill', columns: ['billId'] }],
});

export type BillEventKind = 'issued' | 'order_opened' | 'order_closed' | 'paid' | 'duplicate_paid' | 'refund_requested' | 'refunded' | 'closed' | 'notification_refused';

export interface BillEventRow {
  id: number;
  billId: number;
  kind: BillEventKind;
  at: number;
  /** Who: 'citizen', 'system', 'wechatpay', or staff:<id>. */
  actor: string;
  note: string | null;
}

export const BillEventEntity = new EntitySchema<BillEventRow>({
  name: 'BillEvent',
  tableName: 'bill_events',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    billId: { name: 'bill_id', type: 'integer' },
    kind: { type: 'varchar', length: 24 },
    at: t('at'),
    actor: { type: 'varchar', length: 32 },
    note: { type: 'varchar', length: 300, nullable: true },
  },
  indices: [{ name: 'ix_bill_events_bill', columns: ['billId', 'at'] }],
});

export interface BillCounterRow {
  day: string;
  lastNo: number;
}

export const BillCounterEntity = new EntitySchema<BillCounterRow>({
  name: 'BillCounter',
  tableName: 'bill_counters',
  columns: {
    day: { type: 'varchar', length: 8, primary: true },
    lastNo: { name: 'last_no', type: 'integer', default: 0 },
  },
});
