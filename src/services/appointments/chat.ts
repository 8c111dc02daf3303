import type { Answer, ChatEngine, ChatRoute, Dialog, Turn } from '../../chat/engine.ts';
import { numberedList } from '../../chat/format.ts';
import { asChoice } from '../../chat/text.ts';
import type { WorkingCalendar } from '../../platform/calendar.ts';
import type { Clock } from '../../platform/clock.ts';
import type { Service } from '../../profile/catalogue.ts';
import type { Hall } from '../../profile/halls.ts';
import type { Texts } from '../../profile/texts.ts';
import { isValidAt } from '../../profile/validity.ts';
import { describeDistance, describeOpenings, type Halls } from '../halls/index.ts';
import { BookingError, CHECK_IN_SCENE, parseCheckInScene, type Appointments } from './index.ts';

const say = (content: string, ref: string): Answer => ({ reply: { type: 'text', content }, ref });
const HINT = '没有这个选项，请回复列表里的数字：';
/** More times than this in a day are offered 上午 / 下午 first. */
const MAX_TIMES = 8;

interface BookState {
  serviceId?: string;
  hallId?: string;
  day?: number;
  start?: number;
  /** Rescheduling this booking. */
  replacing?: number;
  /** 上午 or 下午, when a day has too many times for one list. */
  half?: 'am' | 'pm' | undefined;
  /** What the numbers on screen mean. */
  options?: (string | number)[];
}

/**
 * Appointments in the conversation: 预约 walks through item → hall → day → time → confirm;
 * 我的预约 lists, cancels and moves bookings; a location answers with the nearest halls; scanning a
 * hall's code checks the citizen in. The same commands as the pages.
 */
export class AppointmentChat {
  constructor(
    private readonly appts: Appointments,
    private readonly halls: Halls,
    private readonly calendar: WorkingCalendar,
    private readonly clock: Clock,
    private readonly publicUrl: string,
    private readonly tappable: boolean,
    private readonly texts: Pick<Texts, 'nearest_title' | 'nearest_book_hint' | 'nearest_hint'>,
    private readonly services: Service[] = [],
  ) {}

  /** Whether a hall takes bookings for some live service item. */
  private bookable(hallId: string, now: number): boolean {
    return this.services.some((s) => s.appointment?.halls.includes(hallId) && isValidAt(s, now));
  }

  private list(title: string, labels: string[], back = true): string {
    return numberedList(title, labels, { tappable: this.tappable, back });
  }

  private page(path: string): string {
    return `${this.publicUrl}${path}`;
  }

  // ---- routes ----------------------------------------------------------------------------------

  /** Scanning a hall's check-in code, printed or on its screen (on follow or while following). */
  earlyRoutes(): ChatRoute[] {
    const scene = (t: Turn) => (t.msg.kind === 'scan' || t.msg.kind === 'subscribe' ? ((t.msg as { scene?: string }).scene ?? '') : '');
    return [
      {
        name: 'scan a hall\'s check-in code (取号)',
        when: (_m, t) => scene(t).startsWith(CHECK_IN_SCENE),
        handle: async (_m, t) => this.checkIn(t, scene(t)),
      },
    ];
  }

  /** A location answers with the nearest halls. */
  extraRoutes(): ChatRoute[] {
    return [
      {
        name: 'a location: the nearest halls',
        when: (m) => m.kind === 'location' || m.kind === 'location_select',
        handle: async (m, t) => {
          const point = m as unknown as { latitude: number; longitude: number };
          // Remembered for the session: a booking that follows offers the halls nearest first.
          if (Number.isFinite(point.latitude) && Number.isFinite(point.longitude)) t.session.here = { latitude: point.latitude, longitude: point.longitude };
          return this.nearest(point);
        },
      },
    ];
  }

  private async checkIn(t: Turn, scene: string): Promise<Answer> {
    const parsed = parseCheckInScene(scene);
    const hall = parsed ? this.halls.get(parsed.hallId) : undefined;
    if (!parsed || !hall) return say('这个二维码不是本大厅的签到码，请到服务台咨询。', 'checkin:unknown');
    const hallId = hall.id;
    try {
      const r = await this.appts.checkIn(t.openid, hallId, parsed.code);
      const no = String(r.queueNo).padStart(3, '0');
      return say(
        [`签到成功，欢迎来到${hall.name}！`, `您的排队号：${no} 号`, `前面还有 ${r.ahead} 位，请留意叫号屏。`, `办理事项：${this.appts.serviceName(r.booking.serviceId)}（预约码 ${r.booking.code}）`].join('\n'),
        `checkin:${hallId}`,
      );
    } catch (err) {
      if (err instanceof BookingError) return say(`${hall.name}欢迎您！${err.message}`, `checkin:${hallId}`);
      throw err;
    }
  }

  async nearest(point: { latitude: number; longitude: number }): Promise<Answer> {
    if (!Number.isFinite(point.latitude) || !Number.isFinite(point.longitude)) return say('没能读到您的位置，请再发一次。', 'halls:nearest');
    const now = this.clock.now();
    const lines = [this.texts.nearest_title];
    const near = this.halls.nearest(point, 3);
    for (const [i, { hall, meters }] of near.entries()) {
      const remaining = await this.appts.remainingToday(hall.id, now);
      lines.push(
        '',
        `${i + 1}. ${hall.name} · ${describeDistance(meters)}`,
        hall.address,
        this.openLine(hall, now) + (remaining > 0 ? `；今天还可预约 ${remaining} 个` : ''),
        `<a href="${this.page(`/h5/halls/${hall.id}?lat=${point.latitude}&lng=${point.longitude}`)}">查看大厅和导航</a>`,
      );
    }
    // 预约 only where it can be done: elsewhere the word would go to search, or to staff.
    const hint = near.some(({ hall }) => this.bookable(hall.id, now)) ? this.texts.nearest_book_hint : this.texts.nearest_hint;
    if (hint) lines.push('', hint);
    return say(lines.join('\n'), 'halls:nearest');
  }

  openLine(hall: Hall, now: number): string {
    const s = this.halls.status(hall, now);
    const today = this.halls.openings(hall, now);
    if (s.open) return `今天 ${describeOpenings(today, this.calendar)}，正在开放`;
    const next = s.nextOpen;
    const why = s.closedBecause ? `（${s.closedBecause}）` : '';
    if (next === null) return `暂停开放${why}`;
    const sameDay = this.halls.dayStart(next) === this.halls.dayStart(now);
    const p = this.calendar.localParts(next);
    const at = `${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
    return sameDay ? `今天 ${at} 开门` : `现在不开放${why}，${p.month}月${p.day}日 ${at} 开门`;
  }

  // ---- the 预约 dialog ---------------------------------------------------------------------------

  bookDialog(): Dialog {
    return {
      start: async (t) => {
        const preset = (t.session.dialog?.data as BookState | undefined)?.serviceId;
        return preset && this.appts.service(preset) ? this.chooseHall(t, preset) : this.chooseService(t);
      },
      step: async (t, engine) => this.bookStep(t, engine),
    };
  }

  private state(t: Turn): BookState {
    return (t.session.dialog!.data as BookState) ?? {};
  }

  private goto(t: Turn, step: string, data: BookState): void {
    t.session.dialog = { name: t.session.dialog?.name ?? 'book', step, data: data as Record<string, unknown> };
  }

  private chooseService(t: Turn): Answer {
    // Everything bookable, the citizen's own audience's items first (a 市民 may book for a relative).
    const mine = (s: { audience: string[] }) => s.audience.length === 0 || !t.session.audience || s.audience.includes(t.session.audience);
    const all = this.appts.bookable(t.v.now);
    const items = [...all.filter(mine), ...all.filter((s) => !mine(s))];
    if (items.length === 0) {
      t.session.dialog = null;
      return say('现在没有可以预约的事项。', 'book');
    }
    this.goto(t, 'service', { options: items.map((s) => s.id) });
    return say(this.list('请选择要预约的事项：', items.map((s) => s.name), false) + '\n不约了？回复 00 回到首页', 'book');
  }

  private async chooseHall(t: Turn, serviceId: string, replacing?: number): Promise<Answer> {
    const s = this.appts.service(serviceId)!;
    if (s.appointment.collect.length) {
      t.session.dialog = null;
      return say(`预约「${s.name}」需要填写${s.appointment.collect.map((c) => ({ name: '姓名', phone: '手机号码', id_card: '身份证号码' })[c]).join('、')}，请在页面上预约：\n<a href="${this.page(`/h5/book/${s.id}`)}">去预约${s.name}</a>`, `service:${s.id} via book`);
    }
    const here = t.session.here ?? null;
    const offered = this.appts.hallsFor(serviceId);
    if (offered.length === 1) return this.chooseDay(t, { serviceId, hallId: offered[0]!.id, ...(replacing ? { replacing } : {}) });
    // Nearest first when the citizen has sent where they are.
    const halls = here
      ? this.halls.nearest(here, this.halls.list.length).filter((x) => offered.some((h) => h.id === x.hall.id))
      : offered.map((hall) => ({ hall, meters: null as number | null }));
    this.goto(t, 'hall', { serviceId, options: halls.map((h) => h.hall.id), ...(replacing ? { replacing } : {}) });
    const title = here ? `「${s.name}」可以在这些大厅办理，离您近的在前，请选择：` : `「${s.name}」可以在这些大厅办理，请选择：`;
    return say(this.list(title, halls.map(({ hall, meters }) => `${hall.name}${meters !== null ? ` · ${describeDistance(meters)}` : ''}（${hall.address}）`)), 'book');
  }

  private async chooseDay(t: Turn, st: BookState, hint?: string): Promise<Answer> {
    const days = (await this.appts.days(st.serviceId!, st.hallId!, t.v.now)).filter((d) => d.free > 0);
    if (days.length === 0) {
      t.session.dialog = null;
      return say('这个大厅近几天的预约都满了。可以换个大厅，或直接到大厅现场取号。回复「预约」重新选择。', 'book:full');
    }
    this.goto(t, 'day', { ...st, options: days.map((d) => d.day) });
    const hall = this.halls.get(st.hallId!)!;
    return say(this.list(`${hint ? `${hint}\n` : ''}${hall.name}，请选择日期：`, days.map((d) => `${d.label}（还可约 ${d.free} 个）`)), 'book');
  }

  private async chooseTime(t: Turn, st: BookState, hint?: string): Promise<Answer> {
    const offer = (await this.appts.days(st.serviceId!, st.hallId!, t.v.now)).find((d) => d.day === st.day);
    const all = offer?.slots.filter((x) => x.bookable) ?? [];
    if (all.length === 0) return this.chooseDay(t, st, '这一天已经约满了。');
    const hm = (ms: number) => {
      const p = this.calendar.localParts(ms);
      return `${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
    };
    const morning = (ms: number) => this.calendar.localParts(ms).minutes < 12 * 60;
    const halves = (['am', 'pm'] as const).map((h) => ({ h, slots: all.filter((x) => morning(x.start) === (h === 'am')) })).filter((x) => x.slots.length > 0);
    // Many times in a day are offered in two steps, 上午 / 下午, so no list is longer than a phone screen.
    if (all.length > MAX_TIMES && halves.length > 1 && !st.half) {
      this.goto(t, 'half', { ...st, options: halves.map((x) => x.h) });
      const labels = halves.map((x) => `${x.h === 'am' ? '上午' : '下午'} ${hm(x.slots[0]!.start)}–${hm(x.slots.at(-1)!.end)}（剩 ${x.slots.reduce((n, s) => n + s.free, 0)} 个）`);
      const page = `<a href="${this.page(`/h5/book/${st.serviceId}?hall=${st.hallId}&day=${st.day}`)}">在页面上看全部时间</a>`;
      return say(`${this.list(`${hint ? `${hint}\n` : ''}${offer!.label}，上午还是下午？`, labels)}\n${page}`, 'book');
    }
    const slots = st.half ? (halves.find((x) => x.h === st.half)?.slots ?? all) : all;
    this.goto(t, 'time', { ...st, options: slots.map((x) => x.start) });
    return say(this.list(`${hint ? `${hint}\n` : ''}${offer!.label}${st.half ? (st.half === 'am' ? '上午' : '下午') : ''}，请选择时间：`, slots.map((x) => `${hm(x.start)}–${hm(x.end)}（剩 ${x.free} 个）`)), 'book');
  }

  private confirm(t: Turn, st: BookState): Answer {
    const s = this.appts.service(st.serviceId!)!;
    const hall = this.halls.get(st.hallId!)!;
    const slot = this.appts.describeTime(st.start!, st.start! + s.appointment.slot_minutes * 60_000);
    this.goto(t, 'confirm', st);
    const title = st.replacing ? '请确认改约到：' : '请确认您的预约：';
    return say([title, `事项：${s.name}`, `地点：${hall.name}（${hall.address}）`, `时间：${slot}`, '', this.list('', ['确认预约', '换个时间'], true).trim()].join('\n'), 'book');
  }

  private async bookStep(t: Turn, _engine: ChatEngine): Promise<Answer & { done?: boolean }> {
    const step = t.session.dialog!.step;
    const st = this.state(t);
    const c = t.text === null ? null : asChoice(t.text);
    const pick = <T>(): T | undefined => (c?.kind === 'number' ? (st.options?.[c.n - 1] as T | undefined) : undefined);
    try {
      switch (step) {
        case 'service': {
          const id = pick<string>();
          if (!id) return c?.kind === 'back' ? { ...say('已取消预约。回复 00 回到首页。', 'book'), done: true } : withHint(this.chooseService(t));
          return this.chooseHall(t, id);
        }
        case 'hall': {
          if (c?.kind === 'back') return this.chooseService(t);
          const id = pick<string>();
          if (!id) return this.chooseHall(t, st.serviceId!, st.replacing).then((a) => withHint(a));
          return this.chooseDay(t, { ...st, hallId: id });
        }
        case 'day': {
          if (c?.kind === 'back') return this.appts.hallsFor(st.serviceId!).length > 1 ? this.chooseHall(t, st.serviceId!, st.replacing) : this.chooseService(t);
          const day = pick<number>();
          if (day === undefined) return this.chooseDay(t, st, HINT);
          return this.chooseTime(t, { ...st, day, half: undefined });
        }
        case 'half': {
          if (c?.kind === 'back') return this.chooseDay(t, { ...st, half: undefined });
          const half = pick<'am' | 'pm'>();
          if (half === undefined) return this.chooseTime(t, { ...st, half: undefined }, HINT);
          return this.chooseTime(t, { ...st, half });
        }
        case 'time': {
          if (c?.kind === 'back') return st.half ? this.chooseTime(t, { ...st, half: undefined }) : this.chooseDay(t, st);
          const start = pick<number>();
          if (start === undefined) return this.chooseTime(t, st, HINT);
          return this.confirm(t, { ...st, start });
        }
        case 'confirm': {
          if (c?.kind === 'back' || (c?.kind === 'number' && c.n === 2)) return this.chooseTime(t, st);
          if (!(c?.kind === 'number' && c.n === 1)) return withHint(this.confirm(t, st));
          const booking = st.replacing
            ? await this.appts.reschedule(t.openid, st.replacing, { hallId: st.hallId!, start: st.start!, channel: 'chat', notify: false })
            : await this.appts.book({ openid: t.openid, serviceId: st.serviceId!, hallId: st.hallId!, start: st.start!, channel: 'chat', notify: false });
          return { ...say(this.appts.confirmationText(booking), `service:${booking.serviceId} via book`), done: true };
        }
        default:
          return { ...say('预约流程已过期，请回复「预约」重新开始。', 'book'), done: true };
      }
    } catch (err) {
      if (!(err instanceof BookingError)) throw err;
      if (err.code === 'full' || err.code === 'too_late' || err.code === 'past') return this.chooseTime(t, st, err.message);
      return { ...say(`${err.message}\n回复「预约」重新选择，或回复 00 回到首页。`, 'book:refused'), done: true };
    }
  }

  // ---- 我的预约 ----------------------------------------------------------------------------------

  myBookingsDialog(): Dialog {
    return {
      start: async (t) => this.listMine(t),
      step: async (t) => this.mineStep(t),
    };
  }

  private async listMine(t: Turn, hint?: string): Promise<Answer & { done?: boolean }> {
    const mine = (await this.appts.mine(t.openid, t.v.now)).filter((b) => b.status === 'booked' || b.status === 'checked_in');
    if (mine.length === 0) return { ...say(`${hint ? `${hint}\n` : ''}您现在没有待办的预约。回复「预约」约个时间。`, 'my-bookings'), done: true };
    this.goto(t, 'list', { options: mine.map((b) => b.id) });
    const labels = mine.map((b) => `${this.appts.describeTime(b.startsAt, b.endsAt)} ${this.appts.serviceName(b.serviceId)} · ${this.halls.get(b.hallId)?.name ?? ''}（预约码 ${b.code}）${b.status === 'checked_in' ? ' 已签到' : ''}`);
    return say(`${hint ? `${hint}\n` : ''}${this.list('您的预约，回复数字可以取消或改约：', labels, false)}\n<a href="${this.page('/h5/bookings')}">在页面上查看我的预约</a>`, 'my-bookings');
  }

  private async mineStep(t: Turn): Promise<Answer & { done?: boolean }> {
    const st = this.state(t);
    const c = t.text === null ? null : asChoice(t.text);
    try {
      if (t.session.dialog!.step === 'list') {
        if (c?.kind === 'back') return { ...say('好的。回复 00 回到首页。', 'my-bookings'), done: true };
        const id = c?.kind === 'number' ? (st.options?.[c.n - 1] as number | undefined) : undefined;
        if (id === undefined) return this.listMine(t, HINT);
        const b = await this.appts.own(t.openid, id);
        this.goto(t, 'item', { options: [id] });
        return say([`${this.appts.serviceName(b.serviceId)}（预约码 ${b.code}）`, `${this.appts.describeTime(b.startsAt, b.endsAt)}`, this.halls.get(b.hallId)?.name ?? '', '', this.list('', ['取消这次预约', '改约到其他时间'], true).trim()].join('\n'), 'my-bookings');
      }
      const id = st.options?.[0] as number;
      if (c?.kind === 'back') return this.listMine(t);
      if (c?.kind === 'number' && c.n === 1) {
        const b = await this.appts.cancel(t.openid, id, { notify: false }); // the chat says so itself
        return { ...say(`已取消预约：${this.appts.serviceName(b.serviceId)}，${this.appts.describeTime(b.startsAt, b.endsAt)}。`, 'my-bookings:cancel'), done: true };
      }
      if (c?.kind === 'number' && c.n === 2) {
        const b = await this.appts.own(t.openid, id);
        t.session.dialog = { name: 'book', step: 'day', data: {} };
        return this.chooseDay(t, { serviceId: b.serviceId, hallId: b.hallId, replacing: b.id });
      }
      return this.listMine(t, HINT);
    } catch (err) {
      if (!(err instanceof BookingError)) throw err;
      return { ...say(err.message, 'my-bookings:refused'), done: true };
    }
  }
}

function withHint(a: Answer): Answer {
  if (a.reply?.type !== 'text') return a;
  return { ...a, reply: { type: 'text', content: `${HINT}\n${a.reply.content}` } };
}
