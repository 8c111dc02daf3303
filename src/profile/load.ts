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

/** `menu.buttons[0].sub_button[5].name` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(top level)';
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
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
  const res = profileSchema.safeParse(raw);
  if (!res.success) {
    throw new ProfileError(
      file,
      res.error.issues.map((i) => {
        const from = typeof i.path[0] === 'string' ? included[i.path[0]] : undefined;
        return `${formatPath(i.path)}${from ? ` (in ${from})` : ''}: ${i.message}`;
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
