import { cdata } from './xml.ts';

export interface Article {
  title: string;
  description?: string;
  picUrl?: string;
  url: string;
}

export type Reply =
  | { type: 'text'; content: string }
  | { type: 'image'; mediaId: string }
  | { type: 'voice'; mediaId: string }
  | { type: 'video'; mediaId: string; title?: string; description?: string }
  | { type: 'music'; title?: string; description?: string; musicUrl?: string; hqMusicUrl?: string; thumbMediaId: string }
  /** WeChat shows one article in a passive news reply (since 2018-10); more are refused. */
  | { type: 'news'; article: Article }
  | { type: 'transfer_customer_service'; kfAccount?: string };

export interface ReplyEnvelope {
  /** The citizen's openid (the message's FromUserName). */
  to: string;
  /** The account (the message's ToUserName): replies are sent from where the message went. */
  from: string;
  /** Seconds. */
  createTime: number;
}

/** Longest passive text WeChat delivers whole. */
export const MAX_TEXT_BYTES = 2048;

/** Render a passive reply as WeChat XML (plain; safe mode wraps it afterwards). */
export function renderReply(reply: Reply, env: ReplyEnvelope): string {
  const head = `<ToUserName>${cdata(env.to)}</ToUserName><FromUserName>${cdata(env.from)}</FromUserName><CreateTime>${Math.floor(env.createTime)}</CreateTime>`;
  switch (reply.type) {
    case 'text':
      return `<xml>${head}<MsgType>${cdata('text')}</MsgType><Content>${cdata(reply.content)}</Content></xml>`;
    case 'image':
      return `<xml>${head}<MsgType>${cdata('image')}</MsgType><Image><MediaId>${cdata(reply.mediaId)}</MediaId></Image></xml>`;
    case 'voice':
      return `<xml>${head}<MsgType>${cdata('voice')}</MsgType><Voice><MediaId>${cdata(reply.mediaId)}</MediaId></Voice></xml>`;
    case 'video':
      return (
        `<xml>${head}<MsgType>${cdata('video')}</MsgType><Video><MediaId>${cdata(reply.mediaId)}</MediaId>` +
        `<Title>${cdata(reply.title ?? '')}</Title><Description>${cdata(reply.description ?? '')}</Description></Video></xml>`
      );
    case 'music':
      return (
        `<xml>${head}<MsgType>${cdata('music')}</MsgType><Music><Title>${cdata(reply.title ?? '')}</Title>` +
        `<Description>${cdata(reply.description ?? '')}</Description><MusicUrl>${cdata(reply.musicUrl ?? '')}</MusicUrl>` +
        `<HQMusicUrl>${cdata(reply.hqMusicUrl ?? '')}</HQMusicUrl><ThumbMediaId>${cdata(reply.thumbMediaId)}</ThumbMediaId></Music></xml>`
      );
    case 'news': {
      const a = reply.article;
      return (
        `<xml>${head}<MsgType>${cdata('news')}</MsgType><ArticleCount>1</ArticleCount><Articles><item>` +
        `<Title>${cdata(a.title)}</Title><Description>${cdata(a.description ?? '')}</Description>` +
        `<PicUrl>${cdata(a.picUrl ?? '')}</PicUrl><Url>${cdata(a.url)}</Url></item></Articles></xml>`
      );
    }
    case 'transfer_customer_service':
      return (
        `<xml>${head}<MsgType>${cdata('transfer_customer_service')}</MsgType>` +
        (reply.kfAccount ? `<TransInfo><KfAccount>${cdata(reply.kfAccount)}</KfAccount></TransInfo>` : '') +
        `</xml>`
      );
  }
}

/** A short text for the conversation log and the staff panel. */
export function describeReply(reply: Reply): string {
  switch (reply.type) {
    case 'text':
      return reply.content;
    case 'news':
      return `[图文] ${reply.article.title}`;
    case 'image':
      return '[图片]';
    case 'voice':
      return '[语音]';
    case 'video':
      return `[视频] ${reply.title ?? ''}`.trim();
    case 'music':
      return `[音乐] ${reply.title ?? ''}`.trim();
    case 'transfer_customer_service':
      return '[转客服]';
  }
}
