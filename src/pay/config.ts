import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { SOURCE_DIR } from '../paths.ts';
import { loadPrivateKey, loadPublicKey } from './crypto.ts';

/**
 * The profile's `pay` section: what a department fills in to take fees in WeChat Pay (API v3).
 * Nothing secret lives here: the merchant private key, the APIv3 key and the WeChat Pay public key
 * come from the environment or from files outside the repository (see `resolvePay`). With
 * `base_url: emulator` the emulator's demo merchant is used, whose keys are committed.
 */
export const paySchema = z
  .object({
    enabled: z.boolean().default(false),
    /** 商户号. */
    mchid: z.string().regex(/^\d{8,12}$/, { message: 'expected a merchant id (商户号) of 8 to 12 digits' }).default('1900000109'),
    /** 收款方 as citizens see it on the pay page and receipts. */
    payee: z.string().trim().min(1).max(40).default('收款单位'),
    /**
     * WeChat Pay's address (https://api.mch.weixin.qq.com), or the emulator: "emulator" for this
     * process's own, or the URL of one running in another process on this machine
     * (http://127.0.0.1:<port>/emulator/pay), which pays with the emulator's demo merchant only.
     */
    base_url: z.union([z.literal('emulator'), z.string().url({ message: 'expected "emulator" or https://api.mch.weixin.qq.com' })]).default('https://api.mch.weixin.qq.com'),
    /** The merchant API certificate's serial number (商户API证书序列号); WECHATPAY_MERCHANT_SERIAL overrides. */
    merchant_serial: z.string().regex(/^[0-9A-Fa-f]{8,64}$/, { message: 'expected the certificate serial number in hex' }).optional(),
    /**
     * How WeChat Pay's signatures are checked: its public key (PUB_KEY_ID_…, the only mode for
     * merchants since late 2024; the key file comes from WECHATPAY_PUBLIC_KEY_FILE) or the
     * platform certificates downloaded from /v3/certificates.
     */
    verify: z
      .discriminatedUnion('mode', [
        z.object({ mode: z.literal('public_key'), public_key_id: z.string().regex(/^PUB_KEY_ID_[0-9A-Za-z]{8,64}$/, { message: 'expected the public key id "PUB_KEY_ID_…" from the merchant platform' }).optional() }).strict(),
        z.object({ mode: z.literal('certificates') }).strict(),
      ])
      .default({ mode: 'public_key' }),
    /** An unpaid order is closed after this long (and a new one opened at the next 去支付). */
    order_timeout_minutes: z.number().int().min(5).max(1440).default(30),
    /** Ask WeChat Pay about an order when its notification has not come this long after it was opened. */
    query_after_minutes: z.number().int().min(1).max(60).default(5),
    /** Where notifications go (default PUBLIC_URL/pay/notify and /pay/refund-notify). */
    notify_base_url: z.string().url().optional(),
  })
  .strict();
export type PayProfile = z.infer<typeof paySchema>;

export const LIVE_PAY_URL = 'https://api.mch.weixin.qq.com';

/**
 * An emulator in another process on this machine (an end-to-end test that kills weiban and keeps
 * the pay platform running): an http(s) URL on a loopback address whose path ends in
 * /emulator/pay. WeChat Pay is never on a loopback address, so a live profile cannot match.
 */
export function isEmulatorUrl(url: string, path = /\/emulator\/pay\/?$/): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(u.hostname);
  return (u.protocol === 'http:' || u.protocol === 'https:') && loopback && path.test(u.pathname) && !u.search && !u.username && !u.password;
}

const DEMO_DIR = join(SOURCE_DIR, 'emulator', 'pay-demo');
/** The emulator's demo merchant (committed on purpose: it works only against the emulator). */
export const DEMO_MERCHANT = {
  serial: '3775B6A45ACD588826D15E583A95F5DD2F5E6A33',
  apiV3Key: 'weibanEmulatorDemoApiV3Key000001',
  privateKeyPem: () => readFileSync(join(DEMO_DIR, 'merchant-key.pem'), 'utf8'),
};

export type PayVerify = { mode: 'public_key'; id: string; key: KeyObject } | { mode: 'public_key'; fromEmulator: true } | { mode: 'certificates' };

export interface PaySettings {
  mchid: string;
  appid: string;
  payee: string;
  baseUrl: string;
  emulated: boolean;
  serial: string;
  privateKey: KeyObject;
  privateKeyPem: string;
  apiV3Key: string;
  verify: PayVerify;
  orderTimeoutMs: number;
  queryAfterMs: number;
  notifyUrl: string;
  refundNotifyUrl: string;
}

export class PayConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`WeChat Pay is not set up correctly:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PayConfigError';
  }
}

function readSecret(env: NodeJS.ProcessEnv, name: string, fileName: string, problems: string[], field: string, repoRoot: string): string | null {
  const file = env[fileName];
  if (file) {
    const path = resolve(file);
    if (path.startsWith(resolve(repoRoot) + '/')) {
      problems.push(`${field} (${fileName}): expected a file outside the repository, got ${file}`);
      return null;
    }
    if (!existsSync(path)) {
      problems.push(`${field} (${fileName}): the file ${file} does not exist`);
      return null;
    }
    return readFileSync(path, 'utf8');
  }
  return env[name] ?? null;
}

/**
 * The settings a running instance pays with: the profile's section plus the secrets from the
 * environment, each checked (a key that cannot sign, the emulator's demo keys with a live base
 * URL, a missing APIv3 key); every problem is named by its field.
 */
export function resolvePay(p: PayProfile, o: { env: NodeJS.ProcessEnv; appid: string; publicUrl: string; emulatorUrl: string; repoRoot: string }): PaySettings {
  const problems: string[] = [];
  // The emulator: this process's own, or one elsewhere on this machine (its URL).
  const remoteEmulator = p.base_url !== 'emulator' && isEmulatorUrl(p.base_url);
  const emulated = p.base_url === 'emulator' || remoteEmulator;
  const env = o.env;
  let pem = readSecret(env, 'WECHATPAY_PRIVATE_KEY', 'WECHATPAY_PRIVATE_KEY_FILE', problems, 'pay.private_key', o.repoRoot);
  let apiV3Key = readSecret(env, 'WECHATPAY_APIV3_KEY', 'WECHATPAY_APIV3_KEY_FILE', problems, 'pay.apiv3_key', o.repoRoot)?.trim() ?? null;
  const serial = env.WECHATPAY_MERCHANT_SERIAL ?? p.merchant_serial ?? (emulated ? DEMO_MERCHANT.serial : null);
  if (emulated) {
    pem ??= DEMO_MERCHANT.privateKeyPem();
    apiV3Key ??= DEMO_MERCHANT.apiV3Key;
  }
  let privateKey: KeyObject | null = null;
  if (!pem) problems.push('pay.private_key: expected the merchant private key (apiclient_key.pem) in WECHATPAY_PRIVATE_KEY_FILE, a file outside the repository');
  else {
    try {
      privateKey = loadPrivateKey(pem);
    } catch (err) {
      problems.push(`pay.private_key: expected a PEM RSA private key that can sign; ${(err as Error).message.slice(0, 120)}`);
    }
  }
  if (!apiV3Key) problems.push('pay.apiv3_key: expected the APIv3 key in WECHATPAY_APIV3_KEY or WECHATPAY_APIV3_KEY_FILE');
  else if (Buffer.byteLength(apiV3Key) !== 32) problems.push(`pay.apiv3_key: expected 32 characters (the APIv3 key set on the merchant platform); got ${Buffer.byteLength(apiV3Key)}`);
  if (!serial) problems.push('pay.merchant_serial: expected the merchant certificate serial number (profile or WECHATPAY_MERCHANT_SERIAL)');
  if (remoteEmulator) {
    // The demo merchant only: a real merchant's keys never sign requests to an emulator.
    if (pem && pem.trim() !== DEMO_MERCHANT.privateKeyPem().trim()) problems.push(`pay.base_url: an emulator's URL (${p.base_url}) takes only the emulator's demo merchant key; unset WECHATPAY_PRIVATE_KEY(_FILE) or use ${LIVE_PAY_URL}`);
    if (apiV3Key && apiV3Key !== DEMO_MERCHANT.apiV3Key) problems.push(`pay.base_url: an emulator's URL (${p.base_url}) takes only the emulator's demo APIv3 key`);
    if (serial && serial.toUpperCase() !== DEMO_MERCHANT.serial) problems.push(`pay.merchant_serial: an emulator's URL (${p.base_url}) takes only the demo merchant's serial ${DEMO_MERCHANT.serial}`);
    if (p.verify.mode === 'public_key' && env.WECHATPAY_PUBLIC_KEY_FILE) problems.push(`pay.verify.public_key: an emulator's URL (${p.base_url}) verifies with the emulator's own key; unset WECHATPAY_PUBLIC_KEY_FILE`);
  }
  if (!emulated) {
    if (pem && pem.trim() === DEMO_MERCHANT.privateKeyPem().trim()) problems.push(`pay.base_url: the emulator's demo merchant key cannot be used with a live base URL (${p.base_url}); set WECHATPAY_PRIVATE_KEY_FILE to your own key`);
    if (apiV3Key === DEMO_MERCHANT.apiV3Key) problems.push(`pay.base_url: the emulator's demo APIv3 key cannot be used with a live base URL (${p.base_url})`);
    if (!/^https:\/\//.test(p.base_url)) problems.push(`pay.base_url: expected an https URL for a live merchant; got ${p.base_url}`);
  }
  let verify: PayVerify | null = null;
  if (p.verify.mode === 'certificates') verify = { mode: 'certificates' };
  else if (emulated && !env.WECHATPAY_PUBLIC_KEY_FILE) verify = { mode: 'public_key', fromEmulator: true };
  else {
    const id = env.WECHATPAY_PUBLIC_KEY_ID ?? p.verify.public_key_id;
    const keyPem = readSecret(env, 'WECHATPAY_PUBLIC_KEY', 'WECHATPAY_PUBLIC_KEY_FILE', problems, 'pay.verify.public_key', o.repoRoot);
    if (!id) problems.push('pay.verify.public_key_id: expected the WeChat Pay public key id "PUB_KEY_ID_…"');
    if (!keyPem) problems.push('pay.verify.public_key: expected the WeChat Pay public key (pub_key.pem) in WECHATPAY_PUBLIC_KEY_FILE');
    if (id && keyPem) {
      try {
        verify = { mode: 'public_key', id, key: loadPublicKey(keyPem) };
      } catch (err) {
        problems.push(`pay.verify.public_key: expected a PEM RSA public key; ${(err as Error).message.slice(0, 120)}`);
      }
    }
  }
  if (problems.length || !privateKey || !apiV3Key || !serial || !verify || !pem) throw new PayConfigError(problems);
  const notifyBase = (p.notify_base_url ?? o.publicUrl).replace(/\/$/, '');
  return {
    mchid: p.mchid,
    appid: o.appid,
    payee: p.payee,
    baseUrl: p.base_url === 'emulator' ? o.emulatorUrl : p.base_url.replace(/\/$/, ''),
    emulated,
    serial: serial.toUpperCase(),
    privateKey,
    privateKeyPem: pem,
    apiV3Key,
    verify,
    orderTimeoutMs: p.order_timeout_minutes * 60_000,
    queryAfterMs: p.query_after_minutes * 60_000,
    notifyUrl: `${notifyBase}/pay/notify`,
    refundNotifyUrl: `${notifyBase}/pay/refund-notify`,
  };
}
