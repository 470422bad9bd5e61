//! Gives the shared library its soname, `libfdagent.so.0`: programs linked against it
//! record that name, which changes only with an incompatible ABI (never so far).

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libfdagent.so.0");
}
