//! Cache-aside's tags (`EntryOptions::tags`, `invalidate_tag`) and `clear`,
//! on one instance and across two instances with near caches, over a shared
//! `MemoryCache` and over a real redis-server started by
//! `cache_testing::server` on a free loopback port.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, ErrorKind, Operation};
use cache_memory::MemoryCache;
use cache_patterns::aside::{CacheAside, EntryOptions, MAX_TAGS, TAG_KEY_PREFIX};
use cache_patterns::invalidation::NearCache;
use cache_redis::{RedisCache, RedisConfig, RedisMode};
use cache_testing::server::{RedisCluster, RedisServer, key_slot};
use cache_testing::wait::eventually;

const TTL: Duration = Duration::from_secs(120);
/// Long: only an invalidation may end a local copy within a test.
const LOCAL_TTL: Duration = Duration::from_secs(600);

type Loaded = Result<String, std::io::Error>;

fn tagged(tags: &[&str]) -> EntryOptions {
    EntryOptions::new(TTL).tags(tags.iter().copied())
}

/// Reads `key` through `aside`; a miss loads `fresh` (stored under `options`).
async fn read(aside: &CacheAside, key: &str, options: &EntryOptions, fresh: &str) -> String {
    let fresh = fresh.to_owned();
    aside
        .get_or_load_with(key, options, move || async move { Loaded::Ok(fresh) })
        .await
        .unwrap()
}

/// Reads `key` through `aside`, which must hold it (the loader fails).
async fn cached(aside: &CacheAside, key: &str) -> String {
    aside
        .get_or_load(key, TTL, || async {
            Loaded::Err(std::io::Error::other("a hit was expected"))
        })
        .await
        .unwrap()
}

fn memory() -> Arc<dyn Cache> {
    Arc::new(MemoryCache::new())
}

#[tokio::test]
async fn invalidate_tag_drops_every_value_carrying_it_and_no_other() {
    let aside = CacheAside::new(memory());
    read(&aside, "a", &tagged(&["t1"]), "a1").await;
    read(&aside, "b", &tagged(&["t1", "t2"]), "b1").await;
    read(&aside, "c", &tagged(&["t2"]), "c1").await;
    read(&aside, "d", &EntryOptions::new(TTL), "d1").await;

    aside.invalidate_tag("t1").await.unwrap();

    assert_eq!(read(&aside, "a", &tagged(&["t1"]), "a2").await, "a2");
    assert_eq!(read(&aside, "b", &tagged(&["t1", "t2"]), "b2").await, "b2");
    assert_eq!(cached(&aside, "c").await, "c1");
    assert_eq!(cached(&aside, "d").await, "d1");
    // Reloaded under the new stamps: hits again.
    assert_eq!(cached(&aside, "a").await, "a2");
    let stats = aside.stats();
    assert_eq!((stats.loads, stats.tag_invalidated), (6, 4), "{stats:?}");
}

#[tokio::test]
async fn a_value_set_with_tags_is_dropped_by_invalidate_tags() {
    let aside = CacheAside::new(memory());
    aside
        .set("user:1", &"Ada".to_owned(), &tagged(&["user:1", "org:7"]))
        .await
        .unwrap();
    aside
        .set("user:2", &"Grace".to_owned(), &tagged(&["org:8"]))
        .await
        .unwrap();
    assert_eq!(
        cached(&aside, "user:1").await,
        "Ada",
        "an untagged read checks the tags too"
    );

    aside.invalidate_tags(&["org:7", "org:8"]).await.unwrap();

    assert_eq!(
        read(&aside, "user:1", &tagged(&["org:7"]), "Ada L.").await,
        "Ada L."
    );
    assert_eq!(
        read(&aside, "user:2", &tagged(&["org:8"]), "Grace H.").await,
        "Grace H."
    );
}

#[tokio::test]
async fn a_load_that_overlaps_an_invalidation_of_its_tag_is_not_kept() {
    let aside = CacheAside::new(memory());
    let during = aside.clone();
    let got: String = aside
        .get_or_load_with("report", &tagged(&["sales"]), move || async move {
            // The source changes and the tag is invalidated while this load
            // runs: what it read may be the old data.
            during.invalidate_tag("sales").await.unwrap();
            Loaded::Ok("old data".into())
        })
        .await
        .unwrap();
    assert_eq!(got, "old data", "the caller gets what its loader returned");
    assert_eq!(
        read(&aside, "report", &tagged(&["sales"]), "new data").await,
        "new data",
        "but the stored value was recorded against the stamp before the invalidation"
    );
}

#[tokio::test]
async fn a_hit_naming_its_tags_reads_the_value_and_their_stamps_in_one_call() {
    let memory = Arc::new(MemoryCache::new());
    let aside = CacheAside::new(memory.clone());
    let options = tagged(&["a", "b", "c"]);
    read(&aside, "k", &options, "v").await;
    let ops = |op| memory.stats().ops(op);
    let (gets, batches) = (ops(Operation::Get), ops(Operation::GetMany));
    assert_eq!(read(&aside, "k", &options, "unused").await, "v");
    assert_eq!(
        (
            ops(Operation::Get) - gets,
            ops(Operation::GetMany) - batches
        ),
        (0, 1),
        "one get_many"
    );
    assert_eq!(cached(&aside, "k").await, "v");
    assert_eq!(
        (
            ops(Operation::Get) - gets,
            ops(Operation::GetMany) - batches
        ),
        (1, 2),
        "not naming them: a get, then a get_many of the stamps"
    );
}

#[tokio::test]
async fn tags_a_value_carries_but_a_call_does_not_name_are_checked_too() {
    let aside = CacheAside::new(memory());
    read(&aside, "k", &tagged(&["named", "other"]), "v1").await;
    aside.invalidate_tag("other").await.unwrap();
    assert_eq!(read(&aside, "k", &tagged(&["named"]), "v2").await, "v2");
}

#[tokio::test]
async fn a_lost_tag_stamp_causes_a_reload_never_an_old_value() {
    let cache = memory();
    let aside = CacheAside::new(cache.clone());
    read(&aside, "k", &tagged(&["t"]), "v1").await;
    // The tag key evicted or expired: what was recorded against it is gone.
    assert!(cache.delete(&format!("{TAG_KEY_PREFIX}t")).await.unwrap());
    assert_eq!(read(&aside, "k", &tagged(&["t"]), "v2").await, "v2");
    assert_eq!(cached(&aside, "k").await, "v2");
}

#[tokio::test]
async fn tags_work_with_a_soft_ttl_and_eager_refresh_envelopes() {
    let aside = CacheAside::new(memory())
        .soft_ttl(Duration::from_secs(60))
        .eager_refresh_threshold(0.5);
    read(&aside, "k", &tagged(&["t"]), "v1").await;
    assert_eq!(cached(&aside, "k").await, "v1");
    aside.invalidate_tag("t").await.unwrap();
    assert_eq!(read(&aside, "k", &tagged(&["t"]), "v2").await, "v2");
}

#[tokio::test]
async fn get_many_or_load_with_tags_reloads_only_the_invalidated_keys() {
    let aside = CacheAside::new(memory());
    let load = |keys: &[&str], options: EntryOptions, round: u32| {
        let aside = aside.clone();
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        async move {
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            aside
                .get_many_or_load_with(&refs, &options, move |missing: Vec<String>| async move {
                    Ok::<_, std::io::Error>(
                        missing
                            .into_iter()
                            .map(|k| {
                                let v = format!("{k}@{round}");
                                (k, v)
                            })
                            .collect::<HashMap<_, _>>(),
                    )
                })
                .await
                .unwrap()
        }
    };
    load(&["a", "b"], tagged(&["t"]), 1).await;
    load(&["c"], tagged(&["u"]), 1).await;
    aside.invalidate_tag("t").await.unwrap();
    let got = load(&["a", "b", "c"], tagged(&["t"]), 2).await;
    let expected: HashMap<String, String> = [("a", "a@2"), ("b", "b@2"), ("c", "c@1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(aside.stats().tag_invalidated, 2);
}

#[tokio::test]
async fn tags_out_of_bounds_are_a_typed_error() {
    let aside = CacheAside::new(memory());
    let empty = aside
        .get_or_load_with("k", &tagged(&[""]), || async { Loaded::Ok("v".into()) })
        .await
        .unwrap_err();
    assert_eq!(
        empty.cache_error().map(|e| e.kind()),
        Some(ErrorKind::InvalidKey)
    );
    let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
    let err = aside
        .set("k", &1u8, &EntryOptions::new(TTL).tags(many))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    let long = "x".repeat(cache_patterns::aside::MAX_TAG_LEN + 1);
    let err = aside.invalidate_tag(&long).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    // The same tag twice is one tag.
    let twice: Vec<String> = std::iter::repeat_n("t".to_owned(), MAX_TAGS + 1).collect();
    aside
        .set("k", &1u8, &EntryOptions::new(TTL).tags(twice))
        .await
        .unwrap();
}

/// One instance: a near cache over its connection to the shared backend,
/// and a clearable cache-aside over the near cache that follows its bus.
struct Instance {
    near: Arc<NearCache>,
    aside: CacheAside,
}

async fn instance(shared: Arc<dyn Cache>, follow: bool) -> Instance {
    let near = Arc::new(
        NearCache::start(memory(), shared, "tags-test:", LOCAL_TTL)
            .await
            .unwrap(),
    );
    let mut aside =
        CacheAside::new(near.clone() as Arc<dyn Cache>).clearable(Duration::from_secs(3600));
    if follow {
        aside = aside.follow_invalidations(near.bus());
    }
    Instance { near, aside }
}

/// Two instances following their buses, over these connections to the
/// shared backend.
async fn two_instances(a: Arc<dyn Cache>, b: Arc<dyn Cache>) -> (Instance, Instance) {
    (instance(a, true).await, instance(b, true).await)
}

/// Invalidating a tag on A: B's next read of every value with that tag
/// misses and reloads (once the bus brought A's invalidation), and B still
/// hits the values without it, from its local level.
async fn tag_invalidation_reaches_the_other_instance(a: Instance, b: Instance) {
    let t = tagged(&["team:1"]);
    let u = tagged(&["team:2"]);
    let untagged = EntryOptions::new(TTL);
    read(&a.aside, "k1", &t, "k1-v1").await;
    read(&a.aside, "k2", &tagged(&["team:1", "team:2"]), "k2-v1").await;
    read(&a.aside, "k3", &u, "k3-v1").await;
    read(&a.aside, "k4", &untagged, "k4-v1").await;
    for (key, value) in [
        ("k1", "k1-v1"),
        ("k2", "k2-v1"),
        ("k3", "k3-v1"),
        ("k4", "k4-v1"),
    ] {
        assert_eq!(cached(&b.aside, key).await, value);
    }
    let local_hits = b.near.local_stats().hits;
    assert_eq!(cached(&b.aside, "k1").await, "k1-v1");
    assert!(
        b.near.local_stats().hits >= local_hits + 2,
        "B reads the value and its tag's stamp from its local level"
    );

    a.aside.invalidate_tag("team:1").await.unwrap();

    assert_eq!(
        read(&a.aside, "k1", &t, "k1-v2").await,
        "k1-v2",
        "A at once"
    );
    eventually("B reloads k2, tagged team:1", || async {
        read(&b.aside, "k2", &t, "k2-v2").await == "k2-v2"
    })
    .await;
    // A's reload of k1, or B's own if A's invalidation of k1 is still on
    // its way: never the value from before.
    assert_ne!(read(&b.aside, "k1", &t, "k1-v3").await, "k1-v1");
    assert_eq!(cached(&b.aside, "k3").await, "k3-v1", "other tags hold");
    assert_eq!(
        cached(&b.aside, "k4").await,
        "k4-v1",
        "untagged values hold"
    );
    assert!(b.aside.stats().tag_invalidated >= 1);
}

/// A clear on A: once its invalidation of the generation key reached B, B
/// serves no value from before the clear, though B re-reads the generation
/// only every hour and its local level still holds the old values.
async fn clear_reaches_the_other_instance(a: Instance, b: Instance) {
    let untagged = EntryOptions::new(TTL);
    read(&a.aside, "c1", &untagged, "c1-v1").await;
    read(&a.aside, "c2", &untagged, "c2-v1").await;
    assert_eq!(cached(&b.aside, "c1").await, "c1-v1");
    assert_eq!(cached(&b.aside, "c2").await, "c2-v1");

    a.aside.clear().await.unwrap();

    eventually("B reloads c1 after the clear", || async {
        read(&b.aside, "c1", &untagged, "c1-v2").await == "c1-v2"
    })
    .await;
    assert_eq!(read(&b.aside, "c2", &untagged, "c2-v2").await, "c2-v2");
    assert_eq!(b.aside.stats().loads, 2);
}

#[tokio::test]
async fn tag_invalidation_reaches_another_instances_near_cache_over_memory() {
    let shared = memory();
    let (a, b) = two_instances(shared.clone(), shared).await;
    tag_invalidation_reaches_the_other_instance(a, b).await;
}

#[tokio::test]
async fn clear_reaches_another_instances_near_cache_over_memory() {
    let shared = memory();
    let (a, b) = two_instances(shared.clone(), shared).await;
    clear_reaches_the_other_instance(a, b).await;
}

#[tokio::test]
async fn without_following_the_bus_another_instance_keeps_its_generation_until_reread() {
    let shared = memory();
    let (a, b) = (
        instance(shared.clone(), true).await,
        instance(shared, false).await,
    );
    read(&a.aside, "c", &EntryOptions::new(TTL), "v1").await;
    assert_eq!(cached(&b.aside, "c").await, "v1");
    let received = b.near.bus().stats().received;
    a.aside.clear().await.unwrap();
    eventually("B's near cache hears of the clear", || async {
        b.near.bus().stats().received > received
    })
    .await;
    assert_eq!(
        cached(&b.aside, "c").await,
        "v1",
        "B's aside still holds generation 0 for its reread interval"
    );
}

async fn redis(server: &RedisServer) -> Arc<dyn Cache> {
    let mut config = RedisConfig::default();
    config.addrs = vec![server.addr()];
    Arc::new(RedisCache::connect(&config).await.unwrap())
}

#[tokio::test]
async fn tag_invalidation_reaches_another_instances_near_cache_over_redis() {
    let server = RedisServer::start();
    // Two connections: two processes.
    let (a, b) = two_instances(redis(&server).await, redis(&server).await).await;
    tag_invalidation_reaches_the_other_instance(a, b).await;
}

#[tokio::test]
async fn clear_reaches_another_instances_near_cache_over_redis() {
    let server = RedisServer::start();
    // Two connections: two processes.
    let (a, b) = two_instances(redis(&server).await, redis(&server).await).await;
    clear_reaches_the_other_instance(a, b).await;
}

#[tokio::test]
async fn tags_on_redis_without_a_near_cache() {
    let server = RedisServer::start();
    let (one, two) = (
        CacheAside::new(redis(&server).await),
        CacheAside::new(redis(&server).await),
    );
    read(&one, "k", &tagged(&["t"]), "v1").await;
    assert_eq!(cached(&two, "k").await, "v1");
    two.invalidate_tag("t").await.unwrap();
    assert_eq!(
        read(&one, "k", &tagged(&["t"]), "v2").await,
        "v2",
        "at once: no local state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_in_a_cluster_span_slots() {
    let cluster = tokio::task::block_in_place(RedisCluster::shared);
    let mut config = RedisConfig::default();
    config.addrs = cluster.seed_addrs();
    config.mode = RedisMode::Cluster;
    let aside = CacheAside::new(Arc::new(RedisCache::connect(&config).await.unwrap()));
    let tags = ["tags:red", "tags:green", "tags:blue"];
    let stamp_slots: std::collections::HashSet<u16> = tags
        .iter()
        .map(|t| key_slot(&format!("{TAG_KEY_PREFIX}{t}")))
        .collect();
    assert!(stamp_slots.len() > 1, "the stamps live in several slots");
    // Key i carries tags i % 3 and (i + 1) % 3.
    let tags_of = |i: usize| tagged(&[tags[i % 3], tags[(i + 1) % 3]]);
    for i in 0..30 {
        read(&aside, &format!("tags:key:{i}"), &tags_of(i), "v1").await;
    }
    aside.invalidate_tag("tags:green").await.unwrap();
    for i in 0..30 {
        let carries_green = i % 3 == 1 || (i + 1) % 3 == 1;
        let got = read(&aside, &format!("tags:key:{i}"), &tags_of(i), "v2").await;
        assert_eq!(got, if carries_green { "v2" } else { "v1" }, "key {i}");
    }
}
