// Errors built by the addon come from another realm inside jest (instanceof Error fails),
// but index.js gives them the FlowcraftNativeError prototype of the realm that loaded it:
// tests check their class, code and message.
import type { FlowcraftNativeError } from '../../index'

export interface CaughtError {
  code?: string
  message: string
}

/** What `fn` throws; fails the test when it does not. */
export function thrown(fn: () => unknown): CaughtError {
  try {
    fn()
  } catch (error) {
    return error as CaughtError
  }
  throw new Error('expected a throw')
}

/** What `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<CaughtError> {
  try {
    await promise
  } catch (error) {
    return error as CaughtError
  }
  throw new Error('expected a rejection')
}

/** What `action` throws or rejects with; fails the test when it returns. */
export async function failure(action: () => unknown): Promise<FlowcraftNativeError> {
  try {
    await action()
  } catch (error) {
    return error as FlowcraftNativeError
  }
  throw new Error('expected an error')
}
