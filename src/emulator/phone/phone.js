// The emulator's phone page: chat with the account as a citizen would on WeChat.
// The conversation is rendered only from the citizen's inbox on the emulated platform, so the page
// shows exactly what reached the citizen and how (passive reply, 客服消息, 模板消息, 订阅通知).
// Message text is never parsed as HTML: every node is built with the DOM API.

const BASE = new URL('..', import.meta.url).pathname.replace(/\/$/, ''); // …/emulator/phone
const STORE_KEY = 'weiban.emulator.phone.openid';
const POLL_MS = 1500;
const TIME_GAP_MS = 5 * 60 * 1000;

/** Places a citizen can send (上海市长宁区). */
const PRESETS = [
  { name: '天山路街道', label: '上海市长宁区天山路', latitude: 31.2135, longitude: 121.4019 },
  { name: '中山公园', label: '上海市长宁区长宁路780号', latitude: 31.2197, longitude: 121.4167 },
  { name: '虹桥机场', label: '上海市长宁区虹桥路2550号', latitude: 31.1979, longitude: 121.3363 },
];

const CHANNEL_TAGS = {
  custom: ['客服消息', 'tag-custom'],
  template: ['模板消息', 'tag-template'],
  subscribe: ['订阅通知', 'tag-subscribe'],
};

/** Template field types as WeChat names them, for a readable label. */
const FIELD_LABELS = [
  [/^thing/, '事项'],
  [/^character_string/, '编号'],
  [/^phrase/, '状态'],
  [/^number/, '数量'],
  [/^amount/, '金额'],
  [/^name/, '姓名'],
  [/^phone_number/, '电话'],
  [/^car_number/, '车牌'],
  [/^time/, '时间'],
  [/^date/, '日期'],
  [/^const/, '说明'],
  [/^keyword/, '内容'],
];

// ---- state ----------------------------------------------------------------------------------------

const S = {
  openid: null,
  citizens: [],
  citizensKey: '',
  following: false,
  accountName: '',
  menu: null,
  menuKey: '',
  qrcodes: [],
  lastId: 0,
  lastAt: null,
  serverOffset: 0,
  mode: 'menu',
  modeChosen: false,
  forceScroll: false,
  online: true,
  browserUrl: null,
};

// ---- DOM helpers ----------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

/** h('div', { class: 'x', onclick: fn }, child, 'text', …): children strings become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) {
      if (typeof v === 'function') el.addEventListener(k.slice(2), v); // never an inline handler string
    } else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg(viewBox, size, paths) {
  const el = document.createElementNS(SVG_NS, 'svg');
  el.setAttribute('viewBox', viewBox);
  el.setAttribute('width', String(size));
  el.setAttribute('height', String(size));
  el.setAttribute('aria-hidden', 'true');
  for (const [tag, attrs] of paths) {
    const p = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) p.setAttribute(k, String(v));
    el.append(p);
  }
  return el;
}

const icons = {
  pin: () =>
    svg('0 0 20 20', 18, [
      ['path', { d: 'M10 18s-5.5-5.6-5.5-9.5a5.5 5.5 0 0 1 11 0C15.5 12.4 10 18 10 18z', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6 }],
      ['circle', { cx: 10, cy: 8.5, r: 2, fill: 'currentColor' }],
    ]),
  qr: () =>
    svg('0 0 20 20', 18, [
      ['path', { d: 'M3 3h5v5H3zM12 3h5v5h-5zM3 12h5v5H3zM12 12h2v2h-2zM15 15h2v2h-2zM12 16h1M16 12h1', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5 }],
    ]),
  wave: () =>
    svg('0 0 16 16', 16, [
      ['path', { d: 'M3 8h.01', stroke: 'currentColor', 'stroke-width': 2.4, 'stroke-linecap': 'round' }],
      ['path', { d: 'M6.5 4.8a4.5 4.5 0 0 1 0 6.4', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5, 'stroke-linecap': 'round' }],
      ['path', { d: 'M9.6 2a8.5 8.5 0 0 1 0 12', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.5, 'stroke-linecap': 'round' }],
    ]),
  image: () =>
    svg('0 0 28 28', 30, [
      ['rect', { x: 4, y: 6, width: 20, height: 16, rx: 2.5, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6 }],
      ['circle', { cx: 10, cy: 11.5, r: 2, fill: 'currentColor' }],
      ['path', { d: 'm5 20 6-6 4 4 3-3 5 5', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6, 'stroke-linejoin': 'round' }],
    ]),
  music: () =>
    svg('0 0 28 28', 30, [['path', { d: 'M11 20V7l11-3v13M11 20a3 3 0 1 1-3-3 3 3 0 0 1 3 3zm11-3a3 3 0 1 1-3-3 3 3 0 0 1 3 3z', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6 }]]),
};

// ---- text: the subset of HTML WeChat renders in text messages -------------------------------------

const ANCHOR_RE = /<a\b([^>]*)>([\s\S]*?)<\/a\s*>/gi;
const HREF_RE = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;

function decodeEntities(s) {
  return s.replace(/&(amp|lt|gt|quot|#39|apos|#x27);/gi, (m, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", apos: "'", '#x27': "'" })[e.toLowerCase()] ?? m);
}

/** A link target the phone may follow: http(s), root-relative, or a bizmsgmenu item. */
function classifyHref(raw) {
  const href = decodeEntities(raw.trim());
  if (/^weixin:\/\/bizmsgmenu\?/i.test(href)) {
    const q = new URLSearchParams(href.slice(href.indexOf('?') + 1));
    const content = q.get('msgmenucontent');
    const id = q.get('msgmenuid');
    if (content !== null && id !== null) return { kind: 'menu', content, id };
    return null;
  }
  const url = safeUrl(href);
  return url ? { kind: 'url', url } : null;
}

/** http(s) and root-relative URLs only; anything else (javascript:, data:, //host) is refused. */
function safeUrl(raw) {
  if (typeof raw !== 'string') return null;
  const s = raw.trim();
  if (/^https?:\/\//i.test(s)) {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:' ? s : null;
    } catch {
      return null;
    }
  }
  if (s.startsWith('/') && !s.startsWith('//') && !s.startsWith('/\\')) return s;
  return null;
}

/** Text with `<a href>` links and newlines, as DOM nodes. Everything else stays literal text. */
function richText(content) {
  const out = document.createDocumentFragment();
  const text = String(content ?? '');
  let last = 0;
  for (const m of text.matchAll(ANCHOR_RE)) {
    if (m.index > last) out.append(text.slice(last, m.index));
    const hm = HREF_RE.exec(m[1]);
    const target = hm ? classifyHref(hm[1] ?? hm[2] ?? hm[3] ?? '') : null;
    // The label is shown as text; nested tags inside it are not markup.
    const label = m[2].replace(/<[^>]*>/g, '') || (target?.kind === 'url' ? target.url : '');
    if (!target) out.append(label);
    else if (target.kind === 'menu') {
      out.append(h('button', { type: 'button', class: 'inline-link', onclick: () => sendMenuChoice(target.content, target.id) }, label));
    } else {
      out.append(
        h('a', {
          href: target.url,
          onclick: (e) => {
            if (e.ctrlKey || e.metaKey || e.shiftKey) return; // let the desktop open it elsewhere
            e.preventDefault();
            openH5(target.url);
          },
        }, label),
      );
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.append(text.slice(last));
  return out;
}

// ---- time -----------------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');

function formatTime(at) {
  const d = new Date(at);
  const now = new Date(Date.now() + S.serverOffset);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(now) - day(d)) / 86_400_000);
  if (diff === 0) return hm;
  if (diff === 1) return `昨天 ${hm}`;
  if (d.getFullYear() === now.getFullYear()) return `${d.getMonth() + 1}月${d.getDate()}日 ${hm}`;
  return `${d.getFullYear()}年${d.getMonth() + 1}月${d.getDate()}日 ${hm}`;
}

function formatDate(at) {
  const d = new Date(at);
  return `${d.getMonth() + 1}月${d.getDate()}日`;
}

// ---- rendering the inbox --------------------------------------------------------------------------

const messagesEl = $('messages');

function initial(name, fallback) {
  const s = String(name ?? '').trim();
  return s ? [...s][0] : fallback;
}

function accountAvatar() {
  return h('div', { class: 'avatar avatar-account', 'aria-hidden': 'true' }, initial(S.accountName, '公'));
}

function citizenAvatar() {
  const me = S.citizens.find((c) => c.openid === S.openid);
  return h('div', { class: 'avatar avatar-me', 'aria-hidden': 'true' }, initial(me?.nickname, '我'));
}

function sysLine(text, cls = '') {
  return h('div', { class: `sys ${cls}`.trim() }, text);
}

/** Menu button name for a key (or a view button's url), for the citizen's event lines. */
function menuName(field, value) {
  for (const b of S.menu ?? []) {
    for (const x of Array.isArray(b?.sub_button) && b.sub_button.length ? b.sub_button : [b]) {
      if (x && x[field] === value) return x.name;
    }
  }
  return null;
}

function menuEventLine(key, what) {
  const name = menuName('key', key);
  return `点击菜单「${name ?? key}」${what ? `，${what}` : ''}`;
}

function renderCitizen(m) {
  const row = (content, extra) => h('div', { class: 'row me', 'data-channel': 'citizen', 'data-type': m.type }, citizenAvatar(), h('div', { class: 'body' }, content, extra));
  switch (m.type) {
    case 'text':
      return row(h('div', { class: 'bubble' }, String(m.content ?? '')));
    case 'voice': {
      const rec = typeof m.recognition === 'string' && m.recognition ? h('div', { class: 'voice-note' }, `转文字：${m.recognition}`) : null;
      return row(h('div', { class: 'bubble voice', 'aria-label': '语音消息' }, h('span', { class: 'voice-wave' }, icons.wave()), '3″'), rec);
    }
    case 'image':
      return row(h('div', { class: 'media', role: 'img', 'aria-label': '图片' }, icons.image(), '图片'));
    case 'video':
    case 'shortvideo':
      return row(h('div', { class: 'media media-video', role: 'img', 'aria-label': '视频' }, h('span', { class: 'play' }), m.type === 'shortvideo' ? '小视频' : '视频'));
    case 'location':
      return row(locationCard(m.label, m.latitude, m.longitude));
    case 'link':
      return row(h('div', { class: 'filecard' }, String(m.title ?? '链接'), h('small', {}, String(m.url ?? ''))));
    case 'file':
      return row(h('div', { class: 'filecard' }, `📄 ${m.title ?? '文件'}`, h('small', {}, '文件')));
    // Events: small grey lines, as a tester reads them.
    case 'subscribe':
      return sysLine(m.scene ? `扫描二维码（场景 ${m.scene}）关注了公众号` : '关注了公众号');
    case 'unsubscribe':
      return sysLine('取消关注了公众号');
    case 'scan':
      return sysLine(`扫描二维码（场景 ${m.scene ?? ''}）`);
    case 'click':
      return sysLine(menuEventLine(m.key));
    case 'view':
      return sysLine(`点击菜单「${menuName('url', m.url) ?? '网页'}」，打开网页`);
    case 'location_select':
      return sysLine(menuEventLine(m.key, `发送了位置：${m.poiname || m.label || `${m.latitude}, ${m.longitude}`}`));
    case 'scancode_push':
    case 'scancode_waitmsg':
      return sysLine(menuEventLine(m.key, `扫描二维码：${m.result ?? ''}`));
    case 'pic_photo_or_album':
    case 'pic_sysphoto':
    case 'pic_weixin':
      return sysLine(menuEventLine(m.key, '发送了图片'));
    case 'location_report':
      return sysLine('上报了地理位置');
    default:
      return sysLine(`[${m.type ?? '未知操作'}]`);
  }
}

function locationCard(label, lat, lng) {
  const title = label ? String(label) : '位置';
  const coords = Number.isFinite(Number(lat)) && Number.isFinite(Number(lng)) ? `${Number(lat).toFixed(4)}, ${Number(lng).toFixed(4)}` : '';
  return h(
    'div',
    { class: 'loc', role: 'img', 'aria-label': `位置：${title}` },
    h('div', { class: 'loc-text' }, h('span', { class: 'loc-title' }, title), coords ? h('span', { class: 'loc-sub' }, coords) : null),
    h('div', { class: 'loc-map' }, h('span', { class: 'loc-pin' })),
  );
}

function newsCard(article) {
  const a = article && typeof article === 'object' ? article : {};
  const url = safeUrl(a.url);
  const pic = safeUrl(a.picUrl ?? a.picurl);
  const img = pic
    ? h('img', {
        class: 'news-pic',
        src: pic,
        alt: '',
        loading: 'lazy',
        referrerpolicy: 'no-referrer',
        onerror: (e) => e.currentTarget.replaceWith(h('span', { class: 'news-pic news-pic-empty', 'aria-hidden': 'true' }, icons.image())),
        onload: () => keepBottom(),
      })
    : null;
  return h(
    'button',
    {
      type: 'button',
      class: 'card news',
      onclick: () => (url ? openH5(url) : addLocal(sysLine(`无法打开链接：${a.url ?? ''}`, 'sys-error'))),
      'aria-label': `图文消息：${a.title ?? ''}`,
    },
    h('span', { class: 'news-title' }, String(a.title ?? '')),
    a.description || img ? h('span', { class: 'news-main' }, h('span', { class: 'news-desc' }, String(a.description ?? '')), img) : null,
  );
}

function originOf(u) {
  try {
    return typeof u === 'string' && u ? new URL(u, location.href).origin : null;
  } catch {
    return null;
  }
}

function fieldLabel(key, used) {
  const base = FIELD_LABELS.find(([re]) => re.test(key))?.[1] ?? key;
  const n = (used.get(base) ?? 0) + 1;
  used.set(base, n);
  return n > 1 ? `${base}${n}` : base;
}

function fieldValue(v) {
  if (v && typeof v === 'object' && 'value' in v) return String(v.value ?? '');
  return String(v ?? '');
}

/** A template message or subscription notice: title, date, label/value lines, 详情. */
function templateCard(m, at, link) {
  const data = m.data && typeof m.data === 'object' ? m.data : {};
  const used = new Map();
  const entries = Object.entries(data).filter(([k]) => k !== 'first' && k !== 'remark');
  const labels = m.labels && typeof m.labels === 'object' ? m.labels : {};
  const label = (k) => (typeof labels[k] === 'string' && labels[k] ? labels[k] : fieldLabel(k, used));
  const fields = h('dl', { class: 'tpl-fields' }, entries.map(([k, v]) => [h('dt', { title: k }, label(k)), h('dd', { 'data-key': k }, fieldValue(v))]));
  const first = 'first' in data ? h('p', { class: 'tpl-text' }, fieldValue(data.first)) : null;
  const remark = 'remark' in data ? h('p', { class: 'tpl-text' }, fieldValue(data.remark)) : null;
  let more = null;
  const url = safeUrl(link);
  if (url) more = h('button', { type: 'button', class: 'tpl-more', onclick: () => openH5(url) }, h('span', {}, '详情'), h('span', { class: 'chev', 'aria-hidden': 'true' }));
  else if (typeof link === 'string' && link) more = h('span', { class: 'tpl-page' }, `跳转：${link}`);
  return h(
    'div',
    { class: 'tpl', role: 'group', 'aria-label': String(m.title ?? '通知') },
    h('div', { class: 'tpl-head' }, h('p', { class: 'tpl-title' }, String(m.title ?? '')), h('p', { class: 'tpl-date' }, formatDate(at))),
    first,
    entries.length ? fields : null,
    remark,
    more,
  );
}

function msgmenuBubble(m) {
  const list = Array.isArray(m.list) ? m.list : [];
  return h(
    'div',
    { class: 'bubble msgmenu' },
    m.headContent ? h('div', {}, String(m.headContent)) : null,
    h(
      'div',
      { class: 'msgmenu-list' },
      list.map((it) => {
        const content = String(it?.content ?? '');
        const id = String(it?.id ?? '');
        return h('button', { type: 'button', class: 'msgmenu-item', onclick: () => sendMenuChoice(content, id) }, content);
      }),
    ),
    m.tailContent ? h('div', {}, String(m.tailContent)) : null,
  );
}

const TYPE_NAMES = { mpnews: '图文消息', mpnewsarticle: '图文消息', wxcard: '卡券', miniprogrampage: '小程序卡片', music: '音乐' };

function accountContent(m, item) {
  switch (m.type) {
    case 'text':
      return h('div', { class: 'bubble' }, richText(m.content));
    case 'news':
      return newsCard(m.article ?? (Array.isArray(m.articles) ? m.articles[0] : m));
    case 'msgmenu':
      return msgmenuBubble(m);
    case 'template':
      return templateCard(m, item.at, m.url);
    case 'subscribe':
      return templateCard(m, item.at, m.page);
    case 'image':
      return h('div', { class: 'media', role: 'img', 'aria-label': '图片' }, icons.image(), '图片', m.mediaId ? h('small', {}, String(m.mediaId)) : null);
    case 'voice':
      return h('div', { class: 'bubble voice', 'aria-label': '语音消息' }, h('span', { class: 'voice-wave' }, icons.wave()), '语音');
    case 'video':
      return h('div', { class: 'media media-video', role: 'img', 'aria-label': '视频' }, h('span', { class: 'play' }), String(m.title || '视频'));
    case 'music':
      return h('div', { class: 'media', role: 'img', 'aria-label': '音乐' }, icons.music(), String(m.title || '音乐'));
    case 'miniprogrampage':
      return h('div', { class: 'filecard' }, String(m.title ?? '小程序'), h('small', {}, '小程序卡片（模拟器不打开小程序）'));
    default:
      return h('div', { class: 'bubble' }, `[${TYPE_NAMES[m.type] ?? m.type ?? '未知'}消息]`);
  }
}

function renderAccount(item) {
  const m = item.message && typeof item.message === 'object' ? item.message : {};
  if (m.type === 'transfer_customer_service') return sysLine('消息已转入人工客服（transfer_customer_service）');
  const tag = CHANNEL_TAGS[item.channel];
  return h(
    'div',
    { class: 'row', 'data-channel': item.channel, 'data-type': String(m.type ?? '') },
    accountAvatar(),
    h('div', { class: 'body' }, tag ? h('span', { class: `tag ${tag[1]}` }, tag[0]) : null, accountContent(m, item)),
  );
}

function renderItem(item) {
  const frag = document.createDocumentFragment();
  if (typeof item.at === 'number' && (S.lastAt === null || item.at - S.lastAt > TIME_GAP_MS)) frag.append(h('div', { class: 'time' }, formatTime(item.at)));
  if (typeof item.at === 'number') S.lastAt = item.at;
  let node;
  try {
    node = item.channel === 'citizen' ? renderCitizen(item.message ?? {}) : renderAccount(item);
  } catch (err) {
    node = sysLine(`[无法显示的消息：${err?.message ?? err}]`, 'sys-error');
  }
  node.dataset.id = String(item.id);
  frag.append(node);
  return frag;
}

function nearBottom() {
  return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 80;
}

function scrollToBottom() {
  messagesEl.scrollTop = messagesEl.scrollHeight;
}

let stickToBottom = true;
messagesEl.addEventListener('scroll', () => {
  stickToBottom = nearBottom();
});

/** After something grew (an image loaded), stay at the bottom if we were there. */
function keepBottom() {
  if (stickToBottom) scrollToBottom();
}

function appendNodes(nodes, force) {
  const stay = force || nearBottom() || stickToBottom;
  for (const n of nodes) messagesEl.append(n);
  if (stay) {
    scrollToBottom();
    stickToBottom = true;
  }
}

/** A line that is not in the inbox (an error, a hint): shown only in this page. */
function addLocal(node) {
  node.classList.add('local');
  appendNodes([node], true);
}

// ---- talking to the emulator ----------------------------------------------------------------------

let chain = Promise.resolve();
let pending = 0;

/** Fetch the state (and new inbox items); polls are serialised so items arrive in order. */
function refresh() {
  pending++;
  chain = chain.then(pollOnce).finally(() => pending--);
  return chain;
}

async function pollOnce() {
  const openid = S.openid;
  const q = new URLSearchParams();
  if (openid) {
    q.set('openid', openid);
    q.set('after', String(S.lastId));
  }
  try {
    const res = await fetch(`${BASE}/api/state?${q}`, { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const st = await res.json();
    setOnline(true);
    if (openid !== S.openid) return; // the citizen changed while we waited
    applyState(st, openid);
  } catch {
    setOnline(false);
  }
}

function setOnline(on) {
  if (S.online === on) return;
  S.online = on;
  $('offline').hidden = on;
}

function applyState(st, openid) {
  if (typeof st.now === 'number') S.serverOffset = st.now - Date.now();
  S.publicOrigin = originOf(st.publicUrl);
  if (typeof st.boot === 'string' && st.boot !== S.boot) {
    // The emulator restarted: its inbox ids start again, so start the conversation view again.
    const restarted = S.boot !== undefined;
    S.boot = st.boot;
    if (restarted && openid) {
      S.lastId = 0;
      S.lastAt = null;
      messagesEl.replaceChildren();
      void refresh();
      return;
    }
  }
  const name = String(st.account?.name ?? '公众号');
  if (name !== S.accountName) {
    S.accountName = name;
    $('account-name').textContent = name;
    $('cta-name').textContent = name;
    $('cta-avatar').textContent = initial(name, '公');
    document.title = `${name} · 微信模拟器`;
  }
  S.qrcodes = Array.isArray(st.qrcodes) ? st.qrcodes : [];
  updateCitizens(Array.isArray(st.citizens) ? st.citizens : []);
  updateMenu(Array.isArray(st.menu) ? st.menu : null);

  if (!openid) {
    // First load: pick the remembered citizen if the emulator still knows them.
    const stored = safeStorage('get');
    const pick = S.citizens.find((c) => c.openid === stored) ?? S.citizens[0];
    if (pick) selectCitizen(pick.openid);
    else updateFollowing(false);
    return;
  }
  updateFollowing(Boolean(st.citizen?.subscribed));
  const items = (Array.isArray(st.inbox) ? st.inbox : []).filter((i) => typeof i?.id === 'number' && i.id > S.lastId);
  if (items.length) {
    const force = S.forceScroll || S.lastId === 0;
    S.forceScroll = false;
    S.lastId = items[items.length - 1].id;
    appendNodes(items.map(renderItem), force);
  }
}

function safeStorage(op, value) {
  try {
    if (op === 'get') return localStorage.getItem(STORE_KEY);
    localStorage.setItem(STORE_KEY, value);
  } catch {
    // private mode: nothing to remember
  }
  return null;
}

/** Perform an action as the citizen; errors become grey lines after the items they belong to. */
async function act(action) {
  const openid = S.openid;
  if (!openid) return false;
  S.forceScroll = true;
  const soon = setTimeout(refresh, 150); // the citizen's own item is in the inbox before the reply
  let res;
  let data = {};
  try {
    res = await fetch(`${BASE}/api/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ openid, action }) });
    data = await res.json().catch(() => ({}));
  } catch (err) {
    clearTimeout(soon);
    await refresh();
    if (openid === S.openid) addLocal(sysLine(`网络错误，操作未送达：${err?.message ?? err}`, 'sys-error'));
    return false;
  }
  clearTimeout(soon);
  S.forceScroll = true;
  await refresh();
  if (openid !== S.openid) return res.ok; // another citizen is shown now: not their chat
  if (!res.ok) {
    addLocal(sysLine(String(data?.error ?? `操作失败（HTTP ${res.status}）`), 'sys-error'));
    return false;
  }
  if (typeof data.status === 'number' && data.status !== 200) {
    addLocal(sysLine(`公众号服务器返回 ${data.status}${data.error ? `：${data.error}` : ''}`, 'sys-error'));
    return false;
  }
  return true;
}

function sendMenuChoice(content, id) {
  if (!S.following) return;
  act({ type: 'text', content, bizmsgmenuid: id });
}

// ---- citizens -------------------------------------------------------------------------------------

const selectEl = $('citizen-select');

function updateCitizens(list) {
  const key = JSON.stringify(list.map((c) => [c.openid, c.nickname, c.subscribed]));
  S.citizens = list;
  if (key === S.citizensKey) return;
  S.citizensKey = key;
  const opts = list.map((c) => h('option', { value: c.openid }, `${c.nickname}${c.subscribed ? '（已关注）' : '（未关注）'}`));
  if (!opts.length) opts.push(h('option', { value: '' }, '还没有市民，请先添加'));
  selectEl.replaceChildren(...opts);
  selectEl.disabled = list.length === 0;
  if (S.openid) selectEl.value = S.openid;
}

function selectCitizen(openid) {
  if (openid === S.openid) return;
  S.openid = openid;
  safeStorage('set', openid);
  selectEl.value = openid;
  $('openid-view').textContent = openid;
  S.lastId = 0;
  S.lastAt = null;
  S.following = null;
  stickToBottom = true;
  messagesEl.replaceChildren();
  closeBrowser();
  closeSheet();
  closeSubmenus();
  setPlusPanel(false);
  $('text-input').value = '';
  updateSendButton();
  refresh();
}

selectEl.addEventListener('change', () => {
  if (selectEl.value) selectCitizen(selectEl.value);
});

function updateFollowing(following) {
  const changed = S.following !== following;
  S.following = following;
  $('follow-btn').disabled = !S.openid || following;
  $('unfollow-btn').disabled = !S.openid || !following;
  $('cta').hidden = following || !S.openid;
  messagesEl.hidden = !following && Boolean(S.openid);
  $('inputbar').hidden = !following;
  if (changed) {
    if (!following) {
      closeSheet();
      closeSubmenus();
      setPlusPanel(false);
    }
    applyMode();
    if (following) requestAnimationFrame(scrollToBottom);
  }
}

$('follow-btn').addEventListener('click', () => act({ type: 'subscribe' }));
$('cta-follow').addEventListener('click', () => act({ type: 'subscribe' }));
$('unfollow-btn').addEventListener('click', () => act({ type: 'unsubscribe' }));
$('cta-scan').addEventListener('click', () => openScanSheet());

const devbar = $('devbar');
$('add-toggle').addEventListener('click', () => {
  const open = !devbar.classList.contains('adding');
  devbar.classList.toggle('adding', open);
  $('add-toggle').setAttribute('aria-expanded', String(open));
  if (open) $('add-nickname').focus();
});

$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('add-nickname');
  const nickname = input.value.trim();
  if (!nickname) {
    input.focus();
    return;
  }
  try {
    const res = await fetch(`${BASE}/api/citizens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nickname }) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const c = await res.json();
    input.value = '';
    devbar.classList.remove('adding');
    $('add-toggle').setAttribute('aria-expanded', 'false');
    S.citizensKey = ''; // rebuild the list with the newcomer
    selectCitizen(c.openid);
  } catch (err) {
    input.setCustomValidity(`添加失败：${err?.message ?? err}`);
    input.reportValidity();
    setTimeout(() => input.setCustomValidity(''), 3000);
  }
});

// ---- the bottom bar: menu and keyboard ------------------------------------------------------------

const menubarEl = $('menubar');
const modeToggle = $('mode-toggle');

function updateMenu(menu) {
  const key = JSON.stringify(menu);
  if (key === S.menuKey) return;
  S.menuKey = key;
  S.menu = menu && menu.length ? menu : null;
  closeSubmenus();
  menubarEl.replaceChildren(...(S.menu ?? []).slice(0, 3).map(menuCell));
  // A service account with a menu opens on the menu, until the citizen picks the keyboard.
  if (S.menu && !S.modeChosen) S.mode = 'menu';
  applyMode();
}

function menuCell(b, i) {
  const subs = Array.isArray(b?.sub_button) ? b.sub_button.filter(Boolean).slice(0, 5) : [];
  const name = String(b?.name ?? '');
  const cell = h('div', { class: 'menu-cell' });
  if (!subs.length) {
    cell.append(h('button', { type: 'button', class: 'menu-btn', onclick: () => pressLeaf(b) }, h('span', { class: 'menu-label' }, name)));
    return cell;
  }
  const popId = `submenu-${i}`;
  const btn = h(
    'button',
    { type: 'button', class: 'menu-btn', 'aria-expanded': 'false', 'aria-controls': popId, 'aria-haspopup': 'true' },
    h('span', { class: 'sub-icon', 'aria-hidden': 'true' }),
    h('span', { class: 'menu-label' }, name),
  );
  const pop = h(
    'div',
    { class: 'submenu', id: popId, hidden: true },
    h(
      'ul',
      { 'aria-label': name },
      subs.map((s) =>
        h(
          'li',
          {},
          h('button', {
            type: 'button',
            onclick: () => {
              closeSubmenus();
              pressLeaf(s);
            },
          }, String(s?.name ?? '')),
        ),
      ),
    ),
  );
  btn.addEventListener('click', () => {
    const open = pop.hidden;
    closeSubmenus();
    if (open) {
      pop.hidden = false;
      btn.setAttribute('aria-expanded', 'true');
    }
  });
  cell.append(pop, btn);
  return cell;
}

function closeSubmenus() {
  for (const p of menubarEl.querySelectorAll('.submenu')) p.hidden = true;
  for (const b of menubarEl.querySelectorAll('.menu-btn[aria-expanded]')) b.setAttribute('aria-expanded', 'false');
}

document.addEventListener('pointerdown', (e) => {
  if (!(e.target instanceof Element) || !e.target.closest('.menu-cell')) closeSubmenus();
});

document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  if (!$('sheet-layer').hidden) closeSheet();
  else if (menubarEl.querySelector('.submenu:not([hidden])')) {
    const open = menubarEl.querySelector('.menu-btn[aria-expanded="true"]');
    closeSubmenus();
    open?.focus();
  } else if (!$('browser').hidden) closeBrowser();
});

/** A menu leaf, by its type, as WeChat's client handles it. */
function pressLeaf(b) {
  if (!b || !S.following) return;
  const key = String(b.key ?? '');
  switch (b.type) {
    case 'click':
      act({ type: 'click', key });
      break;
    case 'view': {
      const url = String(b.url ?? '');
      act({ type: 'view', url });
      openH5(url);
      break;
    }
    case 'miniprogram':
      addLocal(sysLine('模拟器不能打开小程序，改为打开菜单的备用网页'));
      if (b.url) openH5(String(b.url));
      break;
    case 'location_select':
      openLocationSheet({ title: String(b.name ?? '选择位置'), onPick: (p) => act({ type: 'location_select', key, latitude: p.latitude, longitude: p.longitude, label: p.label, poiname: p.name }) });
      break;
    case 'scancode_push':
    case 'scancode_waitmsg':
      openScanResultSheet(b.type, key, String(b.name ?? '扫一扫'));
      break;
    case 'pic_sysphoto':
    case 'pic_photo_or_album':
    case 'pic_weixin':
      act({ type: b.type, key });
      break;
    default:
      addLocal(sysLine(`模拟器不支持此类菜单：${b.type ?? '未知'}`, 'sys-error'));
  }
}

function applyMode() {
  const hasMenu = Boolean(S.menu);
  if (!hasMenu) S.mode = 'keyboard';
  const menuMode = S.mode === 'menu';
  modeToggle.hidden = !hasMenu;
  modeToggle.classList.toggle('to-menu', !menuMode);
  modeToggle.setAttribute('aria-label', menuMode ? '切换到键盘输入' : '切换到菜单');
  menubarEl.hidden = !menuMode;
  $('compose').hidden = menuMode;
  if (menuMode) setPlusPanel(false);
  else closeSubmenus();
}

modeToggle.addEventListener('click', () => {
  S.mode = S.mode === 'menu' ? 'keyboard' : 'menu';
  S.modeChosen = true;
  applyMode();
  if (S.mode === 'keyboard') $('text-input').focus();
});

const textInput = $('text-input');

function updateSendButton() {
  const has = textInput.value.trim() !== '';
  $('send-btn').hidden = !has;
  $('plus-btn').hidden = has;
}

textInput.addEventListener('input', updateSendButton);
textInput.addEventListener('focus', () => setPlusPanel(false));
textInput.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' || e.shiftKey) return;
  if (e.isComposing || e.keyCode === 229) return; // Enter confirms a 拼音 candidate: not a send
  e.preventDefault();
  sendText();
});

$('compose').addEventListener('submit', (e) => {
  e.preventDefault();
  sendText();
});

function sendText() {
  const content = textInput.value;
  if (!content.trim()) return;
  textInput.value = '';
  updateSendButton();
  textInput.focus();
  act({ type: 'text', content });
}

function setPlusPanel(open) {
  $('plus-panel').hidden = !open;
  $('plus-btn').setAttribute('aria-expanded', String(open));
  if (open) keepBottom();
}

$('plus-btn').addEventListener('click', () => setPlusPanel($('plus-panel').hidden));

$('plus-panel').addEventListener('click', (e) => {
  const tile = e.target instanceof Element ? e.target.closest('[data-tool]') : null;
  if (!tile) return;
  switch (tile.getAttribute('data-tool')) {
    case 'location':
      openLocationSheet({ title: '发送位置', onPick: (p) => act({ type: 'location', latitude: p.latitude, longitude: p.longitude, label: p.label }) });
      break;
    case 'voice':
      openVoiceSheet();
      break;
    case 'image':
      setPlusPanel(false);
      act({ type: 'image' });
      break;
    case 'scan':
      openScanSheet();
      break;
  }
});

// ---- bottom sheets --------------------------------------------------------------------------------

const sheetLayer = $('sheet-layer');
let sheetReturnFocus = null;
let sheetSeq = 0;

function openSheet(title, ...content) {
  closeSheet();
  const id = `sheet-title-${++sheetSeq}`;
  sheetReturnFocus = document.activeElement;
  const sheet = h(
    'div',
    { class: 'sheet', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': id },
    h('div', { class: 'sheet-head' }, h('button', { type: 'button', class: 'sheet-cancel', onclick: closeSheet }, '取消'), h('h3', { id }, title), h('span')),
    h('div', { class: 'sheet-body' }, content),
  );
  sheetLayer.replaceChildren(sheet);
  sheetLayer.hidden = false;
  const first = sheet.querySelector('.sheet-body button, .sheet-body input, .sheet-body textarea');
  (first ?? sheet.querySelector('.sheet-cancel'))?.focus();
}

function closeSheet() {
  if (sheetLayer.hidden) return;
  sheetLayer.hidden = true;
  sheetLayer.replaceChildren();
  if (sheetReturnFocus instanceof HTMLElement && sheetReturnFocus.isConnected && !sheetReturnFocus.closest('[hidden]')) sheetReturnFocus.focus();
  sheetReturnFocus = null;
}

sheetLayer.addEventListener('click', (e) => {
  if (e.target === sheetLayer) closeSheet();
});

// Keep keyboard focus inside an open sheet.
sheetLayer.addEventListener('keydown', (e) => {
  if (e.key !== 'Tab') return;
  const f = [...sheetLayer.querySelectorAll('button, input, textarea, select')].filter((x) => !x.disabled);
  if (!f.length) return;
  const first = f[0];
  const last = f[f.length - 1];
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
});

function field(label, input) {
  return h('label', { class: 'field' }, h('span', {}, label), input);
}

function openLocationSheet({ title, onPick }) {
  const pick = (p) => {
    closeSheet();
    setPlusPanel(false);
    onPick(p);
  };
  const lat = h('input', { type: 'number', step: 'any', min: -90, max: 90, inputmode: 'decimal', name: 'latitude', placeholder: '31.2200' });
  const lng = h('input', { type: 'number', step: 'any', min: -180, max: 180, inputmode: 'decimal', name: 'longitude', placeholder: '121.4200' });
  const label = h('input', { type: 'text', name: 'label', maxlength: 100, placeholder: '上海市长宁区…' });
  const err = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const form = h(
    'form',
    {
      class: 'fieldset',
      autocomplete: 'off',
      onsubmit: (e) => {
        e.preventDefault();
        const la = Number(lat.value);
        const lo = Number(lng.value);
        if (lat.value === '' || lng.value === '' || !(Math.abs(la) <= 90) || !(Math.abs(lo) <= 180)) {
          err.textContent = '请填写有效的纬度（-90～90）和经度（-180～180）';
          err.hidden = false;
          return;
        }
        const text = label.value.trim();
        pick({ name: text || '自定义位置', label: text || `${la}, ${lo}`, latitude: la, longitude: lo });
      },
    },
    h('p', { class: 'dev-label' }, '自定义位置'),
    h('div', { class: 'field-row' }, field('纬度', lat), field('经度', lng)),
    field('地点名称', label),
    err,
    h('button', { type: 'submit', class: 'btn btn-primary btn-wide' }, '发送此位置'),
  );
  openSheet(
    title,
    h('p', { class: 'sheet-note' }, '选择一个地点发送给公众号（模拟定位，上海市长宁区）。'),
    h(
      'ul',
      { class: 'choice-list', 'aria-label': '常用地点' },
      PRESETS.map((p) =>
        h(
          'li',
          {},
          h(
            'button',
            { type: 'button', class: 'choice', onclick: () => pick(p) },
            h('span', { class: 'choice-icon' }, icons.pin()),
            h('span', { class: 'choice-text' }, h('span', { class: 'choice-title' }, p.name), h('span', { class: 'choice-sub' }, `${p.label} · ${p.latitude}, ${p.longitude}`)),
          ),
        ),
      ),
    ),
    form,
  );
}

function openVoiceSheet() {
  const text = h('textarea', { name: 'recognition', maxlength: 500, placeholder: '例如：我想预约社保办理' });
  openSheet(
    '语音输入',
    h(
      'form',
      {
        class: 'fieldset',
        autocomplete: 'off',
        onsubmit: (e) => {
          e.preventDefault();
          const recognition = text.value.trim();
          closeSheet();
          setPlusPanel(false);
          act(recognition ? { type: 'voice', recognition } : { type: 'voice' });
        },
      },
      h('p', { class: 'sheet-note' }, '模拟一段语音：填写微信语音识别出的文字（留空表示没有识别结果）。'),
      field('识别出的文字', text),
      h('button', { type: 'submit', class: 'btn btn-primary btn-wide' }, '发送语音'),
    ),
  );
}

/** 扫一扫: pick one of the account's live QR codes, or type a scene. */
function openScanSheet() {
  const scan = (scene) => {
    closeSheet();
    setPlusPanel(false);
    act({ type: 'scan', scene: String(scene) });
  };
  const codes = S.qrcodes;
  const free = h('input', { type: 'text', name: 'scene', maxlength: 64, placeholder: '例如：hall_001 或 123' });
  const payCodes = h('div', { class: 'pay-codes' });
  fetch(`${PAY}/phone/codes?openid=${encodeURIComponent(S.openid ?? '')}`)
    .then((r) => (r.ok ? r.json() : []))
    .then((list) => {
      if (!list.length) return;
      payCodes.replaceChildren(
        h('p', { class: 'sheet-note' }, '屏幕上的微信支付收款码：'),
        h(
          'ul',
          { class: 'choice-list', 'aria-label': '微信支付收款码' },
          list.map((c) =>
            h(
              'li',
              {},
              h(
                'button',
                { type: 'button', class: 'choice', onclick: () => { closeSheet(); setPlusPanel(false); openPaySheet({ codeUrl: c.codeUrl }, (res) => addLocal(sysLine(/:ok$/.test(res.err_msg) ? '扫码支付成功' : '扫码支付未完成', /:ok$/.test(res.err_msg) ? '' : 'sys-error'))); } },
                h('span', { class: 'choice-icon' }, icons.qr()),
                h('span', { class: 'choice-text' }, h('span', { class: 'choice-title' }, `¥${(c.amount / 100).toFixed(2)} ${c.payee}`), h('span', { class: 'choice-sub' }, c.description)),
              ),
            ),
          ),
        ),
      );
    })
    .catch(() => undefined);
  openSheet(
    '扫一扫',
    payCodes,
    h('p', { class: 'sheet-note' }, S.following ? '选择要扫描的公众号二维码。' : '扫描公众号的带参数二维码即可关注。'),
    codes.length
      ? h(
          'ul',
          { class: 'choice-list', 'aria-label': '公众号二维码' },
          codes.map((c) =>
            h(
              'li',
              {},
              h(
                'button',
                { type: 'button', class: 'choice', onclick: () => scan(c.scene) },
                h('span', { class: 'choice-icon' }, icons.qr()),
                h('span', { class: 'choice-text' }, h('span', { class: 'choice-title' }, `场景 ${c.scene}`), h('span', { class: 'choice-sub' }, c.permanent ? '永久二维码' : '临时二维码')),
              ),
            ),
          ),
        )
      : h('p', { class: 'sheet-note' }, '公众号还没有生成带参数二维码，可以在下面直接填写场景值。'),
    h(
      'form',
      {
        class: 'fieldset',
        autocomplete: 'off',
        onsubmit: (e) => {
          e.preventDefault();
          const scene = free.value.trim();
          if (!scene) return free.focus();
          scan(scene);
        },
      },
      field('场景值', free),
      h('button', { type: 'submit', class: 'btn btn-primary btn-wide' }, '扫描'),
    ),
  );
}

/** A scancode_push / scancode_waitmsg menu button: the scanned text is typed in. */
function openScanResultSheet(type, key, title) {
  const input = h('input', { type: 'text', name: 'result', maxlength: 500, placeholder: '二维码的内容，如一个网址' });
  openSheet(
    title,
    h(
      'form',
      {
        class: 'fieldset',
        autocomplete: 'off',
        onsubmit: (e) => {
          e.preventDefault();
          const result = input.value.trim();
          if (!result) return input.focus();
          closeSheet();
          act({ type, key, result });
        },
      },
      h('p', { class: 'sheet-note' }, '模拟扫码：填写扫到的二维码内容。'),
      field('扫码结果', input),
      h('button', { type: 'submit', class: 'btn btn-primary btn-wide' }, '确定'),
    ),
  );
}

// ---- the in-WeChat browser ------------------------------------------------------------------------

const browserEl = $('browser');
const frame = $('br-frame');
const brTitle = $('br-title');
const brProgress = $('br-progress');
let browserReturnFocus = null;

function hostOf(url) {
  try {
    return new URL(url, location.href).host;
  } catch {
    return '网页';
  }
}

/** Open an H5 page inside the phone, signed in as the current citizen (emulated web authorisation). */

// ---- WeChat Pay: the pay sheet (getBrandWCPayRequest) and paying a Native QR code ---------------

const PAY = `${BASE.replace(/\/phone$/, '')}/pay`;

/** WeChat's pay sheet: the amount, who receives it, and 确认支付; closing it cancels. */
async function openPaySheet(o, done) {
  let finished = false;
  const finish = (res) => {
    if (finished) return;
    finished = true;
    done(res);
  };
  const ref = o.codeUrl ?? /^prepay_id=(.+)$/.exec(o.params?.package ?? '')?.[1] ?? '';
  let info = null;
  try {
    const r = await fetch(`${PAY}/phone/order?ref=${encodeURIComponent(ref)}`);
    if (r.ok) info = await r.json();
  } catch {
    info = null;
  }
  if (!info) {
    addLocal(sysLine('微信支付：订单不存在或已失效', 'sys-error'));
    return finish({ err_msg: 'get_brand_wcpay_request:fail', err_desc: '订单不存在' });
  }
  const status = h('p', { class: 'pay-status', role: 'status' });
  const send = async (choice) => {
    status.textContent = choice === 'pay' ? '正在支付…' : '';
    for (const b of sheetLayer.querySelectorAll('.pay-sheet button')) b.disabled = true;
    let res;
    try {
      const r = await fetch(`${PAY}/phone/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ openid: S.openid, choice, ...(o.codeUrl ? { codeUrl: o.codeUrl } : { params: o.params }) }) });
      res = await r.json();
    } catch (err) {
      res = { err_msg: 'get_brand_wcpay_request:fail', detail: String(err?.message ?? err) };
    }
    if (/:ok$|^ok$/.test(res.err_msg ?? '')) {
      status.textContent = '支付成功';
      setTimeout(() => {
        closeSheetQuietly();
        finish({ err_msg: 'get_brand_wcpay_request:ok' });
      }, 600);
      return;
    }
    status.textContent = res.detail ?? '支付失败';
    status.classList.add('pay-fail');
    setTimeout(() => {
      closeSheetQuietly();
      finish({ err_msg: /cancel/.test(res.err_msg ?? '') ? 'get_brand_wcpay_request:cancel' : 'get_brand_wcpay_request:fail', err_desc: res.detail ?? '' });
    }, 1400);
  };
  openSheet(
    '微信支付',
    h(
      'div',
      { class: 'pay-sheet' },
      h('p', { class: 'pay-payee' }, info.payee),
      h('p', { class: 'pay-amount' }, h('span', { class: 'pay-yuan' }, '¥'), (info.amount / 100).toFixed(2)),
      h('p', { class: 'pay-desc' }, info.description),
      h('div', { class: 'pay-method' }, h('span', {}, '付款方式'), h('span', {}, '零钱')),
      status,
      h('button', { type: 'button', class: 'btn btn-primary btn-wide pay-confirm', onclick: () => send('pay') }, '确认支付'),
      h('button', { type: 'button', class: 'link-btn pay-short', onclick: () => send('insufficient') }, '模拟：零钱余额不足'),
    ),
  );
  payCancel = () => finish({ err_msg: 'get_brand_wcpay_request:cancel' });
}

let payCancel = null;
function closeSheetQuietly() {
  payCancel = null;
  closeSheet();
}

// Closing the pay sheet (取消, a tap outside) is the citizen cancelling the payment.
new MutationObserver(() => {
  if (sheetLayer.hidden && payCancel) {
    const c = payCancel;
    payCancel = null;
    c();
  }
}).observe(sheetLayer, { attributes: true, attributeFilter: ['hidden'] });

/** WeChat's browser gives pages WeixinJSBridge; the phone does the same for the account's pages. */
function giveBridge() {
  let w;
  try {
    w = frame.contentWindow;
    if (!w || !w.document || w.WeixinJSBridge) return;
  } catch {
    return; // another origin
  }
  w.WeixinJSBridge = {
    invoke(name, params, cb) {
      const reply = (res) => {
        try {
          cb?.(res);
        } catch {
          // the page's callback failed: as in WeChat, nothing more happens
        }
      };
      if (name === 'getBrandWCPayRequest') openPaySheet({ params }, reply);
      else reply({ err_msg: `${name}:fail_not_supported_in_emulator` });
    },
    on() {},
    call() {},
  };
  w.document.dispatchEvent(new w.Event('WeixinJSBridgeReady'));
}

function openH5(raw) {
  const url = safeUrl(String(raw ?? ''));
  if (!url) {
    addLocal(sysLine(`无法打开链接：${raw}`, 'sys-error'));
    return;
  }
  if (!S.openid) return;
  closeSubmenus();
  S.browserUrl = url;
  // The account's own pages open as the citizen (emulated web authorisation); others open as they are.
  const own = url.startsWith('/') || originOf(url) === location.origin || originOf(url) === S.publicOrigin;
  const src = own ? `${BASE}/open?openid=${encodeURIComponent(S.openid)}&url=${encodeURIComponent(url)}` : url;
  brTitle.textContent = hostOf(url);
  brProgress.className = 'br-progress';
  void brProgress.offsetWidth; // restart the bar
  brProgress.className = 'br-progress loading';
  if (browserEl.hidden) browserReturnFocus = document.activeElement;
  browserEl.hidden = false;
  frame.src = src;
  $('br-close').focus();
}

frame.addEventListener('load', () => {
  if (browserEl.hidden || !S.browserUrl) return;
  giveBridge();
  brProgress.className = 'br-progress done';
  let title = '';
  let href = '';
  try {
    // Readable only for pages of this origin.
    title = frame.contentDocument?.title?.trim() ?? '';
    href = frame.contentWindow?.location.href ?? '';
  } catch {
    // another origin: keep the host
  }
  brTitle.textContent = title || (href && href !== 'about:blank' ? hostOf(href) : hostOf(S.browserUrl));
});

function closeBrowser() {
  if (browserEl.hidden) return;
  browserEl.hidden = true;
  S.browserUrl = null;
  frame.removeAttribute('src');
  frame.src = 'about:blank';
  if (browserReturnFocus instanceof HTMLElement && browserReturnFocus.isConnected && !browserReturnFocus.closest('[hidden]')) browserReturnFocus.focus();
  browserReturnFocus = null;
}

$('br-close').addEventListener('click', closeBrowser);
$('br-external').addEventListener('click', () => {
  if (!S.browserUrl || !S.openid) return;
  window.open(`${BASE}/open?openid=${encodeURIComponent(S.openid)}&url=${encodeURIComponent(S.browserUrl)}`, '_blank', 'noopener');
});

// ---- status bar clock and start -------------------------------------------------------------------

function tickClock() {
  const d = new Date();
  $('clock').textContent = `${d.getHours()}:${pad(d.getMinutes())}`;
}
tickClock();
setInterval(tickClock, 15_000);

updateSendButton();
applyMode();
refresh();
setInterval(() => {
  if (pending === 0) refresh();
}, POLL_MS);

// For the browser test and for debugging from the console.
window.__phone = { state: S, refresh, act };
