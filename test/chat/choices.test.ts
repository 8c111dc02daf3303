import { describe, expect, it } from 'vitest';
import { labelChoice } from '../../src/chat/engine.ts';
import { listedLabels, numberedList } from '../../src/chat/format.ts';
import { asChoice } from '../../src/chat/text.ts';

describe('what counts as a choice', () => {
  it('digits, full-width digits, 0 / 00 and the numbers speech recognition writes in characters', () => {
    expect(asChoice('２')).toEqual({ kind: 'number', n: 2 });
    expect(asChoice('二。')).toEqual({ kind: 'number', n: 2 });
    expect(asChoice('第三个')).toEqual({ kind: 'number', n: 3 });
    expect(asChoice('十二')).toEqual({ kind: 'number', n: 12 });
    expect(asChoice('十')).toEqual({ kind: 'number', n: 10 });
    expect(asChoice('00')).toEqual({ kind: 'home' });
    expect(asChoice('0')).toEqual({ kind: 'back' });
    for (const no of ['第', '二十', '一二', '三楼', '100']) expect(asChoice(no)).toBeNull();
  });

  it('reads back the labels a numbered list wrote, tappable or not', () => {
    const labels = ['确认预约', '换个时间'];
    for (const tappable of [true, false]) expect(listedLabels(numberedList('请确认：', labels, { tappable, back: true }))).toEqual(labels);
  });

  it('the words of a line: whole, part of one line, or naming one; several lines are ambiguous', () => {
    const times = ['9:00–9:30（剩 2 个）', '9:30–10:00（剩 2 个）', '10:00–10:30（剩 1 个）'];
    expect(labelChoice('确认预约', ['确认预约', '换个时间'])).toBe(1);
    expect(labelChoice('换时间', ['确认预约', '换个时间'])).toBeNull(); // not a part of the words
    expect(labelChoice('取消', ['取消这次预约', '改约到其他时间'])).toBe(1);
    expect(labelChoice('10:00', times)).toBe(3); // the line that starts with it
    expect(labelChoice('9:30', times)).toBe(2);
    expect(labelChoice('剩 2 个', times)).toBe('ambiguous');
    expect(labelChoice('我要改约到其他时间吧', ['取消这次预约', '改约到其他时间'])).toBe(2);
    expect(labelChoice('谢谢', ['取消这次预约', '改约到其他时间'])).toBeNull();
    expect(labelChoice('约', ['取消这次预约'])).toBeNull(); // one character is too little
    expect(labelChoice('预约', ['取消这次预约', '改约到其他时间'], 'whole')).toBeNull(); // a keyword: whole words only
    expect(labelChoice('确认预约', ['确认预约', '换个时间'], 'whole')).toBe(1);
  });
});
