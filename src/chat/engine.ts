import type { WorkingCalendar } from '../platform/calendar.ts';
import type { Clock } from '../platform/clock.ts';
import type { Kv } from '../platform/kv/index.ts';
import type { Logger } from '../platform/log.ts';
import type { Faq, Service } from '../profile/catalogue.ts';
import type { DialogName, HandoffRouteSpec, NavNode, ReplySpec } from '../profile/conversation.ts';
import type { Wording } from '../profile/texts.ts';
import type { Profile } from '../profile/schema.ts';
import type { CustomMessage } from '../wechat/api/index.ts';
import { spokenText, type InboundMessage } from '../wechat/messages.ts';
import type { Reply } from '../wechat/replies.ts';
import { faqText, guideText, linkLine, listedLabels, numberedList } from './format.ts';
import { promiseWords, type Handoffs } from './handoff.ts';
import { KeywordRules } from './keywords.ts';
import { Navigation, visible, type Visibility } from './navigation.ts';
import { Router, SILENT_KINDS, type Route } from './router.ts';

/**
 * A route of the conversation. One that answers with information only (the citizen's own bills,
 * their case's progress) may say how it answers while staff have the conversation (`glance`): no
 * numbered choices (a number then goes to staff) and no dialog. Without one, it is not consulted then.
 */
export type ChatRoute = Route<Turn, Answer> & { glance?: (m: InboundMessage, t: Turn) => Promise<Answer> };
import { describeOpenings, describeWeekHours, Halls } from '../services/halls/index.ts';
import { hallHoursAnswer, HallNames, type HallAsked } from './hall-hours.ts';
import { IntentReader } from './intent.ts';
import type { SearchHit } from './search.ts';
import { Sessions, type Session } from './session.ts';
import { asChoice, normalizeInput } from './text.ts';

/** What the conversation answers: a reply, what answered (usage counting), and any follow-ups. */
export interface Answer {
  reply: Reply | null;
  ref: string;
  /** Further messages, sent after the reply as customer-service messages. */
  followUps?: CustomMessage[];
  /** The department's own words (a text the profile wrote): the vocabulary is not applied to it. */
  own?: boolean;
}

/** One message being answered. */
export interface Turn {
  msg: InboundMessage;
  openid: string;
  /** Typed text or recognised speech, normalised for matching (NFKC, spaces); null for other messages. */
  text: string | null;
  /** The same, exactly as the citizen wrote it (trimmed): what staff read. */
  said: string | null;
  session: Session;
  v: Visibility;
}

export interface SearchEngine {
  search(query: string, opts: { now: number; audience?: string | null; limit?: number }): SearchHit[];
  /** The evidence gate: answer the first hit at once, show the list, or nothing. Without it, always the list. */
  verdict?(hits: SearchHit[]): 'answer' | 'list' | 'none';
}

/**
 * A multi-step service dialog (ask a question, book a slot …): its state lives in the session.
 * A dialog takes numbered choices (and 0) only, unless it says it takes `freeText` or other
 * message kinds (`takes`); any other message, and any event the citizen makes (a menu tap, a
 * scan), ends it and is answered as if no dialog were open: the citizen is never stuck in a list
 * they have moved on from.
 */
export interface Dialog {
  /** Takes whatever the citizen writes (a question in their own words), not just numbers. */
  freeText?: boolean;
  /**
   * Message kinds it takes besides words: a report dialog takes a sent location (`location`,
   * which also covers the menu's location picker) or a photo (`image`) as part of the report,
   * instead of the location being answered with the nearest halls. Fixed, or read from the
   * dialog's own state (what the rule that started it said).
   */
  takes?: readonly InboundMessage['kind'][] | ((data: Record<string, unknown>) => readonly InboundMessage['kind'][]);
  start(t: Turn, engine: ChatEngine): Promise<Answer>;
  /**
   * What the dialog shows, as information only: no numbered choices, no state kept (links to the
   * pages instead). Given while staff have the conversation, where a number would go to staff and
   * no dialog may start. A dialog without it is not answered then.
   */
  glance?(t: Turn, engine: ChatEngine): Promise<Answer>;
  /** The citizen's next message; return `done: true` when the dialog is over. */
  step(t: Turn, engine: ChatEngine): Promise<Answer & { done?: boolean }>;
}

export interface EngineDeps {
  profile: Profile;
  clock: Clock;
  kv: Kv;
  calendar: WorkingCalendar;
  handoffs: Handoffs;
  /** Durable facts a new session starts from. */
  seed(openid: string): Promise<{ audience: string | null; human: number | null }>;
  /** Remember the citizen's audience on their record. */
  saveAudience(openid: string, audience: string): Promise<void>;
  publicUrl: string;
  search: SearchEngine | null;
  dialogs: Partial<Record<DialogName, Dialog>>;
  logger: Logger;
  /**
   * Capabilities' own routes. `early` ones run right after the silent events (a rating answer, a
   * check-in scan); `extra` ones after menu clicks and numbers, before keyword rules and search
   * (a location, 预约, 进度).
   */
  earlyRoutes?: ChatRoute[];
  extraRoutes?: ChatRoute[];
  /** weiban's own sentences in the department's words (texts.vocabulary). */
  wording?: Wording;
}

/** How a handoff is told and routed: the rule's route, and the sentence that says it is queued. */
export interface HandoffOptions {
  route?: HandoffRouteSpec | undefined;
  /** The sentence saying it is queued ({when}); else the handoff texts' for the reason. */
  queued?: string | undefined;
}

const none = (ref: string): Answer => ({ reply: null, ref });
const text = (content: string, ref: string): Answer => ({ reply: { type: 'text', content }, ref });
/** A text the profile wrote: already in the department's words. */
const own = (content: string, ref: string): Answer => ({ reply: { type: 'text', content }, ref, own: true });

/**
 * The conversation's rules, as one ordered table (see `routes`): a reader scans it to know what
 * happens to any message.
 */
export class ChatEngine {
  readonly navigation: Navigation;
  readonly rules: KeywordRules;
  readonly sessions: Sessions;
  private readonly services: Map<string, Service>;
  private readonly faqs: Map<string, Faq>;
  private readonly router: Router<Turn, Answer>;
  private readonly p: Profile;
  /** Words that ask for a human (转人工 …), normalised. */
  private readonly handoffWords: Set<string>;
  private readonly intents: IntentReader;
  private readonly halls: Halls;
  private readonly hallNames: HallNames;

  constructor(private readonly d: EngineDeps) {
    this.p = d.profile;
    this.handoffWords = new Set(d.profile.handoff.keywords.map((w) => normalizeInput(w)));
    this.navigation = new Navigation(d.profile.navigation);
    this.rules = new KeywordRules(d.profile.keywords, d.profile.synonyms);
    this.services = new Map(d.profile.services.map((s) => [s.id, s]));
    this.faqs = new Map(d.profile.faq.map((f) => [f.id, f]));
    this.sessions = new Sessions(d.kv, d.profile.conversation.session_idle_minutes * 60_000, d.seed);
    this.intents = new IntentReader(d.profile.intents);
    this.halls = new Halls(d.profile.halls, d.calendar);
    this.hallNames = new HallNames(d.profile.halls);
    this.router = new Router(this.routes());
  }

  /** The routing table. Order matters: the first route whose `when` holds answers. */
  private routes(): ChatRoute[] {
    const h = this.p.handoff;
    const words = (list: string[]) => new Set(list.map((w) => normalizeInput(w)));
    const handoffWords = this.handoffWords;
    const leaveWords = words(h.leave_keywords);
    const switchWords = words(this.p.audiences?.switch_keywords ?? []);
    const r = (name: string, when: ChatRoute['when'], handle: (t: Turn) => Promise<Answer>): ChatRoute => ({
      name,
      when,
      handle: async (_m, t) => handle(t),
    });
    return [
      // Capabilities' early routes come first: a silent event may still be theirs (a delivery report).
      ...(this.d.earlyRoutes ?? []),
      r('events that expect no answer', (m) => SILENT_KINDS.has(m.kind), async () => none('silent')),
      r('follow (welcome, or a scene code\'s greeting)', (m) => m.kind === 'subscribe', (t) => this.onFollow(t)),
      r('scan a scene code while following', (m) => m.kind === 'scan', (t) => this.onScene(t, (t.msg as { scene: string }).scene, false)),
      // Also when staff closed it first: the citizen is doing what they were told, not asking anew.
      r('leave the staff conversation', (_m, t) => t.text !== null && leaveWords.has(t.text), (t) => this.leaveHuman(t)),
      r('staff have the conversation', (m, t) => t.session.human !== null && !LOCATION_KINDS.has(m.kind), (t) => this.whileHuman(t)),
      r('home (00 / 首页 / 菜单)', (_m, t) => t.text !== null && asChoice(t.text)?.kind === 'home', async (t) => this.home(t, '')),
      r('a service dialog in progress', (_m, t) => t.session.dialog !== null, (t) => this.continueDialog(t)),
      r('ask for a human', (_m, t) => t.text !== null && handoffWords.has(t.text), (t) => this.handoff(t, 'requested', t.said!)),
      r('switch audience', (_m, t) => t.text !== null && switchWords.has(t.text), async (t) => this.audienceList(t, '')),
      r('a number from the list on screen', (_m, t) => t.text !== null && asChoice(t.text) !== null, (t) => this.choose(t)),
      r('menu click', (m) => m.kind === 'click', (t) => this.onClick(t, (t.msg as { key: string }).key)),
      ...(this.d.extraRoutes ?? []),
      r('book an item (预约社保卡, 我想约个号办护照), or 约 alone', (_m, t) => this.bookingIntent(t) !== null, (t) => this.bookItem(t)),
      // Before the rules that answer with the same hours for every hall; not before one that opens a
      // dialog or hands off (a report from 天山路 written on the way home from work is a report).
      r('the hours of a hall the citizen names (天山路那个中心几点开门)', (_m, t) => this.hallAsked(t) !== null && !this.rulePrevails(t), async (t) => this.hallHours(t)),
      r('keyword rule', (_m, t) => t.text !== null && this.ruleFor(t) !== null, (t) => {
        const rule = this.ruleFor(t)!;
        return this.answer(t, rule.reply, `rule:${rule.id}`);
      }),
      ...(h.mode === 'duty' ? [r('duty desk: words go to the duty officers (with what search finds)', (_m, t) => t.text !== null, (t) => this.toDuty(t))] : []),
      r('search the FAQ and the catalogue', (_m, t) => t.text !== null, (t) => this.searchOrStaff(t)),
      r('image, voice, video, file, link', (m) => ['image', 'voice', 'video', 'shortvideo', 'file', 'link'].includes(m.kind), async () => text(this.p.conversation.non_text_reply, 'non-text')),
      r('anything else', () => true, async () => text(this.p.replies.default, 'default')),
    ];
  }

  routeNames(): string[] {
    return this.router.names();
  }

  async respond(msg: InboundMessage): Promise<Answer> {
    const session = await this.sessions.load(msg.fromUser);
    const spoken = spokenText(msg);
    const normal = spoken === null ? null : normalizeInput(spoken);
    // Only spaces is no text at all: it is neither a question for staff nor a search.
    const said = normal ? spoken : null;
    const t: Turn = {
      msg,
      openid: msg.fromUser,
      text: said === null ? null : normal,
      said: said === null ? null : said.trim(),
      session,
      v: { now: this.d.clock.now(), audience: session.audience },
    };
    if (session.human !== null && !SILENT_KINDS.has(msg.kind) && !(await this.d.handoffs.isOpen(session.human))) {
      // Staff closed it while this session was in flight elsewhere: the database has the last word.
      session.human = null;
    }
    if (session.dialog !== null && !this.dialogTakes(t)) session.dialog = null;
    const routed = await this.router.dispatch(msg, t);
    // Every message keeps the session alive (idle timeout); unfollowing ends it, and with it any
    // open staff conversation (an unfollowed citizen can no longer be written to).
    if (msg.kind === 'unsubscribe') {
      if (session.human !== null) await this.d.handoffs.close(session.human, 'citizen');
      await this.sessions.forget(t.openid);
    } else await this.sessions.save(t.openid, session);
    return this.worded(routed?.result ?? none('none'));
  }

  /** weiban's sentences in the department's words (texts.vocabulary). */
  private worded(a: Answer): Answer {
    const w = this.d.wording;
    if (!w || a.own) return a;
    const reply = a.reply?.type === 'text' ? { ...a.reply, content: w(a.reply.content) } : a.reply;
    const followUps = a.followUps?.map((m) => (m.type === 'text' ? { ...m, content: w(m.content) } : m));
    return { ...a, reply, ...(followUps ? { followUps } : {}) };
  }

  /**
   * The keyword rule a message calls. On a duty desk (handoff.mode: duty) words go to the duty
   * officers, so a rule answers only when the message is its words in full ("违法查询"), or when
   * it hands off itself (an urgent rule routes the message, it does not keep it from staff).
   */
  private ruleFor(t: Turn) {
    const rule = this.rules.match(t.text!, t.v);
    if (!rule || this.p.handoff.mode !== 'duty') return rule;
    if (rule.reply.handoff || rule.reply.dialog === 'ask') return rule;
    return this.rules.match(t.text!, t.v, { whole: true });
  }

  /**
   * Whether the open dialog takes this message (see `Dialog`). A numbered dialog takes a number,
   * and also the words of one of its lines ("确认预约", "取消"), read as that line's number.
   */
  private dialogTakes(t: Turn): boolean {
    const m = t.msg;
    if (SILENT_KINDS.has(m.kind)) return true; // a page view or a location report changes nothing
    const dialog = t.session.dialog!;
    const d = this.d.dialogs[dialog.name];
    if (!d) return false;
    const takes = typeof d.takes === 'function' ? d.takes(dialog.data) : (d.takes ?? []);
    if (takes.includes(m.kind) || (m.kind === 'location_select' && takes.includes('location'))) return true;
    // A location the dialog did not ask for is answered as ever (the nearest halls).
    if (d.freeText) return MESSAGE_KINDS.has(m.kind) && !LOCATION_KINDS.has(m.kind);
    if (t.text === null) return false;
    if (asChoice(t.text) !== null) return true;
    // Words that are also a keyword ("预约") are read as the keyword unless they are a line's words
    // in full: a part of 取消这次预约 must not cancel a booking for someone asking to book.
    const keyword = this.rules.match(t.text, t.v) !== null;
    const n = labelChoice(t.text, dialog.labels ?? [], keyword ? 'whole' : 'part');
    if (n === null) return false;
    if (n !== 'ambiguous') t.text = String(n); // else the dialog asks again, with its hint
    return true;
  }

  /** Remember the numbered lines a dialog just showed, so their words can answer it. */
  private remembered<A extends Answer>(t: Turn, a: A): A {
    if (t.session.dialog) t.session.dialog.labels = a.reply?.type === 'text' ? listedLabels(a.reply.content) : [];
    return a;
  }

  // ---- answers ----------------------------------------------------------------------------------

  /** Turn a profile reply (text, news, service, nav …) into an answer. */
  async answer(t: Turn, spec: ReplySpec, via: string, label?: string): Promise<Answer> {
    const ref = (content: string) => (content === via ? via : `${content} via ${via}`);
    if (spec.text !== undefined) return own(this.absolute(spec.text), via);
    if (spec.news) {
      const n = spec.news;
      return { reply: { type: 'news', article: { title: n.title, description: n.description ?? '', url: this.url(n.url), ...(n.pic_url ? { picUrl: this.url(n.pic_url) } : {}) } }, ref: via, own: true };
    }
    if (spec.image) return { reply: { type: 'image', mediaId: spec.image }, ref: via };
    if (spec.link) return own(linkLine(this.url(spec.link.url), spec.link.title, spec.link.description), via);
    if (spec.service) {
      const s = this.services.get(spec.service);
      if (!s || !visible(s, { ...t.v, audience: null })) return this.home(t, '这项服务暂时不提供了。');
      const w = this.d.wording ?? String;
      const lines = [guideText(s), '', linkLine(this.url(`/h5/guide/${s.id}`), w('查看完整办事指南'))];
      if (s.appointment && this.d.dialogs.book && t.session.human === null) {
        lines.push(this.list('', [w('预约到大厅办理')], false).trim());
        t.session.list = { kind: 'actions', actions: [`book:${s.id}`], back: t.session.list?.kind === 'actions' ? t.session.list.back : t.session.list };
      }
      return own(lines.join('\n'), ref(`service:${s.id}`));
    }
    if (spec.faq) {
      const f = this.faqs.get(spec.faq);
      if (!f || !visible(f, { ...t.v, audience: null })) return this.home(t, '这条内容已经过期了。');
      return own(faqText(f), ref(`faq:${f.id}`));
    }
    if (spec.nav) {
      const found = this.navigation.find(spec.nav);
      if (!found) return this.home(t, '');
      return this.openNode(t, found.node, found.path, via);
    }
    if (spec.dialog) return this.startDialog(t, spec.dialog, spec.dialog === 'ask' ? { prompt: spec.prompt, accept: spec.accept, route: spec.route } : spec.dialog === 'ticket' ? { ...(spec.ticket ?? {}) } : {});
    if (spec.handoff) return this.handoff(t, 'requested', this.question(t, label), { route: spec.route });
    if (spec.home) return { ...this.home(t, ''), ref: via };
    if (spec.switch_audience) return { ...this.audienceList(t, ''), ref: via };
    return none(via);
  }

  /**
   * What staff read as the question of a handoff the citizen asked for: their words, or — for a
   * number or a menu tap — the entry they chose ("事故快处（菜单）"), never the digit typed.
   */
  private question(t: Turn, label: string | undefined): string {
    if (t.said !== null && t.msg.kind !== 'click' && asChoice(t.text!) === null) return t.said;
    return label ? `${label}（菜单）` : '（通过菜单转人工）';
  }

  /** The name of the menu button with this click key. */
  private buttonName(key: string): string | undefined {
    for (const b of this.p.menu?.buttons ?? []) {
      for (const leaf of 'sub_button' in b ? b.sub_button : [b]) if ('key' in leaf && leaf.key === key) return leaf.name;
    }
    return undefined;
  }

  /** A node: a branch shows its list; a leaf answers. */
  private async openNode(t: Turn, node: NavNode, path: string[], via?: string): Promise<Answer> {
    if (node.children) {
      const choices = this.navigation.choices(path, t.v);
      if (!choices || choices.length === 0) return this.home(t, '');
      t.session.list = { kind: 'nav', path };
      return own(this.list(node.title, choices.map((c) => c.title), true), via ?? `nav:${node.id}`);
    }
    return this.answer(t, node.reply!, via ?? `nav:${node.id}`, node.title);
  }

  private list(title: string, labels: string[], back: boolean, hint?: string): string {
    return numberedList(hint ? `${hint}\n${title}` : title, labels, { tappable: this.p.conversation.tappable_numbers, back });
  }

  /** The home list (the top of the navigation), after a greeting line. */
  home(t: Turn, greeting: string): Answer {
    t.session.dialog = null; // home ends whatever was in progress
    if (this.needsAudience(t)) return this.audienceList(t, greeting);
    t.session.list = { kind: 'nav', path: [] };
    const choices = this.navigation.choices([], t.v) ?? [];
    const body = this.list(this.p.conversation.home_title, choices.map((c) => c.title), false);
    return own([greeting, body, this.p.conversation.welcome.keyword_hint].filter(Boolean).join('\n'), 'home');
  }

  private needsAudience(t: Turn): boolean {
    return !!this.p.audiences && t.session.audience === null && !this.p.audiences.default;
  }

  private audienceList(t: Turn, greeting: string): Answer {
    const a = this.p.audiences;
    if (!a) return this.home(t, greeting);
    t.session.list = { kind: 'audiences' };
    const labels = a.options.map((o) => (o.description ? `${o.name}（${o.description}）` : o.name) + (o.id === t.session.audience ? ' ✓' : ''));
    return text([greeting, this.list('请选择您的身份，我们为您列出常办的事：', labels, false)].filter(Boolean).join('\n'), 'audiences');
  }

  private async onFollow(t: Turn): Promise<Answer> {
    const scene = (t.msg as { scene?: string }).scene;
    if (scene && this.sceneFor(scene)) return this.onScene(t, scene, true);
    if (t.session.audience === null && this.p.audiences?.default) t.session.audience = this.p.audiences.default;
    t.v.audience = t.session.audience;
    const welcome = this.home(t, this.p.conversation.welcome.text);
    return { ...welcome, ref: 'welcome' };
  }

  private sceneFor(scene: string) {
    return this.p.scenes.find((s) => (s.scene.endsWith('*') ? scene.startsWith(s.scene.slice(0, -1)) : s.scene === scene));
  }

  private async onScene(t: Turn, scene: string, following: boolean): Promise<Answer> {
    const s = this.sceneFor(scene);
    if (!s) return following ? this.onFollow({ ...t, msg: { ...t.msg, scene: undefined } as InboundMessage }) : this.home(t, '');
    if (following && t.session.audience === null && this.p.audiences?.default) t.session.audience = this.p.audiences.default;
    if (!s.then) return text(s.greeting, `scene:${s.scene}`);
    const then = await this.answer(t, s.then, `scene:${s.scene}`);
    if (then.reply?.type === 'text') return { ...then, reply: { type: 'text', content: `${s.greeting}\n\n${then.reply.content}` } };
    return { reply: { type: 'text', content: s.greeting }, ref: then.ref, followUps: then.reply ? replyToCustomMessages(then.reply) : [] };
  }

  /**
   * What a menu key stands for, in the order it is looked up: a keyword rule's click key, a
   * navigation node (a branch opens its list), a service item's guide, an FAQ.
   */
  private clickTarget(key: string, v: Visibility): { ref: string; reply?: ReplySpec; branch?: { node: NavNode; path: string[] } } | null {
    const rule = this.rules.forClick(key, v);
    if (rule) return { ref: `rule:${rule.id}`, reply: rule.reply };
    const node = this.navigation.find(key);
    if (node && visible(node.node, v)) return node.node.reply ? { ref: `menu:${key}`, reply: node.node.reply } : { ref: `menu:${key}`, branch: node };
    if (this.services.has(key)) return { ref: `menu:${key}`, reply: { service: key } };
    if (this.faqs.has(key)) return { ref: `menu:${key}`, reply: { faq: key } };
    return null;
  }

  private async onClick(t: Turn, key: string): Promise<Answer> {
    const target = this.clickTarget(key, t.v);
    if (target?.branch) return this.openNode(t, target.branch.node, target.branch.path, target.ref);
    if (target?.reply) return this.answer(t, target.reply, target.ref, this.buttonName(key));
    return this.home(t, '这个菜单暂时没有内容，您可以从下面选择：');
  }

  /** A number (or 0) against the list the citizen is looking at; home when there is none. */
  private async choose(t: Turn): Promise<Answer> {
    const c = asChoice(t.text!)!;
    const list = t.session.list ?? { kind: 'nav', path: [] };
    if (list.kind === 'actions') {
      const action = c.kind === 'number' ? list.actions[c.n - 1] : undefined;
      if (action?.startsWith('book:')) return this.startDialog(t, 'book', { serviceId: action.slice(5) });
      // 0, or a number beyond the offers: it belongs to the list the citizen came from.
      t.session.list = list.back;
      return this.choose(t);
    }
    if (list.kind === 'audiences') {
      const options = this.p.audiences?.options ?? [];
      if (c.kind === 'back') return this.home(t, '');
      if (c.kind !== 'number' || c.n > options.length) return this.audienceList(t, this.p.conversation.out_of_range_hint);
      const chosen = options[c.n - 1]!;
      t.session.audience = chosen.id;
      t.v.audience = chosen.id;
      await this.d.saveAudience(t.openid, chosen.id);
      return { ...this.home(t, `好的，已为您切换到「${chosen.name}」。`), ref: `audience:${chosen.id}` };
    }
    if (list.kind === 'hits') {
      if (c.kind === 'back') return this.home(t, '');
      const ref = c.kind === 'number' ? list.refs[c.n - 1] : undefined;
      if (!ref) return this.showHits(t, list.refs, this.p.conversation.out_of_range_hint);
      return this.answerRef(t, ref, 'search');
    }
    // navigation
    let path = list.path;
    let choices = this.navigation.choices(path, t.v);
    if (!choices) {
      path = [];
      choices = this.navigation.choices([], t.v) ?? [];
    }
    if (c.kind === 'back') {
      // Reading a guide chosen from this list: back is the list itself, one level up from the guide.
      if (list.kind === 'nav' && list.leaf && path.length > 0) {
        const here = this.navigation.find(path[path.length - 1]!)!;
        return this.openNode(t, here.node, here.path);
      }
      if (path.length <= 1) return this.home(t, '');
      const parent = this.navigation.find(path[path.length - 2]!)!;
      return this.openNode(t, parent.node, parent.path);
    }
    const node = c.kind === 'number' ? choices[c.n - 1] : undefined;
    if (!node) {
      t.session.list = { kind: 'nav', path };
      const title = path.length ? this.navigation.find(path[path.length - 1]!)!.node.title : this.p.conversation.home_title;
      return text(this.list(title, choices.map((x) => x.title), path.length > 0, this.p.conversation.out_of_range_hint), 'out-of-range');
    }
    if (!node.children) t.session.list = { kind: 'nav', path, leaf: true };
    return this.openNode(t, node, [...path, node.id]);
  }

  private showHits(t: Turn, refs: string[], hint?: string): Answer {
    const labels = refs.map((r) => this.titleOf(r));
    t.session.list = { kind: 'hits', refs };
    const body = this.list('为您找到这些，回复数字查看：', labels, false, hint);
    return text(`${body}\n没有想找的？回复「转人工」，工作人员会帮您。`, 'search');
  }

  private titleOf(ref: string): string {
    const at = ref.indexOf(':');
    const kind = ref.slice(0, at);
    const id = ref.slice(at + 1);
    if (kind === 'service') return this.services.get(id)?.name ?? id;
    if (kind === 'faq') return this.faqs.get(id)?.question ?? id;
    if (kind === 'nav') return this.navigation.find(id)?.node.title ?? id;
    if (kind === 'menu') return this.buttonName(id) ?? id;
    if (kind === 'hall') return this.p.halls.find((h) => h.id === id)?.name ?? id;
    return id;
  }

  /**
   * What search found, answered: a service item's guide, an FAQ answer, a page of the navigation
   * (a policy, a notice), what a menu button does, a hall's address, phone and today's hours.
   */
  private async answerRef(t: Turn, ref: string, via: string): Promise<Answer> {
    const at = ref.indexOf(':');
    const kind = ref.slice(0, at);
    const id = ref.slice(at + 1);
    if (kind === 'service') return this.answer(t, { service: id }, via);
    if (kind === 'faq') return this.answer(t, { faq: id }, via);
    if (kind === 'nav') {
      const found = this.navigation.find(id);
      if (found && visible(found.node, t.v)) return this.openNode(t, found.node, found.path, `nav:${id} via ${via}`);
    }
    if (kind === 'menu') return { ...(await this.onClick(t, id)), ref: `menu:${id} via ${via}` };
    if (kind === 'hall') {
      const h = this.p.halls.find((x) => x.id === id);
      if (h) {
        const today = this.halls.openings(h, t.v.now);
        const closed = this.halls.closure(h, t.v.now);
        const lines = [
          h.name,
          `地址：${h.address}`,
          ...(h.phone ? [`电话：${h.phone}`] : []),
          `今天：${today.length ? describeOpenings(today, this.d.calendar) : `不开放${closed ? `（${closed}）` : ''}`}`,
          `开放时间：${describeWeekHours(h.hours)}`,
          linkLine(this.url(`/h5/halls/${h.id}`), '查看大厅和导航'),
        ];
        return text(lines.join('\n'), `hall:${id} via ${via}`);
      }
    }
    return this.home(t, '这条内容已经过期了。');
  }

  /** A question about the opening hours of a hall the message names (天山路那个中心几点开门), or null. */
  private hallAsked(t: Turn): HallAsked | null {
    return t.text === null ? null : this.hallNames.asked(t.text, t.v.now, this.d.calendar);
  }

  /** A keyword rule for these words that does something (a dialog, a handoff), not just tell. */
  private rulePrevails(t: Turn): boolean {
    const rule = this.rules.match(t.text!, t.v);
    return !!rule && (rule.reply.dialog !== undefined || rule.reply.handoff === true);
  }

  /** That hall's hours: the day asked about, today, the week ahead (holidays, 调休, closures), from halls.yaml. */
  private hallHours(t: Turn): Answer {
    const asked = this.hallAsked(t)!;
    return text(hallHoursAnswer(asked, this.halls, this.d.calendar, t.v.now, this.url(`/h5/halls/${asked.hall.id}`)), `hall-hours:${asked.hall.id}`);
  }

  /** A booking intent the routes act on: not when another rule owns the words (我的预约, 取消预约). */
  private bookingIntent(t: Turn): { rest: string } | null {
    if (t.text === null || !this.d.dialogs.book) return null;
    const intent = this.intents.booking(t.text);
    if (!intent) return null;
    const rule = this.rules.match(t.text, t.v);
    if (rule && rule.reply.dialog !== 'book') return null;
    return intent;
  }

  /**
   * 预约社保卡 / 我想约个号办护照 / 办护照可以先预约吗: booking that item (its hall, day and time);
   * an item that is not booked ahead answers with its guide; an FAQ that answers the question
   * itself (结婚登记要预约吗) answers; with no item named (约, 我想预约), booking starts with the
   * list of what can be booked.
   */
  private async bookItem(t: Turn): Promise<Answer> {
    const intent = this.bookingIntent(t)!;
    const opts = { now: t.v.now, audience: t.session.audience, limit: 3 };
    if (intent.rest) {
      const whole = this.d.search?.search(t.text!, opts) ?? [];
      const top = whole[0];
      if (top?.kind === 'faq' && this.d.search?.verdict?.(whole) === 'answer' && /预约|约/.test(top.title)) return this.answerRef(t, top.ref, 'intent:book');
      const item = (this.d.search?.search(intent.rest, opts) ?? []).find((h) => h.kind === 'service');
      if (item) {
        const id = item.ref.slice('service:'.length);
        if (this.services.get(id)?.appointment) return this.startDialog(t, 'book', { serviceId: id });
        return this.answerRef(t, item.ref, 'intent:book');
      }
      // Words besides the booking that name nothing we have: what the profile says to 预约, if anything.
      const rule = this.rules.match(t.text!, t.v);
      if (rule) return this.answer(t, rule.reply, `rule:${rule.id}`);
      return this.searchOrStaff(t);
    }
    return this.startDialog(t, 'book');
  }

  private async searchOrStaff(t: Turn): Promise<Answer> {
    const hits = this.d.search?.search(t.text!, { now: t.v.now, audience: t.session.audience, limit: 5 }) ?? [];
    if (hits.length > 0 && this.d.search?.verdict?.(hits) === 'answer') {
      const a = await this.answerRef(t, hits[0]!.ref, 'search');
      if (a.reply?.type !== 'text' || t.session.dialog) return a;
      return { ...a, reply: { type: 'text', content: `${a.reply.content}\n\n${this.p.texts.search_not_it}` } };
    }
    if (hits.length > 0) return this.showHits(t, hits.map((h) => h.ref));
    await this.d.handoffs.recordUnanswered(t.openid, t.said!);
    if (!this.p.handoff.unanswered_to_staff) return text(this.p.replies.default, 'unanswered');
    return this.handoff(t, 'unanswered', t.said!);
  }

  // ---- staff ------------------------------------------------------------------------------------

  /**
   * Queue the conversation for staff, where the rule's route says (else the inbox chooses), with
   * a promise of when a human answers: the due time of its category — the time staff see as
   * 应首次答复 and the overdue figures count against (one clock).
   */
  async handoff(t: Turn, reason: 'requested' | 'unanswered' | 'dialog', question: string, o: HandoffOptions = {}): Promise<Answer> {
    const h = this.p.handoff;
    if (t.session.human !== null) {
      t.session.humanAck = t.v.now;
      return text(h.texts.already_waiting, 'handoff:waiting');
    }
    // 转人工 again after 结束人工, while the earlier question still waits unanswered: it is theirs
    // again (a new question of its own, or a form's, opens its own conversation).
    if (reason === 'requested' && !o.route && !o.queued) {
      const waiting = await this.d.handoffs.openFor(t.openid);
      if (waiting && waiting.citizenLeftAt !== null && (await this.d.handoffs.resume(waiting.id))) {
        this.withStaff(t, waiting.id);
        return text(h.texts.resumed, 'handoff:resumed');
      }
    }
    const row = await this.d.handoffs.open({ openid: t.openid, reason, question, audience: t.session.audience, route: o.route });
    this.withStaff(t, row.id);
    // Asked for by a tap, a number or the bare words 转人工: the next words are the question.
    if (reason === 'requested' && (t.text === null || t.msg.kind === 'click' || this.handoffWords.has(t.text) || asChoice(t.text) !== null)) t.session.humanAsked = question;
    const template = o.route?.queued ?? o.queued ?? (reason === 'unanswered' ? h.texts.queued_unanswered : h.texts.queued);
    return own(template.replaceAll('{when}', promiseWords(this.d.calendar, t.v.now, row.promisedAt)), `handoff:${reason}${row.urgent ? ':urgent' : ''}`);
  }

  private withStaff(t: Turn, id: number): void {
    t.session.human = id;
    t.session.humanAck = null; // the citizen's next message is acknowledged
    t.session.humanAsked = null;
    t.session.list = null;
    t.session.dialog = null;
  }

  /** What search found, as lines that answer without a number (links to guides, an FAQ's answer in short). */
  private hitLines(hits: SearchHit[]): string[] {
    const short = (s: string) => (s.length > 80 ? `${s.slice(0, 80)}…` : s);
    return hits
      .map((hit) => {
        const at = hit.ref.indexOf(':');
        const kind = hit.ref.slice(0, at);
        const id = hit.ref.slice(at + 1);
        if (kind === 'service') return linkLine(this.url(`/h5/guide/${id}`), this.services.get(id)?.name ?? id);
        if (kind === 'hall') return linkLine(this.url(`/h5/halls/${id}`), this.titleOf(hit.ref));
        if (kind === 'nav') {
          // A page of the navigation (a notice, a policy): its words when it has them.
          const reply = this.navigation.find(id)?.node.reply;
          return reply?.text !== undefined ? `· ${this.titleOf(hit.ref)}：${short(reply.text.replace(/<[^>]+>/g, ''))}` : '';
        }
        const f = kind === 'faq' ? this.faqs.get(id) : undefined;
        return f ? `· ${f.question}：${short(f.answer)}` : '';
      })
      .filter(Boolean);
  }

  /**
   * A duty desk (handoff.mode: duty): the message goes to the duty officers at once, and what
   * search finds is offered beside it as links, which answer without a number (the numbers the
   * citizen types from now on are for the duty officers).
   */
  private async toDuty(t: Turn): Promise<Answer> {
    const texts = this.p.handoff.texts;
    const hits = this.d.search?.search(t.text!, { now: t.v.now, audience: t.session.audience, limit: 3 }) ?? [];
    // To the duty officers (the inbox's default department), whatever guide the citizen read last.
    const queued = await this.handoff(t, 'requested', t.said!, { queued: texts.queued_duty, route: { department: this.p.inbox.default_department } });
    if (queued.reply?.type !== 'text' || hits.length === 0) return queued;
    return { ...queued, reply: { type: 'text', content: [queued.reply.content, '', texts.duty_suggestions, ...this.hitLines(hits)].join('\n') } };
  }

  /**
   * Staff have the conversation: the bot does not talk over them, and is never silent either.
   * Keyword rules and menu taps whose answer is information (text, news, image, link, a guide, an
   * FAQ, a named hall's hours) are answered if the profile allows; anything that would start a list
   * or a dialog is not, since its numbers would go to staff — but the citizen's own matters are:
   * a route's or a dialog's `glance` (缴费, 进度) answers as links, without numbers. 转人工 typed or tapped says the question is waiting. A
   * question search can answer gets what it found, as links (no numbers). And the citizen is told
   * their messages reach staff: at the first message after the handoff, then at most once every
   * `ack_every_minutes`, so a citizen who writes and writes is not answered each time.
   */
  private async whileHuman(t: Turn): Promise<Answer> {
    const h = this.p.handoff;
    const allowed = h.keywords_while_human;
    const notice = (content: string, ref: string): Answer => {
      t.session.humanAck = t.v.now;
      return text(content, ref);
    };
    if (t.msg.kind === 'click') {
      const key = (t.msg as { key: string }).key;
      const target = this.clickTarget(key, t.v);
      const spec = target?.reply;
      if (spec?.handoff) return notice(h.texts.already_waiting, 'handoff:waiting');
      if (allowed && spec && informational(spec)) return this.answer(t, spec, target!.ref);
      // 我的缴费, 查进度: the citizen's own matters, as information (links, no numbers).
      const glance = allowed && spec?.dialog ? this.d.dialogs[spec.dialog]?.glance : undefined;
      if (glance) return glance(t, this);
      return notice(h.texts.menu_while_human, 'with-staff:menu');
    }
    if (t.text !== null && this.handoffWords.has(t.text)) return notice(h.texts.already_waiting, 'handoff:waiting');
    if (t.session.humanAsked && t.said !== null && asChoice(t.text!) === null) {
      await this.d.handoffs.adoptQuestion(t.session.human!, t.session.humanAsked, t.said);
      t.session.humanAsked = null;
    }
    const ack = await this.ackIfDue(t);
    const withAck = (a: Answer): Answer => {
      if (!ack || a.reply?.type !== 'text') return a;
      t.session.humanAck = t.v.now;
      return { ...a, reply: { type: 'text', content: `${a.reply.content}\n\n${ack}` } };
    };
    if (t.text !== null) {
      // Paying never waits for a human: the citizen's bills (and a case's progress) are answered
      // as links, whatever the profile says of keywords, since they are the citizen's own.
      for (const route of this.d.extraRoutes ?? []) {
        if (route.glance && (await route.when(t.msg, t))) return withAck(await route.glance(t.msg, t));
      }
      if (allowed && this.hallAsked(t) && !this.rulePrevails(t)) return withAck(this.hallHours(t));
      const rule = this.rules.match(t.text, t.v);
      if (rule && allowed && informational(rule.reply)) return withAck(await this.answer(t, rule.reply, `rule:${rule.id}`));
      const glance = rule && allowed && rule.reply.dialog ? this.d.dialogs[rule.reply.dialog]?.glance : undefined;
      if (glance) return withAck(await glance(t, this));
      // Words that are no rule's (a rule's would start a list) and no number (a number is for staff).
      const hits = !rule && asChoice(t.text) === null ? (this.d.search?.search(t.text, { now: t.v.now, audience: t.session.audience, limit: 3 }) ?? []) : [];
      const lines = this.hitLines(hits);
      if (lines.length) {
        if (ack) t.session.humanAck = t.v.now;
        return text([...(ack ? [ack, ''] : []), h.texts.found_while_waiting, ...lines].join('\n'), 'with-staff:found');
      }
    }
    return ack ? notice(ack, 'with-staff:received') : none('with-staff');
  }

  /** The acknowledgement due now (see whileHuman), or null when one was given recently. */
  private async ackIfDue(t: Turn): Promise<string | null> {
    const h = this.p.handoff;
    const last = t.session.humanAck ?? null;
    if (last !== null && t.v.now - last < h.ack_every_minutes * 60_000) return null;
    const row = t.session.human !== null ? await this.d.handoffs.get(t.session.human) : null;
    if (!row || row.firstRepliedAt !== null || row.promisedAt <= t.v.now) return h.texts.received_later;
    return h.texts.received.replaceAll('{when}', promiseWords(this.d.calendar, t.v.now, row.promisedAt));
  }

  /**
   * 结束人工: an answered conversation is closed; a question nobody has answered yet stays in the
   * queue for staff (marked that the citizen left), and the citizen is told so.
   */
  private async leaveHuman(t: Turn): Promise<Answer> {
    // Nothing open (staff closed it already, or there never was one): nothing to end, no new question.
    if (t.session.human === null) return { ...this.home(t, '好的。'), ref: 'handoff:none' };
    const how = await this.d.handoffs.leave(t.session.human);
    t.session.human = null;
    t.session.humanAck = null;
    t.session.humanAsked = null;
    if (how === 'kept') return { ...this.home(t, this.p.handoff.texts.left_waiting), ref: 'handoff:left-waiting' };
    return { ...this.home(t, this.p.handoff.texts.left), ref: 'handoff:left' };
  }

  /** Staff closed the conversation: the bot may talk again (used by the staff panel). */
  async staffClosed(openid: string): Promise<void> {
    const s = await this.sessions.load(openid);
    s.human = null;
    await this.sessions.save(openid, s);
  }

  // ---- dialogs ----------------------------------------------------------------------------------

  async startDialog(t: Turn, name: DialogName, data: Record<string, unknown> = {}): Promise<Answer> {
    const d = this.d.dialogs[name];
    if (!d) return this.home(t, '这项服务暂时不能在聊天里办理。');
    t.session.dialog = { name, step: 'start', data };
    t.session.list = null;
    return this.remembered(t, await d.start(t, this));
  }

  private async continueDialog(t: Turn): Promise<Answer> {
    const state = t.session.dialog!;
    const d = this.d.dialogs[state.name];
    if (!d) {
      t.session.dialog = null;
      return this.home(t, '');
    }
    const out = await d.step(t, this);
    if (out.done) t.session.dialog = null;
    return this.remembered(t, out);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  url(u: string): string {
    return u.startsWith('/') ? `${this.d.publicUrl}${u}` : u;
  }

  /** Relative links inside a text become absolute (WeChat opens absolute URLs only). */
  private absolute(s: string): string {
    return s.replace(/href="(\/[^"]*)"/g, (_m, p: string) => `href="${this.d.publicUrl}${p}"`);
  }

  service(id: string): Service | undefined {
    return this.services.get(id);
  }

  /** weiban's own sentences as the profile words them. */
  get texts(): Profile['texts'] {
    return this.p.texts;
  }
}

/**
 * The line a citizen means by its words: the one whose label they wrote, or the only one whose
 * label contains what they wrote (two characters at least; the only one starting with it if
 * several do), or the only one named in it — or, with `whole`, only the first. Words that fit
 * several lines and pick none are `ambiguous`: they are about this list, which is asked again.
 */
export function labelChoice(text: string, labels: string[], match: 'whole' | 'part' = 'part'): number | 'ambiguous' | null {
  const norm = (s: string) => s.normalize('NFKC').toLowerCase().replace(/[\s\p{P}\p{S}]+/gu, '');
  const said = norm(text);
  if (!said) return null;
  const ls = labels.map(norm);
  const exact = ls.indexOf(said);
  if (exact >= 0) return exact + 1;
  if (match === 'whole') return null;
  const containing = said.length >= 2 ? ls.flatMap((l, i) => (l.includes(said) ? [i] : [])) : [];
  if (containing.length === 1) return containing[0]! + 1;
  if (containing.length > 1) {
    const starting = containing.filter((i) => ls[i]!.startsWith(said));
    return starting.length === 1 ? starting[0]! + 1 : 'ambiguous';
  }
  const named = ls.flatMap((l, i) => (l.length >= 2 && said.includes(l) ? [i] : []));
  if (named.length === 1) return named[0]! + 1;
  return named.length > 1 ? 'ambiguous' : null;
}

/** A position the citizen sends: answered with the nearest halls, also while staff have the conversation. */
const LOCATION_KINDS = new Set<InboundMessage['kind']>(['location', 'location_select']);

/** Message kinds a citizen writes or sends (as opposed to events). */
const MESSAGE_KINDS = new Set<InboundMessage['kind']>(['text', 'image', 'voice', 'video', 'shortvideo', 'location', 'link', 'file']);

/** A reply that informs and asks nothing back: safe to give while staff have the conversation. */
function informational(r: ReplySpec): boolean {
  return r.text !== undefined || !!r.news || !!r.image || !!r.link || !!r.service || !!r.faq;
}

/** A reply as the customer-service messages that can carry it after a passive one. */
function replyToCustomMessages(r: Reply): CustomMessage[] {
  switch (r.type) {
    case 'text':
      return [{ type: 'text', content: r.content }];
    case 'news':
      return [{ type: 'news', article: r.article }];
    case 'image':
      return [{ type: 'image', mediaId: r.mediaId }];
    default:
      return [];
  }
}
