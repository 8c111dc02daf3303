/**
 * What a citizen wants done, besides what it is about: "预约社保卡", "我想约个号办护照" and
 * "办护照可以先预约吗" ask to book that item, not for the list of everything bookable; "约" alone
 * asks to book. The words come from the profile's `intents` section: a hospital books with 挂号,
 * a government service centre does not (there 挂号 is a hospital's word, and goes to search).
 */
import { z } from 'zod';

const words = z.array(z.string().trim().min(1, 'expected a word').max(10, 'expected a word of at most 10 characters'));

export const intentsSchema = z
  .object({
    /** Booking: a message with one of these words and an item books that item; one alone starts booking. */
    book: z
      .object({
        words: words.min(1).default(['预约', '约个号', '约号', '约一下', '约']),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Intents = z.infer<typeof intentsSchema>;

/** Words around an intent that say nothing about the item ("我想", "可以先", "吗"). */
const AROUND = /我想|我要|想要|帮我|可以|可不可以|能不能|能否|能|先|一下|个号|吗|呢|啊|吧|请问|你好|您好|[\s\p{P}\p{S}]/gu;

export class IntentReader {
  private readonly book: string[];

  constructor(intents: Intents) {
    // Longest first, so that 约个号 goes before 约.
    this.book = [...intents.book.words].map((w) => w.normalize('NFKC').toLowerCase()).sort((a, b) => b.length - a.length);
  }

  /**
   * A booking intent: null when the text does not ask to book; else what is left once the
   * booking words and the words around them are gone ('' when it asks to book and names nothing).
   */
  booking(text: string): { rest: string } | null {
    const t = text.normalize('NFKC').toLowerCase();
    let found = false;
    let rest = t;
    for (const w of this.book) {
      // A one-character word (约) only where the message begins with it, after 我想 and the
      // like: 约社保卡, 我想约 — not 签约, 大约多久.
      if (w.length === 1 && !rest.replace(AROUND, '').startsWith(w)) continue;
      if (rest.includes(w)) {
        found = true;
        rest = rest.split(w).join(' ');
      }
    }
    if (!found) return null;
    return { rest: rest.replace(AROUND, ' ').replace(/\s+/g, ' ').trim() };
  }
}
