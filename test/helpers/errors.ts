/**
 * The error a promise (or a function) is refused with, when it is of `type`: for asserting a
 * command's refusal code and message. Any other error is rethrown; no refusal at all fails.
 */
export async function rejection<E extends Error>(p: Promise<unknown> | (() => unknown), type: new (...args: any[]) => E): Promise<E> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof type) return e;
    throw e;
  }
  throw new Error(`expected a ${type.name}`);
}
