//! The C arguments: pointers read and written on the caller's word, each checked for
//! what can be checked (NULL, alignment, a length that fits in memory) before it is used.
//! The only `unsafe` of the crate: no crate can know what a C caller's pointer points to.

use std::ffi::{CStr, OsStr, c_char};
use std::io;
use std::os::unix::ffi::OsStrExt;

use crate::last_error::invalid;

/// The string at `ptr`, without its NUL; `None` if `ptr` is NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and unchanged for
/// `'a` (the C interface's contract: for the duration of the call).
pub unsafe fn c_str<'a>(ptr: *const c_char) -> Option<&'a OsStr> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: not NULL, and NUL-terminated and valid for 'a by this function's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    Some(OsStr::from_bytes(bytes))
}

/// The `n` values of the caller's array at `ptr`, named `what` in errors.
///
/// # Safety
/// `ptr` is NULL or points to `n` initialized values of `T` that stay valid and unchanged
/// for `'a`.
pub unsafe fn slice<'a, T>(ptr: *const T, n: usize, what: &str) -> io::Result<&'a [T]> {
    check_array(ptr, n, what)?;
    // SAFETY: checked not NULL, aligned, and within isize::MAX bytes; valid for n values
    // and 'a by this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// The caller's output array of `n` ints at `ptr`, named `what` in errors. Written through
/// the raw pointer, never through a Rust reference, so that two arrays the caller made
/// overlap break nothing but the caller's results.
#[derive(Debug)]
pub struct Out {
    ptr: *mut i32,
    n: usize,
}

impl Out {
    /// # Safety
    /// `ptr` is NULL or points to `n` ints the library may write during the call.
    pub unsafe fn new(ptr: *mut i32, n: usize, what: &str) -> io::Result<Out> {
        check_array(ptr, n, what)?;
        Ok(Out { ptr, n })
    }

    /// Writes `value` at index `i` (< n).
    pub fn set(&mut self, i: usize, value: i32) {
        assert!(i < self.n, "index {i} past an output array of {}", self.n);
        // SAFETY: i < n, and the array holds n writable, aligned ints (`Out::new`).
        unsafe { self.ptr.add(i).write(value) }
    }

    /// Writes `value` at every index.
    pub fn fill(&mut self, value: i32) {
        for i in 0..self.n {
            self.set(i, value);
        }
    }
}

/// An array of `n` values at `ptr`: not NULL, aligned for `T`, no larger than memory can
/// be (`n * size_of::<T>() <= isize::MAX`), which is all of it a library can check.
fn check_array<T>(ptr: *const T, n: usize, what: &str) -> io::Result<()> {
    if ptr.is_null() {
        return Err(invalid(&format!("{what} is NULL")));
    }
    if !ptr.is_aligned() {
        return Err(invalid(&format!("{what} is not aligned")));
    }
    if n > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(invalid(&format!(
            "{what}: {n} elements cannot be in memory"
        )));
    }
    Ok(())
}
