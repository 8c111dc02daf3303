import type { Context } from 'koa';
import type { Capability, Core } from '../capability.ts';
import { intOf } from '../admin/body.ts';
import { csrfField, page } from '../admin/pages/layout.ts';
import { html } from '../web/html.ts';
import { qrSvg } from '../web/qr.ts';
import { STAFF_BIND_SCENE } from './index.ts';

/**
 * Staff alerts in the panel (提醒: the list, each opened where it is acted on) and a staff member's
 * own WeChat, bound by scanning a one-time code shown in the panel, to which alerts are sent.
 * The alerts themselves are raised by the capabilities through `core.alerts`.
 */
export function alertsCapability(core: Core): Capability {
  const { alerts } = core;
  return {
    name: 'alerts',
    chat: {
      early: [
        {
          name: 'a staff member scans the code binding their WeChat to their alerts',
          when: (m) => (m.kind === 'scan' || m.kind === 'subscribe') && ((m as { scene?: string }).scene ?? '').startsWith(STAFF_BIND_SCENE),
          handle: async (m) => {
            const staff = await alerts.completeBinding((m as unknown as { scene: string }).scene, m.fromUser);
            if (!staff) return { reply: { type: 'text', content: '这个绑定二维码已经失效，请在工作台「提醒」页面重新生成。' }, ref: 'staff-bind:expired' };
            await core.audit.record({ actor: { kind: 'staff', id: staff.id, username: staff.username, name: staff.name, role: staff.role, department: staff.department }, action: 'wechat-bind', target: `staff:${staff.id}` });
            return { reply: { type: 'text', content: `已绑定：${staff.name}，工作台的紧急提醒会发到这个微信。不再需要时可以在工作台解绑。` }, ref: 'staff-bind:done' };
          },
        },
      ],
    },
    panel(r, kit) {
      r.get('/alerts', kit.signedIn, async (ctx) => {
        const me = kit.actor(ctx);
        const [rows, staff] = await Promise.all([alerts.list(me.id), core.accounts.get(me.id)]);
        const pc = await kit.pageContext(ctx);
        const f = kit.fmt();
        const body = html`
<h1>提醒</h1>
<section class="card">
  <p>${staff?.wechatOpenid ? html`紧急提醒同时发到您绑定的微信。<a href="/admin/account/wechat">管理绑定</a>` : html`绑定您自己的微信后，紧急提醒会同时发到微信，不在电脑前也不会错过。<a href="/admin/account/wechat">去绑定</a>`}</p>
  ${rows.some((a) => a.readAt === null) ? html`<form method="post" action="/admin/alerts/read-all" class="inline">${csrfField(pc)}<button type="submit">全部标为已读</button></form>` : null}
</section>
${
  rows.length
    ? html`<table class="list"><thead><tr><th scope="col">时间</th><th scope="col">内容</th><th scope="col">状态</th></tr></thead><tbody>
${rows.map(
  (a) => html`<tr class="${a.readAt === null ? 'unread' : ''}"><td>${f.short(a.createdAt)}</td><td>${a.urgent ? html`<span class="pill pill-overdue">紧急</span>` : null}<a href="/admin/alerts/${a.id}">${a.title}</a></td><td>${a.readAt === null ? html`<span class="pill pill-near">未读</span>` : html`<span class="pill pill-closed">已读</span>`}</td></tr>`,
)}
</tbody></table>`
    : html`<p class="muted">还没有提醒。</p>`
}`;
        kit.send(ctx, page(pc, { title: '提醒', section: 'alerts', body }));
      });

      r.post('/alerts/read-all', kit.signedIn, async (ctx) => {
        await kit.checkedForm(ctx);
        await alerts.readAll(kit.actor(ctx).id);
        ctx.redirect('/admin/alerts');
      });

      r.get('/alerts/:id', kit.signedIn, async (ctx) => {
        const id = intOf(ctx.params.id ?? null);
        const a = id === null ? null : await alerts.open(kit.actor(ctx).id, id);
        if (!a) return kit.fail(ctx, 404, '没有这条提醒');
        ctx.redirect(a.link);
      });

      // ---- one's own WeChat -----------------------------------------------------------------
      const wechatPage = async (ctx: Context, code?: { url: string; minutes: number }) => {
        const me = await core.accounts.get(kit.actor(ctx).id);
        const pc = await kit.pageContext(ctx);
        const body = html`
<h1>绑定微信</h1>
<section class="card">
  ${
    me?.wechatOpenid
      ? html`<p>已绑定微信（${kit.fmt().at(me.wechatBoundAt ?? 0)} 绑定）。紧急提醒会以模板消息发到这个微信。</p>
<form method="post" action="/admin/account/wechat/unbind">${csrfField(pc)}<button type="submit">解除绑定</button></form>`
      : html`<p>用您自己的微信扫描下面的二维码（需关注本公众号），紧急提醒就会发到您的微信。</p>`
  }
  ${
    code
      ? html`<figure class="qr-bind">${qrSvg(code.url, '绑定微信的二维码')}<figcaption>${code.minutes} 分钟内有效，只能使用一次。</figcaption></figure>`
      : html`<form method="post" action="/admin/account/wechat/code">${csrfField(pc)}<button type="submit" class="primary">${me?.wechatOpenid ? '换绑到另一个微信' : '生成绑定二维码'}</button></form>`
  }
</section>`;
        kit.send(ctx, page(pc, { title: '绑定微信', section: 'account', body }));
      };

      r.get('/account/wechat', kit.signedIn, async (ctx) => wechatPage(ctx));

      r.post('/account/wechat/code', kit.signedIn, async (ctx) => {
        await kit.checkedForm(ctx);
        const { scene, expiresInMs } = await alerts.bindingScene(kit.actor(ctx).id);
        try {
          const qr = await core.api.qrcode.temporary(scene, expiresInMs / 1000);
          await wechatPage(ctx, { url: qr.url, minutes: Math.round(expiresInMs / 60_000) });
        } catch (err) {
          core.log.warn({ err }, 'binding code not created');
          await kit.flash(ctx, 'error', '二维码生成失败，请稍后再试。');
          ctx.redirect('/admin/account/wechat');
        }
      });

      r.post('/account/wechat/unbind', kit.signedIn, async (ctx) => {
        await kit.checkedForm(ctx);
        const me = kit.actor(ctx);
        await core.accounts.bindWeChat(me.id, null);
        await kit.audit.record({ actor: me, action: 'wechat-unbind', target: `staff:${me.id}`, ip: ctx.ip });
        await kit.flash(ctx, 'ok', '已解除绑定，提醒只在工作台显示。');
        ctx.redirect('/admin/account/wechat');
      });
    },
  };
}
