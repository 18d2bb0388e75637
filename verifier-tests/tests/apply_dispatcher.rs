//! The generated dispatcher through the running kernel's verifier, and the
//! raw load path's verifier log.

use std::os::fd::{AsFd, AsRawFd};

use runtime::dispatcher::{self, ChainSpec, Hook, Insn};
use runtime::sys;
use verifier_tests::require_root_or_skip;

fn spec(hook: Hook, n: usize) -> ChainSpec {
    ChainSpec {
        hook,
        members: (0..n)
            .map(|i| composer::ir::MemberId {
                feature: format!("f{i}"),
                program: format!("p{i}"),
            })
            .collect(),
        debug_sample: 0,
        timing: false,
        stamp: None,
    }
}

#[test]
fn generated_dispatchers_load_and_fall_through_to_the_default_verdict() {
    if !require_root_or_skip("dispatcher verifier") {
        return;
    }
    for hook in [Hook::SockOps, Hook::Xdp] {
        for n in [0, 1, 32] {
            let chain = sys::map_create(3, "accord_chain", 4, 4, 32, 0).unwrap();
            let d = dispatcher::generate(&spec(hook, n)).unwrap();
            let prog = sys::prog_load(
                hook.prog_type(),
                hook.expected_attach_type(),
                dispatcher::DISPATCHER_PROG_NAME,
                &d.bytes_with_map_fd(chain.as_raw_fd()),
            )
            .unwrap_or_else(|e| panic!("{hook:?} with {n} members: {e}\n{}", e.verifier_log));
            let info = sys::prog_info(prog.as_fd()).unwrap();
            assert_eq!(info.name, "accord_disp");
            assert_eq!(info.prog_type, hook.prog_type());
            if hook == Hook::Xdp {
                // An empty chain: the tail call falls through to XDP_PASS.
                let run = sys::prog_test_run(prog.as_fd(), &[0u8; 64], 1).unwrap();
                assert_eq!(run.retval, 2);
            }
        }
    }
}

#[test]
fn a_refused_raw_program_comes_back_with_the_verifier_log() {
    if !require_root_or_skip("raw load verifier log") {
        return;
    }
    // exit without setting r0.
    let bytes = Insn::exit().to_bytes();
    let err = sys::prog_load(
        Hook::Xdp.prog_type(),
        Hook::Xdp.expected_attach_type(),
        "bad",
        &bytes,
    )
    .unwrap_err();
    assert_eq!(err.source.raw_os_error(), Some(libc::EACCES));
    assert!(
        err.verifier_log.contains("R0 !read_ok"),
        "{}",
        err.verifier_log
    );
}
