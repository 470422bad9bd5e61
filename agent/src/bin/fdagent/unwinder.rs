//! fdagent links the unwinder statically (`libgcc_eh.a`), as `gcc -static-libgcc` does,
//! instead of loading `libgcc_s.so.1` at every start.
//!
//! Rust's standard library on glibc needs an unwinder for panics and asks for the shared
//! one. Loading it (one more object to open, map and relocate, and a constructor that
//! runs `cpuid`, which traps to the hypervisor in a VM) is a large part of what a run of
//! `fdagent cat` costs beyond a C program doing the same. The static copy is the same
//! code, so panics unwind and backtraces print as before (a unit test unwinds through
//! it). A native library of the crate being linked comes before those of its
//! dependencies on the linker's command line, so the unwinding symbols resolve here, and
//! `--as-needed` drops `libgcc_s` (an integration test checks that fdagent no longer
//! loads it).
//!
//! The library is only linked: no item is declared, nothing is called through it.

// SAFETY: the block declares no foreign item; it only carries the `link` attribute, so
// there is nothing whose contract could be broken.
#[allow(unsafe_code)]
#[cfg_attr(
    all(target_os = "linux", target_env = "gnu"),
    link(name = "gcc_eh", kind = "static")
)]
unsafe extern "C" {}

#[cfg(test)]
mod tests {
    /// A panic unwinds to `catch_unwind` through the static unwinder (this test binary is
    /// linked as fdagent is); with no working unwinder the process would abort.
    #[test]
    fn panics_unwind() {
        let caught = std::panic::catch_unwind(|| panic!("unwinding"));
        assert!(caught.is_err());
    }
}
