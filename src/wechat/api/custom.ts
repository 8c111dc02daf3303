import type { Article } from '../replies.ts';
import type { ApiClient } from './client.ts';

export type CustomMessage =
  | { type: 'text'; content: string }
  | { type: 'image'; mediaId: string }
  | { type: 'voice'; mediaId: string }
  | { type: 'video'; mediaId: string; thumbMediaId?: string; title?: string; description?: string }
  | { type: 'music'; title?: string; description?: string; musicUrl?: string; hqMusicUrl?: string; thumbMediaId: string }
  /** One article per message (45008 beyond). */
  | { type: 'news'; article: Article }
  /** Tappable choices: each comes back as a text message carrying `bizmsgmenuid`. */
  | { type: 'msgmenu'; headContent: string; list: { id: string; content: string }[]; tailContent?: string };

/** Customer-service messages: within 48 hours of the citizen's last interaction, limited in number. */
export class CustomApi {
  constructor(private readonly c: ApiClient) {}

  async send(openid: string, msg: CustomMessage): Promise<void> {
    await this.c.call('/cgi-bin/message/custom/send', { body: customBody(openid, msg) });
  }
}

export function customBody(openid: string, msg: CustomMessage): Record<string, unknown> {
  switch (msg.type) {
    case 'text':
      return { touser: openid, msgtype: 'text', text: { content: msg.content } };
    case 'image':
      return { touser: openid, msgtype: 'image', image: { media_id: msg.mediaId } };
    case 'voice':
      return { touser: openid, msgtype: 'voice', voice: { media_id: msg.mediaId } };
    case 'video':
      return {
        touser: openid,
        msgtype: 'video',
        video: { media_id: msg.mediaId, thumb_media_id: msg.thumbMediaId ?? '', title: msg.title ?? '', description: msg.description ?? '' },
      };
    case 'music':
      return {
        touser: openid,
        msgtype: 'music',
        music: { title: msg.title ?? '', description: msg.description ?? '', musicurl: msg.musicUrl ?? '', hqmusicurl: msg.hqMusicUrl ?? '', thumb_media_id: msg.thumbMediaId },
      };
    case 'news':
      return {
        touser: openid,
        msgtype: 'news',
        news: { articles: [{ title: msg.article.title, description: msg.article.description ?? '', url: msg.article.url, picurl: msg.article.picUrl ?? '' }] },
      };
    case 'msgmenu':
      return {
        touser: openid,
        msgtype: 'msgmenu',
        msgmenu: { head_content: msg.headContent, list: msg.list, tail_content: msg.tailContent ?? '' },
      };
  }
}
