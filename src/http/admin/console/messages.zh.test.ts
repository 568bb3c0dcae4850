import { describe, expect, it } from 'vitest';
import { requireDay } from '../../../domain/dates.js';
import { integer, mustBeOneOf, required, text, yuanToFen } from '../../../domain/validate.js';
import { alreadyExists, AppError, cardState, notFound, StorageUnavailable } from '../../../errors.js';
import { messageOf } from './format.js';

const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a refusal');
};

describe('the console message catalogue', () => {
  it('says the input checks in Chinese with the field as the form labels it', () => {
    expect(messageOf(required('password'))).toBe('密码为必填项');
    expect(messageOf(thrown(() => text('name', ' ', 1, 50)))).toBe('名称须为 1–50 个可打印字符');
    expect(messageOf(thrown(() => integer('sort', 'x', -5, 5)))).toBe('排序须为 -5 到 5 的整数');
    expect(messageOf(thrown(() => yuanToFen('price', '0')))).toBe('价格须为大于 0 的金额（元），如 35.00');
    expect(messageOf(mustBeOneOf('role', ['admin', 'operator']))).toBe('角色须为以下之一：admin, operator');
  });

  it('names what was not found or exists already, and the card state that forbids an action', () => {
    expect(messageOf(notFound('cinema', 'GZ01'))).toBe('未找到影院 GZ01');
    expect(messageOf(alreadyExists('user', 'ann'))).toBe('用户 ann 已存在');
    expect(messageOf(cardState('1234567890123456', 'used', 'redeem'))).toBe(
      '卡 1234567890123456 已用完，不能兑换',
    );
    expect(messageOf(thrown(() => requireDay('2025-13-01', 'Asia/Shanghai')))).toBe(
      '日期 2025-13-01 有误，应为 YYYY-MM-DD',
    );
    expect(messageOf(new StorageUnavailable())).toBe('数据库暂时不可用，请稍后重试');
  });

  it('says a refusal it has no sentence for in Chinese by its code and field, never in English', () => {
    expect(
      messageOf(new AppError('conflict', 'no partner_id left with prefix XX; choose another prefix')),
    ).toBe('与现有数据冲突，没有做任何修改');
    expect(
      messageOf(new AppError('invalid', 'ip_allow may hold at most 100 addresses', { field: 'ip_allow' })),
    ).toBe('IP 白名单的值不符合要求，请检查后重试');
    expect(messageOf(new Error('boom'))).toBe('boom');
  });

  it('keeps the English message for the API and the CLI', () => {
    expect(cardState('1234567890123456', 'used', 'redeem').message).toBe(
      'card 1234567890123456 is used; cannot redeem',
    );
    expect(required('password').message).toBe('password is required');
  });
});
