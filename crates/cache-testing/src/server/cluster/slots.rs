//! Hash slots and the cluster's own view of itself: [`key_slot`] and the
//! parsing of `CLUSTER NODES` / `CLUSTER INFO`.

use std::collections::BTreeMap;

use super::super::RedisServer;
use super::super::admin::{parse_fields, try_command};

/// The number of hash slots of a Redis Cluster.
pub const CLUSTER_SLOTS: u16 = 16384;

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag (the
/// text between the first `{` and the next `}`, when not empty), modulo 16384.
///
/// ```
/// use cache_testing::server::key_slot;
/// assert_eq!(key_slot("foo"), 12182);
/// assert_eq!(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
/// ```
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16_xmodem(hashed) % CLUSTER_SLOTS
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// One line of `CLUSTER NODES`, as seen by one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NodeView {
    pub(super) id: String,
    pub(super) addr: String,
    pub(super) flags: Vec<String>,
    pub(super) primary_id: Option<String>,
    pub(super) link_connected: bool,
    pub(super) slots: Vec<(u16, u16)>,
}

impl NodeView {
    pub(super) fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub(super) fn is_primary(&self) -> bool {
        self.has_flag("master")
    }

    pub(super) fn is_failing(&self) -> bool {
        ["fail", "fail?", "handshake", "noaddr"]
            .iter()
            .any(|f| self.has_flag(f))
    }
}

/// The owner address of every served slot in `view`.
pub(super) fn slot_owners(view: &[NodeView]) -> BTreeMap<u16, String> {
    let mut owners = BTreeMap::new();
    for node in view.iter().filter(|n| n.is_primary()) {
        for &(from, to) in &node.slots {
            for slot in from..=to {
                owners.insert(slot, node.addr.clone());
            }
        }
    }
    owners
}

/// `CLUSTER INFO` of `node` as a map.
pub(super) fn cluster_info(node: &RedisServer) -> Result<BTreeMap<String, String>, String> {
    let reply = try_command(node, &["CLUSTER", "INFO"])?;
    Ok(parse_fields(&reply.as_text().unwrap_or_default()))
}

/// `CLUSTER NODES` of `node`, parsed.
pub(super) fn cluster_view(node: &RedisServer) -> Result<Vec<NodeView>, String> {
    let reply = try_command(node, &["CLUSTER", "NODES"])?;
    let text = reply
        .as_text()
        .ok_or_else(|| format!("{}: CLUSTER NODES answered {reply:?}", node.addr()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_node_line)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| format!("{}: cannot parse CLUSTER NODES:\n{text}", node.addr()))
}

/// Parses `<id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <link> <slot>...`.
fn parse_node_line(line: &str) -> Option<NodeView> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 8 {
        return None;
    }
    let addr = fields[1].split(['@', ',']).next()?.to_owned();
    let slots = fields[8..]
        .iter()
        // `[slot->-id]` / `[slot-<-id]` are migrations in progress, not ownership.
        .filter(|s| !s.starts_with('['))
        .map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .collect::<Option<Vec<(u16, u16)>>>()?;
    Some(NodeView {
        id: fields[0].to_owned(),
        addr,
        flags: fields[2].split(',').map(str::to_owned).collect(),
        primary_id: (fields[3] != "-").then(|| fields[3].to_owned()),
        link_connected: fields[7] == "connected",
        slots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slot_matches_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(key_slot("123456789"), 12739);
        assert_eq!(key_slot(""), 0);
    }

    #[test]
    fn key_slot_hashes_only_a_non_empty_tag() {
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(
            key_slot("foo{}{bar}"),
            crc16_xmodem(b"foo{}{bar}") % CLUSTER_SLOTS
        );
        assert_eq!(key_slot("foo{{bar}}zap"), key_slot("{bar"));
        assert_eq!(key_slot("foo{bar}{zap}"), key_slot("bar"));
    }

    #[test]
    fn parses_cluster_nodes_lines() {
        let primary = parse_node_line(
            "07c3 127.0.0.1:30004@31004,host master - 0 1426238317239 4 connected 0-10 12 [13->-abc]",
        )
        .unwrap();
        assert_eq!(primary.addr, "127.0.0.1:30004");
        assert!(primary.is_primary());
        assert_eq!(primary.slots, vec![(0, 10), (12, 12)]);
        assert!(primary.link_connected);
        let replica = parse_node_line(
            "e7d1 127.0.0.1:30005@31005 myself,slave 07c3 0 1426238316232 5 disconnected",
        )
        .unwrap();
        assert_eq!(replica.primary_id.as_deref(), Some("07c3"));
        assert!(!replica.link_connected);
        assert!(replica.slots.is_empty());
        assert!(parse_node_line("garbage").is_none());
    }
}
