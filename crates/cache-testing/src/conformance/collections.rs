//! Sets and hashes: [`Collections`], reached through `Cache::collections`;
//! what is particular to hashes is in `hashes.rs`.
//!
//! Every backend of the suite must have them. The checks expect the default
//! per-call limit ([`DEFAULT_MAX_PER_CALL`]). Field TTLs are checked against
//! what the backend reports: one that says it supports them must make them
//! work, one that says it does not must refuse them with `Unsupported`.

use std::collections::BTreeSet;
use std::time::Duration;

use cache_core::collections::{Collections, DEFAULT_MAX_PER_CALL};
use cache_core::{Bytes, Cache, ErrorKind, KeyTtl, ScanCursor};

use super::CacheFactory;
use super::support::{
    CheckError, CheckResult, EXPIRY_DEADLINE, Fixture, LONG_TTL, Outcome, ensure, eventually, fail,
    with_fixture,
};

/// A TTL a check waits for: short, yet long enough for the calls before the wait.
pub(super) const FIELD_TTL: Duration = Duration::from_millis(300);

/// The fixture's collections, or a failure: every backend of the suite has them.
pub(super) fn sets(fx: &Fixture) -> Result<&dyn Collections, CheckError> {
    fx.cache.collections().ok_or_else(|| {
        CheckError::new("collections(): expected the backend's sets and hashes, got None")
    })
}

/// Fails unless `got` is `expected`, naming `what`.
pub(super) fn expect_eq<T: PartialEq + std::fmt::Debug>(
    got: T,
    expected: T,
    what: &str,
) -> CheckResult {
    ensure!(
        got == expected,
        "{what}: expected {expected:?}, got {got:?}"
    );
    Ok(())
}

/// Fails unless the key's TTL is at most `given` (and not absent or none).
async fn expect_key_ttl_within(
    c: &dyn Cache,
    key: &str,
    given: Duration,
    when: &str,
) -> CheckResult {
    match c.ttl(key).await.must(&format!("ttl {when}"))? {
        KeyTtl::Remaining(left) if left <= given => Ok(()),
        other => fail!("ttl({key:?}) {when}: expected Remaining(at most {given:?}), got {other:?}"),
    }
}

/// A set counts, finds and removes its members; a member added twice is
/// there once; emptied, the set is gone as a key.
pub async fn check_sets_add_remove_contain_and_count(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let s = sets(&fx)?;
        let key = fx.ns.key("followers");
        let k = key.as_str();
        expect_eq(
            s.set_count(k).await.must("set_count of an absent set")?,
            0,
            "set_count of an absent set",
        )?;
        expect_eq(
            s.set_contains(k, b"ada").await.must("set_contains")?,
            false,
            "set_contains of an absent set",
        )?;
        let added = s
            .set_add(k, &[b"ada", b"grace", b"ada", b""], LONG_TTL)
            .await
            .must("set_add")?;
        expect_eq(
            added,
            3,
            "set_add of ada, grace, ada again and the empty member",
        )?;
        let added = s
            .set_add(k, &[b"grace", b"linus"], LONG_TTL)
            .await
            .must("set_add again")?;
        expect_eq(added, 1, "set_add of one present and one new member")?;
        expect_eq(s.set_count(k).await.must("set_count")?, 4, "set_count")?;
        for (member, there) in [(&b"ada"[..], true), (b"", true), (b"nobody", false)] {
            let got = s.set_contains(k, member).await.must("set_contains")?;
            expect_eq(
                got,
                there,
                &format!("set_contains({:?})", String::from_utf8_lossy(member)),
            )?;
        }
        let removed = s
            .set_remove(k, &[b"ada", b"nobody"])
            .await
            .must("set_remove")?;
        expect_eq(removed, 1, "set_remove of one member and one stranger")?;
        expect_eq(
            s.set_contains(k, b"ada").await.must("set_contains")?,
            false,
            "set_contains after set_remove",
        )?;
        s.set_remove(k, &[b"grace", b"linus", b""])
            .await
            .must("set_remove of the rest")?;
        expect_eq(
            fx.cache.exists(&[k]).await.must("exists")?,
            0,
            "exists of an emptied set",
        )?;
        expect_eq(
            s.set_remove(k, &[b"x"]).await.must("set_remove")?,
            0,
            "set_remove on an absent set",
        )
    })
    .await
}

/// `set_members` pages through a set larger than a page (and than one call
/// may write), listing every member and nothing else; cursors survive being
/// printed and parsed.
pub async fn check_set_members_pages_through_a_large_set(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let s = sets(&fx)?;
        let key = fx.ns.key("big");
        let members: Vec<Vec<u8>> = (0..2500)
            .map(|i| format!("member-{i:05}").into_bytes())
            .collect();
        for chunk in members.chunks(DEFAULT_MAX_PER_CALL) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            s.set_add(&key, &refs, LONG_TTL)
                .await
                .must("set_add of a chunk")?;
        }
        let mut listed: Vec<Bytes> = Vec::new();
        let mut cursor = ScanCursor::start();
        for page_no in 0.. {
            ensure!(
                page_no < 10_000,
                "set_members did not end after 10,000 pages"
            );
            let page = s
                .set_members(&key, &cursor, 100)
                .await
                .must(&format!("set_members page {page_no}"))?;
            listed.extend(page.members);
            match page.next {
                None => break,
                Some(next) => cursor = next.to_string().parse().unwrap_or_default(),
            }
        }
        let distinct: BTreeSet<&[u8]> = listed.iter().map(|m| m.as_ref()).collect();
        let expected: BTreeSet<&[u8]> = members.iter().map(Vec::as_slice).collect();
        ensure!(
            distinct == expected,
            "set_members of 2,500 members listed {} ({} distinct); missing {}, unexpected {}",
            listed.len(),
            distinct.len(),
            expected.difference(&distinct).count(),
            distinct.difference(&expected).count()
        );
        let none = s
            .set_members(&fx.ns.key("absent"), &ScanCursor::start(), 10)
            .await
            .must("set_members")?;
        ensure!(
            none.members.is_empty() && none.next.is_none(),
            "set_members of an absent set: expected an empty last page, got {none:?}"
        );
        Ok(())
    })
    .await
}

/// A write that creates a set or hash gives it the TTL; later writes keep
/// the key's TTL; the set expires with it.
pub async fn check_collections_get_a_ttl_and_keep_it(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let (c, s) = (&*fx.cache, sets(&fx)?);
        let set = fx.ns.key("set");
        let hash = fx.ns.key("hash");
        s.set_add(&set, &[b"a"], LONG_TTL).await.must("set_add")?;
        s.hash_set(&hash, &[("f", b"v")], LONG_TTL)
            .await
            .must("hash_set")?;
        for key in [&set, &hash] {
            expect_key_ttl_within(c, key, LONG_TTL, "after the write that created it").await?;
            c.expire(key, FIELD_TTL).await.must("expire")?;
        }
        s.set_add(&set, &[b"b"], LONG_TTL)
            .await
            .must("set_add again")?;
        s.hash_set(&hash, &[("g", b"w")], LONG_TTL)
            .await
            .must("hash_set again")?;
        s.hash_incr_by(&hash, "n", 1, LONG_TTL)
            .await
            .must("hash_incr_by")?;
        for key in [&set, &hash] {
            expect_key_ttl_within(c, key, FIELD_TTL, "after later writes with a longer TTL")
                .await?;
        }
        eventually(
            &fx,
            "the set to expire with its key",
            EXPIRY_DEADLINE,
            || async { Ok(s.set_count(&set).await.must("set_count")? == 0) },
        )
        .await?;
        eventually(
            &fx,
            "the hash to expire with its key",
            EXPIRY_DEADLINE,
            || async { Ok(s.hash_get_all(&hash).await.must("hash_get_all")?.is_empty()) },
        )
        .await
    })
    .await
}

/// A set or hash is one key for `Cache`'s key calls: listed, counted,
/// retimed, persisted and deleted.
pub async fn check_collections_are_keys_to_the_key_calls(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let (c, s) = (&*fx.cache, sets(&fx)?);
        let set = fx.ns.key("coll:set");
        let hash = fx.ns.key("coll:hash");
        s.set_add(&set, &[b"a"], LONG_TTL).await.must("set_add")?;
        s.hash_set(&hash, &[("f", b"v")], LONG_TTL)
            .await
            .must("hash_set")?;
        expect_eq(
            c.exists(&[&set, &hash]).await.must("exists")?,
            2,
            "exists of a set and a hash",
        )?;
        let page = c
            .scan_keys(&fx.ns.pattern("coll:*"), &ScanCursor::start(), 1000)
            .await
            .must("scan_keys")?;
        let mut listed = page.keys;
        listed.sort();
        let mut expected = vec![hash.clone(), set.clone()];
        expected.sort();
        // One page suffices outside a cluster; keep reading if there are more.
        let mut next = page.next;
        while let Some(cursor) = next {
            let page = c
                .scan_keys(&fx.ns.pattern("coll:*"), &cursor, 1000)
                .await
                .must("scan_keys")?;
            listed.extend(page.keys);
            next = page.next;
        }
        listed.sort();
        listed.dedup();
        expect_eq(listed, expected, "scan_keys of the namespace")?;
        expect_eq(
            c.persist(&set).await.must("persist")?,
            true,
            "persist of a set",
        )?;
        expect_eq(
            c.ttl(&set).await.must("ttl")?,
            KeyTtl::NoExpiry,
            "ttl of a persisted set",
        )?;
        expect_eq(
            c.delete(&set).await.must("delete")?,
            true,
            "delete of a set",
        )?;
        expect_eq(
            s.set_count(&set).await.must("set_count")?,
            0,
            "set_count after delete",
        )?;
        expect_eq(
            c.delete_pattern(&fx.ns.pattern("coll:*"))
                .await
                .must("delete_pattern")?,
            1,
            "delete_pattern of the hash",
        )?;
        expect_eq(
            s.hash_get_all(&hash).await.must("hash_get_all")?,
            vec![],
            "hash_get_all after delete_pattern",
        )
    })
    .await
}

/// Set calls on a plain value or a hash, hash calls on a plain value or a
/// set, and plain calls on either are wrong-type errors (a batch `get_many`
/// reads them as misses, as `MGET` does).
pub async fn check_collections_refuse_the_wrong_type(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let (c, s) = (&*fx.cache, sets(&fx)?);
        let (plain, set, hash) = (fx.ns.key("plain"), fx.ns.key("set"), fx.ns.key("hash"));
        let wrong = ErrorKind::WrongType;
        c.set(&plain, b"v", LONG_TTL).await.must("set")?;
        s.set_add(&set, &[b"m"], LONG_TTL).await.must("set_add")?;
        s.hash_set(&hash, &[("f", b"v")], LONG_TTL)
            .await
            .must("hash_set")?;
        for key in [&plain, &hash] {
            s.set_add(key, &[b"m"], LONG_TTL)
                .await
                .must_fail(wrong, "set_add on a value or hash")?;
            s.set_contains(key, b"m")
                .await
                .must_fail(wrong, "set_contains on a value or hash")?;
            s.set_count(key)
                .await
                .must_fail(wrong, "set_count on a value or hash")?;
            s.set_members(key, &ScanCursor::start(), 10)
                .await
                .must_fail(wrong, "set_members on a value or hash")?;
        }
        for key in [&plain, &set] {
            s.hash_set(key, &[("f", b"v")], LONG_TTL)
                .await
                .must_fail(wrong, "hash_set on a value or set")?;
            s.hash_get(key, &["f"])
                .await
                .must_fail(wrong, "hash_get on a value or set")?;
            s.hash_get_all(key)
                .await
                .must_fail(wrong, "hash_get_all on a value or set")?;
            s.hash_incr_by(key, "f", 1, LONG_TTL)
                .await
                .must_fail(wrong, "hash_incr_by on a value or set")?;
        }
        for key in [&set, &hash] {
            c.get(key).await.must_fail(wrong, "get of a set or hash")?;
            c.incr_by(key, 1, LONG_TTL)
                .await
                .must_fail(wrong, "incr_by of a set or hash")?;
        }
        let got = c.get_many(&[&set, &hash, &plain]).await.must("get_many")?;
        expect_eq(
            got,
            vec![None, None, Some(Bytes::from_static(b"v"))],
            "get_many of a set, a hash and a value",
        )?;
        // Nothing was changed by the refused calls.
        expect_eq(
            s.set_count(&set).await.must("set_count")?,
            1,
            "the set after refused calls",
        )
    })
    .await
}

/// A call over the per-call limit, an empty field name,
/// an invalid key or TTL is refused before anything is written.
pub async fn check_collections_refuse_invalid_calls(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let (c, s) = (&*fx.cache, sets(&fx)?);
        let key = fx.ns.key("limits");
        let k = key.as_str();
        let too_many: Vec<Vec<u8>> = (0..=DEFAULT_MAX_PER_CALL)
            .map(|i| i.to_string().into_bytes())
            .collect();
        let members: Vec<&[u8]> = too_many.iter().map(Vec::as_slice).collect();
        let names: Vec<String> = (0..=DEFAULT_MAX_PER_CALL)
            .map(|i| format!("f{i}"))
            .collect();
        let fields: Vec<&str> = names.iter().map(String::as_str).collect();
        let entries: Vec<(&str, &[u8])> = fields.iter().map(|f| (*f, &b"v"[..])).collect();
        let over = ErrorKind::ValueTooLarge;
        let e = s
            .set_add(k, &members, LONG_TTL)
            .await
            .must_fail(over, "set_add of one member too many")?;
        ensure!(
            e.to_string().contains("is more than the limit of"),
            "set_add of one member too many: expected the limit wording, got \"{e}\""
        );
        s.set_remove(k, &members)
            .await
            .must_fail(over, "set_remove of one member too many")?;
        s.hash_set(k, &entries, LONG_TTL)
            .await
            .must_fail(over, "hash_set of one field too many")?;
        s.hash_get(k, &fields)
            .await
            .must_fail(over, "hash_get of one field too many")?;
        s.hash_delete(k, &fields)
            .await
            .must_fail(over, "hash_delete of one field too many")?;
        let invalid = ErrorKind::InvalidKey;
        s.hash_set(k, &[("", b"v")], LONG_TTL)
            .await
            .must_fail(invalid, "hash_set of an empty field name")?;
        s.set_add("", &[b"m"], LONG_TTL)
            .await
            .must_fail(invalid, "set_add on an empty key")?;
        s.hash_get("", &["f"])
            .await
            .must_fail(invalid, "hash_get on an empty key")?;
        let zero = Duration::ZERO;
        s.set_add(k, &[b"m"], zero)
            .await
            .must_fail(ErrorKind::InvalidTtl, "set_add with a zero TTL")?;
        s.hash_set(k, &[("f", b"v")], zero)
            .await
            .must_fail(ErrorKind::InvalidTtl, "hash_set with a zero TTL")?;
        expect_eq(
            c.exists(&[k]).await.must("exists")?,
            0,
            "exists after refused calls",
        )
    })
    .await
}

/// After `close`, every collection call is refused as closed.
pub async fn check_closed_cache_refuses_collection_calls(
    factory: &dyn CacheFactory,
) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let s = sets(&fx)?;
        let key = fx.ns.key("k");
        let k = key.as_str();
        fx.cache.close().await.must("close")?;
        let closed = ErrorKind::Closed;
        s.set_add(k, &[b"m"], LONG_TTL)
            .await
            .must_fail(closed, "set_add after close")?;
        s.set_remove(k, &[b"m"])
            .await
            .must_fail(closed, "set_remove after close")?;
        s.set_contains(k, b"m")
            .await
            .must_fail(closed, "set_contains after close")?;
        s.set_count(k)
            .await
            .must_fail(closed, "set_count after close")?;
        s.set_members(k, &ScanCursor::start(), 10)
            .await
            .must_fail(closed, "set_members after close")?;
        s.hash_set(k, &[("f", b"v")], LONG_TTL)
            .await
            .must_fail(closed, "hash_set after close")?;
        s.hash_get(k, &["f"])
            .await
            .must_fail(closed, "hash_get after close")?;
        s.hash_get_all(k)
            .await
            .must_fail(closed, "hash_get_all after close")?;
        s.hash_delete(k, &["f"])
            .await
            .must_fail(closed, "hash_delete after close")?;
        s.hash_incr_by(k, "f", 1, LONG_TTL)
            .await
            .must_fail(closed, "hash_incr_by after close")?;
        s.hash_expire_fields(k, &["f"], LONG_TTL)
            .await
            .must_fail(closed, "hash_expire_fields after close")?;
        s.hash_field_ttl(k, &["f"])
            .await
            .must_fail(closed, "hash_field_ttl after close")?;
        s.hash_persist_fields(k, &["f"])
            .await
            .must_fail(closed, "hash_persist_fields after close")?;
        Ok(())
    })
    .await
}
