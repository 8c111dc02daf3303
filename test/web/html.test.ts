import { describe, expect, it } from 'vitest';
import { html, raw, safeUrl } from '../../src/web/html.ts';

describe('auto-escaping templates', () => {
  it('escapes every interpolated value, including in attributes', () => {
    const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>"'\``;
    expect(html`<p title="${evil}">${evil}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&#96;">&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&#96;</p>',
    );
  });
  it('nests templates and joins arrays without double-escaping; null and false render nothing', () => {
    const items = ['a<b', 'c&d'];
    expect(html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>${null}${false}${undefined}${0}`.value).toBe('<ul><li>a&lt;b</li><li>c&amp;d</li></ul>0');
    expect(html`${raw('<br>')}`.value).toBe('<br>');
  });
  it('lets only harmless URLs into links', () => {
    for (const bad of ['javascript:alert(1)', ' JavaScript:alert(1)', 'data:text/html,x', 'vbscript:x', '//evil.example/x', '/\\evil.example/x', '/\t/evil.example', '\n//evil.example', 'java\tscript:alert(1)']) {
      expect(safeUrl(bad), JSON.stringify(bad)).toBe('#');
    }
    for (const ok of ['https://example.org/a', '/h5/guide/x', 'weixin://bizmsgmenu?x=1', '#top']) expect(safeUrl(ok)).toBe(ok);
  });
  it('keeps every root-relative URL it lets through on this host, as a browser resolves it', () => {
    for (const u of ['/\\evil.example', '/\t/evil.example', '/ /evil.example', '/h5/guide/x', '/%2F/evil.example', '/.//evil.example']) {
      const out = safeUrl(u);
      if (out !== '#') expect(new URL(out, 'https://account.example').host, JSON.stringify(u)).toBe('account.example');
    }
  });
});
