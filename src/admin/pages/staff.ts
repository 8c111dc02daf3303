import type { Department } from '../../profile/staff.ts';
import { html, type SafeHtml } from '../../web/html.ts';
import type { StaffInfo } from '../accounts.ts';
import { AUDIT_ACTIONS, type AuditAction, type AuditRow } from '../audit.ts';
import { ROLE_NAMES, ROLES } from '../../policies/index.ts';
import type { Fmt } from './inbox.ts';
import { csrfField, page, type PageContext } from './layout.ts';

export function staffPage(c: PageContext, o: { staff: StaffInfo[]; departments: Department[]; fmt: Fmt; error?: string; form?: Record<string, string> }): SafeHtml {
  const f = o.form ?? {};
  const deptName = (id: string | null) => (id ? (o.departments.find((d) => d.id === id)?.name ?? id) : '—');
  return page(c, {
    title: '账号管理',
    section: 'staff',
    body: html`<h1 class="page-title">账号管理</h1>
    <div class="grid-staff">
      <section class="card">
        <table class="staff">
          <thead><tr><th>用户名</th><th>姓名</th><th>角色</th><th>部门</th><th>状态</th><th>最近登录</th><th></th></tr></thead>
          <tbody>${o.staff.map(
            (s) => html`<tr class="${s.active ? '' : 'inactive'}">
              <td><code>${s.username}</code></td>
              <td>${s.name}</td>
              <td>${ROLE_NAMES[s.role]}</td>
              <td>${deptName(s.department)}</td>
              <td>${s.active ? (s.mustChangePassword ? '待改密码' : '在岗') : '已停用'}</td>
              <td>${s.lastSignInAt ? o.fmt.short(s.lastSignInAt) : '从未'}</td>
              <td class="row-actions">
                ${s.id === c.actor.id
                  ? html`<span class="muted small">当前账号</span>`
                  : html`<form method="post" action="/admin/staff/${s.id}/reset" class="inline">${csrfField(c)}<button type="submit" class="small" data-confirm="为 ${s.name} 生成新的临时密码？原密码和已有登录将失效。">重置密码</button></form>
                    <form method="post" action="/admin/staff/${s.id}/${s.active ? 'deactivate' : 'activate'}" class="inline">${csrfField(c)}<button type="submit" class="small">${s.active ? '停用' : '启用'}</button></form>`}
              </td>
            </tr>`,
          )}</tbody>
        </table>
      </section>
      <form class="card" method="post" action="/admin/staff">
        <h2>新建账号</h2>
        ${o.error ? html`<p class="error" role="alert">${o.error}</p>` : null}
        ${csrfField(c)}
        <label>用户名<input name="username" required maxlength="32" pattern="[a-z0-9][a-z0-9._\\-]{1,31}" value="${f.username ?? ''}" placeholder="如 li.jingban"></label>
        <label>姓名<input name="name" required maxlength="32" value="${f.name ?? ''}"></label>
        <label>角色<select name="role">${ROLES.map((r) => html`<option value="${r}"${f.role === r ? html` selected` : null}>${ROLE_NAMES[r]}</option>`)}</select></label>
        <label>部门<select name="department"><option value="">（管理员可不选）</option>${o.departments.map((d) => html`<option value="${d.id}"${f.department === d.id ? html` selected` : null}>${d.name}</option>`)}</select></label>
        <p class="muted small">系统生成临时密码，只显示一次；本人首次登录后须修改。</p>
        <button type="submit" class="primary">创建</button>
      </form>
    </div>`,
  });
}

export function auditPage(c: PageContext, o: { rows: AuditRow[]; fmt: Fmt; action: AuditAction | ''; more: boolean }): SafeHtml {
  return page(c, {
    title: '审计日志',
    section: 'audit',
    body: html`<h1 class="page-title">审计日志</h1>
    <form class="filters" method="get" action="/admin/audit">
      <label>操作<select name="action"><option value="">全部</option>${(Object.keys(AUDIT_ACTIONS) as AuditAction[]).map((a) => html`<option value="${a}"${o.action === a ? html` selected` : null}>${AUDIT_ACTIONS[a]}</option>`)}</select></label>
      <button type="submit">筛选</button>
    </form>
    <section class="card">
      <table class="audit">
        <thead><tr><th>时间</th><th>人员</th><th>操作</th><th>对象</th><th>说明</th><th>来源</th></tr></thead>
        <tbody>${o.rows.map(
          (r) => html`<tr>
            <td>${o.fmt.at(r.at)}</td>
            <td>${r.actor === 'system' ? '系统' : r.actor}</td>
            <td>${AUDIT_ACTIONS[r.action] ?? r.action}</td>
            <td>${r.target?.startsWith('handoff:') ? html`<a href="/admin/inbox/${r.target.slice(8)}">会话 #${r.target.slice(8)}</a>` : (r.target ?? '')}</td>
            <td>${r.detail ?? ''}</td>
            <td class="muted small">${r.ip ?? ''}</td>
          </tr>`,
        )}</tbody>
      </table>
      ${o.more ? html`<p class="more"><a href="/admin/audit?${o.action ? `action=${o.action}&` : ''}before=${o.rows.at(-1)!.id}">更早 →</a></p>` : null}
    </section>`,
  });
}
