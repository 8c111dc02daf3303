import type { MenuButton } from '../../profile/schema.ts';
import type { ApiClient } from './client.ts';

export interface WireButton {
  type?: string;
  name: string;
  key?: string;
  url?: string;
  appid?: string;
  pagepath?: string;
  sub_button?: WireButton[];
}

/** The custom menu (at most 3 buttons with at most 5 sub-buttons each). */
export class MenuApi {
  constructor(private readonly c: ApiClient) {}

  async create(buttons: WireButton[]): Promise<void> {
    await this.c.call('/cgi-bin/menu/create', { body: { button: buttons } });
  }

  async get(): Promise<{ menu?: { button: WireButton[] } }> {
    return this.c.call('/cgi-bin/menu/get'); // no body: a GET
  }

  async delete(): Promise<void> {
    await this.c.call('/cgi-bin/menu/delete');
  }
}

/** The profile's menu in WeChat's wire shape; relative links resolve against the public URL. */
export function toWireMenu(buttons: MenuButton[], publicUrl: string): WireButton[] {
  const abs = (u: string) => (u.startsWith('/') ? publicUrl.replace(/\/$/, '') + u : u);
  const leaf = (b: Exclude<MenuButton, { sub_button: unknown }>): WireButton => {
    const { type, name } = b;
    const out: WireButton = { type, name }; // function and validity stay in the profile
    if ('key' in b) out.key = b.key;
    if ('url' in b) out.url = abs(b.url);
    if ('appid' in b) {
      out.appid = b.appid;
      out.pagepath = b.pagepath;
    }
    return out;
  };
  return buttons.map((b) => ('sub_button' in b ? { name: b.name, sub_button: b.sub_button.map((s) => leaf(s as never)) } : leaf(b)));
}
