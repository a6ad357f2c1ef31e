//! The body of an invocation's response: a whole one (errors, redirects), or the function's
//! body streaming through the recorder (`RecordingBody`). One
//! concrete type, so a front door boxes it once, as it would box either alone.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::run::RecordingBody;

pub use gust_runtime::BodyError;

// The front door boxes the whole body once, so the streaming variant's size costs no copy per frame.
#[allow(clippy::large_enum_variant)]
pub enum ResponseBody {
    Whole(Option<Bytes>),
    Streaming(RecordingBody),
}

/// An invocation's response.
pub type Response = http::Response<ResponseBody>;

impl ResponseBody {
    pub fn whole(bytes: impl Into<Bytes>) -> Self {
        Self::Whole(Some(bytes.into()))
    }

    pub fn empty() -> Self {
        Self::Whole(None)
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Whole(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Self::Streaming(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Whole(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Self::Streaming(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Self::Streaming(body) => body.size_hint(),
        }
    }
}
