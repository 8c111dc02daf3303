import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CaseEntity, CaseEventEntity, DraftEntity, type CaseRow } from '../../src/services/cases/entities.ts';
import type { EntityManager } from 'typeorm';
import { CaseError, Cases, statusName } from '../../src/services/cases/index.ts';
import { tryLock } from '../../src/platform/kv/index.ts';
import type { Upload } from '../../src/services/cases/forms.ts';
import { available, DB_BACKENDS } from '../helpers/backends.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { JPEG, PDF, validId } from '../helpers/files.ts';
import { rejection } from '../helpers/errors.ts';

/**
 * The cases' commands and lookups one by one, as staff pages, chat and the citizen's pages call
 * them (test/services/cases.test.ts follows a case through its journey).
 */

const startApp = appsClosedAfterEach();

const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);
const ID = validId();
const form = (o: Record<string, string> = {}) => ({ name: '王小明', id_card: ID, phone: '13812345678', address: '示范区天山路 600 弄 2 号 301 室', kind: '首次申领', ...o });
const files = (): Upload[] => [
  { fieldId: 'photo', fileName: 'me.jpg', data: JPEG },
  { fieldId: 'proof', fileName: 'contract.pdf', data: PDF },
];
const senior = (name = '李奶奶'): [Record<string, string>, Upload[]] => [{ name, id_card: ID, phone: '13812345678' }, [{ fieldId: 'photo', fileName: 'p.png', data: JPEG }]];

const caught = (p: Promise<unknown>) => rejection(p, CaseError);

type Profile = Record<string, any>;
const item = (p: Profile, id: string) => p.services.find((x: { id: string }) => x.id === id);

for (const db of DB_BACKENDS) {
  describe.skipIf(!available(db))(`the cases' commands one by one (${db.label})`, () => {
    async function app(profile?: (p: Profile) => void): Promise<TestApp> {
      const a = await startApp({ db: db.name, ...(profile ? { profile } : {}) });
      await a.emulator!.act('o_applicant', { type: 'subscribe' });
      await a.emulator!.act('o_applicant', { type: 'text', content: '你好' }); // opens the 48-hour window
      return a;
    }
    const custom = (a: TestApp, openid = 'o_applicant') => a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'custom' && i.message.type === 'text').map((i) => i.message.content as string);
    const templates = (a: TestApp, openid = 'o_applicant') => a.emulator!.platform.inbox(openid).filter((i) => i.channel === 'template').map((i) => i.message.data as Record<string, string>);
    const seniorCase = async (a: TestApp, openid = 'o_applicant', name = '李奶奶') => a.cases.submit(openid, 'senior-card', ...senior(name));

    // ---- what can be applied for ------------------------------------------------------------

    it('lists the items open to online applications within their validity, and names their steps', async () => {
      const a = await app((p) => {
        item(p, 'senior-card').valid_until = '2026-11-22'; // ended the day before the clock's Monday
        item(p, 'individual-business-licence').valid_from = '2026-12-01';
      });
      const ids = a.cases.applicable().map((s) => s.id);
      expect(ids).toContain('residence-permit');
      expect(ids).not.toContain('senior-card');
      expect(ids).not.toContain('individual-business-licence');
      expect(ids).not.toContain('divorce-registration'); // no application form
      expect(a.cases.applicable(cst(2026, 12, 2, 10)).map((s) => s.id)).toContain('individual-business-licence');
      expect(a.cases.service('residence-permit')?.application.time_limit_days).toBe(15);
      expect(a.cases.service('senior-card')).toBeNull();
      expect(a.cases.service('individual-business-licence')).toBeNull();
      expect(a.cases.service('divorce-registration')).toBeNull();
      expect(a.cases.service('no-such-item')).toBeNull();
      expect((await caught(a.cases.submit('o_applicant', 'senior-card', ...senior()))).code).toBe('not_applicable');
      expect((await caught(a.cases.saveDraft('o_applicant', 'senior-card', { name: '李奶奶' }, []))).message).toBe('这项服务暂时不能在网上申请。');

      expect(a.cases.stepName('residence-permit', 'make')).toBe('制证');
      expect(a.cases.stepName('residence-permit', 'gone')).toBe('gone');
      expect(a.cases.stepName('no-such-item', 'make')).toBe('make');
      expect(a.cases.stepStatus('residence-permit', 'review')).toBe('审核中');
      expect(a.cases.stepStatus('residence-permit', 'gone')).toBe('gone');
      expect(a.cases.stepStatus('no-such-item', 'review')).toBe('review');
      expect(a.cases.stepName('divorce-registration', 'accept')).toBe('accept'); // an item without an application form
      expect(a.cases.stepStatus('divorce-registration', 'accept')).toBe('accept');
      expect((['submitted', 'in_progress', 'correction', 'completed', 'refused'] as const).map(statusName)).toEqual(['待受理', '办理中', '待补正', '已办结', '不予受理']);
    });

    // ---- drafts ---------------------------------------------------------------------------------

    it('a draft is the citizen\'s own for one item: values merge over saves, a field emptied is dropped, files stay in upload order', async () => {
      const a = await app();
      expect(await a.cases.draft('o_applicant', 'residence-permit')).toEqual({ values: {}, attachments: [] });
      expect(await a.cases.saveDraft('o_applicant', 'residence-permit', { name: '王小明', phone: '13812345678' }, [])).toEqual({});
      expect(
        await a.cases.saveDraft('o_applicant', 'residence-permit', { kind: '补领', address: 'abc' }, [
          { fieldId: 'proof', fileName: 'p1.pdf', data: PDF },
          { fieldId: 'proof', fileName: 'p2.jpg', data: JPEG },
        ]),
      ).toEqual({ address: '在沪居住地址请写到门牌号，例如：示范区天山路 600 弄 2 号 301 室。' }); // the profile's address example
      expect((await a.cases.draft('o_applicant', 'residence-permit')).values).toEqual({ name: '王小明', phone: '13812345678', kind: '补领' });
      await a.cases.saveDraft('o_applicant', 'residence-permit', { phone: '  ', name: '王晓明' }, []);
      const draft = await a.cases.draft('o_applicant', 'residence-permit');
      expect(draft.values).toEqual({ name: '王晓明', kind: '补领' });
      expect(draft.attachments.map((x) => [x.fieldId, x.fileName, x.mime, x.size, x.caseId, x.replacedAt])).toEqual([
        ['proof', 'p1.pdf', 'application/pdf', PDF.length, null, null],
        ['proof', 'p2.jpg', 'image/jpeg', JPEG.length, null, null],
      ]);
      expect(draft.attachments[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(draft.attachments[0]!.sha256).not.toBe(draft.attachments[1]!.sha256);
      expect(await a.db.getRepository(DraftEntity).countBy({ openid: 'o_applicant' })).toBe(1); // updated, not added
      // another citizen, another item: nothing of it
      expect(await a.cases.draft('o_other', 'residence-permit')).toEqual({ values: {}, attachments: [] });
      expect(await a.cases.draft('o_applicant', 'senior-card')).toEqual({ values: {}, attachments: [] });
      // the files already kept count towards a field's limit
      const errors = await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [
        { fieldId: 'proof', fileName: 'p3.jpg', data: JPEG },
        { fieldId: 'proof', fileName: 'p4.jpg', data: JPEG },
      ]);
      expect(errors).toEqual({ proof: '居住登记凭证或租房合同最多传 3 个文件。已上传的可以先点「删除」，再传新的。' });
      expect((await a.cases.draft('o_applicant', 'residence-permit')).attachments).toHaveLength(2);
    });

    it('a submit counts the draft\'s files (per field) and takes them into the case', async () => {
      const a = await app();
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'proof', fileName: 'p1.pdf', data: PDF }]);
      const tooMany = await caught(a.cases.submit('o_applicant', 'residence-permit', form(), [files()[0]!, ...[1, 2, 3].map((n) => ({ fieldId: 'proof', fileName: `p${n}.jpg`, data: JPEG }))]));
      expect(tooMany.fields).toEqual({ proof: expect.stringMatching(/最多传 3 个文件/) });
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), [files()[0]!]);
      expect((await a.cases.attachments(c.id)).map((x) => [x.fieldId, x.fileName])).toEqual([
        ['proof', 'p1.pdf'],
        ['photo', 'me.jpg'],
      ]);
      expect(await a.db.getRepository(DraftEntity).count()).toBe(0);
    });

    it('a draft file can be removed by its owner while it is a draft file, and only then', async () => {
      const a = await app();
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }]);
      const [photo] = (await a.cases.draft('o_applicant', 'residence-permit')).attachments;
      expect(await a.cases.removeDraftFile('o_applicant', Number.NaN)).toBe(false);
      expect(await a.cases.removeDraftFile('o_applicant', photo!.id + 0.5)).toBe(false);
      expect(await a.cases.removeDraftFile('o_other', photo!.id)).toBe(false);
      expect(await a.cases.removeDraftFile('o_applicant', photo!.id, 'senior-card')).toBe(false);
      expect(await a.cases.file(photo!.id, 'o_applicant')).not.toBeNull();
      expect(await a.cases.removeDraftFile('o_applicant', photo!.id, 'residence-permit')).toBe(true);
      expect(await a.cases.file(photo!.id)).toBeNull();
      expect(await a.cases.removeDraftFile('o_applicant', photo!.id)).toBe(false); // already gone
      const storage = (a.cases as unknown as { d: { storage: { get(key: string): Promise<Buffer> } } }).d.storage;
      await expect(storage.get(photo!.storageKey)).rejects.toThrow(); // the stored file went too

      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      const [inCase] = await a.cases.attachments(c.id);
      expect(await a.cases.removeDraftFile('o_applicant', inCase!.id)).toBe(false);
      expect(await a.cases.attachments(c.id)).toHaveLength(2);
    });

    it('a draft file whose stored copy cannot be deleted is still taken out of the draft (the leftover is logged)', async () => {
      const a = await app();
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }]);
      const [photo] = (await a.cases.draft('o_applicant', 'residence-permit')).attachments;
      const storage = (a.cases as unknown as { d: { storage: { delete(key: string): Promise<void> } } }).d.storage;
      storage.delete = async () => {
        throw new Error('disk unavailable');
      };
      expect(await a.cases.removeDraftFile('o_applicant', photo!.id)).toBe(true);
      expect((await a.cases.draft('o_applicant', 'residence-permit')).attachments).toEqual([]);
    });

    it('a submit refused after its files were stored leaves none of them on disk', async () => {
      const a = await app();
      const storage = (a.cases as unknown as { d: { storage: { root: string; put(data: Buffer): Promise<string> } } }).d.storage;
      const onDisk = () => readdirSync(storage.root, { recursive: true }).filter((f) => !String(f).match(/^\d{4}(\/\d{2})?$/));
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }]);
      const [photo] = (await a.cases.draft('o_applicant', 'residence-permit')).attachments;
      expect(onDisk()).toHaveLength(1);
      const put = storage.put.bind(storage);
      storage.put = async (data) => {
        storage.put = put;
        await a.cases.removeDraftFile('o_applicant', photo!.id); // deleted in another tab meanwhile
        return put(data);
      };
      expect((await caught(a.cases.submit('o_applicant', 'residence-permit', form(), [files()[1]!]))).code).toBe('conflict');
      expect(onDisk()).toEqual([]);
      // a 补正 refused by a colleague's move in between leaves no file either
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清楚');
      expect(onDisk()).toHaveLength(2);
      storage.put = async (data) => {
        storage.put = put;
        await a.cases.refuse(c.id, 'staff:2', '不符合办理条件');
        return put(data);
      };
      expect((await caught(a.cases.correct('o_applicant', c.id, {}, [{ fieldId: 'photo', fileName: 'new.jpg', data: JPEG }]))).code).toBe('wrong_state');
      expect(onDisk()).toHaveLength(2);
      expect(await a.cases.attachments(c.id)).toHaveLength(2);
    });

    it('files stored for a draft or a submit that then fails are removed again', async () => {
      const a = await app();
      const storage = (a.cases as unknown as { d: { storage: { root: string; put(data: Buffer): Promise<string> } } }).d.storage;
      const onDisk = () => readdirSync(storage.root, { recursive: true }).filter((f) => !String(f).match(/^\d{4}(\/\d{2})?$/));
      // the disk fails at the second file: the first is removed
      const put = storage.put.bind(storage);
      let n = 0;
      storage.put = async (data) => {
        if (++n === 2) throw new Error('disk full');
        return put(data);
      };
      await expect(a.cases.submit('o_applicant', 'residence-permit', form(), files())).rejects.toThrow('disk full');
      expect(onDisk()).toEqual([]);
      storage.put = put;
      // the database fails while the draft is written: its new file is removed
      const ds = a.db;
      const transaction = ds.transaction.bind(ds);
      (ds as { transaction: unknown }).transaction = async () => {
        throw new Error('database unavailable');
      };
      try {
        await expect(a.cases.saveDraft('o_applicant', 'residence-permit', { name: '王小明' }, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }])).rejects.toThrow('database unavailable');
      } finally {
        (ds as { transaction: unknown }).transaction = transaction;
      }
      expect(onDisk()).toEqual([]);
      expect(await a.cases.draft('o_applicant', 'residence-permit')).toEqual({ values: {}, attachments: [] });
      // and the citizen can go on: the submit is not left locked
      expect((await a.cases.submit('o_applicant', 'residence-permit', form(), files())).status).toBe('submitted');
    });

    // ---- submitting -------------------------------------------------------------------------------

    it('a submitted case: its department, its form, its fee, a number counted per China-time day', async () => {
      const a = await app((p) => {
        item(p, 'senior-card').application.department = 'civil-affairs';
        item(p, 'residence-permit').application.fee_fen = 2_000;
        item(p, 'residence-permit').application.fee_at = 'submit';
      });
      a.clock.set(cst(2027, 1, 5, 23, 50)); // China time; 15:50 UTC
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      expect(c).toMatchObject({ caseNo: 'WB20270105-0001', openid: 'o_applicant', serviceId: 'residence-permit', department: 'service-centre', status: 'submitted', step: 'accept', feeFen: 2_000, submittedAt: a.clock.now(), updatedAt: a.clock.now(), acceptedAt: null, dueAt: null });
      expect(JSON.parse(c.formData)).toEqual(form());
      expect(await a.cases.get(c.id)).toEqual(c);
      // billed at submission, inside the same transaction
      expect(await a.bills.byPays('case', c.caseNo)).toMatchObject({ amountFen: 2_000, status: 'unpaid' });
      const s = await seniorCase(a);
      expect(s).toMatchObject({ caseNo: 'WB20270105-0002', department: 'civil-affairs', feeFen: null });
      expect(await a.bills.byPays('case', s.caseNo)).toBeNull();
      a.clock.advance(15 * 60_000); // 00:05 the next day in China
      expect((await seniorCase(a)).caseNo).toBe('WB20270106-0001');
      const attachments = await a.cases.attachments(c.id);
      expect(attachments.map((x) => [x.openid, x.serviceId, x.createdAt, x.caseId])).toEqual([
        ['o_applicant', 'residence-permit', c.submittedAt, c.id],
        ['o_applicant', 'residence-permit', c.submittedAt, c.id],
      ]);
    });

    it('a fee due on acceptance is billed by accept, not by submit', async () => {
      const a = await app((p) => (item(p, 'senior-card').application.fee_fen = 500));
      const c = await seniorCase(a);
      expect(await a.bills.byPays('case', c.caseNo)).toBeNull();
      await a.cases.accept(c.id, 'staff:1');
      expect(await a.bills.byPays('case', c.caseNo)).toMatchObject({ amountFen: 500 });
    });

    // ---- the handler's moves ------------------------------------------------------------------------

    it('a move on a missing case or in the wrong state is refused with what the case is', async () => {
      const a = await app();
      const c = await seniorCase(a);
      for (const move of [(id: number) => a.cases.accept(id, 's'), (id: number) => a.cases.advance(id, 's'), (id: number) => a.cases.complete(id, 's'), (id: number) => a.cases.requestCorrection(id, 's', '缺少签字页'), (id: number) => a.cases.refuse(id, 's', '不符合条件')]) {
        const e = await caught(move(c.id + 1000));
        expect([e.code, e.message]).toEqual(['not_found', '没有找到这个办件。']);
      }
      const early = await caught(a.cases.advance(c.id, 'staff:1'));
      expect([early.code, early.message]).toEqual(['wrong_state', '办件现在是「待受理」，不能这样操作。']);
      await a.cases.refuse(c.id, 'staff:1', '不符合条件');
      for (const move of [() => a.cases.accept(c.id, 's'), () => a.cases.advance(c.id, 's'), () => a.cases.complete(c.id, 's'), () => a.cases.requestCorrection(c.id, 's', '缺少签字页'), () => a.cases.refuse(c.id, 's', '不符合条件')]) {
        const e = await caught(move());
        expect([e.code, e.message]).toEqual(['wrong_state', '办件现在是「不予受理」，不能这样操作。']);
      }
      const notAsked = await caught(a.cases.correct('o_applicant', c.id, { note: '补上了' }, []));
      expect([notAsked.code, notAsked.message]).toEqual(['wrong_state', '这个办件现在不需要补正。']);
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted', 'refused']);
    });

    it('accept, advance and complete keep their notes and actors; a case without validity gets no renewal', async () => {
      const a = await app();
      const c = await seniorCase(a);
      a.clock.advance(60_000);
      const accepted = await a.cases.accept(c.id, 'staff:7', '材料齐全');
      expect(accepted).toMatchObject({ status: 'in_progress', step: 'make', acceptedAt: a.clock.now(), updatedAt: a.clock.now(), dueAt: a.calendar.workingDaysDeadline(a.clock.now(), 5) });
      expect(await a.cases.get(c.id)).toEqual(accepted);
      a.clock.advance(60_000);
      const done = await a.cases.complete(c.id, 'staff:8', '请到中心领卡');
      expect(done).toMatchObject({ status: 'completed', step: 'complete', completedAt: a.clock.now(), validUntil: null });
      expect(await a.cases.get(c.id)).toEqual(done);
      expect((await a.cases.timeline(c.id)).map((e) => [e.kind, e.step, e.actor, e.note])).toEqual([
        ['submitted', 'accept', 'citizen', null],
        ['accepted', 'make', 'staff:7', '材料齐全'],
        ['completed', 'complete', 'staff:8', '请到中心领卡'],
      ]);
      a.clock.set(accepted.dueAt! + 1); // a completed case is past nothing
      await a.jobs.runDue();
      a.clock.advance(400 * 86_400_000);
      await a.jobs.runDue();
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted', 'accepted', 'completed']);
      expect(await a.cases.get(c.id)).toMatchObject({ escalatedAt: null });
    });

    it('advancing walks the steps one by one and completes at the last', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.accept(c.id, 'staff:1');
      expect(await a.cases.advance(c.id, 'staff:1')).toMatchObject({ status: 'in_progress', step: 'make' });
      const last = await a.cases.advance(c.id, 'staff:1');
      expect(last).toMatchObject({ status: 'completed', step: 'complete' });
      expect((await a.cases.timeline(c.id)).map((e) => [e.kind, e.step, e.note])).toEqual([
        ['submitted', 'accept', null],
        ['accepted', 'review', null],
        ['advanced', 'make', null],
        ['completed', 'complete', null],
      ]);
      const e = await caught(a.cases.advance(c.id, 'staff:1'));
      expect([e.code, e.message]).toEqual(['wrong_state', '办件现在是「已办结」，不能这样操作。']);
    });

    it('补正 and refusal need a reason of four characters or more, trimmed', async () => {
      const a = await app();
      const c = await seniorCase(a);
      const short = await caught(a.cases.requestCorrection(c.id, 'staff:1', '  缺材料  '));
      expect([short.code, short.message]).toEqual(['invalid', '请写清楚缺什么材料、为什么缺，市民才知道怎么补。']);
      const shortRefusal = await caught(a.cases.refuse(c.id, 'staff:1', ' 不符合 '));
      expect([shortRefusal.code, shortRefusal.message]).toEqual(['invalid', '请写明不予受理的理由和依据。']);
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted']);
      const asked = await a.cases.requestCorrection(c.id, 'staff:1', '  缺签字页  ');
      // asked before acceptance: no clock is running, none pauses
      expect(asked).toMatchObject({ status: 'correction', step: 'accept', stepBeforeCorrection: 'accept', correctionRequest: '缺签字页', pausedAt: null });
      const refused = await a.cases.refuse(c.id, 'staff:1', '  不符条件  '); // refused while waiting for the citizen
      expect(refused).toMatchObject({ status: 'refused' });
      expect((await a.cases.timeline(c.id)).map((e) => [e.kind, e.note])).toEqual([
        ['submitted', null],
        ['correction_requested', '缺签字页'],
        ['refused', '不符条件'],
      ]);
      expect((await caught(a.cases.correct('o_applicant', c.id, { note: '补上了' }, []))).code).toBe('wrong_state');
    });

    it('a 补正 asked before acceptance goes back to 待受理 with no due time; the citizen must send something', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.requestCorrection(c.id, 'staff:1', '合同缺少签字页');
      const nothing = await caught(a.cases.correct('o_applicant', c.id, { note: '   ' }, []));
      expect([nothing.code, nothing.message]).toEqual(['invalid', '请上传补正的材料，或写一句说明。']);
      const bad = await caught(a.cases.correct('o_applicant', c.id, {}, [{ fieldId: 'proof', fileName: 'x.exe', data: Buffer.from('MZ not a document') }]));
      expect([bad.code, bad.message, Object.keys(bad.fields)]).toEqual(['invalid', '有文件需要换一下，请看标红的地方。', ['proof']]);
      expect(await a.cases.attachments(c.id)).toHaveLength(2);
      a.clock.advance(3 * 86_400_000);
      const back = await a.cases.correct('o_applicant', c.id, { note: `  ${'很'.repeat(600)}  ` }, []);
      expect(back).toMatchObject({ status: 'submitted', step: 'accept', stepBeforeCorrection: null, pausedAt: null, dueAt: null, acceptedAt: null });
      const corrected = (await a.cases.timeline(c.id)).at(-1)!;
      expect([corrected.kind, corrected.actor, corrected.note]).toEqual(['corrected', 'citizen', '很'.repeat(500)]);
      // a file alone is enough; no note is kept as none
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清楚');
      await a.cases.correct('o_applicant', c.id, {}, [{ fieldId: 'photo', fileName: 'new.jpg', data: JPEG }]);
      expect((await a.cases.timeline(c.id)).at(-1)).toMatchObject({ kind: 'corrected', note: null });
      expect(await a.cases.accept(c.id, 'staff:1')).toMatchObject({ status: 'in_progress', step: 'review' });
    });

    it('a 补正 asked at a later step returns the case to that step', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.accept(c.id, 'staff:1');
      await a.cases.advance(c.id, 'staff:1');
      const asked = await a.cases.requestCorrection(c.id, 'staff:1', '照片不符合制证要求');
      expect(asked).toMatchObject({ step: 'make', stepBeforeCorrection: 'make' });
      expect(await a.cases.correct('o_applicant', c.id, {}, [{ fieldId: 'photo', fileName: 'new.jpg', data: JPEG }])).toMatchObject({ status: 'in_progress', step: 'make' });
    });

    // ---- the citizen's side, lookups --------------------------------------------------------------

    it('mine lists the citizen\'s own cases newest first; own and get refuse what is not there', async () => {
      const a = await app();
      const first = await seniorCase(a);
      a.clock.advance(60_000);
      const second = await seniorCase(a, 'o_applicant', '张爷爷');
      await seniorCase(a, 'o_other');
      expect((await a.cases.mine('o_applicant')).map((c) => c.id)).toEqual([second.id, first.id]);
      expect(await a.cases.mine('o_nobody')).toEqual([]);
      expect((await a.cases.own('o_applicant', first.id)).id).toBe(first.id);
      for (const id of [Number.NaN, first.id + 0.5, 999_999]) {
        const e = await caught(a.cases.own('o_applicant', id));
        expect([e.code, e.message]).toEqual(['not_found', '没有找到这个办件。']);
        expect(await a.cases.get(id)).toBeNull();
      }
    });

    it('a lookup by number: spaces and case do not matter; a wrong form, number or code finds nothing', async () => {
      const a = await app();
      const c = await seniorCase(a);
      expect(c.caseNo).toBe('WB20261123-0001');
      expect(await a.cases.lookup(' wb20261123-0001 ', { openid: 'o_applicant' })).toMatchObject({ id: c.id });
      expect(await a.cases.lookup(` wb20261123-0001 `, { queryCode: ` ${c.queryCode.toLowerCase()} ` })).toMatchObject({ id: c.id });
      expect(await a.cases.lookup('WB20261123-0001', { openid: 'o_applicant', queryCode: 'AAAAAA' })).toMatchObject({ id: c.id });
      expect(await a.cases.lookup('WB20261123-0001', {})).toBeNull();
      expect(await a.cases.lookup('WB20261123-0001', { queryCode: c.queryCode.slice(0, 5) })).toBeNull();
      expect(await a.cases.lookup('WB20261123-0001', { queryCode: `${c.queryCode}X` })).toBeNull();
      expect(await a.cases.lookup('WB20261123-0001', { openid: '' })).toBeNull();
      expect(await a.cases.lookup('WB20261123-0001', { openid: 'o_stranger' })).toBeNull();
      expect(await a.cases.lookup('WB20261123-0009', { openid: 'o_applicant', queryCode: c.queryCode })).toBeNull(); // no such case
      const other = await seniorCase(a, 'o_other', '张爷爷');
      expect(await a.cases.lookup(other.caseNo, { queryCode: other.queryCode })).toMatchObject({ id: other.id });
      expect(await a.cases.lookup(other.caseNo, { openid: 'o_applicant' })).toBeNull();
      for (const no of ['WB20261123-001', 'WB20261123-00011', 'XB20261123-0001', 'WB2026112-0001', 'WB20261123-0001X', 'xWB20261123-0001', 'WB20261123 0001']) {
        expect(await a.cases.lookup(no, { openid: 'o_applicant', queryCode: c.queryCode }), no).toBeNull();
      }
    });

    it('guessing query codes: ten wrong tries per caller an hour, a right answer gives its try back, a refused try counts nothing', async () => {
      const a = await app();
      const c = await seniorCase(a);
      const guess = (code: string, callers: (string | { key: string; tries: number })[]) => a.cases.lookupLimited(c.caseNo, { queryCode: code }, callers);
      for (let i = 0; i < 9; i++) expect(await guess('AAAAAA', ['openid:o_x'])).toBeNull();
      expect(await guess(c.queryCode, ['openid:o_x'])).toMatchObject({ id: c.id }); // given back: still nine
      expect(await guess('AAAAAA', ['openid:o_x'])).toBeNull(); // the tenth wrong try
      const refused = await caught(guess(c.queryCode, ['openid:o_x']));
      expect([refused.code, refused.message]).toEqual(['too_many', '查询码输错的次数太多了。为了保护办件信息，请过一小时再查。']);
      // another caller has its own count; the same caller named twice counts once
      expect(await guess(c.queryCode, ['openid:o_y', 'openid:o_y'])).toMatchObject({ id: c.id });
      // an address shared by many is given more tries; a try refused for the citizen is not counted for the address
      for (let i = 0; i < 10; i++) expect(await guess('AAAAAA', ['openid:o_z', { key: 'ip:1.2.3.4', tries: 15 }])).toBeNull();
      for (let i = 0; i < 3; i++) expect((await caught(guess('AAAAAA', ['openid:o_z', { key: 'ip:1.2.3.4', tries: 15 }]))).code).toBe('too_many');
      for (let i = 0; i < 5; i++) expect(await guess('AAAAAA', ['openid:o_w', { key: 'ip:1.2.3.4', tries: 15 }])).toBeNull();
      expect((await caught(guess(c.queryCode, ['openid:o_v', { key: 'ip:1.2.3.4', tries: 15 }]))).code).toBe('too_many');
      // an hour after the first counted try, the window is over
      a.clock.advance(3_600_000 + 1);
      expect(await guess(c.queryCode, ['openid:o_x'])).toMatchObject({ id: c.id });
      expect(await guess(c.queryCode, ['openid:o_v', { key: 'ip:1.2.3.4', tries: 15 }])).toMatchObject({ id: c.id });
    });

    it('a file goes to its owner or to staff; the current files leave out the replaced', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      const [photo, proof] = await a.cases.attachments(c.id);
      expect((await a.cases.file(proof!.id, 'o_applicant'))?.data.equals(PDF)).toBe(true);
      expect((await a.cases.file(photo!.id))?.data.equals(JPEG)).toBe(true);
      expect((await a.cases.file(photo!.id))?.row).toMatchObject({ id: photo!.id, fieldId: 'photo' });
      expect(await a.cases.file(photo!.id, 'o_other')).toBeNull();
      expect(await a.cases.file(photo!.id + 1000)).toBeNull();
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清楚');
      await a.cases.correct('o_applicant', c.id, {}, [{ fieldId: 'photo', fileName: 'new.jpg', data: JPEG }]);
      expect((await a.cases.attachments(c.id)).map((x) => x.fileName)).toEqual(['me.jpg', 'contract.pdf', 'new.jpg']);
      expect((await a.cases.attachments(c.id, { current: true })).map((x) => x.fileName)).toEqual(['contract.pdf', 'new.jpg']);
      expect((await a.cases.attachments(c.id, { current: false })).map((x) => x.fileName)).toEqual(['me.jpg', 'contract.pdf', 'new.jpg']);
    });

    it('notes as shown: staff\'s as written; the citizen\'s masked, in full only to staff revealed, never to the public', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.requestCorrection(c.id, 'staff:1', '请补充王小明的签字页');
      await a.cases.correct('o_applicant', c.id, { note: '我的电话 13812345678，住天山路 600 弄' }, []);
      const [submitted, asked, answered] = await a.cases.timeline(c.id);
      expect(a.cases.noteShown(submitted!, 'staff', true)).toBeNull();
      for (const to of ['public', 'citizen', 'staff'] as const) expect(a.cases.noteShown(asked!, to)).toBe('请补充王小明的签字页');
      expect(a.cases.noteShown(answered!, 'public')).toBeNull();
      expect(a.cases.noteShown(answered!, 'public', true)).toBeNull();
      expect(a.cases.noteShown(answered!, 'staff', true)).toBe('我的电话 13812345678，住天山路 600 弄');
      const masked = a.cases.noteShown(answered!, 'staff')!;
      expect(masked).not.toContain('13812345678');
      expect(masked).toMatch(/^我/);
      expect(a.cases.noteShown(answered!, 'citizen', true)).toBe(masked);
    });

    it('the form in full, masked, and the kinds of personal data it holds', async () => {
      const a = await app();
      const c = await a.cases.submit('o_applicant', 'individual-business-licence', { name: '张三', id_card: ID, phone: '13812345678', shop_name: '张记面馆13812345678', shop_address: '示范区天山路 600 弄 2 号', scope: '餐饮', staff: '3' }, [{ fieldId: 'lease', fileName: 'lease.pdf', data: PDF }]);
      expect(a.cases.plainForm(c)).toEqual([
        { label: '经营者姓名', value: '张三' },
        { label: '经营者身份证号码', value: ID },
        { label: '联系电话', value: '13812345678' },
        { label: '拟用名称', value: '张记面馆13812345678' },
        { label: '经营场所地址', value: '示范区天山路 600 弄 2 号' },
        { label: '经营类别', value: '餐饮' },
        { label: '从业人数', value: '3' },
      ]);
      const masked = a.cases.maskedForm(c);
      expect(masked.map((x) => x.label)).toEqual(['经营者姓名', '经营者身份证号码', '联系电话', '拟用名称', '经营场所地址', '经营类别', '从业人数']);
      expect(masked.find((x) => x.label === '经营类别')?.value).toBe('餐饮'); // a choice is no personal data
      expect(masked.find((x) => x.label === '从业人数')?.value).toBe('3');
      expect(masked.find((x) => x.label === '经营者姓名')?.value).toBe('张*');
      expect(masked.find((x) => x.label === '拟用名称')?.value).toMatch(/^张记面馆(?!13812345678)/); // free text may hold anything: masked as text
      expect(a.cases.personalKinds(c).sort()).toEqual(['address', 'id_number', 'name', 'phone']);
      // a field left empty is not shown and names no kind
      const bare = { ...c, formData: JSON.stringify({ name: '张三', phone: '', scope: '餐饮' }) } as CaseRow;
      expect(a.cases.plainForm(bare)).toEqual([
        { label: '经营者姓名', value: '张三' },
        { label: '联系电话', value: '' },
        { label: '经营类别', value: '餐饮' },
      ]);
      expect(a.cases.personalKinds(bare)).toEqual(['name']);
      // an item no longer in the profile shows nothing
      const gone = { ...c, serviceId: 'no-such-item' } as CaseRow;
      expect([a.cases.plainForm(gone), a.cases.maskedForm(gone), a.cases.personalKinds(gone)]).toEqual([[], [], []]);
    });

    it('a department\'s cases: its own, by status, under 督办, the earliest due first and then the earliest submitted', async () => {
      const a = await app();
      a.clock.advance(10 * 60_000);
      const r1 = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      a.clock.advance(-5 * 60_000); // submitted earlier, stored later (another instance, a slow request)
      const r0 = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      a.clock.advance(6 * 60_000);
      const s1 = await seniorCase(a);
      a.clock.advance(60_000);
      const s2 = await seniorCase(a, 'o_applicant', '张爷爷');
      a.clock.advance(60_000);
      const s3 = await seniorCase(a, 'o_applicant', '赵奶奶');
      a.clock.advance(60_000);
      await a.cases.accept(s3.id, 'staff:1');
      a.clock.advance(86_400_000);
      await a.cases.accept(s2.id, 'staff:1');
      const ids = (rows: CaseRow[]) => rows.map((c) => c.id);
      expect(ids(await a.cases.forDepartment('civil-affairs'))).toEqual([s3.id, s2.id, s1.id]);
      expect(ids(await a.cases.forDepartment('service-centre'))).toEqual([r0.id, r1.id]);
      expect(ids(await a.cases.forDepartment(null))).toEqual([s3.id, s2.id, r0.id, r1.id, s1.id]);
      expect(ids(await a.cases.forDepartment('civil-affairs', { status: ['submitted'] }))).toEqual([s1.id]);
      expect(ids(await a.cases.forDepartment('civil-affairs', { status: ['submitted', 'in_progress'] }))).toEqual([s3.id, s2.id, s1.id]);
      expect(ids(await a.cases.forDepartment('civil-affairs', { status: [] }))).toEqual([s3.id, s2.id, s1.id]);
      expect(ids(await a.cases.forDepartment('civil-affairs', { escalated: true }))).toEqual([]);
      a.clock.set((await a.cases.get(s3.id))!.dueAt! + 1);
      await a.jobs.runDue();
      expect(ids(await a.cases.forDepartment('civil-affairs', { escalated: true }))).toEqual([s3.id]);
      expect(ids(await a.cases.forDepartment('civil-affairs', { escalated: false }))).toEqual([s3.id, s2.id, s1.id]);
    });

    // ---- pushes and deadlines ---------------------------------------------------------------------

    it('each move tells the citizen what happened, in the profile\'s words, and a completion inside the window asks for a rating', async () => {
      const a = await app((p) => (p.texts.vocabulary = { 受理: '确认', 办结: '完成' }));
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.emulator!.act('o_second', { type: 'subscribe' });
      await a.emulator!.act('o_second', { type: 'text', content: '你好' });
      const d = await a.cases.submit('o_second', 'residence-permit', form(), files());
      await a.jobs.runDue();
      a.clock.set(cst(2026, 11, 23, 11)); // still inside the window of 你好 (Monday 10:00)
      const accepted = await a.cases.accept(c.id, 'staff:1');
      await a.cases.advance(c.id, 'staff:1', '材料审核通过');
      await a.cases.advance(c.id, 'staff:1');
      await a.jobs.runDue();
      const link = (x: CaseRow) => `<a href="${a.cases.casePage(x)}">查看办理进度</a>`;
      expect(a.cases.casePage(c)).toMatch(new RegExp(`^http://localhost:\\d+/h5/cases/${c.id}$`));
      expect(a.cases.applyPage('senior-card')).toMatch(/^http:\/\/localhost:\d+\/h5\/apply\/senior-card$/);
      expect(accepted.dueAt).toBe(cst(2026, 12, 14, 17, 30)); // 15 working days, at the end of the day
      expect(custom(a)).toEqual([
        expect.stringMatching(/^已收到您的「上海市居住证办理」申请。/),
        `您的「上海市居住证办理」申请已确认（${c.caseNo}）。承诺2026年12月14日前完成。\n${link(c)}`,
        `您的「上海市居住证办理」（${c.caseNo}）已进入「制证」环节。\n说明：材料审核通过\n${link(c)}`,
        `您的「上海市居住证办理」（${c.caseNo}）已完成！\n${link(c)}`,
      ]);
      // the rating question follows the completion, once
      const inbox = a.emulator!.platform.inbox('o_applicant').filter((i) => i.channel === 'custom');
      expect(inbox.at(-1)!.message.type).toBe('msgmenu');
      expect(JSON.stringify(inbox.at(-1)!.message)).toContain(`rt-case-${c.id}-5`);
      expect(inbox.at(-2)!.message.content).toMatch(/已完成！/);
      expect(inbox.filter((i) => i.message.type === 'msgmenu')).toHaveLength(1);
      // without a note, with a note
      await a.cases.accept(d.id, 'staff:1');
      await a.cases.advance(d.id, 'staff:1');
      await a.cases.advance(d.id, 'staff:1', '请带身份证到中心领取');
      await a.jobs.runDue();
      expect(custom(a, 'o_second').slice(-2)).toEqual([`您的「上海市居住证办理」（${d.caseNo}）已进入「制证」环节。\n${link(d)}`, `您的「上海市居住证办理」（${d.caseNo}）已完成！\n请带身份证到中心领取\n${link(d)}`]);
    });

    it('a renewal reminder told inside the window says when the permit ends and links to applying again', async () => {
      const a = await app((p) => Object.assign(item(p, 'residence-permit').application, { validity_days: 2, renewal_reminder_days: 1 }));
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.accept(c.id, 'staff:1');
      await a.cases.advance(c.id, 'staff:1');
      const done = await a.cases.advance(c.id, 'staff:1');
      expect(done.validUntil).toBe(a.clock.now() + 2 * 86_400_000);
      await a.jobs.runDue();
      const before = custom(a).length;
      a.clock.advance(86_400_000 - 60_000); // not yet
      await a.jobs.runDue();
      expect(custom(a)).toHaveLength(before);
      a.clock.advance(60_000);
      await a.jobs.runDue();
      expect(custom(a).slice(before)).toEqual([`您的「上海市居住证办理」（${c.caseNo}）将于 2026年11月25日 到期，可以提前在网上办理：\n<a href="${a.cases.applyPage('residence-permit')}">现在去办理</a>`]);
      expect((await a.cases.timeline(c.id)).at(-1)).toMatchObject({ kind: 'renewal_reminded', actor: 'system', note: null });
    });

    it('past the window the moves go as template messages naming the step; no rating question follows them', async () => {
      const a = await app();
      const c1 = await seniorCase(a);
      const c2 = await seniorCase(a, 'o_applicant', '张爷爷');
      await a.jobs.runDue();
      a.clock.set(cst(2026, 11, 27, 9, 5)); // past the 48 hours
      await a.cases.requestCorrection(c1.id, 'staff:1', '照片看不清楚');
      await a.cases.refuse(c2.id, 'staff:1', '不符合办理条件');
      await a.jobs.runDue();
      a.clock.advance(60_000);
      await a.cases.correct('o_applicant', c1.id, { note: '已重拍' }, []); // not told: the citizen did it
      await a.cases.accept(c1.id, 'staff:1');
      await a.cases.advance(c1.id, 'staff:1', '请到中心领卡');
      const c3 = await seniorCase(a, 'o_applicant', '赵奶奶');
      await a.jobs.runDue();
      expect(templates(a).map((d) => [d.thing1, d.character_string2, d.phrase3, d.time4])).toEqual([
        ['老年人优待证（敬老卡）', c1.caseNo, '需要补正', '2026-11-27 09:05'],
        ['老年人优待证（敬老卡）', c2.caseNo, '不予受理', '2026-11-27 09:05'],
        ['老年人优待证（敬老卡）', c1.caseNo, '制卡', '2026-11-27 09:06'],
        ['老年人优待证（敬老卡）', c1.caseNo, '已办结', '2026-11-27 09:06'],
        ['老年人优待证（敬老卡）', c3.caseNo, '已提交', '2026-11-27 09:06'],
      ]);
      expect(a.emulator!.platform.inbox('o_applicant').filter((i) => i.message.type === 'msgmenu')).toEqual([]);
    });

    it('a 补正 and a refusal tell the citizen what is missing and why, with the link to send it', async () => {
      const a = await app();
      const c1 = await seniorCase(a);
      const c2 = await seniorCase(a, 'o_applicant', '张爷爷');
      await a.cases.requestCorrection(c1.id, 'staff:1', '照片看不清楚，请重拍');
      await a.cases.refuse(c2.id, 'staff:1', '申请人未满 60 周岁');
      await a.jobs.runDue();
      const sent = custom(a);
      expect(sent).toHaveLength(4);
      expect(sent).toEqual(expect.arrayContaining([
        `您的「老年人优待证（敬老卡）」（${c1.caseNo}）需要补充材料：\n照片看不清楚，请重拍\n请点下面的链接补充，补齐后我们继续办理：\n<a href="${a.cases.casePage(c1)}">去补充材料</a>`,
        `很抱歉，您的「老年人优待证（敬老卡）」申请（${c2.caseNo}）不予受理。\n原因：申请人未满 60 周岁\n有疑问可以回复「转人工」。`,
      ]));
      expect(templates(a)).toEqual([]);
    });

    it('past its due time a case of a department without a supervisor on duty goes to the administrators', async () => {
      const a = await app();
      const c = await seniorCase(a);
      a.clock.set(cst(2026, 11, 24, 10));
      const accepted = await a.cases.accept(c.id, 'staff:1');
      expect(accepted.dueAt).toBe(cst(2026, 12, 1, 17, 30)); // 5 working days, at the end of the day
      a.clock.set(accepted.dueAt! - 1);
      await a.jobs.runDue();
      expect((await a.cases.get(c.id))?.escalatedAt).toBeNull();
      a.clock.set(accepted.dueAt! + 1);
      await a.jobs.runDue();
      expect(await a.cases.get(c.id)).toMatchObject({ escalatedAt: accepted.dueAt! + 1, escalatedTo: null, status: 'in_progress' });
      const last = (await a.cases.timeline(c.id)).at(-1)!;
      expect([last.kind, last.actor, last.step, last.note]).toEqual(['escalated', 'system', 'make', '超过承诺时限（2026年12月1日），本部门没有在岗负责人，已提交管理员督办']);
      // escalation is not a move the citizen is told of
      await a.jobs.runDue();
      expect(custom(a).filter((t) => t.includes('督办'))).toEqual([]);
    });

    it('a case waiting for the citizen is not escalated past its due time; taken back in, it is at its new due time only', async () => {
      const a = await app();
      const c = await seniorCase(a);
      a.clock.set(cst(2026, 11, 24, 10));
      const accepted = await a.cases.accept(c.id, 'staff:1');
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清楚');
      a.clock.set(accepted.dueAt! + 1); // waiting for the citizen: not overdue
      await a.jobs.runDue();
      expect((await a.cases.get(c.id))?.escalatedAt).toBeNull();
      const back = await a.cases.correct('o_applicant', c.id, { note: '已重拍' }, []);
      expect(back.dueAt).toBeGreaterThan(accepted.dueAt!);
      expect((await a.cases.get(c.id))?.escalatedAt).toBeNull();
      a.clock.set(back.dueAt! + 1);
      await a.jobs.runDue();
      expect((await a.cases.get(c.id))?.escalatedAt).toBe(back.dueAt! + 1);
      expect((await a.cases.timeline(c.id)).filter((e) => e.kind === 'escalated')).toHaveLength(1);
    });

    // ---- edges of the moves, the jobs and the pushes ------------------------------------------------

    it('advance from a step the item has elsewhere or not at all: from the first it goes to the second, from an unknown one it refuses; with two steps it completes', async () => {
      const a = await app((p) => (item(p, 'senior-card').application.steps = [{ id: 'accept', name: '受理' }, { id: 'complete', name: '办结' }]));
      const rows = a.db.getRepository(CaseEntity);
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.accept(c.id, 'staff:1');
      await rows.update({ id: c.id }, { step: 'accept' }); // the row put back at 受理 (a data repair)
      expect(await a.cases.advance(c.id, 'staff:1')).toMatchObject({ status: 'in_progress', step: 'review' });
      await rows.update({ id: c.id }, { step: 'check' }); // a step the item no longer has
      const unknown = await caught(a.cases.advance(c.id, 'staff:1'));
      expect([unknown.code, unknown.message]).toEqual(['wrong_state', '已经是最后一步了，请办结。']);
      expect(await a.cases.get(c.id)).toMatchObject({ status: 'in_progress', step: 'check' });
      // 受理 → 办结: accepted at the last step, advancing completes
      const s = await seniorCase(a);
      expect(await a.cases.accept(s.id, 'staff:1')).toMatchObject({ status: 'in_progress', step: 'complete' });
      expect(await a.cases.advance(s.id, 'staff:1', '请到中心领卡')).toMatchObject({ status: 'completed', step: 'complete' });
      const t = await seniorCase(a, 'o_applicant', '张爷爷');
      await a.cases.accept(t.id, 'staff:1');
      await rows.update({ id: t.id }, { step: 'accept' });
      expect(await a.cases.advance(t.id, 'staff:1')).toMatchObject({ status: 'completed', step: 'complete' });
      expect((await a.cases.timeline(t.id)).map((e) => e.kind)).toEqual(['submitted', 'accepted', 'completed']);
    });

    it('advancing a case that the citizen takes back in from 补正 at that moment, at the step before 办结, says to complete it', async () => {
      const a = await app();
      const c = await seniorCase(a);
      await a.cases.accept(c.id, 'staff:1'); // at 制卡, the step before 办结
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清楚，请重拍');
      const ds = a.db;
      const transaction = ds.transaction.bind(ds);
      (ds as { transaction: unknown }).transaction = async (fn: (tx: EntityManager) => Promise<unknown>) => {
        (ds as { transaction: unknown }).transaction = transaction;
        await a.cases.correct('o_applicant', c.id, { note: '已重拍' }, []); // read as 待补正, moved as 办理中
        return transaction(fn);
      };
      const e = await caught(a.cases.advance(c.id, 'staff:1'));
      expect([e.code, e.message]).toEqual(['wrong_state', '已经是最后一步了，请办结。']);
      expect(await a.cases.get(c.id)).toMatchObject({ status: 'in_progress', step: 'make', completedAt: null });
      expect((await a.cases.timeline(c.id)).map((x) => x.kind)).toEqual(['submitted', 'accepted', 'correction_requested', 'corrected']);
      expect(await a.cases.complete(c.id, 'staff:1')).toMatchObject({ status: 'completed' });
    });

    it('a colleague\'s change that lands between a move\'s read and its write makes the move fail cleanly: nothing of it is kept', async () => {
      const a = await app((p) => {
        item(p, 'senior-card').application.fee_fen = 500; // billed on acceptance, inside the move
      });
      const c = await seniorCase(a);
      const deps = (a.cases as unknown as { d: { charge: (c: CaseRow, s: unknown, tx: EntityManager) => Promise<void> } }).d;
      const charge = deps.charge;
      deps.charge = async (row, s, tx) => {
        deps.charge = charge;
        await charge(row, s, tx);
        // As on PostgreSQL (read committed): another handler's move commits after this one read the case.
        await tx.getRepository(CaseEntity).update({ id: row.id }, { updatedAt: row.updatedAt + 1 });
      };
      const e = await caught(a.cases.accept(c.id, 'staff:1'));
      expect([e.code, e.message]).toEqual(['conflict', '办件刚被别人处理过，请刷新后再试。']);
      expect(await a.cases.get(c.id)).toMatchObject({ status: 'submitted', acceptedAt: null, dueAt: null, updatedAt: c.updatedAt });
      expect((await a.cases.timeline(c.id)).map((x) => x.kind)).toEqual(['submitted']);
      expect(await a.bills.unpaid('o_applicant')).toEqual([]); // the bill was written in the move's transaction: gone with it
      expect(await a.cases.accept(c.id, 'staff:1')).toMatchObject({ status: 'in_progress' }); // a fresh try goes through
    });

    it('an item\'s fee is charged exactly once, at submission or at acceptance as the item says; a free item is never charged', async () => {
      const a = await app((p) => {
        Object.assign(item(p, 'residence-permit').application, { fee_fen: 2_000, fee_at: 'submit' });
        item(p, 'senior-card').application.fee_fen = 500; // on acceptance, the default
      });
      const deps = (a.cases as unknown as { d: { charge: (c: CaseRow, ...rest: unknown[]) => Promise<void> } }).d;
      const charge = deps.charge;
      const charged: string[] = [];
      deps.charge = async (c, ...rest) => {
        charged.push(c.caseNo);
        return charge(c, ...rest);
      };
      const r = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      expect(charged).toEqual([r.caseNo]);
      await a.cases.accept(r.id, 'staff:1');
      const s = await seniorCase(a);
      expect(charged).toEqual([r.caseNo]);
      await a.cases.accept(s.id, 'staff:1');
      expect(charged).toEqual([r.caseNo, s.caseNo]);
      const free = await a.cases.submit('o_applicant', 'individual-business-licence', { name: '张三', id_card: ID, phone: '13812345678', shop_name: '张记面馆', shop_address: '示范区天山路 600 弄 2 号', scope: '餐饮', staff: '3' }, [{ fieldId: 'lease', fileName: 'lease.pdf', data: PDF }]);
      await a.cases.accept(free.id, 'staff:1');
      expect(charged).toEqual([r.caseNo, s.caseNo]);
      expect((await a.bills.unpaid('o_applicant')).map((b) => [b.paysRef, b.amountFen]).sort()).toEqual([[r.caseNo, 2_000], [s.caseNo, 500]].sort());
    });

    it('each permit gets its own renewal reminder; a one-day permit none (it would be due as it is issued); a reminder for a case not there sends nothing', async () => {
      const a = await app((p) => {
        Object.assign(item(p, 'residence-permit').application, { validity_days: 2, renewal_reminder_days: 1 });
        item(p, 'senior-card').application.validity_days = 1; // reminded by default 1 day before: at issue
      });
      await seniorCase(a, 'o_applicant', '赵奶奶'); // a case still waiting, the first in the table
      const r1 = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      const r2 = await a.cases.submit('o_applicant', 'residence-permit', form({ name: '王小红' }), files());
      const day = await seniorCase(a);
      for (const c of [r1, r2, day]) {
        await a.cases.accept(c.id, 'staff:1');
        await a.cases.complete(c.id, 'staff:1');
      }
      expect((await a.cases.get(day.id))?.validUntil).toBe(a.clock.now() + 86_400_000);
      expect((await a.jobs.list({ name: Cases.RENEWAL })).map((j) => [j.uniqueKey, j.runAt])).toEqual([
        [`case:${r1.id}:renewal`, a.clock.now() + 86_400_000],
        [`case:${r2.id}:renewal`, a.clock.now() + 86_400_000],
      ]);
      a.clock.advance(86_400_000);
      await a.jobs.runDue();
      const last = async (c: CaseRow) => (await a.cases.timeline(c.id)).at(-1)!.kind;
      expect([await last(r1), await last(r2), await last(day)]).toEqual(['renewal_reminded', 'renewal_reminded', 'completed']);
      const events = (await a.db.getRepository(CaseEventEntity).count());
      await a.jobs.enqueue(Cases.RENEWAL, { caseId: day.id + 1000 });
      await a.jobs.runDue();
      expect((await a.jobs.list({ name: Cases.RENEWAL })).map((j) => j.status)).toEqual(['done', 'done', 'done']);
      expect(await a.db.getRepository(CaseEventEntity).count()).toBe(events);
    });

    it('a deadline check that no longer applies escalates nothing and looks up no one: the case completed, refused, waiting for the citizen, given a new due time, already escalated, or not there', async () => {
      const a = await app();
      const deps = (a.cases as unknown as { d: { supervisorOf: (d: string | null) => Promise<unknown> } }).d;
      const supervisorOf = deps.supervisorOf;
      const lookups: (string | null)[] = [];
      let meanwhile: (() => Promise<unknown>) | null = null;
      deps.supervisorOf = async (d) => {
        lookups.push(d);
        const f = meanwhile;
        meanwhile = null;
        if (f) await f();
        return supervisorOf(d);
      };
      const [done, refused, waiting, moved, late] = [await seniorCase(a, 'o_applicant', '甲'), await seniorCase(a, 'o_applicant', '乙'), await seniorCase(a, 'o_applicant', '丙'), await seniorCase(a, 'o_applicant', '丁'), await seniorCase(a, 'o_applicant', '戊')];
      let dueAt = 0;
      for (const c of [done, refused, waiting, moved, late]) dueAt = (await a.cases.accept(c.id, 'staff:1')).dueAt!;
      await a.cases.complete(done.id, 'staff:1');
      await a.cases.refuse(refused.id, 'staff:1', '不符合办理条件');
      await a.cases.requestCorrection(waiting.id, 'staff:1', '照片看不清楚');
      await a.cases.requestCorrection(moved.id, 'staff:1', '照片看不清楚');
      a.clock.advance(86_400_000);
      const newDue = (await a.cases.correct('o_applicant', moved.id, { note: '已重拍' }, [])).dueAt!;
      expect(newDue).toBeGreaterThan(dueAt);
      a.clock.set(dueAt + 1);
      await a.jobs.runDue();
      expect(lookups).toEqual(['civil-affairs']); // the one case overdue
      // checks already under way when the case moved (not called off): each finds nothing to do
      for (const c of [done, refused, waiting, moved, late]) await a.jobs.enqueue(Cases.OVERDUE, { caseId: c.id, dueAt });
      await a.jobs.enqueue(Cases.OVERDUE, { caseId: late.id + 1000, dueAt });
      await a.jobs.runDue();
      expect(lookups).toEqual(['civil-affairs']);
      expect((await a.jobs.list({ name: Cases.OVERDUE })).filter((j) => j.status !== 'done' && j.status !== 'cancelled')).toEqual([expect.objectContaining({ runAt: newDue, status: 'pending' })]);
      for (const c of [done, refused, waiting, moved]) expect(await a.cases.get(c.id), c.caseNo).toMatchObject({ escalatedAt: null, escalatedTo: null });
      expect((await a.cases.timeline(late.id)).filter((e) => e.kind === 'escalated')).toHaveLength(1);
      // completed while the check looked up the supervisor: not escalated after all
      meanwhile = () => a.cases.complete(moved.id, 'staff:1', '请到中心领卡');
      a.clock.set(newDue + 1);
      await a.jobs.runDue();
      expect(lookups).toEqual(['civil-affairs', 'civil-affairs']);
      expect(await a.cases.get(moved.id)).toMatchObject({ status: 'completed', escalatedAt: null });
      expect((await a.cases.timeline(moved.id)).map((e) => e.kind)).toEqual(['submitted', 'accepted', 'correction_requested', 'corrected', 'completed']);
    });

    it('the deadline check is keyed by the case\'s place on its timeline, and called off by each move that stops the clock', async () => {
      const a = await app();
      const other = await seniorCase(a, 'o_applicant', '张爷爷');
      const c = await seniorCase(a);
      const overdue = async () => (await a.jobs.list({ name: Cases.OVERDUE })).map((j) => [j.uniqueKey, j.status]);
      const accepted = await a.cases.accept(c.id, 'staff:1');
      expect(await overdue()).toEqual([[`case:${c.id}:overdue:${accepted.dueAt}:1`, 'pending']]);
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清楚');
      expect(await overdue()).toEqual([[`case:${c.id}:overdue:${accepted.dueAt}:1`, 'cancelled']]);
      a.clock.advance(86_400_000);
      const back = await a.cases.correct('o_applicant', c.id, { note: '已重拍' }, []);
      await a.cases.complete(c.id, 'staff:1');
      const otherAccepted = await a.cases.accept(other.id, 'staff:1');
      await a.cases.refuse(other.id, 'staff:1', '申请人未满 60 周岁');
      expect(await overdue()).toEqual([
        [`case:${c.id}:overdue:${accepted.dueAt}:1`, 'cancelled'],
        [`case:${c.id}:overdue:${back.dueAt}:3`, 'cancelled'],
        [`case:${other.id}:overdue:${otherAccepted.dueAt}:1`, 'cancelled'],
      ]);
    });

    it('a move the citizen is not told of (their own 补正, a 督办) queues no push', async () => {
      const a = await app();
      const c = await seniorCase(a);
      await a.cases.accept(c.id, 'staff:1');
      await a.cases.requestCorrection(c.id, 'staff:1', '照片看不清楚');
      await a.jobs.runDue();
      const pushes = async () => (await a.jobs.list({ name: Cases.PUSH })).length;
      expect(await pushes()).toBe(3);
      const back = await a.cases.correct('o_applicant', c.id, { note: '已重拍' }, []);
      a.clock.set(back.dueAt! + 1);
      await a.jobs.runDue();
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted', 'accepted', 'correction_requested', 'corrected', 'escalated']);
      expect(await pushes()).toBe(3);
    });

    it('a case\'s pushes wait while another instance is pushing that case, then go out once', async () => {
      const a = await app();
      const c = await seniorCase(a);
      const held = await tryLock(a.kv, `case-push:${c.id}`, 60_000);
      await a.jobs.runDue();
      expect(custom(a)).toEqual([]);
      expect(await a.jobs.list({ name: Cases.PUSH })).toEqual([expect.objectContaining({ status: 'pending', attempts: 1, lastError: expect.stringContaining('another instance is pushing this case') })]);
      await held!.release();
      a.clock.advance(60_000);
      await a.jobs.runDue();
      expect(custom(a)).toEqual([expect.stringMatching(new RegExp(`^已收到您的「老年人优待证（敬老卡）」申请。\\n办件编号：${c.caseNo}`))]);
      expect((await a.jobs.list({ name: Cases.PUSH })).map((j) => j.status)).toEqual(['done']);
    });

    it('every completion told inside the window gets its own rating question; every message names its case', async () => {
      const a = await app();
      const c1 = await seniorCase(a);
      const c2 = await seniorCase(a, 'o_applicant', '张爷爷');
      for (const c of [c1, c2]) {
        await a.cases.accept(c.id, 'staff:1');
        await a.cases.complete(c.id, 'staff:1');
      }
      await a.jobs.runDue();
      const menus = a.emulator!.platform.inbox('o_applicant').filter((i) => i.message.type === 'msgmenu').map((i) => JSON.stringify(i.message));
      expect(menus).toHaveLength(2);
      expect(menus.some((m) => m.includes(`rt-case-${c1.id}-5`)) && menus.some((m) => m.includes(`rt-case-${c2.id}-5`))).toBe(true);
      await a.conversationLog.flush();
      const refs = (await a.conversationLog.history('o_applicant')).filter((m) => m.direction === 'out' && m.ref?.startsWith('case:')).map((m) => m.ref);
      expect(refs.sort()).toEqual([...Array(3).fill(`case:${c1.id}`), `case:${c1.id}:rating`, ...Array(3).fill(`case:${c2.id}`), `case:${c2.id}:rating`].sort());
    });

    it('past the window the template names the step, the note and the time (padded), links to the case or, for a renewal, to applying; no rating question is even queued', async () => {
      const a = await app((p) => {
        Object.assign(item(p, 'residence-permit').application, { validity_days: 2, renewal_reminder_days: 1 });
        p.templates.case_progress.fields.thing5 = '{note}';
        p.templates.case_progress.labels.thing5 = '说明';
      });
      const s = await seniorCase(a);
      const r = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.accept(r.id, 'staff:1');
      await a.cases.complete(r.id, 'staff:1');
      a.clock.set(cst(2027, 1, 5, 9, 5)); // long past the window
      await a.cases.requestCorrection(s.id, 'staff:1', '照片看不清楚，请重拍');
      await a.jobs.runDue();
      const sent = a.emulator!.platform.inbox('o_applicant').filter((i) => i.channel === 'template').map((i) => {
        const d = i.message.data as Record<string, string>;
        return [d.character_string2, d.phrase3, d.thing5, d.time4, i.message.url];
      });
      const casePage = (c: CaseRow) => a.cases.casePage(c);
      expect(sent.sort()).toEqual([
        [s.caseNo, '已提交', '—', '2027-01-05 09:05', casePage(s)],
        [s.caseNo, '需要补正', '照片看不清楚，请重拍', '2027-01-05 09:05', casePage(s)],
        [r.caseNo, '已提交', '—', '2027-01-05 09:05', casePage(r)],
        [r.caseNo, '审核', '—', '2027-01-05 09:05', casePage(r)],
        [r.caseNo, '已办结', '—', '2027-01-05 09:05', casePage(r)],
        [r.caseNo, '即将到期', '—', '2027-01-05 09:05', a.cases.applyPage('residence-permit')],
      ].sort());
      expect((await a.jobs.list({ name: 'outbox.send' })).filter((j) => (JSON.parse(j.payload) as { ref?: string }).ref === `case:${r.id}:rating`)).toEqual([]);
    });

    it('a 补正 replaces only what goes past a field\'s max_files, the oldest first; the timeline is the case\'s own', async () => {
      const a = await app((p) => (item(p, 'residence-permit').application.form.find((f: { id: string }) => f.id === 'proof').max_files = 5));
      const other = await seniorCase(a);
      const proofs = (...names: string[]): Upload[] => names.map((fileName) => ({ fieldId: 'proof', fileName, data: PDF }));
      const c = await a.cases.submit('o_applicant', 'residence-permit', form(), [files()[0]!, ...proofs('p1.pdf', 'p2.pdf', 'p3.pdf')]);
      const current = async () => (await a.cases.attachments(c.id, { current: true })).map((x) => x.fileName);
      const correctWith = async (name: string) => {
        await a.cases.requestCorrection(c.id, 'staff:1', '请补充完整的租房合同');
        await a.cases.correct('o_applicant', c.id, {}, proofs(name));
      };
      await correctWith('p4.pdf'); // four of five
      expect(await current()).toEqual(['me.jpg', 'p1.pdf', 'p2.pdf', 'p3.pdf', 'p4.pdf']);
      await correctWith('p5.pdf'); // exactly five
      expect(await current()).toEqual(['me.jpg', 'p1.pdf', 'p2.pdf', 'p3.pdf', 'p4.pdf', 'p5.pdf']);
      await correctWith('p6.pdf'); // one too many: the oldest goes
      expect(await current()).toEqual(['me.jpg', 'p2.pdf', 'p3.pdf', 'p4.pdf', 'p5.pdf', 'p6.pdf']);
      expect((await a.cases.attachments(c.id)).filter((x) => x.replacedAt !== null).map((x) => x.fileName)).toEqual(['p1.pdf']);
      expect((await a.cases.timeline(c.id)).map((e) => e.kind)).toEqual(['submitted', ...Array(3).fill(['correction_requested', 'corrected']).flat()]);
      expect((await a.cases.timeline(other.id)).map((e) => [e.caseId, e.kind])).toEqual([[other.id, 'submitted']]);
    });

    it('an empty note is no note; the masked form leaves out what was not filled in and shows a field marked not personal as it is', async () => {
      const a = await app((p) => item(p, 'individual-business-licence').application.form.splice(3, 0, { id: 'shop_phone', label: '店铺订餐电话', type: 'phone', personal: 'none', required: false }));
      const s = await seniorCase(a);
      await a.cases.accept(s.id, 'staff:1', '');
      const accepted = (await a.cases.timeline(s.id)).at(-1)!;
      expect(accepted.note).toBe('');
      for (const to of ['public', 'citizen', 'staff'] as const) expect(a.cases.noteShown(accepted, to)).toBeNull();
      const c = await a.cases.submit('o_applicant', 'individual-business-licence', { name: '张三', id_card: ID, phone: '13812345678', shop_phone: '13912345678', shop_name: '张记面馆', shop_address: '示范区天山路 600 弄 2 号', scope: '餐饮', staff: '3' }, [{ fieldId: 'lease', fileName: 'lease.pdf', data: PDF }]);
      const masked = a.cases.maskedForm(c);
      expect(masked.find((x) => x.label === '店铺订餐电话')?.value).toBe('13912345678');
      expect(masked.find((x) => x.label === '联系电话')?.value).not.toBe('13812345678');
      const bare = { ...c, formData: JSON.stringify({ name: '张三', scope: '餐饮' }) } as CaseRow;
      expect(a.cases.maskedForm(bare)).toEqual([
        { label: '经营者姓名', value: '张*' },
        { label: '经营类别', value: '餐饮' },
      ]);
    });

    it('two taps on 删除 at once: one removes the draft file, the other finds it gone; a stored copy left behind is logged', async () => {
      const a = await app();
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'me.jpg', data: JPEG }]);
      const [photo] = (await a.cases.draft('o_applicant', 'residence-permit')).attachments;
      const deps = (a.cases as unknown as { d: { storage: { delete(key: string): Promise<void> }; log: { warn: (...args: unknown[]) => void } } }).d;
      const warned: unknown[][] = [];
      deps.log.warn = (...args: unknown[]) => void warned.push(args);
      expect((await Promise.all([a.cases.removeDraftFile('o_applicant', photo!.id), a.cases.removeDraftFile('o_applicant', photo!.id)])).sort()).toEqual([false, true]);
      expect(warned).toEqual([]);
      await a.cases.saveDraft('o_applicant', 'residence-permit', {}, [{ fieldId: 'photo', fileName: 'me2.jpg', data: JPEG }]);
      const [second] = (await a.cases.draft('o_applicant', 'residence-permit')).attachments;
      const failure = new Error('disk unavailable');
      deps.storage.delete = async () => {
        throw failure;
      };
      expect(await a.cases.removeDraftFile('o_applicant', second!.id)).toBe(true);
      expect(warned).toEqual([[{ err: failure, attachment: second!.id }, 'removed draft file left in storage']]);
    });

    it('one submit per citizen and item at a time: others go through side by side; a wrong field is explained in the profile\'s words', async () => {
      const a = await app();
      const both = await Promise.all([a.cases.submit('o_applicant', 'residence-permit', form(), files()), seniorCase(a), a.cases.submit('o_second', 'residence-permit', form(), files())]);
      expect(both.map((c) => [c.openid, c.serviceId, c.status])).toEqual([
        ['o_applicant', 'residence-permit', 'submitted'],
        ['o_applicant', 'senior-card', 'submitted'],
        ['o_second', 'residence-permit', 'submitted'],
      ]);
      const twice = await Promise.allSettled([seniorCase(a), seniorCase(a)]);
      expect(twice[0]).toMatchObject({ status: 'fulfilled' });
      expect(twice[1]).toMatchObject({ status: 'rejected', reason: { code: 'conflict', message: '您的申请正在提交，请稍等一下，不用重复提交。提交好了会在「我的办件」里看到。' } });
      const bad = await caught(a.cases.submit('o_applicant', 'residence-permit', form({ address: '天山路' }), files()));
      expect([bad.code, bad.message, bad.fields]).toEqual(['invalid', '有几项需要改一下，请看标红的地方。', { address: '在沪居住地址请写到门牌号，例如：示范区天山路 600 弄 2 号 301 室。' }]);
    });

    it('an item without 补正 or 不予受理 says so; a case in progress can be refused', async () => {
      const a = await app((p) => Object.assign(item(p, 'senior-card').application, { correction: false, refusal: false }));
      const s = await seniorCase(a);
      const noCorrection = await caught(a.cases.requestCorrection(s.id, 'staff:1', '照片看不清楚'));
      expect([noCorrection.code, noCorrection.message]).toEqual(['not_allowed', '这个事项不办理补正。']);
      const noRefusal = await caught(a.cases.refuse(s.id, 'staff:1', '不符合办理条件'));
      expect([noRefusal.code, noRefusal.message]).toEqual(['not_allowed', '这个事项不设不予受理。']);
      expect((await a.cases.timeline(s.id)).map((e) => e.kind)).toEqual(['submitted']);
      const r = await a.cases.submit('o_applicant', 'residence-permit', form(), files());
      await a.cases.accept(r.id, 'staff:1');
      await a.cases.advance(r.id, 'staff:1');
      expect(await a.cases.refuse(r.id, 'staff:1', '居住登记信息核验不通过')).toMatchObject({ status: 'refused', step: 'make' });
    });
  });
}
