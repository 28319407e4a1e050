#!/usr/bin/env node
/**
 * Makes Jazzer.js's prebuilt libFuzzer addon loadable on an older glibc / libstdc++.
 *
 * @jazzer.js/fuzzer 4.0.0 ships `fuzzer-linux-x64.node` built against glibc 2.38 and GCC 13's
 * libstdc++, which ask for three symbols Debian 12 (glibc 2.36, GCC 12) does not have:
 * `__isoc23_strtol`, `__isoc23_strtoul` (GLIBC_2.38) and `std::ios_base_library_init()`
 * (GLIBCXX_3.4.32). This script writes a copy of the addon in which every symbol version the
 * system libraries lack is marked weak and the symbols bound to it are made unversioned,
 * so that the dynamic loader accepts the file and resolves those symbols from a shim
 * (compat/shim.cpp, loaded with LD_PRELOAD) instead.
 *
 * Usage: node patch-addon.js <in.node> <out.node>
 * Prints the symbols that now need the shim, one per line; exits 2 if one of them is not
 * one the shim provides.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const SHIMMED = new Set(['__isoc23_strtol', '__isoc23_strtoul', '__isoc23_strtoll', '__isoc23_strtoull', '_ZSt21ios_base_library_initv']);
const LIB_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const VER_FLG_WEAK = 0x2;

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: patch-addon.js <in.node> <out.node>');
  process.exit(64);
}
const elf = fs.readFileSync(input);
if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
  console.error(`${input}: not a 64-bit little-endian ELF file`);
  process.exit(2);
}

const shoff = Number(elf.readBigUInt64LE(0x28));
const shentsize = elf.readUInt16LE(0x3a);
const shnum = elf.readUInt16LE(0x3c);
const sections = [];
for (let i = 0; i < shnum; i++) {
  const at = shoff + i * shentsize;
  sections.push({
    type: elf.readUInt32LE(at + 4),
    offset: Number(elf.readBigUInt64LE(at + 24)),
    size: Number(elf.readBigUInt64LE(at + 32)),
    link: elf.readUInt32LE(at + 40),
    info: elf.readUInt32LE(at + 44),
  });
}
const find = type => sections.find(s => s.type === type);
const verneed = find(SHT_GNU_VERNEED);
const versym = find(SHT_GNU_VERSYM);
const dynsym = find(SHT_DYNSYM);
if (!verneed || !versym || !dynsym) {
  console.error(`${input}: no symbol version sections; nothing to patch`);
  fs.copyFileSync(input, output);
  process.exit(0);
}
const dynstr = sections[dynsym.link];
const str = offset => {
  const start = dynstr.offset + offset;
  return elf.toString('latin1', start, elf.indexOf(0, start));
};

const libCache = new Map();
function systemHasVersion(file, version) {
  if (!libCache.has(file)) {
    const dir = LIB_DIRS.find(d => fs.existsSync(path.join(d, file)));
    libCache.set(file, dir ? fs.readFileSync(fs.realpathSync(path.join(dir, file))) : null);
  }
  const lib = libCache.get(file);
  // A version a library defines appears in its string table, NUL-terminated.
  return lib !== null && lib.includes(Buffer.from(`\0${version}\0`, 'latin1'));
}

// Weaken the version requirements the system cannot meet.
const missing = new Set(); // version indexes
let need = verneed.offset;
for (let n = 0; n < verneed.info; n++) {
  const file = str(elf.readUInt32LE(need + 4));
  let aux = need + elf.readUInt32LE(need + 8);
  for (let k = 0; k < elf.readUInt16LE(need + 2); k++) {
    const version = str(elf.readUInt32LE(aux + 8));
    if (!systemHasVersion(file, version)) {
      elf.writeUInt16LE(elf.readUInt16LE(aux + 4) | VER_FLG_WEAK, aux + 4);
      missing.add(elf.readUInt16LE(aux + 6));
      console.error(`${file}: ${version} is missing here; made weak`);
    }
    const next = elf.readUInt32LE(aux + 12);
    if (next === 0) break;
    aux += next;
  }
  const next = elf.readUInt32LE(need + 12);
  if (next === 0) break;
  need += next;
}

// Unversion the symbols that were bound to those versions.
const symbols = [];
const count = dynsym.size / 24;
for (let i = 0; i < count; i++) {
  const at = versym.offset + i * 2;
  if (missing.has(elf.readUInt16LE(at) & 0x7fff)) {
    elf.writeUInt16LE(1, at);
    symbols.push(str(elf.readUInt32LE(dynsym.offset + i * 24)));
  }
}
fs.writeFileSync(output, elf);
for (const s of symbols) console.log(s);
const unknown = symbols.filter(s => !SHIMMED.has(s));
if (unknown.length > 0) {
  console.error(`the shim does not provide: ${unknown.join(', ')}`);
  process.exit(2);
}
