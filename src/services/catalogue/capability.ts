import type { Capability, Core } from '../../capability.ts';
import type { Service } from '../../profile/catalogue.ts';
import { isValidAt } from '../../profile/validity.ts';
import { guideBody, guidesBody } from './pages.ts';
import { dayOf, recordPageView } from './views.ts';

/** The service catalogue (事项) as citizens read it: every guide, open to anyone, no sign-in. */
export function catalogueCapability(core: Core): Capability {
  const byId = new Map(core.profile.services.map((s) => [s.id, s]));
  const live = (s: Service | undefined): s is Service => !!s && isValidAt(s, core.clock.now());
  return {
    name: 'catalogue',
    pages(r, kit) {
      r.get('/h5/guides', async (ctx) => kit.render(ctx, '办事指南', guidesBody(core.profile.services.filter(live))));
      r.get('/h5/guide/:id', async (ctx) => {
        const s = byId.get(ctx.params.id ?? '');
        if (!live(s)) return kit.notFound(ctx, '这项服务');
        kit.render(ctx, s.name, guideBody(s), { back: '/h5/guides' });
        // Counted for the operations figures; a failed count never costs the citizen the page.
        await recordPageView(core.db, `service:${s.id}`, dayOf(core.calendar, core.clock.now())).catch((err: unknown) => core.log.warn({ err }, 'guide page view not counted'));
      });
    },
  };
}
