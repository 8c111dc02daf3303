import { existsSync } from 'node:fs';
import type { CheckBrowser } from './check.ts';

/**
 * Chromium for the self-check's phone-width pages, through playwright-core when it is installed
 * (a development dependency) and a Chromium is on the machine (CHROMIUM, else /usr/bin/chromium).
 * Null otherwise: the check then says it did not look, rather than passing.
 */
export async function chromiumForCheck(env: NodeJS.ProcessEnv = process.env): Promise<CheckBrowser | null> {
  const executablePath = env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) return null;
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch {
    return null;
  }
  const browser = await pw.chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-component-update', '--disable-sync'] });
  const context = await browser.newContext();
  return {
    async newPage() {
      const p = await context.newPage();
      return {
        setViewportSize: (s) => p.setViewportSize(s),
        goto: (url) => p.goto(url),
        evaluate: <T>(js: string) => p.evaluate(js) as Promise<T>,
        close: () => p.close(),
      };
    },
    setCookie: (url, name, value) => context.addCookies([{ name, value, url }]),
    clearCookies: () => context.clearCookies(),
    close: () => browser.close(),
  };
}
