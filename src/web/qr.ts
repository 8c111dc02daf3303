import qrcode from 'qrcode-generator';
import { raw, type SafeHtml } from './html.ts';

/** A QR code's content drawn as an SVG in the page (our pages load no image from elsewhere). */
export function qrSvg(content: string, label: string): SafeHtml {
  const q = qrcode(0, 'M');
  q.addData(content);
  q.make();
  const n = q.getModuleCount();
  let path = '';
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (q.isDark(y, x)) path += `M${x + 4} ${y + 4}h1v1h-1z`;
  const size = n + 8;
  const safeLabel = label.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return raw(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" role="img" aria-label="${safeLabel}" shape-rendering="crispEdges"><rect width="${size}" height="${size}" fill="#fff"/><path d="${path}" fill="#000"/></svg>`);
}
