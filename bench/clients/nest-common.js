'use strict';
/** Helpers for driving a Nest `ClientProxy` without rxjs operators in the hot path. */

/** Resolves with the last value of a cold Observable (the one reply of a request). */
function once(observable) {
  return new Promise((resolve, reject) => {
    let last;
    observable.subscribe({
      next: v => {
        last = v;
      },
      error: reject,
      complete: () => resolve(last),
    });
  });
}

/** Resolves with the number of values a streamed reply carried. */
function count(observable) {
  return new Promise((resolve, reject) => {
    let n = 0;
    observable.subscribe({
      next: () => {
        n++;
      },
      error: reject,
      complete: () => resolve(n),
    });
  });
}

module.exports = { once, count };
