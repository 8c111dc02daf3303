import { z } from 'zod';

/**
 * The sentences weiban itself says to citizens, where a department may need other words: the
 * defaults fit any department (a police desk, a library, a hospital, a service centre). Sentences
 * about one service (a guide, a reply) are the department's own, elsewhere in the profile.
 */

const text = (max: number) => z.string().trim().min(1).max(max);

/**
 * Words weiban's own sentences use for the things a department handles, and what a profile may
 * call them instead: a library's event sign-up is a 报名 that is 确认 and 完成, not a 办件 that is
 * 受理 and 办结; a police account's halls are 派出所. Longer words are replaced first (办事大厅
 * before 大厅), in weiban's own chat sentences (not in a reply the profile wrote), pushes and
 * citizen pages.
 */
export const VOCABULARY = ['办件', '受理', '办结', '办事大厅', '大厅', '办事指南', '预约'] as const;
export type VocabularyWord = (typeof VOCABULARY)[number];

export const textsSchema = z
  .object({
    vocabulary: z
      .partialRecord(z.enum(VOCABULARY, { error: (i) => `expected one of ${VOCABULARY.join(' ')}; got ${JSON.stringify(i.input)}` }), text(8))
      .default({}),
    /** 我要咨询: what the citizen is asked to write (a dialog reply may give its own prompt). */
    ask_prompt: text(300).default('请直接输入您想咨询的问题，尽量写清楚事项和您的情况，我们会转给工作人员。\n（回复 00 可以取消）'),
    /** Asked again when the answer to the prompt is no words. */
    ask_retry: text(200).default('请用文字把问题写下来，我们好转给工作人员。（回复 00 可以取消）'),
    /** How a form's address field should be filled, in the department's own place names. */
    address_example: text(60).default('例如：幸福路 100 弄 2 号 301 室'),
    /** Heading of the halls page, and the first line of the reply to a sent location. */
    halls_title: text(20).default('附近的办事大厅'),
    nearest_title: text(40).default('离您最近的办事大厅：'),
    /** Under the nearest halls, when one of them takes bookings. */
    nearest_book_hint: text(100).default('回复「预约」可以约时间，到大厅少排队。'),
    /** Under an answer search gave at once (without a list to choose from). */
    search_not_it: text(100).default('不是您要问的？可以换个说法再问，或回复「转人工」。'),
    /** Under the nearest halls when none of them takes bookings (none by default). */
    nearest_hint: text(100).optional(),
  })
  .strict();

export type Texts = z.infer<typeof textsSchema>;

/** Weiban's own sentences in the department's words (see VOCABULARY). */
export type Wording = (s: string) => string;

export function wording(vocabulary: Partial<Record<VocabularyWord, string>>): Wording {
  const pairs = Object.entries(vocabulary)
    .filter(([from, to]) => to && to !== from)
    .sort((a, b) => b[0].length - a[0].length) as [string, string][];
  if (pairs.length === 0) return (s) => s;
  const re = new RegExp(pairs.map(([w]) => w).join('|'), 'g');
  const to = new Map(pairs);
  return (s) => s.replace(re, (w) => to.get(w) ?? w);
}

/**
 * What a case step's status reads as: its own `status`, or the step's name as a state — 受理 →
 * 受理中, but 煎药中 stays 煎药中 and 报名成功, 已发货, 配送完成 stay as they are.
 */
export function stepStatus(step: { name: string; status?: string | undefined }): string {
  if (step.status) return step.status;
  const n = step.name;
  if (/中$|^已|成功$|完成$|完毕$|结束$/.test(n)) return n;
  return `${n}中`;
}
