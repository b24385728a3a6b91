//! publish / subscribe.

use std::time::Duration;

use bytes::Bytes;

use super::{DEADLINE, cache};
use crate::MemoryCache;
use cache_core::{Cache, Subscription, SubscriptionEvent};

/// The next event, failing the test if none comes in a generous time.
async fn next_event(subscription: &mut Subscription) -> Option<SubscriptionEvent> {
    tokio::time::timeout(DEADLINE, subscription.recv())
        .await
        .expect("no event in time")
}

fn message(text: &'static str) -> Option<SubscriptionEvent> {
    Some(SubscriptionEvent::Message(Bytes::from_static(
        text.as_bytes(),
    )))
}

#[tokio::test]
async fn publishing_without_subscribers_reaches_nobody() {
    assert_eq!(cache().publish("news", b"hello").await.unwrap(), 0);
}

#[tokio::test]
async fn a_subscriber_receives_messages_in_order() {
    let c = cache();
    let mut sub = c.subscribe("news").await.unwrap();
    assert_eq!(c.publish("news", b"one").await.unwrap(), 1);
    c.publish("news", b"two").await.unwrap();
    assert_eq!(next_event(&mut sub).await, message("one"));
    assert_eq!(next_event(&mut sub).await, message("two"));
}

#[tokio::test]
async fn a_subscription_names_its_channel() {
    let sub = cache().subscribe("news").await.unwrap();
    assert_eq!(sub.channel(), "news");
}

#[tokio::test]
async fn messages_reach_only_their_channel() {
    let c = cache();
    let mut news = c.subscribe("news").await.unwrap();
    c.publish("sports", b"goal").await.unwrap();
    c.publish("news", b"headline").await.unwrap();
    assert_eq!(next_event(&mut news).await, message("headline"));
}

#[tokio::test]
async fn publish_counts_every_subscriber_including_the_publishers_own() {
    let c = cache();
    let publisher_view = c.clone();
    let mut mine = publisher_view.subscribe("news").await.unwrap();
    let mut theirs = c.subscribe("news").await.unwrap();
    assert_eq!(publisher_view.publish("news", b"hi").await.unwrap(), 2);
    assert_eq!(next_event(&mut mine).await, message("hi"));
    assert_eq!(next_event(&mut theirs).await, message("hi"));
}

#[tokio::test]
async fn separate_caches_have_separate_channels() {
    let a = cache();
    let b = cache();
    let _sub = a.subscribe("news").await.unwrap();
    assert_eq!(b.publish("news", b"hi").await.unwrap(), 0);
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    let c = cache();
    let sub = c.subscribe("news").await.unwrap();
    drop(sub);
    eventually!(
        "nobody is subscribed any more",
        c.publish("news", b"hi").await.unwrap() == 0
    );
}

#[tokio::test]
async fn a_slow_subscriber_is_told_how_many_messages_it_lost() {
    let c = MemoryCache::builder().channel_capacity(4).build().unwrap();
    let mut sub = c.subscribe("news").await.unwrap();
    let published = 200u64;
    for i in 0..published {
        c.publish("news", i.to_string().as_bytes()).await.unwrap();
    }
    let last = Bytes::from((published - 1).to_string());
    let (mut delivered, mut lost, mut lags) = (0u64, 0u64, 0);
    loop {
        match next_event(&mut sub).await {
            Some(SubscriptionEvent::Message(m)) => {
                delivered += 1;
                if m == last {
                    break;
                }
            }
            Some(SubscriptionEvent::Lagged(n)) => {
                lost += n;
                lags += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        lags >= 1,
        "the subscriber fell behind by far more than the capacity"
    );
    assert_eq!(
        delivered + lost,
        published,
        "every message is delivered or counted as lost"
    );
}

#[tokio::test]
async fn close_ends_subscriptions() {
    let c = cache();
    let mut sub = c.subscribe("news").await.unwrap();
    c.close().await.unwrap();
    assert_eq!(next_event(&mut sub).await, None);
}

#[tokio::test]
async fn dropping_every_handle_of_the_cache_ends_subscriptions() {
    let c = cache();
    let mut sub = c.subscribe("news").await.unwrap();
    drop(c);
    assert_eq!(next_event(&mut sub).await, None);
}

#[tokio::test]
async fn a_subscriber_that_reads_along_never_lags() {
    let c = MemoryCache::builder().channel_capacity(2).build().unwrap();
    let mut sub = c.subscribe("news").await.unwrap();
    for i in 0..50u32 {
        c.publish("news", &i.to_be_bytes()).await.unwrap();
        let event = tokio::time::timeout(Duration::from_secs(20), sub.recv())
            .await
            .unwrap();
        assert_eq!(
            event,
            Some(SubscriptionEvent::Message(Bytes::copy_from_slice(
                &i.to_be_bytes()
            )))
        );
    }
}
