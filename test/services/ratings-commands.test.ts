import { describe, expect, it, vi } from 'vitest';
import type { EntityManager } from 'typeorm';
import { AlertEntity } from '../../src/alerts/index.ts';
import type { Turn } from '../../src/chat/engine.ts';
import { JobEntity } from '../../src/platform/jobs.ts';
import type { CaseRow } from '../../src/services/cases/entities.ts';
import { RatingEntity, RectificationEntity, type RatingRow, type RatingSubject, type RectificationStatus } from '../../src/services/ratings/entities.ts';
import { RatingError } from '../../src/services/ratings/index.ts';
import type { TextMessage, InboundMessage } from '../../src/wechat/messages.ts';
import { makeTeam, PASSWORD } from '../admin/client.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { appsClosedAfterEach, MONDAY_10AM, type TestApp } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { rejection } from '../helpers/errors.ts';

/**
 * The 好差评 commands one by one — rate, record, the chat route, the rectification's submit and
 * review, satisfaction — on finished things of a test app (test/services/ratings.test.ts follows a
 * rating through chat and the citizen's pages).
 */

const startApp = appsClosedAfterEach();

/** China time → epoch ms. */
const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const form = { name: '王小明', id_card: validId(), phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领' };
const files = () => [
  { fieldId: 'photo', fileName: 'me.jpg', data: JPEG },
  { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
];

const caught = (p: Promise<unknown>) => rejection(p, RatingError);

/** A residence-permit case of `openid`'s, accepted and advanced to 已办结. */
async function completedCase(a: TestApp, openid: string): Promise<CaseRow> {
  const c = await a.cases.submit(openid, 'residence-permit', form, files());
  await a.cases.accept(c.id, 'staff:1');
  await a.cases.advance(c.id, 'staff:1');
  await a.cases.advance(c.id, 'staff:1');
  const done = await a.cases.get(c.id);
  expect(done?.status).toBe('completed');
  return done!;
}

/** A snapshot about rubbish, answered and completed by the urban-management handler `zhou.cg`. */
async function completedTicket(a: TestApp, openid: string) {
  const { account } = await a.accounts.create({ username: 'zhou.cg', name: '周城管', role: 'handler', department: 'urban-management', password: PASSWORD, mustChangePassword: false });
  const t = await a.tickets!.file({ channel: 'snap', openid, category: 'sanitation', description: '小区门口的垃圾桶三天没人清运，味道很大', lat: 31.2135, lng: 121.4019 });
  await a.tickets!.accept(t.id, 'staff:desk');
  await a.tickets!.dispatch(t.id, 'staff:desk', 'urban-management');
  await a.tickets!.answer(t.id, 'staff:zhou.cg', '已安排环卫车辆清运，并督促物业每日清理。');
  await a.tickets!.complete(t.id, 'staff:zhou.cg');
  return { t: (await a.tickets!.get(t.id))!, staff: account! };
}

/** A staff conversation's rating, kept as the inbox keeps it (in its own transaction). */
const recorded = (a: TestApp, handoffId: number, level: number, department: string | null, openid = 'o_talker', staffId: number | null = null) =>
  a.db.transaction((tx) => a.ratings.record(tx, { subject: 'conversation', subjectId: String(handoffId), department, staffId, openid, level }, `咨询会话 #${handoffId}`));

const rectOf = (a: TestApp, ratingId: number) => a.db.getRepository(RectificationEntity).findOneByOrFail({ ratingId });
const poorAlerts = (a: TestApp) => a.db.getRepository(AlertEntity).find({ where: { kind: 'poor-rating' }, order: { id: 'ASC' } });
const toldJobs = (a: TestApp, id: number) => a.db.getRepository(JobEntity).findBy({ name: 'outbox.send', uniqueKey: `rectification:${id}:told` });
const outboxRefs = async (a: TestApp) => (await a.db.getRepository(JobEntity).findBy({ name: 'outbox.send' })).map((j) => JSON.parse(j.payload).ref as string);

const text = (fromUser: string, content: string, bizmsgmenuid?: string): TextMessage => ({ kind: 'text', toUser: 'gh_demo', fromUser, createTime: 1_795_000_000, msgId: '24000000001', content, ...(bizmsgmenuid ? { bizmsgmenuid } : {}) });
const turn = {} as Turn; // the route reads the message only

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`the 好差评 commands one by one (${db.label})`, () => {
    describe('rate(): a finished thing rated by its own citizen, once', () => {
      it('refuses a subject it does not know, a level outside 1 … 5, a thing not found or not the citizen\'s, and one not finished', async () => {
        const a = await startApp({ db: db.name });
        const c = await completedCase(a, 'o_rater');
        const waiting = await a.cases.submit('o_rater', 'residence-permit', form, files());
        for (const [subject, level] of [['bill', 4], ['', 4], ['case', 0], ['case', 6], ['case', 2.5], ['case', Number.NaN], ['case', -1]] as const) {
          const e = await caught(a.ratings.rate(subject as RatingSubject, String(c.id), 'o_rater', level));
          expect([subject, level, e.code, e.message]).toEqual([subject, level, 'invalid', '评价只能是 1 到 5 级。']);
        }
        const e = await caught(a.ratings.rate('case', String(c.id), 'o_rater', 7));
        expect(e).toBeInstanceOf(Error);
        expect(e.name).toBe('RatingError');
        // A subject nobody registered (staff conversations are kept by the inbox, never rated here).
        expect(await caught(a.ratings.rate('conversation', '12', 'o_rater', 4))).toMatchObject({ code: 'not_found', message: '没有找到要评价的事项。' });
        expect(await caught(a.ratings.rate('case', '999999', 'o_rater', 4))).toMatchObject({ code: 'not_found', message: '没有找到要评价的事项。' });
        expect(await caught(a.ratings.rate('case', String(c.id), 'o_someone_else', 1))).toMatchObject({ code: 'not_found', message: '没有找到要评价的事项。' });
        expect(await caught(a.ratings.rate('case', String(waiting.id), 'o_rater', 1))).toMatchObject({ code: 'wrong_state', message: '办结以后才能评价。' });
        expect(await a.db.getRepository(RatingEntity).count()).toBe(0);
        expect(await a.db.getRepository(RectificationEntity).count()).toBe(0);
        expect(await poorAlerts(a)).toEqual([]);
        // Both ends of the scale are levels.
        expect((await a.ratings.rate('case', String(c.id), 'o_rater', 5)).rating?.level).toBe(5);
        const other = await completedCase(a, 'o_rater');
        expect((await a.ratings.rate('case', String(other.id), 'o_rater', 1)).rating?.level).toBe(1);
      });

      it('keeps the comment trimmed and cut at 500 characters (blank → none), thanks, and a second rating of the same thing is not kept', async () => {
        const a = await startApp({ db: db.name });
        const [c1, c2, c3, c4] = [await completedCase(a, 'o_rater'), await completedCase(a, 'o_rater'), await completedCase(a, 'o_rater'), await completedCase(a, 'o_rater')];
        a.clock.set(cst(2026, 11, 24, 15, 30));
        const r1 = await a.ratings.rate('case', String(c1.id), 'o_rater', 4, '  窗口的同志很耐心，一次就办好了。 \n');
        const want: Omit<RatingRow, 'id'> = { subject: 'case', subjectId: String(c1.id), department: c1.department, staffId: null, openid: 'o_rater', level: 4, comment: '窗口的同志很耐心，一次就办好了。', createdAt: cst(2026, 11, 24, 15, 30) };
        expect(r1).toEqual({ said: '感谢您的评价！', rating: { id: expect.any(Number), ...want } });
        expect(await a.ratings.ratingOf('case', String(c1.id))).toEqual(r1.rating);

        const long = '材料一次性告知，'.repeat(70); // 560 characters
        const r2 = await a.ratings.rate('case', String(c2.id), 'o_rater', 5, `  ${long}`);
        expect(r2.said).toBe('感谢您的评价！');
        expect(r2.rating?.comment).toBe(long.slice(0, 500));
        expect((await a.ratings.ratingOf('case', String(c2.id)))?.comment).toBe(long.slice(0, 500));
        expect((await a.ratings.ratingOf('case', String(c2.id)))?.comment).toHaveLength(500);
        // Counted in characters, as the citizen counts them: an emoji at the limit is kept whole, never cut in half (a lone surrogate shows as �).
        const [c5] = [await completedCase(a, 'o_rater')];
        const emoji = `${'办得快'.repeat(166)}好👍👍`; // 501 characters, 503 UTF-16 units
        expect((await a.ratings.rate('case', String(c5.id), 'o_rater', 5, emoji)).rating?.comment).toBe(`${'办得快'.repeat(166)}好👍`);

        const r3 = await a.ratings.rate('case', String(c3.id), 'o_rater', 3, ' \n ');
        expect(r3).toMatchObject({ said: '感谢您的评价！', rating: { level: 3, comment: null } });
        expect((await a.ratings.ratingOf('case', String(c3.id)))?.comment).toBeNull();
        expect((await a.ratings.rate('case', String(c4.id), 'o_rater', 4)).rating?.comment).toBeNull();
        expect(await a.db.getRepository(RectificationEntity).count()).toBe(0); // 3 基本满意 and up: no rectification

        // Once only: the second answer (here a 差评) is thanked, not kept, and opens nothing.
        expect(await a.ratings.rate('case', String(c1.id), 'o_rater', 1, '再评一次')).toEqual({ said: '您已经评价过了，感谢！', rating: null });
        expect(await a.ratings.ratingOf('case', String(c1.id))).toEqual(r1.rating);
        expect(await a.db.getRepository(RatingEntity).countBy({ subjectId: String(c1.id) })).toBe(1);
        expect(await a.db.getRepository(RectificationEntity).count()).toBe(0);
        expect(await poorAlerts(a)).toEqual([]);
        // ratingOf names one thing.
        expect((await a.ratings.ratingOf('case', String(c3.id)))?.level).toBe(3);
        expect(await a.ratings.ratingOf('ticket', String(c3.id))).toBeNull();
      });

      it('a 差评 (1 or 2, not 3) opens exactly one rectification with the department, due in the profile\'s working days, and alerts its supervisors', async () => {
        const a = await startApp({ db: db.name, profile: (p) => void (p.tickets.rectification_working_days = 3) });
        const team = await makeTeam(a);
        const [c1, c2, c3] = [await completedCase(a, 'o_rater'), await completedCase(a, 'o_rater'), await completedCase(a, 'o_rater')];
        expect(c1.department).toBe('service-centre');
        const now = MONDAY_10AM;
        const r1 = await a.ratings.rate('case', String(c1.id), 'o_rater', 1, '材料跑了三趟才收齐');
        expect(r1.said).toBe('感谢您的评价。我们会认真整改，整改结果会告诉您。');
        a.clock.advance(HOUR);
        const r2 = await a.ratings.rate('case', String(c2.id), 'o_rater', 2);
        expect(r2.said).toBe('感谢您的评价。我们会认真整改，整改结果会告诉您。');
        const r3 = await a.ratings.rate('case', String(c3.id), 'o_rater', 3);
        expect(r3.said).toBe('感谢您的评价！');

        const rects = await a.db.getRepository(RectificationEntity).find({ order: { id: 'ASC' } });
        expect(rects.map((r) => r.ratingId)).toEqual([r1.rating!.id, r2.rating!.id]);
        // Monday 10:00 + 3 working days: Thursday, at the end of its office hours.
        const due = a.calendar.workingDaysDeadline(now, 3);
        expect(due).toBe(cst(2026, 11, 26, 17, 30));
        expect(rects[0]).toEqual({ id: rects[0]!.id, ratingId: r1.rating!.id, department: 'service-centre', status: 'open', dueAt: due, report: null, submittedBy: null, submittedAt: null, reviewedBy: null, reviewedAt: null, reviewNote: null, toldAt: null, createdAt: now });
        expect(rects[1]).toMatchObject({ department: 'service-centre', status: 'open', dueAt: a.calendar.workingDaysDeadline(now + HOUR, 3), createdAt: now + HOUR });

        const alerts = await poorAlerts(a);
        expect(alerts.map(({ staffId, department, title, link, urgent }) => ({ staffId, department, title, link, urgent }))).toEqual([
          { staffId: team.supervisor.id, department: 'service-centre', title: `差评待整改：办件 ${c1.caseNo}（非常不满意）`, link: `/admin/rectifications/${rects[0]!.id}`, urgent: false },
          { staffId: team.supervisor.id, department: 'service-centre', title: `差评待整改：办件 ${c2.caseNo}（不满意）`, link: `/admin/rectifications/${rects[1]!.id}`, urgent: false },
        ]);
        expect(alerts.every((x) => x.createdAt === now || x.createdAt === now + HOUR)).toBe(true);
      });

      it('a ticket is rated with the department and the staff member who answered it', async () => {
        const a = await startApp({ db: db.name });
        const { account: head } = await a.accounts.create({ username: 'lin.cg', name: '林科长', role: 'supervisor', department: 'urban-management', password: PASSWORD, mustChangePassword: false });
        const { t, staff } = await completedTicket(a, 'o_snapper');
        const r = await a.ratings.rate('ticket', String(t.id), 'o_snapper', 2, '清运了一次又堆满了');
        expect(r.rating).toMatchObject({ subject: 'ticket', subjectId: String(t.id), department: 'urban-management', staffId: staff.id, level: 2, comment: '清运了一次又堆满了' });
        expect(await a.ratings.ratingOf('ticket', String(t.id))).toEqual(r.rating);
        expect(await rectOf(a, r.rating!.id)).toMatchObject({ department: 'urban-management', status: 'open' });
        expect((await poorAlerts(a)).map((x) => [x.staffId, x.department, x.title])).toEqual([[head!.id, 'urban-management', `差评待整改：工单 ${t.ticketNo}（不满意）`]]);
      });
    });

    describe('record(): a rating another capability checked and stored', () => {
      it('keeps it once per thing, without a comment; a 差评 opens the rectification and alerts', async () => {
        const a = await startApp({ db: db.name });
        const team = await makeTeam(a);
        a.clock.set(cst(2026, 11, 24, 9, 15));
        const kept = await recorded(a, 41, 5, 'service-centre', 'o_talker', team.handler.id);
        const want: RatingRow = { id: kept!.id, subject: 'conversation', subjectId: '41', department: 'service-centre', staffId: team.handler.id, openid: 'o_talker', level: 5, comment: null, createdAt: cst(2026, 11, 24, 9, 15) };
        expect(kept).toEqual(want);
        expect(await a.ratings.ratingOf('conversation', '41')).toEqual(want);
        expect(await recorded(a, 41, 1, 'service-centre', 'o_talker', team.handler.id)).toBeNull();
        expect(await a.ratings.ratingOf('conversation', '41')).toEqual(want);
        expect(await a.db.getRepository(RectificationEntity).count()).toBe(0);

        expect((await recorded(a, 42, 3, 'social-security'))?.level).toBe(3);
        expect(await a.db.getRepository(RectificationEntity).count()).toBe(0);
        const poor = await recorded(a, 43, 2, 'social-security');
        const worst = await recorded(a, 44, 1, 'social-security');
        const rects = await a.db.getRepository(RectificationEntity).find({ order: { id: 'ASC' } });
        expect(rects.map((r) => [r.ratingId, r.department, r.status, r.dueAt])).toEqual([
          [poor!.id, 'social-security', 'open', a.calendar.workingDaysDeadline(cst(2026, 11, 24, 9, 15), 5)],
          [worst!.id, 'social-security', 'open', a.calendar.workingDaysDeadline(cst(2026, 11, 24, 9, 15), 5)],
        ]);
        expect((await poorAlerts(a)).map((x) => [x.staffId, x.title, x.link])).toEqual([
          [team.ssSupervisor.id, '差评待整改：咨询会话 #43（不满意）', `/admin/rectifications/${rects[0]!.id}`],
          [team.ssSupervisor.id, '差评待整改：咨询会话 #44（非常不满意）', `/admin/rectifications/${rects[1]!.id}`],
        ]);
      });
    });

    describe('the question, the names and the chat route', () => {
      it('menu(): five levels best first, with the head and the tail; label(): the capability\'s name or none', async () => {
        const a = await startApp({ db: db.name });
        expect(a.ratings.menu('ticket', 17)).toEqual({
          type: 'msgmenu',
          headContent: '请您为这次办理打个分（自愿评价）：',
          list: [
            { id: 'rt-ticket-17-5', content: '非常满意' },
            { id: 'rt-ticket-17-4', content: '满意' },
            { id: 'rt-ticket-17-3', content: '基本满意' },
            { id: 'rt-ticket-17-2', content: '不满意' },
            { id: 'rt-ticket-17-1', content: '非常不满意' },
          ],
          tailContent: '不评价也没关系。',
        });
        const m = a.ratings.menu('case', '8', '您的办件已办结，请打分：');
        expect(m).toMatchObject({ type: 'msgmenu', headContent: '您的办件已办结，请打分：', tailContent: '不评价也没关系。' });
        expect(m.type === 'msgmenu' && m.list.map((x) => x.id)).toEqual(['rt-case-8-5', 'rt-case-8-4', 'rt-case-8-3', 'rt-case-8-2', 'rt-case-8-1']);

        const c = await completedCase(a, 'o_rater');
        expect(await a.ratings.label('case', String(c.id))).toBe(`办件 ${c.caseNo}`);
        expect(await a.ratings.label('case', '999999')).toBeNull();
        expect(await a.ratings.label('conversation', '3')).toBeNull(); // nobody registered conversations
      });

      it('route(): matches only a tapped rt-<subject>-<id>-<level>, rates, and answers a refusal with its message', async () => {
        const a = await startApp({ db: db.name });
        const route = a.ratings.route();
        const when = (m: InboundMessage) => route.when(m, turn);
        expect(when(text('o_rater', '非常满意'))).toBe(false);
        expect(when(text('o_rater', 'rt-case-12-5'))).toBe(false); // typed, not tapped
        expect(when(text('o_rater', '非常满意', 'rt-case-12-5'))).toBe(true);
        expect(when(text('o_rater', '满意', 'rt-booking-123456789012-4'))).toBe(true);
        expect(when(text('o_rater', '满意', 'rt-conversation-7-1'))).toBe(true);
        for (const id of ['rt-case-1234567890123-4', 'rt-case-12-6', 'rt-case-12-0', 'rt-case-12-55', 'xrt-case-12-5', 'rt-bill-12-5', 'rt-case--5', 'rt-case-12-5 ', 'menu-1']) {
          expect([id, when(text('o_rater', '满意', id))]).toEqual([id, false]);
        }
        expect(when({ kind: 'image', toUser: 'gh_demo', fromUser: 'o_rater', createTime: 1_795_000_000, msgId: '24000000002', picUrl: 'https://example.org/p.jpg', mediaId: 'm1' })).toBe(false);

        const c = await completedCase(a, 'o_rater');
        const waiting = await a.cases.submit('o_rater', 'residence-permit', form, files());
        expect(await route.handle(text('o_rater', '满意', `rt-case-${c.id}-4`), turn)).toEqual({ reply: { type: 'text', content: '感谢您的评价！' }, ref: 'rating:case:4' });
        expect(await a.ratings.ratingOf('case', String(c.id))).toMatchObject({ level: 4, openid: 'o_rater', comment: null });
        expect(await route.handle(text('o_rater', '非常不满意', `rt-case-${c.id}-1`), turn)).toEqual({ reply: { type: 'text', content: '您已经评价过了，感谢！' }, ref: 'rating:case:1' });
        expect(await route.handle(text('o_stranger', '非常满意', `rt-case-${c.id}-5`), turn)).toEqual({ reply: { type: 'text', content: '没有找到要评价的事项。' }, ref: 'rating:refused' });
        expect(await route.handle(text('o_rater', '不满意', `rt-case-${waiting.id}-2`), turn)).toEqual({ reply: { type: 'text', content: '办结以后才能评价。' }, ref: 'rating:refused' });
        expect(await route.handle(text('o_rater', '非常满意', 'rt-conversation-7-5'), turn)).toEqual({ reply: { type: 'text', content: '没有找到要评价的事项。' }, ref: 'rating:refused' });
        const other = await completedCase(a, 'o_rater');
        expect(await route.handle(text('o_rater', '不满意', `rt-case-${other.id}-2`), turn)).toEqual({ reply: { type: 'text', content: '感谢您的评价。我们会认真整改，整改结果会告诉您。' }, ref: 'rating:case:2' });
        expect((await a.ratings.ratingOf('case', String(other.id)))?.level).toBe(2);
        // Anything else that goes wrong is not a refusal: it is thrown for the engine to handle.
        a.ratings.register('conversation', async () => {
          throw new Error('会话库暂时不可用');
        });
        await expect(route.handle(text('o_rater', '满意', 'rt-conversation-7-4'), turn)).rejects.toThrow('会话库暂时不可用');
      });
    });

    describe('rectifications: listed, submitted by the department, reviewed by the supervisor', () => {
      /** Three 差评 conversations: due Friday (social-security), Tuesday (social-security), Wednesday (service-centre). */
      async function three(a: TestApp) {
        a.clock.set(cst(2026, 11, 20, 11)); // a Friday: due 5 working days later
        const late = await recorded(a, 61, 1, 'social-security', 'o_late');
        a.clock.set(cst(2026, 11, 13, 11));
        const early = await recorded(a, 62, 2, 'social-security', 'o_early');
        a.clock.set(cst(2026, 11, 16, 11));
        const mid = await recorded(a, 63, 1, 'service-centre', 'o_mid');
        a.clock.set(MONDAY_10AM);
        return { late: await rectOf(a, late!.id), early: await rectOf(a, early!.id), mid: await rectOf(a, mid!.id), ratings: { late: late!, early: early!, mid: mid! } };
      }

      it('rectification(id) with its rating; rectifications() by departments and statuses, soonest due first', async () => {
        const a = await startApp({ db: db.name });
        const { late, early, mid, ratings } = await three(a);
        expect(early.dueAt).toBeLessThan(mid.dueAt);
        expect(mid.dueAt).toBeLessThan(late.dueAt);
        expect(await a.ratings.rectification(mid.id)).toEqual({ r: mid, rating: ratings.mid });
        expect(await a.ratings.rectification(early.id)).toEqual({ r: early, rating: ratings.early });
        expect(await a.ratings.rectification(9999)).toBeNull();
        expect(await a.ratings.rectification(Number.NaN)).toBeNull();
        expect(await a.ratings.rectification(1.5)).toBeNull();

        const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
        expect(await a.ratings.rectifications(null)).toEqual([early, mid, late]);
        expect(ids(await a.ratings.rectifications(['social-security']))).toEqual([early.id, late.id]);
        expect(ids(await a.ratings.rectifications(['service-centre', 'social-security']))).toEqual([early.id, mid.id, late.id]);
        expect(await a.ratings.rectifications([])).toEqual([]);
        expect(await a.ratings.rectifications(['hotline'])).toEqual([]);
        await a.ratings.submitRectification(late.id, 7, '已与市民电话沟通，说明了社保卡补办流程。');
        expect(ids(await a.ratings.rectifications(null, ['submitted']))).toEqual([late.id]);
        expect(ids(await a.ratings.rectifications(null, ['open']))).toEqual([early.id, mid.id]);
        expect(ids(await a.ratings.rectifications(['social-security'], ['open']))).toEqual([early.id]);
        expect(ids(await a.ratings.rectifications(null, ['open', 'submitted']))).toEqual([early.id, mid.id, late.id]);
        expect(ids(await a.ratings.rectifications(null, []))).toEqual([early.id, mid.id, late.id]);
        expect(await a.ratings.rectifications(null, ['approved', 'returned'])).toEqual([]);
      });

      it('submitRectification(): 10 … 2000 characters counted as characters, trimmed, of an open or returned one; stores who and when', async () => {
        const a = await startApp({ db: db.name });
        const { early, mid } = await three(a);
        const tooShort = ['整改完毕。', '已经整改完毕👍👍👍', '   已经整改完毕了啊   ', '好'.repeat(2001), ''];
        for (const report of tooShort) {
          const e = await caught(a.ratings.submitRectification(early.id, 7, report));
          expect([report.length, e.code, e.message]).toEqual([report.length, 'invalid', report.length > 2000 ? '整改情况太长了（最多 2000 字）。' : '请写明整改情况（至少 10 个字）。']);
        }
        expect(await caught(a.ratings.submitRectification(9999, 7, '已与市民电话沟通并致歉。'))).toMatchObject({ code: 'not_found', message: '没有这条整改。' });
        expect((await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: early.id })).status).toBe('open');

        a.clock.set(cst(2026, 11, 23, 14, 20));
        const exactly10 = '已当面向市民道歉说明';
        const done = await a.ratings.submitRectification(early.id, 7, `  ${exactly10}\n`);
        const want = { ...early, status: 'submitted', report: exactly10, submittedBy: 7, submittedAt: cst(2026, 11, 23, 14, 20) };
        expect(done).toEqual(want);
        expect(await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: early.id })).toEqual(want);
        expect(await caught(a.ratings.submitRectification(early.id, 8, '再补充一些整改情况说明。'))).toMatchObject({ code: 'wrong_state', message: '这条整改已经提交了。' });
        expect((await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: early.id })).report).toBe(exactly10);

        const longest = '👍'.repeat(1000) + '已整改'.repeat(333) + '完'; // 2000 characters, 3000 UTF-16 units
        expect((await a.ratings.submitRectification(mid.id, 9, longest)).report).toBe(longest);

        // Returned → submitted again; approved → no more.
        await a.ratings.reviewRectification(early.id, 3, false, '请写明具体整改措施', '咨询会话 #62');
        a.clock.advance(HOUR);
        const again = await a.ratings.submitRectification(early.id, 8, '已对窗口人员进行业务培训，并回访了市民。');
        expect(again).toMatchObject({ status: 'submitted', report: '已对窗口人员进行业务培训，并回访了市民。', submittedBy: 8, submittedAt: cst(2026, 11, 23, 15, 20) });
        await a.ratings.reviewRectification(early.id, 3, true, '', '咨询会话 #62');
        expect(await caught(a.ratings.submitRectification(early.id, 8, '已对窗口人员进行业务培训。'))).toMatchObject({ code: 'wrong_state', message: '这条整改已经提交了。' });
        expect((await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: early.id })).status).toBe('approved');
      });

      it('reviewRectification(): a return needs a reason and tells nobody; an approval tells the rater once, with the report', async () => {
        const a = await startApp({ db: db.name });
        const team = await makeTeam(a);
        await a.ratings.rate('case', String((await completedCase(a, 'o_first')).id), 'o_first', 5); // the rectification's rating is not the first rating
        const c = await completedCase(a, 'o_rater');
        const rated = await a.ratings.rate('case', String(c.id), 'o_rater', 2, '等了很久');
        const rect = await rectOf(a, rated.rating!.id);
        const label = `办件 ${c.caseNo}的办理`;
        expect(await caught(a.ratings.reviewRectification(rect.id, team.supervisor.id, true, '', label))).toMatchObject({ code: 'wrong_state', message: '只能审核已提交的整改。' });
        expect(await caught(a.ratings.reviewRectification(9999, team.supervisor.id, true, '', label))).toMatchObject({ code: 'not_found', message: '没有这条整改。' });
        const report = '经核查，当天窗口人手不足。已增设一个综合窗口，并向市民致歉。';
        await a.ratings.submitRectification(rect.id, team.handler.id, report);

        for (const note of ['', '不行', '   太简略   ', '👎👎👎']) {
          expect(await caught(a.ratings.reviewRectification(rect.id, team.supervisor.id, false, note, label))).toMatchObject({ code: 'invalid', message: '退回时请写明原因。' });
        }
        a.clock.set(cst(2026, 11, 24, 16, 45));
        const returned = await a.ratings.reviewRectification(rect.id, team.supervisor.id, false, '  不够具体\n', label);
        const storedReturn = await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: rect.id });
        expect(returned).toEqual(storedReturn);
        expect(returned).toMatchObject({ status: 'returned', report, reviewedBy: team.supervisor.id, reviewedAt: cst(2026, 11, 24, 16, 45), reviewNote: '不够具体', toldAt: null });
        expect(await toldJobs(a, rect.id)).toEqual([]);
        expect(await outboxRefs(a)).not.toContain(`rectification:${rect.id}`);
        expect(await caught(a.ratings.reviewRectification(rect.id, team.supervisor.id, true, '', label))).toMatchObject({ code: 'wrong_state' });

        await a.ratings.submitRectification(rect.id, team.handler.id, report);
        a.clock.set(cst(2027, 2, 3, 9, 5)); // one-digit month, day, hour and minute
        const approved = await a.ratings.reviewRectification(rect.id, team.supervisor.id, true, '   ', label);
        const stored = await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: rect.id });
        // The row returned is the row stored, toldAt included (it was left out before).
        expect(approved).toEqual(stored);
        expect(approved).toMatchObject({ status: 'approved', reviewedBy: team.supervisor.id, reviewedAt: cst(2027, 2, 3, 9, 5), reviewNote: null, toldAt: cst(2027, 2, 3, 9, 5) });
        expect(stored).toMatchObject({ status: 'approved', report, reviewNote: null, toldAt: cst(2027, 2, 3, 9, 5) });
        const jobs = await toldJobs(a, rect.id);
        expect(jobs).toHaveLength(1);
        expect(JSON.parse(jobs[0]!.payload)).toEqual({
          openid: 'o_rater',
          messages: [{ type: 'text', content: `您对${label}的评价我们收到了，整改情况如下：\n${report}\n感谢您的监督。` }],
          fallback: { templateId: 'TPL_DEMO_TICKET_PROGRESS', data: { thing1: `${[...label].slice(0, 19).join('')}…`, character_string2: String(c.id), phrase3: '整改反馈', time4: '2027-02-03 09:05' } },
          ref: `rectification:${rect.id}`,
        });
        expect((await outboxRefs(a)).filter((r) => r === `rectification:${rect.id}`)).toHaveLength(1);
        expect(await caught(a.ratings.reviewRectification(rect.id, team.supervisor.id, true, '', label))).toMatchObject({ code: 'wrong_state', message: '只能审核已提交的整改。' });
        expect(await toldJobs(a, rect.id)).toHaveLength(1);

        // The note is trimmed and cut at 1000 characters.
        const poor = await recorded(a, 71, 1, 'service-centre');
        const r2 = await rectOf(a, poor!.id);
        await a.ratings.submitRectification(r2.id, team.handler.id, '已对接待人员进行了约谈和培训。');
        const long = '请补充整改前后的对比材料。'.repeat(90); // 1170 characters
        const back = await a.ratings.reviewRectification(r2.id, team.supervisor.id, false, `\n${long}`, '咨询会话 #71');
        expect(back.reviewNote).toBe(long.slice(0, 1000));
        expect((await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: r2.id })).reviewNote).toBe(long.slice(0, 1000));
        const poor2 = await recorded(a, 72, 1, 'service-centre');
        const r3 = await rectOf(a, poor2!.id);
        await a.ratings.submitRectification(r3.id, team.handler.id, '已对接待人员进行了约谈和培训。');
        const emoji = `${'请补充材料'.repeat(199)}再补充👍👍👍`; // 1001 characters, 1004 UTF-16 units
        expect((await a.ratings.reviewRectification(r3.id, team.supervisor.id, false, emoji, '咨询会话 #72')).reviewNote).toBe(`${'请补充材料'.repeat(199)}再补充👍👍`);
      });

      /** The next transaction sees the rectification as read, then a colleague's change lands before its update (as on PostgreSQL). */
      function colleagueFirst(a: TestApp, id: number, status: RectificationStatus) {
        const original = a.db.transaction.bind(a.db) as (fn: (tx: EntityManager) => Promise<unknown>) => Promise<unknown>;
        vi.spyOn(a.db, 'transaction').mockImplementationOnce(((fn: (tx: EntityManager) => Promise<unknown>) =>
          original(async (tx) => {
            const repo = tx.getRepository(RectificationEntity);
            const find = repo.findOneBy.bind(repo);
            repo.findOneBy = async (where) => {
              const row = await find(where);
              await tx.getRepository(RectificationEntity).update({ id }, { status });
              return row;
            };
            return fn(tx);
          })) as never);
      }

      it('a submission or a review that a colleague\'s change overtook is refused, and changes nothing', async () => {
        const a = await startApp({ db: db.name });
        const { early } = await three(a);
        colleagueFirst(a, early.id, 'submitted');
        expect(await caught(a.ratings.submitRectification(early.id, 7, '已与市民电话沟通，说明了办理流程。'))).toMatchObject({ code: 'conflict', message: '整改刚被其他同事改动，请刷新后再试。' });
        expect(await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: early.id })).toEqual(early);

        await a.ratings.submitRectification(early.id, 7, '已与市民电话沟通，说明了办理流程。');
        colleagueFirst(a, early.id, 'returned');
        expect(await caught(a.ratings.reviewRectification(early.id, 3, true, '', '咨询会话 #62'))).toMatchObject({ code: 'conflict', message: '整改刚被其他同事改动，请刷新后再试。' });
        expect(await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: early.id })).toMatchObject({ status: 'submitted', reviewedBy: null, toldAt: null });
        expect(await toldJobs(a, early.id)).toEqual([]);
        // Uncontended, the same review goes through.
        expect((await a.ratings.reviewRectification(early.id, 3, true, '', '咨询会话 #62')).status).toBe('approved');
      });

      it('the 反馈 past the window: case_progress where the profile has no ticket_progress, and {note} is the report', async () => {
        const a = await startApp({
          db: db.name,
          profile: (p) => {
            delete p.templates.ticket_progress;
            p.templates.case_progress.fields.thing5 = '{note}';
          },
        });
        const c = await completedCase(a, 'o_rater');
        const rated = await a.ratings.rate('case', String(c.id), 'o_rater', 1);
        const rect = await rectOf(a, rated.rating!.id);
        await a.ratings.submitRectification(rect.id, 5, '已约谈窗口负责人，材料清单已公示');
        a.clock.set(cst(2026, 12, 1, 18, 40));
        await a.ratings.reviewRectification(rect.id, 6, true, '同意', '办理');
        const payload = JSON.parse((await toldJobs(a, rect.id))[0]!.payload);
        expect(payload.fallback).toEqual({ templateId: 'TPL_DEMO_CASE_PROGRESS', data: { thing1: '办理', character_string2: String(c.id), phrase3: '整改反馈', time4: '2026-12-01 18:40', thing5: '已约谈窗口负责人，材料清单已公示' } });
        expect(payload.messages[0].content).toBe('您对办理的评价我们收到了，整改情况如下：\n已约谈窗口负责人，材料清单已公示\n感谢您的监督。');
        expect(await a.db.getRepository(RectificationEntity).findOneByOrFail({ id: rect.id })).toMatchObject({ status: 'approved', reviewNote: '同意', reviewedBy: 6, toldAt: cst(2026, 12, 1, 18, 40) });
      });
    });

    describe('satisfaction(): the dashboards\' one query', () => {
      it('counts per level over [from, to), for a department or a kind of thing; average, 好评率 (3–5) and 差评 (1–2)', async () => {
        const a = await startApp({ db: db.name });
        const from = MONDAY_10AM;
        const to = MONDAY_10AM + DAY;
        const at = async (t: number, id: number, level: number, department: string) => {
          a.clock.set(t);
          await recorded(a, id, level, department);
        };
        await at(from - 1, 80, 5, 'service-centre'); // just before: not counted
        await at(from, 81, 1, 'service-centre'); // from is inclusive
        await at(from + HOUR, 82, 4, 'service-centre');
        await at(from + 2 * HOUR, 83, 2, 'social-security');
        await at(from + 3 * HOUR, 84, 3, 'social-security');
        await at(to - 1, 85, 4, 'social-security');
        await at(to, 86, 1, 'service-centre'); // to is exclusive
        a.clock.set(from + 4 * HOUR);
        const c = await completedCase(a, 'o_rater');
        await a.ratings.rate('case', String(c.id), 'o_rater', 5);

        expect(await a.ratings.satisfaction({ from, to })).toEqual({ count: 6, byLevel: { 1: 1, 2: 1, 3: 1, 4: 2, 5: 1 }, average: 19 / 6, goodRate: 4 / 6, poor: 2 });
        expect(await a.ratings.satisfaction()).toEqual({ count: 8, byLevel: { 1: 2, 2: 1, 3: 1, 4: 2, 5: 2 }, average: 25 / 8, goodRate: 5 / 8, poor: 3 });
        expect(await a.ratings.satisfaction({ from })).toMatchObject({ count: 7, byLevel: { 1: 2, 2: 1, 3: 1, 4: 2, 5: 1 } });
        expect(await a.ratings.satisfaction({ to })).toMatchObject({ count: 7, byLevel: { 1: 1, 2: 1, 3: 1, 4: 2, 5: 2 } });
        expect(await a.ratings.satisfaction({ department: 'social-security' })).toEqual({ count: 3, byLevel: { 1: 0, 2: 1, 3: 1, 4: 1, 5: 0 }, average: 3, goodRate: 2 / 3, poor: 1 });
        expect(await a.ratings.satisfaction({ from, to, department: 'service-centre' })).toEqual({ count: 3, byLevel: { 1: 1, 2: 0, 3: 0, 4: 1, 5: 1 }, average: 10 / 3, goodRate: 2 / 3, poor: 1 });
        expect((await a.ratings.satisfaction({ department: null })).count).toBe(8);
        expect(await a.ratings.satisfaction({ subject: 'case' })).toEqual({ count: 1, byLevel: { 1: 0, 2: 0, 3: 0, 4: 0, 5: 1 }, average: 5, goodRate: 1, poor: 0 });
        expect((await a.ratings.satisfaction({ subject: 'conversation', from, to })).byLevel).toEqual({ 1: 1, 2: 1, 3: 1, 4: 2, 5: 0 });
        const none = { count: 0, byLevel: { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 }, average: 0, goodRate: 0, poor: 0 };
        expect(await a.ratings.satisfaction({ subject: 'booking' })).toEqual(none);
        expect(await a.ratings.satisfaction({ department: 'hotline' })).toEqual(none);
        expect(await a.ratings.satisfaction({ from: to + DAY })).toEqual(none);
      });
    });
  });
}
