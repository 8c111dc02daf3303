import type { KeywordRule } from '../profile/conversation.ts';
import { visible, type Visibility } from './navigation.ts';
import { normalizeInput } from './text.ts';

const KIND_ORDER = { exact: 0, contains: 1, regex: 2 } as const;

interface Compiled {
  rule: KeywordRule;
  order: number;
  /** exact / contains: the patterns with their synonyms, normalised and lower-cased. */
  words: string[];
  regexes: RegExp[];
}

/**
 * Keyword auto-replies: exact, contains and regular-expression rules with priorities. A pattern
 * also matches the other words of its synonym group (社保 matches 社会保险).
 */
export class KeywordRules {
  private readonly compiled: Compiled[];
  private readonly byClick = new Map<string, KeywordRule[]>();

  constructor(rules: KeywordRule[], synonyms: string[][]) {
    const groupOf = new Map<string, string[]>();
    for (const g of synonyms) for (const w of g) groupOf.set(norm(w), g.map(norm));
    this.compiled = rules.map((rule, order) => {
      const words = rule.match === 'regex' ? [] : [...new Set(rule.patterns.flatMap((p) => groupOf.get(norm(p)) ?? [norm(p)]))];
      // longest first, so the most specific word is tried first
      words.sort((a, b) => b.length - a.length);
      const regexes = rule.match === 'regex' ? rule.patterns.map((p) => new RegExp(p, 'iu')) : [];
      for (const key of rule.click_keys) this.byClick.set(key, [...(this.byClick.get(key) ?? []), rule]);
      return { rule, order, words, regexes };
    });
    // Decide once: priority, then exact before contains before regex, then profile order.
    this.compiled.sort((a, b) => b.rule.priority - a.rule.priority || KIND_ORDER[a.rule.match] - KIND_ORDER[b.rule.match] || a.order - b.order);
  }

  /**
   * The best rule for a message, or null. With `whole`, only a rule whose words are the whole
   * message (a contains rule's word alone, a regular expression matching all of it).
   */
  match(input: string, v: Visibility, o: { whole?: boolean } = {}): KeywordRule | null {
    const whole = o.whole === true;
    // A message is matched more than once while it is routed (a route's test, then its answer):
    // the last answer is kept for the same words seen by the same citizen at the same moment
    // (what a rule's visibility depends on).
    const last = this.last;
    if (last && last.input === input && last.now === v.now && last.audience === v.audience && last.whole === whole) return last.rule;
    const rule = this.find(input, v, whole);
    this.last = { input, now: v.now, audience: v.audience, whole, rule };
    return rule;
  }

  private last: { input: string; now: number; audience: string | null; whole: boolean; rule: KeywordRule | null } | null = null;

  private find(input: string, v: Visibility, whole: boolean): KeywordRule | null {
    const text = norm(input);
    if (!text) return null;
    for (const c of this.compiled) {
      if (!visible(c.rule, v)) continue;
      const kind = c.rule.match;
      if (kind === 'exact' || (kind === 'contains' && whole)) {
        if (c.words.includes(text)) return c.rule;
      } else if (kind === 'contains') {
        for (const w of c.words) if (text.includes(w)) return c.rule;
      } else if (kind === 'regex') {
        const trimmed = whole ? input.trim() : input;
        for (const r of c.regexes) if (whole ? r.exec(trimmed)?.[0] === trimmed : r.test(input)) return c.rule;
      }
    }
    return null;
  }

  /** The rule answering a menu CLICK key. */
  forClick(key: string, v: Visibility): KeywordRule | null {
    return this.byClick.get(key)?.find((r) => visible(r, v)) ?? null;
  }
}

function norm(s: string): string {
  return normalizeInput(s).toLowerCase().replace(/[。！？!?，,.\s]+$/u, '');
}
