import type { Context } from 'koa';
import type { Capability, Core } from '../../capability.ts';
import { AppointmentChat } from './chat.ts';
import { BookingError, Appointments, checkInScene } from './index.ts';
import { bookBody, bookingCard } from './pages.ts';
import { BookingEntity, type BookingRow } from './entities.ts';
import { HallScreens } from './screen.ts';
import { hallSection } from './staff.ts';
import { csrfOk, readForm } from '../../h5/http.ts';
import { intParam } from '../../h5/kit.ts';
import { message } from '../../h5/layout.ts';
import type { Service } from '../../profile/catalogue.ts';
import { isValidAt } from '../../profile/validity.ts';
import { allowed } from '../../policies/index.ts';
import { html } from '../../web/html.ts';
import { describeOpenings, Halls } from '../halls/index.ts';
import { hallBody, hallsBody, type Here } from '../halls/pages.ts';
import type { Ratings } from '../ratings/index.ts';
import { ratingForm } from '../ratings/pages.ts';

export interface AppointmentsCapability extends Capability {
  halls: Halls;
  appointments: Appointments;
}

/**
 * Halls and appointments (位置服务, 预约): the nearest halls for a sent location, booking a time at a
 * hall in chat or on a page, 我的预约 (cancel, reschedule), check-in by the hall's code with a queue
 * number, the reminder the day before; and the hall's desk in the staff panel.
 */
export function appointmentsCapability(core: Core, needs: { ratings?: Ratings } = {}): AppointmentsCapability {
  const { profile } = core;
  const halls = new Halls(profile.halls, core.calendar);
  const appointments = new Appointments({
    ds: core.db,
    clock: core.clock,
    calendar: core.calendar,
    halls,
    services: profile.services,
    jobs: core.jobs,
    outbox: core.outbox,
    kv: core.kv,
    templates: profile.templates,
    publicUrl: core.publicUrl,
    log: core.log.child({ component: 'appointments' }),
    wording: core.wording,
  });
  const screens = new HallScreens({ kv: core.kv, api: core.api, halls, appointments, clock: core.clock, accountName: profile.account.name });
  const chat = new AppointmentChat(appointments, halls, core.calendar, core.clock, core.publicUrl, profile.conversation.tappable_numbers, profile.texts, profile.services);
  const services = new Map(profile.services.map((s) => [s.id, s]));
  const { ratings } = needs;
  if (ratings) {
    // 好差评 at every service step: a booking served at the hall is rated like a case or a ticket —
    // the item's department, the staff member who marked it served, once, by its own citizen.
    const departmentFor = (serviceId: string) => profile.departments.find((d) => d.handles.includes(serviceId))?.id ?? profile.inbox.default_department;
    const labelOf = (b: BookingRow) => `预约「${appointments.serviceName(b.serviceId)}」（${halls.get(b.hallId)?.name ?? b.hallId}，预约码 ${b.code}）`;
    ratings.register('booking', async (id) => {
      const b = /^\d{1,12}$/.test(id) ? await core.db.getRepository(BookingEntity).findOneBy({ id: Number(id) }) : null;
      return b ? { openid: b.openid, department: departmentFor(b.serviceId), staffId: b.servedBy, finished: b.status === 'served', label: labelOf(b) } : null;
    });
    // The question follows the mark at once, as its own message: inside the 48-hour window it
    // reaches the phone; past it, the booking's page asks (never pressed with a template).
    appointments.onServed(async (b, tx) => {
      const menu = ratings.menu('booking', b.id, core.wording(`您在${halls.get(b.hallId)?.name ?? '大厅'}办理的「${appointments.serviceName(b.serviceId)}」已办结。请为这次办理打个分（自愿评价）：`));
      await core.outbox.send({ openid: b.openid, messages: [menu], ref: `booking:${b.id}:rating` }, { uniqueKey: `booking-rating:${b.id}`, manager: tx });
    });
  }
  const live = (s: Service | undefined): s is Service => !!s && isValidAt(s, core.clock.now());

  return {
    name: 'appointments',
    halls,
    appointments,
    chat: {
      dialogs: { book: chat.bookDialog(), 'my-bookings': chat.myBookingsDialog() },
      early: chat.earlyRoutes(),
      extra: chat.extraRoutes(),
    },
    panel: hallSection({ halls, appointments, api: core.api, screens }),
    routes: () => screens.routes(),
    nav: [{ section: 'halls', label: '大厅', href: '/admin/halls', visible: (a) => allowed(a, 'halls') }],
    pages(r, kit) {
      r.get('/h5/halls', async (ctx) => {
        const now = core.clock.now();
        const here = hereFrom(ctx.query);
        const serviceId = typeof ctx.query.service === 'string' ? ctx.query.service : null;
        const service = serviceId ? services.get(serviceId) : undefined;
        let shown = halls.list;
        if (service) shown = shown.filter((h) => h.windows.some((w) => w.services.includes(service.id)));
        const ordered = here ? halls.nearest(here, halls.list.length).filter((x) => shown.includes(x.hall)) : shown.map((hall) => ({ hall, meters: null }));
        const lines = [];
        for (const { hall, meters } of ordered) {
          lines.push({ hall, meters, status: statusLine(hall.id, now), remaining: await appointments.remainingToday(hall.id, now) });
        }
        const jssdk = await kit.jsSdkFor(ctx);
        kit.render(ctx, profile.texts.halls_title, hallsBody(lines, service?.name ?? null, here), jssdk ? { data: { jssdk } } : {});
      });

      const statusLine = (hallId: string, now: number): string => {
        const hall = halls.get(hallId)!;
        const s = halls.status(hall, now);
        if (s.open) return `正在开放，今天 ${describeOpenings(halls.openings(hall, now), core.calendar)}`;
        if (s.nextOpen === null) return `暂停开放${s.closedBecause ? `（${s.closedBecause}）` : ''}`;
        const p = core.calendar.localParts(s.nextOpen);
        const same = halls.dayStart(s.nextOpen) === halls.dayStart(now);
        return `${s.closedBecause ? `${s.closedBecause}，` : '现在不开放，'}${same ? '今天' : `${p.month}月${p.day}日`} ${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')} 开门`;
      };

      r.get('/h5/halls/:id', async (ctx) => {
        const hall = halls.get(ctx.params.id ?? '');
        if (!hall) return kit.notFound(ctx, '这个大厅');
        const now = core.clock.now();
        const handled = [...new Set(hall.windows.flatMap((w) => w.services))].map((id) => services.get(id)).filter(live);
        const closures = hall.closures.filter((c) => c.until >= halls.dayKey(now)).map((c) => `${c.from === c.until ? dayWords(c.from) : `${dayWords(c.from)}至${dayWords(c.until)}`}${c.reason}`);
        const here = hereFrom(ctx.query);
        const meters = here ? (halls.nearest(here, halls.list.length).find((x) => x.hall.id === hall.id)?.meters ?? null) : null;
        const jssdk = await kit.jsSdkFor(ctx);
        kit.render(
          ctx,
          hall.name,
          hallBody({ hall, status: statusLine(hall.id, now), meters, remaining: await appointments.remainingToday(hall.id, now), closures, calendar: core.calendar, services: handled.map((s) => ({ id: s.id, name: s.name, bookable: !!s.appointment?.halls.includes(hall.id) })) }),
          { back: `/h5/halls${here ? `?lat=${here.latitude}&lng=${here.longitude}` : ''}`, ...(jssdk ? { data: { jssdk } } : {}) },
        );
      });

      // ---- the citizen's own -----------------------------------------------------------------------

      const bookPage = async (ctx: Context, openid: string, serviceId: string, q: { hall?: string; day?: number; start?: number; contact?: Record<string, string>; reschedule?: number; error?: string }) => {
        const service = appointments.service(serviceId);
        if (!service) return kit.notFound(ctx, '可以预约的这项服务');
        const halls = appointments.hallsFor(serviceId);
        const hall = halls.find((h) => h.id === q.hall) ?? halls[0]!;
        const replacing = q.reschedule ? await appointments.own(openid, q.reschedule).catch(() => null) : null;
        const days = await appointments.days(serviceId, hall.id);
        const day = days.find((x) => x.day === q.day) ?? days.find((x) => x.free > 0) ?? days[0] ?? null;
        kit.render(ctx, `预约 · ${service.name}`, bookBody(ctx, appointments, { service, halls, hall, days, day, chosen: q.start ?? null, contact: q.contact ?? {}, replacing, error: q.error ?? null }), {
          back: `/h5/guide/${serviceId}`,
          ...(q.error ? { status: 409 } : {}),
        });
      };

      r.get('/h5/book/:service', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const q = ctx.query as Record<string, string | undefined>;
        await bookPage(ctx, openid, ctx.params.service ?? '', {
          ...(q.hall ? { hall: q.hall } : {}),
          ...(intParam(q.day) !== undefined ? { day: intParam(q.day)! } : {}),
          ...(intParam(q.reschedule) !== undefined ? { reschedule: intParam(q.reschedule)! } : {}),
        });
      });

      r.post('/h5/book/:service', async (ctx) => {
        const openid = await kit.openid(ctx);
        if (!openid) return kit.render(ctx, '请在微信中打开', message('warn', '请重新打开预约页面', '身份信息已过期。', html`<a class="weui-btn weui-btn_primary" href="/h5/book/${ctx.params.service ?? ''}">重新打开</a>`), { status: 401 });
        const form = await readForm(ctx);
        const serviceId = ctx.params.service ?? '';
        if (!csrfOk(ctx, form)) return kit.render(ctx, '请刷新页面', message('warn', '页面已过期', '为了您的安全，请刷新页面后重新提交。', html`<a class="weui-btn weui-btn_primary" href="/h5/book/${serviceId}">刷新</a>`), { status: 403 });
        const hall = form.get('hall') ?? '';
        const start = intParam(form.get('start') ?? undefined);
        const reschedule = intParam(form.get('reschedule') ?? undefined);
        const contact: Record<string, string> = {};
        for (const k of ['name', 'phone', 'id_card']) {
          const v = form.get(k);
          if (v !== null) contact[k] = v.slice(0, 40);
        }
        const again = (error: string, status = 409) =>
          bookPage(ctx, openid, serviceId, { hall, contact, error, ...(start !== undefined ? { start, day: halls.dayStart(start) } : {}), ...(reschedule !== undefined ? { reschedule } : {}) }).then(() => {
            ctx.status = status;
          });
        if (!/^[a-z0-9-]{1,48}$/.test(hall)) return again('请选择大厅。', 400);
        if (start === undefined) return again('请选择一个时间。', 400);
        try {
          const b =
            reschedule !== undefined
              ? await appointments.reschedule(openid, reschedule, { hallId: hall, start, channel: 'h5', notify: true })
              : await appointments.book({ openid, serviceId, hallId: hall, start, contact, channel: 'h5', notify: true });
          ctx.redirect(`/h5/bookings/${b.id}?done=1`);
        } catch (err) {
          if (err instanceof BookingError) return again(err.message, err.code === 'not_found' ? 404 : 409);
          throw err;
        }
      });

      r.get('/h5/bookings', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const now = core.clock.now();
        const mine = await appointments.mine(openid, now);
        const body = mine.length
          ? html`${mine.map((b) => bookingCard(ctx, appointments, b, halls.get(b.hallId), now))}`
          : message('info', '还没有预约', '可以先看看办事指南，再预约到大厅办理的时间。', html`<a class="weui-btn weui-btn_primary" href="/h5/guides">办事指南</a>`);
        kit.render(ctx, '我的预约', body);
      });

      r.get('/h5/bookings/:id', async (ctx) => {
        const openid = await kit.citizen(ctx);
        if (!openid) return;
        const id = intParam(ctx.params.id);
        const b = id === undefined ? null : await appointments.own(openid, id).catch(() => null);
        if (!b) return kit.notFound(ctx, '这条预约');
        const rating = b.status === 'served' && ratings ? await ratingForm(ctx, ratings, 'booking', b.id, `/h5/bookings/${b.id}`) : '';
        const card = html`${bookingCard(ctx, appointments, b, halls.get(b.hallId), core.clock.now())}${rating}`;
        const done = ctx.query.done === '1';
        const note = done ? await kit.messagesNote(openid, '预约详情和前一天的提醒') : null;
        // A booking with a fee (工本费, 挂号费): pay it now, or the place goes back.
        const rule = services.get(b.serviceId)?.appointment;
        const fee = rule?.fee_fen && b.status === 'booked' && core.profile.pay.enabled
          ? html`<p class="wb-card wb-fee" role="status">本预约需缴纳${rule.fee_label} ${(rule.fee_fen / 100).toFixed(2)} 元，预约后 ${rule.pay_within_minutes} 分钟内没有缴纳的，预约会自动取消。 <a class="weui-btn weui-btn_mini weui-btn_primary" href="/h5/pay/for/booking/${b.id}">缴费或查看收据</a></p>`
          : '';
        kit.render(
          ctx,
          done ? '预约成功' : '预约详情',
          note ? html`${message('success', '预约成功', html`${note.text}到大厅后扫码签到取号；随时可以在「我的预约」查看。`, html`<a class="weui-btn weui-btn_default" href="/h5/bookings">我的预约</a>`)}${fee}${card}` : html`${fee}${card}`,
          { back: '/h5/bookings' },
        );
      });

      r.post('/h5/bookings/:id/cancel', async (ctx) => {
        const openid = await kit.openid(ctx);
        const form = await readForm(ctx);
        if (!openid || !csrfOk(ctx, form)) return kit.render(ctx, '请刷新页面', message('warn', '页面已过期', '请回到我的预约，刷新后再试。', html`<a class="weui-btn weui-btn_primary" href="/h5/bookings">我的预约</a>`), { status: 403 });
        const id = intParam(ctx.params.id);
        try {
          if (id === undefined) throw new BookingError('not_found', '没有找到这条预约。');
          await appointments.cancel(openid, id);
          kit.render(ctx, '已取消', message('success', '已取消预约', '名额已经让给其他人了。需要的话可以重新预约。', html`<a class="weui-btn weui-btn_default" href="/h5/bookings">我的预约</a>`));
        } catch (err) {
          if (!(err instanceof BookingError)) throw err;
          kit.render(ctx, '不能取消', message('warn', '不能取消', err.message, html`<a class="weui-btn weui-btn_default" href="/h5/bookings">我的预约</a>`), { status: err.code === 'not_found' ? 404 : 409 });
        }
      });
    },
    async citizen(openid) {
      const rows = await core.db.getRepository(BookingEntity).find({ where: { openid }, order: { startsAt: 'DESC' }, take: 5 });
      let name: string | null = null;
      let phone: string | null = null;
      for (const b of rows) {
        const c = b.contact ? (JSON.parse(b.contact) as Record<string, string>) : {};
        name ??= c.name || null;
        phone ??= c.phone || null;
      }
      return {
        name,
        phone,
        items: rows.map((b) => {
          const p = core.calendar.localParts(b.startsAt);
          const when = `${p.month}月${p.day}日 ${Math.floor(p.minutes / 60)}:${String(p.minutes % 60).padStart(2, '0')}`;
          const ticket = b.queueNo !== null ? `，${b.queueNo} 号` : '';
          return { kind: '预约', label: `${services.get(b.serviceId)?.name ?? b.serviceId} · ${halls.get(b.hallId)?.name ?? b.hallId} ${when}（${BOOKING_STATUS[b.status]}${ticket}）`, href: `/admin/halls/${b.hallId}`, at: b.startsAt };
        }),
      };
    },
    async started() {
      // In the demo, each hall's check-in code exists from the start so the phone page can scan it.
      if (!profile.emulator.enabled) return;
      for (const h of profile.halls) await core.api.qrcode.permanent(checkInScene(h.id)).catch((err) => core.log.warn({ err, hall: h.id }, 'check-in code not created'));
    },
  };
}

const BOOKING_STATUS: Record<BookingRow['status'], string> = { booked: '已预约', checked_in: '已签到', served: '已办理', no_show: '未到', cancelled: '已取消' };

const WEEK = ['周日', '周一', '周二', '周三', '周四', '周五', '周六'];

/** A day as citizens read it: 2026-12-05 → 12月5日（周六）. */
export function dayWords(key: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(key);
  if (!m) return key;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return `${Number(m[2])}月${Number(m[3])}日（${WEEK[d.getUTCDay()]}）`;
}

/** `?lat=…&lng=…` as a point, when both are there and make sense. */
function hereFrom(q: Record<string, unknown>): Here {
  if (typeof q.lat !== 'string' || typeof q.lng !== 'string' || q.lat === '' || q.lng === '') return null;
  const latitude = Number(q.lat);
  const longitude = Number(q.lng);
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude) || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  return { latitude, longitude };
}
