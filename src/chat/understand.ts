/**
 * Reading a citizen's message before it is searched: what they wrote → what they ask, in the
 * catalogue's words.
 *
 *  1. NFKC, lower case; mixed-in English phrases become Chinese ("ID card丢了" → 身份证丢了).
 *  2. Traditional characters become simplified (opencc-js's dictionaries: phrases first, then
 *     characters): "社保卡辦好要幾天" → 社保卡办好要几天.
 *  3. Each clause is cut into words by jieba (@node-rs/jieba) over a trimmed general dictionary
 *     plus the catalogue's own words and the lexicon's, and each word is read: a dialect or
 *     colloquial word becomes the standard one (阿拉 → 我们, 屋里厢 → 家里, 咋个 → 怎么), a
 *     dialect particle at the end of a clause becomes 吗 (好办伐), fillers and story words go
 *     (喂你好, 老板说, 上个月).
 *  4. Words the catalogue never uses cost nothing — unless they name a thing (a noun: 猫, 垃圾分类,
 *     快递): then they stay, and the search's evidence gate sees a question about something the
 *     catalogue does not have.
 *  5. A long message that tells a story before it asks ("老板说公司效益不好把我辞退了，我在这个
 *     单位干了六年，失业金能领几个月") is searched by the clause that asks (the last one with a
 *     question in it) — with the topic words of the clauses before it when that clause names no
 *     topic of its own ("…是不是要先办居住证，怎么办").
 *
 * Memory: jieba with its full dictionary adds about 50 MB RSS; with the 50,000 most frequent
 * words (src/chat/data/jieba-dict.txt, scripts/jieba-dict.ts) about 12 MB. opencc-js's own
 * converter builds a trie worth about 8 MB; its dictionaries as two maps cost well under 1 MB.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Jieba } from '@node-rs/jieba';
import { Locale } from 'opencc-js/t2cn';
import { SOURCE_DIR } from '../paths.ts';
import type { Lexicon } from './lexicon.ts';

/** What the catalogue knows: a word of its dictionary, or text whose characters it uses. */
export interface Vocabulary {
  /** A dictionary word of the catalogue (a keyword, synonym or item name), not a function word. */
  isWord(text: string): boolean;
  /** Whether the catalogue uses this text: a dictionary word, one of its Han bigrams, or (one character) that character. */
  uses(text: string): boolean;
}

export interface ReadQuery {
  /** What to search, in the catalogue's words. */
  text: string;
  /** The message was long and only its asking clause (and topic words) was kept. */
  clause: boolean;
}

// ───────────────────────── traditional → simplified ─────────────────────────

let t2s: ((s: string) => string) | null = null;

function simplifier(): (s: string) => string {
  if (t2s) return t2s;
  const phrases = new Map<string, string>();
  const chars = new Map<string, string>();
  let longest = 1;
  const [phraseDict, charDict] = Locale.to.cn[0] as readonly string[];
  for (const dict of [phraseDict ?? '', charDict ?? '']) {
    for (const pair of dict.split('|')) {
      const sp = pair.indexOf(' ');
      if (sp <= 0) continue;
      const from = pair.slice(0, sp);
      const to = pair.slice(sp + 1);
      if ([...from].length === 1) chars.set(from, to);
      else {
        phrases.set(from, to);
        longest = Math.max(longest, from.length);
      }
    }
  }
  t2s = (s: string) => {
    let out = '';
    for (let i = 0; i < s.length; ) {
      let done = false;
      for (let l = Math.min(longest, s.length - i); l >= 2; l--) {
        const to = phrases.get(s.slice(i, i + l));
        if (to !== undefined) {
          out += to;
          i += l;
          done = true;
          break;
        }
      }
      if (done) continue;
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out += chars.get(ch) ?? ch;
      i += ch.length;
    }
    return out;
  };
  return t2s;
}

/** Traditional → simplified, as the search reads it. */
export function simplify(s: string): string {
  return simplifier()(s);
}

// ─────────────────────────────── the reader ───────────────────────────────

/** jieba's tags for words that name a thing (nouns, names, places, organisations, idioms used as nouns). */
const NOUN_TAGS = new Set(['a', 'n', 'nr', 'nrt', 'nrfg', 'ns', 'nt', 'nz', 'ng', 'vn', 'an', 'l', 'i', 'j', 's']);
/** Numbers, pronouns, adverbs, prepositions, particles, classifiers, times and places: never the topic. */
const FUNCTION_TAG = /^(m|mq|r|rr|rz|d|p|c|u|uj|ul|uz|ug|uv|ud|y|e|o|q|t|tg|f|x)$/;
/** A clause that asks. */
const ASKS = /[?？吗么呢啥哪几]|什么|多少|多久|多长|怎么|怎样|如何|能不能|可不可以|可以|是否|要不要|有没有|行不行|咋|在哪/;
const CLAUSE_BREAK = /[，。！？；：、,.!?;:\n…~～]+/;
const LONG = 14;
/**
 * What a thing the catalogue does not have is searched as: letters that are neither pinyin (no
 * vowel) nor initials (longer than any), so the search weighs it as a word it never saw.
 */
export const OPAQUE = 'qxqxqxqxqx';

let jiebaShared: { jieba: Jieba; words: Set<string> } | null = null;

export class QueryReader {
  private readonly jieba: Jieba;
  private readonly english: [RegExp, string][];
  private readonly standard: Map<string, string>;
  private readonly particles: Map<string, string>;
  private readonly drop: Set<string>;
  private readonly people: Set<string>;

  constructor(
    lexicon: Lexicon,
    private readonly vocab: Vocabulary,
    catalogueWords: readonly string[],
  ) {
    this.english = Object.entries(lexicon.english)
      .sort((a, b) => b[0].length - a[0].length)
      .map(([en, zh]) => [new RegExp(`(?<![a-z])${en.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s*')}(?![a-z])`, 'g'), zh]);
    this.standard = new Map(Object.entries(lexicon.standard).map(([k, v]) => [simplify(k), v]));
    this.particles = new Map(Object.entries(lexicon.particles));
    this.drop = new Set([...lexicon.fillers, ...lexicon.story].map(simplify));
    this.people = new Set(lexicon.people.map(simplify));
    // One segmenter per process: the general dictionary is the same for every index; the words
    // of every catalogue and lexicon seen so far are added to it (a word only makes cuts finer
    // where it occurs).
    const extra = [...this.standard.keys(), ...this.drop, ...this.people, ...catalogueWords.map((w) => simplify(w.normalize('NFKC').toLowerCase()))].filter(
      (w) => w && !/\s/.test(w),
    );
    if (!jiebaShared) {
      const dict = readFileSync(join(SOURCE_DIR, 'chat', 'data', 'jieba-dict.txt'));
      jiebaShared = { jieba: Jieba.withDict(dict), words: new Set() };
    }
    const fresh = extra.filter((w) => !jiebaShared!.words.has(w));
    if (fresh.length) {
      // A high frequency: the catalogue's and the lexicon's words win over the general dictionary's cuts.
      jiebaShared.jieba.loadDict(Buffer.from(fresh.map((w) => `${w} 50000 n`).join('\n')));
      for (const w of fresh) jiebaShared.words.add(w);
    }
    this.jieba = jiebaShared.jieba;
  }

  /** People words (老伴, 老头子): they say who a question is for, and weigh little. */
  get peopleWords(): string[] {
    return [...this.people];
  }

  read(raw: string): ReadQuery {
    let s = raw.normalize('NFKC').toLowerCase();
    if (/[a-z]/.test(s)) for (const [re, zh] of this.english) s = s.replace(re, zh);
    s = simplify(s);
    const clauses = s.split(CLAUSE_BREAK).filter((c) => c.trim());
    const han = (s.match(/\p{Script=Han}/gu) ?? []).length;
    const short = clauses.length < 2 || han < LONG;
    // In a short message every word is part of the question: one the catalogue never uses (好吃,
    // 装修) says it is about something else. In a long one, only the asking clause's are.
    const read = clauses.map((c, i) => this.readClause(c, short || (i === clauses.length - 1 && ASKS.test(c))));
    if (short) return { text: read.map((r) => r.text).join('，'), clause: false };
    // A story before the question: the last clause that asks, with the topic words before it
    // when it names no topic itself.
    let ask = -1;
    for (let i = clauses.length - 1; i >= 0; i--) {
      if (ASKS.test(clauses[i]!) && read[i]!.text) {
        ask = i;
        break;
      }
    }
    if (ask < 0) ask = read.length - 1;
    let text = read[ask]!.text;
    if (!read[ask]!.topics.length) {
      for (let i = ask - 1; i >= 0; i--) {
        if (read[i]!.topics.length) {
          text = `${read[i]!.topics.join('')}${text}`;
          break;
        }
      }
    }
    return { text, clause: true };
  }

  /** One clause: its words read, and the catalogue words among them (its topics). */
  private readClause(c: string, asking: boolean): { text: string; topics: string[] } {
    const tagged = this.jieba.tag(c, false);
    const out: string[] = [];
    const topics: string[] = [];
    for (let i = 0; i < tagged.length; i++) {
      let { word } = tagged[i]!;
      const { tag } = tagged[i]!;
      if (!word.trim()) {
        out.push(' ');
        continue;
      }
      const last = i === tagged.length - 1 || !tagged.slice(i + 1).some((t) => t.word.trim());
      if (last && this.particles.has(word)) word = this.particles.get(word)!;
      word = this.standard.get(word) ?? word;
      if (this.drop.has(word)) continue;
      if (!/\p{Script=Han}/u.test(word)) {
        out.push(word);
        continue;
      }
      if (this.people.has(word)) {
        // Set apart: its characters must not join the next word's in the search's own cuts
        // (我们家|里|老头子 would leave 里 weighing as much as 敬老卡).
        out.push(` ${word} `);
        continue;
      }
      if (this.vocab.uses(word)) {
        out.push(word);
        // A topic names a thing: not a catalogue keyword that is itself a question (要带什么).
        if (this.vocab.isWord(word) && !ASKS.test(word)) topics.push(word);
        continue;
      }
      // A word the catalogue never uses: a thing stays, as one opaque unit the catalogue does not
      // have (the gate must see a question about something else), never matched by sound (垃圾 is
      // a word, not a typo of some catalogue word); anything else goes.
      // A word whose characters the catalogue mostly uses may be a typo of one of its words
      // (身分证): it stays as typed, for the search to read by sound.
      if (!NOUN_TAGS.has(tag) && !(asking && [...word].length >= 2 && !FUNCTION_TAG.test(tag))) continue;
      const chars = [...word];
      const unused = chars.filter((ch) => !this.vocab.uses(ch)).length;
      out.push(unused * 2 >= chars.length ? ` ${OPAQUE} ` : word);
    }
    return { text: out.join('').replace(/\s+/g, ' ').trim(), topics };
  }
}
