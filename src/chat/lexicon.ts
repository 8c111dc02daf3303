/**
 * The lexicon (config/lexicon.yaml): how citizens write, as opposed to how the catalogue is
 * written — mixed-in English, dialect and colloquial words, filler, story and people words. It is
 * language, not a department's content, so every profile uses the same file. Validated at
 * start-up: a wrong entry stops the server naming the list, the word and what was expected.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { PROJECT_ROOT } from '../paths.ts';

const word = z
  .string()
  .trim()
  .min(1, 'expected a word, not an empty string')
  .max(20, 'expected a word of at most 20 characters');

export const lexiconSchema = z
  .object({
    english: z.record(word.regex(/^[a-z][a-z' -]*$/, 'expected lower-case English letters and spaces'), word).default({}),
    standard: z.record(word, word).default({}),
    particles: z.record(word.length(1, 'expected one character'), word).default({}),
    fillers: z.array(word).default([]),
    story: z.array(word).default([]),
    people: z.array(word).default([]),
  })
  .strict()
  .superRefine((l, ctx) => {
    const seen = new Map<string, string>();
    const lists: [string, string[]][] = [
      ['standard', Object.keys(l.standard)],
      ['fillers', l.fillers],
      ['story', l.story],
      ['people', l.people],
    ];
    for (const [list, words] of lists) {
      words.forEach((w, i) => {
        const other = seen.get(w);
        if (other) ctx.addIssue({ code: 'custom', path: [list, list === 'standard' ? w : i], message: `"${w}" is already in ${other}; a word may be in one list only` });
        else seen.set(w, list);
      });
    }
  });

export type Lexicon = z.infer<typeof lexiconSchema>;

export const DEFAULT_LEXICON_FILE = join(PROJECT_ROOT, 'config', 'lexicon.yaml');

export class LexiconError extends Error {
  constructor(file: string, problems: string[]) {
    super(`The search lexicon ${file} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'LexiconError';
  }
}

/** Parse and validate a lexicon (the text of a YAML file). */
export function parseLexicon(text: string, file = 'lexicon.yaml'): Lexicon {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new LexiconError(file, [(err as Error).message]);
  }
  const r = lexiconSchema.safeParse(raw ?? {});
  if (!r.success) {
    throw new LexiconError(
      file,
      r.error.issues.map((i) => {
        const at = i.path.map(String).join('.');
        if (i.code === 'invalid_key') {
          // A wrong word on the left of "word: standard word".
          const inner = (i as { issues?: { message: string }[] }).issues?.map((x) => x.message).join('; ') ?? i.message;
          return `${at}: ${inner} (got ${JSON.stringify(i.path[i.path.length - 1])})`;
        }
        const got = i.path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined), raw);
        return `${at || '(top)'}: ${i.message}${got !== undefined && typeof got !== 'object' ? ` (got ${JSON.stringify(got)})` : ''}`;
      }),
    );
  }
  return r.data;
}

let cached: Lexicon | null = null;

/** The lexicon file, read once per process. */
export function loadLexicon(file = DEFAULT_LEXICON_FILE): Lexicon {
  if (file === DEFAULT_LEXICON_FILE && cached) return cached;
  const lex = parseLexicon(readFileSync(file, 'utf8'), file);
  if (file === DEFAULT_LEXICON_FILE) cached = lex;
  return lex;
}
