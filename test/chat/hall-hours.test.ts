import { describe, expect, it } from 'vitest';
import { MessageEntity } from '../../src/chat/log.ts';
import { appsClosedAfterEach, type TestAppOptions } from '../helpers/app.ts';
import { cst, textOf } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();

async function account(opts: TestAppOptions = {}) {
  const a = await startApp(opts);
  const following = new Set<string>();
  const say = async (openid: string, content: string) => {
    if (!following.has(openid)) await a.emulator!.act(openid, { type: 'subscribe' });
    following.add(openid);
    return textOf((await a.emulator!.act(openid, { type: 'text', content })).reply);
  };
  const lastRef = async (openid: string) => {
    await a.conversationLog.flush();
    return (await a.db.getRepository(MessageEntity).find({ where: { openid, direction: 'out' }, order: { id: 'DESC' }, take: 1 }))[0]?.ref;
  };
  return { a, say, lastRef };
}

/** The office-hours rule's own text: what a citizen got whichever hall they asked about. */
const GENERIC = '示范区行政服务中心：工作日 9:00–17:00（中午不休息）';

describe('opening hours of the hall the citizen names', () => {
  it('names the hall by the road it is on: that hall\'s hours today, not the generic text', async () => {
    const { a, say, lastRef } = await account();
    const r = await say('o_hh_road', '天山路那个中心几点开门啊');
    expect(r).not.toContain(GENERIC);
    expect(r).toContain('示范区行政服务中心');
    expect(r).toContain('今天（11月23日 周一）：9:00–17:00，现在开着，17:00 关门');
    expect(r).toContain('11月28日 周六　9:00–12:00'); // the week ahead, Saturday morning included
    expect(r).toContain('11月29日 周日　休息');
    expect(r).toContain('电话：021-6000 1234');
    expect(r).toContain('/h5/halls/center');
    expect(await lastRef('o_hh_road')).toBe('hall-hours:center');
    // Without a hall named, the profile's own text answers as before.
    expect(await say('o_hh_road', '你们几点开门')).toContain(GENERIC);
  });

  it('a day asked about (礼拜六, 明天) is answered first, with the hall\'s own closures', async () => {
    const { a, say } = await account();
    a.clock.set(cst(2026, 12, 3, 15, 30)); // a Thursday; the centre closes on Saturday 12-05 for an upgrade
    const sat = await say('o_hh_sat', '天山路中心礼拜六开伐');
    expect(sat.split('\n')[1]).toBe('12月5日 周六：不开放（系统升级，暂停对外服务）');
    expect(sat).toContain('今天（12月3日 周四）：9:00–17:00，现在开着，17:00 关门');
    // A community centre with no Saturday hours; asked as "分中心", with a homophone typo (新化路).
    const xinhua = await say('o_hh_sat', '新化路那个分中心周六开吗？');
    expect(xinhua).toContain('新华路街道社区事务受理服务中心');
    expect(xinhua.split('\n')[1]).toBe('12月5日 周六：休息');
    expect(xinhua).toContain('平时：周一至周五 9:00–12:00、13:00–17:00');
    // An old man on a Sunday evening asks about Monday: 程家桥 is moving offices then.
    a.clock.set(cst(2026, 11, 29, 19));
    const move = await say('o_hh_sat', '请问程家桥那边办事的地方明天上班伐');
    expect(move.split('\n')[1]).toBe('11月30日 周一：不开放（办公场所搬迁）');
    expect(move).toContain('今天（11月29日 周日）：休息');
    expect(move).toContain('12月2日 周三　9:00–16:30');
  });

  it('holidays and 调休 working Saturdays come from the calendar', async () => {
    const { a, say } = await account();
    a.clock.set(cst(2026, 10, 9, 18)); // the eve of Saturday 10-10, a 调休 working day
    const makeup = await say('o_hh_cal', '江苏路街道明天开门吗');
    expect(makeup.split('\n')[1]).toBe('10月10日 周六：9:00–17:00（调休上班）');
    expect(makeup).toContain('今天（10月9日 周五）：9:00–17:00，今天已经下班了');
    a.clock.set(cst(2026, 10, 2, 9));
    const holiday = await say('o_hh_cal', '长宁路425号那个中心今天开不开门');
    expect(holiday).toContain('江苏路街道社区事务受理服务中心');
    expect(holiday).toContain('今天（10月2日 周五）：休息（法定节假日）');
    expect(holiday).toContain('10月8日 周四　9:00–17:00');
  });

  it('an alias from halls.yaml names its hall; words naming two halls, or no hours asked, are not this answer', async () => {
    const { a, say, lastRef } = await account({ profile: (p) => (p.halls[0].aliases = ['区政务中心']) });
    a.clock.set(cst(2026, 11, 24, 8, 15));
    const alias = await say('o_hh_alias', '区政务中心几点上班');
    expect(alias).toContain('示范区行政服务中心');
    expect(alias).toContain('今天（11月24日 周二）：9:00–17:00，9:00 开门');
    expect(await lastRef('o_hh_alias')).toBe('hall-hours:center');
    await say('o_hh_alias', '新华路跟江苏路哪个周六开门');
    expect(await lastRef('o_hh_alias')).not.toMatch(/^hall-hours:/);
    await say('o_hh_alias', '天山路中心怎么走');
    expect(await lastRef('o_hh_alias')).not.toMatch(/^hall-hours:/);
    await say('o_hh_alias', '我在天山路上班，居住证怎么办');
    expect(await lastRef('o_hh_alias')).not.toMatch(/^hall-hours:/);
    // A complaint about the hours is a complaint: its rule's dialog, not the timetable.
    await say('o_hh_alias', '我要投诉天山路中心，说好9点开门，到现在还不开门');
    expect(await lastRef('o_hh_alias')).not.toMatch(/^hall-hours:/);
    expect(await a.db.getRepository(MessageEntity).countBy({ openid: 'o_hh_alias', direction: 'out', ref: 'hall-hours:center' })).toBe(1);
  });

  it('is answered while staff have the conversation too, and changes nothing of the handoff', async () => {
    const { a, say } = await account();
    await say('o_hh_wait', '转人工');
    const r = await say('o_hh_wait', '天山路那个中兴几点关门');
    expect(r).toContain('今天（11月23日 周一）：9:00–17:00，现在开着，17:00 关门');
    expect(r).not.toMatch(/回复 \d/);
    expect(await a.handoffs.openFor('o_hh_wait')).not.toBeNull();
  });
});
