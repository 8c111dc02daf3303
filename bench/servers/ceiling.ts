// The ceiling: a bare Koa handler returning a fixed XML reply. Nothing can be faster on this stack.
import Koa from 'koa';

const xml =
  '<xml><ToUserName><![CDATA[o_bench]]></ToUserName><FromUserName><![CDATA[gh_bench]]></FromUserName><CreateTime>1795000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[您好]]></Content></xml>';
const app = new Koa();
app.use(async (ctx) => {
  ctx.type = 'application/xml';
  ctx.body = xml;
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
