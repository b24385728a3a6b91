//! Glob patterns as Redis `SCAN MATCH` reads them, so that every backend
//! selects the same keys.
//!
//! `*` matches any run of characters, `?` one character, `[abc]` / `[a-z]` /
//! `[^abc]` a class, and `\` quotes the next character. Use [`escape`] to put
//! untrusted text (a tenant id, a user name) inside a pattern.
//!
//! ```
//! use cache_core::{pattern::{escape, matches}};
//! assert!(matches("user:*", "user:42"));
//! assert!(!matches(&format!("{}*", escape("a*b:")), "aXb:1"));
//! assert!(matches(&format!("{}*", escape("a*b:")), "a*b:1"));
//! ```

/// Quotes every glob metacharacter of `text` with a backslash.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `key` matches the glob `pattern`.
pub fn matches(pattern: &str, key: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let k: Vec<char> = key.chars().collect();
    match_from(&p, &k)
}

/// The literal prefix of `pattern` (up to its first unquoted metacharacter),
/// unquoted. A backend can use it to narrow a scan.
pub fn literal_prefix(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' | '[' => break,
            '\\' => match chars.next() {
                Some(n) => out.push(n),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

fn match_from(p: &[char], k: &[char]) -> bool {
    // Iterative with one backtrack point for the last `*`: linear in practice,
    // no recursion to blow the stack on hostile patterns.
    let (mut pi, mut ki) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ki < k.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    while pi < p.len() && p[pi] == '*' {
                        pi += 1;
                    }
                    if pi == p.len() {
                        return true;
                    }
                    star = Some((pi, ki));
                    continue;
                }
                '?' => {
                    pi += 1;
                    ki += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, next)) = match_class(p, pi, k[ki]) {
                        if matched {
                            pi = next;
                            ki += 1;
                            continue;
                        }
                    } else if k[ki] == '[' {
                        // An unterminated class is a literal `[`.
                        pi += 1;
                        ki += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == k[ki] {
                        pi += 2;
                        ki += 1;
                        continue;
                    }
                }
                c => {
                    if c == k[ki] {
                        pi += 1;
                        ki += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sk)) => {
                pi = sp;
                ki = sk + 1;
                star = Some((sp, sk + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `c` against the class starting at `p[start] == '['`. Returns
/// whether it matched and the index after the class, or `None` when the class
/// is not terminated.
fn match_class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = i < p.len() && p[i] == '^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let lo = if p[i] == '\\' && i + 1 < p.len() {
            i += 1;
            p[i]
        } else {
            p[i]
        };
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let hi = if p[i + 2] == '\\' && i + 3 < p.len() {
                i += 1;
                p[i + 2]
            } else {
                p[i + 2]
            };
            let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
            if a <= c && c <= b {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("a*c", "abbbc"));
        assert!(!matches("a*c", "abbbd"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*:*:x", "a:b:c:x"));
    }

    #[test]
    fn classes() {
        assert!(matches("h[ae]llo", "hello"));
        assert!(!matches("h[ae]llo", "hillo"));
        assert!(matches("h[^e]llo", "hallo"));
        assert!(!matches("h[^e]llo", "hello"));
        assert!(matches("h[a-c]llo", "hbllo"));
        assert!(!matches("h[a-c]llo", "hdllo"));
    }

    #[test]
    fn escaped_text_matches_only_itself() {
        for nasty in ["*", "?", "[", "]", "\\", "a[b-c]d", "x^y-z", "{t}:"] {
            let p = format!("{}:*", escape(nasty));
            assert!(matches(&p, &format!("{nasty}:key")), "{nasty}");
            assert!(!matches(&p, "other:key"), "{nasty}");
        }
        assert!(!matches(&format!("{}*", escape("a?")), "ab"));
    }

    #[test]
    fn literal_prefix_stops_at_metacharacters() {
        assert_eq!(literal_prefix("tenant:\\*x:*"), "tenant:*x:");
        assert_eq!(literal_prefix("abc"), "abc");
        assert_eq!(literal_prefix("a[bc]"), "a");
    }

    #[test]
    fn hostile_pattern_is_linear() {
        let key = "a".repeat(5000);
        assert!(!matches(&format!("{}b", "*a".repeat(50)), &key));
    }
}
