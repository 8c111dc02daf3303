import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { DataSource } from 'typeorm';
import { CitizenEntity } from '../../src/chat/log.ts';
import { JobEntity, JobQueue } from '../../src/platform/jobs.ts';
import { createLogger } from '../../src/platform/log.ts';
import type { ProfileTemplate } from '../../src/profile/schema.ts';
import { BindingEntity } from '../../src/services/bindings/entities.ts';
import { CaseEntity } from '../../src/services/cases/entities.ts';
import type { NoticesCapability } from '../../src/services/notices/capability.ts';
import { NoticeEntity, NoticeError, NoticeRecipientEntity, Notices, type NoticeRow } from '../../src/services/notices/index.ts';
import { WeChatApiError, type TemplateMessage } from '../../src/wechat/api/index.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { rejection } from '../helpers/errors.ts';

/**
 * The 群发通知 commands one by one — segments, the template values, create, the audience, start,
 * pause and resume, the batch job, the delivery reports — on a test app
 * (test/services/notices.test.ts follows a notice through the staff panel).
 */

const startApp = appsClosedAfterEach();
const TRAFFIC = join(import.meta.dirname, '..', '..', 'profiles', 'xiamen-traffic', 'profile.yaml');
const PUBLIC = 'https://weiban.example.gov.cn';

/** A notice a community centre would send: 居住证签注 on a Saturday. */
const VALUES = { thing1: '居住证签注集中办理', time2: '2026年12月5日 9:00', thing3: '各社区事务受理服务中心', character_string4: 'NOTICE-1205' };

const noticesOf = (a: TestApp) => (a.capabilities.find((c) => c.name === 'notices') as NoticesCapability).notices;

const caught = (p: Promise<unknown> | (() => unknown)) => rejection(p, NoticeError);

/** Followers in the account's table (and the emulator's): subscribed unless told, with an audience. */
async function follow(a: TestApp, openids: string[], o: { audience?: string | null; subscribed?: boolean } = {}): Promise<string[]> {
  const now = a.clock.now();
  const subscribed = o.subscribed ?? true;
  for (let i = 0; i < openids.length; i += 200) {
    await a.db.getRepository(CitizenEntity).insert(openids.slice(i, i + 200).map((openid) => ({ openid, subscribed, subscribedAt: now, unsubscribedAt: subscribed ? null : now, scene: null, firstSeenAt: now, lastInteractionAt: null, lastInteractionKind: null, lastMessageAt: null, audience: o.audience ?? null, careMode: false, updatedAt: now })));
  }
  for (const id of openids) {
    a.emulator!.platform.citizen(id);
    a.emulator!.platform.setSubscribed(id, subscribed);
  }
  return openids;
}

const many = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

const recipients = (a: TestApp, noticeId: number) => a.db.getRepository(NoticeRecipientEntity).find({ where: { noticeId }, order: { id: 'ASC' } });
const noticeRow = (a: TestApp, id: number) => a.db.getRepository(NoticeEntity).findOneByOrFail({ id });
const batchJobs = (a: TestApp) => a.db.getRepository(JobEntity).find({ where: { name: Notices.JOB }, order: { id: 'ASC' } });
const templatesTo = (a: TestApp, openid: string) => a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'template');

/**
 * A Notices of its own (its own batch size and interval, its own job queue on the app's jobs
 * table, a log to watch), sending through the app's WeChat API. `portable` hides the SQLite direct
 * path, so the batch marks its recipients the way it does on PostgreSQL.
 */
function ownNotices(a: TestApp, o: { batchSize?: number; batchIntervalMs?: number; portable?: boolean } = {}) {
  const log = createLogger({ level: 'silent' });
  const jobs = new JobQueue(a.db, a.clock, log);
  const db: DataSource = o.portable ? new Proxy(a.db, {}) : a.db;
  const notices = new Notices({ db, clock: a.clock, jobs, api: a.api, log, profile: a.profile, publicUrl: PUBLIC, ...(o.batchSize ? { batchSize: o.batchSize } : {}), ...(o.batchIntervalMs !== undefined ? { batchIntervalMs: o.batchIntervalMs } : {}) });
  return { notices, jobs, log };
}

/** Every template send, as called (openid, client_msg_id, url), with the recipient's status at that moment. */
function watchSends(a: TestApp, o: { each?: (openid: string, m: TemplateMessage) => Promise<void> | void; tookMs?: number } = {}) {
  const calls: { openid: string; clientMsgId: string | undefined; url: string | undefined; statusThen: string | undefined }[] = [];
  const send = a.api.template.send.bind(a.api.template);
  a.api.template.send = async (openid, m) => {
    const call: (typeof calls)[number] = { openid, clientMsgId: m.clientMsgId, url: m.url, statusThen: undefined };
    calls.push(call); // in the order the batch takes its recipients
    const id = Number(/^nt-\d+-(\d+)$/.exec(m.clientMsgId ?? '')?.[1]);
    call.statusThen = (id ? await a.db.getRepository(NoticeRecipientEntity).findOneBy({ id }) : null)?.status;
    if (o.tookMs) a.clock.advance(o.tookMs);
    await o.each?.(openid, m);
    return send(openid, m);
  };
  return calls;
}

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`the 群发通知 commands one by one (${db.label})`, () => {
    const app = (o: Parameters<typeof startApp>[0] = {}) => startApp({ db: db.name, ...o });

    describe('segments(), segmentLabel(), template()', () => {
      it('offers everyone, each audience, each binding kind and each service with an application form, labelled', async () => {
        const a = await app();
        const n = noticesOf(a);
        expect(n.segments()).toEqual([
          { id: 'all', label: '全部关注者' },
          { id: 'audience:resident', label: '人群：市民' },
          { id: 'audience:business', label: '人群：企业' },
          { id: 'audience:migrant', label: '人群：外地来沪人员' },
          { id: 'binding:sscard', label: '已绑定社保卡的市民' },
          { id: 'service:residence-permit', label: '申请过「上海市居住证办理」的市民' },
          { id: 'service:senior-card', label: '申请过「老年人优待证（敬老卡）」的市民' },
          { id: 'service:individual-business-licence', label: '申请过「个体工商户营业执照」的市民' },
        ]);
        expect(n.segmentLabel('audience:migrant')).toBe('人群：外地来沪人员');
        expect(n.segmentLabel('service:senior-card')).toBe('申请过「老年人优待证（敬老卡）」的市民');
        // A service without an application form (passport: 指南 only) is no segment: its id is shown as is.
        expect(n.segmentLabel('service:passport')).toBe('service:passport');
        expect(n.template('booking_reminder')).toMatchObject({ id: 'TPL_DEMO_BOOKING_REMINDER', title: '预约办事提醒' });
        expect(n.template('spring_festival_greeting')).toBeUndefined();
      });

      it('a profile without audiences (the traffic police) offers everyone, each of its binding kinds and its one application', async () => {
        const a = await app({ profileFile: TRAFFIC });
        expect(a.profile.audiences).toBeUndefined();
        expect(noticesOf(a).segments()).toEqual([
          { id: 'all', label: '全部关注者' },
          { id: 'binding:vehicle', label: '已绑定机动车的市民' },
          { id: 'binding:licence', label: '已绑定驾驶证的市民' },
          { id: 'service:traffic-volunteer', label: '申请过「交通志愿者报名」的市民' },
        ]);
      });
    });

    describe('checkValues(): each value against WeChat’s limit for its field, refused with its label, never cut', () => {
      it('collapses whitespace and trims; refuses an empty value naming the label, or the key when the template has none', async () => {
        const a = await app();
        const n = noticesOf(a);
        const t = n.template('booking_reminder')!;
        expect(n.checkValues(t, { ...VALUES, thing1: '  居住证签注\n\n集中   办理 ', thing3: '\t各社区事务受理服务中心\n' })).toEqual({ ...VALUES, thing1: '居住证签注 集中 办理', thing3: '各社区事务受理服务中心' });
        const { thing3: _left, ...noPlace } = VALUES;
        expect((await caught(() => n.checkValues(t, noPlace))).message).toBe('请填写「办理地点」');
        expect((await caught(() => n.checkValues(t, { ...VALUES, time2: ' \n ' }))).message).toBe('请填写「预约时间」');
        const water: ProfileTemplate = { id: 'TPL_WATER', title: '停水通知', fields: { thing1: '{area}', time2: '{from}' }, labels: { thing1: '停水区域' } };
        expect((await caught(() => n.checkValues(water, { thing1: '天山路街道仙霞新村' }))).message).toBe('请填写「time2」');
        expect((await caught(() => n.checkValues(water, { time2: '12月6日 8:00—16:00' }))).message).toBe('请填写「停水区域」');
      });

      it('counts characters (an emoji is one), accepts a value at the limit and refuses one past it, for each field type', async () => {
        const a = await app();
        const n = noticesOf(a);
        const t = n.template('booking_reminder')!;
        const twenty = '十二月起居住证签注可在全市任一社区中心🎉'; // 20 characters, 21 UTF-16 units
        expect([...twenty]).toHaveLength(20);
        expect(n.checkValues(t, { ...VALUES, thing1: twenty }).thing1).toBe(twenty);
        expect((await caught(() => n.checkValues(t, { ...VALUES, thing1: `${twenty}了` }))).message).toBe('「预约事项」最多 20 个字，现在 21 个（微信会拒发）');
        const code32 = 'SH-2026-12-05-RESIDENCE-PERMIT01';
        expect(code32).toHaveLength(32);
        expect(n.checkValues(t, { ...VALUES, character_string4: code32 }).character_string4).toBe(code32);
        expect((await caught(() => n.checkValues(t, { ...VALUES, character_string4: `${code32}X` }))).message).toBe('「预约码」最多 32 个字，现在 33 个（微信会拒发）');
        expect((await caught(() => n.checkValues(t, { ...VALUES, character_string4: '签注1205' }))).message).toBe('「预约码」只能填字母、数字和符号（微信不收汉字）');
        expect((await caught(() => n.checkValues(t, { ...VALUES, time2: '2026年12月5日上午9:00至下午17:00，中午不休息，请带好证件' }))).message).toMatch(/^「预约时间」最多 32 个字，现在 \d+ 个/);

        const progress = n.template('case_progress')!; // phrase3: up to 5 Chinese characters only
        const ok = { thing1: '上海市居住证办理', character_string2: 'JZZ202612050001', phrase3: '已受理', time4: '2026-12-05 10:30' };
        expect(n.checkValues(progress, ok)).toEqual(ok);
        expect(n.checkValues(progress, { ...ok, phrase3: '等待补正材' }).phrase3).toBe('等待补正材');
        expect((await caught(() => n.checkValues(progress, { ...ok, phrase3: '等待补正材料' }))).message).toBe('「办理进度」最多 5 个字，现在 6 个（微信会拒发）');
        expect((await caught(() => n.checkValues(progress, { ...ok, phrase3: 'OK了' }))).message).toBe('「办理进度」只能填汉字');
        expect((await caught(() => n.checkValues(progress, { ...ok, phrase3: '已 受理' }))).message).toBe('「办理进度」只能填汉字');

        const fine: ProfileTemplate = { id: 'TPL_FINE', title: '罚款缴纳提醒', fields: { name1: '{who}', car_number2: '{plate}', amount3: '{amount}', date4: '{due}', remark5: '{note}' }, labels: { name1: '当事人', car_number2: '车牌号', amount3: '罚款金额', date4: '缴款期限', remark5: '备注' } };
        const fineOk = { name1: '欧阳娜娜', car_number2: '闽D12345挂', amount3: '200.00元', date4: '2026年12月31日', remark5: '请于期限内通过厦门交警公众号或各银行网点缴纳罚款，逾期每日按罚款数额的百分之三加处罚款，加处罚款的数额不超过罚款本数' };
        expect(n.checkValues(fine, fineOk)).toEqual(fineOk); // remark5: a field WeChat puts no limit on
        expect((await caught(() => n.checkValues(fine, { ...fineOk, name1: '阿卜杜热合曼·买买提明' }))).message).toBe('「当事人」最多 10 个字，现在 11 个（微信会拒发）');
        expect((await caught(() => n.checkValues(fine, { ...fineOk, car_number2: '闽D123456挂' }))).message).toBe('「车牌号」最多 8 个字，现在 9 个（微信会拒发）');
        expect((await caught(() => n.checkValues(fine, { ...fineOk, amount3: '人民币贰佰元整（200.00元），含滞纳金零元，逾期另计加处罚款，以决定书为准' }))).message).toMatch(/^「罚款金额」最多 32 个字/);
      });
    });

    describe('create()', () => {
      it('refuses a template it does not have, a segment it does not offer, and a link that is not /h5/… or https://…', async () => {
        const a = await app();
        const n = noticesOf(a);
        expect((await caught(n.create(7, 'spring_festival_greeting', VALUES, 'all', null))).message).toBe('没有这个模板');
        expect((await caught(n.create(7, 'booking_reminder', VALUES, 'service:passport', null))).message).toBe('请选择发送对象');
        expect((await caught(n.create(7, 'booking_reminder', VALUES, 'audience:retired', null))).message).toBe('请选择发送对象');
        for (const url of ['http://www.sh.gov.cn/h5/guides', 'javascript:alert(1)//https://x', '//evil.example.com/h5/guides', 'https://www.sh.gov.cn/通知 2026', '/h5/guides?from=notice x', '/admin/notices', 'https://']) {
          expect((await caught(n.create(7, 'booking_reminder', VALUES, 'all', url))).message, url).toBe('链接须以 /h5/ 或 https:// 开头');
        }
        expect(await a.db.getRepository(NoticeEntity).count()).toBe(0);
        for (const url of ['/h5/guides', '/h5/', 'https://zwdt.sh.gov.cn/govPortals/index.do', 'https://x']) {
          expect((await n.create(7, 'booking_reminder', VALUES, 'all', url)).url, url).toBe(url);
        }
      });

      it('keeps a draft: the checked values, no link, counters at nought, who and when; get() finds it by id, list() newest first', async () => {
        const a = await app();
        const n = noticesOf(a);
        const first = await n.create(3, 'booking_reminder', VALUES, 'all', '/h5/guides');
        a.clock.advance(60_000);
        const created = await n.create(7, 'booking_reminder', { ...VALUES, thing1: ' 居住证签注  集中办理 ' }, 'audience:migrant', null);
        const want: NoticeRow = { id: created.id, template: 'booking_reminder', data: JSON.stringify({ ...VALUES, thing1: '居住证签注 集中办理' }), url: null, segment: 'audience:migrant', status: 'draft', total: 0, sent: 0, failed: 0, delivered: 0, batches: 0, createdBy: 7, createdAt: a.clock.now(), startedAt: null, finishedAt: null };
        expect(await n.get(created.id)).toEqual(want);
        expect(await n.get(first.id)).toMatchObject({ id: first.id, createdBy: 3, url: '/h5/guides' });
        expect(await n.get(created.id + 100)).toBeNull();
        for (let i = 0; i < 49; i++) await n.create(7, 'booking_reminder', VALUES, 'all', null);
        const listed = await n.list();
        expect(listed).toHaveLength(50);
        expect(listed[0]!.id).toBeGreaterThan(listed[1]!.id);
        expect(listed.map((r) => r.id)).not.toContain(first.id); // the 51st newest is not listed
        expect(listed[49]!.id).toBe(created.id);
      });
    });

    describe('audience(): subscribed followers in a segment now', () => {
      it('everyone; by audience; by binding kind (bound ones, each citizen once); by service (each applicant once); an unknown segment refused', async () => {
        const a = await app();
        const n = noticesOf(a);
        const [li] = await follow(a, ['o_resident_li'], { audience: 'resident' });
        const [zhao, qian] = await follow(a, ['o_migrant_zhao', 'o_migrant_qian'], { audience: 'migrant' });
        const [gone] = await follow(a, ['o_migrant_gone'], { audience: 'migrant', subscribed: false });
        const [sun] = await follow(a, ['o_no_audience_sun']);
        const sorted = async (segment: string) => (await n.audience(segment)).sort();
        expect(await sorted('all')).toEqual([li, zhao, qian, sun].sort());
        expect(await sorted('audience:migrant')).toEqual([zhao, qian].sort());
        expect(await sorted('audience:business')).toEqual([]);

        const now = a.clock.now();
        const bind = (openid: string, kind: string, key: string, status: 'bound' | 'unbound' = 'bound') =>
          a.db.getRepository(BindingEntity).insert({ openid, kind, keyValue: key, display: `${key.slice(0, 4)}****${key.slice(-4)}`, status, boundAt: now, unboundAt: status === 'unbound' ? now : null, activeKey: status === 'bound' ? `${kind}:${key}` : null });
        await bind(li!, 'sscard', '310104195603120027');
        await bind(zhao!, 'sscard', '310105198001011231');
        await bind(zhao!, 'sscard', '310105200805051234'); // his child's card too: one notice for him
        await bind(gone!, 'sscard', '310106197002023456'); // unsubscribed since
        await bind(qian!, 'sscard', '310107199003034567', 'unbound');
        await bind(sun!, 'reader_card', 'R20260001'); // another kind
        expect(await n.audience('binding:sscard')).toHaveLength(2);
        expect(await sorted('binding:sscard')).toEqual([li, zhao].sort());
        expect(await sorted('binding:reader_card')).toEqual([sun]);

        const form = { name: '赵大伟', id_card: validId(), phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领' };
        const files = () => [
          { fieldId: 'photo', fileName: 'me.jpg', data: JPEG },
          { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
        ];
        const c = await a.cases.submit(zhao!, 'residence-permit', form, files());
        const { id: _id, ...row } = (await a.db.getRepository(CaseEntity).findOneByOrFail({ id: c.id }))!;
        const copy = (openid: string, serviceId: string, caseNo: string) => a.db.getRepository(CaseEntity).insert({ ...row, openid, serviceId, caseNo });
        await copy(zhao!, 'residence-permit', 'JZZ2026110002'); // he applied twice: one notice
        await copy(qian!, 'residence-permit', 'JZZ2026110003');
        await copy(gone!, 'residence-permit', 'JZZ2026110004');
        await copy(li!, 'senior-card', 'JLK2026110001');
        expect(await n.audience('service:residence-permit')).toHaveLength(2);
        expect(await sorted('service:residence-permit')).toEqual([zhao, qian].sort());
        expect(await sorted('service:senior-card')).toEqual([li]);
        expect(await sorted('service:individual-business-licence')).toEqual([]);

        expect((await caught(n.audience('district:xuhui'))).message).toBe('unknown segment');
        expect((await caught(n.audience('nobody'))).message).toBe('unknown segment');
      });
    });

    describe('start()', () => {
      it('fixes the recipients of its segment, once: a second start is refused, a follower who arrives later is not sent', async () => {
        const a = await app();
        const n = noticesOf(a);
        await follow(a, ['o_resident_li'], { audience: 'resident' });
        const migrants = await follow(a, ['o_migrant_zhao', 'o_migrant_qian', 'o_migrant_sun'], { audience: 'migrant' });
        const other = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        const notice = await n.create(7, 'booking_reminder', VALUES, 'audience:migrant', '/h5/guides');
        a.clock.advance(30_000);
        const started = await n.start(notice.id);
        expect(started).toMatchObject({ id: notice.id, status: 'sending', startedAt: a.clock.now(), total: 3, batches: 1, segment: 'audience:migrant' });
        expect((await recipients(a, notice.id)).map((r) => [r.openid, r.status, r.msgid, r.delivery, r.sentAt])).toEqual(migrants.map((o) => [o, 'pending', null, null, null]));
        expect((await batchJobs(a)).map((j) => [j.uniqueKey, JSON.parse(j.payload), j.runAt])).toEqual([[`notice:${notice.id}:1:0`, { noticeId: notice.id, generation: 1 }, a.clock.now()]]);
        expect((await caught(n.start(notice.id))).message).toBe('这条通知已经发出过了');
        expect((await caught(n.start(notice.id + 100))).message).toBe('这条通知已经发出过了'); // none such
        expect((await noticeRow(a, other.id)).status).toBe('draft');

        const [late] = await follow(a, ['o_migrant_late'], { audience: 'migrant' });
        await a.jobs.runDue();
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'done', total: 3, sent: 3 });
        for (const o of migrants) expect(templatesTo(a, o), o).toHaveLength(1);
        expect(templatesTo(a, late!)).toHaveLength(0);
      });

      it('inserts a large segment in chunks of 500 (a thousand exactly, and one more)', async () => {
        const a = await app();
        const n = noticesOf(a);
        await follow(a, many('o_resident_', 1000), { audience: 'resident' });
        await follow(a, ['o_migrant_0001'], { audience: 'migrant' });
        const thousand = await n.create(7, 'booking_reminder', VALUES, 'audience:resident', null);
        expect((await n.start(thousand.id)).total).toBe(1000);
        expect(await a.db.getRepository(NoticeRecipientEntity).countBy({ noticeId: thousand.id, status: 'pending' })).toBe(1000);
        const everyone = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        expect((await n.start(everyone.id)).total).toBe(1001);
        expect(await a.db.getRepository(NoticeRecipientEntity).countBy({ noticeId: everyone.id })).toBe(1001);
        const nobody = await n.create(7, 'booking_reminder', VALUES, 'audience:business', null);
        expect((await n.start(nobody.id)).total).toBe(0);
        expect(await a.db.getRepository(NoticeRecipientEntity).countBy({ noticeId: nobody.id })).toBe(0);
      });
    });

    describe('pause() and resume()', () => {
      it('pauses only a notice that is sending, resumes only a paused one with a new generation; the older chain’s batch sends nothing', async () => {
        const a = await app();
        const n = noticesOf(a);
        const ids = await follow(a, many('o_follower_', 350));
        const draft = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        const notice = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        expect(await n.pause(notice.id)).toBe(false); // a draft
        expect(await n.resume(notice.id)).toBe(false); // not paused
        await n.start(notice.id);
        expect(await n.resume(notice.id)).toBe(false); // sending
        await a.jobs.runDue(); // generation 1, step 0: 100 sent; step 1 waits a second
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', sent: 100, batches: 1 });

        expect(await n.pause(notice.id)).toBe(true);
        expect(await n.pause(notice.id)).toBe(false);
        expect((await noticeRow(a, notice.id)).status).toBe('paused');
        expect(await n.resume(notice.id)).toBe(true);
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', batches: 2 });
        expect(await n.resume(notice.id)).toBe(false);
        expect((await batchJobs(a)).filter((j) => j.status === 'pending').map((j) => [j.uniqueKey, JSON.parse(j.payload)])).toEqual([
          [`notice:${notice.id}:1:1`, { noticeId: notice.id, generation: 1, step: 1 }],
          [`notice:${notice.id}:2:0`, { noticeId: notice.id, generation: 2 }],
        ]);
        expect((await noticeRow(a, draft.id)).status).toBe('draft');

        await a.jobs.runDue(); // generation 2, step 0
        expect((await noticeRow(a, notice.id)).sent).toBe(200);
        a.clock.advance(1_000);
        await a.jobs.runDue(); // generation 1, step 1 (stops: an older chain) and generation 2, step 1
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', sent: 300 });
        const keys = (await batchJobs(a)).map((j) => j.uniqueKey);
        expect(keys).not.toContain(`notice:${notice.id}:1:2`);
        expect(keys).toContain(`notice:${notice.id}:2:2`);
        a.clock.advance(1_000);
        await a.jobs.runDue();
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'done', sent: 350 });
        for (const o of ids) expect(templatesTo(a, o), o).toHaveLength(1);
        expect(await n.pause(notice.id)).toBe(false); // done
      });

      it('a paused notice’s batch sends nothing', async () => {
        const a = await app();
        const n = noticesOf(a);
        const ids = await follow(a, many('o_follower_', 3));
        const notice = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        await n.start(notice.id);
        await n.pause(notice.id);
        await a.jobs.runDue();
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'paused', sent: 0 });
        for (const o of ids) expect(templatesTo(a, o)).toHaveLength(0);
      });
    });

    describe('the batch job', () => {
      it('defaults to 100 a batch, a second apart, 16 in flight', async () => {
        const a = await app();
        const { notices } = ownNotices(a);
        expect([notices.batchSize, notices.batchIntervalMs, notices.concurrency]).toEqual([100, 1000, 16]);
        const own = ownNotices(a, { batchSize: 3, batchIntervalMs: 250 });
        expect([own.notices.batchSize, own.notices.batchIntervalMs]).toEqual([3, 250]);
      });

      it('sends a batch at a time, claimed before sending, the next one an interval after this one started; an absolute link; client_msg_id by notice and recipient; done when none are left', async () => {
        const a = await app();
        const { notices, jobs, log } = ownNotices(a, { batchSize: 3, batchIntervalMs: 60_000 });
        const info = vi.spyOn(log, 'info');
        const ids = await follow(a, many('o_follower_', 7));
        const notice = await notices.create(7, 'booking_reminder', VALUES, 'all', '/h5/guides/residence-permit');
        const calls = watchSends(a, { tookMs: 5 });
        await notices.start(notice.id);
        const rows = await recipients(a, notice.id);
        const t0 = a.clock.now();
        expect(await jobs.runDue()).toBe(1);
        expect(calls.map((c) => c.clientMsgId)).toEqual(rows.slice(0, 3).map((r) => `nt-${notice.id}-${r.id}`));
        expect(calls.map((c) => c.statusThen)).toEqual(['sending', 'sending', 'sending']); // claimed first
        expect(calls.map((c) => c.url)).toEqual(Array(3).fill(`${PUBLIC}/h5/guides/residence-permit`));
        expect(templatesTo(a, ids[0]!)[0]!.message).toMatchObject({ templateId: 'TPL_DEMO_BOOKING_REMINDER', url: `${PUBLIC}/h5/guides/residence-permit`, data: VALUES });
        expect((await recipients(a, notice.id)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'pending', 'pending', 'pending', 'pending']);
        const sent = (await recipients(a, notice.id))[0]!;
        expect(sent.sentAt).toBeGreaterThan(t0); // when WeChat answered: the three calls took 5 ms each
        expect(sent.sentAt).toBeLessThanOrEqual(t0 + 15);
        expect(sent.msgid).toBe(String(templatesTo(a, ids[0]!)[0]!.id));
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', sent: 3, failed: 0, finishedAt: null });
        let pending = (await jobs.list({ status: 'pending', name: Notices.JOB }));
        expect(pending.map((j) => [j.uniqueKey, JSON.parse(j.payload), j.runAt])).toEqual([[`notice:${notice.id}:1:1`, { noticeId: notice.id, generation: 1, step: 1 }, t0 + 60_000]]);

        a.clock.set(t0 + 59_999);
        expect(await jobs.runDue()).toBe(0);
        a.clock.set(t0 + 60_000);
        expect(await jobs.runDue()).toBe(1);
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', sent: 6 });
        pending = await jobs.list({ status: 'pending', name: Notices.JOB });
        expect(pending.map((j) => [j.uniqueKey, j.runAt])).toEqual([[`notice:${notice.id}:1:2`, t0 + 120_000]]);
        expect(info).not.toHaveBeenCalled();

        a.clock.set(t0 + 120_000);
        expect(await jobs.runDue()).toBe(1);
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'done', sent: 7, failed: 0, finishedAt: t0 + 120_005 });
        expect(await jobs.list({ status: 'pending', name: Notices.JOB })).toEqual([]);
        expect(info).toHaveBeenCalledWith({ notice: notice.id }, 'notice sent to everyone in its segment');
        for (const o of ids) expect(templatesTo(a, o), o).toHaveLength(1);
        expect((await batchJobs(a)).map((j) => j.uniqueKey)).toEqual([0, 1, 2].map((s) => `notice:${notice.id}:1:${s}`));
      });

      it('a batch that outlasts the interval schedules the next one at once; a https link is sent as it is', async () => {
        const a = await app();
        const { notices, jobs } = ownNotices(a, { batchSize: 2, batchIntervalMs: 8 });
        await follow(a, many('o_follower_', 3));
        const calls = watchSends(a, { tookMs: 5 });
        const notice = await notices.create(7, 'booking_reminder', VALUES, 'all', 'https://zwdt.sh.gov.cn/govPortals/index.do');
        await notices.start(notice.id);
        await jobs.runDue(); // both batches: the second is due when the first ends
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'done', sent: 3 });
        expect(calls.map((c) => c.url)).toEqual(Array(3).fill('https://zwdt.sh.gov.cn/govPortals/index.do'));
      });

      it('sends no link when the notice has none', async () => {
        const a = await app();
        const { notices, jobs } = ownNotices(a);
        const [o] = await follow(a, ['o_resident_li']);
        const calls = watchSends(a);
        const notice = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
        await notices.start(notice.id);
        await jobs.runDue();
        expect(calls.map((c) => c.url)).toEqual([undefined]);
        expect(templatesTo(a, o!)[0]!.message.url).toBe('');
      });

      it('resends first those a dead run left `sending`, a batch’s worth only', async () => {
        const a = await app();
        const { notices, jobs } = ownNotices(a, { batchSize: 3 });
        await follow(a, many('o_follower_', 7));
        const calls = watchSends(a);
        const notice = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
        await notices.start(notice.id);
        const rows = await recipients(a, notice.id);
        const dead = [rows[2]!, rows[4]!, rows[6]!];
        for (const r of dead) await a.db.getRepository(NoticeRecipientEntity).update({ id: r.id }, { status: 'sending' });
        await jobs.runDue();
        expect(calls.map((c) => c.clientMsgId)).toEqual(dead.map((r) => `nt-${notice.id}-${r.id}`));
        expect((await recipients(a, notice.id)).map((r) => r.status)).toEqual(['pending', 'pending', 'sent', 'pending', 'sent', 'pending', 'sent']);
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', sent: 3 });
      });

      it('is not done while another run still holds a recipient: those left are the pending and the sending', async () => {
        const a = await app();
        const { notices, jobs } = ownNotices(a, { batchSize: 3 });
        await follow(a, many('o_follower_', 5));
        const rrepo = a.db.getRepository(NoticeRecipientEntity);
        // While a batch of three sends, another instance takes the fourth over (its lease ran out here).
        let victim = 0;
        watchSends(a, { each: async () => void (victim && (await rrepo.update({ id: victim }, { status: 'sending' }))) });

        // Five: after the batch one is pending and one is held elsewhere.
        const five = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
        await notices.start(five.id);
        victim = (await recipients(a, five.id))[3]!.id;
        await jobs.runDue();
        expect((await recipients(a, five.id)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'sending', 'pending']);
        expect(await noticeRow(a, five.id)).toMatchObject({ status: 'sending', sent: 3, finishedAt: null });
        expect((await jobs.list({ status: 'pending', name: Notices.JOB })).map((j) => j.uniqueKey)).toEqual([`notice:${five.id}:1:1`]);

        // Four (one unfollowed in the account's table since): none pending, one held elsewhere.
        await a.db.getRepository(CitizenEntity).update({ openid: 'o_follower_0004' }, { subscribed: false });
        const four = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
        await notices.start(four.id);
        victim = (await recipients(a, four.id))[3]!.id;
        await jobs.runDue();
        expect((await recipients(a, four.id)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'sending']);
        expect(await noticeRow(a, four.id)).toMatchObject({ status: 'sending', sent: 3, finishedAt: null });
        expect((await jobs.list({ status: 'pending', name: Notices.JOB })).map((j) => j.uniqueKey)).toContain(`notice:${four.id}:1:1`);
      });

      it('marks a recipient WeChat refuses for good as failed (`refused <errcode>`) and carries on; a batch of refusals only is marked too', async () => {
        const a = await app();
        const { notices, jobs } = ownNotices(a, { batchSize: 2 });
        const ids = await follow(a, many('o_follower_', 5));
        const notice = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
        await notices.start(notice.id);
        // Since the notice started, two of them unfollowed (43004): the first batch is refusals only.
        a.emulator!.platform.setSubscribed(ids[0]!, false);
        a.emulator!.platform.setSubscribed(ids[1]!, false);
        await jobs.runDue();
        expect((await recipients(a, notice.id)).map((r) => [r.status, r.delivery])).toEqual([
          ['failed', 'refused 43004'],
          ['failed', 'refused 43004'],
          ['pending', null],
          ['pending', null],
          ['pending', null],
        ]);
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', sent: 0, failed: 2 });
        a.clock.advance(1_000);
        await jobs.runDue();
        a.clock.advance(1_000);
        await jobs.runDue();
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'done', sent: 3, failed: 2, total: 5 });
        expect(await notices.report(notice.id)).toEqual({ 'refused 43004': 2, unreported: 3 });
      });

      it('leaves a recipient `sending` when WeChat is busy, and the job retries (5 s, then 10 s …, at most 10 min) with the same client_msg_id', async () => {
        const a = await app();
        const { notices, jobs } = ownNotices(a, { batchSize: 3 });
        const ids = await follow(a, many('o_follower_', 3));
        const notice = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
        await notices.start(notice.id);
        let busy = 2;
        const calls = watchSends(a, {
          each: (openid) => {
            if (openid === ids[1] && busy-- > 0) throw new WeChatApiError(-1, 'system error', '/cgi-bin/message/template/send');
          },
        });
        const t0 = a.clock.now();
        await jobs.runDue();
        expect((await recipients(a, notice.id)).map((r) => r.status)).toEqual(['sent', 'sending', 'sent']);
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'sending', sent: 2, failed: 0 });
        let [job] = await jobs.list({ name: Notices.JOB });
        expect(job).toMatchObject({ status: 'pending', attempts: 1, runAt: t0 + 5_000 });
        expect(job!.lastError).toContain('-1 system error');

        a.clock.set(t0 + 5_000);
        await jobs.runDue();
        [job] = await jobs.list({ name: Notices.JOB });
        expect(job).toMatchObject({ status: 'pending', attempts: 2, runAt: t0 + 15_000 });

        a.clock.set(t0 + 15_000);
        await jobs.runDue();
        [job] = await jobs.list({ name: Notices.JOB });
        expect(job).toMatchObject({ status: 'done', attempts: 3 });
        const rid = (await recipients(a, notice.id))[1]!.id;
        expect(calls.filter((c) => c.openid === ids[1]).map((c) => c.clientMsgId)).toEqual(Array(3).fill(`nt-${notice.id}-${rid}`));
        expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'done', sent: 3 });
        for (const o of ids) expect(templatesTo(a, o), o).toHaveLength(1);

        // A long outage: the eighth attempt waits ten minutes, not 5 s × 2⁷.
        const later = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
        await notices.start(later.id);
        busy = 1;
        const key = `notice:${later.id}:1:0`;
        await a.db.getRepository(JobEntity).update({ uniqueKey: key }, { attempts: 7 });
        const t1 = a.clock.now();
        await jobs.runDue();
        expect(await a.db.getRepository(JobEntity).findOneByOrFail({ uniqueKey: key })).toMatchObject({ status: 'pending', attempts: 8, runAt: t1 + 600_000 });
      });

      it('fails for good when the notice’s template is no longer in the profile', async () => {
        const a = await app();
        const n = noticesOf(a);
        const [o] = await follow(a, ['o_resident_li']);
        const notice = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        await a.db.getRepository(NoticeEntity).update({ id: notice.id }, { template: 'spring_festival_greeting' });
        await n.start(notice.id);
        await a.jobs.runDue();
        const [job] = await a.jobs.list({ name: Notices.JOB });
        expect(job).toMatchObject({ status: 'failed', attempts: 1, lastError: 'template spring_festival_greeting is no longer in the profile' });
        expect(templatesTo(a, o!)).toHaveLength(0);
      });

      for (const portable of [false, true]) {
        it(`marks sent, refused and (the day's quota spent) put back in one go${portable ? ' — the portable path, as on PostgreSQL' : ''}`, async () => {
          const a = await app();
          const { notices, jobs, log } = ownNotices(a, { batchSize: 6, portable });
          const warn = vi.spyOn(log, 'warn');
          const ids = await follow(a, many('o_follower_', 6));
          const notice = await notices.create(7, 'booking_reminder', VALUES, 'all', null);
          await notices.start(notice.id);
          a.emulator!.platform.setSubscribed(ids[1]!, false);
          a.emulator!.platform.templateDailyQuota = 2;
          const sends = watchSends(a);
          await jobs.runDue();
          expect(sends.length).toBeGreaterThanOrEqual(4);
          const after = await recipients(a, notice.id);
          expect(after.filter((r) => r.status === 'sent')).toHaveLength(2);
          expect(after.filter((r) => r.status === 'sent').every((r) => r.msgid && r.sentAt === a.clock.now())).toBe(true);
          expect(after[1]).toMatchObject({ status: 'failed', delivery: 'refused 43004' });
          expect(after.filter((r) => r.status === 'pending')).toHaveLength(3);
          expect(after.filter((r) => r.status === 'sending')).toHaveLength(0);
          expect(await noticeRow(a, notice.id)).toMatchObject({ status: 'paused', sent: 2, failed: 1 });
          expect(warn).toHaveBeenCalledWith({ notice: notice.id }, 'notice paused: the daily template quota is spent');
        });
      }
    });

    describe('delivered() and report()', () => {
      it('records each msgid’s first report (cut at 40), counts the notice’s delivered, and reports per status with the unreported', async () => {
        const a = await app();
        const n = noticesOf(a);
        await follow(a, many('o_follower_', 4));
        const notice = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        const other = await n.create(7, 'booking_reminder', VALUES, 'all', null);
        await n.start(notice.id);
        await n.start(other.id);
        await a.jobs.runDue();
        const rows = await recipients(a, notice.id);
        const msg = (i: number) => rows[i]!.msgid!;
        expect(await n.delivered('999999999', 'success')).toBe(false);
        expect(await n.delivered(msg(0), 'success')).toBe(true);
        expect(await n.delivered(msg(1), 'success')).toBe(true);
        expect(await n.delivered(msg(1), 'failed:user block')).toBe(false); // a second report for it
        const long = 'failed:system failed (the user’s client could not be reached in time)';
        expect(await n.delivered(msg(2), long)).toBe(true);
        const theirs = (await recipients(a, other.id))[0]!;
        expect(await n.delivered(theirs.msgid!, 'success')).toBe(true);
        const after = await recipients(a, notice.id);
        expect(after.map((r) => r.delivery)).toEqual(['success', 'success', long.slice(0, 40), null]);
        expect(await noticeRow(a, notice.id)).toMatchObject({ delivered: 2, sent: 4 });
        expect((await noticeRow(a, other.id)).delivered).toBe(1);
        expect(await n.report(notice.id)).toEqual({ success: 2, [long.slice(0, 40)]: 1, unreported: 1 });
        expect(await n.report(other.id)).toEqual({ success: 1, unreported: 3 });
      });
    });
  });
}
