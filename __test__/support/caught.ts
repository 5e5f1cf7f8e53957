// Errors built by the addon come from another realm inside jest (instanceof Error fails):
// tests check their code and message.

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
