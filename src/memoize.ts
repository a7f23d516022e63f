import { LRUCache } from 'lru-cache';

/** Memoizes a function of a JSON-serializable argument: the results for the `max` most recently used arguments. */
export function memoizeByJson<A, R extends {}>(compute: (argument: A) => R, max: number): (argument: A) => R {
  const results = new LRUCache<string, R>({ max });
  return (argument) => {
    const key = JSON.stringify(argument) ?? '';
    let result = results.get(key);
    if (result === undefined) {
      result = compute(argument);
      results.set(key, result);
    }
    return result;
  };
}
