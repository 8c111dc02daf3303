import { z } from 'zod';
import { idSchema } from './ids.ts';

/**
 * Tickets (工单: complaints, help, suggestions, the leader mailbox — the 12345 loop): the kinds with
 * their working-day deadlines, the categories and where each goes (by area where the department
 * splits the work), the mailboxes, and the area a report must lie in.
 */

const text = (max: number) => z.string().trim().min(1).max(max);
const lat = z.number().min(-90).max(90);
const lng = z.number().min(-180).max(180);

export const ticketKindSchema = z
  .object({
    id: idSchema,
    /** 咨询 / 求助 / 建议 / 投诉 / 举报 / 表扬 */
    name: text(10),
    /** 办理时限: working days from filing (国办发〔2020〕53号: e.g. 咨询 2, 求助 10, 投诉 15). */
    due_working_days: z.number().int().min(1).max(60),
    /** Whether it may be filed without a name or a phone for a call-back. */
    anonymous: z.boolean().default(true),
    /**
     * Whether its reports in a public category may be listed by the open Open311 GETs (masked).
     * False for 举报: a report against someone is never listed unless its writer agreed.
     */
    public: z.boolean().default(true),
  })
  .strict();

export const ticketCategorySchema = z
  .object({
    id: idSchema,
    /** 噪音扰民, 占道停车, 消费纠纷 … */
    name: text(12),
    /** The department it goes to. */
    department: idSchema,
    /** Per area (the nearest area to the location): another department. */
    by_area: z.record(idSchema, idSchema).default({}),
    /** What Open311 and the 随手拍 page say about it. */
    description: text(120).optional(),
    /** Words that find it (Open311 `keywords`, the chat's guess from what the citizen wrote). */
    keywords: z.array(text(12)).default([]),
    /** The kind a report of it is when the citizen does not say (default: the first kind). */
    kind: idSchema.optional(),
    /** Offered on the 随手拍 page (a photo of it makes sense). */
    snap: z.boolean().default(true),
    /**
     * Its reports are listed, masked, by the open Open311 GETs (anyone may read them): problems in
     * public space (a pothole, rubbish). Default: what `snap` says. A private matter (a consumer
     * dispute, a pension question) is listed only when its writer agreed to publication.
     */
    public: z.boolean().optional(),
  })
  .strict();

export const ticketAreaSchema = z.object({ id: idSchema, name: text(20), lat, lng }).strict();

export const mailboxSchema = z
  .object({
    id: idSchema,
    /** 书记信箱, 区长信箱, 城管局长信箱 … */
    name: text(20),
    /** Who reads the letters first (a leader's office, a department). */
    department: idSchema,
    description: text(120).optional(),
  })
  .strict();

export const ticketsSchema = z
  .object({
    kinds: z.array(ticketKindSchema).min(1),
    categories: z.array(ticketCategorySchema).min(1),
    /** The dispatch desk (12345 调度): accepts, refuses, dispatches, merges, calls back. */
    dispatch_department: idSchema,
    areas: z.array(ticketAreaSchema).default([]),
    /** A location outside this box is refused ("不在本区范围内"). */
    bounds: z.object({ south: lat, west: lng, north: lat, east: lng }).strict().optional(),
    mailboxes: z.array(mailboxSchema).default([]),
    /** Reports of one category this close, this soon after each other, are offered for merging. */
    duplicates: z.object({ meters: z.number().positive().max(5000).default(150), hours: z.number().positive().max(720).default(72) }).strict().prefault({}),
    /** Working days a department has to rectify after a poor rating (差评整改). */
    rectification_working_days: z.number().int().min(1).max(60).default(5),
    /** Photos per report and their size. */
    max_photos: z.number().int().min(0).max(9).default(4),
    max_photo_kb: z.number().int().min(50).max(10_240).default(4096),
    texts: z
      .object({
        /** The chat dialog's first words; {kinds} lists the kinds. */
        start: text(300).default('请说说您要反映的情况：发生了什么、在哪里。可以直接打字或发语音，也可以发照片和位置（点输入框旁的“+”）。说完后回复「好了」。'),
        confirm: text(300).default('请核对：\n{summary}\n回复「1」提交，回复「2」继续补充，回复「0」取消。'),
        filed: text(300).default('已收到您的{kind}，编号 {no}，查询码 {code}（家人帮您查进度时使用）。我们会在{due}前答复您，进展会发到这里。'),
        urgent_note: text(200).default('已按紧急情况转给负责人，请保持电话畅通；如有人身危险请立即拨打 110。'),
        cancelled: text(100).default('好的，已取消，没有提交。'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type TicketsSettings = z.infer<typeof ticketsSchema>;
export type TicketKind = z.infer<typeof ticketKindSchema>;
export type TicketCategory = z.infer<typeof ticketCategorySchema>;

type Report = (path: (string | number)[], message: string) => void;

/** Kinds, categories, areas and mailboxes refer to departments and to each other that exist. */
export function checkTicketReferences(t: TicketsSettings, departments: Set<string>, report: Report): void {
  const dep = (id: string, path: (string | number)[]) => {
    if (!departments.has(id)) report(path, `expected a department id (${[...departments].join(', ')}); got "${id}"`);
  };
  const unique = (list: { id: string }[], path: string) => {
    const seen = new Set<string>();
    list.forEach((x, i) => {
      if (seen.has(x.id)) report(['tickets', path, i, 'id'], `expected a unique id; "${x.id}" is used twice`);
      seen.add(x.id);
    });
    return seen;
  };
  const kinds = unique(t.kinds, 'kinds');
  unique(t.categories, 'categories');
  const areas = unique(t.areas, 'areas');
  unique(t.mailboxes, 'mailboxes');
  dep(t.dispatch_department, ['tickets', 'dispatch_department']);
  t.categories.forEach((c, i) => {
    dep(c.department, ['tickets', 'categories', i, 'department']);
    if (c.kind && !kinds.has(c.kind)) report(['tickets', 'categories', i, 'kind'], `expected a kind id (${[...kinds].join(', ')}); got "${c.kind}"`);
    for (const [area, d] of Object.entries(c.by_area)) {
      if (!areas.has(area)) report(['tickets', 'categories', i, 'by_area', area], `expected an area id (${[...areas].join(', ') || 'none defined'})`);
      dep(d, ['tickets', 'categories', i, 'by_area', area]);
    }
  });
  t.mailboxes.forEach((m, i) => dep(m.department, ['tickets', 'mailboxes', i, 'department']));
  if (t.bounds && (t.bounds.south >= t.bounds.north || t.bounds.west >= t.bounds.east)) report(['tickets', 'bounds'], 'expected south < north and west < east');
}
