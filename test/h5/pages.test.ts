import { describe, expect, it } from 'vitest';
import { CitizenEntity } from '../../src/chat/log.ts';
import { BookingEntity } from '../../src/services/appointments/entities.ts';
import { appsClosedAfterEach, type TestApp } from '../helpers/app.ts';
import { Visitor } from '../helpers/visitor.ts';

const startApp = appsClosedAfterEach();

const cst = (y: number, m: number, d: number, hh = 0, mm = 0) => Date.UTC(y, m - 1, d, hh - 8, mm);

async function setup() {
  const a = await startApp();
  // the pages live at PUBLIC_URL (http://localhost:<port>), where the web authorisation returns
  const base = `http://localhost:${a.port}`;
  return { a, base, visitor: (openid?: string) => {
    const v = new Visitor(base);
    if (openid) v.cookie('emu_openid', openid); // the emulated WeChat browser knows who this is
    return v;
  } };
}

describe('guides and halls: open to anyone', () => {
  it('a guide needs no sign-in at all, escapes what it shows, and names what to bring', async () => {
    const { visitor } = await setup();
    const r = await visitor().get('/h5/guide/passport', false);
    expect(r.status).toBe(200);
    expect(r.location).toBeNull();
    expect(r.text).toContain('需要带的材料');
    expect(r.text).toContain('href="/h5/book/passport"');
    expect((await visitor().get('/h5/guide/no-such-thing')).status).toBe(404);
    expect((await visitor().get('/h5/guide/%3Cscript%3E')).text).not.toContain('<script>');
  });

  it('halls ordered by distance, with their state and today\'s places; a hall page with a map link and JS-SDK config', async () => {
    const { visitor } = await setup();
    const list = await visitor().get('/h5/halls?lat=31.2197&lng=121.4167');
    const order = [...list.text.matchAll(/href="\/h5\/halls\/([a-z-]+)\?lat=31.2197&amp;lng=121.4167"/g)].map((m) => m[1]);
    expect(order[0]).toBe('jiangsu');
    expect(order).toHaveLength(4); // each hall's link carries where the citizen is
    expect(list.text).toContain('今天还可预约');
    expect(list.text).toMatch(/data-jssdk="\{&quot;appId&quot;/); // for getLocation
    expect((await visitor().get('/h5/halls')).text).toContain('data-locate'); // not located yet: offer it
    const near = await visitor().get('/h5/halls/jiangsu?lat=31.2197&lng=121.4167');
    expect(near.text).toMatch(/离您[\d.]+ 公里/);
    expect(near.text).toContain('href="/h5/halls?lat=31.2197&amp;lng=121.4167"'); // back to the same order
    expect((await visitor().get('/h5/halls/jiangsu?lat=abc&lng=121')).text).not.toContain('离您');
    const hall = await visitor().get('/h5/halls/center');
    expect(hall.text).toContain('data-open-location');
    expect(hall.text).toMatch(/data-jssdk="\{&quot;appId&quot;:&quot;wx/);
    expect(hall.text).toContain('周一至周五 9:00–17:00；周六 9:00–12:00');
    expect(hall.text).toContain('12月5日（周六）系统升级'); // as citizens read a date
    expect(hall.text).not.toContain('2026-12-05');
  });

  it('sends safe headers: no third-party resources, framed only by us', async () => {
    const { base } = await setup();
    const res = await fetch(`${base}/h5/guides`);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
  });
});

describe('booking pages: the citizen through web authorisation', () => {
  it('redirects to snsapi_base authorisation, comes back signed in, books, and sees only their own bookings', async () => {
    const { a, visitor } = await setup();
    const first = await visitor('o_webuser').get('/h5/book/residence-permit', false);
    expect(first.status).toBe(302);
    expect(first.location).toMatch(/\/emulator\/connect\/oauth2\/authorize\?appid=wx[^&]+&redirect_uri=[^&]+&response_type=code&scope=snsapi_base&state=/);

    const v = visitor('o_webuser');
    const page = await v.get(`/h5/book/residence-permit?hall=center&day=${cst(2026, 11, 25)}`);
    expect(page.status).toBe(200);
    expect(page.url).toContain('/h5/book/residence-permit');
    const start = cst(2026, 11, 25, 10);
    expect(page.text).toContain(`value="${start}"`);
    const posted = await v.post('/h5/book/residence-permit', { _csrf: v.csrf(page.text), hall: 'center', start: String(start) });
    expect(posted.status).toBe(302);
    const [booking] = await a.db.getRepository(BookingEntity).findBy({ openid: 'o_webuser' });
    expect(booking).toMatchObject({ channel: 'h5', hallId: 'center', startsAt: start });
    expect(posted.location).toBe(`/h5/bookings/${booking!.id}?done=1`);
    const mine = await v.get('/h5/bookings');
    expect(mine.text).toContain(booking!.code);

    // another citizen cannot see or cancel it by changing the id
    const other = visitor('o_someone_else');
    expect((await other.get(`/h5/bookings/${booking!.id}`)).status).toBe(404);
    const otherPage = await other.get('/h5/bookings');
    expect(otherPage.text).not.toContain(booking!.code);
    const cancelByOther = await other.post(`/h5/bookings/${booking!.id}/cancel`, { _csrf: other.csrf(otherPage.text) });
    expect(cancelByOther.status).toBe(404);
    expect((await a.db.getRepository(BookingEntity).findOneBy({ id: booking!.id }))?.status).toBe('booked');

    // the owner can
    const cancelled = await v.post(`/h5/bookings/${booking!.id}/cancel`, { _csrf: v.csrf(mine.text) });
    expect(cancelled.status).toBe(200);
    expect(cancelled.text).toContain('已取消预约');
  });

  it('after booking, the page tells the truth about the account\'s messages: a non-follower is invited to follow, a follower is told they are sent', async () => {
    const { a, visitor } = await setup();
    const book = async (openid: string, day: number) => {
      const v = visitor(openid);
      const page = await v.get(`/h5/book/residence-permit?hall=center&day=${cst(2026, 11, day)}`);
      const posted = await v.post('/h5/book/residence-permit', { _csrf: v.csrf(page.text), hall: 'center', start: String(cst(2026, 11, day, 10)) });
      return (await v.get(posted.location!)).text;
    };
    // Opened the page from a friend's share, never followed: WeChat refuses to message them (43004).
    const stranger = await book('o_shared_link', 25);
    await a.jobs.runDue();
    expect(a.emulator!.platform.inbox('o_shared_link')).toHaveLength(0);
    expect(stranger).not.toContain('已经发到公众号消息里');
    expect(stranger).not.toContain('也会发到');
    expect(stranger).toContain(`您还没有关注公众号「${a.profile.account.name}」`);
    expect(stranger).toContain('关注');
    // A follower: the details are sent, and the page says so.
    await a.emulator!.act('o_follower', { type: 'subscribe' });
    const follower = await book('o_follower', 26);
    await a.jobs.runDue();
    expect(a.emulator!.platform.inbox('o_follower').length).toBeGreaterThan(0);
    expect(follower).toContain(`也会发到公众号「${a.profile.account.name}」的消息里`);
  });

  it('refuses a form without its CSRF token, malformed fields and forged ids, changing nothing', async () => {
    const { a, visitor } = await setup();
    const v = visitor('o_forms');
    const page = await v.get('/h5/book/passport');
    const csrf = v.csrf(page.text);
    const start = String(cst(2026, 11, 25, 10));
    expect((await v.post('/h5/book/passport', { hall: 'center', start, phone: '13812345678' })).status).toBe(403);
    expect((await v.post('/h5/book/passport', { _csrf: 'x'.repeat(32), hall: 'center', start, phone: '13812345678' })).status).toBe(403);
    const badStart = await v.post('/h5/book/passport', { _csrf: csrf, hall: 'center', start: 'tomorrow', phone: '13812345678' });
    expect(badStart.status).toBe(400);
    expect(badStart.text).toContain('请选择一个时间');
    const badPhone = await v.post('/h5/book/passport', { _csrf: csrf, hall: 'center', start, phone: '123' });
    expect(badPhone.status).toBe(409);
    expect(badPhone.text).toContain('请填写 11 位手机号码');
    expect(badPhone.text).toContain('value="123"'); // what the citizen typed is kept
    const badHall = await v.post('/h5/book/passport', { _csrf: csrf, hall: '../etc', start, phone: '13812345678' });
    expect(badHall.status).toBe(400);
    const full = await v.post('/h5/book/passport', { _csrf: csrf, hall: 'center', start: String(cst(2026, 11, 29, 10)), phone: '13812345678' });
    expect(full.text).toContain('这一天不开放');
    const forged = await v.post('/h5/bookings/999999/cancel', { _csrf: csrf });
    expect(forged.status).toBe(404);
    expect((await v.post('/h5/bookings/abc/cancel', { _csrf: csrf })).status).toBe(404);
    expect(await a.db.getRepository(BookingEntity).count()).toBe(0);
    // the page never shows the phone number in full once booked
    const ok = await v.post('/h5/book/passport', { _csrf: csrf, hall: 'center', start, phone: '13812345678' });
    expect(ok.status).toBe(302);
    const mine = await v.get('/h5/bookings');
    expect(mine.text).toContain('138****5678');
    expect(mine.text).not.toContain('13812345678');
  });

  it('长者模式 is remembered for the citizen, also in a new session', async () => {
    const { a, visitor } = await setup();
    const v = visitor('o_careuser');
    const page = await v.get('/h5/bookings');
    expect(page.text).toContain('<html lang="zh-CN" class="">');
    const toggled = await v.post('/h5/care', { _csrf: v.csrf(page.text), on: '1', next: '/h5/bookings' });
    expect(toggled.location).toBe('/h5/bookings');
    expect((await v.get('/h5/bookings')).text).toContain('<html lang="zh-CN" class="care">');
    expect((await a.db.getRepository(CitizenEntity).findOneBy({ openid: 'o_careuser' }))?.careMode).toBe(true);
    // another phone, same citizen: signing in restores it
    const again = visitor('o_careuser');
    expect((await again.get('/h5/bookings')).text).toContain('class="care"');
    // no open redirect through the switch
    const evil = await v.post('/h5/care', { _csrf: v.csrf(page.text), on: '0', next: 'https://evil.example/' });
    expect(evil.location).toBe('/h5/bookings');
  });

  it('the web authorisation state is unguessable: 128 random bits, new for every sign-in', async () => {
    const { visitor } = await setup();
    const states = [];
    for (let i = 0; i < 2; i++) {
      const r = await visitor('o_webuser').get('/h5/bookings', false);
      states.push(new URL(r.location!, 'http://x').searchParams.get('state'));
    }
    for (const s of states) expect(s).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(states[0]).not.toBe(states[1]);
  });

  it('the web authorisation refuses a forged state and a reused code', async () => {
    const { visitor } = await setup();
    const v = visitor();
    expect((await v.get('/h5/auth?code=abc&state=forged')).status).toBe(400);
  });
});
