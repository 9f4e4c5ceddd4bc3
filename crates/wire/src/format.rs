//! Small value types shared by several messages: the text/binary format code and
//! type OIDs.

use crate::DecodeError;

/// A PostgreSQL type OID (`pg_type.oid`), e.g. 25 for `text`.
pub type Oid = u32;

/// How a value travels: PostgreSQL's text output, or the type's binary send format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Code 0: the type's text output, the default.
    #[default]
    Text,
    /// Code 1: the type's binary send format.
    Binary,
}

impl Format {
    /// The Int16 code on the wire.
    pub fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
        }
    }

    /// Only 0 and 1 exist; anything else is PostgreSQL's `unsupported format code`.
    pub fn from_code(code: i16) -> Result<Format, DecodeError> {
        match code {
            0 => Ok(Format::Text),
            1 => Ok(Format::Binary),
            other => Err(DecodeError::UnsupportedFormatCode(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        for format in [Format::Text, Format::Binary] {
            assert_eq!(Format::from_code(format.code()), Ok(format));
        }
        assert_eq!(
            Format::from_code(2),
            Err(DecodeError::UnsupportedFormatCode(2))
        );
        assert_eq!(
            Format::from_code(-1),
            Err(DecodeError::UnsupportedFormatCode(-1))
        );
        assert_eq!(Format::default(), Format::Text);
    }
}
