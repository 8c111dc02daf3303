import type { WorkingCalendar } from '../platform/calendar.ts';
import { HOUR } from '../platform/clock.ts';
import type { Category, DueRule } from '../profile/staff.ts';

/**
 * When a first answer is due, from the request's category, on the calendar and staff's service
 * hours — the one clock: the citizen is promised this time, staff see it, the overdue figures
 * count against it. `hours`: all 24 hours of each day staff are on duty (a weekday desk's Friday
 * 16:00 + 24 h = Monday 16:00; a 7×24 desk's is Saturday 16:00); `office_hours`: only time inside
 * the service hours (Friday 16:00 + 4 h = Monday 11:30 for 9:00–12:00, 13:30–17:30);
 * `working_days`: the end of service hours on the n-th working day.
 */
export function dueAt(rule: DueRule, receivedAt: number, calendar: WorkingCalendar): number {
  if ('hours' in rule) return calendar.addServiceDuration(receivedAt, rule.hours * HOUR);
  if ('office_hours' in rule) return calendar.addServiceHours(receivedAt, rule.office_hours * HOUR);
  return calendar.workingDaysDeadline(receivedAt, rule.working_days);
}

/** The due rule in words, for staff: 24 小时内（值班日计） / 4 个工作小时内 / 3 个工作日内首次答复. */
export function dueRuleWords(c: Category): string {
  const span = (h: number) => (h < 1 ? `${Math.round(h * 60)} 分钟` : `${h} 小时`);
  if ('hours' in c.due) return `${span(c.due.hours)}内（按值班日计）`;
  if ('office_hours' in c.due) return `${span(c.due.office_hours)}内（按工作时间计）`;
  return `${c.due.working_days} 个工作日内首次答复`;
}

export type Urgency = 'closed' | 'answered' | 'overdue' | 'near' | 'normal';

/** How urgent an item is now: what the inbox highlights. */
export function urgency(h: { status: 'open' | 'closed'; dueAt: number | null; firstRepliedAt: number | null }, now: number, nearMs: number): Urgency {
  if (h.status === 'closed') return 'closed';
  if (h.firstRepliedAt !== null) return 'answered';
  if (h.dueAt === null) return 'normal';
  if (now >= h.dueAt) return 'overdue';
  if (h.dueAt - now <= nearMs) return 'near';
  return 'normal';
}

export const URGENCY_NAMES: Record<Urgency, string> = { closed: '已办结', answered: '已答复', overdue: '已超时', near: '即将到期', normal: '办理中' };

/** First-reply speed as the seeds measure it: instant / same day / next (working) day / later / none. */
export type Speed = 'instant' | 'same_day' | 'next_day' | 'later' | 'none';
export const SPEED_NAMES: Record<Speed, string> = { instant: '即时', same_day: '当天', next_day: '次日', later: '更晚', none: '未回复' };
export const SPEEDS: Speed[] = ['instant', 'same_day', 'next_day', 'later', 'none'];

export function replySpeed(createdAt: number, firstRepliedAt: number | null, calendar: WorkingCalendar, instantMs: number): Speed {
  if (firstRepliedAt === null) return 'none';
  if (firstRepliedAt - createdAt <= instantMs) return 'instant';
  const a = calendar.localParts(createdAt);
  const b = calendar.localParts(firstRepliedAt);
  if (a.year === b.year && a.month === b.month && a.day === b.day) return 'same_day';
  // The next day means the next working day: a Friday question answered on Monday is "next day".
  return calendar.workingDaysBetween(createdAt, firstRepliedAt) <= 1 ? 'next_day' : 'later';
}
