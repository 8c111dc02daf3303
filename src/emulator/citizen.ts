import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Clock } from '../platform/clock.ts';
import { WeChatCrypto } from '../wechat/crypto.ts';
import { sha1Signature, signaturesEqual } from '../wechat/signature.ts';
import { cdata, child, parseWeChatXml, text, type XmlObject } from '../wechat/xml.ts';
import type { EmulatedPlatform } from './platform.ts';

export interface AccountWire {
  /** Where the account's callback listens. */
  callbackUrl: string;
  originalId: string;
  appid: string;
  token: string;
  aesKey?: string;
  encoding: 'plain' | 'compatible' | 'safe';
}

/** What the citizen did, in WeChat's terms. */
export type CitizenAction =
  | { type: 'text'; content: string; bizmsgmenuid?: string }
  | { type: 'voice'; recognition?: string }
  | { type: 'image'; picUrl?: string }
  | { type: 'location'; latitude: number; longitude: number; label?: string; scale?: number }
  | { type: 'link'; title: string; url: string; description?: string }
  | { type: 'file'; title: string }
  | { type: 'video' | 'shortvideo' }
  | { type: 'subscribe'; scene?: string }
  | { type: 'unsubscribe' }
  | { type: 'scan'; scene: string }
  | { type: 'click'; key: string }
  | { type: 'view'; url: string }
  | { type: 'location_report'; latitude: number; longitude: number }
  | { type: 'location_select'; key: string; latitude: number; longitude: number; label?: string; poiname?: string }
  | { type: 'scancode_push' | 'scancode_waitmsg'; key: string; result: string }
  | { type: 'pic_sysphoto' | 'pic_photo_or_album' | 'pic_weixin'; key: string; count?: number }
  /** Not the citizen's doing: the platform's report of a template message's delivery, posted from their openid. */
  | { type: 'template_send_finish'; msgId: number; status: string };

const key = z.string().min(1).max(128);
const coord = (max: number) => z.number().finite().min(-max).max(max);
/** What the phone page may ask for: checked before anything is put into XML. */
export const citizenActionSchema: z.ZodType<CitizenAction> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), content: z.string().min(1).max(4000), bizmsgmenuid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional() }),
  z.object({ type: z.literal('voice'), recognition: z.string().max(1000).optional() }),
  z.object({ type: z.literal('image'), picUrl: z.string().url().max(1000).optional() }),
  z.object({ type: z.literal('location'), latitude: coord(90), longitude: coord(180), label: z.string().max(200).optional(), scale: z.number().int().min(1).max(30).optional() }),
  z.object({ type: z.literal('link'), title: z.string().min(1).max(200), url: z.string().url().max(1000), description: z.string().max(500).optional() }),
  z.object({ type: z.literal('file'), title: z.string().min(1).max(200) }),
  z.object({ type: z.enum(['video', 'shortvideo']) }),
  z.object({ type: z.literal('subscribe'), scene: z.string().min(1).max(64).optional() }),
  z.object({ type: z.literal('unsubscribe') }),
  z.object({ type: z.literal('scan'), scene: z.string().min(1).max(64) }),
  z.object({ type: z.literal('click'), key }),
  z.object({ type: z.literal('view'), url: z.string().min(1).max(1024) }),
  z.object({ type: z.literal('location_report'), latitude: coord(90), longitude: coord(180) }),
  z.object({ type: z.literal('location_select'), key, latitude: coord(90), longitude: coord(180), label: z.string().max(200).optional(), poiname: z.string().max(200).optional() }),
  z.object({ type: z.enum(['scancode_push', 'scancode_waitmsg']), key, result: z.string().max(2000) }),
  z.object({ type: z.enum(['pic_sysphoto', 'pic_photo_or_album', 'pic_weixin']), key, count: z.number().int().min(1).max(9).optional() }),
]) as z.ZodType<CitizenAction>;

/** A reply as the citizen's phone understands it. */
export type PhoneReply =
  | { type: 'text'; content: string }
  | { type: 'news'; article: { title: string; description: string; picUrl: string; url: string } }
  | { type: 'image' | 'voice'; mediaId: string }
  | { type: 'video'; mediaId: string; title: string }
  | { type: 'music'; title: string }
  | { type: 'transfer_customer_service' };

export interface SendResult {
  status: number;
  /** null when the account answered `success` or an empty body. */
  reply: PhoneReply | null;
  raw: string;
  msgId?: string;
}

export class CallbackProtocolError extends Error {}
export class NotFollowingError extends Error {}

/**
 * The citizen's side of the wire: builds the XML WeChat would send for an action, encrypts and
 * signs it as WeChat does, posts it to the account's callback, and checks and decrypts the answer.
 */
export class CitizenWire {
  private readonly crypto: WeChatCrypto | null;

  constructor(
    private readonly account: AccountWire,
    private readonly platform: EmulatedPlatform,
    private readonly clock: Clock,
  ) {
    this.crypto = account.aesKey ? new WeChatCrypto(account.token, account.aesKey, account.appid) : null;
  }

  /** The XML WeChat would post for this action. */
  buildXml(openid: string, action: CitizenAction, createTime: number, msgId: string): string {
    const n = (v: number | undefined, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
    const head = `<ToUserName>${cdata(this.account.originalId)}</ToUserName><FromUserName>${cdata(openid)}</FromUserName><CreateTime>${createTime}</CreateTime>`;
    const msg = (type: string, body: string) => `<xml>${head}<MsgType>${cdata(type)}</MsgType>${body}<MsgId>${msgId}</MsgId></xml>`;
    const ev = (event: string, body = '') => `<xml>${head}<MsgType>${cdata('event')}</MsgType><Event>${cdata(event)}</Event>${body}</xml>`;
    switch (action.type) {
      case 'text':
        return msg('text', `<Content>${cdata(action.content)}</Content>${action.bizmsgmenuid ? `<bizmsgmenuid>${cdata(action.bizmsgmenuid)}</bizmsgmenuid>` : ''}`);
      case 'voice':
        return msg('voice', `<MediaId>${cdata(randomBytes(8).toString('hex'))}</MediaId><Format>${cdata('amr')}</Format>${action.recognition !== undefined ? `<Recognition>${cdata(action.recognition)}</Recognition>` : ''}`);
      case 'image':
        return msg('image', `<PicUrl>${cdata(action.picUrl ?? 'http://mmbiz.qpic.cn/emulated.jpg')}</PicUrl><MediaId>${cdata(randomBytes(8).toString('hex'))}</MediaId>`);
      case 'location':
        return msg('location', `<Location_X>${n(action.latitude)}</Location_X><Location_Y>${n(action.longitude)}</Location_Y><Scale>${n(action.scale, 15)}</Scale><Label>${cdata(action.label ?? '')}</Label>`);
      case 'link':
        return msg('link', `<Title>${cdata(action.title)}</Title><Description>${cdata(action.description ?? '')}</Description><Url>${cdata(action.url)}</Url>`);
      case 'file':
        return msg('file', `<Title>${cdata(action.title)}</Title><Description>${cdata('')}</Description><FileKey>${cdata('k')}</FileKey><FileMd5>${cdata('0')}</FileMd5><FileTotalLen>1</FileTotalLen>`);
      case 'video':
      case 'shortvideo':
        return msg(action.type, `<MediaId>${cdata('m')}</MediaId><ThumbMediaId>${cdata('t')}</ThumbMediaId>`);
      case 'subscribe':
        return ev('subscribe', action.scene ? `<EventKey>${cdata(`qrscene_${action.scene}`)}</EventKey><Ticket>${cdata('emulated')}</Ticket>` : `<EventKey>${cdata('')}</EventKey>`);
      case 'unsubscribe':
        return ev('unsubscribe', `<EventKey>${cdata('')}</EventKey>`);
      case 'scan':
        return ev('SCAN', `<EventKey>${cdata(action.scene)}</EventKey><Ticket>${cdata('emulated')}</Ticket>`);
      case 'click':
        return ev('CLICK', `<EventKey>${cdata(action.key)}</EventKey>`);
      case 'view':
        return ev('VIEW', `<EventKey>${cdata(action.url)}</EventKey>`);
      case 'location_report':
        return ev('LOCATION', `<Latitude>${n(action.latitude)}</Latitude><Longitude>${n(action.longitude)}</Longitude><Precision>30</Precision>`);
      case 'location_select':
        return ev(
          'location_select',
          `<EventKey>${cdata(action.key)}</EventKey><SendLocationInfo><Location_X>${n(action.latitude)}</Location_X><Location_Y>${n(action.longitude)}</Location_Y><Scale>15</Scale><Label>${cdata(action.label ?? '')}</Label><Poiname>${cdata(action.poiname ?? '')}</Poiname></SendLocationInfo>`,
        );
      case 'scancode_push':
      case 'scancode_waitmsg':
        return ev(action.type, `<EventKey>${cdata(action.key)}</EventKey><ScanCodeInfo><ScanType>${cdata('qrcode')}</ScanType><ScanResult>${cdata(action.result)}</ScanResult></ScanCodeInfo>`);
      case 'pic_sysphoto':
      case 'pic_photo_or_album':
      case 'pic_weixin':
        return ev(action.type, `<EventKey>${cdata(action.key)}</EventKey><SendPicsInfo><Count>${n(action.count, 1)}</Count><PicList><item><PicMd5Sum>${cdata('d41d8cd98f00b204e9800998ecf8427e')}</PicMd5Sum></item></PicList></SendPicsInfo>`);
      case 'template_send_finish':
        return ev('TEMPLATESENDJOBFINISH', `<MsgID>${action.msgId}</MsgID><Status>${cdata(action.status)}</Status>`);
    }
  }

  /** Sign (and in safe/compatible mode encrypt) a document and post it; returns status and body. */
  async post(xml: string, opts: { timestamp?: string; nonce?: string } = {}): Promise<{ status: number; body: string; encrypted: boolean }> {
    const timestamp = opts.timestamp ?? String(Math.floor(this.clock.now() / 1000));
    const nonce = opts.nonce ?? String(Math.floor(Math.random() * 1e10));
    const q = new URLSearchParams({ timestamp, nonce, signature: sha1Signature(this.account.token, timestamp, nonce) });
    let body = xml;
    const encrypted = this.account.encoding !== 'plain' && this.crypto !== null;
    if (encrypted) {
      const enc = this.crypto!.encrypt(xml);
      q.set('encrypt_type', 'aes');
      q.set('msg_signature', this.crypto!.sign(timestamp, nonce, enc));
      const to = /<ToUserName><!\[CDATA\[(.*?)\]\]><\/ToUserName>/.exec(xml)?.[1] ?? this.account.originalId;
      body =
        this.account.encoding === 'compatible'
          ? xml.replace('</xml>', `<Encrypt>${cdata(enc)}</Encrypt></xml>`)
          : `<xml><ToUserName>${cdata(to)}</ToUserName><Encrypt>${cdata(enc)}</Encrypt></xml>`;
    }
    const res = await fetch(`${this.account.callbackUrl}?${q.toString()}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
    return { status: res.status, body: await res.text(), encrypted };
  }

  /** Perform an action as a citizen: updates the platform's view (window, follow) and posts it. */
  async act(openid: string, action: CitizenAction): Promise<SendResult> {
    const following = this.platform.citizen(openid).subscribed;
    if (!following && action.type !== 'subscribe' && action.type !== 'scan') {
      throw new NotFollowingError('only followers can message the account: follow it first');
    }
    if (action.type === 'scan' && !following) action = { type: 'subscribe', scene: action.scene }; // scanning to follow
    this.platform.deliver(openid, 'citizen', { ...action });
    const isMessage = ['text', 'voice', 'image', 'location', 'link', 'file', 'video', 'shortvideo'].includes(action.type);
    if (action.type === 'subscribe') this.platform.setSubscribed(openid, true);
    if (action.type === 'unsubscribe') this.platform.setSubscribed(openid, false);
    else if (isMessage) this.platform.interacted(openid, 'message');
    else if (['subscribe', 'scan', 'click', 'view', 'scancode_push', 'scancode_waitmsg', 'location_select', 'pic_sysphoto', 'pic_photo_or_album', 'pic_weixin'].includes(action.type)) {
      this.platform.interacted(openid, 'event');
    }
    const msgId = this.platform.newMsgId();
    const xml = this.buildXml(openid, action, Math.floor(this.clock.now() / 1000), msgId);
    const res = await this.post(xml);
    const reply = res.status === 200 ? await this.readReply(res.body, res.encrypted) : null;
    if (reply) this.platform.deliver(openid, 'passive', reply as unknown as Record<string, unknown>);
    return { status: res.status, reply, raw: res.body, msgId };
  }

  /** Check and decrypt the account's answer the way WeChat does; `success` or '' mean no reply. */
  async readReply(body: string, encrypted: boolean): Promise<PhoneReply | null> {
    if (body === '' || body === 'success') return null;
    let doc = parseWeChatXml(body);
    if (encrypted) {
      const enc = text(doc, 'Encrypt');
      const sig = sha1Signature(this.account.token, text(doc, 'TimeStamp'), text(doc, 'Nonce'), enc);
      if (!signaturesEqual(sig, text(doc, 'MsgSignature'))) throw new CallbackProtocolError('reply MsgSignature does not verify');
      doc = parseWeChatXml(this.crypto!.decrypt(enc));
    }
    return toPhoneReply(doc);
  }
}

function toPhoneReply(x: XmlObject): PhoneReply {
  const type = text(x, 'MsgType');
  switch (type) {
    case 'text':
      return { type: 'text', content: text(x, 'Content') };
    case 'news': {
      const item = child(child(x, 'Articles'), 'item');
      if (text(x, 'ArticleCount') !== '1') throw new CallbackProtocolError('a passive news reply carries exactly one article');
      return { type: 'news', article: { title: text(item, 'Title'), description: text(item, 'Description'), picUrl: text(item, 'PicUrl'), url: text(item, 'Url') } };
    }
    case 'image':
      return { type: 'image', mediaId: text(child(x, 'Image'), 'MediaId') };
    case 'voice':
      return { type: 'voice', mediaId: text(child(x, 'Voice'), 'MediaId') };
    case 'video':
      return { type: 'video', mediaId: text(child(x, 'Video'), 'MediaId'), title: text(child(x, 'Video'), 'Title') };
    case 'music':
      return { type: 'music', title: text(child(x, 'Music'), 'Title') };
    case 'transfer_customer_service':
      return { type: 'transfer_customer_service' };
    default:
      throw new CallbackProtocolError(`unknown reply type ${type}`);
  }
}
