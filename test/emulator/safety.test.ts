import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ourUrl } from '../../src/emulator/index.ts';
import { createLogger } from '../../src/platform/log.ts';
import { ProfileError } from '../../src/profile/load.ts';
import { start, type Instance } from '../../src/server.ts';
import { demoProfileRaw, startTestApp, type TestApp } from '../helpers/app.ts';

/**
 * The demo must be safe to run on a laptop in an office: the emulator lets whoever reaches the
 * server act as any citizen, so it listens on this machine only unless told otherwise, it never
 * runs beside WeChat's real URLs, and it redirects nowhere but to the account's own pages.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const silent = createLogger({ level: 'silent' });
let running: Instance | TestApp | null = null;
afterEach(async () => {
  await running?.close();
  running = null;
});

function profileFile(mutate: (p: Record<string, any>) => void): string {
  const raw = demoProfileRaw();
  raw.menu.sync_on_start = false;
  mutate(raw);
  const dir = mkdtempSync(join(tmpdir(), 'weiban-profile-'));
  for (const f of ['calendar.yaml', 'sscards.csv']) writeFileSync(join(dir, f), readConfig(f));
  const file = join(dir, 'profile.yaml');
  writeFileSync(file, stringify(raw));
  return file;
}
const readConfig = (f: string) => readFileSync(join(ROOT, 'config', f), 'utf8');

describe('with the emulator on, the server listens on this machine only unless HOST says otherwise', () => {
  const boot = (env: NodeJS.ProcessEnv) =>
    start({ env: { DATABASE_URL: 'sqlite::memory:', WEIBAN_PROFILE: profileFile(() => {}), ...env }, log: silent, port: 0, runJobs: false, uploadDir: mkdtempSync(join(tmpdir(), 'weiban-up-')) });

  it('loopback by default', async () => {
    running = await boot({});
    expect(running.host).toBe('127.0.0.1');
    expect((running.server.address() as AddressInfo).address).toBe('127.0.0.1');
  });

  it('all interfaces when HOST says so (and the emulator still reaches the callback)', async () => {
    running = await boot({ HOST: '0.0.0.0' });
    expect((running.server.address() as AddressInfo).address).toBe('0.0.0.0');
    const res = await running.emulator!.act('o_demo_zhang_ayi', { type: 'subscribe' });
    expect(res.status).toBe(200);
  });

  it('npm start says so at start', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', HOST: '', DATABASE_URL: 'sqlite::memory:', REDIS_URL: '', LOG_LEVEL: 'silent', UPLOAD_DIR: mkdtempSync(join(tmpdir(), 'weiban-up-')), WEIBAN_PROFILE: profileFile(() => {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('Health:') && out.trimEnd().endsWith('trust.')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(out).toContain('This machine only (127.0.0.1): with the emulator on, whoever reaches the server can act as any');
    expect(out).toContain('HOST=0.0.0.0 opens it to the network');
  });
});

describe('a live profile (WeChat\'s real URLs) with the emulator on is refused at start', () => {
  it('names the field', async () => {
    const file = profileFile((p) => {
      p.wechat.api_base_url = 'https://api.weixin.qq.com';
      p.wechat.oauth_base_url = 'https://open.weixin.qq.com';
    });
    const err = await start({ env: { DATABASE_URL: 'sqlite::memory:', WEIBAN_PROFILE: file }, log: silent, port: 0, runJobs: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProfileError);
    expect((err as ProfileError).problems).toEqual([expect.stringMatching(/^emulator\.enabled: expected false with a live profile \(wechat\.api_base_url is https:\/\/api\.weixin\.qq\.com\)/)]);
  });

  it('also when only the web authorisation is WeChat\'s', async () => {
    const file = profileFile((p) => (p.wechat.oauth_base_url = 'https://open.weixin.qq.com'));
    const err = await start({ env: { DATABASE_URL: 'sqlite::memory:', WEIBAN_PROFILE: file }, log: silent, port: 0, runJobs: false }).catch((e: unknown) => e);
    expect((err as ProfileError).problems).toEqual([expect.stringMatching(/^emulator\.enabled: .*wechat\.oauth_base_url/)]);
  });
});

describe('an emulated pay platform in another process is refused with a real WeChat account', () => {
  it('names pay.base_url: its bills would be marked paid by a platform that takes no money', async () => {
    const file = profileFile((p) => {
      p.emulator.enabled = false;
      p.wechat.api_base_url = 'https://api.weixin.qq.com';
      p.wechat.oauth_base_url = 'https://open.weixin.qq.com';
      p.pay.base_url = 'http://127.0.0.1:4100/emulator/pay';
    });
    const err = await start({ env: { DATABASE_URL: 'sqlite::memory:', WEIBAN_PROFILE: file }, log: silent, port: 0, runJobs: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProfileError);
    expect((err as ProfileError).problems).toContainEqual(expect.stringMatching(/^pay\.base_url: expected https:\/\/api\.mch\.weixin\.qq\.com with a real WeChat account \(wechat\.api_base_url is https:\/\/api\.weixin\.qq\.com\)/));
  });
});

describe('the emulator redirects only to the account\'s own pages', () => {
  it('the phone\'s open?url= refuses other hosts however they are written', async () => {
    running = await startTestApp();
    const app = running as TestApp;
    const open = (url: string) => fetch(`http://localhost:${app.port}/emulator/phone/open?openid=o_demo_zhang_ayi&url=${encodeURIComponent(url)}`, { redirect: 'manual' });
    for (const evil of ['//evil.example/phish', '/\\evil.example/phish', '/\t/evil.example', '\\\\evil.example', 'https://evil.example/', 'javascript:alert(1)', 'http://localhost.evil.example/']) {
      const res = await open(evil);
      expect(res.status, JSON.stringify(evil)).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
    const ok = await open('/h5/guides?x=1');
    expect(ok.status).toBe(302);
    expect(ok.headers.get('location')).toBe('/h5/guides?x=1');
    const absolute = await open(`http://localhost:${app.port}/h5/guides`);
    expect(absolute.headers.get('location')).toBe(`http://localhost:${app.port}/h5/guides`);
  });

  it('a path it lets through stays on this host as a browser reads it', () => {
    for (const u of ['/h5/a', '/\\evil.example', '//evil.example', '/\n/evil.example', '/.//evil.example', '/%2f%2fevil.example']) {
      const out = ourUrl(u, 'http://account.example');
      if (out !== null) expect(new URL(out, 'http://account.example').host, JSON.stringify(u)).toBe('account.example');
    }
  });

  it('web authorisation sends codes only to the account\'s web-authorisation domain', async () => {
    running = await startTestApp();
    const app = running as TestApp;
    const authorize = (redirect: string) =>
      fetch(`http://localhost:${app.port}/emulator/connect/oauth2/authorize?${new URLSearchParams({ appid: app.profile.wechat.appid, redirect_uri: redirect, response_type: 'code', scope: 'snsapi_base', state: 's' })}`, {
        redirect: 'manual',
        headers: { cookie: 'emu_openid=o_demo_zhang_ayi' },
      });
    for (const evil of ['https://evil.example/steal', `http://localhost:${app.port}.evil.example/x`, `http://evil.example/?http://localhost:${app.port}/`, `http://localhost:${app.port + 1}/h5/auth`]) {
      const res = await authorize(evil);
      expect(res.status, evil).toBe(400);
      expect(await res.text()).toMatch(/redirect_uri 参数错误/);
    }
    const ok = await authorize(`http://localhost:${app.port}/h5/auth?next=%2Fh5%2Fbookings`);
    expect(ok.status).toBe(302);
    expect(ok.headers.get('location')).toMatch(new RegExp(`^http://localhost:${app.port}/h5/auth\\?next=%2Fh5%2Fbookings&code=[0-9a-f]{32}&state=s$`));
  });
});
