import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadCalendarData, WorkingCalendar } from '../../src/platform/calendar.ts';
import { HOUR } from '../../src/platform/clock.ts';
import { dueLists, menuSuggestions, normDeadline, ranking, satisfactionTable, speedTable, unusedItems, weeklyTrend, weeks, type Item } from '../../src/ops/figures.ts';
import { useOfRef, type HumanRequest, type Rating, type Use } from '../../src/ops/sources.ts';
import { cst } from '../helpers/chat.ts';

const cal = new WorkingCalendar({ data: loadCalendarData(fileURLToPath(new URL('../../config/calendar.yaml', import.meta.url))), hours: { default: [['09:00', '12:00'], ['13:30', '17:30']] } });

const items: Item[] = 'abcdefghij'.split('').map((c) => ({ key: `service:${c}`, name: `事项${c}`, kind: 'service', live: c !== 'j' }));
const use = (item: string, n: number, o: Partial<Use> = {}): Use[] => Array.from({ length: n }, (_, i) => ({ item: `service:${item}`, at: cst(2026, 11, 23) + i, channel: 'chat', action: 'read', audience: null, openid: `o_${item}_${i % 3}`, ...o }));

describe('use per item', () => {
  it('reads the log\'s refs: what answered, and how the citizen got there', () => {
    expect(useOfRef('service:passport via menu:guides')).toEqual({ item: 'service:passport', channel: 'menu', action: 'read' });
    expect(useOfRef('faq:lost-id via search')).toEqual({ item: 'faq:lost-id', channel: 'chat', action: 'search' });
    expect(useOfRef('service:social-security-card via nav:g-ss-card')).toEqual({ item: 'service:social-security-card', channel: 'chat', action: 'read' });
    expect(useOfRef('faq:x')).toEqual({ item: 'faq:x', channel: 'chat', action: 'read' });
    for (const other of ['nav:guides', 'handoff:3', 'search', 'welcome', 'service:', 'case:12']) expect(useOfRef(other)).toBeNull();
  });

  it('ranks by use with each share and the cumulative share; the head is the few that take 80 %', () => {
    // 100 uses over 9 items: 50, 30, 8, 4, 3, 2, 1, 1, 1 — two items take 80 %.
    const uses = [...use('a', 50), ...use('b', 30), ...use('c', 8), ...use('d', 4), ...use('e', 3), ...use('f', 2), ...use('g', 1), ...use('h', 1), ...use('i', 1, { channel: 'menu' })];
    const r = ranking(uses, items);
    expect(r.total).toBe(100);
    expect(r.rows.map((x) => [x.key.slice(8), x.uses])).toEqual([['a', 50], ['b', 30], ['c', 8], ['d', 4], ['e', 3], ['f', 2], ['g', 1], ['h', 1], ['i', 1]]);
    expect(r.rows.map((x) => x.cumulative)).toEqual([0.5, 0.8, 0.88, 0.92, 0.95, 0.97, 0.98, 0.99, 1]);
    expect(r.rows.filter((x) => x.head).map((x) => x.key)).toEqual(['service:a', 'service:b']);
    expect(r.headItems).toBe(2);
    expect(r.headShareOfItems).toBeCloseTo(2 / 9);
    expect(r.rows[0]!.users).toBe(3);
    expect(r.rows.at(-1)!.byChannel).toEqual({ chat: 0, menu: 1, page: 0 });
    // j is out of its validity window: not "unused", it cannot be reached.
    expect(unusedItems(r, items)).toEqual([]);
    expect(unusedItems(ranking(use('a', 3), items), items).map((i) => i.key)).toEqual(['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((c) => `service:${c}`));
  });

  it('an item crossing 80 % belongs to the head; nothing used, nothing in it', () => {
    const r = ranking([...use('a', 70), ...use('b', 20), ...use('c', 10)], items);
    expect(r.rows.map((x) => x.head)).toEqual([true, true, false]);
    expect(ranking([], items)).toMatchObject({ total: 0, rows: [], headItems: 0, headShareOfItems: 0 });
  });

  it('weeks start on Monday, China time, and the current one ends now', () => {
    const now = cst(2026, 11, 25, 12); // Wednesday
    const ws = weeks(cal, now, 3);
    expect(ws.map((w) => w.label)).toEqual(['11/9 起', '11/16 起', '11/23 起']);
    expect(ws[2]!.from).toBe(cst(2026, 11, 23, 0));
    expect(ws[2]!.to).toBe(now + 1);
    const t = weeklyTrend([...use('a', 2, { at: cst(2026, 11, 15, 23, 59) }), ...use('a', 1, { at: cst(2026, 11, 16, 0, 0) }), ...use('b', 4, { at: cst(2026, 11, 24) })], ws, ['service:a']);
    expect(t.get('')).toEqual([2, 1, 4]);
    expect(t.get('service:a')).toEqual([2, 1, 0]);
  });

  it('suggests moving up a frequent item reached by typing, and out a menu entry nobody taps', () => {
    const r = ranking([...use('a', 60), ...use('b', 30, { channel: 'menu' }), ...use('c', 10)], items);
    const s = menuSuggestions(r, [
      { key: 'guides', name: '办事指南', parent: '办政事', taps: 40 },
      { key: 'notices', name: '通知公告', parent: '知政务', taps: 0 },
    ]);
    expect(s.map((x) => [x.kind, x.name])).toEqual([
      ['up', '事项a'],
      ['out', '知政务 › 通知公告'],
    ]);
    // Too few taps in the period to judge the menu: no "move out".
    expect(menuSuggestions(r, [{ key: 'notices', name: '通知公告', parent: '知政务', taps: 0 }, { key: 'guides', name: '办事指南', parent: '办政事', taps: 5 }]).filter((x) => x.kind === 'out')).toEqual([]);
  });
});

const req = (o: Partial<HumanRequest> & Pick<HumanRequest, 'createdAt'>): HumanRequest => ({ source: 'conversation', sourceName: '会话', id: 1, title: 't', department: 'd1', staffId: null, norm: 'simple', firstAnsweredAt: null, open: true, link: '/admin/inbox/1', ...o });

describe('reply speed against the norms', () => {
  it('a complex matter\'s 3 working days skip the National Day holiday and count the 调休 Saturday', () => {
    // Wednesday 30 September: 1 Oct – 7 Oct are holidays; Thu 8, Fri 9 and Sat 10 (调休) are working days.
    expect(normDeadline({ norm: 'complex', createdAt: cst(2026, 9, 30, 10) }, cal)).toBe(cst(2026, 10, 10, 17, 30));
    // A simple consultation: 24 hours, holiday or not.
    expect(normDeadline({ norm: 'simple', createdAt: cst(2026, 9, 30, 10) }, cal)).toBe(cst(2026, 10, 1, 10));
    // An ordinary Friday: Mon, Tue, Wed.
    expect(normDeadline({ norm: 'complex', createdAt: cst(2026, 11, 20, 15) }, cal)).toBe(cst(2026, 11, 25, 17, 30));
  });

  it('speed classes, the share within the norms per group, and what is not judged yet', () => {
    const now = cst(2026, 10, 12, 10);
    const rs = [
      req({ id: 1, createdAt: cst(2026, 9, 30, 10), firstAnsweredAt: cst(2026, 9, 30, 10, 5), staffId: 7 }), // instant, within
      req({ id: 2, createdAt: cst(2026, 9, 30, 10), firstAnsweredAt: cst(2026, 9, 30, 16), staffId: 7 }), // same day, within
      req({ id: 3, createdAt: cst(2026, 9, 30, 10), firstAnsweredAt: cst(2026, 10, 8, 9), staffId: 8 }), // simple: the next working day after the holiday (次日) — yet past 24 hours: late
      req({ id: 4, norm: 'complex', createdAt: cst(2026, 9, 30, 10), firstAnsweredAt: cst(2026, 10, 10, 11), staffId: 8, department: 'd2' }), // the 调休 Saturday: within
      req({ id: 5, norm: 'complex', createdAt: cst(2026, 9, 30, 10), firstAnsweredAt: cst(2026, 10, 12, 9), staffId: 8, department: 'd2' }), // Monday: late
      req({ id: 6, norm: 'complex', createdAt: cst(2026, 10, 9, 10), department: 'd2' }), // due Wed 14 Oct: not judged yet
      req({ id: 7, createdAt: cst(2026, 10, 9, 10) }), // simple, never answered: late since Sat 10:00
    ];
    const { total, rows } = speedTable(rs, { calendar: cal, now, instantMs: 10 * 60_000, group: (r) => ({ key: r.department!, label: r.department! }) });
    expect(total.speed).toEqual({ instant: 1, same_day: 1, next_day: 1, later: 2, none: 2 });
    expect(total).toMatchObject({ requests: 7, judged: 6, withinNorm: 3 });
    expect(total.share).toBe(0.5);
    expect(total.byNorm).toEqual({ simple: { judged: 4, within: 2 }, complex: { judged: 2, within: 1 } });
    const byDept = Object.fromEntries(rows.map((r) => [r.key, [r.withinNorm, r.judged]]));
    expect(byDept).toEqual({ d1: [2, 4], d2: [1, 2] });
    const byStaff = speedTable(rs, { calendar: cal, now, instantMs: 10 * 60_000, group: (r) => (r.staffId === null ? null : { key: String(r.staffId), label: String(r.staffId) }) }).rows;
    expect(byStaff.map((r) => [r.key, r.share])).toEqual([['8', 1 / 3], ['7', 1]]); // worst first
  });

  it('overdue and nearly due lists, soonest first', () => {
    const now = cst(2026, 11, 24, 9);
    const { overdue, near } = dueLists(
      [
        req({ id: 1, createdAt: cst(2026, 11, 23, 8) }), // due Tue 8:00: overdue
        req({ id: 2, createdAt: cst(2026, 11, 23, 11) }), // due Tue 11:00: 2 h left
        req({ id: 3, createdAt: cst(2026, 11, 23, 15) }), // due Tue 15:00: 6 h left
        req({ id: 4, norm: 'complex', createdAt: cst(2026, 11, 18, 10) }), // due Mon 23 17:30: overdue
      ],
      cal,
      now,
      4 * HOUR,
    );
    expect(overdue.map((r) => r.id)).toEqual([4, 1]);
    expect(near.map((r) => r.id)).toEqual([2]);
  });
});

describe('satisfaction', () => {
  const rating = (o: Partial<Rating>): Rating => ({ source: 'conversation', id: 1, item: null, department: 'd1', staffId: null, channel: 'chat', level: 5, at: 0, comment: null, rectified: null, link: '', ...o });
  it('average, satisfied share, 差评 and the rectified share of those that keep one', () => {
    const { total, rows } = satisfactionTable(
      [rating({ level: 5 }), rating({ level: 4 }), rating({ level: 1, source: 'ticket', rectified: true }), rating({ level: 2, source: 'ticket', rectified: false }), rating({ level: 2 }), rating({ level: 3, department: 'd2' })],
      (r) => ({ key: r.department!, label: r.department! }),
    );
    expect(total).toMatchObject({ count: 6, average: 2.8, good: 2, poor: 3, rectified: 1, rectifiable: 2 });
    expect(rows.map((r) => [r.key, r.count, r.average])).toEqual([['d1', 5, 2.8], ['d2', 1, 3]]);
  });
});
