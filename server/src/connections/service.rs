//! The hyper service of one connection: the axum router with the connection's bookkeeping
//! around it.
//!
//! - inserts `ConnectInfo<SocketAddr>` (what `into_make_service_with_connect_info` did), which
//!   the `Client` extractor reads;
//! - counts the request in flight until hyper is done with its response body, for the
//!   keep-alive idle timeout;
//! - on `101 Switching Protocols` gives back the connection's place under the per-address cap:
//!   from then on it is a WebSocket, limited by the realtime hub.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use tower::ServiceExt;

use super::Tracked;

#[derive(Clone)]
pub struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    tracked: Arc<Tracked>,
}

impl ConnectionService {
    pub fn new(router: Router, peer: SocketAddr, tracked: Arc<Tracked>) -> Self {
        Self {
            router,
            peer,
            tracked,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::start(self.tracked.clone());
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let router = self.router.clone();
        Box::pin(async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                in_flight.tracked.address.release();
            }
            Ok(response.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A request from the moment hyper hands it over until its response body is dropped (also
/// when the request is abandoned half way).
struct InFlight {
    tracked: Arc<Tracked>,
}

impl InFlight {
    fn start(tracked: Arc<Tracked>) -> Self {
        tracked.activity.request_started();
        Self { tracked }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.tracked.activity.response_finished();
    }
}

/// The router's response body, unchanged, holding the request in flight until hyper drops it.
pub struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
