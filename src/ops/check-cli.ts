import type { Capability } from '../capability.ts';
import { loadProfile } from '../profile/load.ts';
import { start, type StartOptions } from '../server.ts';
import type { OpsCapability } from './capability.ts';
import { chromiumForCheck } from './check-browser.ts';
import { VERDICT_NAMES, type CheckResult } from './check.ts';

/** The report as plain text (the terminal, a weekly mail). */
export function checkReport(results: CheckResult[]): string {
  const mark = { pass: '✓', finding: '✗', skipped: '–' } as const;
  const lines = results.flatMap((r) => [`${mark[r.verdict]} ${VERDICT_NAMES[r.verdict]}  ${r.title}${r.veto ? '（一票否决项）' : ''}`, `    ${r.summary}`, ...r.details.map((d) => `    · ${d}`)]);
  const findings = results.filter((r) => r.verdict === 'finding');
  lines.push('', findings.length ? `${findings.length} 项发现问题${findings.some((r) => r.veto) ? '，含一票否决项' : ''}。` : '全部通过。');
  return lines.join('\n');
}

/**
 * npm run check: start this account as configured (its database, so staff's content edits count)
 * on a loopback port without jobs or a menu sync, run the self-check against it, print the report.
 * Exit code 0 when everything passed, 1 when something was found.
 */
export async function runCheckCommand(env: NodeJS.ProcessEnv, write: (s: string) => void, opts: Partial<StartOptions> = {}): Promise<number> {
  const loaded = opts.profile ?? loadProfile(env.WEIBAN_PROFILE || 'config/profile.yaml', env);
  if (loaded.profile.menu) loaded.profile.menu.sync_on_start = false; // a check changes nothing at WeChat
  const instance = await start({ env, port: 0, host: '127.0.0.1', runJobs: false, ...opts, profile: loaded });
  try {
    const ops = instance.capabilities.find((c: Capability) => c.name === 'ops') as OpsCapability;
    const results = await ops.selfCheck(() => chromiumForCheck(env));
    write(`\n微办体检 · ${instance.profile.account.name}\n\n${checkReport(results)}\n`);
    return results.some((r) => r.verdict === 'finding') ? 1 : 0;
  } finally {
    await instance.close();
  }
}
