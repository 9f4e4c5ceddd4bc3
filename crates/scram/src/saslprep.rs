//! SASLprep (RFC 4013, a profile of stringprep, RFC 3454), exactly as PostgreSQL applies it
//! to passwords, so that a secret made here and a login from libpq (and the reverse) derive
//! the same SaltedPassword.
//!
//! ```text
//! bytes ──UTF-8?──no──────────────────────────────────────────────▶ raw bytes
//!         │yes
//!         ├─ all ASCII ───────────────────────────────────────────▶ unchanged
//!         └─ map (C.1.2 → ' ', B.1 → nothing) ─ empty? ─ prohibited? ─ bidi? ─ NFKC ─▶ prepared
//!                                                  └─────any fails─────────────────▶ raw bytes
//! ```
//!
//! Where PostgreSQL (`src/common/saslprep.c`, checked against 18) departs from the RFC,
//! this module follows PostgreSQL, because both ends must hash the same bytes:
//! - A pure-ASCII string is returned unchanged, control characters included (the RFC
//!   prohibits C.2.1). For passwords the outcome is the same: a prohibited string falls
//!   back to its raw bytes anyway.
//! - The prohibited, unassigned and bidi checks look at the string *after mapping but
//!   before NFKC*; the result is still the NFKC form. So `U+0627 U+2100 U+0627` passes
//!   (U+2100 ACCOUNT OF is bidi ON, its NFKC `a/c` is L) where the RFC would reject it,
//!   and `a U+0340` is refused (C.8) although its NFKC form `a U+0300` is allowed.
//! - A string that maps to nothing (only soft hyphens, say) is an error, not `""`.
//! - U+200B is in both C.1.2 and B.1; it becomes a space, as the mapping tests C.1.2 first.
//! - NFKC uses today's Unicode (this crate's unicode-normalization, PostgreSQL its own
//!   current tables), not Unicode 3.2. Code points unassigned in 3.2 are rejected before
//!   normalization matters, and decompositions of assigned ones have been frozen since
//!   Unicode 4.1, so both ends agree whatever Unicode version each one ships.
//!
//! The tables come from `stringprep::tables`, except that its D.2 (bidi L) follows today's
//! Unicode: `is_lcat` puts back the handful of code points whose bidi class changed
//! since 3.2. A unit test checks both bidi tables against RFC 3454's, from
//! `tests/data/rfc3454-bidi.txt`.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use stringprep::tables;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Why a string has no SASLprep form. Names one code point at most, never the whole input:
/// the input is usually a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslprepError {
    /// Nothing is left after mapping (the input held only characters mapped to nothing).
    Empty,
    /// A character from one of the prohibited-output tables (RFC 4013 §2.3).
    Prohibited {
        /// The offending character.
        code_point: char,
        /// The table that prohibits it.
        table: ProhibitedTable,
    },
    /// A code point unassigned in Unicode 3.2 (RFC 3454 table A.1).
    Unassigned {
        /// The offending code point.
        code_point: char,
    },
    /// The bidirectional rules of RFC 3454 §6 are broken.
    Bidi(BidiRule),
}

/// The RFC 3454 table a prohibited character belongs to. C.1.2 (non-ASCII spaces) is
/// missing because mapping has already turned them into U+0020, and C.5 (surrogates)
/// because a Rust string cannot hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProhibitedTable {
    /// C.2.1
    AsciiControl,
    /// C.2.2
    NonAsciiControl,
    /// C.3
    PrivateUse,
    /// C.4
    NonCharacter,
    /// C.6
    InappropriateForPlainText,
    /// C.7
    InappropriateForCanonicalRepresentation,
    /// C.8
    ChangesDisplayOrDeprecated,
    /// C.9
    Tagging,
}

/// Which requirement of RFC 3454 §6 a string breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidiRule {
    /// Requirement 2: right-to-left (RandALCat) and left-to-right (LCat) characters together.
    MixedDirections,
    /// Requirement 3: a string with a right-to-left character must start and end with one.
    RightToLeftNotAtBothEnds,
}

impl ProhibitedTable {
    fn describe(self) -> &'static str {
        match self {
            ProhibitedTable::AsciiControl => "C.2.1, ASCII control character",
            ProhibitedTable::NonAsciiControl => "C.2.2, non-ASCII control character",
            ProhibitedTable::PrivateUse => "C.3, private use",
            ProhibitedTable::NonCharacter => "C.4, non-character code point",
            ProhibitedTable::InappropriateForPlainText => "C.6, inappropriate for plain text",
            ProhibitedTable::InappropriateForCanonicalRepresentation => {
                "C.7, inappropriate for canonical representation"
            }
            ProhibitedTable::ChangesDisplayOrDeprecated => {
                "C.8, changes display properties or deprecated"
            }
            ProhibitedTable::Tagging => "C.9, tagging character",
        }
    }
}

impl fmt::Display for SaslprepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslprepError::Empty => f.write_str("SASLprep: nothing is left after mapping"),
            SaslprepError::Prohibited { code_point, table } => write!(
                f,
                "SASLprep: prohibited character U+{:04X} (RFC 3454 {})",
                u32::from(*code_point),
                table.describe()
            ),
            SaslprepError::Unassigned { code_point } => write!(
                f,
                "SASLprep: code point U+{:04X} is unassigned in Unicode 3.2",
                u32::from(*code_point)
            ),
            SaslprepError::Bidi(BidiRule::MixedDirections) => f.write_str(
                "SASLprep: bidirectional rule broken: right-to-left and left-to-right characters mixed",
            ),
            SaslprepError::Bidi(BidiRule::RightToLeftNotAtBothEnds) => f.write_str(
                "SASLprep: bidirectional rule broken: right-to-left text must start and end with a right-to-left character",
            ),
        }
    }
}

impl std::error::Error for SaslprepError {}

/// SASLprep with PostgreSQL's results (see the module docs for where they differ from the
/// RFC). ASCII input is borrowed; anything else comes back owned and NFKC-normalized.
///
/// An owned result is allocated once at its exact size, so no stray copy of it is left in
/// freed memory by a reallocation; the caller must zeroize it if it is a secret
/// ([`prepare_password`] does). The normalizer's own small buffers cannot be zeroized.
pub fn saslprep(input: &str) -> Result<Cow<'_, str>, SaslprepError> {
    if input.is_ascii() {
        return Ok(Cow::Borrowed(input));
    }

    // 1. Map. One `char` per input byte is always enough, so the vector never reallocates.
    let mut mapped: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(input.len()));
    for c in input.chars() {
        if tables::non_ascii_space_character(c) {
            mapped.push(' ');
        } else if !tables::commonly_mapped_to_nothing(c) {
            mapped.push(c);
        }
    }
    if mapped.is_empty() {
        return Err(SaslprepError::Empty);
    }

    // 2-4. Prohibit, unassigned, bidi: on the mapped string, as PostgreSQL does.
    for &c in mapped.iter() {
        if let Some(table) = prohibited_table(c) {
            return Err(SaslprepError::Prohibited {
                code_point: c,
                table,
            });
        }
        if tables::unassigned_code_point(c) {
            return Err(SaslprepError::Unassigned { code_point: c });
        }
    }
    check_bidi(&mapped)?;

    // NFKC, measured first so the output is allocated exactly once.
    let len: usize = mapped.iter().copied().nfkc().map(char::len_utf8).sum();
    let mut out = String::with_capacity(len);
    out.extend(mapped.iter().copied().nfkc());
    Ok(Cow::Owned(out))
}

/// PostgreSQL's rule for a password: its SASLprep form if it has one, else the raw bytes
/// (invalid UTF-8, prohibited characters, bidi failures, nothing left after mapping).
/// Client and server both apply it before PBKDF2.
pub fn prepare_password(raw: &[u8]) -> PreparedPassword<'_> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return PreparedPassword(Prepared::Borrowed(raw));
    };
    match saslprep(text) {
        Ok(Cow::Borrowed(same)) => PreparedPassword(Prepared::Borrowed(same.as_bytes())),
        Ok(Cow::Owned(normalized)) => {
            PreparedPassword(Prepared::Owned(Zeroizing::new(normalized.into_bytes())))
        }
        Err(_) => PreparedPassword(Prepared::Borrowed(raw)),
    }
}

/// The bytes to feed PBKDF2: borrowed from the caller's password when SASLprep leaves it
/// as it is, otherwise an owned buffer that is zeroized on drop. No `Debug` output of the
/// contents.
pub struct PreparedPassword<'a>(Prepared<'a>);

enum Prepared<'a> {
    Borrowed(&'a [u8]),
    Owned(Zeroizing<Vec<u8>>),
}

impl PreparedPassword<'_> {
    /// The prepared bytes; callers must not log them or keep copies.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Prepared::Borrowed(bytes) => bytes,
            Prepared::Owned(bytes) => bytes,
        }
    }
}

impl Deref for PreparedPassword<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for PreparedPassword<'_> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for PreparedPassword<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreparedPassword(<redacted>)")
    }
}

/// The first prohibited-output table (RFC 4013 §2.3) holding `c`, if any; C.1.2 is left
/// out as mapping has removed those.
fn prohibited_table(c: char) -> Option<ProhibitedTable> {
    let table = if tables::ascii_control_character(c) {
        ProhibitedTable::AsciiControl
    } else if tables::non_ascii_control_character(c) {
        ProhibitedTable::NonAsciiControl
    } else if tables::private_use(c) {
        ProhibitedTable::PrivateUse
    } else if tables::non_character_code_point(c) {
        ProhibitedTable::NonCharacter
    } else if tables::inappropriate_for_plain_text(c) {
        ProhibitedTable::InappropriateForPlainText
    } else if tables::inappropriate_for_canonical_representation(c) {
        ProhibitedTable::InappropriateForCanonicalRepresentation
    } else if tables::change_display_properties_or_deprecated(c) {
        ProhibitedTable::ChangesDisplayOrDeprecated
    } else if tables::tagging_character(c) {
        ProhibitedTable::Tagging
    } else {
        return None;
    };
    Some(table)
}

/// RFC 3454 §6 requirements 2 and 3 (requirement 1 is the prohibition step).
fn check_bidi(text: &[char]) -> Result<(), SaslprepError> {
    if !text.iter().copied().any(is_randalcat) {
        return Ok(());
    }
    if text.iter().copied().any(is_lcat) {
        return Err(SaslprepError::Bidi(BidiRule::MixedDirections));
    }
    let ends_rtl = matches!((text.first(), text.last()),
        (Some(&first), Some(&last)) if is_randalcat(first) && is_randalcat(last));
    if ends_rtl {
        Ok(())
    } else {
        Err(SaslprepError::Bidi(BidiRule::RightToLeftNotAtBothEnds))
    }
}

/// Table D.1 (bidi R or AL). Today's Unicode agrees with 3.2 on every code point that
/// reaches the bidi check (U+06DD and U+070F differ, but both are prohibited by C.2.2).
fn is_randalcat(c: char) -> bool {
    tables::bidi_r_or_al(c)
}

/// Table D.2 (bidi L) of Unicode 3.2. `stringprep` answers with today's bidi classes, so
/// the code points whose class changed since 3.2 are corrected here.
fn is_lcat(c: char) -> bool {
    match c {
        // L in Unicode 3.2, no longer L today.
        '\u{17B4}'..='\u{17B5}'
        | '\u{1885}'..='\u{1886}'
        // Mathematical nabla and partial differential symbols, ON today.
        | '\u{1D6C1}'
        | '\u{1D6DB}'
        | '\u{1D6FB}'
        | '\u{1D715}'
        | '\u{1D735}'
        | '\u{1D74F}'
        | '\u{1D76F}'
        | '\u{1D789}'
        | '\u{1D7A9}'
        | '\u{1D7C3}' => true,
        // L today, not L in Unicode 3.2.
        '\u{0CBF}'
        | '\u{0CC6}'
        | '\u{1734}'
        | '\u{2132}'
        | '\u{2800}'..='\u{28FF}'
        | '\u{302E}'..='\u{302F}' => false,
        _ => tables::bidi_l(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(input: &str) -> Result<String, SaslprepError> {
        saslprep(input).map(Cow::into_owned)
    }

    #[test]
    fn rfc4013_section3_examples() {
        assert_eq!(
            prep("I\u{00AD}X"),
            Ok("IX".into()),
            "#1 soft hyphen mapped to nothing"
        );
        assert_eq!(prep("user"), Ok("user".into()), "#2 no transformation");
        assert_eq!(prep("USER"), Ok("USER".into()), "#3 case preserved");
        assert_ne!(prep("USER"), prep("user"));
        assert_eq!(prep("\u{00AA}"), Ok("a".into()), "#4 output is NFKC");
        assert_eq!(prep("\u{2168}"), Ok("IX".into()), "#5 NFKC, matches #1");
        // #6: the RFC prohibits U+0007; PostgreSQL's ASCII shortcut passes it through.
        assert_eq!(prep("\u{0007}"), Ok("\u{0007}".into()));
        assert_eq!(
            prep("\u{0627}\u{0031}"),
            Err(SaslprepError::Bidi(BidiRule::RightToLeftNotAtBothEnds)),
            "#7 bidi check"
        );
    }

    #[test]
    fn ascii_is_borrowed_untouched() {
        for input in ["", "user", "a\x07b", "tab\there", "\x7f", "a\0b"] {
            assert!(
                matches!(saslprep(input), Ok(Cow::Borrowed(s)) if s == input),
                "{input:?}"
            );
        }
    }

    #[test]
    fn non_ascii_comes_back_owned_and_normalized() {
        assert!(matches!(saslprep("caf\u{00E9}"), Ok(Cow::Owned(s)) if s == "caf\u{00E9}"));
        // NFKC composes e + combining acute into U+00E9.
        assert_eq!(prep("cafe\u{0301}\u{00A0}"), Ok("caf\u{00E9} ".into()));
        assert_eq!(prep("\u{FB01}x"), Ok("fix".into()), "ligature decomposed");
        assert_eq!(
            prep("\u{FF21}\u{FF22}"),
            Ok("AB".into()),
            "full-width letters"
        );
        // U+FDFA expands to 18 code points: the exact-size allocation must still fit.
        let long = prep("\u{FDFA}").unwrap();
        assert_eq!(long.chars().count(), 18);
        assert_eq!(long.len(), long.capacity());
    }

    #[test]
    fn mapping_spaces_and_nothing() {
        for space in [
            '\u{00A0}', '\u{1680}', '\u{2000}', '\u{200A}', '\u{202F}', '\u{205F}', '\u{3000}',
        ] {
            assert_eq!(
                prep(&format!("a{space}b")),
                Ok("a b".into()),
                "U+{:04X}",
                space as u32
            );
        }
        // U+200B is in C.1.2 and B.1; the space mapping wins, as in PostgreSQL.
        assert_eq!(prep("a\u{200B}b"), Ok("a b".into()));
        for nothing in [
            '\u{00AD}', '\u{034F}', '\u{1806}', '\u{180B}', '\u{200C}', '\u{200D}', '\u{2060}',
            '\u{FE00}', '\u{FE0F}', '\u{FEFF}',
        ] {
            assert_eq!(
                prep(&format!("a{nothing}b")),
                Ok("ab".into()),
                "U+{:04X}",
                nothing as u32
            );
        }
    }

    #[test]
    fn nothing_left_after_mapping_is_an_error() {
        assert_eq!(prep("\u{00AD}"), Err(SaslprepError::Empty));
        assert_eq!(prep("\u{FEFF}\u{200D}"), Err(SaslprepError::Empty));
        // But mapped spaces are something.
        assert_eq!(prep("\u{3000}"), Ok(" ".into()));
    }

    #[test]
    fn prohibited_characters_name_their_table() {
        let cases = [
            (
                "\u{00E9}\u{0007}",
                '\u{0007}',
                ProhibitedTable::AsciiControl,
            ),
            (
                "\u{00E9}\u{0085}",
                '\u{0085}',
                ProhibitedTable::NonAsciiControl,
            ),
            ("\u{1D173}", '\u{1D173}', ProhibitedTable::NonAsciiControl),
            ("\u{E000}", '\u{E000}', ProhibitedTable::PrivateUse),
            ("\u{10FFFD}", '\u{10FFFD}', ProhibitedTable::PrivateUse),
            ("\u{FDD0}", '\u{FDD0}', ProhibitedTable::NonCharacter),
            ("\u{1FFFE}", '\u{1FFFE}', ProhibitedTable::NonCharacter),
            (
                "\u{FFFD}",
                '\u{FFFD}',
                ProhibitedTable::InappropriateForPlainText,
            ),
            (
                "\u{2FF0}",
                '\u{2FF0}',
                ProhibitedTable::InappropriateForCanonicalRepresentation,
            ),
            (
                "\u{200E}",
                '\u{200E}',
                ProhibitedTable::ChangesDisplayOrDeprecated,
            ),
            (
                "\u{0340}",
                '\u{0340}',
                ProhibitedTable::ChangesDisplayOrDeprecated,
            ),
            ("\u{E0001}", '\u{E0001}', ProhibitedTable::Tagging),
            ("\u{E0041}", '\u{E0041}', ProhibitedTable::Tagging),
        ];
        for (input, code_point, table) in cases {
            assert_eq!(
                prep(input),
                Err(SaslprepError::Prohibited { code_point, table }),
                "{input:?}"
            );
        }
    }

    #[test]
    fn checks_run_before_normalization_like_postgresql() {
        // U+0340 is prohibited (C.8); its NFKC form U+0300 is not, so the RFC would accept
        // "a\u{0340}". PostgreSQL looks before normalizing and refuses it.
        assert!(matches!(
            prep("a\u{0340}"),
            Err(SaslprepError::Prohibited { .. })
        ));
        // U+2100 (bidi ON) becomes "a/c" (L) under NFKC; PostgreSQL checks the bidi rules
        // before normalizing, so the RTL-only string is accepted.
        assert_eq!(
            prep("\u{0627}\u{2100}\u{0627}"),
            Ok("\u{0627}a/c\u{0627}".into())
        );
        // Arabic presentation forms are RandALCat before and after NFKC.
        assert_eq!(prep("\u{FE8D}\u{FE8F}"), Ok("\u{0627}\u{0628}".into()));
    }

    #[test]
    fn unassigned_in_unicode_3_2() {
        // U+0221 was assigned in Unicode 4.0; U+1F600 (emoji) in 6.1.
        assert_eq!(
            prep("\u{0221}"),
            Err(SaslprepError::Unassigned {
                code_point: '\u{0221}'
            })
        );
        assert_eq!(
            prep("pass\u{1F600}"),
            Err(SaslprepError::Unassigned {
                code_point: '\u{1F600}'
            })
        );
    }

    #[test]
    fn bidi_rules() {
        // Hebrew and Arabic alone are fine, digits and spaces in between too.
        assert!(prep("\u{05D0}\u{05D1}").is_ok());
        assert!(prep("\u{0627}1 2\u{0628}").is_ok());
        assert_eq!(
            prep("\u{0627}a\u{0628}"),
            Err(SaslprepError::Bidi(BidiRule::MixedDirections))
        );
        // PostgreSQL's saslpreptest7: "foo" is LCat.
        assert_eq!(
            prep("foo\u{0627}\u{0031}bar"),
            Err(SaslprepError::Bidi(BidiRule::MixedDirections))
        );
        assert_eq!(
            prep("1\u{0627}"),
            Err(SaslprepError::Bidi(BidiRule::RightToLeftNotAtBothEnds))
        );
        // Braille is L today but ON in Unicode 3.2, as PostgreSQL's table has it.
        assert_eq!(
            prep("\u{0627}\u{2800}\u{FE8F}"),
            Ok("\u{0627}\u{2800}\u{0628}".into())
        );
        // Khmer U+17B4 was L in 3.2.
        assert_eq!(
            prep("\u{0627}\u{17B4}\u{0627}"),
            Err(SaslprepError::Bidi(BidiRule::MixedDirections))
        );
    }

    /// Tables D.1 and D.2 as RFC 3454 has them, from the test data file.
    fn rfc3454_bidi_table(tag: &str) -> Vec<(u32, u32)> {
        include_str!("../tests/data/rfc3454-bidi.txt")
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let mut fields = line.split(' ');
                (fields.next() == Some(tag)).then(|| {
                    let lo = u32::from_str_radix(fields.next().unwrap(), 16).unwrap();
                    let hi = u32::from_str_radix(fields.next().unwrap(), 16).unwrap();
                    (lo, hi)
                })
            })
            .collect()
    }

    #[test]
    fn bidi_tables_match_rfc3454_wherever_they_matter() {
        let d1 = rfc3454_bidi_table("R");
        let d2 = rfc3454_bidi_table("L");
        assert_eq!(d1.len(), 34);
        assert!(d2.len() > 300);
        let contains =
            |table: &[(u32, u32)], cp: u32| table.iter().any(|&(lo, hi)| lo <= cp && cp <= hi);
        let mut checked = 0;
        let mut mismatches = Vec::new();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            // Only characters that survive mapping and the prohibition step reach the bidi check.
            if tables::non_ascii_space_character(c)
                || tables::commonly_mapped_to_nothing(c)
                || prohibited_table(c).is_some()
                || tables::unassigned_code_point(c)
            {
                continue;
            }
            let cp = u32::from(c);
            if is_randalcat(c) != contains(&d1, cp) {
                mismatches.push(format!("D.1 U+{cp:04X}"));
            }
            if is_lcat(c) != contains(&d2, cp) {
                mismatches.push(format!("D.2 U+{cp:04X}"));
            }
            checked += 1;
        }
        assert!(mismatches.is_empty(), "{mismatches:?}");
        assert!(checked > 90_000, "{checked}");
    }

    #[test]
    fn postgresql_002_saslprep_cases() {
        // (password set, password typed, login succeeds) from src/test/authentication.
        let cases: [(&[u8], &[u8], bool); 11] = [
            (b"IX", "I\u{00AD}X".as_bytes(), true),
            (b"IX", "\u{2168}".as_bytes(), true),
            (b"IX", b"ix", false),
            (b"a", b"a", true),
            (b"a", "\u{00AA}".as_bytes(), true),
            ("\u{00AA}".as_bytes(), b"a", true),
            ("\u{00AA}".as_bytes(), "\u{00AA}".as_bytes(), true),
            (b"foo\x07bar", b"foo\x07bar", true),
            (b"foo\x07bar", b"foobar", false),
            (
                "foo\u{0627}\u{0031}bar".as_bytes(),
                "foo\u{0627}\u{0031}bar".as_bytes(),
                true,
            ),
            (
                "foo\u{0627}\u{0031}bar".as_bytes(),
                "foo1\u{0627}bar".as_bytes(),
                false,
            ),
        ];
        for (stored, typed, same) in cases {
            assert_eq!(
                prepare_password(stored).as_bytes() == prepare_password(typed).as_bytes(),
                same,
                "{stored:?} vs {typed:?}"
            );
        }
        assert_ne!(
            prepare_password("foo\u{0627}\u{0031}bar".as_bytes()).as_bytes(),
            b"foobar"
        );
    }

    #[test]
    fn prepare_password_falls_back_to_raw_bytes() {
        // Invalid UTF-8: a lone continuation byte, an overlong '/', a UTF-8 surrogate.
        for raw in [&b"pass\x80word"[..], b"\xC0\xAF", b"\xED\xA0\x80", b"\xFF"] {
            assert_eq!(prepare_password(raw).as_bytes(), raw);
        }
        // Valid UTF-8 that SASLprep refuses.
        for raw in ["\u{00E9}\u{0007}", "\u{0627}a", "\u{00AD}", "\u{1F600}"] {
            assert_eq!(prepare_password(raw.as_bytes()).as_bytes(), raw.as_bytes());
        }
        // ASCII, including control characters, is used as it is.
        assert_eq!(prepare_password(b"a\x07b").as_bytes(), b"a\x07b");
        assert_eq!(prepare_password(b"").as_bytes(), b"");
    }

    #[test]
    fn prepare_password_normalizes_and_redacts() {
        let prepared = prepare_password("\u{2168}\u{00A0}pw".as_bytes());
        assert_eq!(&*prepared, b"IX pw");
        assert_eq!(prepared.as_ref(), b"IX pw");
        assert_eq!(format!("{prepared:?}"), "PreparedPassword(<redacted>)");
    }

    #[test]
    fn errors_name_one_code_point_not_the_input() {
        let secret = "hunter\u{00E9}\u{0007}";
        let err = saslprep(secret).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert_eq!(
            err.to_string(),
            "SASLprep: prohibited character U+0007 (RFC 3454 C.2.1, ASCII control character)"
        );
        assert_eq!(
            SaslprepError::Unassigned {
                code_point: '\u{1F600}'
            }
            .to_string(),
            "SASLprep: code point U+1F600 is unassigned in Unicode 3.2"
        );
        assert!(
            SaslprepError::Bidi(BidiRule::MixedDirections)
                .to_string()
                .contains("mixed")
        );
        assert!(SaslprepError::Empty.to_string().contains("nothing"));
    }
}
