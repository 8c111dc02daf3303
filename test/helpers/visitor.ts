/** A tiny browser: a cookie jar over fetch, following redirects across our two hosts. */
export class Visitor {
  private jar = new Map<string, string>();
  constructor(private readonly base: string) {}
  cookie(name: string, value: string) {
    this.jar.set(name, value);
  }
  private header() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  private keep(res: Response) {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      this.jar.set(pair!.slice(0, i), pair!.slice(i + 1));
    }
  }
  async get(path: string, follow = true): Promise<{ status: number; url: string; text: string; location: string | null; headers: Headers }> {
    let url = path.startsWith('http') ? path : this.base + path;
    for (let i = 0; i < 6; i++) {
      const res = await fetch(url, { headers: { cookie: this.header() }, redirect: 'manual' });
      this.keep(res);
      const loc = res.headers.get('location');
      if (follow && loc && res.status >= 300 && res.status < 400) {
        url = new URL(loc, url).toString();
        continue;
      }
      return { status: res.status, url, text: await res.text(), location: loc, headers: res.headers };
    }
    throw new Error('too many redirects');
  }
  async post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; text: string; location: string | null }> {
    const res = await fetch(this.base + path, {
      method: 'POST',
      headers: { cookie: this.header(), 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
      redirect: 'manual',
    });
    this.keep(res);
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }
  async postMultipart(path: string, form: FormData | string, contentType?: string): Promise<{ status: number; text: string; location: string | null }> {
    const res = await fetch(this.base + path, { method: 'POST', headers: { cookie: this.header(), ...(contentType ? { 'content-type': contentType } : {}) }, body: form, redirect: 'manual' });
    this.keep(res);
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  }
  csrf(html: string): string {
    return /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
  }
}

