import { describe, expect, it } from 'vitest';
import { expandHallRefs, weekdayMismatches } from '../../src/profile/facts.ts';
import { ProfileError } from '../../src/profile/load.ts';
import { createLogger } from '../../src/platform/log.ts';
import { appsClosedAfterEach, demoProfileRaw } from '../helpers/app.ts';

const startApp = appsClosedAfterEach();

describe('one source for each fact', () => {
  it('the demo names the centre\'s address and phone the way its hall entry does, everywhere', async () => {
    const a = await startApp();
    const center = a.profile.halls.find((h) => h.id === 'center')!;
    const all = JSON.stringify({ services: a.profile.services, faq: a.profile.faq, keywords: a.profile.keywords, navigation: a.profile.navigation });
    // Every street address and phone number the texts give for the centre is the hall's.
    expect(all).not.toContain('{hall:');
    expect(all).toContain(center.address);
    expect(all).toContain(center.phone!);
    for (const m of all.matchAll(/示范区行政服务中心[^。；\\n"]{0,12}?(\d{3}-[\d ]{7,9}\d)/g)) expect(m[1]).toBe(center.phone);
    const centreAddresses = [...all.matchAll(/示范区行政服务中心[^。；（]{0,16}（(示范区[^）]*)）/g)].map((m) => m[1]);
    expect(centreAddresses.length).toBeGreaterThan(3);
    for (const addr of centreAddresses) expect(addr).toBe(center.address);
    // Asked in chat, the two replies that give the centre's phone agree.
    await a.emulator!.act('o_facts', { type: 'subscribe' });
    const say = async (content: string) => {
      const r = (await a.emulator!.act('o_facts', { type: 'text', content })).reply;
      return r?.type === 'text' ? r.content : '';
    };
    expect(await say('咨询电话')).toContain(center.phone!);
  });

  it('a reference to a hall that does not exist stops the profile, naming where', () => {
    const raw = { halls: [{ id: 'center', address: '天山路 600 号' }], faq: [{ id: 'where', answer: '地址：{hall:centre.address}' }] };
    const { problems } = expandHallRefs(raw);
    expect(problems).toEqual(['faq[0].answer: {hall:centre.address} — no hall "centre" (halls: center)']);
    expect(expandHallRefs({ ...raw, faq: [{ id: 'p', answer: '电话 {hall:center.phone}' }] }).problems).toEqual(['faq[0].answer: {hall:center.phone} — hall "center" has no phone']);
    expect((expandHallRefs({ ...raw, faq: [{ id: 'ok', answer: '在{hall:center.address}' }] }).raw as { faq: { answer: string }[] }).faq[0]!.answer).toBe('在天山路 600 号');
  });

  it('a weekday that does not match its date is found, with the year from the text or the item\'s validity', () => {
    const profile = {
      navigation: [
        { id: 'a', valid_from: '2026-12-15', reply: { text: '2027 年 1 月 1 日至 3 日休息，1 月 4 日（周日）调休上班。' } },
        { id: 'b', valid_until: '2027-02-20', reply: { text: '2月7日(星期日)上班；2 月 8 日 周一 照常。' } },
        { id: 'c', reply: { text: '12 月 5 日（周六）系统升级' } }, // no year to tell: not checked
        { id: 'd', reply: { text: '2026年12月5日（周六）系统升级' } },
      ],
    };
    expect(weekdayMismatches(profile)).toEqual([{ path: 'navigation[0].reply.text', said: '1 月 4 日（周日', date: '2027-01-04', actual: '周一' }]);
  });

  it('the demo profile has none, and a profile with one is warned about at start-up', async () => {
    expect(weekdayMismatches(demoProfileRaw())).toEqual([]);
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', destination: { write: (s: string) => void lines.push(s) } as never });
    await startApp({
      log,
      profile: (p) => {
        p.faq.push({ id: 'wrong-day', question: '国庆后哪天上班？', answer: '2026 年 10 月 10 日（周五）调休上班。' });
      },
    });
    expect(lines.join('')).toContain('2026-10-10 is a 周六');
  });

  it('refuses the profile file naming a hall reference that leads nowhere', async () => {
    await expect(startApp({ profile: (p) => p.faq.push({ id: 'bad-ref', question: '地址？', answer: '在{hall:nowhere.address}' }) })).rejects.toThrow(ProfileError);
  });
});
