/**
 * "天山路那个中心几点开门", "新华路分中心礼拜六开伐": a question about the opening hours of a hall
 * the citizen names. A hall is named by its name, the distinctive part of it (新华路 of 新华路街道社区事务
 * 受理服务中心), the road it stands on (天山路 of 示范区天山路 600 号), or an alias of its entry in
 * halls.yaml; also as it sounds, since a typo in Chinese is mostly a homophone (新化路). Words that name
 * two halls name neither. The answer is that hall's hours from halls.yaml: the day asked about, today,
 * and the week ahead, with holidays, 调休 working days and the hall's own closures and dates.
 */
import type { WorkingCalendar } from '../platform/calendar.ts';
import type { Hall } from '../profile/halls.ts';
import { describeOpenings, describeWeekHours, type Halls } from '../services/halls/index.ts';
import { linkLine } from './format.ts';
import { PRIMARY } from './pinyin-data.ts';

const DAY = 86_400_000;

/** Words that ask when a place is open. */
const HOURS = /几点|几时|什么时候开|啥时候开|开门|关门|开放|营业|办公时间|工作时间|上班时间|上班[吗么嘛伐不没]|上不上班|下班[了吗么嘛伐没]|开[吗么嘛伐不没着了哇]|关[吗么嘛伐]|休息[吗么嘛伐不]|休不休息|放假[吗么嘛伐不]|歇业/u;

/** What a hall's name ends with, the same for many halls: the part before it is the distinctive one. */
const GENERIC_END = /(?:街道)?(?:社区事务受理服务中心|社区事务受理中心|行政服务中心|政务服务中心|便民服务中心|服务中心|分中心|中心|大厅|服务站)$/u;
/** The district or city a name or address begins with (示范区, 上海市长宁区). */
const PLACE_START = /^(?:[\p{Script=Han}]{2,3}[省市])?[\p{Script=Han}]{1,4}?[区县市]/u;
/** The road of an address. */
const ROAD = /([\p{Script=Han}]{1,5}?(?:大道|路|街|巷))/u;

const WEEKDAY_WORDS: Record<string, number> = { 一: 1, 二: 2, 三: 3, 四: 4, 五: 5, 六: 6, 日: 0, 天: 0, 七: 0 };
const WEEKDAY_NAMES = ['周日', '周一', '周二', '周三', '周四', '周五', '周六'];
const WEEKDAY_INDEX: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

export interface HallAsked {
  hall: Hall;
  /** A day the citizen asked about (明天, 周六, 礼拜天), as a moment in it; null when none (today). */
  day: number | null;
}

let SOUND: Map<string, string> | null = null;

/** Toneless pinyin of a Han character (its commonest reading), or the character itself. */
function sound(ch: string): string {
  if (!SOUND) {
    SOUND = new Map();
    for (const line of PRIMARY) {
      const syl = /^[a-z]+/.exec(line)![0];
      for (const c of line.slice(syl.length)) SOUND.set(c, syl);
    }
  }
  return SOUND.get(ch) ?? ch;
}

const sounds = (s: string): string[] => [...s].map(sound);

function norm(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/[\s\p{P}\p{S}]+/gu, '');
}

/** The halls' names as citizens say them, each kept only where it names one hall. */
export class HallNames {
  private readonly terms: { term: string; sounds: string[]; hall: Hall }[] = [];

  constructor(halls: readonly Hall[]) {
    const byTerm = new Map<string, Set<Hall>>();
    const add = (term: string, hall: Hall) => {
      const t = norm(term);
      if ([...t].length < 2) return;
      byTerm.set(t, (byTerm.get(t) ?? new Set()).add(hall));
    };
    for (const h of halls) {
      const name = norm(h.name);
      add(name, h);
      const unplaced = name.replace(PLACE_START, '');
      if ([...unplaced].length >= 4) add(unplaced, h);
      const core = unplaced.replace(GENERIC_END, '');
      // 示范区行政服务中心 has no part of its own besides the district: its road names it.
      if (core !== unplaced && [...core].length >= 2) {
        add(core, h);
        add(core.replace(/街道$/u, ''), h);
      }
      const road = ROAD.exec(norm(h.address).replace(PLACE_START, ''));
      if (road) add(road[1]!, h);
      for (const a of h.aliases ?? []) add(a, h);
    }
    for (const [term, hs] of byTerm) if (hs.size === 1) this.terms.push({ term, sounds: sounds(term), hall: [...hs][0]! });
    // The longest first: 新华路街道 before 新华路.
    this.terms.sort((a, b) => b.term.length - a.term.length);
  }

  /** The one hall the words name, or null (none, or two). */
  named(text: string): Hall | null {
    const said = norm(text);
    const heard = sounds(said).join(' ');
    const found = new Set<Hall>();
    for (const t of this.terms) {
      if (said.includes(t.term) || ` ${heard} `.includes(` ${t.sounds.join(' ')} `)) found.add(t.hall);
    }
    return found.size === 1 ? [...found][0]! : null;
  }

  /** A question about a named hall's opening hours, or null. */
  asked(text: string, now: number, calendar: WorkingCalendar): HallAsked | null {
    if (!HOURS.test(text)) return null;
    const hall = this.named(text);
    return hall ? { hall, day: askedDay(text, now, calendar) } : null;
  }
}

/** 今天 / 明天 / 后天 / 周六 / 星期天 / 礼拜六 / 周末: a moment in that day (the next one), or null. */
function askedDay(text: string, now: number, calendar: WorkingCalendar): number | null {
  if (/明天|明儿|明日/u.test(text)) return now + DAY;
  if (/后天/u.test(text)) return now + 2 * DAY;
  const m = /(?:周|星期|礼拜|禮拜)([一二三四五六日天七])/u.exec(text);
  const weekday = m ? WEEKDAY_WORDS[m[1]!]! : /周末|双休/u.test(text) ? 6 : null;
  if (weekday === null) return null;
  const today = WEEKDAY_INDEX[calendar.localParts(now).weekday]!;
  const ahead = (weekday - today + 7) % 7;
  return ahead === 0 ? null : now + ahead * DAY;
}

/** One day of a hall, in words: "9:00–17:00", "不开放（系统升级，暂停对外服务）", "休息（法定节假日）". */
function dayLine(h: Hall, halls: Halls, calendar: WorkingCalendar, t: number): string {
  const o = halls.openings(h, t);
  const closure = halls.closure(h, t);
  const kind = calendar.dayKind(t);
  if (o.length) return `${describeOpenings(o, calendar)}${kind === 'makeup_workday' ? '（调休上班）' : kind === 'holiday' ? '（节假日照常开放）' : ''}`;
  if (closure) return `不开放（${closure}）`;
  if (kind === 'holiday') return '休息（法定节假日）';
  return '休息';
}

function dateWords(calendar: WorkingCalendar, t: number): string {
  const p = calendar.localParts(t);
  return `${p.month}月${p.day}日 ${WEEKDAY_NAMES[WEEKDAY_INDEX[p.weekday]!]}`;
}

/** Where today stands: open now, opening later, closed for the day. */
function todayLine(h: Hall, halls: Halls, calendar: WorkingCalendar, now: number): string {
  const o = halls.openings(h, now);
  const day = dayLine(h, halls, calendar, now);
  if (!o.length) return day;
  const hm = (ms: number) => {
    const p = calendar.localParts(ms);
    return `${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
  };
  const current = o.find((x) => x.start <= now && now < x.end);
  if (current) return `${day}，现在开着，${hm(current.end)} 关门`;
  const later = o.find((x) => x.start > now);
  if (later) return `${day}，${hm(later.start)} 开门`;
  return `${day}，今天已经下班了`;
}

/** The answer: the hall, the day asked about, today, the next days, its weekly hours and its page. */
export function hallHoursAnswer(asked: HallAsked, halls: Halls, calendar: WorkingCalendar, now: number, page: string): string {
  const h = asked.hall;
  const lines = [h.name];
  if (asked.day !== null) lines.push(`${dateWords(calendar, asked.day)}：${dayLine(h, halls, calendar, asked.day)}`);
  lines.push(`今天（${dateWords(calendar, now)}）：${todayLine(h, halls, calendar, now)}`);
  lines.push('', '接下来几天：');
  for (let d = 1; d <= 7; d++) {
    const t = now + d * DAY;
    lines.push(`${dateWords(calendar, t)}　${dayLine(h, halls, calendar, t)}`);
  }
  lines.push('', `平时：${describeWeekHours(h.hours)}`, `地址：${h.address}`, `电话：${h.phone}`, linkLine(page, '查看大厅和导航'));
  return lines.join('\n');
}
