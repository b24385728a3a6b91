//! Hashes: fields, counters and field TTLs (see `collections.rs` for the
//! rules shared with sets).

use cache_core::{Bytes, ErrorKind, KeyTtl};
use std::time::Duration;

use super::CacheFactory;
use super::collections::{FIELD_TTL, expect_eq, sets};
use super::support::{
    CheckResult, EXPIRY_DEADLINE, LONG_TTL, Outcome, RACERS, eventually, fail, join_all,
    with_fixture,
};

/// A hash stores, replaces, lists and deletes fields; emptied, it is gone.
pub async fn check_hashes_set_get_and_delete_fields(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let s = sets(&fx)?;
        let key = fx.ns.key("prefs");
        let k = key.as_str();
        let got = s
            .hash_get(k, &["theme"])
            .await
            .must("hash_get of an absent hash")?;
        expect_eq(got, vec![None], "hash_get of an absent hash")?;
        expect_eq(
            s.hash_get_all(k).await.must("hash_get_all")?,
            vec![],
            "hash_get_all of an absent hash",
        )?;
        let new = s
            .hash_set(k, &[("theme", b"dark"), ("lang", b"en")], LONG_TTL)
            .await
            .must("hash_set")?;
        expect_eq(new, 2, "hash_set of two new fields")?;
        let new = s
            .hash_set(k, &[("theme", b"light"), ("tz", b"")], LONG_TTL)
            .await
            .must("hash_set again")?;
        expect_eq(new, 1, "hash_set of one present and one new field")?;
        let got = s
            .hash_get(k, &["tz", "missing", "theme"])
            .await
            .must("hash_get")?;
        let light = Some(Bytes::from_static(b"light"));
        expect_eq(
            got,
            vec![Some(Bytes::new()), None, light.clone()],
            "hash_get in order",
        )?;
        let mut all = s.hash_get_all(k).await.must("hash_get_all")?;
        all.sort();
        let expected = vec![
            ("lang".to_owned(), Bytes::from_static(b"en")),
            ("theme".to_owned(), Bytes::from_static(b"light")),
            ("tz".to_owned(), Bytes::new()),
        ];
        expect_eq(all, expected, "hash_get_all")?;
        expect_eq(
            s.hash_delete(k, &["lang", "missing"])
                .await
                .must("hash_delete")?,
            1,
            "hash_delete of one field and a stranger",
        )?;
        s.hash_delete(k, &["theme", "tz"])
            .await
            .must("hash_delete of the rest")?;
        expect_eq(
            fx.cache.exists(&[k]).await.must("exists")?,
            0,
            "exists of an emptied hash",
        )
    })
    .await
}

/// `hash_incr_by` counts from zero in decimal text, refuses a field that is
/// not a counter and an overflow, and is atomic.
pub async fn check_hash_incr_by_counts_atomically(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let s = sets(&fx)?;
        let key = fx.ns.key("counters");
        let k = key.as_str();
        expect_eq(
            s.hash_incr_by(k, "n", 5, LONG_TTL)
                .await
                .must("hash_incr_by")?,
            5,
            "hash_incr_by from nothing",
        )?;
        expect_eq(
            s.hash_incr_by(k, "n", -7, LONG_TTL)
                .await
                .must("hash_incr_by")?,
            -2,
            "hash_incr_by of -7",
        )?;
        let got = s.hash_get(k, &["n"]).await.must("hash_get")?;
        expect_eq(
            got,
            vec![Some(Bytes::from_static(b"-2"))],
            "the counter field as text",
        )?;
        s.hash_set(
            k,
            &[("text", b"abc"), ("max", i64::MAX.to_string().as_bytes())],
            LONG_TTL,
        )
        .await
        .must("hash_set")?;
        s.hash_incr_by(k, "text", 1, LONG_TTL)
            .await
            .must_fail(ErrorKind::WrongType, "hash_incr_by of a text field")?;
        s.hash_incr_by(k, "max", 1, LONG_TTL)
            .await
            .must_fail(ErrorKind::Overflow, "hash_incr_by past i64::MAX")?;
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let (cache, key) = (fx.cache.clone(), key.clone());
                tokio::spawn(async move {
                    let s = cache.collections().expect("checked above");
                    s.hash_incr_by(&key, "raced", 1, LONG_TTL).await
                })
            })
            .collect();
        for result in join_all(racers, "hash_incr_by racers").await? {
            result.must("a racing hash_incr_by")?;
        }
        let got = s.hash_get(k, &["raced"]).await.must("hash_get")?;
        expect_eq(
            got,
            vec![Some(Bytes::from(RACERS.to_string()))],
            "the field after concurrent increments",
        )
    })
    .await
}

/// Field TTLs work where the backend says they do: a field expires on its
/// own, `hash_field_ttl` tells absent, no expiry and remaining apart,
/// `hash_persist_fields` keeps a field, `hash_set` clears a field's TTL and
/// `hash_incr_by` keeps it. Where it says they do not, the
/// three calls are `Unsupported`.
pub async fn check_hash_field_ttl_works_where_supported(factory: &dyn CacheFactory) -> CheckResult {
    with_fixture(factory, |fx| async move {
        let s = sets(&fx)?;
        let key = fx.ns.key("fields");
        let k = key.as_str();
        s.hash_set(k, &[("a", b"1"), ("b", b"2"), ("c", b"3")], LONG_TTL).await.must("hash_set")?;
        if !s.supports_field_ttl() {
            let unsupported = ErrorKind::Unsupported;
            s.hash_expire_fields(k, &["a"], LONG_TTL).await.must_fail(unsupported, "hash_expire_fields where supports_field_ttl() is false")?;
            s.hash_field_ttl(k, &["a"]).await.must_fail(unsupported, "hash_field_ttl where supports_field_ttl() is false")?;
            s.hash_persist_fields(k, &["a"]).await.must_fail(unsupported, "hash_persist_fields where supports_field_ttl() is false")?;
            return Ok(());
        }
        let set = s.hash_expire_fields(k, &["a", "b", "missing"], LONG_TTL).await.must("hash_expire_fields")?;
        expect_eq(set, vec![true, true, false], "hash_expire_fields of two fields and a stranger")?;
        let ttls = s.hash_field_ttl(k, &["a", "c", "missing"]).await.must("hash_field_ttl")?;
        match ttls.as_slice() {
            [KeyTtl::Remaining(left), KeyTtl::NoExpiry, KeyTtl::Absent] if *left <= LONG_TTL => {}
            other => fail!("hash_field_ttl of a field with a TTL, one without and a stranger: expected [Remaining(at most {LONG_TTL:?}), NoExpiry, Absent], got {other:?}"),
        }
        let persisted = s.hash_persist_fields(k, &["b", "c"]).await.must("hash_persist_fields")?;
        expect_eq(persisted, vec![true, false], "hash_persist_fields of a field with a TTL and one without")?;
        expect_eq(s.hash_field_ttl(k, &["b"]).await.must("hash_field_ttl")?, vec![KeyTtl::NoExpiry], "hash_field_ttl after persist")?;
        // Written again, a field loses its TTL (HSET); incremented, it keeps it (HINCRBY).
        s.hash_expire_fields(k, &["b"], LONG_TTL).await.must("hash_expire_fields")?;
        s.hash_set(k, &[("b", b"2")], LONG_TTL).await.must("hash_set")?;
        s.hash_set(k, &[("n", b"0")], LONG_TTL).await.must("hash_set")?;
        s.hash_expire_fields(k, &["n"], LONG_TTL).await.must("hash_expire_fields")?;
        s.hash_incr_by(k, "n", 1, LONG_TTL).await.must("hash_incr_by")?;
        match s.hash_field_ttl(k, &["b", "n"]).await.must("hash_field_ttl")?.as_slice() {
            [KeyTtl::NoExpiry, KeyTtl::Remaining(_)] => {}
            other => fail!("hash_field_ttl of a field written again and one incremented: expected [NoExpiry, Remaining(_)], got {other:?}"),
        }
        s.hash_delete(k, &["n"]).await.must("hash_delete")?;
        s.hash_expire_fields(k, &["a"], FIELD_TTL).await.must("hash_expire_fields short")?;
        eventually(&fx, "field a to expire on its own", EXPIRY_DEADLINE, || async {
            Ok(s.hash_get(k, &["a"]).await.must("hash_get")? == vec![None])
        })
        .await?;
        let rest = s.hash_get(k, &["b", "c"]).await.must("hash_get")?;
        let expected = vec![Some(Bytes::from_static(b"2")), Some(Bytes::from_static(b"3"))];
        expect_eq(rest, expected, "the other fields after one expired")?;
        let mut all = s.hash_get_all(k).await.must("hash_get_all")?;
        all.sort();
        expect_eq(all.len(), 2, "hash_get_all after a field expired")?;
        let again = s.hash_expire_fields(k, &["a"], LONG_TTL).await.must("hash_expire_fields")?;
        expect_eq(again, vec![false], "hash_expire_fields of an expired field")?;
        s.hash_expire_fields(k, &["b"], Duration::ZERO).await.must_fail(ErrorKind::InvalidTtl, "hash_expire_fields with a zero TTL")?;
        Ok(())
    })
    .await
}
