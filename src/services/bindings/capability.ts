import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Capability, Core } from '../../capability.ts';
import type { Answer } from '../../chat/engine.ts';
import { normalizeInput } from '../../chat/text.ts';
import { mayBindings } from '../../policies/index.ts';
import { eventsApi, parseRows } from './api.ts';
import type { Bills } from '../bills/index.ts';
import { Events, type BillIssuer } from './events.ts';
import { finesThroughBills } from './fines.ts';
import { Bindings } from './index.ts';
import { bindingPages } from './pages.ts';
import { bindingsPanel } from './staff.ts';
import { HttpVerifier } from './verify.ts';

export interface BindingsCapability extends Capability {
  bindings: Bindings;
  events: Events;
}

/**
 * The HMAC key of each department system: from its environment variable, else (emulator demo only)
 * the profile's demo key. A system without a usable key stops the start naming the field.
 */
export function systemSecrets(core: Pick<Core, 'profile' | 'env'>): Map<string, string> {
  const out = new Map<string, string>();
  core.profile.bindings.systems.forEach((s, i) => {
    const fromEnv = core.env[s.secret_env];
    const secret = fromEnv || (core.profile.emulator.enabled ? s.demo_secret : undefined);
    if (!secret || secret.length < 32) {
      throw new Error(`profile: bindings.systems[${i}].secret_env (system "${s.id}"): expected the environment variable ${s.secret_env} to hold the system's HMAC key of at least 32 characters; got ${fromEnv ? `${fromEnv.length} characters` : 'nothing'}`);
    }
    out.set(s.id, secret);
  });
  return out;
}

const say = (content: string, ref: string): Answer => ({ reply: { type: 'text', content }, ref });

/**
 * Account binding (读者证, 机动车, 社保卡 …), the inbound API for departments' systems, and the pushes
 * their events become. `bills` joins a fine to payment (pay's bills command) once that exists.
 */
export function bindingsCapability(core: Core, opts: { bills?: BillIssuer; pay?: Bills } = {}): BindingsCapability {
  // A fine becomes a bill through pay when the profile pays in WeChat (a stand-in `bills` wins, for tests).
  const fines = !opts.bills && opts.pay?.enabled ? finesThroughBills(opts.pay) : null;
  const config = core.profile.bindings;
  const secrets = systemSecrets(core);
  const log = core.log.child({ component: 'bindings' });
  const verifiers = new Map<string, HttpVerifier>();
  for (const k of config.kinds) {
    if (k.verify.by !== 'http') continue;
    const v = k.verify;
    verifiers.set(k.id, new HttpVerifier({ system: v.system, url: v.url, secret: secrets.get(v.system)!, timeoutMs: v.timeout_ms, retries: v.retries, breakerFailures: v.breaker_failures, openSeconds: v.open_seconds, clock: core.clock, log }));
  }
  const bindings = new Bindings({ db: core.db, kv: core.kv, clock: core.clock, log, config, verifiers });
  const events = new Events({
    db: core.db,
    clock: core.clock,
    calendar: core.calendar,
    jobs: core.jobs,
    api: core.api,
    conversationLog: core.conversationLog,
    log,
    config,
    templates: core.profile.templates,
    bindings,
    publicUrl: core.publicUrl,
    secrets,
    bills: opts.bills ?? fines?.issuer,
  });
  fines?.join(events);
  const page = (path: string) => `${core.publicUrl}${path}`;
  const link = (path: string, text: string) => `<a href="${page(path)}">${text}</a>`;
  const words = (list: string[]) => new Set(list.map((w) => normalizeInput(w)));
  const bindWords = words(['绑定', '我要绑定', '绑卡', '添加绑定']);
  const mineWords = words(['我的绑定', '解绑', '解除绑定', '取消绑定', '退订', '退订提醒', '提醒设置']);
  const kindByWord = (text: string) => config.kinds.find((k) => text === normalizeInput(`绑定${k.name}`) || text === normalizeInput(`${k.name}绑定`));

  return {
    name: 'bindings',
    bindings,
    events,
    chat: {
      extra: config.kinds.length
        ? [
            {
              name: '绑定: the kinds one may bind, each a link to its form',
              when: (_m, t) => t.text !== null && (bindWords.has(t.text) || !!kindByWord(t.text)),
              handle: async (_m, t) => {
                const one = kindByWord(t.text!);
                // Card numbers and passwords are typed on the page, never into the chat (which is logged).
                if (one) return say(`请点击${link(`/h5/bindings/new/${one.id}`, `绑定${one.name}`)}，在页面里填写。绑定后，相关提醒会自动发给您。`, `bind:${one.id}`);
                return say([`可以绑定：`, ...config.kinds.map((k) => `· ${link(`/h5/bindings/new/${k.id}`, `绑定${k.name}`)}`), `绑定后，相关提醒会自动发给您。已绑定的请回复「我的绑定」。`].join('\n'), 'bind:kinds');
              },
            },
            {
              name: '我的绑定: bindings, masked, with the page to unbind or switch pushes off',
              when: (_m, t) => t.text !== null && mineWords.has(t.text),
              handle: async (_m, t) => {
                const mine = await bindings.list(t.openid);
                if (!mine.length) return say(`您还没有绑定。回复「绑定」看看可以绑定什么。`, 'bind:mine');
                const lines = mine.map((b) => `· ${bindings.kind(b.kind)?.name ?? b.kind} ${b.display}`);
                return say([`您已绑定：`, ...lines, `解除绑定或关闭某类提醒：${link('/h5/bindings', '打开我的绑定')}`].join('\n'), 'bind:mine');
              },
            },
          ]
        : [],
    },
    pages(r, kit) {
      bindingPages(r, kit, { bindings, events, config });
    },
    nav: config.kinds.length ? [{ section: 'bindings', label: '绑定与推送', href: '/admin/bindings', visible: (a) => mayBindings(a, 'view', null) }] : [],
    panel(r, kit) {
      bindingsPanel(r, kit, { core, bindings, events });
    },
    routes() {
      return eventsApi({ bindings, events, secrets, kv: core.kv, clock: core.clock, log });
    },
    async started() {
      // Demo records (emulator only, checked by the profile schema): the demo binds out of the box.
      for (const [i, k] of config.kinds.entries()) {
        if (!k.demo_records) continue;
        const file = join(core.profileDir, k.demo_records);
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          throw new Error(`profile: bindings.kinds[${i}].demo_records (kind "${k.id}"): expected a CSV file at ${file} (a header line naming the fields, then one record a line)`);
        }
        const { rows } = parseRows(text, 'csv');
        const res = await bindings.importRecords('demo', k.id, rows);
        log.info({ kind: k.id, imported: res.imported }, 'demo binding records loaded');
      }
    },
  };
}
