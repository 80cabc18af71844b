// js-libp2p 3 targets Node 22; Debian's and this machine's Node are older. The one builtin it
// needs that Node 20 lacks, Promise.withResolvers (ES2024), as the standard defines it. Loaded
// with `node --import ./node20.mjs` before anything else.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
