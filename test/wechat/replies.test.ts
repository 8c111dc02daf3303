import { describe, expect, it } from 'vitest';
import { describeReply, renderReply, type Reply } from '../../src/wechat/replies.ts';
import { parseWeChatXml, text, child } from '../../src/wechat/xml.ts';

const env = { to: 'o_citizen', from: 'gh_demo', createTime: 1795500000 };

describe('passive replies', () => {
  it('text is sent from the account to the citizen with CreateTime in seconds', async () => {
    const doc = await parseWeChatXml(renderReply({ type: 'text', content: '您好' }, env));
    expect(doc).toMatchObject({ ToUserName: 'o_citizen', FromUserName: 'gh_demo', CreateTime: '1795500000', MsgType: 'text', Content: '您好' });
  });

  it('escapes ]]> inside CDATA so content cannot break out of the document', async () => {
    const evil = 'a]]></Content><MsgType>news</MsgType><Content><![CDATA[b';
    const xml = renderReply({ type: 'text', content: evil }, env);
    const doc = await parseWeChatXml(xml);
    expect(doc.Content).toBe(evil);
    expect(doc.MsgType).toBe('text');
  });

  it('renders every reply type in WeChat shape', async () => {
    const cases: [Reply, (d: Record<string, any>) => void][] = [
      [{ type: 'image', mediaId: 'M1' }, (d) => expect(d.Image.MediaId).toBe('M1')],
      [{ type: 'voice', mediaId: 'M2' }, (d) => expect(d.Voice.MediaId).toBe('M2')],
      [{ type: 'video', mediaId: 'M3', title: 'T', description: 'D' }, (d) => expect(d.Video).toMatchObject({ MediaId: 'M3', Title: 'T', Description: 'D' })],
      [{ type: 'music', title: 'T', musicUrl: 'http://m', hqMusicUrl: 'http://h', thumbMediaId: 'TH' }, (d) => expect(d.Music).toMatchObject({ Title: 'T', MusicUrl: 'http://m', HQMusicUrl: 'http://h', ThumbMediaId: 'TH' })],
      [
        { type: 'news', article: { title: '办事指南', description: '材料清单', url: 'https://x/h5/guide', picUrl: 'https://x/p.png' } },
        (d) => {
          expect(d.ArticleCount).toBe('1');
          expect(d.Articles.item).toMatchObject({ Title: '办事指南', Url: 'https://x/h5/guide', PicUrl: 'https://x/p.png' });
        },
      ],
      [{ type: 'transfer_customer_service' }, (d) => expect(d.MsgType).toBe('transfer_customer_service')],
      [{ type: 'transfer_customer_service', kfAccount: 'kf1@gh' }, (d) => expect(d.TransInfo.KfAccount).toBe('kf1@gh')],
    ];
    for (const [reply, check] of cases) {
      const doc = await parseWeChatXml(renderReply(reply, env));
      expect(text(doc, 'MsgType')).toBe(reply.type);
      expect(child(doc, 'x')).toEqual({});
      check(doc);
    }
  });

  it('describes replies for the conversation log', () => {
    expect(describeReply({ type: 'text', content: 'hi' })).toBe('hi');
    expect(describeReply({ type: 'news', article: { title: 'T', url: 'u' } })).toBe('[图文] T');
  });
});
