import { describe, expect, it } from 'vitest';
import { HandoffEntity } from '../../src/chat/handoff.ts';
import { MessageEntity } from '../../src/chat/log.ts';
import { FOLLOW_UP_DELAY_MS } from '../../src/chat/index.ts';
import { actorOf } from '../../src/admin/accounts.ts';
import { appsClosedAfterEach, type TestApp, type TestAppOptions } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { choices, cst, textOf } from '../helpers/chat.ts';

const startApp = appsClosedAfterEach();

async function account(opts: TestAppOptions = {}) {
  const a = await startApp(opts);
  const say = async (openid: string, content: string) => textOf((await a.emulator!.act(openid, { type: 'text', content })).reply);
  const follow = async (openid: string, scene?: string) => textOf((await a.emulator!.act(openid, scene ? { type: 'subscribe', scene } : { type: 'subscribe' })).reply);
  return { a, say, follow };
}

describe('welcome', () => {
  it('says what the account does for the citizen, numbers the choices and teaches keywords', async () => {
    const { a, follow } = await account();
    const w = await follow('o_new');
    expect(w).toContain(a.profile.conversation.welcome.text);
    expect(w).toContain('或直接输入关键词，如：社保、预约、进度');
    expect(choices(w)[0]).toMatch(/办事指南/);
    expect(w).toMatch(/回复 <a href="weixin:\/\/bizmsgmenu\?msgmenucontent=1&msgmenuid=1">1<\/a>/);
    // residents (the default audience) do not see the enterprise branch
    expect(choices(w).some((c) => c.includes('企业开办'))).toBe(false);
  });

  it('a scene code opens its greeting and service, on follow and on scan', async () => {
    const { a, follow } = await account();
    const viaFollow = await follow('o_scene', 'hall-changning-desk-3');
    expect(viaFollow).toContain('欢迎来到示范区行政服务中心');
    expect(choices(viaFollow)).toContain('户籍和证件');
    const scan = textOf((await a.emulator!.act('o_scene', { type: 'scan', scene: 'poster-senior-card' })).reply);
    expect(scan).toContain('老年人优待证');
    expect(scan).toContain('需要带');
  });

  it('unfollow and follow again gives the welcome again', async () => {
    const { a, follow } = await account();
    await follow('o_back');
    await a.emulator!.act('o_back', { type: 'unsubscribe' });
    expect(await follow('o_back')).toContain(a.profile.conversation.welcome.text);
  });
});

describe('numeric navigation', () => {
  it('goes down three levels, back with 0, home with 00 / 首页 / 菜单', async () => {
    const { say, follow } = await account();
    await follow('o_nav');
    const l1 = await say('o_nav', '1');
    expect(choices(l1)).toContain('社保、医保和公积金');
    expect(l1).toContain('回复 0 返回上一级 · 回复 00 回到首页');
    const l2 = await say('o_nav', '２'); // full-width digit
    expect(choices(l2)[0]).toBe('社保卡申领、补换');
    const leaf = await say('o_nav', ' 1 ');
    expect(leaf).toContain('【社会保障卡');
    expect(leaf).toContain('需要带：');
    // 0 under a guide is the list the guide was chosen from: one level up, not two.
    const back = await say('o_nav', '0');
    expect(choices(back)[0]).toBe('社保卡申领、补换');
    expect(choices(await say('o_nav', '0'))).toContain('户籍和证件');
    expect(choices(await say('o_nav', '0'))[0]).toMatch(/办事指南/); // back at home
    await say('o_nav', '1');
    for (const home of ['00', '首页', '菜单', '００']) {
      await say('o_nav', '2');
      expect(choices(await say('o_nav', home))[0]).toMatch(/办事指南/);
    }
  });

  it('a number outside the list repeats the list with a hint; no session starts at home', async () => {
    const { a, say, follow } = await account();
    await follow('o_range');
    await say('o_range', '1');
    const out = await say('o_range', '9');
    expect(out).toContain('没有这个选项');
    expect(choices(out)).toContain('户籍和证件');
    a.clock.advance(31 * 60_000); // the session idles out
    const fresh = await say('o_range', '1');
    expect(choices(fresh)).toContain('户籍和证件'); // "1" of the home list, not of the old sub-list
  });

  it('counts which node answered', async () => {
    const { a, say, follow } = await account();
    await follow('o_count');
    await say('o_count', '1');
    await say('o_count', '2');
    await say('o_count', '1');
    const refs = (await a.conversationLog.history('o_count')).filter((m) => m.direction === 'out').map((m) => m.ref);
    expect(refs).toEqual(['welcome', 'nav:guides', 'nav:guides-insurance', 'service:social-security-card via nav:g-ss-card']);
  });
});

describe('keyword rules', () => {
  it('exact, contains and regular-expression rules; voice recognition counts as text', async () => {
    const { a, say, follow } = await account();
    await follow('o_kw');
    expect(choices(await say('o_kw', '你好'))[0]).toMatch(/办事指南/); // exact → home
    expect(await say('o_kw', '请问你们周六几点开门啊')).toContain('周六上午'); // contains
    expect(await say('o_kw', '谢谢你们了')).toContain('不客气'); // regex
    const voice = await a.emulator!.act('o_kw', { type: 'voice', recognition: '咨询电话是多少？' });
    expect(textOf(voice.reply)).toContain('12345');
    const rawVoice = await a.emulator!.act('o_kw', { type: 'voice' });
    expect(textOf(rawVoice.reply)).toContain('只能看懂文字');
  });

  it('the higher priority wins, then exact before contains before regex; synonyms match; news and images are replied as such', async () => {
    const { a, say, follow } = await account({
      profile: (p) =>
        p.keywords.push(
          { id: 't-low', match: 'contains', patterns: ['停车'], priority: 1, reply: { text: '低优先级' } },
          { id: 't-high', match: 'contains', patterns: ['停车场'], priority: 9, reply: { text: '高优先级：大厅地下停车场' } },
          { id: 't-regex', match: 'regex', patterns: ['^停车场$'], priority: 9, reply: { text: '正则' } },
          { id: 't-exact', match: 'exact', patterns: ['停车场'], priority: 9, reply: { text: '精确' } },
          { id: 't-syn', match: 'contains', patterns: ['户口簿'], priority: 9, reply: { text: '户口簿的说明' } },
          { id: 't-news', match: 'exact', patterns: ['办事地图'], reply: { news: { title: '示范区办事地图', description: '各大厅的位置', url: '/h5/halls' } } },
          { id: 't-image', match: 'exact', patterns: ['排队二维码'], reply: { image: 'MEDIA_QUEUE_QR' } },
        ),
    });
    await follow('o_rules');
    expect(await say('o_rules', '停车场')).toBe('精确'); // same priority: exact first
    expect(await say('o_rules', '请问停车场在哪')).toBe('高优先级：大厅地下停车场'); // priority 9 beats 1
    expect(await say('o_rules', '停车方便吗')).toBe('低优先级');
    expect(await say('o_rules', '我的户口本丢了')).toBe('户口簿的说明'); // 户口本 is a synonym of 户口簿
    const news = (await a.emulator!.act('o_rules', { type: 'text', content: '办事地图' })).reply;
    expect(news).toMatchObject({ type: 'news', article: { title: '示范区办事地图', url: expect.stringMatching(/^http:\/\/localhost:\d+\/h5\/halls$/) } }); // made absolute
    const image = (await a.emulator!.act('o_rules', { type: 'text', content: '排队二维码' })).reply;
    expect(image).toMatchObject({ type: 'image', mediaId: 'MEDIA_QUEUE_QR' });
  });

  it('a tap on an expired, not-yet-valid or other audience\'s item (a menu the phone still shows) is not answered', async () => {
    const { a, follow } = await account({
      profile: (p) =>
        p.keywords.push(
          { id: 'biz-only', match: 'exact', patterns: ['企业专窗'], click_keys: ['biz-desk'], audience: ['business'], reply: { text: '企业专窗在二楼。' } },
          { id: 'old-rule', match: 'exact', patterns: ['疫苗预约'], click_keys: ['vaccine'], valid_until: '2026-06-30', reply: { text: '疫苗预约已结束。' } },
        ),
    });
    await follow('o_stale_menu');
    const click = async (key: string) => textOf((await a.emulator!.act('o_stale_menu', { type: 'click', key })).reply);
    const nothing = '这个菜单暂时没有内容，您可以从下面选择：';
    for (const key of ['notice-national-day-2026', 'notice-new-year-2027', 'business', 'biz-desk', 'vaccine']) {
      const r = await click(key);
      expect(r.startsWith(nothing), key).toBe(true);
      for (const hidden of ['国庆假期', '元旦假期', '个体工商户营业执照', '企业专窗在二楼', '疫苗预约已结束']) expect(r, key).not.toContain(hidden);
    }
    // The same taps answer once they are valid and meant for the citizen.
    expect(await click('notice-saturday-service')).toContain('每周六上午');
    a.clock.set(cst(2026, 12, 20, 10));
    expect(await click('notice-new-year-2027')).toContain('暂停对外服务');
    await a.emulator!.act('o_stale_menu', { type: 'text', content: '切换身份' });
    await a.emulator!.act('o_stale_menu', { type: 'text', content: '2' });
    expect(await click('biz-desk')).toBe('企业专窗在二楼。');
    expect(choices(await click('business'))).toContain('个体工商户营业执照');
  });

  it('menu CLICK keys route through the same table', async () => {
    const { a, follow } = await account();
    await follow('o_click');
    const click = async (key: string) => textOf((await a.emulator!.act('o_click', { type: 'click', key })).reply);
    expect(choices(await click('policy'))).toContain('通知公告');
    expect(choices(await click('guides'))).toContain('户籍和证件');
    expect(await click('ask')).toContain('请直接输入您想咨询的问题');
  });
});

describe('search', () => {
  it('answers at once when one entry answers what was asked, and says what to do if it is not it', async () => {
    const { a, say, follow } = await account();
    await follow('o_sure');
    const answer = await say('o_sure', '社保卡掉了咋办');
    expect(answer).toContain('社保卡丢了怎么办');
    expect(answer).toContain('不是您要问的？可以换个说法再问，或回复「转人工」。');
    const refs = (await a.conversationLog.history('o_sure')).filter((m) => m.direction === 'out').map((m) => m.ref);
    expect(refs.at(-1)).toBe('faq:ssc-lost via search');
  });

  it('answers in the citizen\'s words with numbered hits when several fit; "1" opens the first; 0 goes home', async () => {
    const { a, say, follow } = await account();
    await follow('o_search');
    const hits = await say('o_search', '社保');
    expect(hits).toContain('为您找到这些，回复数字查看');
    expect(choices(hits).length).toBeGreaterThanOrEqual(1);
    const first = await say('o_search', '1');
    expect(first).toContain(`【${choices(hits)[0]}`);
    const refs = (await a.conversationLog.history('o_search')).filter((m) => m.direction === 'out').map((m) => m.ref);
    expect(refs.at(-2)).toBe('search');
    expect(refs.at(-1)).toMatch(/^(faq|service):[a-z0-9-]+ via search$/);
    expect(choices(await say('o_search', '0'))[0]).toMatch(/办事指南/);
  });

  it('pinyin and typos find the same thing; an expired entry is never offered', async () => {
    const { say, follow } = await account();
    await follow('o_py');
    expect(await say('o_py', 'juzhuzheng')).toContain('居住证');
    expect(await say('o_py', '居注证要什么材料')).toContain('居住证');
    const covid = await say('o_py', '核酸检测点在哪里');
    expect(covid).not.toContain('核酸');
  });
});

describe('validity windows', () => {
  it('an expired notice is gone from the list; a future one appears when its day comes', async () => {
    const { a, say, follow } = await account({ clock: undefined });
    await follow('o_valid');
    const notices = async () => {
      const home = choices(await say('o_valid', '00'));
      await say('o_valid', String(home.indexOf('政策解读和通知公告') + 1));
      return choices(await say('o_valid', '2'));
    };
    const now = await notices();
    expect(now).toContain('周六上午延时服务');
    expect(now).not.toContain('国庆假期大厅开放安排');
    expect(now).not.toContain('元旦假期大厅开放安排');
    a.clock.set(cst(2026, 12, 15, 9));
    expect(await notices()).toContain('元旦假期大厅开放安排');
    a.clock.set(cst(2027, 1, 5, 9));
    expect(await notices()).not.toContain('元旦假期大厅开放安排');
  });
});

describe('audiences', () => {
  it('the citizen switches, the choice is remembered, and each audience has its own home list', async () => {
    const { a, say, follow } = await account();
    await follow('o_biz');
    const list = await say('o_biz', '切换身份');
    expect(choices(list)).toEqual(['市民 ✓', '企业（开办、经营）', '外地来沪人员']);
    const switched = await say('o_biz', '2');
    expect(switched).toContain('已为您切换到「企业」');
    expect(choices(switched)).toContain('企业开办和经营');
    a.clock.advance(2 * 3_600_000); // long after the session ended
    expect(choices(await say('o_biz', '00'))).toContain('企业开办和经营');
    expect((await a.conversationLog.citizen('o_biz'))?.audience).toBe('business');
  });
});

describe('handoff to staff', () => {
  it('queues the conversation with a promise, stays quiet while staff have it, and lets the citizen leave', async () => {
    const { a, say, follow } = await account();
    await follow('o_human');
    const queued = await say('o_human', '转人工');
    expect(queued).toContain('已为您转接工作人员，明天（周二）10:00 前回复您'); // 简单咨询: 24 hours
    // The human answers, not the bot; but the citizen hears that their words reached staff.
    expect(await say('o_human', '我家老头子上个月走了，他的事情要去哪里办')).toBe('收到，您的留言已经转给工作人员，明天（周二）10:00 前回复您。');
    expect(await say('o_human', '几点下班')).toContain('9:00–17:00'); // keywords still answered (profile)
    expect(await say('o_human', '转人工')).toBe(a.profile.handoff.texts.already_waiting); // typed as the menu's tap
    const open = await a.db.getRepository(HandoffEntity).find({ where: { openid: 'o_human' } });
    // Asked for with the bare words 转人工: the citizen's first words after it are the question staff read.
    expect(open).toMatchObject([{ status: 'open', reason: 'requested', question: '我家老头子上个月走了，他的事情要去哪里办' }]);
    // Staff answer, then the citizen ends it: closed by the citizen.
    const { account: zhou } = await a.accounts.create({ username: 'zhou.zhiban', name: '周值班', role: 'duty', department: 'service-centre', password: 'a-long-enough-password-1', mustChangePassword: false });
    await a.inbox.reply(actorOf(zhou), open[0]!.id, { kind: 'text', text: '您好，请带上死亡证明到街道办理。' });
    const left = await say('o_human', '结束人工');
    expect(left).toContain('好的，已结束人工服务');
    expect((await a.db.getRepository(HandoffEntity).findOneBy({ openid: 'o_human' }))?.status).toBe('closed');
    expect(choices(await say('o_human', '1'))).toContain('户籍和证件'); // the bot is back
  });

  it('is never silent while the citizen waits: the first message acknowledged, then one every few minutes; information and 转人工 answered', async () => {
    const { a, say, follow } = await account();
    await follow('o_wait_long');
    expect(await say('o_wait_long', '我想问问我妈的养老金怎么还没到账，都三个月了')).toContain('已经转给工作人员');
    const replies: string[] = [];
    // What a citizen typed after an automatic handoff, a minute apart.
    for (const m of ['sbk', '你好', '居住证怎么办', '缴费', '转人工', '喂？有人吗', '1']) {
      a.clock.advance(60_000);
      replies.push(await say('o_wait_long', m));
    }
    const [sbk, hello, holiday, pay, human, anyone, one] = replies;
    expect(sbk).toContain('收到，您的留言已经转给工作人员，明天（周二）10:0'); // the first: acknowledged with the promise
    expect(sbk).toContain('社会保障卡'); // and what search found, as a link
    expect(sbk).not.toMatch(/回复 \d/); // no numbers: they would go to staff
    expect(hello).not.toContain('收到'); // not one acknowledgement per message
    expect(holiday).toContain('居住证'); // a plain information question is answered
    expect(pay).not.toContain('收到');
    expect(pay).toContain('您现在没有待缴的费用'); // paying never waits for a human
    expect(human).toBe(a.profile.handoff.texts.already_waiting);
    expect(anyone).toBe(''); // within ten minutes of the last notice: quiet
    expect(one).toBe('');
    a.clock.advance(10 * 60_000);
    expect(await say('o_wait_long', '还要等多久啊')).toContain('收到，您的留言已经转给工作人员'); // a few minutes on: told again
    // Past the promised time the citizen is not promised a time already gone.
    a.clock.advance(2 * 86_400_000);
    expect(await say('o_wait_long', '怎么还没人回')).toBe(a.profile.handoff.texts.received_later);
    expect(await a.db.getRepository(HandoffEntity).countBy({ openid: 'o_wait_long' })).toBe(1);
  });

  it('结束人工 before anyone answered keeps the question in the queue, marked that the citizen left; 转人工 takes it up again', async () => {
    const { a, say, follow } = await account();
    await follow('o_left');
    await say('o_left', '我的营业执照地址变更，网上提交了一直没反应');
    const h = (await a.handoffs.openFor('o_left'))!;
    a.clock.advance(5 * 60_000);
    const left = await say('o_left', '结束人工');
    expect(left).toContain(a.profile.handoff.texts.left_waiting);
    expect(choices(left)[0]).toMatch(/办事指南/); // the bot is back, with its list
    const kept = (await a.handoffs.get(h.id))!;
    expect(kept).toMatchObject({ status: 'open', closedAt: null, closedBy: null, citizenLeftAt: a.clock.now() });
    // Still in the staff queue, waiting to be claimed.
    const { account: duty } = await a.accounts.create({ username: 'wu.zhiban', name: '吴值班', role: 'duty', department: 'service-centre', password: 'a-long-enough-password-1', mustChangePassword: false });
    const waiting = await a.reader.list(actorOf(duty), 'waiting');
    expect(waiting.items.map((i) => i.h.id)).toContain(h.id);
    expect(choices(await say('o_left', '1'))).toContain('户籍和证件'); // numbers are the bot's again
    // After the session expired, the bot still talks (the question waits for staff, not the citizen).
    a.clock.advance(2 * 3_600_000);
    expect(choices(await say('o_left', '00'))[0]).toMatch(/办事指南/);
    expect(await say('o_left', '转人工')).toBe(a.profile.handoff.texts.resumed);
    expect(await a.handoffs.get(h.id)).toMatchObject({ status: 'open', citizenLeftAt: null });
    expect(await a.db.getRepository(HandoffEntity).countBy({ openid: 'o_left' })).toBe(1);
  });

  it.each([
    ['a working morning', cst(2026, 11, 23, 10), '明天（周二）10:00 前'],
    ['before opening', cst(2026, 11, 23, 7, 30), '明天（周二）7:30 前'],
    ['late on a working day', cst(2026, 11, 23, 17, 10), '明天（周二）17:10 前'],
    ['Friday evening', cst(2026, 11, 27, 19), '11月30日（周一）19:00 前'],
    ['Sunday', cst(2026, 11, 29, 11), '明天（周一）之内'],
    ['the first day of the National Day holiday', cst(2026, 10, 1, 10), '10月8日（周四）之内'],
    ['the eve of a 调休 working Saturday', cst(2026, 10, 9, 18), '明天（周六，调休上班）18:00 前'],
    ['Spring Festival eve of the 2026 calendar', cst(2026, 2, 16, 10), '2月24日（周二）之内'],
  ])('promises the due time staff are held to (24 hours of working days): %s', async (_name, now, words) => {
    const { a, say, follow } = await account();
    a.clock.set(now);
    await follow('o_when');
    expect(await say('o_when', '人工客服')).toContain(words);
    const row = (await a.db.getRepository(HandoffEntity).findOneBy({ openid: 'o_when' }))!;
    expect(row.promisedAt).toBe(row.dueAt); // one clock
  });

  it('a question neither rules nor search can answer goes to staff and is remembered as unanswered', async () => {
    const { a, say, follow } = await account();
    await follow('o_q');
    const r = await say('o_q', '我家楼下的路灯坏了三天了');
    expect(r).toContain('这个问题我暂时答不上来，已经转给工作人员，明天（周二）10:00 前回复您');
    // A second citizen follows in the same second and asks the same: their own welcome, their own
    // conversation with staff (an event of another citizen in the same second is not a retry).
    const welcome = await follow('o_q2');
    expect(welcome).toContain(a.profile.account.name);
    expect((await a.conversationLog.citizen('o_q2'))?.subscribed).toBe(true);
    expect(await say('o_q2', '我家楼下的路灯坏了三天了！')).toContain('已经转给工作人员，明天（周二）10:00 前回复您');
    expect(await a.db.getRepository(HandoffEntity).countBy({ openid: 'o_q2', status: 'open' })).toBe(1);
    expect(await a.handoffs.topUnanswered()).toEqual([{ question: '我家楼下的路灯坏了三天了', count: 2 }]);
  });

  it('the 我要咨询 dialog takes the question in the citizen\'s words; 00 cancels a dialog', async () => {
    const { a, say, follow } = await account();
    await follow('o_ask');
    await a.emulator!.act('o_ask', { type: 'click', key: 'ask' });
    expect(choices(await say('o_ask', '00'))[0]).toMatch(/办事指南/);
    // 00 ended the dialog: a number now belongs to the home list, not to the question.
    expect(await say('o_ask', '1')).toMatch(/户籍和证件/);
    a.clock.advance(5_000); // a second tap of the same button is a new event, not WeChat's retry
    await a.emulator!.act('o_ask', { type: 'click', key: 'ask' });
    const done = await say('o_ask', '我女儿在外地出生，户口怎么迁过来？');
    expect(done).toContain('已为您转接工作人员');
    const h = await a.db.getRepository(HandoffEntity).findOneBy({ openid: 'o_ask' });
    expect(h).toMatchObject({ reason: 'dialog', question: '我女儿在外地出生，户口怎么迁过来？' });
  });
});

describe('the citizen is never stuck', () => {
  it('a keyword or a menu tap in the middle of a numbered dialog is answered as such', async () => {
    const { a, say, follow } = await account();
    await follow('o_stuck');
    expect(await say('o_stuck', '预约')).toContain('请选择要预约的事项');
    // Not a number: the booking dialog lets go and the keyword answers.
    expect(await say('o_stuck', '几点下班')).toContain('9:00–17:00');
    expect(await say('o_stuck', '1')).not.toContain('请选择要预约的事项'); // the dialog is over
    expect(await say('o_stuck', '预约')).toContain('请选择要预约的事项');
    const tapped = textOf((await a.emulator!.act('o_stuck', { type: 'click', key: 'guides' })).reply);
    expect(choices(tapped)).toContain('户籍和证件');
    expect(choices(await say('o_stuck', '1'))).toContain('居住证办理'); // the menu's list, not the dialog's
    // A page view is no move of the citizen's: it leaves a dialog alone.
    expect(await say('o_stuck', '预约')).toContain('请选择要预约的事项');
    await a.emulator!.act('o_stuck', { type: 'view', url: 'http://localhost/h5/halls' });
    expect(await say('o_stuck', '1')).toMatch(/大厅|日期/);
  });

  it('text of spaces only is neither searched nor sent to staff', async () => {
    const { a, say, follow } = await account();
    await follow('o_blank');
    expect(await say('o_blank', '   ')).toBe(a.profile.replies.default);
    expect(await a.db.getRepository(HandoffEntity).countBy({ openid: 'o_blank' })).toBe(0);
    expect(await a.handoffs.topUnanswered()).toEqual([]);
  });

  it('unfollowing closes an open staff conversation, so following again finds the bot talking', async () => {
    const { a, say, follow } = await account();
    await follow('o_refollow');
    await say('o_refollow', '转人工');
    await a.emulator!.act('o_refollow', { type: 'unsubscribe' });
    expect((await a.db.getRepository(HandoffEntity).findOneBy({ openid: 'o_refollow' }))?.status).toBe('closed');
    a.clock.advance(60_000);
    await follow('o_refollow');
    expect(choices(await say('o_refollow', '1'))).toContain('户籍和证件');
  });

  it('while staff have it: information is still given, lists and dialogs are not, a menu tap is told why', async () => {
    const { a, say, follow } = await account();
    await follow('o_busy');
    await say('o_busy', '转人工');
    expect(await say('o_busy', '谢谢')).toContain('不客气'); // a text rule: answered
    expect(await say('o_busy', '预约')).toBe(''); // would start a dialog whose numbers go to staff
    expect(await say('o_busy', '你好')).toBe(''); // would show the home list
    const tapped = textOf((await a.emulator!.act('o_busy', { type: 'click', key: 'guides' })).reply);
    expect(tapped).toBe(a.profile.handoff.texts.menu_while_human);
    expect(await say('o_busy', '1')).toBe(''); // a number is for staff now
  });

  it('while staff have it, a menu tap never starts a dialog whose numbers would then go to staff', async () => {
    const { a, say, follow } = await account();
    await follow('o_busy_tap');
    await say('o_busy_tap', '转人工');
    const handoff = await a.db.getRepository(HandoffEntity).findOneByOrFail({ openid: 'o_busy_tap', status: 'open' });
    await a.conversationLog.flush();
    const before = (await a.db.getRepository(MessageEntity).find({ order: { id: 'DESC' }, take: 1 }))[0]!.id;
    for (const key of ['book', 'ask', 'my-bookings', 'mine']) {
      const r = textOf((await a.emulator!.act('o_busy_tap', { type: 'click', key })).reply);
      expect(r, key).toBe(a.profile.handoff.texts.menu_while_human);
      expect(r, key).not.toMatch(/回复 1/);
      // The citizen's next "1" is a message to staff, not a choice in a dialog.
      expect(await say('o_busy_tap', '1'), key).toBe('');
    }
    // 进度查询 (the old menu's key) is information: the citizen's cases, without a dialog's numbers.
    const progress = textOf((await a.emulator!.act('o_busy_tap', { type: 'click', key: 'progress' })).reply);
    expect(progress).toContain('您还没有在网上申请过事项');
    expect(progress).not.toMatch(/回复 \d/);
    expect(await say('o_busy_tap', '1')).toBe('');
    // Nothing the bot said since was a dialog's question or list: the four notices and the progress.
    await a.conversationLog.flush();
    const said = (await a.db.getRepository(MessageEntity).find({ where: { openid: 'o_busy_tap', direction: 'out' }, order: { id: 'ASC' } })).filter((m) => m.id > before);
    expect(said.map((m) => m.content)).toEqual([...Array(4).fill(a.profile.handoff.texts.menu_while_human), progress]);
    expect(await a.db.getRepository(MessageEntity).countBy({ openid: 'o_busy_tap', direction: 'in', content: '1' })).toBe(5);
    expect((await a.db.getRepository(HandoffEntity).findOneByOrFail({ id: handoff.id })).status).toBe('open');
  });

  it('a staff conversation closed elsewhere is over, even if this session still remembers it', async () => {
    const { a, say, follow } = await account();
    await follow('o_closed');
    await say('o_closed', '转人工');
    const h = await a.db.getRepository(HandoffEntity).findOneByOrFail({ openid: 'o_closed' });
    // Closed in the database only (a message in flight saved the session after staff closed it).
    await a.handoffs.close(h.id, 'staff');
    expect(choices(await say('o_closed', '1'))).toContain('户籍和证件');
    // Saying 结束人工 now, as every message told them, ends nothing and asks nothing of staff.
    expect(await say('o_closed', '结束人工')).toContain('好的。');
    expect(await a.db.getRepository(HandoffEntity).countBy({ openid: 'o_closed', status: 'open' })).toBe(0);
  });

  it('while staff have it: 人工客服 says they are waiting, a guide in the menu is given, a location finds halls', async () => {
    const { a, say, follow } = await account({
      profile: (p) => p.keywords.push({ id: 'fee-guide', match: 'exact', patterns: ['居住证收费'], click_keys: ['fee-guide'], reply: { service: 'residence-permit' } }),
    });
    await follow('o_wait');
    await say('o_wait', '转人工');
    const tap = async (key: string) => textOf((await a.emulator!.act('o_wait', { type: 'click', key })).reply);
    expect(await tap('human')).toBe(a.profile.handoff.texts.already_waiting);
    const guide = await tap('fee-guide');
    expect(guide).toContain('居住证');
    expect(guide).not.toContain('预约到大厅办理'); // its numbered offer would go to staff
    const halls = textOf((await a.emulator!.act('o_wait', { type: 'location', latitude: 31.2197, longitude: 121.4167, label: '中山公园' })).reply);
    expect(halls).toContain('江苏路街道社区事务受理服务中心');
    expect(await a.db.getRepository(HandoffEntity).countBy({ openid: 'o_wait', status: 'open' })).toBe(1);
  });
});

describe('reply limits', () => {
  it('a text over 2048 bytes: the first part passively, the rest as customer-service messages in order', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `第 ${i + 1} 条：请携带本人身份证原件和复印件到窗口办理。`).join('\n');
    const { a, say, follow } = await account({
      profile: (p) => p.keywords.push({ id: 'long', match: 'exact', patterns: ['长文'], reply: { text: long } }),
    });
    await follow('o_long');
    const first = await say('o_long', '长文');
    expect(Buffer.byteLength(first)).toBeLessThanOrEqual(2048);
    await a.jobs.runDue();
    // The rest waits a moment behind the passive reply, so it cannot arrive before it.
    expect(a.emulator!.platform.inbox('o_long').filter((i) => i.channel === 'custom')).toHaveLength(0);
    a.clock.advance(FOLLOW_UP_DELAY_MS);
    await a.jobs.runDue();
    const rest = a.emulator!.platform.inbox('o_long').filter((i) => i.channel === 'custom').map((i) => i.message.content as string);
    expect(rest.length).toBeGreaterThanOrEqual(1);
    expect([first, ...rest].join('\n')).toBe(long);
  });
});

describe('the custom menu', () => {
  it('is synced without expired targets and again when a validity window changes', async () => {
    const { a } = await account({
      profile: (p) => {
        p.menu.buttons[0].sub_button.push({ type: 'click', name: '元旦安排', key: 'notice-new-year-2027' });
      },
    });
    const names = () => (a.emulator!.platform.menu as { sub_button: { name: string }[] }[])[0]!.sub_button.map((b) => b.name);
    expect(names()).toEqual(['政策解读', '通知公告']); // 元旦安排 starts on 2026-12-15
    a.clock.set(cst(2026, 12, 15, 0, 1));
    await a.jobs.runDue();
    expect(names()).toEqual(['政策解读', '通知公告', '元旦安排']);
    a.clock.set(cst(2027, 1, 5, 0, 1));
    await a.jobs.runDue();
    expect(names()).toEqual(['政策解读', '通知公告']);
  });
});

describe('usage', () => {
  it('every outbound message says what answered it', async () => {
    const { a, say, follow } = await account();
    await follow('o_use');
    await say('o_use', '你好');
    await say('o_use', '几点开门');
    const rows = await a.db.getRepository(MessageEntity).find({ where: { openid: 'o_use', direction: 'out' }, order: { id: 'ASC' } });
    expect(rows.map((r) => r.ref)).toEqual(['welcome', 'rule:greeting', 'rule:office-hours']);
  });
});

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`a new session starts from the database (${db.label})`, () => {
    it('after the idle timeout the audience and an open staff conversation are still there', async () => {
      const { a, say, follow } = await account({ db: db.name });
      await follow('o_seed');
      await say('o_seed', '切换身份');
      await say('o_seed', '2'); // 企业
      expect(await say('o_seed', '转人工')).toContain('已为您转接工作人员');
      a.clock.advance(2 * 3_600_000); // the session is long gone
      expect(await say('o_seed', '我的营业执照丢了')).toContain('收到，您的留言已经转给工作人员'); // staff still have it: the bot says so
      expect(await say('o_seed', '结束人工')).toContain('已回到自动服务'); // unanswered: it stays with staff
      expect(choices(await say('o_seed', '00'))).toContain('企业开办和经营');
      a.clock.advance(2 * 3_600_000);
      // The question still waits for staff, but the citizen left: a new session has the bot talking.
      expect(choices(await say('o_seed', '00'))).toContain('企业开办和经营'); // the audience stays
    });
  });
}
