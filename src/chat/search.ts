/**
 * Search over the FAQ and the service catalogue, for the message that matched no keyword rule and
 * no menu number. It must find the answer when a citizen types colloquially, in pinyin, with
 * initials ("sbk") or with a homophone typo ("社宝卡", "居注证"), and it must say "nothing" when
 * nothing fits, so that the message goes to a human.
 *
 * How it works, in the order a query goes through it:
 *  1. Normalise (NFKC, lower case), cut to the first {@link MAX_QUERY_CHARS} characters, and split
 *     into units: a Han character, a pinyin syllable (letters that parse as pinyin: "shebaoka"),
 *     or a word of other letters or digits ("sbk", "12345"). Punctuation breaks runs.
 *  2. Segment each run against a small dictionary built from the catalogue itself (keywords,
 *     synonyms, names, the synonym groups) plus a built-in list of function words (的 了 怎么办 …).
 *     A dictionary word may match by sound: same toneless pinyin, with the usual fuzzy pairs
 *     (z/zh, c/ch, s/sh, n/l, in/ing, en/eng), so "社宝卡" reads as 社保卡 and "gongjijin" as
 *     公积金; for typed characters at least one must be exact and no more than half may differ.
 *     A letters-only word may be the initials of a dictionary word ("sbk" → 社保卡).
 *  3. Function words are dropped (bigrams bridge them: "失业金能领" gives 金领, like the keyword
 *     "失业金领多久"). What remains gives the query terms: Han unigrams and bigrams, fuzzy-pinyin
 *     bigrams, other words; plus the bigrams of a word recognised by sound or initials, and of the
 *     other members of its synonym groups, at lower weights.
 *  4. Rank with BM25F over the same terms in the documents' fields (title and keywords above
 *     synonyms above body; pinyin bigrams only in the short fields), leave out documents outside
 *     their validity window (as `isValidAt`), and raise a little: the citizen's audience's
 *     documents; a document one of whose keywords, synonyms or name is exactly the query (function
 *     words aside); FAQ answers for a question ("…吗", "多久") and service items for a bare name.
 *  5. Decide whether there is an answer at all: a hit must cover most of what the citizen said,
 *     each part of the query weighted by how rare it is in the catalogue (a character the
 *     catalogue never uses, like 猫, weighs most; person words like 老婆, numbers and "多少钱"
 *     weigh little). "我家猫丢了" matches 丢了 in "社保卡丢了怎么办" but covers little of the
 *     query, so nothing is returned and the message goes to a human.
 *
 * Memory: no general dictionary is loaded. The pinyin table (pinyin-data.ts, generated from
 * pinyin-pro, which itself would cost 13–21 MB) becomes a 54 KB typed array; postings and the
 * dictionary trie are flat typed arrays. Loading this module and indexing the demo catalogue add
 * 1–4 MB of RSS (`npm run bench -- search`); a 10,000-entry index keeps about 28 MB. A query
 * reuses the index's buffers and allocates about 2 KB.
 */
import type { Faq, Service } from '../profile/catalogue.ts';
import type { NavNode } from '../profile/conversation.ts';
import type { Hall } from '../profile/halls.ts';
import type { Profile } from '../profile/schema.ts';
import { parseChinaTime, type Validity } from '../profile/validity.ts';
import { describeWeekHours } from '../services/halls/index.ts';
import type { Lexicon } from './lexicon.ts';
import { QueryReader } from './understand.ts';
import { EXTRA, PRIMARY } from './pinyin-data.ts';

/** What a document is: a service item, an FAQ answer, a page of the navigation or menu (a policy, a notice, a list), a hall. */
export type DocKind = 'service' | 'faq' | 'page' | 'hall';

export interface SearchDoc extends Validity {
  /** `service:<id>`, `faq:<id>`, `nav:<id>`, `menu:<key>` or `hall:<id>`. */
  ref: string;
  kind: DocKind;
  title: string;
  keywords: string[];
  synonyms: string[];
  /** Guide or answer text. */
  body: string;
  /** Audience ids; empty means everyone. */
  audience: string[];
}

export interface SearchHit {
  ref: string;
  kind: DocKind;
  title: string;
  score: number;
  /** Share of the query (weighted by rarity) this document answers, 0–1. */
  coverage: number;
}

export interface SearchOptions {
  limit?: number;
  /** Documents outside their validity window at this time are left out. */
  now: number;
  /** The citizen's audience, if chosen: documents for it rank a little higher. */
  audience?: string | null;
}

/** Only the start of a long message is searched: nobody asks a question in 5,000 characters. */
export const MAX_QUERY_CHARS = 120;
const DEFAULT_LIMIT = 5;

// ─────────────────────────────── tuning ───────────────────────────────

/** Field weights and length normalisation (BM25F). */
const FIELDS = 4;
const F_TITLE = 0;
const F_KEYWORDS = 1;
const F_SYNONYMS = 2;
const F_BODY = 3;
const FIELD_WEIGHT = [3, 3, 2, 1];
const FIELD_B = [0.5, 0.3, 0.3, 0.75];
const K1 = 1.2;

/** Query term weights by kind. */
const W_BIGRAM = 1;
const W_UNIGRAM = 0.3;
const W_PINYIN = 0.5;
const W_WORD = 1;
const W_CORRECTED = 0.85;
const W_SYNONYM = 0.6;
const W_EDGE = 0.4;

/** How much of a query position a matching term covers (before the body-only discount). */
const C_BIGRAM = 1;
const C_UNIGRAM_ALONE = 1;
const C_UNIGRAM = 0.3;
const C_PINYIN = 0.7;
const C_CORRECTED = 0.9;
const C_SYNONYM = 0.85;
const C_EDGE = 0.8;
const C_BODY_ONLY = 0.5;

/** Query positions weigh their IDF, but a topic word used everywhere (身份证) at least this share of the maximum. */
const POS_FLOOR = 0.3;
/** A hit must cover at least this share of the query (weighted by rarity)… */
const MIN_COVERAGE = 0.66;
/** …and score at least this (BM25F units), and at least this share of the best hit's score. */
const MIN_SCORE = 1.2;
const MIN_SHARE_OF_TOP = 0.3;
/** Documents for the citizen's audience. */
const AUDIENCE_BOOST = 1.15;
/** The query, function words aside, is exactly one of the document's keywords, synonyms or name. */
const EXACT_BOOST = 1.25;
/** A question ("…吗", "怎么…", "多久") leans to FAQ answers, a bare name ("公司注销") to service items. */
const FORM_BOOST = 1.35;
/** Asking how to get something done, and nothing more specific. */
const HOW = /怎么办理?|怎么弄|怎么搞|怎么整|咋办|咋整|咋弄|咋搞|如何办理?|怎样办理?/g;
const QUESTION = /[?吗呢啥哪几怎咋]|什么|多少|多久|如何|能不能|可不可以|可以|是否|要不要|有没有/;

// ───────────────────────── words that carry no topic ─────────────────────────

/**
 * Function words, question words, greetings and verbs that every question has. They are dropped
 * from queries and documents alike. A catalogue word that contains one ("要带什么") still wins,
 * because segmentation prefers the longer word.
 */
const STOPWORDS = `
的 了 吗 呢 吧 啊 呀 哦 哟 嘛 么 嗯 哈 啦 咯 噢 诶 哎 喔 之
我 你 您 他 她 它 我们 你们 他们 她们 咱 咱们 俺 自己 大家 人家
是 在 有 没 没有 要 想 想要 需要 得要 能 能够 可以 可不可以 能不能 可否 应该 必须 该
去 来 到 给 让 把 被 向 从 往 朝 跟 和 与 及 或 或者 还是 还 也 都 就 才 又 再 很 太 挺 快 快要 就要 将要
这 那 这个 那个 这些 那些 这样 那样 这里 那里 这边 那边 个 些 一下 一个 一些 一点
怎么 怎么办 怎么样 怎样 怎么弄 咋 咋办 咋弄 咋整 如何 怎么做 怎么搞 啥 什么 什么样 哪 哪里 哪儿 哪个 在哪 在哪里 去哪 去哪里 到哪
为什么 为啥 干嘛 请问 问一下 问问 想问 咨询一下 你好 您好 好的 好吗 好不好 谢谢 谢了 多谢 麻烦 麻烦你 不好意思 请 老师 同志 小编
办 办理 办个 办一下 弄 搞 整 申请 办事 手续 流程 相关 有关 方面 问题 情况 事情 事 知道 告诉 说 看 看看 查一下 帮我 帮忙 帮我们
下来 下去 起来 出来 过来
现在 今天 明天 昨天 马上 已经 刚 刚刚 一直 还有 然后 所以 但是 可是 因为 如果 的话
`
  .split(/\s+/)
  .filter(Boolean);

/**
 * Words that say who, or ask how much / how long, rather than what: "我妈70岁了每个月有补贴吗",
 * "老婆户口迁过来", "身份证补办多少钱". They still match, but weigh little when deciding whether a
 * hit answers the query (as do bare numbers), so they neither sink a good answer nor carry a poor one.
 */
const LIGHT_WORDS = `
老婆 老公 爱人 媳妇 丈夫 妻子 对象 儿子 女儿 闺女 儿女 妈 爸 我妈 我爸 妈妈 爸爸 父亲 母亲 父母 爸妈
爷爷 奶奶 外公 外婆 公公 婆婆 岳父 岳母 家里 家人 家里人 我家 亲戚 朋友 同事 邻居 帮 帮着
外地人 外省人 外来人员 新上海人 本地人 上海人 老百姓 市民
多少 多少钱 多久 多长时间 几天 几个月 几年 几岁 什么时候 啥时候 哪些 哪天
`
  .split(/\s+/)
  .filter(Boolean);
const LIGHT = 0.1;

// ─────────────────────────────── pinyin ───────────────────────────────

const HAN_A_START = 0x3400; // CJK Extension A … through the unified block
const HAN_END = 0x9fff;
const HAN_SPAN = HAN_END - HAN_A_START + 1; // < 2^15, so a bigram key fits a small integer

let SYL: string[] = [];
let SYL_ID = new Map<string, number>();
/** syllable id → fuzzy class id */
let FUZZY: Uint16Array = new Uint16Array(0);
/** dense Han id → primary syllable id + 1 (0: unknown) */
let PRIMARY_OF: Uint16Array = new Uint16Array(0);
/** dense Han id → other syllable ids */
let EXTRA_OF = new Map<number, number[]>();
/** syllables that can be typed (with a vowel), incl. "lue"/"nue" for lve/nve */
let TYPED = new Map<string, number>();
let pinyinReady = false;

function fuzzyForm(s: string): string {
  let f = s.replace(/^([zcs])h/, '$1');
  if (f.length > 1 && f[0] === 'n' && f !== 'ng') f = `l${f.slice(1)}`;
  return f.replace(/ing$/, 'in').replace(/eng$/, 'en');
}

function loadPinyin(): void {
  if (pinyinReady) return;
  SYL = [];
  SYL_ID = new Map();
  PRIMARY_OF = new Uint16Array(HAN_SPAN);
  for (const line of PRIMARY) {
    const m = /^[a-z]+/.exec(line)!;
    const id = SYL.length;
    SYL.push(m[0]);
    SYL_ID.set(m[0], id);
    for (let i = m[0].length; i < line.length; i++) {
      const c = line.charCodeAt(i);
      if (c >= HAN_A_START && c <= HAN_END) PRIMARY_OF[c - HAN_A_START] = id + 1;
    }
  }
  const syllableId = (s: string): number => {
    let id = SYL_ID.get(s);
    if (id === undefined) {
      id = SYL.length;
      SYL.push(s);
      SYL_ID.set(s, id);
    }
    return id;
  };
  EXTRA_OF = new Map();
  for (const entry of EXTRA.split('|')) {
    const c = entry.charCodeAt(0);
    if (c < HAN_A_START || c > HAN_END) continue;
    EXTRA_OF.set(c - HAN_A_START, entry.slice(1).split(' ').filter(Boolean).map(syllableId));
  }
  const classes = new Map<string, number>();
  FUZZY = new Uint16Array(SYL.length);
  SYL.forEach((s, i) => {
    const f = fuzzyForm(s);
    let c = classes.get(f);
    if (c === undefined) classes.set(f, (c = classes.size));
    FUZZY[i] = c;
  });
  TYPED = new Map();
  SYL.forEach((s, i) => {
    if (/[aeiouv]/.test(s)) TYPED.set(s, i);
  });
  for (const [typed, real] of [['lue', 'lve'], ['nue', 'nve'], ['lü', 'lv'], ['nü', 'nv']] as const) {
    const id = SYL_ID.get(real);
    if (id !== undefined) TYPED.set(typed, id);
  }
  // ü after j/q/x/y is written u, but many type v: "jvzhuzheng"
  SYL.forEach((s, i) => {
    if (/^[jqxy]u/.test(s)) TYPED.set(`${s[0]}v${s.slice(2)}`, i);
  });
  pinyinReady = true;
}

/** Split letters into pinyin syllables (fewest syllables wins), or null. */
function parsePinyin(s: string, out: number[]): boolean {
  const n = s.length;
  if (n === 0 || n > 48) return false;
  const best = new Int32Array(n + 1).fill(1 << 20);
  const from = new Int32Array(n + 1);
  const syl = new Int32Array(n + 1);
  best[0] = 0;
  for (let i = 0; i < n; i++) {
    if (best[i]! >= 1 << 20) continue;
    for (let l = 1; l <= 6 && i + l <= n; l++) {
      const id = TYPED.get(s.slice(i, i + l));
      if (id !== undefined && best[i]! + 1 < best[i + l]!) {
        best[i + l] = best[i]! + 1;
        from[i + l] = i;
        syl[i + l] = id;
      }
    }
  }
  if (best[n]! >= 1 << 20) return false;
  const start = out.length;
  for (let i = n; i > 0; i = from[i]!) out.push(syl[i]!);
  // reverse the appended part
  for (let a = start, b = out.length - 1; a < b; a++, b--) [out[a], out[b]] = [out[b]!, out[a]!];
  return true;
}

// ─────────────────────────────── units ───────────────────────────────

const K_HAN = 1;
const K_PY = 2;
const K_WORD = 3;

/** A text as units, in growable parallel arrays (reused between queries). */
class Units {
  n = 0;
  kind = new Uint8Array(64);
  /** dense Han id (K_HAN), or -1 */
  han = new Int32Array(64);
  /** primary syllable id (K_HAN, K_PY), or -1 */
  syl = new Int32Array(64);
  /** 1: a break (punctuation, new field item) before this unit */
  brk = new Uint8Array(64);
  /** the text of a K_WORD unit */
  word: string[] = [];

  reset(): void {
    this.n = 0;
    this.word.length = 0;
  }

  push(kind: number, han: number, syl: number, brk: boolean, word: string): void {
    if (this.n === this.kind.length) {
      const cap = this.n * 2;
      const grow = <T extends Uint8Array | Int32Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      this.kind = grow(this.kind, (n) => new Uint8Array(n));
      this.han = grow(this.han, (n) => new Int32Array(n));
      this.syl = grow(this.syl, (n) => new Int32Array(n));
      this.brk = grow(this.brk, (n) => new Uint8Array(n));
    }
    const i = this.n++;
    this.kind[i] = kind;
    this.han[i] = han;
    this.syl[i] = syl;
    this.brk[i] = brk ? 1 : 0;
    this.word[i] = word;
  }
}

const isHan = (c: number) => c >= HAN_A_START && c <= HAN_END;
const isLetter = (c: number) => (c >= 0x61 && c <= 0x7a) || c === 0xfc; // a–z, ü
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x3000;

const pySyllables: number[] = [];

/**
 * Append the units of `text` (already normalised) to `u`. A new call starts with a break.
 * Letters that parse as pinyin become syllables when `pinyin` is set (queries); spaces between
 * two pinyin runs do not break them ("ju zhu zheng").
 */
function analyze(text: string, u: Units, pinyin: boolean): void {
  let brk = true;
  let spaceOnly = false;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isHan(c)) {
      const d = c - HAN_A_START;
      u.push(K_HAN, d, PRIMARY_OF[d]! - 1, brk, '');
      brk = false;
      spaceOnly = false;
      i++;
    } else if (isLetter(c) || isDigit(c)) {
      const digits = isDigit(c);
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (digits ? isDigit(d) : isLetter(d)) j++;
        else if (!digits && d === 0x27 && j + 1 < n && isLetter(text.charCodeAt(j + 1))) j++; // xi'an
        else break;
      }
      const w = text.slice(i, j);
      pySyllables.length = 0;
      if (!digits && pinyin && parsePinyin(w.replace(/'/g, '').replace(/ü/g, 'v'), pySyllables)) {
        const joinPrev = spaceOnly && u.n > 0 && u.kind[u.n - 1] === K_PY;
        for (let k = 0; k < pySyllables.length; k++) u.push(K_PY, -1, pySyllables[k]!, k === 0 && brk && !joinPrev, '');
      } else {
        u.push(K_WORD, -1, -1, brk, w.replace(/'/g, ''));
      }
      brk = false;
      spaceOnly = false;
      i = j;
    } else {
      if (isSpace(c)) {
        if (!brk) spaceOnly = true;
      } else spaceOnly = false;
      brk = true;
      i++;
      // surrogate pairs (emoji …) are skipped as two non-text code units: both break
    }
  }
}

function normalize(s: string): string {
  return s.normalize('NFKC').toLowerCase();
}

// ─────────────────────────────── dictionary ───────────────────────────────

interface Word {
  text: string;
  /** dense Han id per unit; -1 for a pinyin unit (never in words); -2 - wordId for a K_WORD unit */
  exact: number[];
  stop: boolean;
  /** says who rather than what: weighs little in coverage */
  light: boolean;
  /** synonym groups this word belongs to */
  groups: number[];
  /** its units as text (Han characters and words, no punctuation): for exact-phrase matching */
  key: string;
}

const MAX_WORD_UNITS = 10;

/** The terms of the current query (buffers reused between queries). */
interface QueryTerms {
  count: number;
  term: Int32Array;
  weight: Float64Array;
  /** how much of its span a match covers */
  credit: Float64Array;
  /**
   * Where in the query each term stands, one span per occurrence (a term met twice, like 分 in
   * "…分类…怎么分", covers its two places, not everything between them): the term's slot, the
   * positions [start, end) and how much of them a match covers.
   */
  spans: number;
  spanSlot: Int32Array;
  start: Int32Array;
  end: Int32Array;
  spanCredit: Float64Array;
  /** per query unit: its weight by rarity; 0 for dropped (stop) units */
  posWeight: Float64Array;
  /** number of query units */
  n: number;
  /** term id → slot */
  index: Map<number, number>;
}

// ─────────────────────────────── the index ───────────────────────────────

export class SearchIndex {
  private readonly docs: SearchDoc[];
  private readonly validFrom: Float64Array;
  private readonly validUntil: Float64Array;
  private readonly audiences: string[][];

  /** term maps: key → term id */
  private readonly unigram = new Map<number, number>();
  private readonly bigram = new Map<number, number>();
  private readonly pinyin = new Map<number, number>();
  private readonly words = new Map<string, number>();
  /**
   * Postings, flat: term t's are [postStart[t], postStart[t + 1]): sorted doc ids, BM25F
   * contribution, and whether it matched in a short field (title, keywords, synonyms).
   */
  private postStart: Int32Array = new Int32Array(1);
  private postDocs: Int32Array = new Int32Array(0);
  private postScore: Float32Array = new Float32Array(0);
  private postStrong: Uint8Array = new Uint8Array(0);
  private idf: Float32Array = new Float32Array(0);
  private maxIdf = 1;

  /** the dictionary, as a trie over fuzzy syllable keys */
  private readonly vocabByText = new Map<string, Word>();
  private trie: Map<number, number>[] = [new Map()];
  private readonly trieWords: (Word[] | undefined)[] = [undefined];
  /** the trie after construction: node n's edges are [edgeStart[n], edgeStart[n + 1]), keys sorted */
  private edgeStart = new Int32Array(1);
  private edgeKey = new Int32Array(0);
  private edgeNode = new Int32Array(0);
  private readonly initials = new Map<string, Word[]>();
  private readonly groups: string[][];
  /** exact phrase (see signature()) → documents */
  private readonly phrases = new Map<string, number[]>();
  /** interned K_WORD texts of the dictionary */
  private readonly wordIds = new Map<string, number>();

  // query buffers
  private readonly qu = new Units();
  private readonly du = new Units();
  private scores = new Float64Array(0);
  private stamp = new Uint32Array(0);
  private generation = 0;
  private touched = new Int32Array(0);

  constructor(docs: SearchDoc[], opts: { synonyms: string[][]; stopwords?: readonly string[]; light?: readonly string[] }) {
    loadPinyin();
    this.docs = docs;
    const N = docs.length;
    this.validFrom = new Float64Array(N);
    this.validUntil = new Float64Array(N);
    this.audiences = docs.map((d) => d.audience);
    docs.forEach((d, i) => {
      this.validFrom[i] = d.valid_from ? parseChinaTime(d.valid_from, false) : -Infinity;
      this.validUntil[i] = d.valid_until ? parseChinaTime(d.valid_until, true) : Infinity;
    });

    // The dictionary: stop words first (they win over the same text as a catalogue word), then
    // the synonym groups, then each document's keywords, synonyms and title.
    this.groups = opts.synonyms.map((g) => g.map(normalize));
    for (const w of [...STOPWORDS, ...(opts.stopwords ?? [])]) this.addWord(normalize(w), true);
    for (const w of [...LIGHT_WORDS, ...(opts.light ?? []).map(normalize)]) {
      const word = this.addWord(w, false);
      if (word) word.light = true;
    }
    this.groups.forEach((g, gi) => {
      for (const t of g) this.addWord(t, false)?.groups.push(gi);
    });
    for (const d of docs) {
      // FAQ questions are sentences, not words: only service names join the dictionary.
      for (const t of [...d.keywords, ...d.synonyms, ...(d.kind === 'service' ? [d.title] : [])]) this.addWord(normalize(t), false);
    }
    this.compactTrie();

    // Exact phrases: each keyword, synonym and name, function words aside.
    docs.forEach((d, di) => {
      for (const t of [d.title, ...d.keywords, ...d.synonyms]) {
        const u = this.du;
        u.reset();
        analyze(normalize(t), u, false);
        this.segment(u, true);
        const sig = this.signature(u);
        if (!sig) continue;
        const list = this.phrases.get(sig) ?? [];
        if (!list.includes(di)) list.push(di);
        this.phrases.set(sig, list);
      }
    });

    // Postings, built in one pass: (term, doc, per-field frequencies packed 8 bits a field)
    // triples in growable typed arrays, then counted out by term. Term ids are given in order of
    // first sight, so each term's documents come out in increasing order.
    const fieldLen = new Float64Array(N * FIELDS);
    let triples = 0;
    let tTerm = new Int32Array(1024);
    let tDoc = new Int32Array(1024);
    let tTf = new Uint32Array(1024);
    const tf = new Map<number, number>();
    for (let di = 0; di < N; di++) {
      const d = docs[di]!;
      tf.clear();
      const fields: [number, string[]][] = [
        [F_TITLE, [d.title]],
        [F_KEYWORDS, d.keywords],
        [F_SYNONYMS, d.synonyms],
        [F_BODY, [d.body]],
      ];
      for (const [f, texts] of fields) {
        const u = this.du;
        u.reset();
        for (const t of texts) analyze(normalize(t), u, false);
        fieldLen[di * FIELDS + f] = this.docTerms(u, f !== F_BODY, (term) => {
          const shift = f * 8;
          const cur = tf.get(term) ?? 0;
          if (((cur >>> shift) & 0xff) < 0xff) tf.set(term, cur + 2 ** shift);
        });
      }
      if (triples + tf.size > tTerm.length) {
        const cap = Math.max(tTerm.length * 2, triples + tf.size);
        const grow = <T extends Int32Array | Uint32Array>(a: T, b: T): T => (b.set(a), b);
        tTerm = grow(tTerm, new Int32Array(cap));
        tDoc = grow(tDoc, new Int32Array(cap));
        tTf = grow(tTf, new Uint32Array(cap));
      }
      for (const [term, packed] of tf) {
        tTerm[triples] = term;
        tDoc[triples] = di;
        tTf[triples++] = packed;
      }
    }
    const avg = new Float64Array(FIELDS);
    for (let f = 0; f < FIELDS; f++) {
      let s = 0;
      for (let di = 0; di < N; di++) s += fieldLen[di * FIELDS + f]!;
      avg[f] = Math.max(1, s / Math.max(1, N));
    }
    const T = this.provisional;
    this.idf = new Float32Array(T);
    this.maxIdf = Math.log(1 + (N + 0.5) / 0.5);
    this.postStart = new Int32Array(T + 1);
    for (let k = 0; k < triples; k++) this.postStart[tTerm[k]! + 1]!++;
    for (let t = 0; t < T; t++) this.postStart[t + 1]! += this.postStart[t]!;
    this.postDocs = new Int32Array(triples);
    this.postScore = new Float32Array(triples);
    this.postStrong = new Uint8Array(triples);
    const fill = this.postStart.slice(0, T);
    for (let t = 0; t < T; t++) {
      const df = this.postStart[t + 1]! - this.postStart[t]!;
      this.idf[t] = Math.log(1 + (N - df + 0.5) / (df + 0.5));
    }
    for (let k = 0; k < triples; k++) {
      const t = tTerm[k]!;
      const di = tDoc[k]!;
      const packed = tTf[k]!;
      const at = fill[t]!++;
      let x = 0;
      for (let f = 0; f < FIELDS; f++) {
        const n = (packed >>> (f * 8)) & 0xff;
        if (!n) continue;
        if (f !== F_BODY) this.postStrong[at] = 1;
        x += (FIELD_WEIGHT[f]! * n) / (1 - FIELD_B[f]! + (FIELD_B[f]! * fieldLen[di * FIELDS + f]!) / avg[f]!);
      }
      this.postDocs[at] = di;
      this.postScore[at] = (this.idf[t]! * x * (K1 + 1)) / (x + K1);
    }
    this.readingsCache.clear();
    this.scores = new Float64Array(N);
    this.stamp = new Uint32Array(N);
    this.touched = new Int32Array(N);
  }

  /** Number of documents. */
  get size(): number {
    return this.docs.length;
  }

  search(query: string, opts: SearchOptions): SearchHit[] {
    const limit = Math.max(0, Math.min(50, opts.limit ?? DEFAULT_LIMIT));
    if (!limit || typeof query !== 'string') return [];
    const text = normalize(query.slice(0, MAX_QUERY_CHARS * 2)).slice(0, MAX_QUERY_CHARS);
    const u = this.qu;
    u.reset();
    analyze(text, u, true);
    if (!u.n) return [];
    const q = this.queryTerms(u);
    if (!q.count) return [];
    const exact = this.phrases.get(this.signature(u));
    // "怎么办 / 咋整" alone asks for the procedure: the item's guide, not an FAQ about one detail.
    const question = QUESTION.test(text.replace(HOW, ''));

    // Accumulate.
    const gen = ++this.generation;
    if (gen === 0xffffffff) {
      this.stamp.fill(0);
      this.generation = 1;
    }
    let nTouched = 0;
    const scores = this.scores;
    const stamp = this.stamp;
    for (let k = 0; k < q.count; k++) {
      const t = q.term[k]!;
      const w = q.weight[k]!;
      const ds = this.postDocs;
      const ss = this.postScore;
      for (let p = this.postStart[t]!, end = this.postStart[t + 1]!; p < end; p++) {
        const d = ds[p]!;
        if (stamp[d] !== this.generation) {
          stamp[d] = this.generation;
          scores[d] = 0;
          this.touched[nTouched++] = d;
        }
        scores[d]! += w * ss[p]!;
      }
    }

    // Top candidates by raw score (valid now; audience raised).
    const CAND = Math.max(12, limit * 3);
    const cand: number[] = [];
    const candScore: number[] = [];
    const now = opts.now;
    const aud = opts.audience ?? null;
    for (let k = 0; k < nTouched; k++) {
      const d = this.touched[k]!;
      if (now < this.validFrom[d]! || now >= this.validUntil[d]!) continue;
      let s = scores[d]!;
      if (aud && this.audiences[d]!.includes(aud)) s *= AUDIENCE_BOOST;
      if (exact && exact.includes(d)) s *= EXACT_BOOST;
      if ((this.docs[d]!.kind === 'faq') === question) s *= FORM_BOOST;
      if (s < MIN_SCORE) continue;
      if (cand.length === CAND && s <= candScore[CAND - 1]!) continue;
      let at = cand.length === CAND ? CAND - 1 : cand.length;
      while (at > 0 && candScore[at - 1]! < s) {
        if (at < CAND) {
          cand[at] = cand[at - 1]!;
          candScore[at] = candScore[at - 1]!;
        }
        at--;
      }
      cand[at] = d;
      candScore[at] = s;
    }
    if (!cand.length) return [];

    // Coverage: how much of the query each candidate answers.
    const hits: SearchHit[] = [];
    const ranked: { d: number; s: number; cov: number }[] = [];
    for (let k = 0; k < cand.length; k++) {
      const d = cand[k]!;
      const cov = this.coverage(q, d);
      if (cov < MIN_COVERAGE) continue;
      ranked.push({ d, s: candScore[k]! * cov * cov, cov });
    }
    if (!ranked.length) return [];
    ranked.sort((a, b) => b.s - a.s);
    const top = ranked[0]!.s;
    for (const { d, s, cov } of ranked) {
      if (hits.length >= limit || s < top * MIN_SHARE_OF_TOP) break;
      const doc = this.docs[d]!;
      hits.push({ ref: doc.ref, kind: doc.kind, title: doc.title, score: Math.round(s * 1000) / 1000, coverage: Math.round(cov * 1000) / 1000 });
    }
    return hits;
  }

  /** A dictionary word of the catalogue (keyword, synonym, item name), not a function word. */
  isWord(text: string): boolean {
    const w = this.vocabByText.get(normalize(text));
    return !!w && !w.stop && !w.light;
  }

  /** Whether the catalogue uses this text: a dictionary word, one of its Han bigrams, or (one character) that character. */
  uses(text: string): boolean {
    const t = normalize(text);
    if (this.vocabByText.has(t)) return true;
    let prev = -1;
    let han = 0;
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (!isHan(c)) {
        prev = -1;
        continue;
      }
      han++;
      const h = c - HAN_A_START;
      if (prev >= 0 && this.bigram.has((prev << 15) | h)) return true;
      prev = h;
    }
    return han === 1 && prev >= 0 && this.unigram.has(prev);
  }

  /** The catalogue's own words (for a segmenter's dictionary). */
  dictionaryWords(): string[] {
    return [...this.vocabByText.values()].filter((w) => !w.stop).map((w) => w.text);
  }

  // ─────────────────────────── dictionary ───────────────────────────

  private addWord(text: string, stop: boolean): Word | undefined {
    const t = text.trim();
    if (!t) return undefined;
    const existing = this.vocabByText.get(t);
    if (existing) return existing;
    const u = new Units();
    analyze(t, u, false);
    if (!u.n || u.n > MAX_WORD_UNITS) return undefined;
    for (let i = 1; i < u.n; i++) if (u.brk[i]) return undefined; // one run only
    const exact: number[] = new Array<number>(u.n).fill(0);
    for (let i = 0; i < u.n; i++) {
      if (u.kind[i] === K_HAN) exact[i] = u.han[i]!;
      else {
        const w = u.word[i]!;
        let id = this.wordIds.get(w);
        if (id === undefined) this.wordIds.set(w, (id = this.wordIds.size));
        exact[i] = -2 - id;
      }
    }
    let key = '';
    for (let i = 0; i < u.n; i++) key += u.kind[i] === K_HAN ? String.fromCharCode(u.han[i]! + HAN_A_START) : u.word[i]!;
    const word: Word = { text: t, exact, stop, light: false, groups: [], key };
    this.vocabByText.set(t, word);
    // Insert under every combination of readings (capped), keyed by fuzzy syllable.
    const options: number[][] = [];
    for (let i = 0; i < u.n; i++) options.push(this.unitKeys(exact[i]!));
    let paths: number[][] = [[]];
    for (const opt of options) {
      const next: number[][] = [];
      for (const p of paths) for (const k of opt) if (next.length < 16) next.push([...p, k]);
      paths = next;
    }
    for (const p of paths) {
      let node = 0;
      for (const k of p) {
        let child = this.trie[node]!.get(k);
        if (child === undefined) {
          child = this.trie.length;
          this.trie.push(new Map());
          this.trieWords.push(undefined);
          this.trie[node]!.set(k, child);
        }
        node = child;
      }
      const list = this.trieWords[node] ?? (this.trieWords[node] = []);
      if (!list.includes(word)) list.push(word);
    }
    // Initials ("sbk"), from the primary readings, for words of 2+ Han characters.
    if (!stop && u.n >= 2 && u.n <= 8 && exact.every((e) => e >= 0 && PRIMARY_OF[e]! > 0)) {
      const ini = exact.map((e) => SYL[PRIMARY_OF[e]! - 1]![0]).join('');
      const list = this.initials.get(ini) ?? [];
      if (list.length < 4) list.push(word);
      this.initials.set(ini, list);
    }
    return word;
  }

  /** Turn the trie's per-node maps into sorted edge arrays (far smaller, no allocation to walk). */
  private compactTrie(): void {
    const nodes = this.trie.length;
    this.edgeStart = new Int32Array(nodes + 1);
    for (let n = 0; n < nodes; n++) this.edgeStart[n + 1] = this.edgeStart[n]! + this.trie[n]!.size;
    this.edgeKey = new Int32Array(this.edgeStart[nodes]!);
    this.edgeNode = new Int32Array(this.edgeStart[nodes]!);
    for (let n = 0; n < nodes; n++) {
      const edges = [...this.trie[n]!].sort((a, b) => a[0] - b[0]);
      edges.forEach(([k, c], i) => {
        this.edgeKey[this.edgeStart[n]! + i] = k;
        this.edgeNode[this.edgeStart[n]! + i] = c;
      });
    }
    this.trie = [];
  }

  private child(node: number, key: number): number {
    let lo = this.edgeStart[node]!;
    let hi = this.edgeStart[node + 1]! - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const k = this.edgeKey[mid]!;
      if (k === key) return this.edgeNode[mid]!;
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Trie keys of one unit of a dictionary word: fuzzy classes of its readings, or its own identity. */
  private unitKeys(exact: number): number[] {
    if (exact < 0) return [1_000_000 + (-2 - exact)];
    const p = PRIMARY_OF[exact]!;
    if (!p) return [2_000_000 + exact];
    const keys = [FUZZY[p - 1]!];
    for (const s of EXTRA_OF.get(exact) ?? []) if (!keys.includes(FUZZY[s]!)) keys.push(FUZZY[s]!);
    return keys;
  }

  /** Trie key of a unit of a query or a document (primary reading only). */
  private unitKey(u: Units, i: number): number {
    const k = u.kind[i];
    if (k === K_WORD) {
      const id = this.wordIds.get(u.word[i]!);
      return id === undefined ? -1 : 1_000_000 + id;
    }
    const s = u.syl[i]!;
    if (s >= 0) return FUZZY[s]!;
    return k === K_HAN ? 2_000_000 + u.han[i]! : -1;
  }

  // segmentation buffers
  private segBest = new Float64Array(0);
  private segFrom = new Int32Array(0);
  private segWord: (Word | null)[] = [];

  /**
   * Segment `u` by dynamic programming (a word of L units scores L², by sound 0.8 L², so longer
   * words win). The segments are read backwards from the end: segment [segFrom[e], e) is the
   * dictionary word segWord[e], or a single unit when that is null. `exactOnly` (documents)
   * matches characters as written; `stopOnly` considers function words only.
   */
  private segment(u: Units, exactOnly: boolean, stopOnly = false): void {
    const n = u.n;
    if (this.segBest.length < n + 1) {
      this.segBest = new Float64Array(n + 1);
      this.segFrom = new Int32Array(n + 1);
    }
    const best = this.segBest;
    const from = this.segFrom;
    const wordAt = this.segWord;
    best.fill(-1, 0, n + 1);
    best[0] = 0;
    wordAt.length = n + 1;
    for (let i = 0; i < n; i++) {
      const base = best[i]!;
      // a unit on its own
      if (base > best[i + 1]!) {
        best[i + 1] = base;
        from[i + 1] = i;
        wordAt[i + 1] = null;
      }
      let node = 0;
      for (let j = i; j < n && j - i < MAX_WORD_UNITS; j++) {
        if (j > i && u.brk[j]) break;
        const key = this.unitKey(u, j);
        if (key < 0) break;
        const child = this.child(node, key);
        if (child < 0) break;
        node = child;
        const ws = this.trieWords[node];
        if (!ws) continue;
        const L = j - i + 1;
        for (const w of ws) {
          if (stopOnly && !w.stop) continue;
          let exactHan = 0;
          let han = 0;
          let typed = 0;
          for (let k = 0; k < L; k++) {
            const kind = u.kind[i + k];
            if (kind === K_HAN) {
              han++;
              if (u.han[i + k] === w.exact[k]) exactHan++;
            } else if (kind === K_PY) typed++;
          }
          const soundOnly = han - exactHan;
          if (soundOnly || typed) {
            if (exactOnly) continue;
            if (soundOnly && (w.stop || L < 2 || soundOnly > L >> 1 || exactHan === 0)) continue;
          }
          const v = base + L * L * (soundOnly || typed ? 0.8 : 1);
          if (v > best[j + 1]!) {
            best[j + 1] = v;
            from[j + 1] = i;
            wordAt[j + 1] = w;
          }
        }
      }
    }
  }

  // ─────────────────────────── documents ───────────────────────────

  /**
   * The terms of one field of a document: Han unigrams and bigrams, words, and (short fields)
   * fuzzy pinyin bigrams over every reading. Returns the field's length in content units.
   */
  private docTerms(u: Units, short: boolean, emit: (key: number) => void): number {
    this.segment(u, true);
    const stop = this.stopMask(u);
    const prev = this.linkContent(u, stop);
    let len = 0;
    for (let i = 0; i < u.n; i++) {
      if (stop[i]) continue;
      len++;
      const kind = u.kind[i];
      const p = prev[i]!;
      if (kind === K_HAN) {
        const h = u.han[i]!;
        emit(this.termId(this.unigram, h, true));
        if (p >= 0 && u.kind[p] === K_HAN) {
          emit(this.termId(this.bigram, (u.han[p]! << 15) | h, true));
          if (short) {
            const a = this.readings(u.han[p]!);
            const b = this.readings(h);
            if (a && b) for (const x of a) for (const y of b) emit(this.termId(this.pinyin, x * 1024 + y, true));
          }
        }
      } else if (kind === K_WORD) {
        emit(this.wordTerm(u.word[i]!, true));
      }
    }
    return len;
  }

  private prevBuf = new Int32Array(0);
  /**
   * For each content unit, the previous content unit of the same run (stop words are skipped, so
   * "失业金能领" and "失业金领" share 金领; punctuation and field items break), or -1.
   */
  private linkContent(u: Units, stop: Uint8Array): Int32Array {
    if (this.prevBuf.length < u.n) this.prevBuf = new Int32Array(Math.max(u.n, 64));
    const prev = this.prevBuf;
    let last = -1;
    for (let i = 0; i < u.n; i++) {
      if (u.brk[i]) last = -1;
      prev[i] = stop[i] ? -1 : last;
      if (!stop[i]) last = i;
    }
    return prev;
  }

  private readingsCache = new Map<number, number[] | null>();
  private readings(h: number): number[] | null {
    let r = this.readingsCache.get(h);
    if (r !== undefined) return r;
    const p = PRIMARY_OF[h]!;
    if (!p) r = null;
    else {
      r = [FUZZY[p - 1]!];
      for (const s of EXTRA_OF.get(h) ?? []) if (!r.includes(FUZZY[s]!)) r.push(FUZZY[s]!);
    }
    this.readingsCache.set(h, r);
    return r;
  }

  private stopBuf = new Uint8Array(0);
  /** After segment(): 1 for each unit inside a stop word. */
  private stopMask(u: Units): Uint8Array {
    const n = u.n;
    if (this.stopBuf.length < n) this.stopBuf = new Uint8Array(Math.max(n, 64));
    const stop = this.stopBuf;
    stop.fill(0, 0, n);
    for (let end = n; end > 0; ) {
      const start = this.segFrom[end]!;
      const w = this.segWord[end];
      if (w && w.stop) stop.fill(1, start, end);
      end = start;
    }
    return stop;
  }

  /**
   * After segment(): the text without function words, each recognised word in its dictionary
   * form ("社宝卡丢了怎么办" → "社保卡丢了"); '' when a part was typed as unrecognised pinyin.
   */
  private signature(u: Units): string {
    let sig = '';
    for (let end = u.n; end > 0; ) {
      const start = this.segFrom[end]!;
      const w = this.segWord[end];
      if (w) {
        if (!w.stop) sig = w.key + sig;
      } else {
        const kind = u.kind[start];
        if (kind === K_PY) return '';
        sig = (kind === K_HAN ? String.fromCharCode(u.han[start]! + HAN_A_START) : u.word[start]!) + sig;
      }
      end = start;
    }
    return sig;
  }

  /** Term ids, given in order of first sight: the number of terms so far. */
  private provisional = 0;
  private termId(map: Map<number, number>, key: number, create: boolean): number {
    let id = map.get(key);
    if (id === undefined) {
      if (!create) return -1;
      map.set(key, (id = this.provisional++));
    }
    return id;
  }
  private wordTerm(w: string, create: boolean): number {
    let id = this.words.get(w);
    if (id === undefined) {
      if (!create) return -1;
      this.words.set(w, (id = this.provisional++));
    }
    return id;
  }

  // ─────────────────────────── queries ───────────────────────────

  private readonly q: QueryTerms = {
    count: 0,
    term: new Int32Array(512),
    weight: new Float64Array(512),
    credit: new Float64Array(512),
    spans: 0,
    spanSlot: new Int32Array(1024),
    start: new Int32Array(1024),
    end: new Int32Array(1024),
    spanCredit: new Float64Array(1024),
    /** content positions: weight by rarity; 0 for dropped (stop) units */
    posWeight: new Float64Array(MAX_QUERY_CHARS + 1),
    n: 0,
    index: new Map<number, number>(),
  };

  private addQ(term: number, weight: number, credit: number, start: number, end: number): void {
    if (term < 0) return;
    const q = this.q;
    let k = q.index.get(term);
    if (k !== undefined) {
      if (weight > q.weight[k]!) q.weight[k] = weight;
      if (credit > q.credit[k]!) q.credit[k] = credit;
    } else {
      if (q.count === q.term.length) return;
      k = q.count++;
      q.index.set(term, k);
      q.term[k] = term;
      q.weight[k] = weight;
      q.credit[k] = credit;
    }
    if (q.spans === q.spanSlot.length) return;
    const sp = q.spans++;
    q.spanSlot[sp] = k;
    q.start[sp] = start;
    q.end[sp] = end;
    q.spanCredit[sp] = credit;
  }

  private queryTerms(u: Units): QueryTerms {
    const q = this.q;
    q.count = 0;
    q.spans = 0;
    q.index.clear();
    q.n = u.n;
    const n = u.n;
    // Function words inside catalogue words ("带啥", "要带什么") match, but weigh nothing.
    this.segment(u, true, true);
    if (this.stopishBuf.length < n) this.stopishBuf = new Uint8Array(Math.max(n, 64));
    const stopish = this.stopishBuf;
    stopish.set(this.stopMask(u).subarray(0, n));
    this.segment(u, false);
    const stop = this.stopMask(u);

    // Position weights: rarer → heavier; a character the catalogue never uses weighs most;
    // person words and bare numbers weigh little.
    let total = 0;
    for (let i = 0; i < n; i++) {
      let w = 0;
      if (!stop[i] && !stopish[i]) {
        const kind = u.kind[i];
        if (kind === K_HAN) {
          const t = this.unigram.get(u.han[i]!);
          w = t === undefined || t < 0 ? this.maxIdf : this.idf[t]!;
        } else if (kind === K_PY) w = 0.6 * this.maxIdf;
        else {
          const t = this.words.get(u.word[i]!);
          w = t === undefined || t < 0 ? this.maxIdf : this.idf[t]!;
        }
        w = Math.max(w, POS_FLOOR * this.maxIdf);
        if (kind === K_WORD && isDigit(u.word[i]!.charCodeAt(0))) w *= LIGHT;
      }
      q.posWeight[i] = w;
      total += w;
    }
    for (let end = n; end > 0; ) {
      const start = this.segFrom[end]!;
      const w = this.segWord[end];
      if (w && w.light) for (let k = start; k < end; k++) q.posWeight[k]! *= LIGHT;
      end = start;
    }
    if (total <= 0) return q;

    // Literal terms over each content run.
    const prev = this.linkContent(u, stop);
    const hasNext = this.nextBuf.length >= n ? this.nextBuf : (this.nextBuf = new Uint8Array(Math.max(n, 64)));
    hasNext.fill(0, 0, n);
    for (let i = 0; i < n; i++) if (prev[i]! >= 0 && u.kind[i] === K_HAN && u.kind[prev[i]!] === K_HAN) hasNext[prev[i]!] = 1;
    for (let i = 0; i < n; i++) {
      if (stop[i]) continue;
      const kind = u.kind[i];
      const p = prev[i]!;
      if (kind === K_HAN) {
        const h = u.han[i]!;
        // alone: no Han neighbour to make a bigram with ("70岁")
        const alone = !(p >= 0 && u.kind[p] === K_HAN) && !hasNext[i];
        this.addQ(this.termId(this.unigram, h, false), W_UNIGRAM, alone ? C_UNIGRAM_ALONE : C_UNIGRAM, i, i + 1);
        if (p >= 0 && u.kind[p] === K_HAN) this.addQ(this.termId(this.bigram, (u.han[p]! << 15) | h, false), W_BIGRAM, C_BIGRAM, p, i + 1);
      } else if (kind === K_WORD) {
        this.addQ(this.wordTerm(u.word[i]!, false), W_WORD, 1, i, i + 1);
        this.addInitials(u.word[i]!, i);
      }
      if (p >= 0 && u.syl[i]! >= 0 && u.syl[p]! >= 0) {
        this.addQ(this.termId(this.pinyin, FUZZY[u.syl[p]!]! * 1024 + FUZZY[u.syl[i]!]!, false), W_PINYIN, C_PINYIN, p, i + 1);
      }
    }
    // A function word next to a content word, as written ("要带" in "扯证要带啥"): documents keep
    // function words inside their own keywords ("领证要带什么").
    for (let i = 1; i < n; i++) {
      if (u.brk[i] || u.kind[i] !== K_HAN || u.kind[i - 1] !== K_HAN || !stop[i - 1] === !stop[i]) continue;
      const c = stop[i] ? i - 1 : i;
      this.addQ(this.termId(this.bigram, (u.han[i - 1]! << 15) | u.han[i]!, false), W_EDGE, C_EDGE, c, c + 1);
    }

    // Words recognised by sound, and synonyms.
    for (let end = n; end > 0; ) {
      const start = this.segFrom[end]!;
      const w = this.segWord[end];
      if (w && !w.stop) {
        let literal = true;
        for (let k = start; k < end; k++) if (u.kind[k] !== K_HAN || u.han[k] !== w.exact[k - start]) literal = false;
        if (!literal) this.addWordTerms(w.text, W_CORRECTED, C_CORRECTED, start, end);
        for (const g of w.groups) for (const other of this.groups[g]!) if (other !== w.text) this.addWordTerms(other, W_SYNONYM, C_SYNONYM, start, end);
      }
      end = start;
    }
    return q;
  }

  /** A letters-only word that is the initials of dictionary words ("sbk"). */
  private addInitials(word: string, at: number): void {
    if (word.length < 2 || word.length > 8 || !/^[a-z]+$/.test(word)) return;
    const ws = this.initials.get(word);
    if (!ws) return;
    for (const w of ws) {
      this.addWordTerms(w.text, W_CORRECTED, C_CORRECTED, at, at + 1);
      for (const g of w.groups) for (const other of this.groups[g]!) if (other !== w.text) this.addWordTerms(other, W_SYNONYM * 0.9, C_SYNONYM, at, at + 1);
    }
  }

  /** The Han bigrams (or the single character) of a dictionary word, standing for positions [start, end). */
  private addWordTerms(text: string, weight: number, credit: number, start: number, end: number): void {
    let prev = -1;
    let count = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (!isHan(c)) {
        prev = -1;
        continue;
      }
      const h = c - HAN_A_START;
      count++;
      if (prev >= 0) this.addQ(this.termId(this.bigram, (prev << 15) | h, false), weight, credit, start, end);
      prev = h;
    }
    if (count === 1 && prev >= 0) this.addQ(this.termId(this.unigram, prev, false), weight * 0.6, credit, start, end);
  }

  private nextBuf = new Uint8Array(0);
  private stopishBuf = new Uint8Array(0);
  private covered = new Float64Array(MAX_QUERY_CHARS + 1);
  /** per query term: -1 not in the document, 0 in its body only, 1 in a short field */
  private strongOf = new Int8Array(512);
  /** Share of the query (by position weight) that document `d` answers. */
  private coverage(q: QueryTerms, d: number): number {
    const cov = this.covered;
    cov.fill(0, 0, q.n);
    if (this.strongOf.length < q.count) this.strongOf = new Int8Array(q.term.length);
    const strong = this.strongOf;
    for (let k = 0; k < q.count; k++) {
      const t = q.term[k]!;
      const ds = this.postDocs;
      // binary search
      let lo = this.postStart[t]!;
      let hi = this.postStart[t + 1]! - 1;
      let at = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const v = ds[mid]!;
        if (v === d) {
          at = mid;
          break;
        }
        if (v < d) lo = mid + 1;
        else hi = mid - 1;
      }
      strong[k] = at < 0 ? -1 : this.postStrong[at]!;
    }
    for (let sp = 0; sp < q.spans; sp++) {
      const st = strong[q.spanSlot[sp]!]!;
      if (st < 0) continue;
      const c = q.spanCredit[sp]! * (st ? 1 : C_BODY_ONLY);
      for (let p = q.start[sp]!; p < q.end[sp]!; p++) if (c > cov[p]!) cov[p] = c;
    }
    let got = 0;
    let total = 0;
    for (let p = 0; p < q.n; p++) {
      const w = q.posWeight[p]!;
      total += w;
      got += w * cov[p]!;
    }
    return total > 0 ? got / total : 0;
  }
}

// ─────────────────────────── from the profile ───────────────────────────

/** The text of a service guide that search reads (not its legal basis or phone number). */
function guideText(s: Service): string {
  const g = s.guide;
  return [g.summary, ...g.conditions, ...g.materials, g.fee, g.where, g.when, g.time_limit, ...g.process, s.department ?? ''].filter(Boolean).join('\n');
}

/** Search documents for the catalogue: one per service item and one per FAQ entry. */
export function docsFromCatalogue(services: readonly Service[], faq: readonly Faq[]): SearchDoc[] {
  const validity = (v: Validity): Validity => ({
    ...(v.valid_from ? { valid_from: v.valid_from } : {}),
    ...(v.valid_until ? { valid_until: v.valid_until } : {}),
  });
  return [
    ...services.map(
      (s): SearchDoc => ({
        ref: `service:${s.id}`,
        kind: 'service',
        title: s.name,
        keywords: s.keywords,
        synonyms: s.synonyms,
        body: guideText(s),
        audience: s.audience,
        ...validity(s),
      }),
    ),
    ...faq.map(
      (f): SearchDoc => ({
        ref: `faq:${f.id}`,
        kind: 'faq',
        title: f.question,
        keywords: f.keywords,
        synonyms: f.synonyms,
        body: f.answer,
        audience: f.audience,
        ...validity(f),
      }),
    ),
  ];
}

// ─────────────────────── everything a citizen can be shown ───────────────────────

/** The parts of a profile search reads (so that tests and the bench can build one from files). */
export interface SearchableProfile {
  services: readonly Service[];
  faq: readonly Faq[];
  navigation?: readonly NavNode[];
  menu?: { buttons: readonly MenuButton[] } | undefined;
  halls?: readonly Hall[];
}

type MenuButton = NonNullable<Profile['menu']>['buttons'][number];

/**
 * Search documents for everything a citizen can be shown: service items and FAQ answers; the
 * navigation's own pages — policies, notices, links — within their validity window and audience
 * (a child inherits its parents' windows and audience); menu buttons by their names (办事指南);
 * halls with their address, phone and opening hours. Navigation entries that only open an item
 * or an FAQ are that item's document already.
 */
export function docsFromProfile(p: SearchableProfile): SearchDoc[] {
  const docs = docsFromCatalogue(p.services, p.faq);
  const nodes = new Map<string, NavNode>();
  const walk = (list: readonly NavNode[], inherited: { audience: string[]; valid_from?: string; valid_until?: string }) => {
    for (const n of list) {
      nodes.set(n.id, n);
      const from = [inherited.valid_from, n.valid_from].filter((x): x is string => !!x).sort().pop();
      const until = [inherited.valid_until, n.valid_until].filter((x): x is string => !!x).sort()[0];
      const here = { audience: n.audience.length ? n.audience : inherited.audience, ...(from ? { valid_from: from } : {}), ...(until ? { valid_until: until } : {}) };
      if (n.children) walk(n.children, here);
      const r = n.reply;
      if (!r) continue;
      const body = r.text ?? (r.link ? [r.link.title, r.link.description ?? ''].join('\n') : r.news ? [r.news.title, r.news.description ?? ''].join('\n') : null);
      if (body === null) continue;
      // A page has no keywords: its first sentence says what it is about, and counts as much as its title.
      const lead = body.split(/[。！？\n]/)[0]!.slice(0, 60);
      docs.push({ ref: `nav:${n.id}`, kind: 'page', title: n.title, keywords: [], synonyms: lead ? [lead] : [], body, ...here });
    }
  };
  walk(p.navigation ?? [], { audience: [] });
  for (const b of p.menu?.buttons ?? []) {
    for (const leaf of 'sub_button' in b ? b.sub_button : [b]) {
      if (leaf.type !== 'click') continue;
      const node = nodes.get(leaf.key);
      docs.push({
        ref: `menu:${leaf.key}`,
        kind: 'page',
        title: leaf.name,
        keywords: [leaf.name],
        synonyms: node && node.title !== leaf.name ? [node.title] : [],
        body: '',
        audience: node?.audience ?? [],
        ...(node?.valid_from ? { valid_from: node.valid_from } : {}),
        ...(node?.valid_until ? { valid_until: node.valid_until } : {}),
      });
    }
  }
  for (const h of p.halls ?? []) {
    docs.push({
      ref: `hall:${h.id}`,
      kind: 'hall',
      title: h.name,
      keywords: [h.name, h.name.replace(/(街道)?社区事务受理服务中心$/, ''), h.address],
      synonyms: [],
      body: [`地址：${h.address}`, h.phone ? `电话：${h.phone}` : '', h.transport ? `交通：${h.transport}` : '', `开放时间：${describeWeekHours(h.hours)}`].filter(Boolean).join('\n'),
      audience: [],
    });
  }
  return docs;
}

/** Words that ask what to bring: a question naming an item is answered by the item's guide first. */
const MATERIALS = /(要|需要)?(带|准备)(些|点)?(啥|什么|哪些)(东西|材料|资料|证件)?|材料|资料|证件/;

/**
 * Search as the chat uses it: the citizen's message read by the {@link QueryReader} (English,
 * traditional characters, dialect, fillers, a long story's asking clause), searched over
 * everything they can be shown, with the evidence gate's verdict: `answer` (one hit that covers
 * what they asked and stands clear of the next), `list` (several candidates), or nothing.
 */
export class CitizenSearch {
  readonly index: SearchIndex;
  readonly reader: QueryReader;

  constructor(p: SearchableProfile & { synonyms: string[][] }, lexicon: Lexicon) {
    this.index = CitizenSearch.indexOf(docsFromProfile(p), p.synonyms, lexicon);
    this.reader = new QueryReader(lexicon, this.index, this.index.dictionaryWords());
  }

  /** The index over given documents, with the lexicon's fillers and people words (bench: 10,000 entries). */
  static indexOf(docs: SearchDoc[], synonyms: string[][], lexicon: Lexicon): SearchIndex {
    return new SearchIndex(docs, { synonyms, stopwords: lexicon.fillers, light: lexicon.people });
  }

  /** Search over given documents (bench: 10,000 entries). */
  static overDocs(docs: SearchDoc[], synonyms: string[][], lexicon: Lexicon): CitizenSearch {
    const s = Object.create(CitizenSearch.prototype) as CitizenSearch;
    const index = CitizenSearch.indexOf(docs, synonyms, lexicon);
    Object.assign(s, { index, reader: new QueryReader(lexicon, index, index.dictionaryWords()) });
    return s;
  }

  get size(): number {
    return this.index.size;
  }

  search(query: string, opts: SearchOptions): SearchHit[] {
    if (typeof query !== 'string') return [];
    const read = this.reader.read(query.slice(0, MAX_QUERY_CHARS * 2));
    if (!read.text) return [];
    if (MATERIALS.test(read.text)) {
      // "办居住证要带啥材料": the item's guide lists its materials; a generic FAQ does not.
      const found = this.index.search(read.text.replace(new RegExp(MATERIALS.source, 'g'), ' '), opts);
      const item = found.find((h) => h.kind === 'service');
      if (item) return [item, ...found.filter((h) => h !== item)];
    }
    return this.index.search(read.text, opts);
  }

  /**
   * The evidence gate: answer at once when the first hit covers what was asked and stands clear
   * of the second; else the list (or, with no hits, nothing).
   */
  verdict(hits: SearchHit[]): 'answer' | 'list' | 'none' {
    if (!hits.length) return 'none';
    const [a, b] = hits;
    if (a!.coverage >= ANSWER_COVERAGE && (!b || b.score < a!.score * ANSWER_CLEAR)) return 'answer';
    return 'list';
  }
}

/** An answer at once needs this much of the query covered… */
const ANSWER_COVERAGE = 0.85;
/** …and the second hit below this share of the first's score. */
const ANSWER_CLEAR = 0.6;
