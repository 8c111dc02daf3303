import type { Dialog } from '../engine.ts';

/**
 * 我要咨询: the citizen writes the question in their own words, and it goes to staff with a
 * promise of when they answer.
 */
export const askDialog: Dialog = {
  freeText: true,
  async start() {
    return {
      reply: { type: 'text', content: '请直接输入您想咨询的问题，尽量写清楚事项和您的情况，我们会转给工作人员。\n（回复 00 可以取消）' },
      ref: 'dialog:ask',
    };
  },
  async step(t, engine) {
    if (t.text === null || t.text.length < 2) {
      return { reply: { type: 'text', content: '请用文字把问题写下来，我们好转给工作人员。（回复 00 可以取消）' }, ref: 'dialog:ask' };
    }
    const answer = await engine.handoff(t, 'dialog', t.said ?? t.text);
    return { ...answer, done: true };
  },
};
