//! Tags: FusionCache's `Set(…, tags)` and `RemoveByTag`, by lazy tag stamps.
//!
//! A tag `t` has a *stamp* at [`TAG_KEY_PREFIX`]`t` in the aside's cache: 8
//! random bytes. A tagged value records each of its tags with the stamp it
//! had when the load began (the stamps are read, and created where absent,
//! before the loader runs). A read of a tagged value takes it only if every
//! stamp is unchanged (a call naming tags reads their stamps with the value
//! in one `get_many`; the stamps of other tags the value carries are read in
//! one more); otherwise it is a miss (`tag_invalidated`), reloaded and
//! stored with the current stamps. [`CacheAside::invalidate_tags`] deletes
//! the stamps (one `delete_many`): every value recorded against them misses
//! from then on; nothing is scanned, no set of keys is kept.
//!
//! Why stamps and not timestamps or versions: an absent stamp (never made,
//! expired, evicted, deleted by an invalidation) never matches, so losing a
//! tag key can only cause reloads, never bring an invalidated value back; a
//! random stamp cannot come round again as a counter restarted after an
//! eviction can; and nothing compares clocks across instances. Over a
//! [`NearCache`](crate::invalidation::NearCache) the stamps are read from its
//! local level, and an invalidation on one instance reaches the others by the
//! near cache's own invalidation of the deleted tag keys.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::CacheAside;
use super::envelope::{Entry, Stamp};
use cache_core::error::CacheError;
use cache_core::key::validate_key;

/// Where a tag's stamp lives: this prefix, then the tag.
pub const TAG_KEY_PREFIX: &str = "__aside:tag:";

/// Tags one value may carry at most.
pub const MAX_TAGS: usize = 32;

/// A tag's length in bytes at most.
pub const MAX_TAG_LEN: usize = 200;

/// The default [`tag_ttl`](CacheAside::tag_ttl): one day.
pub const DEFAULT_TAG_TTL: Duration = Duration::from_secs(24 * 3600);

/// A stamp longer than this (a foreign value at a tag key) is refused.
const MAX_STAMP_LEN: usize = 255;

/// Tags with their current stamps (`None`: absent), read beside values.
pub(super) type KnownStamps = Vec<(String, Option<Bytes>)>;

fn tag_key(tag: &str) -> String {
    format!("{TAG_KEY_PREFIX}{tag}")
}

/// The tags of one call, checked and without duplicates (`None`: untagged).
pub(super) fn checked_tags<S: AsRef<str>>(tags: &[S]) -> Result<Option<Arc<[String]>>, CacheError> {
    if tags.is_empty() {
        return Ok(None);
    }
    let mut checked: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.as_ref();
        if tag.is_empty() || tag.len() > MAX_TAG_LEN {
            return Err(CacheError::invalid_key(
                tag,
                format!("a tag is 1 to {MAX_TAG_LEN} bytes"),
            ));
        }
        validate_key(&tag_key(tag))?;
        checked.push(tag.to_owned());
    }
    checked.sort_unstable();
    checked.dedup();
    if checked.len() > MAX_TAGS {
        return Err(CacheError::invalid_key(
            &checked[MAX_TAGS],
            format!("a value carries at most {MAX_TAGS} tags"),
        ));
    }
    Ok(Some(checked.into()))
}

impl CacheAside {
    cache_core::setters! {
        /// How long a tag's stamp is kept (default [`DEFAULT_TAG_TTL`]). A
        /// value that outlives the stamps of its tags is reloaded once, so
        /// give it at least the longest TTL of tagged values; each tag costs
        /// one small key for that long.
        tag_ttl: Duration;
    }

    /// Drops every value tagged `tag`, on every instance: see
    /// [`invalidate_tags`](Self::invalidate_tags).
    ///
    /// # Errors
    /// As [`invalidate_tags`](Self::invalidate_tags).
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), CacheError> {
        self.invalidate_tags(&[tag]).await
    }

    /// Drops every value carrying one of `tags` (FusionCache's
    /// `RemoveByTag`), in this aside's cache (its namespace or tenant): one
    /// `delete_many` of the tags' stamps. From then on a read of such a
    /// value on any instance is a miss, and reloads; over a
    /// [`NearCache`](crate::invalidation::NearCache), other instances follow
    /// once its invalidation of the stamps reaches them. Values are not
    /// deleted: they expire by their TTLs.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidKey`](cache_core::ErrorKind::InvalidKey) for a tag
    /// that is empty, longer than [`MAX_TAG_LEN`] or not a valid key, or more
    /// than [`MAX_TAGS`] of them; the cache's error otherwise.
    pub async fn invalidate_tags(&self, tags: &[&str]) -> Result<(), CacheError> {
        let Some(tags) = checked_tags(tags)? else {
            return Ok(());
        };
        let keys: Vec<String> = tags.iter().map(|t| tag_key(t)).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.cache.delete_many(&keys).await?;
        tracing::debug!(tags = ?tags, "tags invalidated");
        Ok(())
    }

    /// The current stamps of this call's tags, made where absent: read
    /// before a load, recorded with what it stores.
    pub(super) async fn tag_stamps(&self) -> Result<Vec<Stamp>, CacheError> {
        let Some(tags) = &self.tags else {
            return Ok(Vec::new());
        };
        let keys: Vec<String> = tags.iter().map(|t| tag_key(t)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let current = self.cache.get_many(&refs).await?;
        let mut stamps = Vec::with_capacity(tags.len());
        for ((tag, key), current) in tags.iter().zip(&keys).zip(current) {
            let stamp = match current {
                Some(stamp) => stamp,
                None => {
                    let made = rand::random::<u64>().to_be_bytes();
                    // The first to make it wins; everybody records its stamp.
                    let (stamp, _) = self.cache.get_or_set(key, &made, self.tag_ttl).await?;
                    stamp
                }
            };
            if stamp.len() > MAX_STAMP_LEN {
                return Err(CacheError::wrong_type(key, "a tag stamp"));
            }
            stamps.push(Stamp {
                tag: tag.clone(),
                stamp,
            });
        }
        Ok(stamps)
    }

    /// The keys of the stamps of this call's tags, to read beside values.
    pub(super) fn named_tag_keys(&self) -> Vec<String> {
        self.tags
            .iter()
            .flat_map(|tags| tags.iter().map(|t| tag_key(t)))
            .collect()
    }

    /// This call's tags with their stamps as read at [`named_tag_keys`](Self::named_tag_keys).
    pub(super) fn known_stamps(&self, read: Vec<Option<Bytes>>) -> KnownStamps {
        self.tags
            .iter()
            .flat_map(|tags| tags.iter().cloned())
            .zip(read)
            .collect()
    }

    /// Replaces each tagged entry one of whose tags was invalidated since it
    /// was stored by `None` (a miss), counting it. The stamps are taken from
    /// `known`, and those of other tags among `entries` read in one
    /// `get_many` (none when every tag is known or no entry is tagged).
    pub(super) async fn drop_tag_invalidated(
        &self,
        entries: &mut [Option<Entry>],
        known: &[(String, Option<Bytes>)],
    ) -> Result<(), CacheError> {
        if entries.iter().all(|e| stamps_of(e).is_empty()) {
            return Ok(());
        }
        let known_now = |tag: &str| {
            known
                .iter()
                .find(|(known, _)| known == tag)
                .map(|(_, now)| now.as_ref())
        };
        let mut keys: Vec<String> = entries
            .iter()
            .flat_map(stamps_of)
            .filter(|s| known_now(&s.tag).is_none())
            .map(|s| tag_key(&s.tag))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let read = if keys.is_empty() {
            Vec::new()
        } else {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.cache.get_many(&refs).await?
        };
        let stamp_now = |tag: &str| {
            known_now(tag).unwrap_or_else(|| {
                keys.binary_search_by(|k| k[TAG_KEY_PREFIX.len()..].cmp(tag))
                    .ok()
                    .and_then(|i| read.get(i)?.as_ref())
            })
        };
        let holds: Vec<bool> = entries
            .iter()
            .map(|e| {
                stamps_of(e)
                    .iter()
                    .all(|s| stamp_now(&s.tag) == Some(&s.stamp))
            })
            .collect();
        for (entry, holds) in entries.iter_mut().zip(holds) {
            if !holds {
                *entry = None;
                self.tally(&self.shared.counters.tag_invalidated, "tag_invalidated");
            }
        }
        Ok(())
    }
}

/// The stamps an entry recorded (none for an untagged one or no entry).
fn stamps_of(entry: &Option<Entry>) -> &[Stamp] {
    match entry {
        Some(Entry::Value { stamps, .. }) => stamps,
        _ => &[],
    }
}
