import { expandHallRefs } from './facts.ts';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { profileSchema, type Profile } from './schema.ts';

export class ProfileError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`The department profile ${file} is not valid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ProfileError';
  }
}

export interface LoadedProfile {
  profile: Profile;
  /** Absolute path of the profile file. */
  file: string;
  /** Folder the profile's relative paths resolve against. */
  dir: string;
}

/**
 * `menu.buttons[1 办政事].sub_button[5 附近大厅].name`, `halls[0 center].hours.default[0]`: an
 * item of a list is named by its index and, when the profile gives it one, its id (else its
 * title or name), so a person finds it in the file. Without `raw`, indexes only.
 */
export function formatPath(path: readonly PropertyKey[], raw?: unknown): string {
  let out = '';
  let here: unknown = raw;
  for (const p of path) {
    const item = here !== null && typeof here === 'object' ? (here as Record<PropertyKey, unknown>)[p as never] : undefined;
    if (typeof p === 'number') out += `[${p}${itemName(item)}]`;
    else out += out ? `.${String(p)}` : String(p);
    here = item;
  }
  return out || '(top level)';
}

function itemName(item: unknown): string {
  if (!item || typeof item !== 'object' || Array.isArray(item)) return '';
  const o = item as Record<string, unknown>;
  const name = [o.id, o.title, o.name, o.question].find((v) => typeof v === 'string' && v.trim() !== '' && v.length <= 40);
  return name === undefined ? '' : ` ${String(name)}`;
}

/** The value at a path of the raw profile (what the person wrote there). */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let here = raw;
  for (const p of path) {
    if (here === null || typeof here !== 'object') return undefined;
    here = (here as Record<PropertyKey, unknown>)[p as never];
  }
  return here;
}

/** A value as the problem echoes it: "25:00", 6000, true — not objects or long texts. */
function echo(v: unknown): string | null {
  if (typeof v === 'string') return v.length <= 60 ? JSON.stringify(v) : null;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

/**
 * One problem as a person can act on it: where (path, with the items' ids), what is wrong in
 * plain words — "required" for a missing field rather than "received undefined" — and the value
 * found there, unless the message already quotes it.
 */
export function describeIssue(i: z.core.$ZodIssue, raw?: unknown): string {
  const where = formatPath(i.path, raw);
  const found = raw === undefined ? undefined : valueAt(raw, i.path);
  if (i.code === 'invalid_type' && raw !== undefined && found === undefined) return `${where}: required (${i.expected === 'object' ? 'a section' : `expected ${i.expected === 'array' ? 'a list' : `a ${i.expected}`}`})`;
  if (found === '' || (Array.isArray(found) && found.length === 0 && i.code === 'too_small')) return `${where}: required (it is empty)`;
  let message = i.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '');
  const shown = echo(found);
  if (shown !== null && !message.includes(shown) && !(typeof found === 'string' && found.length >= 2 && message.includes(found))) message += `; got ${shown}`;
  return `${where}: ${message}`;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], raw?: unknown): string[] {
  return issues.map((i) => describeIssue(i, raw));
}

/** Credentials come from the environment when set; only the demo's are ever committed. */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!raw || typeof raw !== 'object') return raw;
  const r = raw as Record<string, any>;
  const wechat = { ...(r.wechat ?? {}) };
  const map: [string, string][] = [
    ['WECHAT_APPID', 'appid'],
    ['WECHAT_APPSECRET', 'appsecret'],
    ['WECHAT_TOKEN', 'token'],
    ['WECHAT_AES_KEY', 'aes_key'],
  ];
  for (const [envName, field] of map) {
    const v = env[envName];
    if (v !== undefined && v !== '') wechat[field] = v;
  }
  return { ...r, wechat };
}

/** Sections that may live in files of their own (services: services.yaml). */
export const INCLUDABLE = ['services', 'faq', 'synonyms', 'halls'] as const;

/** Validate an already-parsed profile object; `included` names the file each included section came from. */
export function parseProfile(raw: unknown, file = 'profile', included: Record<string, string> = {}): Profile {
  // A hall's address, phone and name are written once, in its entry; texts refer to them.
  const refs = expandHallRefs(raw);
  if (refs.problems.length) throw new ProfileError(file, refs.problems);
  raw = refs.raw;
  const res = profileSchema.safeParse(raw);
  if (!res.success) {
    throw new ProfileError(
      file,
      res.error.issues.map((i) => {
        const from = typeof i.path[0] === 'string' ? included[i.path[0]] : undefined;
        const [where, ...what] = describeIssue(i, raw).split(': ');
        return `${where}${from ? ` (in ${from})` : ''}: ${what.join(': ')}`;
      }),
    );
  }
  return res.data;
}

/** Replace `services: services.yaml` and the like with the files' contents. */
export function resolveIncludes(raw: unknown, dir: string): { raw: unknown; included: Record<string, string>; problems: string[] } {
  const included: Record<string, string> = {};
  const problems: string[] = [];
  if (!raw || typeof raw !== 'object') return { raw, included, problems };
  const out = { ...(raw as Record<string, unknown>) };
  for (const key of INCLUDABLE) {
    const v = out[key];
    if (typeof v !== 'string') continue;
    const path = resolve(dir, v);
    try {
      out[key] = parseYaml(readFileSync(path, 'utf8'), { prettyErrors: true });
      included[key] = v;
    } catch (err) {
      problems.push(`${key}: cannot read ${v}: ${err instanceof YAMLParseError ? err.message : (err as Error).message}`);
    }
  }
  return { raw: out, included, problems };
}

/** Read, override from the environment, and validate the profile; throws ProfileError naming each bad field. */
export function loadProfile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedProfile {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ProfileError(abs, [`cannot read the file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message : String(err);
    throw new ProfileError(abs, [`not valid YAML: ${msg}`]);
  }
  const dir = dirname(abs);
  const inc = resolveIncludes(raw, dir);
  if (inc.problems.length) throw new ProfileError(abs, inc.problems);
  return { profile: parseProfile(applyEnvOverrides(inc.raw, env), abs, inc.included), file: abs, dir };
}
