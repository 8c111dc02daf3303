import type { HandoffRouteSpec } from '../../profile/conversation.ts';
import type { InboundMessage } from '../../wechat/messages.ts';
import type { Dialog, Turn } from '../engine.ts';

/** What the rule or menu entry that started the dialog said (reply: { dialog: ask, prompt, accept, route }). */
interface AskState {
  prompt?: string;
  accept?: ('location' | 'image')[];
  route?: HandoffRouteSpec;
}

const state = (t: Turn): AskState => (t.session.dialog?.data ?? {}) as AskState;

/** A sent location or photo, as staff read it in the queue (the message itself stays in the conversation log). */
function report(m: InboundMessage): string | null {
  if (m.kind === 'location') return `【位置】${m.label || '（未注明地名）'}（${m.latitude.toFixed(5)}, ${m.longitude.toFixed(5)}）`;
  if (m.kind === 'location_select') return `【位置】${m.label || '（未注明地名）'}（${m.latitude.toFixed(5)}, ${m.longitude.toFixed(5)}）`;
  if (m.kind === 'image') return '【图片】（见对话记录）';
  return null;
}

/**
 * 我要咨询, and reports made the same way (拥堵上报, 随手拍): the citizen writes the question in their
 * own words — or, where the rule allows it, sends a location or a photo — and it goes to staff,
 * where the rule routes it, with a promise of when they answer.
 */
export const askDialog: Dialog = {
  freeText: true,
  takes: (data) => ((data as AskState).accept ?? []) as InboundMessage['kind'][],
  async start(t, engine) {
    return { reply: { type: 'text', content: state(t).prompt ?? engine.texts.ask_prompt }, ref: 'dialog:ask', own: true };
  },
  async step(t, engine) {
    const { route } = state(t);
    const sent = report(t.msg);
    if (sent !== null) return { ...(await engine.handoff(t, 'dialog', sent, { route })), done: true };
    if (t.text === null || t.text.length < 2) return { reply: { type: 'text', content: engine.texts.ask_retry }, ref: 'dialog:ask', own: true };
    const answer = await engine.handoff(t, 'dialog', t.said ?? t.text, { route });
    return { ...answer, done: true };
  },
};
