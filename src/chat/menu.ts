import type { Logger } from '../platform/log.ts';
import type { JobQueue } from '../platform/jobs.ts';
import type { MenuButton, Profile } from '../profile/schema.ts';
import { isValidAt, upcomingBoundaries, type Validity } from '../profile/validity.ts';
import type { WeChatApi } from '../wechat/api/index.ts';
import { toWireMenu } from '../wechat/api/menu.ts';

type Leaf = Exclude<MenuButton, { sub_button: unknown }>;

/**
 * The custom menu as it should look now: a button whose own validity window is closed, or whose
 * click target (a navigation node, service, FAQ entry or rule) is, is left out; so is a group left
 * with no buttons. Expired services must not linger in the menu (the 2025 survey lists them).
 */
export function activeMenu(p: Profile, now: number): MenuButton[] {
  const targets = new Map<string, Validity>();
  const walk = (nodes: Profile['navigation']) => {
    for (const n of nodes) {
      targets.set(n.id, n);
      if (n.children) walk(n.children);
    }
  };
  walk(p.navigation);
  for (const s of p.services) targets.set(s.id, s);
  for (const f of p.faq) targets.set(f.id, f);
  const rules = p.keywords.flatMap((k) => k.click_keys.map((key) => [key, k] as const));
  const leafLive = (b: Leaf) => {
    if (!isValidAt(b, now)) return false;
    if (b.type !== 'click') return true;
    const viaRule = rules.filter(([key]) => key === b.key);
    if (viaRule.length) return viaRule.some(([, r]) => isValidAt(r, now));
    const t = targets.get(b.key);
    return !t || isValidAt(t, now);
  };
  const out: MenuButton[] = [];
  for (const b of p.menu?.buttons ?? []) {
    if (!isValidAt(b, now)) continue;
    if ('sub_button' in b) {
      const subs = b.sub_button.filter((s) => leafLive(s as Leaf));
      if (subs.length) out.push({ ...b, sub_button: subs });
    } else if (leafLive(b as Leaf)) out.push(b);
  }
  return out;
}

/** Every validity window the menu depends on. */
function menuValidities(p: Profile): Validity[] {
  const out: Validity[] = [];
  for (const b of p.menu?.buttons ?? []) {
    out.push(b);
    if ('sub_button' in b) out.push(...b.sub_button);
  }
  const walk = (nodes: Profile['navigation']) => {
    for (const n of nodes) {
      out.push(n);
      if (n.children) walk(n.children);
    }
  };
  walk(p.navigation);
  out.push(...p.services, ...p.faq, ...p.keywords);
  return out;
}

/**
 * Keeps the platform's menu in step with the profile: synced at start, and again (a durable job)
 * at the next moment an item's validity starts or ends.
 */
export class MenuSync {
  static readonly JOB = 'menu.sync';

  constructor(
    private readonly p: Profile,
    private readonly api: WeChatApi,
    private readonly jobs: JobQueue,
    private readonly clock: { now(): number },
    private readonly publicUrl: string,
    private readonly log: Logger,
  ) {
    jobs.define(MenuSync.JOB, { maxAttempts: 8, run: async () => this.sync() });
  }

  async sync(): Promise<void> {
    const now = this.clock.now();
    const buttons = activeMenu(this.p, now);
    if (buttons.length === 0) await this.api.menu.delete();
    else await this.api.menu.create(toWireMenu(buttons, this.publicUrl));
    this.log.info({ buttons: buttons.length }, 'custom menu synced to the platform');
    const next = upcomingBoundaries(menuValidities(this.p), now)[0];
    if (next !== undefined) await this.jobs.enqueue(MenuSync.JOB, {}, { runAt: next, uniqueKey: `menu-sync:${next}` });
  }
}
