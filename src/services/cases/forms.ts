import type { FormField } from '../../profile/application.ts';
import { isValidIdCard } from '../../platform/idcard.ts';
import { sniffMime } from '../../platform/storage.ts';
import { textsSchema } from '../../profile/texts.ts';

export interface Upload {
  fieldId: string;
  fileName: string;
  data: Buffer;
  /** The upload went past the size limit and was cut short while it was read. */
  truncated?: boolean;
}

export type FieldValue = string | number;

export interface Checked {
  values: Record<string, FieldValue>;
  files: Record<string, { upload: Upload; mime: string }[]>;
  /** Field id → what is wrong, in plain Chinese. Empty when all is well. */
  errors: Record<string, string>;
}

/**
 * Characters a file name may not keep: controls, and the invisible ones that change how the rest
 * reads — bidi overrides and isolates (‮gpj.exe shows as exe.jpg), marks, zero-width characters.
 */
const UNSAFE_IN_NAME = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** A citizen's file name as it may be stored and shown: no path, nothing invisible, at most 200 characters. */
export function cleanFileName(name: string): string {
  const chars = Array.from(name.normalize('NFC').replace(UNSAFE_IN_NAME, '').replace(/[\\/]/g, '_').trim());
  return chars.slice(0, 200).join('') || 'file';
}

const DEFAULT_ADDRESS_EXAMPLE = textsSchema.parse({}).address_example;

const FORMAT_NAMES: Record<string, string> = { 'image/jpeg': 'JPG', 'image/png': 'PNG', 'application/pdf': 'PDF' };

/** A、B 或 C */
const orList = (xs: string[]) => (xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join('、')} 或 ${xs.at(-1)}`);

/** What a file field takes, as a citizen says it: JPG 或 PNG 图片 · JPG 图片或 PDF 文件. */
export function acceptedWords(accept: readonly string[]): string {
  const images = accept.filter((a) => a.startsWith('image/')).map((a) => FORMAT_NAMES[a] ?? a);
  const docs = accept.filter((a) => !a.startsWith('image/')).map((a) => FORMAT_NAMES[a] ?? a);
  const parts = [images.length ? `${orList(images)} 图片` : '', docs.length ? `${orList(docs)} 文件` : ''].filter(Boolean);
  return parts.join('或 ');
}

/**
 * Check a submitted form against its definition. `kept` counts files already attached to the
 * draft or case for each file field, so a required file need not be sent twice.
 */
export function checkForm(form: FormField[], input: Record<string, string>, uploads: Upload[], opts: { now: number; kept?: Record<string, number>; partial?: boolean; addressExample?: string }): Checked {
  const values: Record<string, FieldValue> = {};
  const files: Checked['files'] = {};
  const errors: Record<string, string> = {};
  for (const f of form) {
    if (f.type === 'file') {
      const mine = uploads.filter((u) => u.fieldId === f.id && u.data.length > 0).map((u) => ({ ...u, fileName: cleanFileName(u.fileName) }));
      const kept = opts.kept?.[f.id] ?? 0;
      if (mine.length + kept > f.max_files) {
        errors[f.id] = `${f.label}最多传 ${f.max_files} 个文件。${kept ? '已上传的可以先点「删除」，再传新的。' : ''}`;
        continue;
      }
      const ok: { upload: Upload; mime: string }[] = [];
      for (const u of mine) {
        const mime = sniffMime(u.data);
        if (u.truncated || u.data.length > f.max_kb * 1024) {
          errors[f.id] = `${f.label}「${u.fileName}」太大了，不能超过 ${f.max_kb >= 1024 ? `${Math.round(f.max_kb / 1024)} MB` : `${f.max_kb} KB`}。`;
          break;
        }
        if (!mime || !(f.accept as readonly string[]).includes(mime)) {
          errors[f.id] = `${f.label}「${u.fileName}」不是 ${acceptedWords(f.accept)}，请换一个文件。`;
          break;
        }
        ok.push({ upload: u, mime });
      }
      if (errors[f.id]) continue;
      if (f.required && !opts.partial && ok.length + kept === 0) errors[f.id] = `请上传${f.label}。`;
      files[f.id] = ok;
      continue;
    }
    const raw = (input[f.id] ?? '').replace(/\r\n?/g, '\n').trim();
    if (raw === '') {
      if (f.required && !opts.partial) errors[f.id] = `请填写${f.label}。`;
      continue;
    }
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(raw)) {
      errors[f.id] = `${f.label}里有不能识别的字符。`;
      continue;
    }
    const problem = checkValue(f, raw, opts.now, opts.addressExample ?? DEFAULT_ADDRESS_EXAMPLE);
    if (problem) errors[f.id] = problem;
    else values[f.id] = f.type === 'number' ? Number(raw) : f.type === 'id_card' ? raw.toUpperCase() : raw;
  }
  return { values, files, errors };
}

function checkValue(f: Exclude<FormField, { type: 'file' }>, v: string, now: number, addressExample: string): string | null {
  switch (f.type) {
    case 'text':
      return [...v].length > f.max ? `${f.label}最多 ${f.max} 个字。` : null;
    case 'number': {
      if (!/^-?\d+(\.\d+)?$/.test(v)) return `${f.label}请填数字。`;
      const n = Number(v);
      if (f.integer && !Number.isInteger(n)) return `${f.label}请填整数。`;
      if (f.min !== undefined && n < f.min) return `${f.label}不能小于 ${f.min}。`;
      if (f.max !== undefined && n > f.max) return `${f.label}不能大于 ${f.max}。`;
      return null;
    }
    case 'date': {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
      const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
      if (!m || !d || d.getUTCDate() !== Number(m[3]) || d.getUTCMonth() !== Number(m[2]) - 1) return `${f.label}请填正确的日期。`;
      if (f.not_after_today && d.getTime() - 8 * 3_600_000 > now) return `${f.label}不能晚于今天。`;
      return null;
    }
    case 'select':
      return f.options.includes(v) ? null : `请从列表里选择${f.label}。`;
    case 'phone':
      return /^1[3-9]\d{9}$/.test(v) || /^0\d{2,3}-?\d{7,8}$/.test(v) ? null : `${f.label}请填 11 位手机号或带区号的固定电话。`;
    case 'id_card':
      if (!/^\d{17}[\dXx]$/.test(v)) return `${f.label}应是 18 位，最后一位可能是 X。`;
      return isValidIdCard(v.toUpperCase(), now) ? null : `${f.label}不正确（校验位不对），请核对后再填。`;
    case 'address':
      return v.length < 5 || v.length > 100 || !/[\u4e00-\u9fa5]/.test(v) ? `${f.label}请写到门牌号，${addressExample.replace(/[。.]$/, '')}。` : null;
  }
}
