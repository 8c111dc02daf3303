import { html, type SafeHtml } from '../../web/html.ts';
import { bare, csrfField, page, type PageContext } from './layout.ts';

export function signInPage(o: { accountName: string; csrf: string; username?: string; error?: string; next?: string }): SafeHtml {
  return bare(
    '登录',
    o.accountName,
    html`<form class="card signin" method="post" action="/admin/login" autocomplete="on">
      <h1><b>微办</b> 工作台</h1>
      <p class="muted">${o.accountName}</p>
      ${o.error ? html`<p class="error" role="alert">${o.error}</p>` : null}
      <input type="hidden" name="_csrf" value="${o.csrf}">
      ${o.next ? html`<input type="hidden" name="next" value="${o.next}">` : null}
      <label>用户名<input name="username" autocomplete="username" required maxlength="32" value="${o.username ?? ''}" autofocus></label>
      <label>密码<input name="password" type="password" autocomplete="current-password" required maxlength="128"></label>
      <button type="submit" class="primary">登录</button>
      <p class="muted small">账号由管理员创建。连续输错 5 次，账号将锁定 15 分钟。</p>
    </form>`,
  );
}

export function passwordPage(c: PageContext, o: { error?: string; forced?: boolean }): SafeHtml {
  return page(c, {
    title: '修改密码',
    section: 'account',
    body: html`<form class="card narrow" method="post" action="/admin/account/password">
      <h1>修改密码</h1>
      ${o.forced ? html`<p class="notice">这是管理员为您设置的临时密码，请先设置自己的新密码。</p>` : null}
      ${o.error ? html`<p class="error" role="alert">${o.error}</p>` : null}
      ${csrfField(c)}
      <label>当前密码<input name="current" type="password" autocomplete="current-password" required maxlength="128"></label>
      <label>新密码<input name="next" type="password" autocomplete="new-password" required minlength="10" maxlength="128"></label>
      <label>再输一次新密码<input name="repeat" type="password" autocomplete="new-password" required minlength="10" maxlength="128"></label>
      <p class="muted small">至少 12 位（一句好记的话就很好），不能是常见或容易猜的密码（如 Password2026!、1qaz2wsx3edc），不含用户名。修改后，其他设备上的登录将失效。</p>
      <button type="submit" class="primary">保存新密码</button>
    </form>`,
  });
}
