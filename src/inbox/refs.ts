/**
 * What answered a message, in staff's words. The conversation log records a ref for each message
 * the account sent (rule:office-hours, service:passport via menu:guides, handoff:requested …): a
 * code for counting, not for reading. Staff read "办事指南「护照」（菜单）".
 */
export interface RefNames {
  service(id: string): string | undefined;
  faq(id: string): string | undefined;
  button(key: string): string | undefined;
}

const FIXED: Record<string, string> = {
  welcome: '关注欢迎语',
  home: '首页菜单',
  search: '搜索结果',
  audiences: '选择身份',
  'out-of-range': '请市民重新选择',
  'non-text': '非文字消息的回复',
  default: '默认回复',
  unanswered: '答不上来的默认回复',
  silent: '不需回复',
  'handoff:requested': '转人工',
  'handoff:unanswered': '答不上来，转人工',
  'handoff:dialog': '留言咨询，转人工',
  'handoff:waiting': '告知问题已在排队',
  'handoff:resumed': '市民重新转人工',
  'handoff:left': '市民结束人工服务',
  'handoff:left-waiting': '市民回到自动服务（问题仍待答复）',
  'handoff:none': '市民要结束人工（已结束）',
  'with-staff:menu': '告知先结束人工再用菜单',
  'with-staff:received': '告知留言已转给工作人员',
  'with-staff:found': '等待时推荐的内容',
  'dialog:ask': '我要咨询',
  book: '预约',
  'book:full': '预约（已约满）',
  'book:refused': '预约（未成功）',
  'halls:nearest': '最近的大厅',
  'checkin:unknown': '签到（未找到预约）',
  progress: '查进度',
  'progress:not-found': '查进度（未找到）',
  'progress:too-many': '查进度（尝试过多）',
  'bills:list': '我的缴费（待缴费用）',
  'bills:none': '我的缴费（没有待缴费用）',
  'rating:refused': '评价（未记录）',
  'staff-bind:done': '工作人员绑定微信',
  'staff-bind:expired': '工作人员绑定（已过期）',
};

/** One part of a ref (before or after "via"). */
function part(ref: string, n: RefNames): string {
  if (FIXED[ref]) return FIXED[ref]!;
  const i = ref.indexOf(':');
  const kind = i < 0 ? ref : ref.slice(0, i);
  const id = i < 0 ? '' : ref.slice(i + 1);
  switch (kind) {
    case 'service':
      return `办事指南「${n.service(id) ?? id}」`;
    case 'faq':
      return `常见问题「${n.faq(id) ?? id}」`;
    case 'menu':
      return `菜单「${n.button(id) ?? n.service(id) ?? id}」`;
    case 'rule':
      return '关键词回复';
    case 'nav':
      return '导航菜单';
    case 'scene':
      return '扫码欢迎语';
    case 'audience':
      return '切换身份';
    case 'case':
      return '办件进度';
    case 'booking':
      return '预约信息';
    case 'rating':
      return '评价';
    case 'handoff':
      return FIXED[`handoff:${id.split(':')[0]}`] ?? '转人工';
    case 'book':
      return '预约';
    case 'progress':
      return '查进度';
    case 'my-bookings':
      return '我的预约';
    case 'hall-hours':
      return '大厅开放时间';
    default:
      return '自动回复';
  }
}

export function refWords(ref: string, n: RefNames): string {
  const [what, via] = ref.split(' via ');
  const main = part(what!, n);
  if (!via) return main;
  const from = part(via, n);
  return from === main ? main : `${main}（来自${from}）`;
}
