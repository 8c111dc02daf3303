import { describe, expect, it } from 'vitest';
import { AuditEntity } from '../../src/admin/audit.ts';
import { AlertEntity } from '../../src/alerts/index.ts';
import { HandoffEntity } from '../../src/chat/handoff.ts';
import { maskPersonal } from '../../src/platform/pii.ts';
import { stepStatus } from '../../src/profile/texts.ts';
import { makeTeam, signedIn } from '../admin/client.ts';
import { appsClosedAfterEach, type TestAppOptions } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { cst, textOf } from '../helpers/chat.ts';

/**
 * A second department with zero code: what the demo said in code, a profile now says — its
 * sentences and words, its hours, where a handoff goes, a duty desk, a location as a report,
 * the kinds of personal data in its forms.
 */

const startApp = appsClosedAfterEach();

async function account(opts: TestAppOptions = {}) {
  const a = await startApp(opts);
  const following = new Set<string>();
  const act = async (openid: string, action: Parameters<NonNullable<typeof a.emulator>['act']>[1]) => {
    if (!following.has(openid)) {
      following.add(openid);
      await a.emulator!.act(openid, { type: 'subscribe' });
    }
    return textOf((await a.emulator!.act(openid, action)).reply);
  };
  const say = (openid: string, content: string) => act(openid, { type: 'text', content });
  return { a, act, say };
}

const handoffOf = async (a: Awaited<ReturnType<typeof account>>['a'], openid: string) => a.db.getRepository(HandoffEntity).findOneByOrFail({ openid });

describe('every citizen-facing sentence comes from the profile', () => {
  it('the ask dialog asks what the rule or the profile says', async () => {
    const { say } = await account({
      profile: (p) => {
        p.texts.ask_prompt = '请写下您要反映的情况，我们转给值班民警。';
        p.keywords.push({ id: 'jam', match: 'exact', patterns: ['拥堵上报'], reply: { dialog: 'ask', prompt: '请告诉我们哪条路、往哪个方向堵车，也可以直接发送位置。' } });
      },
    });
    expect(await say('o_ask', '拥堵上报')).toBe('请告诉我们哪条路、往哪个方向堵车，也可以直接发送位置。');
    // Not a rule, but the name of a menu button: typed, it does what the button does.
    expect(await say('o_ask2', '我要咨询')).toBe('请写下您要反映的情况，我们转给值班民警。');
    const menu = await say('o_ask3', '5');
    expect(menu).toContain('写下问题');
    expect(await say('o_ask3', '1')).toBe('请写下您要反映的情况，我们转给值班民警。');
  });

  it('the halls page heading and the nearest-halls reply are the profile\'s; 预约 is offered only where it can be done', async () => {
    const { a, act } = await account({
      profile: (p) => {
        p.texts.halls_title = '附近的派出所';
        p.texts.nearest_title = '离您最近的派出所：';
        p.texts.nearest_hint = '户籍业务请带好身份证，到户籍窗口办理。';
        for (const s of p.services) delete s.appointment; // nothing can be booked
      },
    });
    const r = await act('o_loc', { type: 'location', latitude: 31.2135, longitude: 121.4019, label: '天山路' });
    expect(r.split('\n')[0]).toBe('离您最近的派出所：');
    expect(r).not.toContain('预约');
    expect(r).toContain('户籍业务请带好身份证');
    const page = await (await fetch(`${a.url}/h5/halls`)).text();
    expect(page).toContain('<title>附近的派出所');
  });

  it('a step\'s status is its own, not its name with 中 appended; a profile may rename 办件 / 受理 / 办结', async () => {
    const { a, say } = await account({
      profile: (p) => {
        p.texts.vocabulary = { 办件: '报名', 受理: '确认', 办结: '完成' };
        p.keywords.push({ id: 'own-words', match: 'exact', patterns: ['老办法'], reply: { text: '线下办件请到服务台，受理后三天办结。' } });
        const s = p.services.find((x: { id: string }) => x.id === 'residence-permit');
        s.application.steps = [
          { id: 'confirm', name: '确认' },
          { id: 'brew', name: '煎药中' },
          { id: 'signup', name: '报名成功' },
          { id: 'ship', name: '配送', status: '配送途中' },
          { id: 'done', name: '已送达' },
        ];
      },
    });
    await say('o_case', '你好');
    const c = await a.cases.submit('o_case', 'residence-permit', { name: '王小明', id_card: validId(), phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领' }, [
      { fieldId: 'photo', fileName: 'me.jpg', data: JPEG },
      { fieldId: 'proof', fileName: 'c.pdf', data: PDF },
    ]);
    await a.cases.accept(c.id, 'staff:1');
    let progress = await say('o_case', '进度');
    expect(progress).toContain('当前：煎药中');
    expect(progress).not.toContain('煎药中中');
    await a.cases.advance(c.id, 'staff:1');
    progress = await say('o_case', '进度');
    expect(progress).toContain('当前：报名成功');
    expect(progress).not.toContain('报名成功中');
    await a.cases.advance(c.id, 'staff:1');
    expect(await say('o_case', '进度')).toContain('当前：配送途中');
    await a.jobs.runDue();
    const pushed = a.emulator!.platform.inbox('o_case').filter((i) => i.channel === 'custom').map((i) => i.message.content as string).join('\n');
    expect(pushed).toContain('报名编号');
    expect(pushed).toContain('已确认');
    expect(pushed).not.toMatch(/办件|受理|办结/);
    const page = await (await fetch(`${a.url}/h5/halls`)).text();
    expect(page).not.toMatch(/办件|受理|办结/);
    expect(stepStatus({ name: '审核' })).toBe('审核中');
    // what the department wrote itself is left as it wrote it
    expect(await say('o_case', '老办法')).toBe('线下办件请到服务台，受理后三天办结。');
  });

  it('the form\'s address example is the profile\'s', async () => {
    const { a } = await account({ profile: (p) => (p.texts.address_example = '例如：思明区湖滨南路 100 号 2 栋 301 室') });
    await expect(
      a.cases.submit('o_addr', 'residence-permit', { name: '王小明', id_card: validId(), phone: '13812345678', address: '家里', kind: '首次申领' }, [
        { fieldId: 'photo', fileName: 'me.jpg', data: JPEG },
        { fieldId: 'proof', fileName: 'c.pdf', data: PDF },
      ]),
    ).rejects.toMatchObject({ fields: { address: expect.stringContaining('思明区湖滨南路') } });
  });
});

describe('one clock', () => {
  it('the time the citizen is promised is the time staff see as 应首次答复 and the overdue figures count', async () => {
    const { a, say } = await account();
    const team = await makeTeam(a);
    a.clock.set(cst(2026, 11, 27, 16, 20)); // a Friday afternoon
    const queued = await say('o_clock', '人工客服');
    expect(queued).toContain('11月30日（周一）16:20 前'); // 简单咨询: 24 hours of working days
    const h = await handoffOf(a, 'o_clock');
    expect(h.dueAt).toBe(cst(2026, 11, 30, 16, 20));
    const panel = await (await signedIn(a, team.handler)).page(`/admin/inbox/${h.id}`);
    expect(panel.html).toMatch(/应首次答复<\/dt><dd>2026-11-30 16:20/);
    a.clock.set(cst(2026, 11, 30, 16, 19));
    expect((await a.stats.dashboard(null)).overdueNow).toBe(0);
    a.clock.set(cst(2026, 11, 30, 16, 21)); // a minute past the promise: overdue
    expect((await a.stats.dashboard(null)).overdueNow).toBe(1);
  });
});

describe('hours that are not office hours', () => {
  it('a round-the-clock duty desk promises a Sunday-evening plea within its hours, not Monday morning', async () => {
    const { a, say } = await account({
      clock: undefined,
      profile: (p) => {
        p.service_hours = { round_the_clock: true };
        p.inbox.categories[0].due = { hours: 1 };
      },
    });
    a.clock.set(cst(2026, 11, 29, 20, 15)); // a Sunday
    expect(await say('o_night', '人工客服')).toContain('今天 21:15 前');
    const h = await handoffOf(a, 'o_night');
    expect(h.dueAt).toBe(cst(2026, 11, 29, 21, 15));
  });

  it('staff hours on Saturdays count; a hall open on holidays and at night says so', async () => {
    const { a, say } = await account({
      profile: (p) => {
        p.service_hours = { default: [['09:00', '17:30']], sat: [['09:00', '12:00']] };
        p.inbox.categories[0].due = { office_hours: 2 };
        Object.assign(p.halls[0].hours, { holidays: [['10:00', '16:00']], sun: [['09:00', '24:00']], dates: { '2026-10-02': [] } });
      },
    });
    a.clock.set(cst(2026, 11, 28, 11)); // a Saturday, 11:00: one hour left today, one on Monday
    expect(await say('o_sat', '人工客服')).toContain('11月30日（周一）10:00 前');
    const hall = a.halls.get('center')!;
    expect(a.halls.status(hall, cst(2026, 10, 3, 11)).open).toBe(true); // National Day holiday
    expect(a.halls.status(hall, cst(2026, 10, 2, 11)).open).toBe(false); // its own date closes it
    expect(a.halls.status(hall, cst(2026, 11, 29, 23, 30)).open).toBe(true); // Sunday night
    const page = await (await fetch(`${a.url}/h5/halls/center`)).text();
    expect(page).toContain('法定节假日 10:00–16:00');
    expect(page).toContain('周日 9:00–24:00');
  });
});

describe('routing by what was said', () => {
  const urgent = (p: Record<string, any>) => {
    p.inbox.categories.push({ id: 'urgent', name: '紧急警情', due: { hours: 0.25 } });
    p.keywords.push({
      id: 'emergency',
      match: 'contains',
      patterns: ['打架', '救命', '抢劫'],
      priority: 100,
      reply: { handoff: true, route: { category: 'urgent', department: 'civil-affairs', urgent: true, alert: 'duty', queued: '情况紧急请立即拨打 110！您的留言已转值班人员，{when}回复您。' } },
    });
  };

  it('a rule sets the category, department and urgency, over the service just read', async () => {
    const { a, say } = await account({ profile: urgent });
    const duty = (await a.accounts.create({ username: 'qin.zhiban', name: '秦值班', role: 'duty', department: 'civil-affairs', password: 'a-long-enough-password-1', mustChangePassword: false })).account;
    const boss = (await a.accounts.create({ username: 'li.kezhang', name: '李科长', role: 'supervisor', department: 'civil-affairs', password: 'a-long-enough-password-1', mustChangePassword: false })).account;
    await say('o_urgent', '身份证'); // the ID-card guide: its department would be 行政服务中心
    const r = await say('o_urgent', '楼下有人打架，都见血了');
    expect(r).toContain('情况紧急请立即拨打 110');
    expect(r).toContain('今天 10:15 前');
    const h = await handoffOf(a, 'o_urgent');
    expect(h).toMatchObject({ department: 'civil-affairs', category: 'urgent', urgent: true, question: '楼下有人打架，都见血了' });
    expect(h.dueAt).toBe(h.promisedAt);
    const panel = await (await signedIn(a, (await makeTeam(a)).admin)).page(`/admin/inbox/${h.id}`);
    expect(panel.html).toContain('<span class="pill pill-overdue">紧急</span>');
    // the rule named the duty role: the duty officer is alerted at once, the supervisor is not
    const alerts = await a.db.getRepository(AlertEntity).find();
    expect(alerts.map((x) => [x.staffId, x.kind, x.urgent, x.link])).toEqual([[duty.id, 'urgent-handoff', true, `/admin/inbox/${h.id}`]]);
    expect(alerts.some((x) => x.staffId === boss.id)).toBe(false);
    // an ordinary handoff alerts nobody
    await say('o_plain', '人工客服');
    expect(await a.db.getRepository(AlertEntity).count()).toBe(1);
  });

  it('a menu entry that hands off shows staff the entry, not the digit typed', async () => {
    const { a, act, say } = await account();
    await say('o_menu', '5'); // 我要咨询、转人工
    await say('o_menu', '2'); // 人工客服
    expect((await handoffOf(a, 'o_menu')).question).toBe('人工客服（菜单）');
    await act('o_tap', { type: 'click', key: 'human' });
    expect((await handoffOf(a, 'o_tap')).question).toBe('人工客服（菜单）');
  });
});

describe('a duty-officer account (handoff.mode: duty)', () => {
  it('every message in words goes to the duty officers, with what search finds beside it; numbers and menu words still answer', async () => {
    const { a, say } = await account({ profile: (p) => (p.handoff.mode = 'duty') });
    expect(await say('o_duty', '1')).toContain('户籍和证件'); // the numbered menu
    expect(await say('o_duty', '00')).toContain('请回复数字选择');
    const r = await say('o_duty', '我想办护照，要带什么材料');
    expect(r).toContain('您的留言已转给值班人员');
    expect(r).toContain('您也可以先看看：');
    expect(r).toMatch(/您也可以先看看：\n(· |<a href="http:\/\/localhost:\d+\/h5\/guide\/)/); // what search found, without numbers
    expect((await handoffOf(a, 'o_duty')).question).toBe('我想办护照，要带什么材料');
    // A keyword rule's own words answer; its word inside a message meant for a human does not stop it.
    const { a: b, say: say2 } = await account({ profile: (p) => (p.handoff.mode = 'duty') });
    expect(await say2('o_kw', '热线')).toContain('12345');
    expect(await say2('o_kw2', '打了热线没人接，我要反映问题')).toContain('您的留言已转给值班人员');
    expect((await handoffOf(b, 'o_kw2')).question).toBe('打了热线没人接，我要反映问题');
  });
});

describe('a location meant as a report', () => {
  it('a report dialog that takes a location gets it; elsewhere a location finds the nearest halls', async () => {
    const { a, act, say } = await account({
      profile: (p) => {
        p.keywords.push({ id: 'jam', match: 'exact', patterns: ['拥堵上报'], reply: { dialog: 'ask', prompt: '请发送拥堵的位置，或写下路名和方向。', accept: ['location'] } });
      },
    });
    await say('o_jam', '拥堵上报');
    const r = await act('o_jam', { type: 'location', latitude: 24.4798, longitude: 118.0894, label: '湖滨南路与金榜路交叉口' });
    expect(r).toContain('已为您转接工作人员');
    expect(r).not.toContain('最近');
    expect((await handoffOf(a, 'o_jam')).question).toBe('【位置】湖滨南路与金榜路交叉口（24.47980, 118.08940）');
    // 我要咨询 did not ask for a location: a location then is answered with the nearest halls
    await say('o_other', '5');
    await say('o_other', '1');
    expect(await act('o_other', { type: 'location', latitude: 31.2135, longitude: 121.4019 })).toContain('离您最近的办事大厅');
  });
});

describe('personal data in forms follows the field\'s declared kind', () => {
  it('masks a 收货人 name, a plate and a card number, and the reveal\'s audit entry names the kinds', async () => {
    const { a } = await account({
      profile: (p) => {
        const s = p.services.find((x: { id: string }) => x.id === 'residence-permit');
        s.application.form = [
          { id: 'receiver', label: '收货人', type: 'text', max: 20, personal: 'name' },
          { id: 'plate', label: '车牌号码', type: 'text', max: 10, personal: 'plate' },
          { id: 'card', label: '社保卡号', type: 'text', max: 30, personal: 'card' },
          { id: 'note', label: '姓名拼音备注', type: 'text', max: 30, personal: 'none' },
        ];
      },
    });
    const c = await a.cases.submit('o_pii', 'residence-permit', { receiver: '欧阳娜娜', plate: '闽D12345', card: '6222021234567890123', note: 'OUYANG NANA' }, []);
    expect(a.cases.maskedForm(c)).toEqual([
      { label: '收货人', value: '欧***' },
      { label: '车牌号码', value: '闽D***45' },
      { label: '社保卡号', value: '6222***********0123' },
      { label: '姓名拼音备注', value: 'OUYANG NANA' },
    ]);
    expect(a.cases.personalKinds(c)).toEqual(['name', 'plate', 'card']);
    expect(maskPersonal('phone', '13812345678')).toBe('138****5678');
    const team = await makeTeam(a);
    const h = await signedIn(a, team.handler);
    const page = await h.page(`/admin/cases/${c.id}`);
    expect(page.html).not.toContain('欧阳娜娜');
    expect(page.html).not.toContain('闽D12345');
    expect(page.html).toContain('显示完整');
    expect(await (await h.post(`/admin/cases/${c.id}/reveal`)).text()).toContain('闽D12345');
    const audit = await a.db.getRepository(AuditEntity).findOneByOrFail({ target: `case:${c.id}`, action: 'unmask' });
    expect(audit.detail).toBe('申请内容（姓名、车牌、卡号）');
  });
});
