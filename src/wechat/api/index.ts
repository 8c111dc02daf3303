import type { Clock } from '../../platform/clock.ts';
import type { Kv } from '../../platform/kv/index.ts';
import type { Logger } from '../../platform/log.ts';
import { ApiClient } from './client.ts';
import { CustomApi } from './custom.ts';
import { JsSdkApi } from './jssdk.ts';
import { MenuApi } from './menu.ts';
import { OAuthApi } from './oauth.ts';
import { QrCodeApi } from './qrcode.ts';
import { SubscribeApi, TemplateApi } from './template.ts';
import { UserApi } from './user.ts';

export { ApiClient } from './client.ts';
export { WeChatApiError, isWeChatError } from './errors.ts';
export type { CustomMessage } from './custom.ts';
export type { TemplateMessage } from './template.ts';

/** Every platform API topic over one client that owns the token and the error codes. */
export class WeChatApi {
  readonly client: ApiClient;
  readonly custom: CustomApi;
  readonly template: TemplateApi;
  readonly subscribe: SubscribeApi;
  readonly menu: MenuApi;
  readonly qrcode: QrCodeApi;
  readonly user: UserApi;
  readonly oauth: OAuthApi;
  readonly jssdk: JsSdkApi;

  constructor(o: { baseUrl: string; oauthBaseUrl: string; appid: string; secret: string; kv: Kv; clock: Clock; log: Logger; fetch?: typeof fetch }) {
    this.client = new ApiClient({ baseUrl: o.baseUrl, appid: o.appid, secret: o.secret, kv: o.kv, clock: o.clock, log: o.log, ...(o.fetch ? { fetch: o.fetch } : {}) });
    this.custom = new CustomApi(this.client);
    this.template = new TemplateApi(this.client);
    this.subscribe = new SubscribeApi(this.client);
    this.menu = new MenuApi(this.client);
    this.qrcode = new QrCodeApi(this.client);
    this.user = new UserApi(this.client);
    this.oauth = new OAuthApi(this.client, o.oauthBaseUrl, o.secret);
    this.jssdk = new JsSdkApi(this.client, o.kv, o.clock);
  }
}
