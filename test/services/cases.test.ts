import { readdirSync } from 'node:fs';
import { AuditEntity } from '../../src/admin/audit.ts';
import { describe, expect, it } from 'vitest';
import { AttachmentEntity, CaseEntity, CaseEventEntity } from '../../src/services/cases/entities.ts';
import { CaseError } from '../../src/services/cases/index.ts';
import type { Upload } from '../../src/services/cases/forms.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { BIG_JPEG, EXE_AS_JPG, JPEG, PDF, validId, wrongCheckDigit } from '../helpers/files.ts';
import { rejection } from '../helpers/errors.ts';

const startApp = appsClosedAfterEach();

const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
const ID = validId();
const form = (o: Record<string, string> = {}) => ({ name: '王小明', id_card: ID, phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领', ...o });
const files = (o: Partial<Record<'photo' | 'proof', Buffer>> = {}): Upload[] => [
  { fieldId: 'photo', fileName: 'me.jpg', data: o.photo ?? JPEG },
  { fieldId: 'proof', fileName: 'contract.pdf', data: o.proof ?? PDF },
];

const caught = (p: Promise<unknown>) => rejection(p, CaseError);

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`applications and cases (${db.label})`, () => {
    async function app() {
      const a = await startApp({ db: db.name });
      await a.emulator!.act('o_applicant', { type: 'subscribe' });
      await a.emulator!.act('o_applicant', { type: 'text', content: '你好' }); // opens the 48-hour window
      return a;
    }
    const pushes = (a: TestApp, openid = 'o_applicant') =>
      a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'custom' || i.channel === 'template').map((i) => (i.channel === 'template' ? `[template] ${(i.message.data as Record<string, string>).phrase3}` : (i.message.content as string)));

    it('an item may switch off 补正 and 不予受理: the commands refuse them and nothing changes', async () => {
      const a = await startApp({
        db: db.name,
        profile: (p) => Object.assign(p.services.find((x: { id: string }) => x.id === 'residence-permit').application, { correction: false, refusal: false }),
      });
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      expect((await caught(a.cases.requestCorrection(c.id, 'staff:1', '缺少租房合同签字页'))).code).toBe('not_allowed');
      expect((await caught(a.cases.refuse(c.id, 'staff:1', '不符合申领条件'))).code).toBe('not_allowed');
      expect((await a.cases.get(c.id))?.status).toBe('submitted');
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted']);
      await a.cases.accept(c.id, 'staff:1'); // the rest works as ever
    });

    it('submits: a case number, a query code, the attachments, a timeline entry and a message', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      expect(c.caseNo).toBe('WB20261123-0001');
      expect(c.queryCode).toMatch(/^[2-9A-HJ-NP-Z]{6}$/);
      expect(c).toMatchObject({ status: 'submitted', step: 'accept' });
      expect((await a.cases.attachments(c.id)).map((x) => [x.fieldId, x.mime])).toEqual([
        ['photo', 'image/jpeg'],
        ['proof', 'application/pdf'],
      ]);
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted']);
      expect((await a.cases.submit('o_applicant', 'residence-permit', form(), files())).caseNo).toBe('WB20261123-0002');
      await a.jobs.runDue();
      const sent = pushes(a);
      expect(sent[0]).toContain('办件编号：WB20261123-0001');
      expect(sent[0]).toContain(`查询码：${c.queryCode}`);
      expect(a.cases.maskedForm(c)).toEqual([
        { label: '申请人姓名', value: '王**' },
        { label: '身份证号码', value: `${ID.slice(0, 4)}************${ID.slice(-2)}` },
        { label: '联系电话', value: '138****5678' },
        { label: '在沪居住地址', value: '示范区天山路****' },
        { label: '申请类型', value: '首次申领' },
      ]);
    });

    it('refuses bad input with a clear message per field and stores nothing at all', async () => {
      const a = await app();
      const uploadDir = (a as unknown as { cases: { d: { storage: { root: string } } } }).cases.d.storage.root;
      const cases = [
        [form({ id_card: wrongCheckDigit(ID) }), files(), 'id_card', /校验位不对/],
        [form({ name: '' }), files(), 'name', /请填写申请人姓名/],
        [form({ phone: '12345' }), files(), 'phone', /11 位手机号/],
        [form({ kind: '随便选' }), files(), 'kind', /请从列表里选择/],
        [form({ address: 'abc' }), files(), 'address', /请写到门牌号/],
        [form(), files({ photo: BIG_JPEG }), 'photo', /太大了，不能超过 2 MB/],
        [form(), files({ photo: EXE_AS_JPG }), 'photo', /不是 JPG 或 PNG 图片，/],
        [form(), [files()[1]!], 'photo', /请上传本人近期证件照/],
      ] as const;
      for (const [input, up, field, message] of cases) {
        const e = await caught(a.cases.submit('o_applicant', 'residence-permit', input, [...up]));
        expect(e.code).toBe('invalid');
        expect(e.fields[field], field).toMatch(message);
      }
      expect((await caught(a.cases.submit('o_applicant', 'divorce-registration', form(), files()))).code).toBe('not_applicable');
      expect(await a.db.getRepository(CaseEntity).count()).toBe(0);
      expect(await a.db.getRepository(AttachmentEntity).count()).toBe(0);
      expect(readdirSync(uploadDir, { recursive: true }).filter((f) => !String(f).match(/^\d{4}(\/\d{2})?$/))).toEqual([]);
    });

    it('keeps a draft: fields and an uploaded photo survive leaving, and need not be sent again', async () => {
      const a = await app();
      const errors = await a.cases.saveDraft('o_applicant', 'residence-permit', { name: '王小明', phone: '123' }, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }]);
      expect(errors).toEqual({ phone: expect.stringMatching(/11 位手机号/) });
      const draft = await a.cases.draft('o_applicant', 'residence-permit');
      expect(draft.values).toEqual({ name: '王小明' });
      expect(draft.attachments.map((x) => x.fieldId)).toEqual(['photo']);
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), [files()[1]!]);
      expect((await a.cases.attachments(c.id)).map((x) => x.fieldId).sort()).toEqual(['photo', 'proof']);
      expect((await a.cases.draft('o_applicant', 'residence-permit')).attachments).toEqual([]);
    });

    it('keeps no bidi controls or invisible characters in an uploaded file\'s name (‮gpj.exe would show as exe.jpg)', async () => {
      const a = await app();
      const bad = await caught(a.cases.submit('o_applicant', 'residence-permit', form(), [{ fieldId: 'photo', fileName: '证件照\u202Egpj.exe', data: EXE_AS_JPG }, files()[1]!]));
      expect(bad.fields?.photo).toBe('本人近期证件照「证件照gpj.exe」不是 JPG 或 PNG 图片，请换一个文件。');
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), [
        { fieldId: 'photo', fileName: '\u200F证件\u2066照\u2069\u200B.jpg\u0000', data: JPEG },
        { fieldId: 'proof', fileName: '..\\..\\合同/第一页\u202Dfdp.pdf', data: PDF },
      ]);
      const names = (await a.cases.attachments(c.id)).map((x) => x.fileName).sort();
      expect(names).toEqual(['.._.._合同_第一页fdp.pdf', '证件照.jpg']);
    });

    it('two submits at once (a double tap) make one case with its files; the other is refused and says why', async () => {
      const a = await app();
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }]);
      const results = await Promise.allSettled([0, 1].map(() => a.cases.submit('o_applicant', 'residence-permit', form(), [files()[1]!])));
      const made = await a.db.getRepository(CaseEntity).find();
      expect(made).toHaveLength(1);
      for (const c of made) expect((await a.cases.attachments(c.id)).map((x) => x.fieldId).sort()).toEqual(['photo', 'proof']);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as CaseError);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(CaseError);
      expect(refused[0]!.message).toMatch(/正在提交/);
      expect(await a.db.getRepository(AttachmentEntity).count()).toBe(2); // the refused one left no file behind
    });

    it('a draft file that goes away while the submit stores its uploads: the submit is refused, nothing is kept', async () => {
      const a = await app();
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }]);
      const [photo] = (await a.cases.draft('o_applicant', 'residence-permit')).attachments;
      const storage = (a as unknown as { cases: { d: { storage: { put(data: Buffer): Promise<string> } } } }).cases.d.storage;
      const put = storage.put.bind(storage);
      storage.put = async (data) => {
        storage.put = put;
        await a.cases.removeDraftFile('o_applicant', photo!.id); // e.g. deleted in another tab meanwhile
        return put(data);
      };
      const e = await caught(a.cases.submit('o_applicant', 'residence-permit', form(), [files()[1]!]));
      expect(e.code).toBe('conflict');
      expect(e.message).toMatch(/刷新页面/);
      expect(await a.db.getRepository(CaseEntity).count()).toBe(0);
      expect(await a.db.getRepository(AttachmentEntity).count()).toBe(0);
    });

    it('runs the steps: accept (clock starts) → 补正 (clock pauses) → corrected → 制证 → 办结, each pushed once, in order', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.jobs.runDue();
      a.clock.set(cst(2026, 11, 24, 10)); // Tuesday
      const accepted = await a.cases.accept(c.id, 'staff:1', null);
      await a.jobs.runDue();
      expect(accepted).toMatchObject({ status: 'in_progress', step: 'review' });
      expect(accepted.dueAt).toBe(a.calendar.workingDaysDeadline(cst(2026, 11, 24, 10), 15)); // 15 working days
      const asked = await a.cases.requestCorrection(c.id, 'staff:1', '租房合同缺少第 2 页（出租人签字页），请补拍上传。');
      expect(asked).toMatchObject({ status: 'correction', pausedAt: a.clock.now() });
      await a.jobs.runDue();
      a.clock.set(cst(2026, 11, 27, 15)); // three working days later
      const corrected = await a.cases.correct('o_applicant', c.id, { note: '已补上签字页' }, [{ fieldId: 'proof', fileName: 'page2.jpg', data: JPEG }]);
      expect(corrected).toMatchObject({ status: 'in_progress', step: 'review', pausedAt: null });
      expect(corrected.dueAt).toBe(a.calendar.addWorkingDays(accepted.dueAt!, 3)); // waiting for the citizen did not count
      await a.cases.advance(c.id, 'staff:2', '审核通过');
      await a.jobs.runDue();
      const done = await a.cases.advance(c.id, 'staff:2', '证件已制好，请到受理点领取');
      expect(done).toMatchObject({ status: 'completed', step: 'complete' });
      expect(done.validUntil).toBe(a.clock.now() + 365 * 86_400_000);
      const timeline = await a.cases.timeline(c.id);
      expect(timeline.map((e) => [e.kind, e.step, e.actor])).toEqual([
        ['submitted', 'accept', 'citizen'],
        ['accepted', 'review', 'staff:1'],
        ['correction_requested', 'review', 'staff:1'],
        ['corrected', 'review', 'citizen'],
        ['advanced', 'make', 'staff:2'],
        ['completed', 'complete', 'staff:2'],
      ]);
      await a.jobs.runDue();
      await a.jobs.runDue();
      const sent = pushes(a);
      // inside the 48-hour window of 你好 (11/23 10:00) for the first three, then past it: templates
      expect(sent.map((s) => s.split('\n')[0])).toEqual([
        '已收到您的「上海市居住证办理」申请。',
        expect.stringMatching(/^您的「上海市居住证办理」申请已受理/),
        expect.stringMatching(/^您的「上海市居住证办理」（WB20261123-0001）需要补充材料：/),
        '[template] 制证',
        '[template] 已办结',
      ]);
      await a.jobs.runDue();
      expect(pushes(a)).toHaveLength(5); // never twice
    });

    it('a 补正 keeps each field within its file limit: new files replace the oldest, which stay on record as replaced', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清，合同也请全部重拍。');
      const pages = [1, 2, 3, 4].map((n) => ({ fieldId: 'proof', fileName: `page${n}.jpg`, data: JPEG }));
      const tooMany = await caught(a.cases.correct('o_applicant', c.id, {}, pages));
      expect(tooMany.fields.proof).toMatch(/最多传 3 个文件/);
      a.clock.advance(60_000);
      await a.cases.correct('o_applicant', c.id, {}, [{ fieldId: 'photo', fileName: 'clear.jpg', data: JPEG }, ...pages.slice(0, 3)]);
      const current = await a.cases.attachments(c.id, { current: true });
      expect(current.map((x) => [x.fieldId, x.fileName])).toEqual([
        ['photo', 'clear.jpg'],
        ['proof', 'page1.jpg'],
        ['proof', 'page2.jpg'],
        ['proof', 'page3.jpg'],
      ]);
      const replaced = (await a.cases.attachments(c.id)).filter((x) => x.replacedAt !== null);
      expect(replaced.map((x) => [x.fileName, x.replacedAt])).toEqual([
        ['me.jpg', a.clock.now()],
        ['contract.pdf', a.clock.now()],
      ]);
      // a second 补正 adding one page to a field below its limit replaces nothing
      await a.cases.requestCorrection(c.id, 'staff:1', '照片还需要一张侧面的。');
      await a.cases.correct('o_applicant', c.id, {}, [{ fieldId: 'photo', fileName: 'side.jpg', data: JPEG }]);
      expect((await a.cases.attachments(c.id, { current: true })).filter((x) => x.fieldId === 'photo').map((x) => x.fileName)).toEqual(['side.jpg']);
    });

    it('an item of two steps (受理 → 办结) can be completed by advancing, like any other', async () => {
      const a = await startApp({
        db: db.name,
        profile: (p) => {
          p.services.find((x: { id: string }) => x.id === 'senior-card').application.steps = [
            { id: 'accept', name: '受理' },
            { id: 'complete', name: '办结' },
          ];
        },
      });
      const c = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      expect(await a.cases.accept(c.id, 'staff:1')).toMatchObject({ status: 'in_progress', step: 'complete' });
      expect(await a.cases.advance(c.id, 'staff:1', '请到中心领卡')).toMatchObject({ status: 'completed', step: 'complete' });
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted', 'accepted', 'completed']);
    });

    it('a colleague\'s concurrent move fails cleanly instead of overwriting', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      const results = await Promise.allSettled([a.cases.accept(c.id, 'staff:1'), a.cases.accept(c.id, 'staff:2')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(['conflict', 'wrong_state']).toContain((failed.reason as CaseError).code);
      expect(await a.db.getRepository(CaseEventEntity).countBy({ caseId: c.id, kind: 'accepted' })).toBe(1);
    });

    it('refusal needs a reason and ends the case; moves out of order are refused', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      expect((await caught(a.cases.complete(c.id, 'staff:1'))).code).toBe('wrong_state');
      expect((await caught(a.cases.refuse(c.id, 'staff:1', '不'))).code).toBe('invalid');
      await a.cases.refuse(c.id, 'staff:1', '申请人未满 60 周岁，不符合办理条件。');
      expect((await caught(a.cases.accept(c.id, 'staff:1'))).code).toBe('wrong_state');
      expect((await caught(a.cases.accept(999_999, 'staff:1'))).code).toBe('not_found');
    });

    it('past its due time an open case is escalated (督办); a case waiting for the citizen is not', async () => {
      const a = await app();
      const c1 = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      const c2 = await a.cases.submit('o_applicant', 'senior-card', { name: '张爷爷', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      const a1 = await a.cases.accept(c1.id, 'staff:1');
      await a.cases.accept(c2.id, 'staff:1');
      await a.cases.requestCorrection(c2.id, 'staff:1', '照片看不清，请重拍一张。');
      a.clock.set(a1.dueAt! + 1);
      await a.jobs.runDue();
      expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c1.id }))?.escalatedAt).toBe(a1.dueAt! + 1);
      expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c2.id }))?.escalatedAt).toBeNull();
      expect((await a.cases.timeline(c1.id)).at(-1)).toMatchObject({ kind: 'escalated', actor: 'system' });
    });

    it('补正 answered the same day leaves the due time as it was, and past it the case is still escalated', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      a.clock.set(cst(2026, 11, 24, 10)); // Tuesday
      const accepted = await a.cases.accept(c.id, 'staff:1');
      await a.cases.requestCorrection(c.id, 'staff:1', '请补充说明联系电话是否本人使用。');
      a.clock.advance(2 * 3_600_000); // answered two hours later: no working day passed
      const corrected = await a.cases.correct('o_applicant', c.id, { note: '是本人的电话' }, []);
      expect(corrected.dueAt).toBe(accepted.dueAt);
      // and once more at the very same instant (a fake clock does not move between calls)
      await a.cases.requestCorrection(c.id, 'staff:1', '请再确认一下住址是否变更。');
      await a.cases.correct('o_applicant', c.id, { note: '没有变更' }, []);
      a.clock.set(accepted.dueAt! + 1);
      await a.jobs.runDue();
      expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.escalatedAt).toBe(accepted.dueAt! + 1);
      expect((await a.cases.timeline(c.id)).filter((e) => e.kind === 'escalated')).toHaveLength(1);
    });

    it('a 补正 that moves the due time later: the earlier due time escalates nothing, the new one does', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      a.clock.set(cst(2026, 11, 24, 10));
      const accepted = await a.cases.accept(c.id, 'staff:1');
      await a.cases.requestCorrection(c.id, 'staff:1', '请补充说明联系电话是否本人使用。');
      a.clock.set(cst(2026, 11, 26, 10)); // two working days later
      const corrected = await a.cases.correct('o_applicant', c.id, { note: '是本人的电话' }, []);
      expect(corrected.dueAt).toBe(a.calendar.addWorkingDays(accepted.dueAt!, 2));
      a.clock.set(accepted.dueAt! + 1);
      await a.jobs.runDue();
      expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.escalatedAt).toBeNull();
      a.clock.set(corrected.dueAt! + 1);
      await a.jobs.runDue();
      expect((await a.db.getRepository(CaseEntity).findOneBy({ id: c.id }))?.escalatedAt).toBe(corrected.dueAt! + 1);
    });

    it('督办 reaches the department\'s supervisor, and is all or nothing: a failed escalation is redone whole by the retry', async () => {
      const a = await app();
      const boss = (await a.accounts.create({ username: 'li.kezhang', name: '李科长', role: 'supervisor', department: 'civil-affairs', password: 'a-long-enough-password-1', mustChangePassword: false })).account;
      const c = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      const accepted = await a.cases.accept(c.id, 'staff:1');
      const deps = (a.cases as unknown as { d: { onEscalate: (...args: unknown[]) => Promise<void> } }).d;
      const record = deps.onEscalate;
      let failures = 1;
      deps.onEscalate = async (...args) => {
        if (failures-- > 0) throw new Error('audit store unavailable');
        return record(...args);
      };
      a.clock.set(accepted.dueAt! + 1);
      await a.jobs.runDue();
      const half = await a.db.getRepository(CaseEntity).findOneBy({ id: c.id });
      expect(half).toMatchObject({ escalatedAt: null, escalatedTo: null }); // nothing kept of the failed attempt
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).not.toContain('escalated');
      a.clock.advance(60_000); // the job's back-off
      await a.jobs.runDue();
      const done = await a.db.getRepository(CaseEntity).findOneBy({ id: c.id });
      expect(done).toMatchObject({ escalatedAt: a.clock.now(), escalatedTo: boss.id });
      expect((await a.cases.timeline(c.id)).filter((e) => e.kind === 'escalated').map((e) => e.note)).toEqual([expect.stringContaining('督办：李科长（li.kezhang）')]);
      expect((await a.db.getRepository(AuditEntity).findBy({ target: `case:${c.id}`, action: 'escalate' })).map((x) => x.detail)).toEqual([expect.stringContaining('督办人：李科长')]);
      // The supervisor is alerted at once — once, by the attempt that was kept.
      expect((await a.alerts.list(boss.id)).map((x) => [x.kind, x.link])).toEqual([['escalation', `/admin/cases/${c.id}`]]);
      a.clock.advance(3_600_000);
      await a.jobs.runDue();
      expect((await a.cases.timeline(c.id)).filter((e) => e.kind === 'escalated')).toHaveLength(1);
      expect(await a.alerts.list(boss.id)).toHaveLength(1);
    });

    it('a case number alone reveals nothing: the applicant or the query code', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'senior-card', { name: '李奶奶', id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]);
      expect(await a.cases.lookup(c.caseNo, { openid: 'o_applicant' })).toMatchObject({ id: c.id });
      expect(await a.cases.lookup(c.caseNo, { openid: 'o_stranger' })).toBeNull();
      expect(await a.cases.lookup(c.caseNo, { openid: 'o_stranger', queryCode: 'AAAAAA' })).toBeNull();
      expect(await a.cases.lookup(c.caseNo, { queryCode: c.queryCode.toLowerCase() })).toMatchObject({ id: c.id });
      expect(await a.cases.lookup('WB20261123-0002', { queryCode: c.queryCode })).toBeNull();
      expect((await caught(a.cases.own('o_stranger', c.id))).code).toBe('not_found');
      expect((await caught(a.cases.correct('o_stranger', c.id, { note: 'x' }, []))).code).toBe('not_found');
    });

    /** A residence permit applied for, accepted and completed, its pushes sent. */
    async function completedPermit() {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.accept(c.id, 'staff:1');
      await a.cases.advance(c.id, 'staff:1');
      const done = await a.cases.advance(c.id, 'staff:1');
      await a.jobs.runDue();
      return { a, c, done };
    }

    it('a permit with a validity gets one renewal reminder before it ends', async () => {
      const { a, done } = await completedPermit();
      const before = pushes(a).length;
      a.clock.set(done.validUntil! - 30 * 86_400_000 + 1);
      await a.jobs.runDue();
      a.clock.advance(86_400_000);
      await a.jobs.runDue();
      const after = pushes(a).slice(before);
      expect(after).toEqual(['[template] 即将到期']);
    });

    it('the renewal reminder links to applying again, and a retried reminder job does not send it twice', async () => {
      const { a, c, done } = await completedPermit();
      a.clock.set(done.validUntil! - 30 * 86_400_000 + 1); // long past the 48-hour window: a template message
      await a.jobs.runDue();
      const reminder = a.emulator!.platform.inbox('o_applicant').filter((i) => i.channel === 'template').at(-1)!;
      expect((reminder.message.data as Record<string, string>).phrase3).toBe('即将到期');
      expect(reminder.message.url).toMatch(/^http:\/\/localhost:\d+\/h5\/apply\/residence-permit$/);
      // the job runs again after its reminder was written (an instance stopped before marking it done)
      const before = pushes(a).length;
      await a.jobs.enqueue('cases.renewal', { caseId: c.id });
      await a.jobs.runDue();
      a.clock.advance(3_600_000);
      await a.jobs.runDue();
      expect(pushes(a).length).toBe(before);
      expect((await a.cases.timeline(c.id)).filter((e) => e.kind === 'renewal_reminded')).toHaveLength(1);
    });
  });
}
