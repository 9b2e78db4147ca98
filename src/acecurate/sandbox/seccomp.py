"""The seccomp filter bubblewrap installs in every sandbox, as a classic BPF program built here with struct packing.

It refuses (EPERM) the system calls a solution never needs and an attacker would: tracing or reading other processes
(ptrace, process_vm_*), changing another process's limits (prlimit64 on a pid other than 0), io_uring, the kernel
keyring, mounts and namespaces (mount family, unshare, setns, clone with namespace flags), bpf, perf_event_open,
userfaultfd, kernel modules and kexec. clone3 answers ENOSYS: its flags sit in memory a filter cannot read, and the C
library then falls back to clone, whose flags it can. A system call of another ABI (i386 or x32 on x86_64, which
have other numbers) kills the process, so the table cannot be bypassed.
"""

from __future__ import annotations

import errno
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
_BPF_LD_W_ABS, _BPF_JEQ_K, _BPF_JGE_K, _BPF_JSET_K, _BPF_RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO, _RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
_X32_BIT = 0x40000000
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (NEWTIME shares its bit with the exit signal in clone)
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

_ARCHES = {  # machine: (AUDIT_ARCH_*, {name: number})
    "x86_64": (
        0xC000003E,
        {
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "keyctl": 250, "add_key": 248, "request_key": 249, "mount": 165, "umount2": 166,
            "unshare": 272, "setns": 308, "pivot_root": 155, "chroot": 161, "bpf": 321, "perf_event_open": 298,
            "userfaultfd": 323, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "mount_setattr": 442, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
            "finit_module": 313, "delete_module": 176, "clone": 56, "clone3": 435, "prlimit64": 302,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "keyctl": 219, "add_key": 217, "request_key": 218, "mount": 40, "umount2": 39,
            "unshare": 97, "setns": 268, "pivot_root": 41, "chroot": 51, "bpf": 280, "perf_event_open": 241,
            "userfaultfd": 282, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
            "fspick": 433, "mount_setattr": 442, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
            "finit_module": 273, "delete_module": 106, "clone": 220, "clone3": 435, "prlimit64": 261,
        },
    ),
}  # fmt: skip
_SPECIAL = ("clone", "clone3", "prlimit64")


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def seccomp_program(machine: str | None = None) -> bytes | None:
    """The filter for this machine's architecture as bytes for `bwrap --seccomp FD`, or None where we have no table."""
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        return None
    audit_arch, numbers = _ARCHES[machine]
    refused = [number for name, number in numbers.items() if name not in _SPECIAL]
    eperm, enosys = _RET_ERRNO | errno.EPERM, _RET_ERRNO | errno.ENOSYS
    # Layout: arch check, x32 check, one jump per refused number, the three argument checks, then the return blocks.
    body = [_insn(_BPF_LD_W_ABS, _ARCH), ("arch",), _insn(_BPF_LD_W_ABS, _NR)]
    if machine == "x86_64":
        body.append(("x32",))
    body += [("refuse", number) for number in refused]
    body += [("if", numbers["clone3"], "enosys"), ("if", numbers["clone"], "clone"), ("if", numbers["prlimit64"], "prlimit")]
    body.append(_insn(_BPF_RET_K, _RET_ALLOW))
    blocks = {
        "clone": [_insn(_BPF_LD_W_ABS, _ARG0_LOW), ("jset", _CLONE_NAMESPACES, "eperm"), _insn(_BPF_RET_K, _RET_ALLOW)],
        # prlimit64(pid, ...): pid 0 is the caller itself (how setrlimit is implemented); any other pid is refused.
        "prlimit": [_insn(_BPF_LD_W_ABS, _ARG0_LOW), ("ifnot0", "eperm"), _insn(_BPF_RET_K, _RET_ALLOW)],
        "eperm": [_insn(_BPF_RET_K, eperm)],
        "enosys": [_insn(_BPF_RET_K, enosys)],
        "kill": [_insn(_BPF_RET_K, _RET_KILL_PROCESS)],
    }
    order = ["clone", "prlimit", "eperm", "enosys", "kill"]
    start, position = {}, len(body)
    for name in order:
        start[name] = position
        position += len(blocks[name])
    program = []
    for name in [None, *order]:
        items = body if name is None else blocks[name]
        base = 0 if name is None else start[name]
        for offset, item in enumerate(items):
            here = base + offset
            program.append(_resolve(item, here, start, audit_arch))
    return b"".join(program)


def _resolve(item, here: int, start: dict, audit_arch: int) -> bytes:
    """One instruction; jumps are relative to the next instruction."""
    if isinstance(item, bytes):
        return item
    kind, *rest = item

    def to(target: str) -> int:
        return start[target] - here - 1

    if kind == "arch":
        return _insn(_BPF_JEQ_K, audit_arch, 0, to("kill"))
    if kind == "x32":
        return _insn(_BPF_JGE_K, _X32_BIT, to("kill"), 0)
    if kind == "refuse":
        return _insn(_BPF_JEQ_K, rest[0], to("eperm"), 0)
    if kind == "if":
        return _insn(_BPF_JEQ_K, rest[0], to(rest[1]), 0)
    if kind == "jset":
        return _insn(_BPF_JSET_K, rest[0], to(rest[1]), 0)
    if kind == "ifnot0":
        return _insn(_BPF_JEQ_K, 0, 0, to(rest[0]))
    raise ValueError(kind)
