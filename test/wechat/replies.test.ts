import { describe, expect, it } from 'vitest';
import { describeReply, renderReply, type Reply } from '../../src/wechat/replies.ts';
import { parseWeChatXml, text, child } from '../../src/wechat/xml.ts';

const env = { to: 'o_citizen', from: 'gh_demo', createTime: 1795500000 };

describe('passive replies', () => {
  it('text is sent from the account to the citizen with CreateTime in seconds', async () => {
    const doc = await parseWeChatXml(renderReply({ type: 'text', content: '您好' }, env));
    expect(doc).toMatchObject({ ToUserName: 'o_citizen', FromUserName: 'gh_demo', CreateTime: '1795500000', MsgType: 'text', Content: '您好' });
    // A fractional time is cut to whole seconds, never rounded up or written as a decimal.
    expect((await parseWeChatXml(renderReply({ type: 'text', content: 'x' }, { ...env, createTime: 1795500000.9 }))).CreateTime).toBe('1795500000');
  });

  it('escapes every ]]> inside CDATA, in every field, so content cannot break out of the document', async () => {
    const evil = 'a]]></Content><MsgType>news</MsgType><Content><![CDATA[b';
    const xml = renderReply({ type: 'text', content: evil }, env);
    const doc = await parseWeChatXml(xml);
    expect(doc.Content).toBe(evil);
    expect(doc.MsgType).toBe('text');
    // Not only the first one: a second and a third, back to back and at the very end.
    const many = 'x]]>y]]>]]>z]]>';
    expect((await parseWeChatXml(renderReply({ type: 'text', content: many }, env))).Content).toBe(many);
    const news = await parseWeChatXml(renderReply({ type: 'news', article: { title: many, description: many, url: `https://x/?a=${many}`, picUrl: many } }, { ...env, to: `o]]>x]]>` }));
    expect(child(child(news, 'Articles'), 'item')).toMatchObject({ Title: many, Description: many, Url: `https://x/?a=${many}`, PicUrl: many });
    expect(news.ToUserName).toBe('o]]>x]]>');
    expect(news.MsgType).toBe('news');
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
      // Every reply goes to the citizen, from the account, stamped in seconds.
      expect(doc).toMatchObject({ ToUserName: 'o_citizen', FromUserName: 'gh_demo', CreateTime: '1795500000' });
      check(doc);
    }
    // Optional parts are there, empty, when not given (WeChat expects the elements).
    const bare = await parseWeChatXml(renderReply({ type: 'music', thumbMediaId: 'TH' }, env));
    expect(bare.Music).toEqual({ Title: '', Description: '', MusicUrl: '', HQMusicUrl: '', ThumbMediaId: 'TH' });
    // Without an account the conversation goes to any free agent: no TransInfo, nothing else.
    expect(await parseWeChatXml(renderReply({ type: 'transfer_customer_service' }, env))).toEqual({ ToUserName: 'o_citizen', FromUserName: 'gh_demo', CreateTime: '1795500000', MsgType: 'transfer_customer_service' });
    const video = await parseWeChatXml(renderReply({ type: 'video', mediaId: 'M' }, env));
    expect(video.Video).toEqual({ MediaId: 'M', Title: '', Description: '' });
    const news = await parseWeChatXml(renderReply({ type: 'news', article: { title: 'T', url: 'u' } }, env));
    expect(child(child(news, 'Articles'), 'item')).toEqual({ Title: 'T', Description: '', PicUrl: '', Url: 'u' });
  });

  it('describes replies for the conversation log', () => {
    expect(describeReply({ type: 'text', content: 'hi' })).toBe('hi');
    expect(describeReply({ type: 'news', article: { title: 'T', url: 'u' } })).toBe('[图文] T');
    expect(describeReply({ type: 'image', mediaId: 'm' })).toBe('[图片]');
    expect(describeReply({ type: 'voice', mediaId: 'm' })).toBe('[语音]');
    expect(describeReply({ type: 'video', mediaId: 'm', title: '办事指南' })).toBe('[视频] 办事指南');
    expect(describeReply({ type: 'video', mediaId: 'm' })).toBe('[视频]');
    expect(describeReply({ type: 'music', thumbMediaId: 't', title: '歌' })).toBe('[音乐] 歌');
    expect(describeReply({ type: 'music', thumbMediaId: 't' })).toBe('[音乐]');
    expect(describeReply({ type: 'transfer_customer_service' })).toBe('[转客服]');
  });
});
