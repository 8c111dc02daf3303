import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { docsFromCatalogue, MAX_QUERY_CHARS, SearchIndex, type SearchDoc } from '../../src/chat/search.ts';
import { faqSchema, serviceSchema, synonymsSchema } from '../../src/profile/catalogue.ts';
import { PROJECT_ROOT } from '../../src/paths.ts';

const read = (rel: string) => parseYaml(readFileSync(join(PROJECT_ROOT, rel), 'utf8'));
const services = z.array(serviceSchema).parse(read('config/services.yaml'));
const faq = z.array(faqSchema).parse(read('config/faq.yaml'));
const synonyms = synonymsSchema.parse(read('config/synonyms.yaml'));

/** 2026-11-24 10:00 China time. */
const NOW = Date.UTC(2026, 10, 24, 2, 0);
const DAY = 86_400_000;

const phrasingSchema = z.object({ q: z.string(), ref: z.string(), why: z.string().optional() }).strict();
const fixture = z
  .object({ positives: z.array(phrasingSchema).min(60), negatives: z.array(phrasingSchema).min(12) })
  .strict()
  .parse(read('test/fixtures/search-phrasings.yaml'));

const catalogue = new SearchIndex(docsFromCatalogue(services, faq), { synonyms });

describe('the demo catalogue', () => {
  it('has about 30 service items, about 45 FAQ entries and 30+ synonym groups', () => {
    expect(services.length).toBeGreaterThanOrEqual(28);
    expect(faq.length).toBeGreaterThanOrEqual(45);
    expect(synonyms.length).toBeGreaterThanOrEqual(30);
    const ids = new Set(services.map((s) => s.id));
    for (const f of faq) if (f.service) expect(ids.has(f.service), `faq ${f.id} → ${f.service}`).toBe(true);
    for (const f of faq) expect([...f.answer].length, `faq ${f.id}`).toBeLessThanOrEqual(300);
  });

  it('labels only refs that exist', () => {
    const refs = new Set(docsFromCatalogue(services, faq).map((d) => d.ref));
    for (const p of fixture.positives) expect(refs.has(p.ref), p.ref).toBe(true);
    for (const p of fixture.negatives) expect(p.ref).toBe('none');
  });
});

describe('search over the labelled citizen phrasings', () => {
  it('puts the right answer first for ≥ 90 % and in the top 3 for ≥ 98 %, and stays silent on every negative', () => {
    let at1 = 0;
    let at3 = 0;
    const misses: string[] = [];
    for (const p of fixture.positives) {
      const hits = catalogue.search(p.q, { now: NOW, limit: 5 });
      const rank = hits.findIndex((h) => h.ref === p.ref);
      if (rank === 0) at1++;
      if (rank >= 0 && rank < 3) at3++;
      if (rank !== 0) misses.push(`${p.q} → ${p.ref} (rank ${rank < 0 ? '-' : rank + 1}; got ${hits.map((h) => h.ref).join(', ') || 'nothing'})`);
    }
    const loud: string[] = [];
    for (const p of fixture.negatives) {
      const hits = catalogue.search(p.q, { now: NOW });
      if (hits.length) loud.push(`${p.q} → ${hits.map((h) => h.ref).join(', ')}`);
    }
    const n = fixture.positives.length;
    console.log(
      `search: hit@1 ${at1}/${n} = ${((100 * at1) / n).toFixed(1)} %, hit@3 ${at3}/${n} = ${((100 * at3) / n).toFixed(1)} %, ` +
        `negatives silent ${fixture.negatives.length - loud.length}/${fixture.negatives.length}` +
        (misses.length ? `\n  not first:\n    ${misses.join('\n    ')}` : '') +
        (loud.length ? `\n  negatives answered:\n    ${loud.join('\n    ')}` : ''),
    );
    expect(at1 / n).toBeGreaterThanOrEqual(0.9);
    expect(at3 / n).toBeGreaterThanOrEqual(0.98);
    expect(loud).toEqual([]);
  });
});

/** A small index for behaviour tests. */
function doc(ref: string, title: string, extra: Partial<SearchDoc> = {}): SearchDoc {
  return {
    ref,
    kind: ref.startsWith('faq:') ? 'faq' : 'service',
    title,
    keywords: [],
    synonyms: [],
    body: '',
    audience: [],
    ...extra,
  };
}

const small = new SearchIndex(
  [
    doc('service:ssc', '社会保障卡申领', { keywords: ['社保卡', '社保卡补办'], body: '带身份证到社区事务受理服务中心办理。' }),
    doc('service:permit', '居住证办理', { keywords: ['居住证', '居住证签注'], body: '来沪人员在本市居住满半年可以申领居住证。' }),
    doc('service:fund', '住房公积金提取', { keywords: ['公积金提取'], body: '购房、租房、退休可以提取公积金。' }),
    doc('service:licence', '个体工商户营业执照', { keywords: ['营业执照'], body: '网上办理，一个工作日办结。' }),
    doc('service:marriage', '结婚登记', { keywords: ['结婚证'], body: '双方带身份证到婚姻登记中心。' }),
  ],
  { synonyms: [['居住证', '暂住证'], ['营业执照', '执照', '工商执照'], ['公积金', '住房公积金']] },
);
const top = (index: SearchIndex, q: string, opts: Partial<Parameters<SearchIndex['search']>[1]> = {}) =>
  index.search(q, { now: NOW, ...opts })[0]?.ref ?? null;

describe('matching by sound and by other names', () => {
  it('reads full pinyin, with or without spaces, and pinyin mixed with characters', () => {
    expect(top(small, 'shebaoka')).toBe('service:ssc');
    expect(top(small, 'ju zhu zheng')).toBe('service:permit');
    expect(top(small, 'jvzhuzheng')).toBe('service:permit');
    expect(top(small, 'gongjijin怎么提取')).toBe('service:fund');
    expect(top(small, 'jiehun登记')).toBe('service:marriage');
  });

  it('reads initials', () => {
    expect(top(small, 'sbk')).toBe('service:ssc');
    expect(top(small, 'gjj')).toBe('service:fund');
    expect(top(small, 'jzz')).toBe('service:permit');
  });

  it('forgives homophone typos, including the usual fuzzy pairs', () => {
    expect(top(small, '社宝卡')).toBe('service:ssc');
    expect(top(small, '居注证')).toBe('service:permit');
    expect(top(small, '结昏登记')).toBe('service:marriage');
    expect(top(small, '公基金')).toBe('service:fund');
    expect(top(small, '居驻正')).toBe('service:permit'); // zheng/zhen, two of three characters by sound
  });

  it('does not take a different word for a typo when no character is right', () => {
    // 书包 (shu bao) is not 社保 (she bao): no character right, one syllable off
    expect(small.search('书包卡', { now: NOW })).toEqual([]);
  });

  it('expands synonym groups in both directions', () => {
    expect(top(small, '暂住证')).toBe('service:permit');
    expect(top(small, '工商执照怎么办')).toBe('service:licence');
    expect(top(small, '执照')).toBe('service:licence');
  });
});

describe('validity windows', () => {
  it('never returns the expired 核酸 FAQ now, though it would have in 2022', () => {
    expect(faq.find((f) => f.id === 'covid-test-sites')?.valid_until).toBe('2023-01-08');
    for (const q of ['核酸检测点在哪里', '做核酸', 'hesuan']) {
      expect(catalogue.search(q, { now: NOW }).map((h) => h.ref)).not.toContain('faq:covid-test-sites');
    }
    expect(top(catalogue, '核酸检测点在哪里', { now: Date.UTC(2022, 11, 1) })).toBe('faq:covid-test-sites');
    // the whole last day counts (China time), the next day does not
    expect(top(catalogue, '核酸检测点在哪里', { now: Date.UTC(2023, 0, 8, 15, 59) })).toBe('faq:covid-test-sites');
    expect(top(catalogue, '核酸检测点在哪里', { now: Date.UTC(2023, 0, 8, 16, 0) })).toBeNull();
  });

  it('shows an item with valid_from only once that moment has passed', () => {
    const index = new SearchIndex(
      [
        doc('service:subsidy', '以旧换新补贴申领', { keywords: ['以旧换新'], valid_from: '2026-12-01' }),
        doc('service:other', '营业执照', { keywords: ['营业执照'] }),
      ],
      { synonyms: [] },
    );
    expect(index.search('以旧换新补贴', { now: NOW })).toEqual([]);
    const from = Date.UTC(2026, 10, 30, 16, 0); // 2026-12-01 00:00 China time
    expect(index.search('以旧换新补贴', { now: from - 1 })).toEqual([]);
    expect(top(index, '以旧换新补贴', { now: from })).toBe('service:subsidy');
    expect(top(index, '以旧换新补贴', { now: from + 30 * DAY })).toBe('service:subsidy');
  });
});

describe('audience', () => {
  const index = new SearchIndex(
    [
      doc('faq:resident-parking', '停车证怎么办理', { keywords: ['停车证'], audience: ['resident'] }),
      doc('faq:business-parking', '停车证怎么办理', { keywords: ['停车证'], audience: ['business'] }),
    ],
    { synonyms: [] },
  );

  it('ranks documents for the citizen’s audience a little higher, and leaves the others in', () => {
    const forBusiness = index.search('停车证', { now: NOW, audience: 'business' });
    expect(forBusiness.map((h) => h.ref)).toEqual(['faq:business-parking', 'faq:resident-parking']);
    const forResident = index.search('停车证', { now: NOW, audience: 'resident' });
    expect(forResident.map((h) => h.ref)).toEqual(['faq:resident-parking', 'faq:business-parking']);
    expect(forResident[0]!.score).toBeGreaterThan(forResident[1]!.score);
    expect(index.search('停车证', { now: NOW, audience: 'migrant' })).toHaveLength(2);
  });

  it('does not lift a weak match above a strong one', () => {
    const hits = catalogue.search('护照多久能拿到', { now: NOW, audience: 'business' });
    expect(hits[0]?.ref).toBe('faq:passport-time');
  });
});

describe('queries that are not questions', () => {
  it('returns nothing, quickly and without throwing, for empty, blank, punctuation-only and emoji input', () => {
    for (const q of ['', '   ', '\n\t', '。。。？？！', '?!.,;:', '……', '😀😀', '\u0000\u0001', '（）【】']) {
      expect(catalogue.search(q, { now: NOW }), JSON.stringify(q)).toEqual([]);
    }
  });

  it('handles a 5,000-character message by searching only its start (its cost is bounded by MAX_QUERY_CHARS, not by the message)', () => {
    const long = `社保卡丢了怎么办${'啊'.repeat(2_000)}${'abc,'.repeat(500)}${'护照'.repeat(500)}`.slice(0, 5_000);
    expect(long.length).toBe(5_000);
    const hits = catalogue.search(long, { now: NOW });
    expect(hits[0]?.ref).toBe('faq:ssc-lost');
    // What lies beyond the start changes nothing: 护照 far down the message finds no passport answer.
    expect(hits).toEqual(catalogue.search(long.slice(0, MAX_QUERY_CHARS), { now: NOW }));
    const passport = catalogue.search('护照', { now: NOW })[0]?.ref;
    expect(passport).toBeDefined();
    expect(hits.map((h) => h.ref)).not.toContain(passport);
    const noise = Array.from({ length: 5_000 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20_000))).join('');
    expect(() => catalogue.search(noise, { now: NOW })).not.toThrow();
    expect(MAX_QUERY_CHARS).toBeLessThanOrEqual(200);
  });

  it('respects limit', () => {
    expect(catalogue.search('社保', { now: NOW, limit: 2 }).length).toBeLessThanOrEqual(2);
    expect(catalogue.search('社保', { now: NOW, limit: 0 })).toEqual([]);
  });
});

describe('docsFromCatalogue', () => {
  it('makes one document per service item and FAQ entry, with refs and texts from the schemas', () => {
    const docs = docsFromCatalogue(services, faq);
    expect(docs).toHaveLength(services.length + faq.length);
    const permit = docs.find((d) => d.ref === 'service:residence-permit')!;
    expect(permit.kind).toBe('service');
    expect(permit.title).toBe('上海市居住证办理');
    expect(permit.body).toContain('居住登记');
    expect(permit.audience).toEqual(['migrant']);
    const covid = docs.find((d) => d.ref === 'faq:covid-test-sites')!;
    expect(covid.kind).toBe('faq');
    expect(covid.valid_until).toBe('2023-01-08');
    expect(covid.title).toBe('核酸检测点在哪里？');
  });
});
