import type { Answer, ChatRoute, Dialog, Turn } from '../../chat/engine.ts';
import { numberedList } from '../../chat/format.ts';
import { asChoice } from '../../chat/text.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { CaseRow } from './entities.ts';
import { CaseError, statusName, type Cases } from './index.ts';

const say = (content: string, ref: string): Answer => ({ reply: { type: 'text', content }, ref });
const EVENT: Record<string, string> = {
  submitted: '提交申请',
  accepted: '已受理',
  advanced: '进入',
  correction_requested: '需要补正材料',
  corrected: '已补正',
  refused: '不予受理',
  completed: '已办结',
  renewal_reminded: '到期提醒',
};

/**
 * Cases in the conversation: 进度 lists the citizen's cases; 进度 <number> shows one (the
 * applicant's own, or anyone's with its query code: 进度 <number> <query code>); 申请… links to
 * the item's application page.
 */
export class CaseChat {
  constructor(
    private readonly cases: Cases,
    private readonly calendar: WorkingCalendar,
    private readonly publicUrl: string,
    private readonly tappable: boolean,
  ) {}

  extraRoutes(): ChatRoute[] {
    const byNumber = /^(?:查询?)?进度\s*[:：]?\s*(WB\d{8}-?\d{4})(?:\s+([A-Za-z0-9]{6}))?$/i;
    const apply = /^(?:我要|我想)?(?:网上|在线)?(?:申请|办理)(.{1,20})$/;
    const byCaseNumber = async (t: Turn): Promise<Answer> => {
      const [, no, code] = byNumber.exec(t.text!)!;
      const caseNo = no!.toUpperCase().replace(/^(WB\d{8})(\d{4})$/, '$1-$2');
      let c: CaseRow | null;
      try {
        c = await this.cases.lookupLimited(caseNo, { openid: t.openid, ...(code ? { queryCode: code } : {}) }, [`openid:${t.openid}`]);
      } catch (err) {
        if (err instanceof CaseError && err.code === 'too_many') return say(`${err.message}如果是您本人的申请，直接发送「进度」就能看到。`, 'progress:too-many');
        throw err;
      }
      if (!c) return say('没有查到这个办件。如果是帮家人查，请发送「进度 办件编号 查询码」，查询码在申请成功的消息里。', 'progress:not-found');
      return say(await this.describe(c, c.openid === t.openid), `case:${c.id} via progress`);
    };
    return [
      {
        name: '进度 with a case number (and a query code)',
        when: (_m, t) => t.text !== null && byNumber.test(t.text),
        // Information only: also while staff have the conversation.
        glance: async (_m, t) => byCaseNumber(t),
        handle: async (_m, t) => byCaseNumber(t),
      },
      {
        name: '申请… (an item that can be applied for online)',
        when: (_m, t) => t.text !== null && apply.test(t.text) && this.match(t.text).length > 0,
        handle: async (_m, t) => {
          const items = this.match(t.text!);
          const links = items.map((s) => `<a href="${this.publicUrl}/h5/apply/${s.id}">网上申请${s.name}</a>`);
          return say([items.length === 1 ? `「${items[0]!.name}」可以在网上申请，受理后 ${items[0]!.application.time_limit_days} 个工作日内办结：` : '这些事项可以在网上申请：', ...links].join('\n'), `service:${items[0]!.id} via apply`);
        },
      },
    ];
  }

  private match(text: string) {
    const items = this.cases.applicable();
    return items.filter((s) => [s.name, ...s.keywords, ...s.synonyms].some((k) => k.length >= 2 && (text.includes(k) || k.includes(text.replace(/^(?:我要|我想)?(?:网上|在线)?(?:申请|办理)/, '')))));
  }

  progressDialog(): Dialog {
    return {
      start: async (t) => this.list(t),
      glance: async (t) => this.glance(t),
      step: async (t) => {
        const c = t.text === null ? null : asChoice(t.text);
        const ids = (t.session.dialog?.data.ids as number[] | undefined) ?? [];
        const id = c?.kind === 'number' ? ids[c.n - 1] : undefined;
        if (id === undefined) return c?.kind === 'back' ? { ...say('好的。回复 00 回到首页。', 'progress'), done: true } : { ...(await this.list(t, '没有这个选项，请回复列表里的数字：')) };
        const own = await this.cases.own(t.openid, id);
        return { ...say(await this.describe(own, true), `case:${own.id} via progress`), done: true };
      },
    };
  }

  private async list(t: Turn, hint?: string): Promise<Answer> {
    const mine = await this.cases.mine(t.openid);
    if (mine.length === 0) {
      t.session.dialog = null;
      return say(`您还没有在网上申请过事项。\n帮家人查询，请发送「进度 办件编号 查询码」。\n<a href="${this.publicUrl}/h5/apply">看看哪些事项可以网上申请</a>`, 'progress');
    }
    if (mine.length === 1) {
      t.session.dialog = null;
      return say(await this.describe(mine[0]!, true), `case:${mine[0]!.id} via progress`);
    }
    t.session.dialog = { name: 'progress', step: 'list', data: { ids: mine.map((c) => c.id) } };
    const labels = mine.map((c) => `${this.cases.service(c.serviceId)?.name ?? c.serviceId}：${this.current(c)}（${c.caseNo}）`);
    return say(`${hint ? `${hint}\n` : ''}${numberedList('您的办件，回复数字查看进度：', labels, { tappable: this.tappable, back: false })}\n<a href="${this.publicUrl}/h5/cases">在页面上查看我的办件</a>`, 'progress');
  }

  /**
   * The citizen's cases as information only (while staff have the conversation): one case in full,
   * several as links to their pages, no numbers to reply.
   */
  private async glance(t: Turn): Promise<Answer> {
    const mine = await this.cases.mine(t.openid);
    if (mine.length <= 1) {
      const a = await this.list(t);
      t.session.dialog = null;
      return a;
    }
    const lines = mine.map((c) => `· <a href="${this.publicUrl}/h5/cases/${c.id}">${this.cases.service(c.serviceId)?.name ?? c.serviceId}：${this.current(c)}（${c.caseNo}）</a>`);
    return say(['您的办件，点开看进度：', ...lines].join('\n'), 'progress');
  }

  private current(c: CaseRow): string {
    if (c.status === 'in_progress') return this.cases.stepStatus(c.serviceId, c.step);
    return statusName(c.status);
  }

  private when(t: number): string {
    const p = this.calendar.localParts(t);
    return `${p.month}月${p.day}日 ${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
  }

  /** A case's progress as a message: where it is now, the promise, the last moves. */
  async describe(c: CaseRow, own: boolean): Promise<string> {
    const events = (await this.cases.timeline(c.id)).filter((e) => e.kind !== 'escalated');
    const name = this.cases.service(c.serviceId)?.name ?? c.serviceId;
    const lines = [`【${name}】${c.caseNo}`, `当前：${this.current(c)}`];
    if (c.status === 'correction') lines.push(`需要补充：${c.correctionRequest}`);
    if (c.dueAt && (c.status === 'in_progress' || c.status === 'correction')) {
      const p = this.calendar.localParts(c.dueAt);
      lines.push(`承诺 ${p.month}月${p.day}日前办结${c.pausedAt ? '（补正期间暂停计时）' : ''}`);
    }
    lines.push('');
    for (const e of events.slice(-5).reverse()) {
      const what = e.kind === 'advanced' ? `进入「${this.cases.stepName(c.serviceId, e.step ?? '')}」` : EVENT[e.kind] ?? e.kind;
      const note = e.kind === 'correction_requested' ? null : this.cases.noteShown(e, own ? 'citizen' : 'public');
      lines.push(`${this.when(e.createdAt)} ${what}${note ? `：${note}` : ''}`);
    }
    if (own) lines.push('', `<a href="${this.publicUrl}/h5/cases/${c.id}">查看详情${c.status === 'correction' ? '、补充材料' : ''}</a>`);
    return lines.join('\n');
  }
}
