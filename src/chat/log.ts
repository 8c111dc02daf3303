import { EntitySchema, type DataSource } from 'typeorm';
import { HOUR, type Clock } from '../platform/clock.ts';
import { epochMs, insertIgnoringDuplicate } from '../platform/db.ts';
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

/**
 * The conversation log: every message in and out, stored once, and each citizen's last
 * interaction (which decides whether a customer-service message can still reach them).
 */
export class ConversationLog {
  constructor(
    private readonly ds: DataSource,
    private readonly clock: Clock,
  ) {}

  /**
   * Store an inbound message and update the citizen. Returns false when this message was
   * already stored (a retry that outlived the de-duplication window): do not handle it again.
   */
  async recordInbound(m: InboundMessage, msgKey: string): Promise<boolean> {
    const now = this.clock.now();
    const interactive = m.kind !== 'unsubscribe' && m.kind !== 'template_send_finish' && !m.kind.startsWith('subscribe_msg') && m.kind !== 'location_report';
    return this.ds.transaction(async (tx) => {
      const id = await insertIgnoringDuplicate(tx, MessageEntity, {
          openid: m.fromUser,
          direction: 'in',
          kind: m.kind,
          content: describeInbound(m),
          payload: JSON.stringify(m),
          channel: 'callback',
          msgKey,
          ref: null,
          status: null,
        createdAt: now,
      });
      if (id === null) return false;
      const citizen: Partial<CitizenRow> = { openid: m.fromUser, firstSeenAt: now, updatedAt: now, subscribed: false };
      const update: (keyof CitizenRow)[] = ['updatedAt'];
      if (interactive) {
        citizen.lastInteractionAt = now;
        citizen.lastInteractionKind = isEvent(m) ? 'event' : 'message';
        update.push('lastInteractionAt', 'lastInteractionKind');
      }
      if (m.kind === 'subscribe') {
        Object.assign(citizen, { subscribed: true, subscribedAt: now, scene: m.scene ?? null });
        update.push('subscribed', 'subscribedAt', 'scene');
      } else if (m.kind === 'unsubscribe') {
        Object.assign(citizen, { subscribed: false, unsubscribedAt: now });
        update.push('subscribed', 'unsubscribedAt');
      } else if (m.kind !== 'template_send_finish') {
        // Anyone who can message the account follows it.
        citizen.subscribed = true;
        update.push('subscribed');
      }
      const columns = update.map((k) => columnName(k));
      await tx.createQueryBuilder().insert().into(CitizenEntity).values(citizen).orUpdate(columns, ['openid']).execute();
      return true;
    });
  }

  /** Store an outbound message; returns its id. */
  async recordOutbound(o: { openid: string; kind: string; content: string; payload?: unknown; channel: Channel; ref?: string | null; status?: string; msgKey?: string }): Promise<number> {
    const res = await this.ds
      .createQueryBuilder()
      .insert()
      .into(MessageEntity)
      .values({
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
      })
      .execute();
    return res.identifiers[0]?.id as number;
  }

  async setStatus(id: number, status: string): Promise<void> {
    await this.ds.getRepository(MessageEntity).update({ id }, { status });
  }

  async findByKey(msgKey: string): Promise<MessageRow | null> {
    return this.ds.getRepository(MessageEntity).findOne({ where: { msgKey } });
  }

  async citizen(openid: string): Promise<CitizenRow | null> {
    return this.ds.getRepository(CitizenEntity).findOne({ where: { openid } });
  }

  /** Whether a customer-service message may still reach the citizen (last interaction within 48 h). */
  async withinServiceWindow(openid: string): Promise<boolean> {
    const c = await this.citizen(openid);
    return !!c?.subscribed && c.lastInteractionAt !== null && this.clock.now() - c.lastInteractionAt < SERVICE_WINDOW_MS;
  }

  /** A citizen's conversation, oldest first. */
  async history(openid: string, limit = 100): Promise<MessageRow[]> {
    const rows = await this.ds.getRepository(MessageEntity).find({ where: { openid }, order: { id: 'DESC' }, take: limit });
    return rows.reverse();
  }
}

const COLUMN_NAMES: Partial<Record<keyof CitizenRow, string>> = {
  subscribedAt: 'subscribed_at',
  unsubscribedAt: 'unsubscribed_at',
  firstSeenAt: 'first_seen_at',
  lastInteractionAt: 'last_interaction_at',
  lastInteractionKind: 'last_interaction_kind',
  updatedAt: 'updated_at',
};
function columnName(k: keyof CitizenRow): string {
  return COLUMN_NAMES[k] ?? k;
}

