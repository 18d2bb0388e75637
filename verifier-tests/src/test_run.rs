//! BPF_PROG_TEST_RUN from the tests: runs a loaded program on a zeroed
//! packet through the raw `bpf(2)` syscall (aya has no wrapper for it) and
//! returns the program's verdict.

use std::os::fd::{AsRawFd, BorrowedFd};

/// The BPF_PROG_TEST_RUN part of `union bpf_attr` (include/uapi/linux/bpf.h).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// Runs `prog` `repeat` times on a zeroed packet of `len` bytes and returns
/// its verdict (`retval`). Panics if the syscall fails.
pub fn prog_test_run(prog: BorrowedFd<'_>, len: usize, repeat: u32) -> u32 {
    let packet = vec![0u8; len];
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: packet.len() as u32,
        data_in: packet.as_ptr() as u64,
        repeat,
        ..Default::default()
    };
    // SAFETY: attr is a zero-padded BPF_PROG_TEST_RUN attribute whose data
    // pointer outlives the call; the kernel zero-extends the short struct.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            10, /* BPF_PROG_TEST_RUN */
            &mut attr as *mut TestRunAttr,
            std::mem::size_of::<TestRunAttr>(),
        )
    };
    assert_eq!(
        ret,
        0,
        "BPF_PROG_TEST_RUN: {}",
        std::io::Error::last_os_error()
    );
    attr.retval
}
