// 微办 staff panel: a little progressive enhancement over server-rendered pages.
// Live updates (server-sent events → refetch the changed part), the reply composer, canned
// replies, "显示完整" without leaving the page, confirmations. Everything works without it except
// live updates and image upload. No inline script anywhere: the panel's CSP forbids it.
(() => {
  'use strict';
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const body = document.body;

  // ---- confirmations ---------------------------------------------------------------------------
  document.addEventListener('click', (e) => {
    const btn = e.target instanceof Element ? e.target.closest('[data-confirm]') : null;
    if (btn && !window.confirm(btn.getAttribute('data-confirm'))) e.preventDefault();
  });

  // ---- 显示完整: ask the server (audited) and show the text in place -----------------------------
  document.addEventListener('submit', async (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-reveal')) return;
    e.preventDefault();
    const data = new URLSearchParams(new FormData(form));
    const res = await fetch(form.action, { method: 'POST', body: data, headers: { 'x-requested-with': 'fetch', 'x-csrf-token': csrf }, credentials: 'same-origin' });
    if (!res.ok) return form.submit();
    const { text } = await res.json();
    const what = data.get('what');
    const target = document.querySelector(`[data-msg="${CSS.escape(String(what))}"]`);
    if (target) {
      target.textContent = text; // text, never markup
      target.classList.add('revealed');
    }
    form.remove();
  });

  // ---- the reply composer -------------------------------------------------------------------
  const composer = document.querySelector('form[data-composer]');
  if (composer) {
    const textarea = composer.querySelector('textarea[name="text"]');
    const setKind = () => {
      const kind = composer.querySelector('input[name="kind"]:checked')?.value ?? 'text';
      composer.dataset.kind = kind;
    };
    composer.addEventListener('change', (e) => {
      if (e.target instanceof HTMLInputElement && e.target.name === 'kind') setKind();
    });
    setKind();
    composer.querySelectorAll('[data-canned]').forEach((chip) =>
      chip.addEventListener('click', () => {
        const text = chip.getAttribute('data-canned') ?? '';
        textarea.value = textarea.value.trim() ? `${textarea.value.trimEnd()}\n${text}` : text;
        textarea.focus();
      }),
    );
    const file = composer.querySelector('input[type="file"][data-image-into]');
    const hidden = composer.querySelector('input[name="image_data"]');
    const preview = composer.querySelector('img.preview');
    file?.addEventListener('change', () => {
      const f = file.files?.[0];
      hidden.value = '';
      preview.hidden = true;
      if (!f) return;
      if (f.size > 2 * 1024 * 1024) {
        window.alert('图片不能超过 2 MB');
        file.value = '';
        return;
      }
      const reader = new FileReader();
      reader.onload = () => {
        hidden.value = String(reader.result);
        preview.src = String(reader.result);
        preview.hidden = false;
      };
      reader.readAsDataURL(f);
    });
    composer.addEventListener('submit', () => {
      const btn = composer.querySelector('button[type="submit"]');
      // One submission (the nonce makes a second one harmless anyway).
      setTimeout(() => btn && (btn.disabled = true), 0);
    });
  }

  // ---- the conversation's history opens (and stays) at its latest message ----------------------
  const toLatest = () => {
    const history = document.querySelector('.history');
    if (history) history.scrollTop = history.scrollHeight;
  };
  toLatest();
  document.addEventListener('weiban:refreshed', toLatest);

  // ---- live updates -------------------------------------------------------------------------
  const kind = body.dataset.live;
  if (!kind) return;
  const src = body.dataset.liveSrc;
  const status = document.getElementById('live-status');
  let pulse = body.dataset.pulse ?? '';
  let refreshing = false;

  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const res = await fetch(src, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (res.status === 401) return void (location.href = `/admin/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      if (res.status === 404) return void location.reload();
      if (!res.ok) return;
      pulse = res.headers.get('x-pulse') ?? pulse;
      const html = await res.text();
      // The fragment was rendered (and escaped) by the server, like the page itself.
      const tpl = document.createElement('template');
      tpl.innerHTML = html;
      if (kind === 'list') {
        document.getElementById('live').replaceChildren(tpl.content);
        const counts = JSON.parse(res.headers.get('x-counts') ?? '{}');
        const badge = document.getElementById('nav-waiting');
        if (badge && typeof counts.waiting === 'number') {
          badge.textContent = String(counts.waiting);
          badge.hidden = counts.waiting === 0;
        }
        const esc = document.getElementById('nav-escalated');
        if (esc && typeof counts.escalated === 'number') {
          esc.querySelector('.badge').textContent = String(counts.escalated);
          esc.hidden = counts.escalated === 0;
        }
        document.querySelectorAll('.tabs a').forEach((a) => {
          const view = new URL(a.href).searchParams.get('view');
          const n = counts[view];
          let em = a.querySelector('em.badge');
          if (typeof n !== 'number') return;
          if (n === 0) return em?.remove();
          if (!em) {
            em = document.createElement('em');
            em.className = view === 'escalated' ? 'badge badge-red' : 'badge';
            a.append(em);
          }
          em.textContent = String(n);
        });
      } else {
        for (const part of ['main', 'side']) {
          const fresh = tpl.content.querySelector(`[data-part="${part}"]`);
          const here = document.querySelector(`[data-part="${part}"]`);
          if (fresh && here) here.replaceChildren(...fresh.childNodes);
        }
      }
      const alerts = Number(res.headers.get('x-alerts') ?? NaN);
      const bell = document.getElementById('nav-alerts');
      if (bell && Number.isFinite(alerts)) {
        const em = bell.querySelector('.badge');
        em.textContent = String(alerts);
        em.hidden = alerts === 0;
        bell.classList.toggle('warn', alerts > 0);
      }
      body.dataset.pulse = pulse;
      document.dispatchEvent(new CustomEvent('weiban:refreshed'));
    } finally {
      refreshing = false;
    }
  }

  if ('EventSource' in window) {
    const q = new URLSearchParams({ since: pulse });
    const m = /^\/admin\/inbox\/(\d+)/.exec(location.pathname);
    if (kind === 'conversation' && m) q.set('handoff', m[1]);
    const es = new EventSource(`/admin/events?${q}`);
    let down = null;
    es.addEventListener('pulse', (e) => {
      const { v } = JSON.parse(e.data);
      if (v !== pulse) {
        pulse = v;
        void refresh();
      }
    });
    es.addEventListener('signed-out', () => {
      es.close();
      location.href = '/admin/login';
    });
    es.addEventListener('open', () => {
      clearTimeout(down);
      status.hidden = true;
    });
    es.addEventListener('error', () => {
      clearTimeout(down);
      down = setTimeout(() => (status.hidden = false), 4000);
    });
  }
  // Due times move on their own (near → overdue): redraw once a minute.
  setInterval(() => void refresh(), 60_000);
})();
