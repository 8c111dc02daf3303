import { createHash } from 'node:crypto';
import { child, list, text, type XmlObject } from './xml.ts';

/** Fields every inbound message and event carries. */
interface Base {
  /** The account's original id (gh_…): replies are sent from here. */
  toUser: string;
  /** The citizen's openid. */
  fromUser: string;
  /** Seconds since the epoch, as WeChat sends it. */
  createTime: number;
}

interface WithMsgId extends Base {
  msgId: string;
}

export interface TextMessage extends WithMsgId {
  kind: 'text';
  content: string;
  /** Set when the text came from a tapped `weixin://bizmsgmenu` line. */
  bizmsgmenuid?: string;
}
export interface ImageMessage extends WithMsgId {
  kind: 'image';
  picUrl: string;
  mediaId: string;
}
export interface VoiceMessage extends WithMsgId {
  kind: 'voice';
  mediaId: string;
  format: string;
  /** Speech recognition result, when the account has it on. */
  recognition?: string;
}
export interface VideoMessage extends WithMsgId {
  kind: 'video' | 'shortvideo';
  mediaId: string;
  thumbMediaId: string;
}
export interface LocationMessage extends WithMsgId {
  kind: 'location';
  latitude: number;
  longitude: number;
  scale: number;
  label: string;
}
export interface LinkMessage extends WithMsgId {
  kind: 'link';
  title: string;
  description: string;
  url: string;
}
export interface FileMessage extends WithMsgId {
  kind: 'file';
  title: string;
  description: string;
  fileKey: string;
  fileMd5: string;
  fileTotalLen: number;
}

export interface SubscribeEvent extends Base {
  kind: 'subscribe';
  /** The scene of a parametric QR code followed through (`qrscene_` removed). */
  scene?: string;
  ticket?: string;
}
export interface UnsubscribeEvent extends Base {
  kind: 'unsubscribe';
}
export interface ScanEvent extends Base {
  kind: 'scan';
  scene: string;
  ticket: string;
}
export interface LocationReportEvent extends Base {
  kind: 'location_report';
  latitude: number;
  longitude: number;
  precision: number;
}
export interface ClickEvent extends Base {
  kind: 'click';
  key: string;
}
export interface ViewEvent extends Base {
  kind: 'view';
  url: string;
  menuId?: string;
}
export interface ScanCodeEvent extends Base {
  kind: 'scancode_push' | 'scancode_waitmsg';
  key: string;
  scanType: string;
  scanResult: string;
}
export interface LocationSelectEvent extends Base {
  kind: 'location_select';
  key: string;
  latitude: number;
  longitude: number;
  scale: number;
  label: string;
  poiname: string;
}
export interface PicEvent extends Base {
  kind: 'pic_sysphoto' | 'pic_photo_or_album' | 'pic_weixin';
  key: string;
  count: number;
  picMd5s: string[];
}
export interface TemplateSendFinishEvent extends Base {
  kind: 'template_send_finish';
  msgId: string;
  status: string;
}
export interface SubscribeMsgEvent extends Base {
  kind: 'subscribe_msg_popup' | 'subscribe_msg_change' | 'subscribe_msg_sent';
  items: { templateId: string; status: string; msgId?: string; errorCode?: string }[];
}
/** Anything WeChat adds later: logged and answered `success`. */
export interface UnknownMessage extends Base {
  kind: 'unknown';
  msgType: string;
  event?: string;
}

export type InboundMessage =
  | TextMessage
  | ImageMessage
  | VoiceMessage
  | VideoMessage
  | LocationMessage
  | LinkMessage
  | FileMessage
  | SubscribeEvent
  | UnsubscribeEvent
  | ScanEvent
  | LocationReportEvent
  | ClickEvent
  | ViewEvent
  | ScanCodeEvent
  | LocationSelectEvent
  | PicEvent
  | TemplateSendFinishEvent
  | SubscribeMsgEvent
  | UnknownMessage;

export type MessageKind = InboundMessage['kind'];

export class MessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessageError';
  }
}

const num = (s: string) => (s === '' ? NaN : Number(s));

/**
 * Bounds on what WeChat sends, checked at the edge so that nothing longer than its column ever
 * reaches the database (PostgreSQL enforces varchar lengths; one over-long row would fail the
 * group-committed write of every message in its batch). WeChat's own limits are well inside:
 * an openid is 28 characters, an original id 15, a MsgId a 64-bit number, a QR scene ≤ 64
 * characters, a menu key ≤ 128 bytes.
 */
export const FIELD_LIMITS = { openid: 64, originalId: 64, msgId: 32, scene: 64, key: 128 } as const;

function bounded(value: string, limit: number, field: string): string {
  if (value.length > limit) throw new MessageError(`${field} longer than ${limit} characters`);
  return value;
}

/** Turn a parsed `<xml>` object into a typed message. Missing addressing fields are errors. */
export function toMessage(x: XmlObject): InboundMessage {
  const toUser = text(x, 'ToUserName');
  const fromUser = text(x, 'FromUserName');
  const createTime = num(text(x, 'CreateTime'));
  const msgType = text(x, 'MsgType');
  if (!toUser || !fromUser || !Number.isFinite(createTime) || !msgType) {
    throw new MessageError('message lacks ToUserName, FromUserName, CreateTime or MsgType');
  }
  bounded(toUser, FIELD_LIMITS.originalId, 'ToUserName');
  bounded(fromUser, FIELD_LIMITS.openid, 'FromUserName');
  const base: Base = { toUser, fromUser, createTime };
  const msgId = bounded(text(x, 'MsgId'), FIELD_LIMITS.msgId, 'MsgId');
  switch (msgType) {
    case 'text': {
      const m: TextMessage = { ...base, kind: 'text', msgId, content: text(x, 'Content') };
      const menuId = text(x, 'bizmsgmenuid');
      if (menuId) m.bizmsgmenuid = menuId;
      return m;
    }
    case 'image':
      return { ...base, kind: 'image', msgId, picUrl: text(x, 'PicUrl'), mediaId: text(x, 'MediaId') };
    case 'voice': {
      const m: VoiceMessage = { ...base, kind: 'voice', msgId, mediaId: text(x, 'MediaId'), format: text(x, 'Format') };
      const rec = text(x, 'Recognition');
      if (rec) m.recognition = rec;
      return m;
    }
    case 'video':
    case 'shortvideo':
      return { ...base, kind: msgType, msgId, mediaId: text(x, 'MediaId'), thumbMediaId: text(x, 'ThumbMediaId') };
    case 'location':
      return {
        ...base,
        kind: 'location',
        msgId,
        latitude: num(text(x, 'Location_X')),
        longitude: num(text(x, 'Location_Y')),
        scale: num(text(x, 'Scale')),
        label: text(x, 'Label'),
      };
    case 'link':
      return { ...base, kind: 'link', msgId, title: text(x, 'Title'), description: text(x, 'Description'), url: text(x, 'Url') };
    case 'file':
      return {
        ...base,
        kind: 'file',
        msgId,
        title: text(x, 'Title'),
        description: text(x, 'Description'),
        fileKey: text(x, 'FileKey'),
        fileMd5: text(x, 'FileMd5'),
        fileTotalLen: num(text(x, 'FileTotalLen')),
      };
    case 'event':
      return toEvent(base, x);
    default:
      return { ...base, kind: 'unknown', msgType };
  }
}

function toEvent(base: Base, x: XmlObject): InboundMessage {
  const event = text(x, 'Event');
  const key = text(x, 'EventKey');
  const lower = event.toLowerCase();
  // Keys that name something (a menu item, a QR scene) are bounded; a VIEW's URL is not a key.
  if (lower === 'subscribe' || lower === 'scan') bounded(key.replace(/^qrscene_/, ''), FIELD_LIMITS.scene, 'EventKey');
  else if (lower !== 'view') bounded(key, FIELD_LIMITS.key, 'EventKey');
  bounded(text(x, 'MsgID'), FIELD_LIMITS.msgId, 'MsgID');
  switch (event.toLowerCase()) {
    case 'subscribe': {
      const m: SubscribeEvent = { ...base, kind: 'subscribe' };
      if (key.startsWith('qrscene_')) m.scene = key.slice('qrscene_'.length);
      const ticket = text(x, 'Ticket');
      if (ticket) m.ticket = ticket;
      return m;
    }
    case 'unsubscribe':
      return { ...base, kind: 'unsubscribe' };
    case 'scan':
      return { ...base, kind: 'scan', scene: key, ticket: text(x, 'Ticket') };
    case 'location':
      return {
        ...base,
        kind: 'location_report',
        latitude: num(text(x, 'Latitude')),
        longitude: num(text(x, 'Longitude')),
        precision: num(text(x, 'Precision')),
      };
    case 'click':
      return { ...base, kind: 'click', key };
    case 'view': {
      const m: ViewEvent = { ...base, kind: 'view', url: key };
      const menuId = text(x, 'MenuId');
      if (menuId) m.menuId = menuId;
      return m;
    }
    case 'scancode_push':
    case 'scancode_waitmsg': {
      const info = child(x, 'ScanCodeInfo');
      return { ...base, kind: event.toLowerCase() as ScanCodeEvent['kind'], key, scanType: text(info, 'ScanType'), scanResult: text(info, 'ScanResult') };
    }
    case 'location_select': {
      const info = child(x, 'SendLocationInfo');
      return {
        ...base,
        kind: 'location_select',
        key,
        latitude: num(text(info, 'Location_X')),
        longitude: num(text(info, 'Location_Y')),
        scale: num(text(info, 'Scale')),
        label: text(info, 'Label'),
        poiname: text(info, 'Poiname'),
      };
    }
    case 'pic_sysphoto':
    case 'pic_photo_or_album':
    case 'pic_weixin': {
      const info = child(x, 'SendPicsInfo');
      const items = list(child(info, 'PicList').item);
      return {
        ...base,
        kind: event.toLowerCase() as PicEvent['kind'],
        key,
        count: num(text(info, 'Count')),
        picMd5s: items.map((i) => (typeof i === 'object' && !Array.isArray(i) ? text(i, 'PicMd5Sum') : '')).filter(Boolean),
      };
    }
    case 'templatesendjobfinish':
      return { ...base, kind: 'template_send_finish', msgId: text(x, 'MsgID') || text(x, 'MsgId'), status: text(x, 'Status') };
    case 'subscribe_msg_popup_event':
    case 'subscribe_msg_change_event':
    case 'subscribe_msg_sent_event': {
      const kind = event.toLowerCase().replace(/_event$/, '') as SubscribeMsgEvent['kind'];
      const container = child(x, 'SubscribeMsgPopupEvent');
      const holder = Object.keys(container).length
        ? container
        : Object.keys(child(x, 'SubscribeMsgChangeEvent')).length
          ? child(x, 'SubscribeMsgChangeEvent')
          : child(x, 'SubscribeMsgSentEvent');
      const items = list(holder.List).map((i) => {
        const o = typeof i === 'object' && !Array.isArray(i) ? i : {};
        const item: SubscribeMsgEvent['items'][number] = {
          templateId: text(o, 'TemplateId'),
          status: text(o, 'SubscribeStatusString') || text(o, 'ErrorStatus'),
        };
        const msgId = text(o, 'MsgID');
        if (msgId) item.msgId = msgId;
        const code = text(o, 'ErrorCode');
        if (code) item.errorCode = code;
        return item;
      });
      return { ...base, kind, items };
    }
    default:
      return { ...base, kind: 'unknown', msgType: 'event', event };
  }
}

/** True for events (things a citizen did), false for messages (things a citizen sent). */
export function isEvent(m: InboundMessage): boolean {
  return !('msgId' in m) || m.kind === 'template_send_finish';
}

/**
 * The de-duplication key: messages by MsgId + FromUserName (MsgId alone collided across users in
 * one SDK); events by FromUserName + CreateTime + Event + EventKey (two events can share a second).
 * The part that grows with time comes first (MsgId, CreateTime): the log's unique index on these
 * keys then grows at its end instead of at a random place per citizen, which keeps each group
 * commit to a few index pages (at 300k rows the random order cost ≈ 16 µs and a 4 KB page of
 * write-ahead log per message).
 */
export function dedupKey(m: InboundMessage, raw: XmlObject): string {
  if (!isEvent(m) && 'msgId' in m && m.msgId) return `m:${m.msgId}:${m.fromUser}`;
  const event = text(raw, 'Event') || text(raw, 'MsgType');
  const extra = text(raw, 'MsgID');
  const key = `e:${m.createTime}:${m.fromUser}:${event}:${text(raw, 'EventKey')}${extra ? `:${extra}` : ''}`;
  // A VIEW event's key is a URL (up to 1024 characters): a long key is kept to its head and a digest.
  // (A SHA-256 digest is 43 characters of base64url.)
  return key.length <= MAX_DEDUP_KEY ? key : `${key.slice(0, MAX_DEDUP_KEY - 45)}#${createHash('sha256').update(key).digest('base64url')}`;
}

/** The longest de-duplication key (the log's msg_key column holds 191, with room for a prefix). */
export const MAX_DEDUP_KEY = 160;

/** The text a citizen meant: typed text, or recognised speech. */
export function spokenText(m: InboundMessage): string | null {
  if (m.kind === 'text') return m.content;
  if (m.kind === 'voice' && m.recognition) return m.recognition;
  return null;
}
