//! How a client opens its TCP connection and with which WebSocket settings. The default lets
//! the kernel choose the source address; a load generator binds each connection to one of
//! several loopback addresses (127.0.0.x) because ephemeral ports run out near 28k per source
//! address.

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, handshake::client::Request};

/// A client socket's read buffer. tungstenite fills its read buffer with zeros up to this size
/// before every read, the one that finds nothing to read included: at its default (128 KiB)
/// that was 60 % of `taina-load`'s CPU time with thousands of sockets receiving small frames
/// (docs/performance.md). A larger frame just takes more reads.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// The WebSocket settings of every client socket here (and of `taina-load`'s own).
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES)
}

/// Options for `connect_with` on every client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The local address to connect from (port chosen by the kernel).
    pub local_address: Option<IpAddr>,
}

impl ConnectOptions {
    /// Connect from `address`.
    pub fn from_address(address: IpAddr) -> Self {
        Self {
            local_address: Some(address),
        }
    }
}

impl ConnectOptions {
    /// A TCP connection to the request's host, from the local address when one is set, with
    /// Nagle off; for callers that run their own WebSocket handshake over it.
    pub async fn tcp_stream(&self, request: &Request) -> tungstenite::Result<TcpStream> {
        match self.local_address {
            Some(local) => connect_from(request, local).await,
            None => {
                let uri = request.uri();
                let host = uri.host().ok_or(tungstenite::Error::Url(
                    tungstenite::error::UrlError::NoHostName,
                ))?;
                let stream = TcpStream::connect((host, uri.port_u16().unwrap_or(80))).await?;
                stream.set_nodelay(true)?;
                Ok(stream)
            }
        }
    }
}

/// A TCP connection to the request's host from `local`, with Nagle off (frames are small
/// and latency-sensitive).
pub(crate) async fn connect_from(
    request: &Request,
    local: IpAddr,
) -> tungstenite::Result<TcpStream> {
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or(tungstenite::Error::Url(
            tungstenite::error::UrlError::NoHostName,
        ))?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let remote = tokio::net::lookup_host((host, port))
        .await?
        .find(|addr| addr.is_ipv4() == local.is_ipv4())
        .ok_or(tungstenite::Error::Url(
            tungstenite::error::UrlError::UnableToConnect(format!(
                "{host}:{port} has no address of the family of {local}"
            )),
        ))?;
    let socket = if local.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
