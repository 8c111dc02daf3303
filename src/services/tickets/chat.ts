import type { ChatRoute, Dialog, Turn } from '../../chat/engine.ts';
import type { InboundMessage } from '../../wechat/messages.ts';
import { TicketError, type Tickets } from './index.ts';

/** What the dialog has gathered so far (kept in the session). */
interface Draft {
  kind?: string;
  category?: string;
  urgent?: boolean;
  stage?: 'collect' | 'confirm';
  words?: string[];
  photos?: string[];
  location?: { lat: number; lng: number; label: string };
}

const DONE = new Set(['好了', '好', '说完了', '完了', '没有了', '没了', '提交', '就这些', '好的', 'ok', 'OK']);
const CANCEL = new Set(['取消', '不说了', '算了', '不要了']);
const MAX_WORDS = 3000;

const KIND_WORDS: [RegExp, string][] = [
  [/举报/, 'report'],
  [/投诉|不满|太吵|扰民|乱停|占道/, 'complaint'],
  [/建议|希望能|能不能/, 'suggestion'],
  [/求助|帮帮|帮忙|救/, 'help'],
  [/表扬|感谢|点赞/, 'praise'],
  [/咨询|请问|问一下/, 'consult'],
];

const data = (t: Turn): Draft => t.session.dialog!.data as Draft;
const say = (content: string, ref = 'dialog:ticket') => ({ reply: { type: 'text' as const, content }, ref });

/**
 * 我要投诉 / 我要反映 in chat: the citizen says it in their own way — words, voice, photos and a
 * location, in any order and as many messages as they like — then confirms, and the report is
 * filed with the same command as the 随手拍 page and the mailbox.
 */
export function ticketDialog(tickets: Tickets): Dialog {
  const summary = (d: Draft) => {
    const words = (d.words ?? []).join('；');
    const cat = d.category ?? tickets.guessCategory(words);
    return [
      `内容：${[...words].slice(0, 200).join('')}${[...words].length > 200 ? '…' : ''}`,
      `类别：${cat ? tickets.categoryName(cat) : '（由工作人员分类）'}`,
      `照片：${d.photos?.length ?? 0} 张`,
      `位置：${d.location ? d.location.label || `${d.location.lat.toFixed(5)}, ${d.location.lng.toFixed(5)}` : '未发送'}`,
    ].join('\n');
  };
  const prompt = (d: Draft) => `已记下。还可以继续补充文字、语音、照片或位置；说完请回复「好了」。（已有：文字 ${d.words?.length ?? 0} 条，照片 ${d.photos?.length ?? 0} 张${d.location ? '，位置 1 个' : ''}）`;
  const kindOf = (d: Draft, words: string) => {
    if (d.kind) return d.kind;
    for (const [re, id] of KIND_WORDS) if (re.test(words) && tickets.kinds.has(id)) return id;
    return undefined;
  };

  return {
    freeText: true,
    takes: ['image', 'location', 'location_select', 'voice'] as InboundMessage['kind'][],
    async start(t) {
      const d = data(t);
      d.stage = 'collect';
      d.words = [];
      d.photos = [];
      return { ...say(tickets.settings.texts.start), own: true };
    },
    async step(t) {
      const d = data(t);
      const m = t.msg;
      if (m.kind === 'image') {
        if ((d.photos?.length ?? 0) >= tickets.settings.max_photos) return say(`照片最多 ${tickets.settings.max_photos} 张，已经够了。说完请回复「好了」。`);
        d.photos = [...(d.photos ?? []), m.picUrl];
        d.stage = 'collect';
        return say(`照片收到了。${prompt(d)}`);
      }
      if (m.kind === 'location' || m.kind === 'location_select') {
        d.location = { lat: m.latitude, lng: m.longitude, label: (m.kind === 'location_select' ? m.poiname || m.label : m.label).slice(0, 200) };
        d.stage = 'collect';
        return say(`位置收到了：${d.location.label || '（地图上的位置）'}。${prompt(d)}`);
      }
      if (t.text === null) return say('没听清这条语音，请再说一遍或打字告诉我们。');
      const text = t.text;
      if (CANCEL.has(text)) return { ...say(tickets.settings.texts.cancelled), own: true, done: true };
      if (d.stage === 'confirm') {
        if (text === '1') {
          const words = (d.words ?? []).join('\n');
          try {
            const row = await tickets.file({
              channel: 'chat',
              openid: t.openid,
              kind: kindOf(d, words),
              category: d.category ?? tickets.guessCategory(words) ?? tickets.settings.categories[0]!.id,
              urgent: d.urgent ?? false,
              description: words,
              ...(d.location ? { lat: d.location.lat, lng: d.location.lng, address: d.location.label || undefined } : {}),
              chatPhotos: d.photos ?? [],
            });
            return { reply: { type: 'text', content: tickets.filedText(row) }, ref: `ticket:${row.id}`, own: true, done: true };
          } catch (err) {
            if (!(err instanceof TicketError) || err.code !== 'invalid') throw err;
            d.stage = 'collect';
            if (err.fields.location) d.location = undefined;
            return say(`${Object.values(err.fields).join('；')}。请补充后回复「好了」。`);
          }
        }
        if (text === '2') {
          d.stage = 'collect';
          return say('好的，请继续补充，说完回复「好了」。');
        }
        if (text === '0') return { ...say(tickets.settings.texts.cancelled), own: true, done: true };
        // Anything else written at the confirmation is more of the report.
      }
      if (DONE.has(text)) {
        const words = (d.words ?? []).join('');
        if ([...words].length < 4) return say('还没有说明情况呢：请用几句话说说发生了什么、在哪里。');
        d.stage = 'confirm';
        return { ...say(tickets.settings.texts.confirm.replace('{summary}', summary(d))), own: true };
      }
      const said = t.said ?? text;
      if ([...(d.words ?? []).join('')].length + [...said].length > MAX_WORDS) return say('内容已经很多了，请回复「好了」提交，细节可以在办理时再补充。');
      d.words = [...(d.words ?? []), said];
      d.stage = 'collect';
      return say(prompt(d));
    },
  };
}

/** `tkv-<ticket id>-<1|0>`: the 回访 question's choices (solved / not solved). */
const VISIT = /^tkv-(\d{1,12})-([01])$/;

/** The 回访 answer, wherever the citizen is in the conversation (it runs early). */
export function visitRoute(tickets: Tickets): ChatRoute {
  return {
    name: 'a 回访 answer: is the reported problem solved (bizmsgmenu)',
    when: (m) => m.kind === 'text' && VISIT.test(m.bizmsgmenuid ?? ''),
    handle: async (m) => {
      const [, id, solved] = VISIT.exec((m as { bizmsgmenuid: string }).bizmsgmenuid)!;
      try {
        await tickets.visit(Number(id), 'citizen', solved === '1', null, m.fromUser);
        // What follows (thanks and the rating question, or the reopening) is pushed in the ticket's order.
        return { reply: null, ref: `ticket-visit:${solved}` };
      } catch (err) {
        if (err instanceof TicketError) return { reply: { type: 'text', content: err.message }, ref: 'ticket-visit:refused' };
        throw err;
      }
    },
  };
}
