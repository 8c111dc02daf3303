import { Parser } from 'xml2js';
import { describe, expect, it } from 'vitest';
import { parseWeChatXml, XmlError } from '../../src/wechat/xml.ts';

/** xml2js, the design card's parser, as the oracle our parser must agree with. */
async function oracle(xml: string): Promise<unknown> {
  return new Parser({ explicitArray: false, explicitRoot: false, trim: false, normalize: false, strict: true, async: false, emptyTag: '' }).parseStringPromise(xml);
}

async function agree(xml: string): Promise<void> {
  let expected: unknown;
  let oracleFailed = false;
  try {
    expected = await oracle(xml);
  } catch {
    oracleFailed = true;
  }
  if (oracleFailed) {
    expect(() => parseWeChatXml(xml), xml).toThrow(XmlError);
    return;
  }
  if (!expected || typeof expected !== 'object') {
    expect(() => parseWeChatXml(xml), xml).toThrow(XmlError); // empty root
    return;
  }
  expect(parseWeChatXml(xml), xml).toEqual(JSON.parse(JSON.stringify(expected)));
}

const CORPUS = [
  '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_1]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>1234567890123456</MsgId></xml>',
  '<xml>\n  <ToUserName><![CDATA[gh_1]]></ToUserName>\n  <Encrypt><![CDATA[abc+/=]]></Encrypt>\n</xml>',
  '<xml><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum><![CDATA[a]]></PicMd5Sum></item><item><PicMd5Sum><![CDATA[b]]></PicMd5Sum></item></PicList></SendPicsInfo></xml>',
  '<xml><a>  </a><b></b><c/><d> x </d></xml>',
  '<xml><n><m>1</m> text </n></xml>',
  '<xml><a x="1" y=\'2\'>v</a></xml>',
  '<xml><a><![CDATA[x]]><![CDATA[y]]></a></xml>',
  '<xml><a>]]]]><![CDATA[></a></xml>',
  '<xml><a><![CDATA[a]]]]><![CDATA[>b]]></a></xml>',
  '<xml><a>&#20013;&#x6587;&lt;&gt;&amp;&quot;&apos;</a></xml>',
  '<xml><a>a<![CDATA[b]]>c</a></xml>',
  '<xml><a>\r\n</a></xml>',
  '<xml><a><!-- c -->v</a></xml>',
  '<?xml version="1.0" encoding="utf-8"?><xml><a>1</a></xml>',
  '<xml><a><b><c><d>deep</d></c></b></a></xml>',
  '<xml><a>1</a><b>2</b><a>3</a></xml>',
  '<xml><a/><a/></xml>',
  '<xml><a x="&amp;"/></xml>',
  '<xml><a x = "1"\ty="2"\r\nz="3"\n>v</a\n></xml>',
  '<xml><a>1</a ></xml>',
  '<xml><a>&#X41;&#x42;&#x10FFFF;</a></xml>',
  '<xml><a>1</a></xml>\n',
  '<xml><a>1</a></xml>\n<!-- sent by the platform -->\n',
  '<xml></xml>',
  '<xml/>',
  '<xml>only text</xml>',
  // malformed: both must refuse
  '<xml><a>1</b></xml>',
  '<xml><a>1</a>',
  '<xml><a>& b</a></xml>',
  '<xml><a><![CDATA[never closed</a></xml>',
  '<xml></xml><xml></xml>',
  '<xml><a x=1>v</a></xml>',
  '<xml><a x=1y1>v</a></xml>',
  '<xml><a b></xml>',
  '<xml><a x="1"y="2">v</a></xml>',
  '<xml><a>1</a x></xml>',
  '<xml><1a>v</1a></xml>',
  '<xml><a><!--->v</a></xml>',
];

/** Where we are deliberately stricter than xml2js (it accepts these; a WeChat document never has them). */
const STRICTER = [
  '<xml><a>&nbsp;</a></xml>', // sax knows HTML entities; we know only XML's five and numeric references
  '<xml><a>1</a></xml>trailing', // text after the root element
  '<xml><a x="<">v</a></xml>', // a raw < in an attribute value is not well-formed XML
  '<xml><a>1</a></xml><!-- never closed', // an unterminated comment after the root
];

describe('the WeChat XML parser agrees with xml2js', () => {
  for (const doc of CORPUS) {
    it(doc.slice(0, 70), async () => agree(doc));
  }

  for (const doc of STRICTER) {
    it(`refuses, more strictly than xml2js: ${doc}`, async () => {
      await expect(oracle(doc)).resolves.toBeTruthy();
      expect(() => parseWeChatXml(doc)).toThrow(XmlError);
    });
  }

  it('on 2,000 generated documents with nesting, repetition, CDATA splits, entities and whitespace', async () => {
    let seed = 20261124;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const names = ['A', 'b', 'Content', 'item', 'x_1', 'Event'];
    const texts = ['', ' ', 'hi', '你好，世界', ' a b ', '\n', '1 < 2', 'x]]>y', 'tab\tend', '&', '"q"', "'s'"];
    const escape = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const textNode = (t: string): string => {
      switch (rand(4)) {
        case 0:
          return escape(t);
        case 1:
          return `<![CDATA[${t.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
        case 2:
          return [...t].map((ch) => (rand(3) === 0 ? `&#${ch.codePointAt(0)};` : escape(ch))).join('');
        default:
          return escape(t.slice(0, 2)) + `<![CDATA[${t.slice(2).replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
      }
    };
    const element = (depth: number): string => {
      const name = names[rand(names.length)]!;
      if (depth > 3 || rand(3) === 0) return rand(5) === 0 ? `<${name}/>` : `<${name}>${textNode(texts[rand(texts.length)]!)}</${name}>`;
      const kids = Array.from({ length: 1 + rand(4) }, () => element(depth + 1));
      const ws = ['', '\n  ', ' '][rand(3)]!;
      return `<${name}>${ws}${kids.join(ws)}${ws}</${name}>`;
    };
    for (let i = 0; i < 2000; i++) {
      const kids = Array.from({ length: 1 + rand(5) }, () => element(1));
      await agree(`<xml>${kids.join(rand(2) ? '\n' : '')}</xml>`);
    }
  });
});

describe('safety limits', () => {
  it('refuses absurd nesting instead of recursing without bound', () => {
    const deep = '<xml>' + '<a>'.repeat(100) + 'x' + '</a>'.repeat(100) + '</xml>';
    expect(() => parseWeChatXml(deep)).toThrow(/too deep/);
    // Sixteen levels below the root are taken, seventeen are not.
    const nested = (n: number) => '<xml>' + '<a>'.repeat(n) + 'x' + '</a>'.repeat(n) + '</xml>';
    let expected: unknown = 'x';
    for (let i = 0; i < 16; i++) expected = { a: expected };
    expect(parseWeChatXml(nested(16))).toEqual(expected);
    expect(() => parseWeChatXml(nested(17))).toThrow(/too deep/);
  });
  it('refuses processing instructions and declarations inside the document', () => {
    expect(() => parseWeChatXml('<xml><?php x ?></xml>')).toThrow(/processing instructions are not accepted/);
    expect(() => parseWeChatXml('<xml><!ENTITY e "x"></xml>')).toThrow(/declarations are not accepted inside the document/);
  });
  it('says what is wrong with a refused document (the reason goes into the log and the 400 answer)', () => {
    for (const [doc, why] of [
      ['<xml><a>1</a>', /unclosed element <xml>/],
      ['<xml><a>1</b></xml>', /<\/b> closes <a>/],
      ['<xml><a><![CDATA[never closed</a></xml>', /unterminated CDATA section/],
      ['<xml><a x="1>v</a></xml>', /unterminated attribute value/],
      ['<xml><a x=1>v</a></xml>', /expected a quoted attribute value/],
      ['<xml><a x="<">v</a></xml>', /< in an attribute value/],
      ['<xml><a>& b</a></xml>', /an & that does not start a character reference/],
      ['<xml><a>&foo;</a></xml>', /undeclared entity &foo;/],
      ['<xml><a>&#0;</a></xml>', /invalid character reference &#0;/],
      ['<xml><a>&#1114112;</a></xml>', /invalid character reference &#1114112;/],
      ['<xml><a>&#x110000;</a></xml>', /invalid character reference/],
      ['<xml><a>&#12a;</a></xml>', /invalid character reference &#12a;/],
      ['<xml><a>&#x;</a></xml>', /invalid character reference/],
      ['<xml></xml>', /^empty <xml> document$/],
      ['<xml>only text</xml>', /^empty <xml> document$/],
      ['<xml><a>1</a></xml>trailing', /content after the root element/],
    ] as const) {
      expect(() => parseWeChatXml(doc), doc).toThrow(why);
    }
  });
  it('takes whitespace and a BOM around the declaration, and only a root named xml', () => {
    expect(parseWeChatXml('\uFEFF \n<?xml version="1.0"?>\n<xml><a>1</a></xml>')).toEqual({ a: '1' });
    expect(parseWeChatXml('<xml\n><a>1</a></xml>')).toEqual({ a: '1' });
    expect(() => parseWeChatXml('<xmlfoo><a>1</a></xmlfoo>')).toThrow(/^expected an <xml> document$/);
  });
});
