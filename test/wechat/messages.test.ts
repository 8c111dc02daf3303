import { describe, expect, it } from 'vitest';
import { dedupKey, MAX_DEDUP_KEY, MessageError, spokenText, toMessage, type InboundMessage } from '../../src/wechat/messages.ts';
import { parseWeChatXml, XmlError } from '../../src/wechat/xml.ts';

const head = (type: string) =>
  `<ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[o_citizen]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[${type}]]></MsgType>`;
const msg = (type: string, body: string) => `<xml>${head(type)}${body}<MsgId>1234567890123456</MsgId></xml>`;
const ev = (event: string, body = '') => `<xml>${head('event')}<Event><![CDATA[${event}]]></Event>${body}</xml>`;

async function parse(xml: string): Promise<InboundMessage> {
  return toMessage(await parseWeChatXml(xml));
}

// Samples shaped as in WeChat's 接收普通消息 / 接收事件推送 documentation.
describe('inbound messages', () => {
  it('text', async () => {
    const m = await parse(msg('text', '<Content><![CDATA[this is a test]]></Content>'));
    expect(m).toMatchObject({ kind: 'text', content: 'this is a test', msgId: '1234567890123456', fromUser: 'o_citizen', toUser: 'gh_demo', createTime: 1348831860 });
  });

  it('text from a bizmsgmenu line', async () => {
    const m = await parse(msg('text', '<Content><![CDATA[满意]]></Content><bizmsgmenuid>101</bizmsgmenuid>'));
    expect(m).toMatchObject({ kind: 'text', content: '满意', bizmsgmenuid: '101' });
  });

  it('keeps surrounding spaces and CDATA content verbatim, including markup-like text', async () => {
    const m = await parse(msg('text', '<Content><![CDATA[  1 <b>&amp; ]]></Content>'));
    expect(m).toMatchObject({ content: '  1 <b>&amp; ' });
  });

  it('image', async () => {
    expect(await parse(msg('image', '<PicUrl><![CDATA[http://mmbiz/x.jpg]]></PicUrl><MediaId><![CDATA[media_id]]></MediaId>'))).toMatchObject({
      kind: 'image',
      picUrl: 'http://mmbiz/x.jpg',
      mediaId: 'media_id',
    });
  });

  it('voice with and without Recognition', async () => {
    const withRec = await parse(msg('voice', '<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[社保怎么交]]></Recognition>'));
    expect(withRec).toMatchObject({ kind: 'voice', format: 'amr', recognition: '社保怎么交' });
    expect(spokenText(withRec)).toBe('社保怎么交');
    const without = await parse(msg('voice', '<MediaId><![CDATA[m]]></MediaId><Format><![CDATA[amr]]></Format>'));
    expect(without).not.toHaveProperty('recognition');
    expect(spokenText(without)).toBeNull();
  });

  it('video and shortvideo', async () => {
    for (const t of ['video', 'shortvideo']) {
      expect(await parse(msg(t, '<MediaId><![CDATA[m]]></MediaId><ThumbMediaId><![CDATA[t]]></ThumbMediaId>'))).toMatchObject({ kind: t, mediaId: 'm', thumbMediaId: 't' });
    }
  });

  it('location: Location_X is latitude, Location_Y is longitude', async () => {
    const m = await parse(msg('location', '<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label>'));
    expect(m).toMatchObject({ kind: 'location', latitude: 23.134521, longitude: 113.358803, scale: 20, label: '位置信息' });
  });

  it('link', async () => {
    expect(await parse(msg('link', '<Title><![CDATA[公众平台官网链接]]></Title><Description><![CDATA[d]]></Description><Url><![CDATA[https://example.org]]></Url>'))).toMatchObject({
      kind: 'link',
      title: '公众平台官网链接',
      url: 'https://example.org',
    });
  });

  it('file', async () => {
    expect(
      await parse(msg('file', '<Title><![CDATA[材料.pdf]]></Title><Description><![CDATA[]]></Description><FileKey><![CDATA[k]]></FileKey><FileMd5><![CDATA[5]]></FileMd5><FileTotalLen>1024</FileTotalLen>')),
    ).toMatchObject({ kind: 'file', title: '材料.pdf', fileTotalLen: 1024 });
  });

  it('subscribe, plain and through a scene QR code', async () => {
    const plain = await parse(ev('subscribe', '<EventKey><![CDATA[]]></EventKey>'));
    expect(plain).toMatchObject({ kind: 'subscribe' });
    expect(plain).not.toHaveProperty('scene');
    expect(await parse(ev('subscribe', '<EventKey><![CDATA[qrscene_hall-1]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>'))).toMatchObject({
      kind: 'subscribe',
      scene: 'hall-1',
      ticket: 'TICKET',
    });
  });

  it('unsubscribe, SCAN, LOCATION, CLICK, VIEW', async () => {
    expect(await parse(ev('unsubscribe'))).toMatchObject({ kind: 'unsubscribe' });
    expect(await parse(ev('SCAN', '<EventKey><![CDATA[123123]]></EventKey><Ticket><![CDATA[T]]></Ticket>'))).toMatchObject({ kind: 'scan', scene: '123123', ticket: 'T' });
    expect(await parse(ev('LOCATION', '<Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>'))).toMatchObject({
      kind: 'location_report',
      latitude: 23.137466,
      longitude: 113.352425,
    });
    expect(await parse(ev('CLICK', '<EventKey><![CDATA[GUIDES]]></EventKey>'))).toMatchObject({ kind: 'click', key: 'GUIDES' });
    expect(await parse(ev('VIEW', '<EventKey><![CDATA[https://example.org/h5]]></EventKey><MenuId>1</MenuId>'))).toMatchObject({ kind: 'view', url: 'https://example.org/h5', menuId: '1' });
  });

  it('scancode_push and scancode_waitmsg', async () => {
    for (const e of ['scancode_push', 'scancode_waitmsg']) {
      const m = await parse(ev(e, '<EventKey><![CDATA[SCAN]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[1]]></ScanResult></ScanCodeInfo>'));
      expect(m).toMatchObject({ kind: e, key: 'SCAN', scanType: 'qrcode', scanResult: '1' });
    }
  });

  it('location_select', async () => {
    const m = await parse(
      ev('location_select', '<EventKey><![CDATA[NEARBY]]></EventKey><SendLocationInfo><Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]></Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[广州市海珠区]]></Label><Poiname><![CDATA[]]></Poiname></SendLocationInfo>'),
    );
    expect(m).toMatchObject({ kind: 'location_select', key: 'NEARBY', latitude: 23, longitude: 113, label: '广州市海珠区' });
  });

  it('pic_sysphoto, pic_photo_or_album and pic_weixin with one or several pictures', async () => {
    const one = '<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum></item></PicList></SendPicsInfo>';
    const two = '<SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum><![CDATA[a]]></PicMd5Sum></item><item><PicMd5Sum><![CDATA[b]]></PicMd5Sum></item></PicList></SendPicsInfo>';
    expect(await parse(ev('pic_sysphoto', `<EventKey><![CDATA[P]]></EventKey>${one}`))).toMatchObject({ kind: 'pic_sysphoto', count: 1, picMd5s: ['1b5f7c23b5bf75682a53e7b6d163e185'] });
    expect(await parse(ev('pic_photo_or_album', `<EventKey><![CDATA[P]]></EventKey>${two}`))).toMatchObject({ kind: 'pic_photo_or_album', count: 2, picMd5s: ['a', 'b'] });
    expect(await parse(ev('pic_weixin', `<EventKey><![CDATA[P]]></EventKey>${one}`))).toMatchObject({ kind: 'pic_weixin' });
  });

  it('TEMPLATESENDJOBFINISH', async () => {
    expect(await parse(ev('TEMPLATESENDJOBFINISH', '<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>'))).toMatchObject({
      kind: 'template_send_finish',
      msgId: '200163836',
      status: 'success',
    });
  });

  it('subscribe_msg_popup_event, _change_event and _sent_event', async () => {
    const popup = await parse(
      ev('subscribe_msg_popup_event', '<SubscribeMsgPopupEvent><List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List></SubscribeMsgPopupEvent>'),
    );
    expect(popup).toMatchObject({ kind: 'subscribe_msg_popup', items: [{ templateId: 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc', status: 'accept' }] });
    const change = await parse(
      ev('subscribe_msg_change_event', '<SubscribeMsgChangeEvent><List><TemplateId><![CDATA[T1]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List><List><TemplateId><![CDATA[T2]]></TemplateId><SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString></List></SubscribeMsgChangeEvent>'),
    );
    expect(change).toMatchObject({ kind: 'subscribe_msg_change', items: [{ templateId: 'T1' }, { templateId: 'T2' }] });
    const sent = await parse(
      ev('subscribe_msg_sent_event', '<SubscribeMsgSentEvent><List><TemplateId><![CDATA[T]]></TemplateId><MsgID><![CDATA[1700827132819554304]]></MsgID><ErrorCode><![CDATA[0]]></ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List></SubscribeMsgSentEvent>'),
    );
    expect(sent).toMatchObject({ kind: 'subscribe_msg_sent', items: [{ templateId: 'T', msgId: '1700827132819554304', errorCode: '0', status: 'success' }] });
  });

  it('unknown message types and events become `unknown`', async () => {
    expect(await parse(msg('miniprogrampage', '<Title>x</Title>'))).toMatchObject({ kind: 'unknown', msgType: 'miniprogrampage' });
    expect(await parse(ev('view_miniprogram', '<EventKey>x</EventKey>'))).toMatchObject({ kind: 'unknown', msgType: 'event', event: 'view_miniprogram' });
  });

  it('a message without its addressing fields is an error', async () => {
    await expect(parse('<xml><MsgType>text</MsgType></xml>')).rejects.toThrow(/ToUserName/);
    // Each one missing on its own, and a CreateTime that is empty or not a number.
    const whole = msg('text', '<Content>a</Content>');
    for (const broken of [
      whole.replace('<ToUserName><![CDATA[gh_demo]]></ToUserName>', ''),
      whole.replace('<FromUserName><![CDATA[o_citizen]]></FromUserName>', ''),
      whole.replace('<CreateTime>1348831860</CreateTime>', ''),
      whole.replace('<CreateTime>1348831860</CreateTime>', '<CreateTime></CreateTime>'),
      whole.replace('<CreateTime>1348831860</CreateTime>', '<CreateTime>soon</CreateTime>'),
      whole.replace('<MsgType><![CDATA[text]]></MsgType>', ''),
    ]) {
      await expect(parse(broken), broken).rejects.toThrow(MessageError);
    }
  });

  it('keeps exactly what was sent: optional parts absent when WeChat left them out', async () => {
    expect(await parse(msg('text', '<Content>a</Content>'))).toEqual({ kind: 'text', toUser: 'gh_demo', fromUser: 'o_citizen', createTime: 1348831860, msgId: '1234567890123456', content: 'a' });
    expect(await parse(msg('voice', '<MediaId>m</MediaId><Format>amr</Format>'))).toEqual({ kind: 'voice', toUser: 'gh_demo', fromUser: 'o_citizen', createTime: 1348831860, msgId: '1234567890123456', mediaId: 'm', format: 'amr' });
    const base = { toUser: 'gh_demo', fromUser: 'o_citizen', createTime: 1348831860 };
    expect(await parse(msg('link', '<Title>t</Title><Description>d</Description><Url>u</Url>'))).toEqual({ ...base, kind: 'link', msgId: '1234567890123456', title: 't', description: 'd', url: 'u' });
    expect(await parse(msg('file', '<Title>材料.pdf</Title><Description>d</Description><FileKey>k</FileKey><FileMd5>5</FileMd5><FileTotalLen>1024</FileTotalLen>'))).toEqual({
      ...base,
      kind: 'file',
      msgId: '1234567890123456',
      title: '材料.pdf',
      description: 'd',
      fileKey: 'k',
      fileMd5: '5',
      fileTotalLen: 1024,
    });
    expect(await parse(ev('subscribe', '<EventKey></EventKey>'))).toEqual({ ...base, kind: 'subscribe' });
    expect(await parse(ev('VIEW', '<EventKey>https://example.org/h5</EventKey>'))).toEqual({ ...base, kind: 'view', url: 'https://example.org/h5' });
    expect(await parse(ev('LOCATION', '<Latitude>23.1</Latitude><Longitude>113.3</Longitude><Precision>119.5</Precision>'))).toEqual({ ...base, kind: 'location_report', latitude: 23.1, longitude: 113.3, precision: 119.5 });
    expect(await parse(ev('location_select', '<EventKey>NEARBY</EventKey><SendLocationInfo><Location_X>23</Location_X><Location_Y>113</Location_Y><Scale>15</Scale><Label>广州市海珠区</Label><Poiname>海珠广场</Poiname></SendLocationInfo>'))).toEqual({
      ...base,
      kind: 'location_select',
      key: 'NEARBY',
      latitude: 23,
      longitude: 113,
      scale: 15,
      label: '广州市海珠区',
      poiname: '海珠广场',
    });
    expect(await parse(ev('subscribe_msg_popup_event', '<SubscribeMsgPopupEvent><List><TemplateId>T</TemplateId><SubscribeStatusString>accept</SubscribeStatusString></List></SubscribeMsgPopupEvent>'))).toEqual({
      ...base,
      kind: 'subscribe_msg_popup',
      items: [{ templateId: 'T', status: 'accept' }],
    });
    // An event with no list has no items (not one empty item).
    expect(await parse(ev('subscribe_msg_popup_event', '<SubscribeMsgPopupEvent><Other>x</Other></SubscribeMsgPopupEvent>'))).toMatchObject({ items: [] });
  });

  it('pictures without a checksum are left out of the list', async () => {
    const info = '<SendPicsInfo><Count>3</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item><item></item><item>b</item></PicList></SendPicsInfo>';
    expect(await parse(ev('pic_weixin', `<EventKey>P</EventKey>${info}`))).toMatchObject({ kind: 'pic_weixin', count: 3, picMd5s: ['a'] });
  });

  it('a template job report spelled MsgId (not MsgID) still names its message', async () => {
    expect(await parse(ev('TEMPLATESENDJOBFINISH', '<MsgId>200163836</MsgId><Status>success</Status>'))).toMatchObject({ kind: 'template_send_finish', msgId: '200163836' });
  });

  it('refuses an openid, original id, MsgId, scene or menu key longer than its column, naming the field', async () => {
    const long = (n: number) => 'x'.repeat(n);
    const text = (from: string, to = 'gh_demo', msgId = '1234567890123456') =>
      `<xml><ToUserName>${to}</ToUserName><FromUserName>${from}</FromUserName><CreateTime>1348831860</CreateTime><MsgType>text</MsgType><Content>a</Content><MsgId>${msgId}</MsgId></xml>`;
    await expect(parse(text(long(64)))).resolves.toMatchObject({ fromUser: long(64) });
    await expect(parse(text(long(65)))).rejects.toThrow(/^FromUserName longer than 64 characters$/);
    await expect(parse(text('o', long(64)))).resolves.toMatchObject({ toUser: long(64) });
    await expect(parse(text('o', long(65)))).rejects.toThrow(/^ToUserName longer than 64 characters$/);
    await expect(parse(text('o', 'gh', '1'.repeat(32)))).resolves.toMatchObject({ msgId: '1'.repeat(32) });
    await expect(parse(text('o', 'gh', '1'.repeat(33)))).rejects.toThrow(/^MsgId longer than 32 characters$/);
    // A QR scene: 64 characters after the qrscene_ prefix, on following and on scanning.
    await expect(parse(ev('subscribe', `<EventKey>qrscene_${long(64)}</EventKey>`))).resolves.toMatchObject({ kind: 'subscribe', scene: long(64) });
    await expect(parse(ev('subscribe', `<EventKey>qrscene_${long(65)}</EventKey>`))).rejects.toThrow(/^EventKey longer than 64 characters$/);
    await expect(parse(ev('SCAN', `<EventKey>${long(64)}</EventKey>`))).resolves.toMatchObject({ kind: 'scan', scene: long(64) });
    await expect(parse(ev('SCAN', `<EventKey>${long(65)}</EventKey>`))).rejects.toThrow(/^EventKey longer than 64 characters$/);
    await expect(parse(ev('scan', `<EventKey>${long(65)}</EventKey>`))).rejects.toThrow(/^EventKey longer than 64 characters$/);
    // A menu key: 128.
    await expect(parse(ev('CLICK', `<EventKey>${long(128)}</EventKey>`))).resolves.toMatchObject({ kind: 'click', key: long(128) });
    await expect(parse(ev('CLICK', `<EventKey>${long(129)}</EventKey>`))).rejects.toThrow(/^EventKey longer than 128 characters$/);
    // A VIEW's key is the page's URL: not a key, not bounded here.
    const url = `https://example.org/h5?q=${long(1000)}`;
    await expect(parse(ev('VIEW', `<EventKey>${url}</EventKey>`))).resolves.toMatchObject({ kind: 'view', url });
    // An event's own MsgID.
    await expect(parse(ev('TEMPLATESENDJOBFINISH', `<MsgID>${'2'.repeat(33)}</MsgID>`))).rejects.toThrow(/^MsgID longer than 32 characters$/);
  });

  it('the text a citizen meant: typed, or recognised from speech; nothing for anything else', async () => {
    expect(spokenText(await parse(msg('text', '<Content>社保</Content>')))).toBe('社保');
    expect(spokenText(await parse(msg('image', '<PicUrl>p</PicUrl><MediaId>m</MediaId>')))).toBeNull();
    expect(spokenText(await parse(ev('CLICK', '<EventKey>GUIDES</EventKey>')))).toBeNull();
  });
});

describe('de-duplication keys', () => {
  const key = (xml: string) => {
    const raw = parseWeChatXml(xml);
    return dedupKey(toMessage(raw), raw);
  };
  const from = (xml: string, openid: string) => xml.replace('o_citizen', openid);
  const at = (xml: string, seconds: number) => xml.replace('1348831860', String(seconds));

  it('messages: MsgId with FromUserName (same MsgId from two citizens are two messages); a retry is the same', () => {
    const a = msg('text', '<Content>a</Content>');
    expect(key(a)).toBe('m:1234567890123456:o_citizen');
    expect(key(from(a, 'o_other'))).toBe('m:1234567890123456:o_other');
    expect(key(a.replace('1234567890123456', '1234567890123457'))).toBe('m:1234567890123457:o_citizen');
    // A retry of the same message, re-parsed, has the same key — whatever else it carries.
    expect(key(msg('text', '<Content>a</Content>'))).toBe(key(a));
  });

  it('events: FromUserName + CreateTime + Event + EventKey', () => {
    const click = ev('CLICK', '<EventKey>A</EventKey>');
    expect(key(click)).toBe('e:1348831860:o_citizen:CLICK:A');
    // Two citizens tapping the same menu in the same second: two taps (the second must not get the first's stored reply).
    expect(key(from(click, 'o_other'))).toBe('e:1348831860:o_other:CLICK:A');
    // Two taps of one citizen in one second on different items differ; the same tap a second later differs.
    expect(key(ev('CLICK', '<EventKey>B</EventKey>'))).toBe('e:1348831860:o_citizen:CLICK:B');
    expect(key(at(click, 1348831861))).toBe('e:1348831861:o_citizen:CLICK:A');
    expect(key(ev('VIEW', '<EventKey>A</EventKey>'))).toBe('e:1348831860:o_citizen:VIEW:A');
    // A retry of the same event has the same key.
    expect(key(ev('CLICK', '<EventKey>A</EventKey>'))).toBe(key(click));
  });

  it('a VIEW event with a long URL: kept to its head and a digest, bounded, still distinct per URL', () => {
    const view = (url: string) => ev('VIEW', `<EventKey>${url}</EventKey>`);
    const head = 'e:1348831860:o_citizen:VIEW:';
    // Up to the limit the key is written out whole.
    const exact = 'https://x/' + 'a'.repeat(MAX_DEDUP_KEY - head.length - 'https://x/'.length);
    expect(key(view(exact))).toBe(head + exact);
    expect(key(view(exact))).toHaveLength(MAX_DEDUP_KEY);
    const longer = key(view(exact + 'b'));
    expect(longer.length).toBeLessThanOrEqual(MAX_DEDUP_KEY);
    expect(longer.startsWith((head + exact).slice(0, MAX_DEDUP_KEY - 45))).toBe(true);
    expect(longer).toMatch(/#[A-Za-z0-9_-]{43}$/);
    const a = key(view(`https://example.org/h5?q=${'x'.repeat(900)}/page/1`));
    const b = key(view(`https://example.org/h5?q=${'x'.repeat(900)}/page/2`));
    expect(a.length).toBeLessThanOrEqual(MAX_DEDUP_KEY);
    expect(b).not.toBe(a);
    expect(key(view(`https://example.org/h5?q=${'x'.repeat(900)}/page/1`))).toBe(a);
  });

  it('a message without a MsgId is keyed like an event, by its type', () => {
    const noId = (type: string) =>
      `<xml><ToUserName>gh_demo</ToUserName><FromUserName>o_citizen</FromUserName><CreateTime>1348831860</CreateTime><MsgType>${type}</MsgType></xml>`;
    expect(key(noId('miniprogrampage'))).toBe('e:1348831860:o_citizen:miniprogrampage:');
    expect(key(noId('hologram'))).not.toBe(key(noId('miniprogrampage')));
  });

  it('events without a key, and platform events carrying their own MsgID', () => {
    expect(key(ev('subscribe'))).toBe('e:1348831860:o_citizen:subscribe:');
    expect(key(ev('TEMPLATESENDJOBFINISH', '<MsgID>200163836</MsgID><Status>success</Status>'))).toBe('e:1348831860:o_citizen:TEMPLATESENDJOBFINISH::200163836');
    expect(key(ev('TEMPLATESENDJOBFINISH', '<MsgID>200163837</MsgID><Status>success</Status>'))).toBe('e:1348831860:o_citizen:TEMPLATESENDJOBFINISH::200163837');
  });
});

describe('safe XML parsing', () => {
  it('refuses DOCTYPE and entity declarations (XXE, billion laughs)', async () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>';
    expect(() => parseWeChatXml(xxe)).toThrow(XmlError);
    const lol = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><xml><a>&lol2;</a></xml>';
    expect(() => parseWeChatXml(lol)).toThrow(/DOCTYPE/);
  });

  it('refuses a DOCTYPE for what it is, in any case and wherever the prologue puts it, even one declaring nothing', async () => {
    const refusal = /^DOCTYPE and entity declarations are not accepted$/;
    for (const doc of [
      '<!DOCTYPE xml><xml><Content>a</Content></xml>',
      '<?xml version="1.0"?>\n<!doctype xml>\n<xml><Content>a</Content></xml>',
      '\uFEFF<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml></xml>',
      '<!ENTITY x "y"><xml></xml>',
    ]) {
      expect(() => parseWeChatXml(doc), doc).toThrow(refusal);
    }
    expect(() => parseWeChatXml('<?pi x?><xml></xml>')).toThrow(/^expected an <xml> document$/);
    expect(() => parseWeChatXml('<!-- c --><xml></xml>')).toThrow(/^expected an <xml> document$/);
  });

  it('refuses undeclared entities and malformed documents', async () => {
    expect(() => parseWeChatXml('<xml><Content>&foo;</Content></xml>')).toThrow(XmlError);
    expect(() => parseWeChatXml('<xml><Content>unclosed</xml>')).toThrow(XmlError);
    expect(() => parseWeChatXml('not xml at all')).toThrow(XmlError);
    expect(() => parseWeChatXml('')).toThrow(XmlError);
    expect(() => parseWeChatXml('<other></other>')).toThrow(XmlError);
  });

  it('accepts an XML declaration, a BOM and the predefined entities', async () => {
    const doc = await parseWeChatXml('\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<xml><Content>a &amp; b</Content></xml>');
    expect(doc.Content).toBe('a & b');
  });
});
