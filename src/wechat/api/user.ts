import type { ApiClient } from './client.ts';

export interface UserInfo {
  subscribe: 0 | 1;
  openid: string;
  language?: string;
  subscribe_time?: number;
  unionid?: string;
  remark?: string;
  subscribe_scene?: string;
  qr_scene_str?: string;
}

export class UserApi {
  constructor(private readonly c: ApiClient) {}

  async info(openid: string): Promise<UserInfo> {
    return this.c.call<UserInfo>('/cgi-bin/user/info', { method: 'GET', query: { openid, lang: 'zh_CN' } });
  }
}
