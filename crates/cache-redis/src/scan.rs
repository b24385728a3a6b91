//! The opaque `scan_keys` cursor: which primary, and where in its keyspace.
//!
//! Printed as `<primary>:<cursor>`, where `<primary>` is the index in the
//! address-sorted list of primaries (always 0 outside a cluster) and
//! `<cursor>` is that server's own SCAN cursor. The empty string and `0` are
//! the start. A cluster whose set of primaries changes during an iteration
//! may see keys skipped or repeated, as with SCAN itself during a resharding.

use cache_core::ScanCursor;

/// Where an iteration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanPosition {
    /// Index into the sorted primaries.
    pub(crate) node: usize,
    /// That node's SCAN cursor.
    pub(crate) cursor: u64,
}

/// A cursor that this backend did not make.
#[derive(Debug, thiserror::Error)]
#[error("invalid scan cursor {0:?}: expected one returned by scan_keys, or \"0\" to start")]
pub(crate) struct InvalidCursor(pub(crate) String);

impl ScanPosition {
    /// The start of an iteration.
    pub(crate) const START: ScanPosition = ScanPosition { node: 0, cursor: 0 };

    /// Reads a cursor given by a caller.
    pub(crate) fn parse(cursor: &ScanCursor) -> Result<ScanPosition, InvalidCursor> {
        if cursor.is_start() {
            return Ok(ScanPosition::START);
        }
        let text = cursor.as_str();
        let invalid = || InvalidCursor(text.chars().take(64).collect());
        let (node, server) = text.split_once(':').ok_or_else(invalid)?;
        Ok(ScanPosition {
            node: node.parse().map_err(|_| invalid())?,
            cursor: server.parse().map_err(|_| invalid())?,
        })
    }

    /// The position after a SCAN of `self.node` answered `next` (0 = that
    /// node is done), out of `nodes` primaries; `None` when all are done.
    pub(crate) fn advance(self, next: u64, nodes: usize) -> Option<ScanPosition> {
        if next != 0 {
            Some(ScanPosition {
                node: self.node,
                cursor: next,
            })
        } else if self.node + 1 < nodes {
            Some(ScanPosition {
                node: self.node + 1,
                cursor: 0,
            })
        } else {
            None
        }
    }

    /// The printed cursor.
    pub(crate) fn to_cursor(self) -> ScanCursor {
        ScanCursor::from_string(format!("{}:{}", self.node, self.cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_forms_parse_as_the_start() {
        assert_eq!(
            ScanPosition::parse(&ScanCursor::start()).unwrap(),
            ScanPosition::START
        );
        assert_eq!(
            ScanPosition::parse(&ScanCursor::from_string("0")).unwrap(),
            ScanPosition::START
        );
    }

    #[test]
    fn cursors_round_trip() {
        let p = ScanPosition {
            node: 2,
            cursor: 1234,
        };
        assert_eq!(ScanPosition::parse(&p.to_cursor()).unwrap(), p);
    }

    #[test]
    fn foreign_cursors_are_invalid() {
        for bad in ["x", "1:", ":5", "a:b", "1:2:3", "-1:4"] {
            assert!(
                ScanPosition::parse(&ScanCursor::from_string(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn advancing_moves_to_the_next_node_then_ends() {
        let p = ScanPosition { node: 0, cursor: 7 };
        assert_eq!(p.advance(9, 3), Some(ScanPosition { node: 0, cursor: 9 }));
        assert_eq!(p.advance(0, 3), Some(ScanPosition { node: 1, cursor: 0 }));
        assert_eq!(ScanPosition { node: 2, cursor: 5 }.advance(0, 3), None);
        assert_eq!(ScanPosition::START.advance(0, 1), None);
    }
}
