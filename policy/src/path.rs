//! Request paths: checking that one is absolute and normalized, and splitting it into its
//! components without allocating for any but unusually deep paths.

use std::ops::Deref;

/// How many components [`Components`] holds without allocating.
const INLINE: usize = 16;

/// The components of an absolute, normalized path, in order (`/` has none). Dereferences to
/// a slice of them.
pub(crate) struct Components<'p> {
    inline: [&'p [u8]; INLINE],
    len: usize,
    /// Every component, once there are more than `INLINE` (empty until then).
    spilled: Vec<&'p [u8]>,
}

impl<'p> Components<'p> {
    fn push(&mut self, component: &'p [u8]) {
        if self.len < INLINE {
            self.inline[self.len] = component;
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline);
            }
            self.spilled.push(component);
        }
        self.len += 1;
    }
}

impl<'p> Deref for Components<'p> {
    type Target = [&'p [u8]];

    fn deref(&self) -> &[&'p [u8]] {
        match self.len {
            len if len <= INLINE => &self.inline[..len],
            _ => &self.spilled,
        }
    }
}

/// Splits an absolute, normalized path into its components, or returns `None` if the path is
/// not absolute and normalized (no `//`, `.`, `..`, trailing `/` or NUL), so that such a path
/// can match no pattern.
pub(crate) fn components(path: &[u8]) -> Option<Components<'_>> {
    let rest = path.strip_prefix(b"/")?;
    let mut parts = Components {
        inline: [&[]; INLINE],
        len: 0,
        spilled: Vec::new(),
    };
    if rest.is_empty() {
        return Some(parts);
    }
    for part in rest.split(|&b| b == b'/') {
        if part.is_empty() || part == b"." || part == b".." || part.contains(&0) {
            return None;
        }
        parts.push(part);
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_are_not_normalized_have_no_components() {
        assert_eq!(components(b"/").as_deref(), Some(&[][..]));
        assert_eq!(components(b"/a/b").as_deref(), Some(&[&b"a"[..], b"b"][..]));
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
            let parts = components(path.as_bytes()).expect("normalized");
            let parts: Vec<&[u8]> = parts.to_vec();
            let expected: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
            assert_eq!(parts, expected, "depth {depth}");
        }
    }
}
