import type { ApiClient } from './client.ts';

export interface QrCode {
  ticket: string;
  /** Seconds; absent for permanent codes. */
  expireSeconds?: number;
  /** The content to render as a QR image. */
  url: string;
}

export const MAX_TEMPORARY_QR_SECONDS = 2_592_000;

/** Parametric QR codes: following or scanning one tells the account the scene (a hall's desk …). */
export class QrCodeApi {
  constructor(private readonly c: ApiClient) {}

  /** A permanent code with a string scene (1–64 characters; at most 100,000 per account). */
  async permanent(scene: string): Promise<QrCode> {
    if (scene.length < 1 || scene.length > 64) throw new RangeError('scene_str must be 1–64 characters');
    return this.create({ action_name: 'QR_LIMIT_STR_SCENE', action_info: { scene: { scene_str: scene } } });
  }

  /** A temporary code (at most 30 days). */
  async temporary(scene: string, expireSeconds: number): Promise<QrCode> {
    if (scene.length < 1 || scene.length > 64) throw new RangeError('scene_str must be 1–64 characters');
    const seconds = Math.min(Math.max(60, Math.floor(expireSeconds)), MAX_TEMPORARY_QR_SECONDS);
    return this.create({ action_name: 'QR_STR_SCENE', expire_seconds: seconds, action_info: { scene: { scene_str: scene } } });
  }

  private async create(body: Record<string, unknown>): Promise<QrCode> {
    const r = await this.c.call<{ ticket: string; expire_seconds?: number; url: string }>('/cgi-bin/qrcode/create', { body });
    const out: QrCode = { ticket: r.ticket, url: r.url };
    if (r.expire_seconds) out.expireSeconds = r.expire_seconds;
    return out;
  }
}
