#!/usr/bin/env python3
"""The footprint of a Cortex-M program, read from its ELF: section sizes,
where a symbol lives, and the worst-case stack of its main loop.

Shared by scripts/size-report (the node firmware) and
scripts/gateway-mcu-stack (the gateway MCU), so both measure the same way:

1. The program is built with `-Z emit-stack-sizes` (on a stable toolchain
   through RUSTC_BOOTSTRAP=1): LLVM writes every function's frame size into
   `.stack_sizes`, a section that is not loaded; code and data are those of
   a plain build.
2. The disassembly (llvm-objdump, or arm-none-eabi-objdump) gives the call
   graph. `bl` is a call: the callee's stack comes on top of the caller's
   frame. A `b`/`b.w` to the first instruction of another function is a tail
   call: the caller has popped its frame, so the callee's stack comes on top
   of what the caller started with. `blx rN` and `bx rN` are indirect and
   cannot be followed: they are counted and reported, except the ones
   listed in KNOWN_INDIRECT (a caller whose indirect calls can only reach
   the functions named there, such as the frame encoder's `dyn` signer,
   the HMAC of every signed answer), which are followed to all of them.
   Literal pools split a
   function's disassembly with mapping symbols ($d, $t); they are not
   functions, and what follows them belongs to the function before.
3. A function's worst case is its frame plus its deepest call, or its
   deepest tail call, whichever is more. An interrupt can arrive at the
   deepest point: its handler's worst case and the exception frame the core
   stacks come on top.

Functions without a `.stack_sizes` entry (precompiled compiler-builtins such
as memcpy) count as 0, and indirect calls are not followed: the figure is an
estimate, not a bound.

As a command: stack_walk.py ELF [--entry main] [--interrupt SysTick]
[--exception-frame 32] prints the deepest chain; stack_walk.py --check-tools
only checks that a disassembler is installed.
"""

import argparse
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field

# ----- the ELF -------------------------------------------------------------------


class Elf:
    """A 32-bit little-endian ELF: its sections by name and its symbols."""

    def __init__(self, path):
        self.path = path
        self.data = data = open(path, 'rb').read()
        if data[:4] != b'\x7fELF' or data[4] != 1 or data[5] != 1:
            raise ValueError(f'{path}: not a 32-bit little-endian ELF')
        shoff, = struct.unpack_from('<I', data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x2e)
        # name, type, flags, addr, offset, size, link, info, addralign, entsize
        self.headers = [struct.unpack_from('<10I', data, shoff + i * shentsize) for i in range(shnum)]
        strtab = self.headers[shstrndx][4]
        self.names = [self._string(strtab, h[0]) for h in self.headers]
        self.sections = dict(zip(self.names, self.headers))

    def _string(self, table, offset):
        start = table + offset
        return self.data[start:self.data.index(b'\0', start)].decode()

    def size(self, name):
        """Bytes of section `name`, 0 if it has none."""
        return self.sections[name][5] if name in self.sections else 0

    def contents(self, name):
        h = self.sections[name]
        return self.data[h[4]:h[4] + h[5]]

    def symbols(self):
        """Every symbol as (name, address, size, section name)."""
        if '.symtab' not in self.sections:
            return []
        symtab = self.sections['.symtab']
        strtab = self.headers[symtab[6]][4]
        found = []
        for at in range(symtab[4], symtab[4] + symtab[5], 16):
            name, value, size, _info, _other, shndx = struct.unpack_from('<IIIBBH', self.data, at)
            section = self.names[shndx] if 0 < shndx < len(self.names) else ''
            found.append((self._string(strtab, name), value, size, section))
        return found

    def symbol(self, pattern):
        """The one symbol whose (mangled) name matches the regular expression
        `pattern`, as (name, address, size, section name)."""
        matches = [s for s in self.symbols() if re.search(pattern, s[0])]
        if len(matches) != 1:
            raise LookupError(f'{self.path}: {len(matches)} symbols match {pattern!r}')
        return matches[0]

    def frames(self):
        """Frame size of every function in `.stack_sizes`, by address."""
        data = self.contents('.stack_sizes')
        frames, i = {}, 0
        while i + 4 <= len(data):
            addr, = struct.unpack_from('<I', data, i)
            i += 4
            val, shift = 0, 0
            while True:
                b = data[i]
                i += 1
                val |= (b & 0x7f) << shift
                shift += 7
                if not b & 0x80:
                    break
            frames[addr & ~1] = val
        return frames


# ----- the disassembly and its call graph -----------------------------------------


def objdump():
    """The disassembler: llvm-objdump, or the GNU one for ARM."""
    found = shutil.which('llvm-objdump') or shutil.which('arm-none-eabi-objdump')
    if not found:
        sys.exit('need llvm-objdump (apt install llvm) or arm-none-eabi-objdump for the stack walk')
    return found


def disassemble(elf_path, out_path):
    """Writes the disassembly of `elf_path` to `out_path`, names demangled."""
    with open(out_path, 'w') as out:
        subprocess.run([objdump(), '-d', '--no-show-raw-insn', '--demangle', elf_path],
                       stdout=out, check=True)


FUNCTION = re.compile(r'^([0-9a-f]+) <(.+)>:$')
MAPPING = re.compile(r'^\$[adtx](\..*)?$')
CALL = re.compile(r'\tbl\t(?:0x)?([0-9a-f]+)')
BRANCH = re.compile(r'\tb(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?(?:\.[wn])?\t(?:0x)?([0-9a-f]+)')
INDIRECT = re.compile(r'\t(?:blx|bx)\t(?!lr\b)')

# Indirect calls the walk follows: (caller, callees), regular expressions on
# the demangled names. locker-proto's frame encoder calls its signer through
# a `&mut dyn FnMut` (one copy of the encoder for every signer): the
# closures `encode_authenticated` passes it, which compute the answer's
# tag, an HMAC-SHA256, on top of the encoder's frame.
KNOWN_INDIRECT = [
    (r'^locker_proto::frame::encode_with::<',
     r'^locker_proto::frame::encode_authenticated::<.*\{closure#\d+\}>::\{closure#0\}$'),
]


@dataclass
class CallGraph:
    names: dict = field(default_factory=dict)     # address -> name
    calls: dict = field(default_factory=dict)     # address -> {callee address}
    tails: dict = field(default_factory=dict)     # address -> {tail-called address}
    indirect: dict = field(default_factory=dict)  # address -> indirect call sites


def call_graph(dis_path):
    """The direct calls, tail calls and indirect call sites of every function."""
    g = CallGraph()
    branches = {}
    current = None
    for line in open(dis_path):
        m = FUNCTION.match(line)
        if m:
            if MAPPING.match(m.group(2)):
                continue  # a literal pool's edge, inside the current function
            current = int(m.group(1), 16)
            g.names[current] = m.group(2)
            g.calls.setdefault(current, set())
            g.indirect.setdefault(current, 0)
            branches.setdefault(current, set())
            continue
        if current is None:
            continue
        m = CALL.search(line)
        if m:
            g.calls[current].add(int(m.group(1), 16))
            continue
        m = BRANCH.search(line)
        if m:
            branches[current].add(int(m.group(1), 16))
            continue
        if INDIRECT.search(line):
            g.indirect[current] += 1
    # Only now are all functions known: a branch to another's first
    # instruction is a tail call.
    for fn, targets in branches.items():
        g.tails[fn] = {t for t in targets if t in g.names and t != fn}
    for caller, callees in KNOWN_INDIRECT:
        targets = {a for a, n in g.names.items() if re.search(callees, n)}
        for fn, name in g.names.items():
            if g.indirect.get(fn) and re.search(caller, name) and targets:
                g.calls[fn] |= targets
                g.indirect[fn] = 0
    return g


def function_named(dis_path, pattern):
    """The one function of the disassembly whose (demangled) name matches the
    regular expression `pattern`."""
    names = [n for n in call_graph(dis_path).names.values() if re.search(pattern, n)]
    if len(names) != 1:
        raise LookupError(f'{dis_path}: {len(names)} functions match {pattern!r}: {names[:3]}')
    return names[0]


# ----- the walk ------------------------------------------------------------------------


@dataclass
class Walk:
    depth: int          # bytes: the entry's worst case plus the interrupt on top
    chain: list         # the deepest chain from the entry, addresses
    interrupt: int      # bytes the interrupt adds (handler + exception frame)
    frames: dict
    names: dict
    indirect: int       # indirect call sites on the chain, not followed
    unknown: int        # reachable functions with no .stack_sizes entry
    cycles: int         # recursive edges cut

    def name(self, fn):
        return self.names.get(fn, hex(fn))


def worst_stack(elf_path, dis_path, entry='main', interrupts=('SysTick',), exception_frame=32):
    """The worst-case stack of `entry` with the deepest of `interrupts` on top,
    each interrupt adding `exception_frame` bytes (32 for the basic Cortex-M
    frame, 104 with floating-point state)."""
    frames = Elf(elf_path).frames()
    g = call_graph(dis_path)
    by_name = {v: k for k, v in g.names.items()}
    memo, unknown, cycles = {}, set(), [0]

    def worst(fn, path=()):
        if fn in memo:
            return memo[fn]
        if fn in path:
            cycles[0] += 1
            return (0, [])
        if fn not in frames:
            unknown.add(fn)
        inner = path + (fn,)
        deepest_call = max((worst(c, inner) for c in g.calls.get(fn, ())), default=(0, []))
        deepest_tail = max((worst(t, inner) for t in g.tails.get(fn, ())), default=(0, []))
        own = frames.get(fn, 0)
        if deepest_tail[0] > own + deepest_call[0]:
            memo[fn] = (deepest_tail[0], [fn] + deepest_tail[1])
        else:
            memo[fn] = (own + deepest_call[0], [fn] + deepest_call[1])
        return memo[fn]

    if entry not in by_name:
        raise LookupError(f'{elf_path}: no function {entry!r}')
    depth, chain = worst(by_name[entry])
    handlers = [worst(by_name[i])[0] for i in interrupts if i in by_name]
    interrupt = (max(handlers) + exception_frame) if handlers else 0
    return Walk(
        depth=depth + interrupt,
        chain=chain,
        interrupt=interrupt,
        frames=frames,
        names=g.names,
        indirect=sum(g.indirect.get(fn, 0) for fn in chain),
        unknown=len(unknown),
        cycles=cycles[0],
    )


def print_chain(walk, width=110, out=sys.stdout):
    """The chain, one function a line with its frame, and what was not counted."""
    for fn in walk.chain:
        print(f'  {walk.frames.get(fn, 0):5}  {walk.name(fn)[:width]}', file=out)
    if walk.interrupt:
        print(f'  {walk.interrupt:5}  (an interrupt on top: its handler and exception frame)', file=out)
    notes(walk, out)


def notes(walk, out=sys.stdout):
    if walk.indirect:
        print(f'note: {walk.indirect} indirect call site(s) on that chain are not followed', file=out)
    if walk.unknown:
        print(f'note: {walk.unknown} reachable function(s) without a .stack_sizes entry '
              f'(precompiled compiler-builtins such as memcpy) counted as 0', file=out)
    if walk.cycles:
        print(f'note: {walk.cycles} recursive call(s) cut: a recursion is counted one level deep', file=out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('elf', nargs='?')
    p.add_argument('--check-tools', action='store_true', help='only check for a disassembler')
    p.add_argument('--entry', default='main')
    p.add_argument('--interrupt', action='append', default=None)
    p.add_argument('--exception-frame', type=int, default=32)
    args = p.parse_args()
    if args.check_tools:
        objdump()
        return
    if not args.elf:
        p.error('the ELF to measure is missing')
    dis = args.elf + '.dis'
    disassemble(args.elf, dis)
    walk = worst_stack(args.elf, dis, args.entry, args.interrupt or ['SysTick'], args.exception_frame)
    print(f'{args.entry}: worst-case stack {walk.depth} bytes')
    print_chain(walk)


if __name__ == '__main__':
    main()
