import type { Faq, Service } from '../profile/catalogue.ts';

/** One numbered line: "回复 1  查办事指南", the number tappable when asked. */
export function numberedLine(n: number, label: string, tappable: boolean): string {
  const num = tappable ? `<a href="weixin://bizmsgmenu?msgmenucontent=${n}&msgmenuid=${n}">${n}</a>` : String(n);
  return `回复 ${num}  ${label}`;
}

/** A numbered list with the way back: what every menu level and result list looks like. */
export function numberedList(
  title: string,
  labels: string[],
  opts: { tappable: boolean; back: boolean; hint?: string | undefined },
): string {
  const lines = [title, ...labels.map((l, i) => numberedLine(i + 1, l, opts.tappable))];
  const way = opts.back ? ['回复 0 返回上一级', '回复 00 回到首页'] : [];
  if (way.length) lines.push(way.join(' · '));
  if (opts.hint) lines.push(opts.hint);
  return lines.join('\n');
}

/** The labels of a message's numbered lines, by number (what `numberedLine` wrote). */
export function listedLabels(text: string): string[] {
  const labels: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^回复 (?:<a [^>]*>)?(\d+)(?:<\/a>)?  (.+)$/.exec(line);
    if (m && Number(m[1]) === labels.length + 1) labels.push(m[2]!);
  }
  return labels;
}

/** 办事指南 as a chat message: plain labels, one fact per line. */
export function guideText(s: Service): string {
  const g = s.guide;
  const lines = [`【${s.name}】`, g.summary, ''];
  if (g.conditions.length) lines.push('办理条件：', ...g.conditions.map((c, i) => `${i + 1}. ${c}`));
  lines.push('需要带：', ...g.materials.map((m, i) => `${i + 1}. ${m}`));
  lines.push(`收费：${g.fee}`, `地点：${g.where}`, `时间：${g.when}`, `时限：${g.time_limit}`);
  if (g.phone) lines.push(`咨询电话：${g.phone}`);
  return lines.join('\n');
}

export function faqText(f: Faq): string {
  return `【${f.question}】\n${f.answer}`;
}

/** Escape text placed inside an `<a>` in a WeChat text message. */
export function escapeLinkText(s: string): string {
  return s.replace(/</g, '＜').replace(/>/g, '＞');
}

export function linkLine(url: string, title: string, description?: string): string {
  const a = `<a href="${url.replace(/"/g, '%22')}">${escapeLinkText(title)}</a>`;
  return description ? `${description}\n${a}` : a;
}
