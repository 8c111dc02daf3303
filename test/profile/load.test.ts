import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadProfile, parseProfile, ProfileError } from '../../src/profile/load.ts';
import { demoProfileRaw } from '../helpers/app.ts';

function problems(mutate: (p: Record<string, any>) => void): string[] {
  const raw = demoProfileRaw();
  mutate(raw);
  try {
    parseProfile(raw, 'profile', { services: 'services.yaml', faq: 'faq.yaml', synonyms: 'synonyms.yaml' });
  } catch (err) {
    expect(err).toBeInstanceOf(ProfileError);
    return (err as ProfileError).problems;
  }
  return [];
}

describe('the department profile', () => {
  it('the demo profile is valid', () => {
    const p = loadProfile(join(import.meta.dirname, '..', '..', 'config', 'profile.yaml'), {});
    expect(p.profile.account.name).toBeTruthy();
    expect(p.profile.wechat.encoding).toBe('safe');
    expect(p.profile.emulator.enabled).toBe(true);
  });

  it('names the field path and what was expected', () => {
    expect(problems((p) => (p.wechat.appid = 'not-an-appid'))).toEqual(['wechat.appid: expected an appid such as "wx1234567890abcdef"; got "not-an-appid"']);
    expect(problems((p) => (p.wechat.aes_key = 'short'))[0]).toMatch(/^wechat\.aes_key: expected an EncodingAESKey of exactly 43/);
    expect(problems((p) => delete p.account.name)[0]).toMatch(/^account\.name: /);
    expect(problems((p) => (p.wechat.reply_timeout_ms = 6000))[0]).toMatch(/^wechat\.reply_timeout_ms: .*4800/);
    expect(problems((p) => (p.account.unknown_field = 1))[0]).toMatch(/^account: .*unknown_field/i);
  });

  it('says what a person can act on: "required", the item\'s id beside its index, the wrong value', () => {
    expect(problems((p) => delete p.account.name)).toEqual(['account.name: required (expected a string)']);
    expect(problems((p) => delete p.handoff.texts)).toEqual(['handoff.texts: required (a section)']);
    const bad = problems((p) => (p.halls[0].hours.default = [['09:00', '25:00']]));
    expect(bad).toEqual(['halls[0 center].hours.default[0][1]: expected a time "HH:MM" from 00:00 to 24:00 (24:00 is the end of the day); got "25:00"']);
    expect(problems((p) => (p.navigation[2].children[0].reply = { nav: 'no-such-node' }))).toEqual([
      'navigation[2 apply-online].children[0 apply-list].reply.nav: expected a navigation id; "no-such-node" is not in navigation',
    ]);
    expect(problems((p) => (p.wechat.reply_timeout_ms = 6000))[0]).toMatch(/; got 6000$/);
    expect(problems((p) => (p.inbox.categories[0].due = { hours: 24, working_days: 1 }))).toEqual([
      'inbox.categories[0 consultation].due: expected exactly one of hours, office_hours, working_days; got hours and working_days',
    ]);
  });

  it('checks menu limits: at most 3 buttons with at most 5 sub-buttons, names in bytes', () => {
    expect(problems((p) => p.menu.buttons.push({ type: 'click', name: '多', key: 'X' }))[0]).toMatch(/^menu\.buttons: expected at most 3 top-level buttons/);
    expect(
      problems((p) => {
        const subs = p.menu.buttons[1].sub_button;
        subs.splice(4);
        while (subs.length < 6) subs.push({ type: 'click', name: '又一项', key: `K${subs.length}` });
      })[0],
    ).toMatch(/^menu\.buttons\[1 办政事\]\.sub_button: expected at most 5 sub-buttons/);
    expect(problems((p) => (p.menu.buttons[0].name = '这是一个太长的名字'))).toContain(
      'menu.buttons[0 这是一个太长的名字].name: expected a top-level menu name of at most 16 bytes (4 Chinese characters); got "这是一个太长的名字"',
    );
    expect(problems((p) => (p.menu.buttons[0].sub_button[0] = { type: 'view', name: '链接', url: 'ftp://x' }))[0]).toMatch(/url: expected a path starting with "\/" or an http\(s\) URL/);
  });

  it('requires an AES key outside plain mode and refuses "emulator" URLs without the emulator', () => {
    expect(problems((p) => delete p.wechat.aes_key)).toContain('wechat.aes_key: expected an EncodingAESKey when encoding is "safe"');
    expect(
      problems((p) => {
        p.emulator.enabled = false;
      }),
    ).toEqual(expect.arrayContaining([expect.stringMatching(/^wechat\.api_base_url: .*emulator\.enabled/)]));
  });

  it('refuses a sub-item whose function differs from its parent, in the menu and in the navigation', () => {
    // the survey's own example of a fault: 政策解读 filed under a service button
    expect(
      problems((p) => (p.menu.buttons[2].sub_button[4] = { type: 'click', name: '政策解读', key: 'policy', function: '政务公开' })),
    ).toContain('menu.buttons[2 听民声].sub_button[4 政策解读].function: expected "互动交流" like its parent: a 政务公开 item does not belong under a 互动交流 button');
    expect(
      problems((p) => (p.navigation[0].children[0].function = '互动交流')),
    ).toContain('navigation[0 guides].children[0 guides-hukou].function: expected "办事服务" like its parent: a 互动交流 item does not belong under a 办事服务 item');
    expect(problems((p) => delete p.menu.buttons[0].function)).toContain('menu.buttons[0 知政务].function: expected a function (政务公开 / 办事服务 / 互动交流) on every top-level button');
  });

  it('requires the menu to cover the three functions unless told otherwise', () => {
    expect(problems((p) => p.menu.buttons.splice(2, 1))).toEqual([
      'menu.buttons: expected the menu to cover 政务公开, 办事服务, 互动交流; missing 互动交流 (set menu.allow_partial_functions to allow it)',
    ]);
    expect(
      problems((p) => {
        p.menu.buttons.splice(2, 1);
        p.menu.allow_partial_functions = true;
      }),
    ).toEqual([]);
  });

  it('refuses a renewal reminder that could never come before the validity ends, naming both fields', () => {
    const at = demoProfileRaw().services.findIndex((x: { id: string }) => x.id === 'residence-permit');
    const permit = (p: Record<string, any>) => p.services[at].application;
    expect(problems((p) => (permit(p).validity_days = 20))).toEqual([
      `services[${at} residence-permit].application.renewal_reminder_days (in services.yaml): expected fewer days (30) than validity_days (20), or the renewal reminder would be due before the permit is even issued`,
    ]);
    expect(problems((p) => Object.assign(permit(p), { validity_days: 30, renewal_reminder_days: 30 }))[0]).toMatch(/renewal_reminder_days \(in services\.yaml\): expected fewer days \(30\) than validity_days \(30\)/);
    expect(problems((p) => Object.assign(permit(p), { validity_days: 20, renewal_reminder_days: 7 }))).toEqual([]);
    // Unset, the reminder fits the validity: 30 days, or a quarter of a short one.
    const unset = (validity: number) => {
      const raw = demoProfileRaw();
      Object.assign(permit(raw), { validity_days: validity });
      delete permit(raw).renewal_reminder_days;
      return parseProfile(raw, 'test').services[at]!.application!.renewal_reminder_days;
    };
    expect([unset(20), unset(365), unset(90)]).toEqual([5, 30, 22]);
  });

  it('refuses references to things that do not exist', () => {
    expect(problems((p) => (p.menu.buttons[0].sub_button[0].key = 'nothing-here'))).toContain(
      'menu.buttons[0 知政务].sub_button[0 政策解读].key: expected a key that a keyword rule (click_keys), navigation node, service or FAQ answers; nothing answers "nothing-here"',
    );
    expect(problems((p) => (p.keywords[0].reply = { service: 'no-such-service' }))).toContain('keywords[0 my-bookings].reply.service: expected a service id; "no-such-service" is not in services');
    expect(problems((p) => (p.navigation[0].children[0].children[0].reply = { nav: 'nowhere' }))).toContain('navigation[0 guides].children[0 guides-hukou].children[0 g-residence-permit].reply.nav: expected a navigation id; "nowhere" is not in navigation');
    expect(problems((p) => (p.navigation[1].audience = ['aliens']))).toContain('navigation[1 book].audience[0]: expected an audience id defined under audiences.options (resident, business, migrant); got "aliens"');
    expect(problems((p) => (p.keywords[0].reply = { text: 'a', home: true }))[0]).toMatch(/^keywords\[0 my-bookings\]\.reply: expected exactly one of/);
    expect(
      problems((p) => {
        const thanks = p.keywords.find((k: { id: string }) => k.id === 'thanks');
        thanks.patterns = ['(unclosed'];
      })[0],
    ).toMatch(/^keywords\[\d+ thanks\]\.patterns\[0\]: expected a valid regular expression/);
    expect(problems((p) => (p.services[1].id = p.services[0].id))[0]).toMatch(/^services\[1 [a-z-]+\]\.id \(in services\.yaml\): expected a unique id/);
  });

  it('names the included file a problem is in', () => {
    expect(problems((p) => (p.faq[0].answer = ''))[0]).toMatch(/^faq\[0 weekend-hours\]\.answer \(in faq\.yaml\): required/);
  });

  it('the configuration files are clean UTF-8 text (no mojibake from a wrong encoding)', () => {
    const dir = join(import.meta.dirname, '..', '..', 'config');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text, f).not.toMatch(/[\u00c2-\u00f4][\u0080-\u00bf]/);
      expect(text, f).not.toContain('\ufffd');
    }
  });

  it('takes credentials from the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'profile-'));
    const file = join(dir, 'profile.yaml');
    writeFileSync(file, stringify(demoProfileRaw()));
    const p = loadProfile(file, {
      WECHAT_APPID: 'wxabcdef1234567890',
      WECHAT_APPSECRET: 'production-secret',
      WECHAT_TOKEN: 'prodToken',
      WECHAT_AES_KEY: 'A'.repeat(43),
    }).profile;
    expect(p.wechat).toMatchObject({ appid: 'wxabcdef1234567890', appsecret: 'production-secret', token: 'prodToken', aes_key: 'A'.repeat(43) });
  });

  it('reports unreadable files and broken YAML with the file name', () => {
    expect(() => loadProfile('/nonexistent/profile.yaml', {})).toThrow(/\/nonexistent\/profile\.yaml[\s\S]*cannot read/);
    const dir = mkdtempSync(join(tmpdir(), 'profile-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'account: [unclosed');
    expect(() => loadProfile(file, {})).toThrow(/not valid YAML/);
  });
});
