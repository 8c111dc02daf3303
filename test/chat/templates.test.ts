import { describe, expect, it } from 'vitest';
import { fillTemplate, fitValue } from '../../src/chat/templates.ts';

describe('template values fitted to WeChat limits', () => {
  it('fills placeholders and keeps each field within its type\'s limit', () => {
    const msg = fillTemplate(
      { id: 'T1', title: '进度通知', fields: { thing1: '{item}', character_string2: '{no}', phrase3: '{step}', time4: '{time}' }, labels: {} },
      { item: '居住证办理（首次申领，需本人到现场采集照片）', no: 'WB20261124-0007 办件', step: '已经受理了', time: '2026-11-24 10:00' },
      'https://example.org/h5/cases/1',
    );
    expect(msg).toEqual({
      templateId: 'T1',
      url: 'https://example.org/h5/cases/1',
      data: { thing1: '居住证办理（首次申领，需本人到现场采集…', character_string2: 'WB20261124-0007 ', phrase3: '已经受理了', time4: '2026-11-24 10:00' },
    });
    expect([...msg.data.thing1!].length).toBe(20);
  });

  it('never sends an empty value', () => {
    expect(fitValue('thing1', '   ')).toBe('—');
    expect(fitValue('character_string1', '中文')).toBe('-');
    expect(fitValue('phrase1', 'ok')).toBe('通知');
  });
});
