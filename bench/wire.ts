import { WeChatCrypto } from '../src/wechat/crypto.ts';
import { sha1Signature } from '../src/wechat/signature.ts';

export const BENCH = {
  appid: 'wxbe0c000000000001',
  token: 'benchToken',
  aesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  replyText: '您好，这里是示范区政务服务。',
  /**
   * What the citizen says: a keyword rule of the demo answers it with one short line, as the peer
   * answers everything with one fixed line, so both send replies of about the same size.
   */
  message: '谢谢',
};

const crypto = new WeChatCrypto(BENCH.token, BENCH.aesKey, BENCH.appid);
let seq = 0;

/** A fresh, correctly signed callback request (unique MsgId, current timestamp), as WeChat sends it. */
export function callbackRequest(mode: 'plain' | 'safe'): { path: string; body: string } {
  const n = ++seq;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = String(100000 + (n % 900000));
  const openid = `o_bench_${n % 5000}`;
  const xml = `<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[${openid}]]></FromUserName><CreateTime>${timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[${BENCH.message}]]></Content><MsgId>${7000000000000000 + n}</MsgId></xml>`;
  const q = new URLSearchParams({ signature: sha1Signature(BENCH.token, timestamp, nonce), timestamp, nonce });
  if (mode === 'plain') return { path: `/wechat?${q}`, body: xml };
  const enc = crypto.encrypt(xml);
  q.set('encrypt_type', 'aes');
  q.set('msg_signature', crypto.sign(timestamp, nonce, enc));
  q.set('openid', openid);
  return { path: `/wechat?${q}`, body: `<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[${enc}]]></Encrypt></xml>` };
}
