//! The Rust hello-world of the bench's `process` section: what a Rust process costs at
//! all, built with the release profile's options, beside the C one.

fn main() {
    println!("hello, world");
}
