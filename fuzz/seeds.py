#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/TARGET/seed-* (valid requests each harness can
start mutating from). Crashers found by fuzzing are added next to them as crash-* by hand.
Run from anywhere: python3 fuzz/seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = 0x100000


def put(name, target, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(data)


def desc(addr, length, flags, nxt=0):
    return struct.pack('<QIHH', addr, length, flags, nxt)


NEXT, WRITE, INDIRECT = 1, 2, 4


def ram(size, pieces):
    b = bytearray(size)
    for off, data in pieces:
        b[off:off + len(data)] = data
    return bytes(b)


# virtqueue: [flags][size exp][desc/2][avail/2][used/2][ops x8][RAM image]
def virtqueue():
    size = 8
    table = desc(BASE + 0x1000, 16, NEXT, 1) + desc(BASE + 0x2000, 512, WRITE | NEXT, 2) + desc(BASE + 0x3000, 1, WRITE)
    table += desc(BASE + 0x4000, 48, INDIRECT)
    avail = struct.pack('<HH', 0, 2) + struct.pack('<HH', 0, 3)
    indirect = desc(BASE + 0x1000, 16, NEXT, 1) + desc(BASE + 0x2000, 64, NEXT, 2) + desc(BASE + 0x3000, 1, WRITE)
    image = ram(0x4000 + 48, [(0, table), (0x80, avail), (0x4000, indirect)])
    for flags, name in ((0, 'plain'), (1, 'indirect'), (3, 'indirect-event-idx')):
        head = struct.pack('<BBHHH', flags, 3, 0, 0x40, 0x80) + bytes([0, 1, 0x40, 3, 0, 0, 0, 0])
        put(name, 'virtqueue', head + image)


# virtio_blk: [features] then requests [type pick][sector u16][segments][per segment: len u16, writable
# (discard/write-zeroes: + sector u16, count u16, flags u8)][status byte flag]
def virtio_blk():
    req = lambda t, sector, segs: bytes([t]) + struct.pack('<H', sector) + bytes([len(segs)]) + b''.join(segs) + b'\0'
    seg = lambda n, w: struct.pack('<H', n) + bytes([w])
    dseg = lambda n, s, c, f: struct.pack('<H', n) + bytes([0]) + struct.pack('<HHB', s, c, f)
    put('read-write', 'virtio_blk', bytes([4]) + req(0, 2, [seg(1024, 1)]) + req(1, 4, [seg(512, 0), seg(512, 0)]) +
        req(2, 0, []))
    put('get-id-flush', 'virtio_blk', bytes([0]) + req(3, 0, [seg(20, 1)]) + req(2, 0, []))
    put('discard-zeroes', 'virtio_blk', bytes([1]) + req(4, 0, [dseg(16, 8, 4, 0)]) + req(5, 0, [dseg(16, 8, 4, 1)]))


# virtio_console: [features][host input /20] then ops: 0 rx chain, 1 tx chain, 2 kick, 3 config write, 4 read
def virtio_console():
    chain = lambda q, descs: bytes([q, len(descs) - 1]) + b''.join(struct.pack('<H', n) + bytes([w]) for n, w in descs)
    put('tx-rx', 'virtio_console', bytes([0, 2]) + chain(1, [(12, 0), (30, 0)]) + bytes([2 | 8]) +
        chain(0, [(64, 1)]) + bytes([2]) + bytes([3, ord('!'), 8]) + bytes([4, 0]))


# virtio_pci: [seed len/4][seed] then ops [kind][offset u16][size][value u64]
def virtio_pci():
    def op(kind, off, size, val):
        return struct.pack('<BHBQ', kind, off, size - 1, val)
    # A driver's bring-up: reset, ACK|DRIVER, features, FEATURES_OK, queue 0 set up, DRIVER_OK, kick.
    ops = [op(3, 0x14, 1, 0), op(3, 0x14, 1, 3), op(3, 0x08, 4, 1), op(3, 0x0c, 4, 1), op(3, 0x14, 1, 11),
           op(3, 0x16, 2, 0), op(3, 0x18, 2, 8), op(3, 0x20, 4, BASE), op(3, 0x28, 4, BASE + 0x80),
           op(3, 0x30, 4, BASE + 0x100), op(3, 0x1c, 2, 1), op(3, 0x14, 1, 15), op(5, 0x3000, 2, 0),
           op(0, 0x04, 2, 0), op(1, 0x04, 2, 6), op(1, 0x10, 4, 0xffffffff), op(0, 0x10, 4, 0), op(2, 0x1000, 1, 0)]
    put('bring-up', 'virtio_pci', bytes([0]) + b''.join(ops))


# pci_bus: ops [kind][bus][devfn][reg u16][size idx][value u32]; kinds 0 ecam read, 1 ecam write, 2 cf8, 3 cfc read, 4 cfc write
def pci_bus():
    def op(kind, bus, dev, reg, size_idx, val):
        return struct.pack('<BBBHBI', kind, bus, dev << 3, reg, size_idx, val)
    ops = [op(0, 0, 2, 0, 2, 0), op(1, 0, 2, 0x18, 2, 0x00050500), op(0, 5, 0, 0, 2, 0), op(1, 0, 2, 4, 1, 7),
           op(1, 0, 2, 0x58, 1, 0xffff), op(0, 0, 2, 0x5a, 1, 0), op(2, 1, 3, 0, 0, 0), op(3, 0, 0, 4, 2, 0),
           op(1, 1, 0, 0x10, 2, 0xffffffff), op(0, 1, 0, 0x10, 2, 0)]
    put('bridges', 'pci_bus', b''.join(ops))


# vfio_pci: [variant] then ops [kind][offset u16][size][value u64]
def vfio_pci():
    def op(kind, off, size, val):
        return struct.pack('<BHBQ', kind, off, size - 1, val)
    ops = [op(1, 0x10, 3, 0xffffffff), op(0, 0x10, 3, 0), op(1, 0x10, 3, 0xc0000000), op(1, 0x04, 2, 6),
           op(2, 0x12, 2, 0x8000), op(3, 0x0, 4, 0xfee00000), op(3, 0x8, 4, 0x41), op(3, 0xc, 4, 0),
           op(4, 0x3000, 8, 0), op(2, 0x32, 2, 0x81), op(2, 0x34, 4, 0xfee00000), op(1, 0x30, 3, 0xffffffff)]
    put('msix-msi', 'vfio_pci', bytes([0x19]) + b''.join(ops))


def qmp():
    put('session', 'qmp', b'\0{"execute":"qmp_capabilities"}{"execute":"echo","arguments":{"s":"x","i":1,"o":{"a":[1,2]}},"id":7}'
        b'{"execute":"query-commands"}{"execute":"need"}{"execute":"fail","id":[1]}{"execute":"event","arguments":{}}'
        b'[1,2] "str" 12 {"execute":1} {"bad json')
    put('negotiated', 'qmp', b'\x01{"execute":"query-version","id":"v"}{"execute":"echo","arguments":{"x":{"deep":[[[]]]}}}')
    put('deep', 'qmp', b'\x01{"execute":"echo","arguments":{"x":' + b'[' * 1100 + b']' * 1100 + b'}}')


def domain_xml():
    src = os.path.join(HERE, '..', 'tests', 'data')
    for name in sorted(os.listdir(src)) if os.path.isdir(src) else []:
        if name.endswith('.xml'):
            with open(os.path.join(src, name), 'rb') as f:
                put(name[:-4], 'domain_xml', f.read())


def options():
    args = ['-name', 'vm', '-m', '512M', '-smp', '2', '-kernel', '/boot/vmlinuz', '-initrd', '/i.img', '-append', 'console=ttyS0',
            '-serial', 'pty', '-qmp', 'unix:/tmp/q.sock,server,nowait', '-no-reboot',
            '-device', 'pcie-root-port,id=rp1,chassis=1,port=0x10,addr=2',
            '-device', 'vfio-pci,host=0000:01:00.0,id=nic0,bus=rp1',
            '-drive', 'file=/d.img,format=raw,if=none,id=d0,cache=none,aio=threads,iops=100',
            '-device', 'virtio-blk-pci,drive=d0,serial=s1',
            '-object', 'iothread,id=io1', '-device', 'virtio-serial-pci,id=vs0',
            '-chardev', 'pty,id=c0', '-device', 'virtconsole,chardev=c0,id=console0,bus=vs0.0']
    put('full', 'options', '\0'.join(args).encode())


def elf_vmlinux():
    """A minimal x86-64 ELF executable: one PT_LOAD of 0x100 bytes (0x200 in memory) at 16 MiB, the
    entry at its start."""
    paddr = 0x1000000
    ehdr = b'\x7fELF' + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack('<HHIQQQIHHHHHH', 2, 62, 1, paddr, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack('<IIQQQQQQ', 1, 7, 0x100, 0xffffffff80000000 + paddr, paddr, 0x100, 0x200, 0x200000)
    body = ehdr + phdr
    return body + bytes(0x100 - len(body)) + bytes(range(256))


def kernel():
    # [options: bit 0 extracts the payload][initrd size, le32][the file]
    import gzip
    vmlinux = elf_vmlinux()
    payload = gzip.compress(vmlinux, mtime=0)
    setup = bytearray(1024)  # setup_sects = 1: the protected-mode part starts at 1024
    setup[0x1f1] = 1
    setup[0x1fe:0x200] = b'\x55\xaa'
    setup[0x200:0x202] = b'\xeb\x6a'  # jmp over the header: it ends at 0x26c
    setup[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', setup, 0x206, 0x020f)   # boot protocol 2.15
    setup[0x211] = 1                               # LOADED_HIGH
    struct.pack_into('<I', setup, 0x22c, 0x7fffffff)  # initrd_addr_max
    struct.pack_into('<H', setup, 0x236, 1)        # XLF_KERNEL_64
    struct.pack_into('<I', setup, 0x238, 2048)     # cmdline_size
    struct.pack_into('<II', setup, 0x248, 0x200, len(payload))  # payload_offset, payload_length
    struct.pack_into('<I', setup, 0x260, 0x1000000)  # init_size
    pm = bytearray(0x200) + payload
    pm += bytes(max(0, 0x1000 - len(setup) - len(pm)))
    image = bytes(setup) + bytes(pm)
    put('bzimage-gzip', 'kernel', b'\x01' + struct.pack('<I', 1 << 20) + image)
    put('bzimage-noextract', 'kernel', b'\x00' + struct.pack('<I', 200 << 20) + image)
    put('vmlinux', 'kernel', b'\x00' + struct.pack('<I', 0) + vmlinux)


# virtio_net: [flags][disabled queues][feature mask u32] then ops: 0 tx [hdr flags][gso][descs-1][len u16, sel]..,
# 1 rx [descs-1][len u16, sel].., 2 ctrl [class][cmd][value u16][data len][ack len][ack first], 3 kick [q],
# 4 host frame [len u16][fill], 5 config [offset][size], 6 idle check, 7 reset; op bit 3 picks the second pair
def virtio_net():
    def tx(pair, hflags, gso, descs):
        return bytes([pair << 3, hflags, gso, len(descs) - 1]) + b''.join(struct.pack('<HB', n, s) for n, s in descs)

    def rx(pair, descs):
        return bytes([1 | pair << 3, len(descs) - 1]) + b''.join(struct.pack('<HB', n, s) for n, s in descs)

    def ctrl(cls, cmd, value, data_len=2, ack_len=1):
        return bytes([2, cls, cmd]) + struct.pack('<H', value) + bytes([data_len, ack_len, 0])

    kick = lambda q: bytes([3, q])
    frame = lambda pair, n, fill: bytes([4 | pair << 3]) + struct.pack('<HB', n, fill)
    head = lambda flags, mask: bytes([flags, 0]) + struct.pack('<I', mask)
    no_mrg = 0xffffffff & ~(1 << 15)
    put('tx-rx', 'virtio_net', head(0, no_mrg) + rx(0, [(1526, 0)]) + tx(0, 0, 0, [(12, 0), (60, 0)]) + kick(1) +
        frame(0, 72, 0x11) + kick(0) + bytes([5, 0, 5]))
    put('mergeable', 'virtio_net', head(0, 0xffffffff) + rx(0, [(8, 0)]) + rx(0, [(512, 0)]) + rx(0, [(256, 0), (256, 0)]) +
        rx(0, [(512, 0)]) + frame(0, 1400, 0x22) + frame(0, 40, 0x33) + kick(0) + rx(0, [(64, 0)]) + kick(0))
    put('offloads', 'virtio_net', head(2, 0xffffffff) + tx(0, 1, 1, [(12, 0), (1500, 0)]) + tx(0, 1, 0x81, [(80, 0)]) +
        tx(0, 2, 0, [(30, 0)]) + tx(0, 0, 4, [(5, 0), (7, 0), (40, 0)]) + tx(0, 0, 0, [(32768, 0x80), (2, 0)]) +
        tx(0, 0, 0, [(20, 0), (20, 1)]) + kick(1))
    # VIRTIO_NET_CTRL_MQ (4) VQ_PAIRS_SET (0): both pairs, traffic on the second, then a refused
    # command (RX mode promiscuous), a count out of range, and back to one pair.
    put('multiqueue', 'virtio_net', head(1 | 4, 0xffffffff) + ctrl(4, 0, 2) + kick(4) + rx(1, [(2048, 0)]) +
        tx(1, 0, 0, [(12, 0), (64, 0)]) + kick(3) + frame(1, 100, 0x44) + kick(2) + ctrl(0, 0, 1, 1) + ctrl(4, 0, 9) +
        ctrl(4, 0, 1, 2, 0) + ctrl(4, 0, 1) + kick(4) + frame(0, 60, 0x55) + rx(0, [(100, 0)]) + kick(0))
    put('reset', 'virtio_net', head(4, 0xffffffff) + rx(0, [(1000, 0)]) + frame(0, 200, 0x66) + bytes([7]) +
        rx(0, [(1000, 0)]) + tx(0, 0, 0, [(100, 0)]) + kick(1) + kick(0) + bytes([6]))


# virtio_balloon: [flags] then ops: 0 inflate / 1 deflate [descs-1][len u16, sel, where, start u16, stride]..,
# 2 stats [descs-1][len u16, sel].. [tag], 3 kick [q], 4 config write [offset][size-1][value u32],
# 5 config read [offset][size-1], 6 set target [pages u16] (op bit 3: the stats period ends instead), 7 reset
def virtio_balloon():
    def pfns(q, descs):
        return bytes([q, len(descs) - 1]) + b''.join(struct.pack('<HBBHB', n, s, w, st, stride) for n, s, w, st, stride in descs)

    def stats(descs, tag=0):
        return bytes([2, len(descs) - 1]) + b''.join(struct.pack('<HB', n, s) for n, s in descs) + bytes([tag])

    kick = lambda q: bytes([3, q])
    actual = lambda v: bytes([4, 4, 3]) + struct.pack('<I', v)
    target = lambda pages: bytes([6]) + struct.pack('<H', pages)
    # Where: 0 private RAM, 1 shared RAM, 2 the rings' RAM, 3 a hole, 4 near 2^32, 5 anything
    put('inflate-deflate', 'virtio_balloon', bytes([0x08 | 0x02]) + target(40) + pfns(0, [(64, 0, 0, 0, 1)]) +
        pfns(0, [(6, 0, 1, 3, 1), (10, 0, 1, 5, 2)]) + kick(0) + actual(18) + pfns(1, [(64, 0, 0, 0, 1)]) + kick(1) +
        actual(2) + bytes([5, 0, 7]) + target(0))
    put('shared-outside', 'virtio_balloon', bytes([0x01 | 0x08]) + pfns(0, [(40, 0, 1, 60, 1), (16, 0, 3, 7, 1)]) +
        pfns(0, [(16, 0, 4, 0, 1), (16, 0, 2, 60, 1), (13, 0, 5, 1, 3)]) + kick(0) + actual(0xffffffff) + bytes([5, 2, 5]))
    put('no-discard', 'virtio_balloon', bytes([0x20 | 0x04]) + pfns(0, [(256, 0, 0, 0, 1)]) + kick(0) + kick(2))
    period = bytes([6 | 8])  # model A's statistics period ends: the device returns the buffer it holds
    put('stats', 'virtio_balloon', bytes([0x08]) + stats([(100, 0)]) + kick(2) + stats([(30, 0), (25, 0)], 5) + kick(2) +
        period + stats([(50, 0)]) + kick(2) + bytes([6, 1, 0]) + bytes([7]) + stats([(10, 0)], 0xf3) + kick(2) +
        stats([(700, 1)]) + kick(2) + period)


# virtio_rng: [flags: model 0 file, 1 file limited, 2 FIFO, 3 FIFO limited] then ops: 0 chain [descs-1][len u16, sel]..,
# 1 kick, 2 FIFO bytes [count/8], 3 wait 1.2 ms, 4 reset, 5 config [offset][size]
def virtio_rng():
    def chain(descs):
        return bytes([0, len(descs) - 1]) + b''.join(struct.pack('<HB', n, s) for n, s in descs)
    kick, wait, reset = bytes([1]), bytes([3]), bytes([4])
    put('file', 'virtio_rng', bytes([0]) + chain([(64, 0)]) + chain([(200, 0)]) + chain([(30, 0), (30, 0)]) + kick +
        chain([(0, 0)]) + chain([(16, 1)]) + chain([(8, 1), (8, 0)]) + kick + bytes([5, 0, 3]))
    put('rate-limit', 'virtio_rng', bytes([1 | 4]) + chain([(64, 0)]) * 4 + kick + wait + kick + chain([(64, 0)]) + wait + reset +
        chain([(40, 0)]) + kick)
    put('fifo', 'virtio_rng', bytes([2]) + chain([(32, 0)]) + kick + bytes([2, 8]) + wait + chain([(100, 0)]) + kick +
        bytes([2, 1]) + kick)
    put('fifo-limited', 'virtio_rng', bytes([3 | 8]) + chain([(64, 0)]) * 3 + kick + bytes([2, 32]) + kick + wait + reset +
        chain([(64, 0)]) + kick + bytes([2, 16]) + wait)


# virtio_gpu: [flags: 1 EVENT_IDX, 2 INDIRECT] then ops: 0 command [sel][id][x y w h u16][extra u64]
# ([n][entries: addr-sel u8, len u16] for attach)[resp u16], 1 raw, 2 kick control, 3 cursor, 4 reset,
# 5 config. sel: 0 display info, 1 create, 2 unref, 3 set scanout, 4 flush, 5 transfer, 6 attach, 7 detach.
def virtio_gpu():
    def cmd(sel, rid, x=0, y=0, w=0, h=0, extra=0, resp=24, op=0, entries=None):
        b = bytes([op, sel, rid]) + struct.pack('<HHHHQ', x, y, w, h, extra)
        if entries is not None:
            b += bytes([len(entries)]) + b''.join(struct.pack('<BH', a, n) for a, n in entries)
        return b + struct.pack('<H', resp)
    kick = bytes([2])
    draw = (cmd(0, 0, resp=408) + cmd(1, 1, w=64, h=32, extra=1) +
            cmd(6, 1, entries=[(0, 4096), (4, 4096)]) + cmd(5, 1, w=64, h=32) + cmd(3, 1, w=64, h=32) +
            cmd(4, 1, x=8, y=4, w=16, h=8) + kick)
    put('draw', 'virtio_gpu', bytes([0]) + draw)
    put('partial-and-unref', 'virtio_gpu', bytes([1]) + draw + cmd(5, 1, x=8, y=4, w=16, h=8, extra=(4 * 64 + 8) * 4) +
        cmd(4, 1, x=8, y=4, w=16, h=8) + cmd(2, 1) + cmd(7, 1) + kick + bytes([4]) + draw)
    put('bad', 'virtio_gpu', bytes([2]) + cmd(1, 2, w=600, h=400, extra=1) + cmd(1, 3, w=600, h=400, extra=1) +
        cmd(6, 2, entries=[(255, 100)], op=0x80) + cmd(5, 2, w=64, h=32, extra=0xfffff) + cmd(3, 4, w=64, h=32, op=0x80) +
        cmd(9, 0) + cmd(0, 0, resp=8, op=0x20) + bytes([1, 5]) + b'\x01\x02\x03\x04\x05' + struct.pack('<H', 24) +
        kick + bytes([3, 24, 5, 4, 4, 13, 0, 4]))


def fw_cfg():
    # Ops: 0x84 select (2-byte key), 0x01 data read (length), 0x02 DMA in halves / 0x20 whole
    # (request offset/2 u16, control u32, length u32, buffer offset/2 u16), 0x03 register write,
    # 0x04 register read, 0x85 reset.
    def select(key):
        return bytes([0x84]) + struct.pack('<H', key)

    def dma(op, control, length, req=0x80, buf=0x800):
        return bytes([op]) + struct.pack('<HIIH', req, control, length, buf)
    files = bytes([2, 5]) + b'hello' + bytes([3]) + b'abc'
    put('data-port', 'fw_cfg', files + select(0x0000) + bytes([1, 4]) + select(0x0019) + bytes([1, 200]) +
        select(0x0020) + bytes([1, 9]))
    put('dma-select-read', 'fw_cfg', files + dma(0x02, 0x20 << 16 | 0x08 | 0x02, 8) +
        dma(0x20, 0x19 << 16 | 0x08 | 0x02, 132) + dma(0x02, 0x02, 4))
    put('dma-skip-write', 'fw_cfg', files + dma(0x02, 0x21 << 16 | 0x08 | 0x04, 1) + bytes([1, 2]) +
        dma(0x02, 0x21 << 16 | 0x08 | 0x10, 2) + bytes([0x85]) + bytes([4, 4]))


def pflash():
    # Ops: [op u8][offset u16][8 value bytes]; op & 3: 0 write, 1 read, 2 write to the code flash, 3 reset;
    # (op >> 4) & 3: width 1, 2, 4, 8.
    def w(off, v, op=0):
        return bytes([op]) + struct.pack('<H', off) + bytes([v]) + bytes(7)

    def r(off, op=1):
        return bytes([op]) + struct.pack('<H', off) + bytes(8)
    put('probe', 'pflash', r(16) + w(16, 0x50) + r(16) + w(16, 0x70) + r(16) + w(16, 0xff) + r(16))
    put('erase-program', 'pflash', w(0x1005, 0x20) + w(0x1005, 0xd0) + r(0) + w(0x1008, 0x10) + w(0x1008, 0xab) +
        w(0x1009, 0x40) + w(0x1009, 0xcd) + w(0x1009, 0xff) + r(0x1008, 0x21) + w(0, 0x20, 2) + w(0, 0xd0, 2))
    put('errors', 'pflash', w(0, 0x20) + w(0, 0x55) + r(0) + w(0, 0x50) + w(0, 0x98) + r(0, 0x31) + bytes([3, 0, 0]))


for f in (virtqueue, virtio_blk, virtio_console, virtio_net, virtio_balloon, virtio_rng, virtio_gpu, virtio_pci, pci_bus, vfio_pci, qmp, domain_xml, options, kernel, fw_cfg, pflash):
    f()
