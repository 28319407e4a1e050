'use strict';
/**
 * Counts calls into the iroh binding (for the profile run): every method of every class the binding
 * exports is wrapped; byte-carrying calls also sum their bytes (argument for writes, result for
 * reads). The wrappers cost a few hundred nanoseconds a call.
 */
const iroh = require('@number0/iroh/index.js');

const counts = Object.create(null);
let installed = false;

function entry(name) {
  return counts[name] || (counts[name] = { calls: 0, bytes: 0 });
}

function install() {
  if (installed) return;
  installed = true;
  for (const [className, cls] of Object.entries(iroh)) {
    if (typeof cls !== 'function' || !cls.prototype) continue;
    for (const key of Object.getOwnPropertyNames(cls.prototype)) {
      if (key === 'constructor') continue;
      const d = Object.getOwnPropertyDescriptor(cls.prototype, key);
      if (!d || typeof d.value !== 'function' || !d.writable) continue;
      const original = d.value;
      const name = `${className}.${key}`;
      const e = entry(name);
      let wrapped;
      if (key === 'write' || key === 'writeAll' || key === 'sendDatagram') {
        wrapped = function (buf, ...rest) {
          e.calls++;
          e.bytes += buf?.length ?? 0;
          return original.call(this, buf, ...rest);
        };
      } else if (key === 'read' || key === 'readExact' || key === 'readToEnd') {
        wrapped = function (...args) {
          e.calls++;
          const p = original.apply(this, args);
          return p.then(bytes => {
            e.bytes += bytes?.length ?? 0;
            return bytes;
          });
        };
      } else {
        wrapped = function (...args) {
          e.calls++;
          return original.apply(this, args);
        };
      }
      Object.defineProperty(wrapped, 'name', { value: `counted_${key}` });
      cls.prototype[key] = wrapped;
    }
  }
}

/** Calls so far, by `Class.method`, only those called at least once. */
function snapshot() {
  const out = {};
  for (const [k, v] of Object.entries(counts)) if (v.calls) out[k] = { ...v };
  return out;
}

module.exports = { install, snapshot };
