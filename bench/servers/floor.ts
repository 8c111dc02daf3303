// The protocol floor: bare Koa plus weiban's own protocol code — both signature checks, strict
// body read, decrypt, parse, render and encrypt — answering every message with a fixed text and
// storing nothing. What any server speaking WeChat's safe mode must at least do, on this stack.
import Koa from 'koa';
import { isUtf8 } from 'node:buffer';
import getRawBody from 'raw-body';
import { randomChunk, WeChatCrypto } from '../../src/wechat/crypto.ts';
import { toMessage } from '../../src/wechat/messages.ts';
import { renderReply } from '../../src/wechat/replies.ts';
import { verifyMessageSignature, verifyPlainSignature } from '../../src/wechat/signature.ts';
import { parseWeChatXml, text } from '../../src/wechat/xml.ts';
import { BENCH } from '../wire.ts';

const crypto = new WeChatCrypto(BENCH.token, BENCH.aesKey, BENCH.appid);
const app = new Koa();
app.use(async (ctx) => {
  const q = ctx.query as Record<string, string>;
  if (!verifyPlainSignature(BENCH.token, q)) return void (ctx.status = 403);
  const raw = await getRawBody(ctx.req, { limit: 1024 * 1024 });
  if (!isUtf8(raw)) return void (ctx.status = 400);
  const encrypt = text(parseWeChatXml(raw.toString('utf8')), 'Encrypt');
  if (!verifyMessageSignature(BENCH.token, q, encrypt)) return void (ctx.status = 403);
  const m = toMessage(parseWeChatXml(crypto.decrypt(encrypt)));
  const createTime = Math.floor(Date.now() / 1000);
  const xml = renderReply({ type: 'text', content: BENCH.replyText }, { to: m.fromUser, from: m.toUser, createTime });
  ctx.type = 'application/xml';
  ctx.body = crypto.wrapReply(xml, String(createTime), randomChunk(8).toString('hex'));
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
