//! Request paths: checking that one is absolute and normalized, and splitting it into its
//! components without allocating for any but unusually deep paths.

/// How many components a path may have before they spill onto the heap.
const INLINE: usize = 16;

/// Calls `f` with the components of an absolute, normalized path, in order (`/` has none),
/// and returns what it returns; or returns `None` if the path is not absolute and
/// normalized (no `//`, `.`, `..`, trailing `/` or NUL), so that such a path can match no
/// pattern.
///
/// A callback rather than a returned value: the components of a path up to `INLINE` deep
/// live in an array in this function's frame, and returning them would copy the array,
/// which was a fifth of a decision's time.
#[inline]
pub(crate) fn with_components<'p, R>(
    path: &'p [u8],
    f: impl FnOnce(&[&'p [u8]]) -> R,
) -> Option<R> {
    let rest = path.strip_prefix(b"/")?;
    let mut inline: [&[u8]; INLINE] = [&[]; INLINE];
    let mut spilled: Vec<&[u8]> = Vec::new();
    let mut len = 0;
    if !rest.is_empty() {
        for part in rest.split(|&b| b == b'/') {
            if part.is_empty() || part == b"." || part == b".." || part.contains(&0) {
                return None;
            }
            if len < INLINE {
                inline[len] = part;
            } else {
                if spilled.is_empty() {
                    spilled.extend_from_slice(&inline);
                }
                spilled.push(part);
            }
            len += 1;
        }
    }
    Some(f(if len <= INLINE {
        &inline[..len]
    } else {
        &spilled
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_are_not_normalized_have_no_components() {
        let components = |path: &'static [u8]| with_components(path, <[&[u8]]>::to_vec);
        assert_eq!(components(b"/"), Some(vec![]));
        assert_eq!(components(b"/a/b"), Some(vec![&b"a"[..], b"b"]));
        for bad in [
            &b""[..],
            b"a",
            b"/a/",
            b"//",
            b"/a//b",
            b"/a/./b",
            b"/a/..",
            b"/a\0",
            b"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/",
        ] {
            assert!(components(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn deep_paths_keep_every_component_in_order() {
        for depth in [15, 16, 17, 40] {
            let names: Vec<String> = (0..depth).map(|i| format!("c{i}")).collect();
            let path = format!("/{}", names.join("/"));
            let parts = with_components(path.as_bytes(), <[&[u8]]>::to_vec).expect("normalized");
            let expected: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
            assert_eq!(parts, expected, "depth {depth}");
        }
    }
}
