import type { ApiClient } from './client.ts';

export interface TemplateMessage {
  templateId: string;
  /** Field values by key (`thing1`, `time2` …); WeChat checks lengths by field type (47003). */
  data: Record<string, string>;
  url?: string;
  miniprogram?: { appid: string; pagepath: string };
  /** De-duplicates per openid for 10 minutes on WeChat's side. */
  clientMsgId?: string;
}

/** Template messages: reach a citizen past the 48-hour window (verified service accounts). */
export class TemplateApi {
  constructor(private readonly c: ApiClient) {}

  async send(openid: string, m: TemplateMessage): Promise<{ msgid: number }> {
    const data: Record<string, { value: string }> = {};
    for (const [k, v] of Object.entries(m.data)) data[k] = { value: v };
    return this.c.call('/cgi-bin/message/template/send', {
      body: {
        touser: openid,
        template_id: m.templateId,
        url: m.url,
        miniprogram: m.miniprogram,
        client_msg_id: m.clientMsgId,
        data,
      },
    });
  }
}

/** Subscription notifications (一次性/长期订阅) sent with bizsend. */
export class SubscribeApi {
  constructor(private readonly c: ApiClient) {}

  async bizsend(openid: string, m: { templateId: string; data: Record<string, string>; page?: string; miniprogram?: { appid: string; pagepath: string } }): Promise<void> {
    const data: Record<string, { value: string }> = {};
    for (const [k, v] of Object.entries(m.data)) data[k] = { value: v };
    await this.c.call('/cgi-bin/message/subscribe/bizsend', {
      body: { touser: openid, template_id: m.templateId, page: m.page, miniprogram: m.miniprogram, data },
    });
  }
}
