import type { ApiClient } from './client.ts';

/**
 * Web authorisation for H5 pages with `snsapi_base` only: silent, yields the openid, asks the
 * citizen nothing. (snsapi_userinfo is deliberately not offered: our pages need no profile data.)
 */
export class OAuthApi {
  constructor(
    private readonly c: ApiClient,
    private readonly oauthBaseUrl: string,
    private readonly secret: string,
  ) {}

  authorizeUrl(redirectUri: string, state: string): string {
    const q = new URLSearchParams({ appid: this.c.appid, redirect_uri: redirectUri, response_type: 'code', scope: 'snsapi_base', state });
    return `${this.oauthBaseUrl.replace(/\/$/, '')}/connect/oauth2/authorize?${q.toString()}#wechat_redirect`;
  }

  /** Exchange the code the redirect brought back for the citizen's openid. */
  async exchange(code: string): Promise<{ openid: string; scope: string }> {
    const r = await this.c.call<{ openid: string; scope: string }>('/sns/oauth2/access_token', {
      method: 'GET',
      noToken: true,
      query: { appid: this.c.appid, secret: this.secret, code, grant_type: 'authorization_code' },
    });
    return { openid: r.openid, scope: r.scope };
  }
}
