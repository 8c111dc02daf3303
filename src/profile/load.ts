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

/** Validate an already-parsed profile object. */
export function parseProfile(raw: unknown, file = 'profile'): Profile {
  const res = profileSchema.safeParse(raw);
  if (!res.success) throw new ProfileError(file, describeIssues(res.error.issues));
  return res.data;
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
  return { profile: parseProfile(applyEnvOverrides(raw, env), abs), file: abs, dir: dirname(abs) };
}
