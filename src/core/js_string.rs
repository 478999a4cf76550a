//! JavaScript's view of text: strings are UTF-16 code units.

/// The first `n` UTF-16 code units of `s` (what JavaScript's `slice(0, n)` keeps),
/// never splitting a character.
pub(crate) fn js_prefix(s: &str, n: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > n {
            return &s[..i];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_prefix_counts_utf16_units() {
        assert_eq!(js_prefix("abcdef", 3), "abc");
        assert_eq!(js_prefix("ab", 3), "ab");
        assert_eq!(js_prefix("é😀x", 2), "é"); // the emoji is two units and would not fit
        assert_eq!(js_prefix("é😀x", 3), "é😀");
    }
}
