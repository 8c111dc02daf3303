// The peer: co-wechat 2.4.0 on Koa, answering every message with the same fixed text.
import { createRequire } from 'node:module';
import Koa from 'koa';
import { BENCH } from '../wire.ts';

const require = createRequire(import.meta.url);
const wechat = require('co-wechat');
const safe = process.env.MODE === 'safe';
const app = new Koa();
app.use(
  wechat({ token: BENCH.token, appid: BENCH.appid, ...(safe ? { encodingAESKey: BENCH.aesKey } : {}) }).middleware(async () => BENCH.replyText),
);
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
