//! The body type of every response (and re-built request) the layers produce.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// A body that is either the inner service's own body, bytes the layer
    /// holds (a generated answer, a replayed or cached response), or bytes the
    /// layer already read followed by the rest of the inner body (a response
    /// that turned out too large to store).
    pub struct CacheBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner {
            #[pin]
            body: B,
        },
        Full {
            data: Option<Bytes>,
        },
        Chained {
            prefix: Option<Bytes>,
            #[pin]
            rest: B,
        },
    }
}

impl<B> std::fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Full { .. } => "full",
            Kind::Chained { .. } => "chained",
        };
        f.debug_struct("CacheBody").field("kind", &kind).finish()
    }
}

impl<B> CacheBody<B> {
    /// The inner body, passed through.
    pub fn inner(body: B) -> Self {
        CacheBody {
            kind: Kind::Inner { body },
        }
    }

    /// A body of these bytes.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        CacheBody {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        CacheBody {
            kind: Kind::Full { data: None },
        }
    }

    /// `prefix`, then what is left of `rest`.
    pub fn chained(prefix: Bytes, rest: B) -> Self {
        CacheBody {
            kind: Kind::Chained {
                prefix: (!prefix.is_empty()).then_some(prefix),
                rest,
            },
        }
    }
}

impl<B> Default for CacheBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> Body for CacheBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            KindProj::Chained { prefix, rest } => match prefix.take() {
                Some(d) => Poll::Ready(Some(Ok(Frame::data(d)))),
                None => rest.poll_frame(cx),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
            Kind::Chained { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Chained { prefix, rest } => {
                let extra = prefix.as_ref().map_or(0, |d| d.len() as u64);
                let inner = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower().saturating_add(extra));
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper.saturating_add(extra));
                }
                hint
            }
        }
    }
}

/// What reading a body up to a limit found.
pub(crate) enum Buffered<B> {
    /// The whole body, within the limit.
    Complete(Bytes),
    /// The body is longer than the limit: what was read, and the rest.
    TooLarge(Bytes, B),
}

/// Reads `body` until it ends or passes `limit` bytes. Trailers are dropped.
/// A body of one data frame (the usual case for a small request or a
/// handler's answer) is kept as it came, without a copy.
pub(crate) async fn buffer<B>(mut body: B, limit: usize) -> Result<Buffered<B>, B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    use http_body_util::BodyExt;
    let mut first = Bytes::new();
    let mut read: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        let len = match &mut read {
            None if first.is_empty() => {
                first = data;
                first.len()
            }
            None => {
                let mut joined = bytes::BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                first = Bytes::new();
                read.insert(joined).len()
            }
            Some(joined) => {
                joined.extend_from_slice(&data);
                joined.len()
            }
        };
        if len > limit {
            let read = read.map_or(first, bytes::BytesMut::freeze);
            return Ok(Buffered::TooLarge(read, body));
        }
    }
    Ok(Buffered::Complete(
        read.map_or(first, bytes::BytesMut::freeze),
    ))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use http_body_util::StreamBody;

    fn frames(parts: &[&'static str]) -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures::stream::iter(frames))
    }

    fn complete(buffered: Buffered<impl Body>) -> Bytes {
        match buffered {
            Buffered::Complete(bytes) => bytes,
            Buffered::TooLarge(..) => panic!("within the limit"),
        }
    }

    #[test]
    fn one_frame_is_kept_without_a_copy() {
        let data = Bytes::from_static(b"{\"item\":\"book\"}");
        let body = http_body_util::Full::new(data.clone());
        let read = complete(futures::executor::block_on(buffer(body, 64)).unwrap());
        assert_eq!(read, data);
        assert_eq!(read.as_ptr(), data.as_ptr(), "the frame itself, not a copy");
    }

    #[test]
    fn frames_are_joined_and_the_limit_is_kept() {
        let read = futures::executor::block_on(buffer(frames(&["ab", "", "cd", "e"]), 5));
        assert_eq!(complete(read.unwrap()), "abcde");
        let empty = futures::executor::block_on(buffer(frames(&[]), 5));
        assert!(complete(empty.unwrap()).is_empty());
        for (parts, read_before_limit) in [
            (&["abcdef", "gh"][..], "abcdef"),
            (&["ab", "cdef", "gh"][..], "abcdef"),
        ] {
            match futures::executor::block_on(buffer(frames(parts), 5)).unwrap() {
                Buffered::TooLarge(prefix, rest) => {
                    assert_eq!(prefix, read_before_limit);
                    let rest = futures::executor::block_on(http_body_util::BodyExt::collect(rest));
                    assert_eq!(rest.unwrap().to_bytes(), "gh");
                }
                Buffered::Complete(_) => panic!("{parts:?} is over the limit"),
            }
        }
    }
}
